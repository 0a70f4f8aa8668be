"""Build tfds's real `fashion_mnist` offline from Debian's `dataset-fashion-mnist`.

Debian ships the original IDX files under /usr/share/datasets/fashion-mnist/
but rewrote their gzip headers: the stored file name (FNAME flag) was dropped
and MTIME zeroed; the deflate stream and CRC are untouched. tfds validates each
download's sha256 against its registered checksums, so we write the upstream
header back (FLG=0x08, the upstream MTIME, the NUL-terminated original name)
and get files byte-identical to the upstream release. tfds's own builder then
builds the dataset with checksum validation on, from a manual directory.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

from genjax.errors import UserError

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
ENV_DIR = "GENJAX_FASHION_MNIST_DIR"

# Upstream modification times of the four files (seconds since the epoch).
_UPSTREAM_MTIME = {
    "train-images-idx3-ubyte.gz": 1504176606,
    "train-labels-idx1-ubyte.gz": 1504176606,
    "t10k-images-idx3-ubyte.gz": 1504176627,
    "t10k-labels-idx1-ubyte.gz": 1504176627,
}
FILES = tuple(_UPSTREAM_MTIME)


def source_dir() -> Path:
    """Where the original IDX .gz files are looked for ($GENJAX_FASHION_MNIST_DIR or Debian's)."""
    return Path(os.environ.get(ENV_DIR, DEBIAN_DIR))


def source_available() -> bool:
    src = source_dir()
    return all((src / name).is_file() for name in FILES)


def restore_upstream_header(data: bytes, name: str) -> bytes:
    """Return `data` (a gzip member) with the upstream header: FNAME set, upstream MTIME.

    Files that already carry a file name are returned unchanged.
    """
    if data[:3] != b"\x1f\x8b\x08":
        raise ValueError(f"{name} is not a gzip file")
    flags = data[3]
    if flags & 0x08:
        return data
    if flags & ~0x08:
        raise ValueError(f"{name} has unexpected gzip flags {flags:#x}")
    mtime = struct.pack("<I", _UPSTREAM_MTIME[name])
    # Header: ID1 ID2 CM FLG MTIME(4) XFL OS, then FNAME\0, then the deflate stream.
    header = data[:3] + bytes([0x08]) + mtime + data[8:10]
    return header + name[: -len(".gz")].encode() + b"\0" + data[10:]


def write_manual_dir(manual_dir: Path) -> Path:
    """Write the four upstream-identical .gz files into `manual_dir` and return it."""
    src = source_dir()
    manual_dir.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        try:
            restored = restore_upstream_header((src / name).read_bytes(), name)
            gzip.decompress(restored)  # the CRC check: fails loudly on a damaged file
        except (OSError, EOFError, ValueError, zlib.error) as err:
            raise UserError(
                f"{src / name} is damaged ({' '.join(str(err).split()) or type(err).__name__}); "
                "reinstall it with 'apt-get install --reinstall dataset-fashion-mnist' "
                f"(or point {ENV_DIR} at good copies)") from None
        tmp = manual_dir / (name + ".tmp")
        tmp.write_bytes(restored)
        tmp.replace(manual_dir / name)
    return manual_dir

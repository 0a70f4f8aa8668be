"""The genjax codec's file format, read and written atomically, with one-line errors.

A file is, little-endian throughout:

    magic        4 bytes   b"GJXC"
    version      uint16    FORMAT_VERSION
    mode         uint8     0 = lossless (BB-ANS), 1 = lossy (quantised posterior mean)
    reserved     uint8     0
    checksum     32 bytes  SHA-256 of the model (`model_checksum`)
    count        uint32    images
    height, width, channels, levels, latent_dim, num_buckets   uint16 each
    grid_step    float64   the lossy grid (0 when lossless)
    seed         uint32    the seed of the initial words (lossless)
    names_size   uint32    bytes of the names block
    words        uint32    32-bit words of the entropy code
    names        names_size bytes: the images' file names, UTF-8, one per line (may be empty)
    payload      4 * words bytes: the code
    crc          uint32    CRC-32 of every byte before it

`write` goes to a temporary file beside the target and renames it into place,
so a crash leaves either the old file or the whole new one. `read` checks the
magic, version, size, CRC and (given one) the model checksum before anything
is decoded, and raises a one-line `UserError` for each.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from genjax import atomic
from genjax.errors import UserError

MAGIC = b"GJXC"
FORMAT_VERSION = 1
LOSSLESS, LOSSY = 0, 1
_HEADER = struct.Struct("<4sHBB32sI6HdIII")
HEADER_BYTES = _HEADER.size


class Header(NamedTuple):
    mode: int
    checksum: bytes
    count: int
    shape: tuple[int, int, int]
    levels: int
    latent_dim: int
    num_buckets: int
    grid_step: float
    seed: int


def model_checksum(params, spec: dict) -> bytes:
    """SHA-256 over the model's description (`spec`, JSON) and every parameter's name,
    dtype, shape and bytes: a file is only decoded by the model that wrote it."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(params))[0]:
        leaf = np.ascontiguousarray(leaf)
        digest.update(f"{jax.tree_util.keystr(path)}:{leaf.dtype}:{leaf.shape}".encode())
        digest.update(leaf.tobytes())
    return digest.digest()


def pack(header: Header, words: np.ndarray, names: list[str] | None = None) -> bytes:
    names_block = "\n".join(names or []).encode()
    words = np.asarray(words, dtype="<u4")
    head = _HEADER.pack(MAGIC, FORMAT_VERSION, header.mode, 0, header.checksum, header.count,
                        *header.shape, header.levels, header.latent_dim, header.num_buckets,
                        header.grid_step, header.seed, len(names_block), len(words))
    body = head + names_block + words.tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(blob: bytes, source: str = "the file") -> tuple[Header, np.ndarray, list[str]]:
    """(header, words, names) of a whole file, or a one-line `UserError` saying what is wrong."""
    if len(blob) < 4 or blob[:4] != MAGIC:
        raise UserError(f"{source} is not a genjax codec file (no GJXC magic)")
    if len(blob) < HEADER_BYTES + 4:
        raise UserError(f"{source} is truncated: {len(blob)} bytes, shorter than the header")
    (_, version, mode, _, checksum, count, height, width, channels, levels, latent_dim,
     num_buckets, grid_step, seed, names_size, num_words) = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise UserError(f"{source} has format version {version}; this genjax reads version "
                        f"{FORMAT_VERSION}")
    expected = HEADER_BYTES + names_size + 4 * num_words + 4
    if len(blob) != expected:
        raise UserError(f"{source} is truncated or padded: {len(blob)} bytes, its header says "
                        f"{expected}")
    (crc,) = struct.unpack_from("<I", blob, expected - 4)
    if crc != zlib.crc32(blob[:expected - 4]):
        raise UserError(f"{source} is corrupted: its CRC-32 does not match its contents")
    if mode not in (LOSSLESS, LOSSY):
        raise UserError(f"{source} has an unknown mode {mode}")
    names_block = blob[HEADER_BYTES:HEADER_BYTES + names_size].decode()
    names = names_block.split("\n") if names_block else []
    words = np.frombuffer(blob, dtype="<u4", count=num_words,
                          offset=HEADER_BYTES + names_size).astype(np.uint32)
    header = Header(mode=mode, checksum=checksum, count=count, shape=(height, width, channels),
                    levels=levels, latent_dim=latent_dim, num_buckets=num_buckets,
                    grid_step=grid_step, seed=seed)
    return header, words, names


def read(path: str | Path, checksum: bytes | None = None
         ) -> tuple[Header, np.ndarray, list[str]]:
    """`unpack` a file, checking it was written by the model whose checksum is given."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    header, words, names = unpack(path.read_bytes(), str(path))
    if checksum is not None and header.checksum != checksum:
        raise UserError(f"{path} was written by a different model (checksum "
                        f"{header.checksum.hex()[:12]}, this run's {checksum.hex()[:12]})")
    return header, words, names


def atomic_write_bytes(path: str | Path, blob: bytes) -> None:
    """Write `blob` to `path` through a temporary file in the same directory and a rename."""
    atomic.write_bytes(path, blob)


def write(path: str | Path, header: Header, words: np.ndarray,
          names: list[str] | None = None) -> int:
    """Write a codec file atomically; returns its size in bytes."""
    blob = pack(header, words, names)
    atomic_write_bytes(path, blob)
    return len(blob)

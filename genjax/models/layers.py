"""Layers shared by the GANs: a fast transposed convolution and spectral norm.

`ConvTranspose` has the parameters and the output of `flax.linen.ConvTranspose`
(kernel `(*kernel_size, in, out)`, `bias`, padding interpreted as
`lax.conv_transpose` does) but computes its gradients differently. A transposed
convolution is the adjoint of a strided convolution C(u, K) (Dumoulin & Visin
2016, "A guide to convolution arithmetic", Section 4):

    y = T(x, W)  with  <T(x, W), u> = <x, C(u, K(W))>  for every u,

where K(W) flips W spatially and swaps its channel axes, and C strides by the
stride of T with padding (k - 1 - lo, k - 1 - hi). Hence for an output
cotangent dy

    dx = C(dy, K(W)),     dW = d/dW <x, C(dy, K(W))>,

i.e. the input gradient is a forward strided convolution and the kernel
gradient is the kernel gradient of one. XLA:CPU computes the kernel gradient of
a stride-dilated convolution (what autodiff of `lax.conv_transpose` produces)
an order of magnitude slower than these (about 10x for this layer, measured in
bench/conv_transpose.txt), so `conv_transpose` routes its VJP through C with
`jax.custom_vjp`. Being a custom VJP, it supports reverse mode of any order but
not forward mode (`jax.jvp`).

Spectral normalisation (Miyato et al. 2018, eq. 8: W_SN = W / sigma(W), sigma
estimated by one power iteration per call, their Algorithm 1) is flax's own
`nn.SpectralNorm`, wrapped by `spectral_normed`. flax keeps the power-iteration
vector `u` (and the last `sigma`) in the `batch_stats` collection, keyed
`'<layer name>/kernel/u'`, initialised from the `params` rng. Every call runs
`n_steps` iterations starting from the stored `u`, but writes the new `u` back
only when called with `update_stats=True` and `mutable=['batch_stats']`; with
`update_stats=False` the result is deterministic and the state is untouched.
The gradient flows through sigma with u and v held constant, as in the paper.
One flax quirk: `init` stores the kernel already divided by the first sigma
estimate (map_variables writes the transformed value back at init), which only
rescales the initial kernel; the normalised kernel W / sigma(W) is unchanged.

`normal_init` and `glorot_uniform_init` draw their random numbers as a vector
and reshape it. With jax 0.10's default `jax_threefry_partitionable=True`,
XLA:CPU here takes 2-5 s to compile `jax.random.normal(key, (3, 3, 4, 8))` and
0.3 s for the same number of values drawn flat, so flax's stock initialisers
make every conv kernel shape cost seconds of compile time at `init`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array
Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]


def normal_init(stddev: float) -> Callable:
    """N(0, stddev^2) entries, drawn flat (see the module docstring)."""
    def init(key, shape, dtype=jnp.float32):
        return stddev * jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)
    return init


def glorot_uniform_init(gain: float = 1.0) -> Callable:
    """U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010, eq. 16), flat.

    Kernels are (*receptive_field, in, out), as flax's Dense and Conv store them.
    """
    def init(key, shape, dtype=jnp.float32):
        receptive_field = math.prod(shape[:-2])
        fan_in, fan_out = shape[-2] * receptive_field, shape[-1] * receptive_field
        limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
        flat = jax.random.uniform(key, (math.prod(shape),), dtype, -limit, limit)
        return flat.reshape(shape)
    return init


def _dimension_numbers(num_spatial: int) -> lax.ConvDimensionNumbers:
    """Channels-last layouts (NHWC, HWIO, NHWC) for any number of spatial dims."""
    spatial = tuple(range(1, num_spatial + 1))
    lhs = (0, num_spatial + 1) + spatial
    rhs = (num_spatial + 1, num_spatial) + tuple(range(num_spatial))
    return lax.ConvDimensionNumbers(lhs, rhs, lhs)


def _adjoint_kernel(kernel: Array) -> Array:
    """K(W): flip the spatial axes and swap in/out channels."""
    num_spatial = kernel.ndim - 2
    flipped = jnp.flip(kernel, axis=tuple(range(num_spatial)))
    return jnp.swapaxes(flipped, -1, -2)


def _strided_conv(cotangent: Array, kernel: Array, strides, padding, precision) -> Array:
    """C(u, K(W)): the strided convolution whose input-VJP is the transposed one."""
    kernel_size = kernel.shape[:-2]
    adjoint_padding = tuple(
        (k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(kernel_size, padding, strict=True)
    )
    return lax.conv_general_dilated(
        cotangent,
        _adjoint_kernel(kernel),
        window_strides=strides,
        padding=adjoint_padding,
        dimension_numbers=_dimension_numbers(kernel.ndim - 2),
        precision=precision,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_transpose(x: Array, kernel: Array, strides, padding, precision=None) -> Array:
    """`lax.conv_transpose(x, kernel, strides, padding)` with explicit padding.

    x: (N, *spatial, in); kernel: (*kernel_size, in, out); strides: tuple of
    ints; padding: tuple of (lo, hi) pairs, the padding of the stride-dilated
    input as in `lax.conv_transpose` (use `transpose_padding` for 'SAME' and
    'VALID'). Gradients go through the equivalent strided convolution.
    """
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1,) * len(strides),
        padding=padding,
        lhs_dilation=strides,
        dimension_numbers=_dimension_numbers(x.ndim - 2),
        precision=precision,
    )


def _conv_transpose_fwd(x, kernel, strides, padding, precision):
    return conv_transpose(x, kernel, strides, padding, precision), (x, kernel)


def _conv_transpose_bwd(strides, padding, precision, residuals, cotangent):
    x, kernel = residuals
    # The primal output C(dy, K(W)) is the input gradient; its VJP at x is dW.
    x_grad, kernel_vjp = jax.vjp(
        lambda w: _strided_conv(cotangent, w, strides, padding, precision), kernel
    )
    (kernel_grad,) = kernel_vjp(x)
    return x_grad, kernel_grad


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def transpose_padding(
    padding: Padding, kernel_size: Sequence[int], strides: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    """Explicit (lo, hi) pairs for `padding` as `flax.linen.ConvTranspose` reads it.

    'SAME' and 'VALID' name the padding of the forward convolution and give an
    output of size in * stride and (in - 1) * stride + max(k, stride)
    respectively; integers and pairs are the padding of the stride-dilated
    input, passed through.
    """
    num_spatial = len(kernel_size)
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"ConvTranspose padding {padding!r} is unsupported; use "
                             "'SAME', 'VALID', an int or (lo, hi) pairs.")
        return tuple(
            _same_or_valid_padding(k, s, padding) for k, s in zip(kernel_size, strides, strict=True)
        )
    if isinstance(padding, int):
        return ((padding, padding),) * num_spatial
    pairs = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
    if len(pairs) != num_spatial:
        raise ValueError(f"ConvTranspose padding {padding!r} needs one entry per "
                         f"spatial dimension ({num_spatial}).")
    return pairs


def _same_or_valid_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    """The (lo, hi) padding `lax.conv_transpose` uses for 'SAME'/'VALID' in one dim."""
    if padding == "SAME":
        total = k + s - 2
        lo = k - 1 if s > k - 1 else int(np.ceil(total / 2))
    else:
        total = k + s - 2 + max(k - s, 0)
        lo = k - 1
    return lo, total - lo


class ConvTranspose(nn.Module):
    """Drop-in for `flax.linen.ConvTranspose` with a fast backward pass.

    Same parameter names, shapes and initialisers; same outputs for 'SAME',
    'VALID' and explicit padding, with or without `transpose_kernel`. Not
    supported: 'CIRCULAR' padding, kernel dilation, masks, unbatched inputs.
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] | None = None
    padding: Padding = "SAME"
    use_bias: bool = True
    transpose_kernel: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Callable = nn.linear.default_kernel_init
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        kernel_size = (
            (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        )
        num_spatial = len(kernel_size)
        if inputs.ndim != num_spatial + 2:
            raise ValueError(f"ConvTranspose expects (N, *spatial, C) inputs with "
                             f"{num_spatial} spatial dims, got shape {inputs.shape}.")
        strides = self.strides if self.strides is not None else 1
        strides = (strides,) * num_spatial if isinstance(strides, int) else tuple(strides)
        in_features = inputs.shape[-1]
        if self.transpose_kernel:
            kernel_shape = kernel_size + (self.features, in_features)
        else:
            kernel_shape = kernel_size + (in_features, self.features)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        if self.transpose_kernel:
            kernel = _adjoint_kernel(kernel)
        padding = transpose_padding(self.padding, kernel_size, strides)
        y = conv_transpose(inputs, kernel, strides, padding, self.precision)
        if bias is not None:
            y = y + bias
        return y


def spectral_normed(layer: nn.Module, inputs: Array, *, enabled: bool, update_stats: bool,
                    n_steps: int = 1) -> Array:
    """`layer(inputs)`, with the layer's kernel spectrally normalised if `enabled`.

    Call inside an `nn.compact` method. The power-iteration state lives in the
    `batch_stats` collection (see the module docstring) and advances only when
    `update_stats` is True. With `update_stats=True` the caller must pass
    `mutable=['batch_stats']` (flax raises otherwise), and keep the update only
    in D's own step.
    """
    if not enabled:
        return layer(inputs)
    return nn.SpectralNorm(layer, n_steps=n_steps)(inputs, update_stats=update_stats)

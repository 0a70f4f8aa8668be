"""Mixed precision for any genjax model, without touching its code: a compute-dtype policy.

`with_compute_dtype(fn, "bfloat16")` returns `fn` traced under a flax method
interceptor (`nn.intercept_methods`, the way Haiku's `mixed_precision.set_policy`
works) that, for the duration of each call:

* runs every matmul and convolution layer (`nn.Dense`, `nn.DenseGeneral`, `nn.Conv`,
  `nn.ConvTranspose`, genjax's `layers.ConvTranspose`, the LSTM cells) with
  `dtype=bfloat16`: flax casts the inputs and the float32 kernel to bfloat16, runs the
  op, and the gradient reaches the kernel as float32;
* leaves the normalisation layers as they are: their parameters are float32, so they
  compute statistics in float32 and hand float32 on to the next layer;
* casts a bfloat16 output of a top-level model method back to float32, so losses,
  metrics and sampled images are float32.

Parameters, optimizer state, BatchNorm statistics and the loss stay float32, and a
checkpoint is the same pytree in either mode, so a run may switch on resume. Plain
`jnp` ops written in a model (DRAW's attention einsums, for example) keep their
input dtype. "float32" returns `fn` unchanged. float16 is not offered: it needs loss
scaling, bfloat16 does not (it has float32's exponent range).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.config import check_compute_dtype
from genjax.models import layers

LOW_PRECISION_LAYERS = (nn.Dense, nn.DenseGeneral, nn.Conv, nn.ConvTranspose,
                        layers.ConvTranspose, nn.LSTMCell, nn.OptimizedLSTMCell)


def _interceptor(dtype) -> Callable:
    def intercept(next_fun, args, kwargs, context):
        module = context.module
        if isinstance(module, LOW_PRECISION_LAYERS) and context.method_name == "__call__":
            saved = module.dtype
            object.__setattr__(module, "dtype", dtype)  # frozen dataclass; restored below
            try:
                return next_fun(*args, **kwargs)
            finally:
                object.__setattr__(module, "dtype", saved)
        out = next_fun(*args, **kwargs)
        if isinstance(module.parent, nn.Module):  # a submodule: keep its compute dtype
            return out
        return jax.tree.map(lambda x: x.astype(jnp.float32)
                            if isinstance(x, jax.Array) and x.dtype == dtype else x, out)
    return intercept


def with_compute_dtype(fn: Callable, compute_dtype: str) -> Callable:
    """`fn` with every flax model call inside it under the compute-dtype policy (see the
    module docstring). Wrap before `jax.jit`: the policy acts while `fn` is traced."""
    check_compute_dtype(compute_dtype)
    if compute_dtype == "float32":
        return fn
    dtype = jnp.dtype(compute_dtype)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with nn.intercept_methods(_interceptor(dtype)):
            return fn(*args, **kwargs)
    return wrapped

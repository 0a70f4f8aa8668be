"""Forward + backward time of flax's nn.ConvTranspose vs genjax's ConvTranspose.

The layers are those of the 28x28 DCGAN generator at width 64 (genjax.models.dcgan):
7x7x128 -> 14x14x64 and 14x14x64 -> 28x28x1, kernel 4, stride 2, 'SAME', batch 128.
Each timing is the median of `--repeats` calls of a jitted function returning the
gradients with respect to the parameters and the input.

    .venv/bin/python bench/conv_transpose.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bench.timing import cpu_model
from genjax.models.layers import ConvTranspose

LAYERS = {  # name -> (input shape, output features)
    "7x7x128->14x14x64": ((128, 7, 7, 128), 64),
    "14x14x64->28x28x1": ((128, 14, 14, 64), 1),
}
IMPLEMENTATIONS = {"flax nn.ConvTranspose": nn.ConvTranspose, "genjax ConvTranspose": ConvTranspose}


def median_seconds(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_layer(module_cls, input_shape, features, repeats):
    module = module_cls(features, (4, 4), strides=(2, 2), padding="SAME")
    inputs = jax.random.normal(jax.random.key(0), input_shape)
    params = module.init(jax.random.key(1), inputs)
    out_shape = jax.eval_shape(module.apply, params, inputs).shape
    cotangent = jax.random.normal(jax.random.key(2), out_shape)

    forward = jax.jit(module.apply)
    backward = jax.jit(jax.grad(lambda p, x: jnp.vdot(module.apply(p, x), cotangent), (0, 1)))
    return (median_seconds(forward, (params, inputs), repeats),
            median_seconds(backward, (params, inputs), repeats))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {cpu_model()} ({os.cpu_count()} cores, {platform.machine()}),"
          f" load average {os.getloadavg()[0]:.1f}; batch 128, median of {args.repeats}")
    print(f"{'layer':<20} {'implementation':<24} {'forward ms':>10} {'fwd+bwd ms':>10}")
    for layer, (input_shape, features) in LAYERS.items():
        for name, module_cls in IMPLEMENTATIONS.items():
            fwd, fwd_bwd = bench_layer(module_cls, input_shape, features, args.repeats)
            print(f"{layer:<20} {name:<24} {1e3 * fwd:>10.1f} {1e3 * fwd_bwd:>10.1f}")


if __name__ == "__main__":
    main()

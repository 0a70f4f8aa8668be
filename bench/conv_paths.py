"""Three ways to compute a stride-2 4x4 convolution and its gradients on XLA:CPU.

The step benchmarks (bench/svg_step.txt, bench/cpu_scaling.txt) find genjax's
convolutional steps slower than PyTorch's on this CPU, and the strided
convolutions' backward passes are where XLA spends the time. This measures
whether writing the same convolution differently helps, per layer of the SVG
frame encoder (240 frames of 64x64) and the DCGAN discriminator (batch 128):

- `lax`: `lax.conv_general_dilated` with stride 2, as flax's `nn.Conv` calls it;
  autodiff gives the input gradient as an input-dilated convolution and the
  kernel gradient as a convolution over the batch;
- `space-to-depth`: the input padded and cut into 2x2 blocks stacked on the
  channels, then a stride-1 2x2 'VALID' convolution with the kernel rearranged
  the same way (the same sums in another order); every gradient is then a
  stride-1 convolution;
- `im2col`: the forward pass as above; the kernel gradient as one matrix product
  of the input's 4x4 patches with the output cotangent, the input gradient as
  the product of the cotangent with the kernel, summed back into place
  (col2im, 16 strided adds).

Each time is the median of `--repeats` calls of a jitted function, after one
warm-up call; `fwd` is the output, `dx` and `dW` the two gradients alone for a
fixed cotangent. The results agree with `lax` to float32 rounding (printed).

    PYTHONPATH=. .venv/bin/python bench/conv_paths.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bench.timing import machine

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
PADDING = ((1, 1), (1, 1))
LAYERS = {  # name -> (input shape, output channels)
    "SVG enc 64x64x1->16": ((240, 64, 64, 1), 16),
    "SVG enc 32x32x16->32": ((240, 32, 32, 16), 32),
    "SVG enc 16x16x32->64": ((240, 16, 16, 32), 64),
    "SVG enc 8x8x64->128": ((240, 8, 8, 64), 128),
    "DCGAN D 28x28x1->64": ((128, 28, 28, 1), 64),
    "DCGAN D 14x14x64->128": ((128, 14, 14, 64), 128),
}


def conv_lax(x, w):
    return lax.conv_general_dilated(x, w, (2, 2), PADDING, dimension_numbers=DIMENSIONS)


def conv_space_to_depth(x, w):
    """Pad by 1, cut into 2x2 blocks on the channels, a 2x2 stride-1 'VALID' convolution."""
    n, h, wd, c = x.shape
    out = w.shape[-1]
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    x = x.reshape(n, h // 2 + 1, 2, wd // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(n, h // 2 + 1, wd // 2 + 1, 4 * c)
    w = w.reshape(2, 2, 2, 2, c, out).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, out)
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=DIMENSIONS)


def kernel_grad_im2col(x, dy):
    patches = lax.conv_general_dilated_patches(x, (4, 4), (2, 2), PADDING,
                                               dimension_numbers=DIMENSIONS)
    grad = jnp.einsum("nhwk,nhwo->ko", patches, dy)  # patches are ordered (c, kh, kw)
    return grad.reshape(x.shape[-1], 4, 4, dy.shape[-1]).transpose(1, 2, 0, 3)


def input_grad_im2col(w, dy, input_shape):
    columns = jnp.einsum("nhwo,abco->nhwabc", dy, w)
    n, oh, ow = dy.shape[:3]
    padded = jnp.zeros((n, 2 * oh + 2, 2 * ow + 2, input_shape[-1]), dy.dtype)
    for a in range(4):
        for b in range(4):
            padded = padded.at[:, a:a + 2 * oh:2, b:b + 2 * ow:2].add(columns[:, :, :, a, b])
    return padded[:, 1:-1, 1:-1]


def gradients(conv):
    def input_grad(x, w, dy):
        return jax.vjp(lambda x: conv(x, w), x)[1](dy)[0]

    def kernel_grad(x, w, dy):
        return jax.vjp(lambda w: conv(x, w), w)[1](dy)[0]
    return input_grad, kernel_grad


def paths():
    lax_dx, lax_dw = gradients(conv_lax)
    s2d_dx, s2d_dw = gradients(conv_space_to_depth)
    return {
        "lax": (conv_lax, lax_dx, lax_dw),
        "space-to-depth": (conv_space_to_depth, s2d_dx, s2d_dw),
        "im2col": (conv_lax, lambda x, w, dy: input_grad_im2col(w, dy, x.shape),
                   lambda x, w, dy: kernel_grad_im2col(x, dy)),
    }


def median_ms(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(machine(f"jax {jax.__version__}"))
    print(f"1-min load average before: {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    print(f"{'layer':24s} {'path':15s} {'fwd ms':>8s} {'dx ms':>8s} {'dW ms':>8s} "
          f"{'total':>8s} {'max rel diff':>12s}")
    for name, (shape, out) in LAYERS.items():
        x = jnp.asarray(rng.standard_normal(shape, np.float32))
        w = jnp.asarray(rng.standard_normal((4, 4, shape[-1], out), np.float32))
        dy = jnp.asarray(rng.standard_normal(jax.eval_shape(conv_lax, x, w).shape, np.float32))
        reference = None
        for path, fns in paths().items():
            jitted = [jax.jit(fns[0])] + [jax.jit(f) for f in fns[1:]]
            values = [jitted[0](x, w), jitted[1](x, w, dy), jitted[2](x, w, dy)]
            reference = reference or values
            diff = max(float(jnp.max(jnp.abs(v - r)) / jnp.max(jnp.abs(r)))
                       for v, r in zip(values, reference, strict=True))
            times = [median_ms(jitted[0], (x, w), args.repeats),
                     median_ms(jitted[1], (x, w, dy), args.repeats),
                     median_ms(jitted[2], (x, w, dy), args.repeats)]
            print(f"{name:24s} {path:15s} {times[0]:8.1f} {times[1]:8.1f} {times[2]:8.1f} "
                  f"{sum(times):8.1f} {diff:12.1e}", flush=True)
    print(f"1-min load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

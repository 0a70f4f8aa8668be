"""pix2pix's generator and discriminator, scaled to 28x28 (Isola, Zhu, Zhou & Efros 2017).

Both follow the paper's architecture notes (their Section 3.2 and Appendix 6.1):
C(k) is Convolution-BatchNorm-LeakyReLU(0.2) with k 4x4 filters, CD(k) is
TransposedConvolution-BatchNorm-Dropout(0.5)-ReLU; the first encoder layer has
no BatchNorm; weights are drawn from N(0, 0.02) (their Appendix 6).

`UNet` (their Section 3.2.1, after Ronneberger et al. 2015): an encoder-decoder
whose decoder layer i also sees encoder layer n - i, concatenated on channels.
At 28x28 (width w; any size divisible by 4 works):

    x (H, W, C_in) -> e1 = C(w) s2, no BN    -> H/2 x W/2 x w
                   -> e2 = C(2w) s2          -> H/4 x W/4 x 2w
                   -> b  = Conv 3x3 (4w), BN, Dropout, ReLU   (the innermost)
    [b, e2]        -> d2 = CD(w) s2          -> H/2 x W/2 x w
    [d2, e1]       -> ConvT 4x4 s2 -> H x W x C_out, tanh

Dropout is the generator's only noise, as in the paper (Section 3.1: an input z
is ignored by the network, so noise comes as dropout in several decoder layers):
active with `train=True` (rng stream "dropout"), off with `train=False`, so
evaluation is deterministic. (The paper also keeps dropout at test time; here
`translate` is the network's deterministic mean output.)

`PatchGAN` (their Section 3.2.2): D sees the input and the output (real or
generated) concatenated on channels and returns a grid of logits, one per
overlapping patch. Here: C(w) s2 (no BN), C(2w) s2, Conv 4x4 s1 -> 1 channel,
all with padding 1. For 28x28 that is 28 -> 14 -> 7 -> 6: a 6x6 grid whose logit
(i, j) sees input rows and columns [4i - 7, 4i + 14], a 22x22 receptive field
(r = 1 + sum_l (k_l - 1) prod_{m<l} s_m = 1 + 3 + 3*2 + 3*4; `receptive_field`).
The paper's 70x70 PatchGAN covers 27% of a 256 px side; 22 px covers 79% of 28,
the smallest field that spans a garment's outline from the centre patch.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.layers import ConvTranspose, normal_init

Array = jax.Array

PIX2PIX_INIT = normal_init(0.02)  # Isola et al. 2017, Appendix 6
KERNEL = 4
PADDING = ((1, 1), (1, 1))
NORMS = ("batch", "instance")


def _batch_norm(train: bool) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


def receptive_field(strides: tuple[int, ...], kernel: int = KERNEL) -> int:
    """The side of the input square one output unit of stacked k x k convolutions sees."""
    return 1 + sum((kernel - 1) * math.prod(strides[:i]) for i in range(len(strides)))


def patch_grid(size: int, strides: tuple[int, ...], kernel: int = KERNEL) -> int:
    """The PatchGAN's output side for an input side `size` (padding 1 on every layer)."""
    for stride in strides:
        size = (size + 2 - kernel) // stride + 1
    return size


class UNet(nn.Module):
    """inputs (N, H, W, C_in) in [-1, 1] -> outputs (N, H, W, out_channels) in [-1, 1]."""

    out_channels: int = 1
    width: int = 64
    dropout: float = 0.5

    @nn.compact
    def __call__(self, inputs: Array, *, train: bool) -> Array:
        if inputs.ndim != 4 or inputs.shape[1] % 4 or inputs.shape[2] % 4:
            raise ValueError(f"UNet expects (N, H, W, C) inputs with H and W divisible by 4, "
                             f"got {inputs.shape}.")
        w = self.width

        def conv(features, kernel, stride, x, bias=True):
            return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding="SAME",
                           use_bias=bias, kernel_init=PIX2PIX_INIT)(x)

        def up(features, x, bias=True):
            return ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME",
                                 use_bias=bias, kernel_init=PIX2PIX_INIT)(x)

        def drop(x):
            return nn.Dropout(self.dropout, deterministic=not train)(x)

        e1 = nn.leaky_relu(conv(w, 4, 2, inputs), 0.2)
        e2 = nn.leaky_relu(_batch_norm(train)(conv(2 * w, 4, 2, e1, bias=False)), 0.2)
        b = nn.relu(drop(_batch_norm(train)(conv(4 * w, 3, 1, e2, bias=False))))
        d2 = up(w, jnp.concatenate([b, e2], axis=-1), bias=False)
        d2 = nn.relu(drop(_batch_norm(train)(d2)))
        return jnp.tanh(up(self.out_channels, jnp.concatenate([d2, e1], axis=-1)))


class PatchGAN(nn.Module):
    """(images (N, H, W, C_i), ...) -> patch logits (N, h, w), the images concatenated.

    pix2pix's D sees two, (inputs, outputs); CycleGAN's (genjax/models/cyclegan.py)
    one image. `strides` are those of the 4x4 convolutions; the last one outputs
    the logits. `norm` is "batch" (pix2pix) or "instance" (CycleGAN, Zhu et al.
    2017, Section 4). With BatchNorm in train mode a logit depends on the whole
    batch; in eval mode (`train=False`), or with instance norm, it depends on its
    own image only (and, with BatchNorm in eval mode, on its receptive field only).
    """

    width: int = 64
    strides: tuple[int, ...] = (2, 2, 1)
    norm: str = "batch"

    @nn.compact
    def __call__(self, *images: Array, train: bool) -> Array:
        if not images or any(x.shape[:3] != images[0].shape[:3] for x in images):
            raise ValueError(f"PatchGAN needs one or more images of one size, got "
                             f"{[x.shape for x in images]}.")
        if self.norm not in NORMS:
            raise ValueError(f"unknown PatchGAN norm {self.norm!r}; choose one of {NORMS}")
        x = jnp.concatenate(images, axis=-1)
        for layer, stride in enumerate(self.strides[:-1]):
            normalised = layer > 0
            x = nn.Conv(self.width * 2**layer, (KERNEL, KERNEL), strides=(stride, stride),
                        padding=PADDING, use_bias=not normalised, kernel_init=PIX2PIX_INIT)(x)
            if normalised:
                x = (_batch_norm(train) if self.norm == "batch" else nn.InstanceNorm(
                    epsilon=1e-5, use_scale=False, use_bias=False))(x)
            x = nn.leaky_relu(x, 0.2)
        stride = self.strides[-1]
        logits = nn.Conv(1, (KERNEL, KERNEL), strides=(stride, stride), padding=PADDING,
                         kernel_init=PIX2PIX_INIT)(x)
        return logits[..., 0]

"""SNGAN ResNet generator and discriminator (Miyato et al. 2018, Appendix B).

The CIFAR-10 ResNet of the paper's appendix is, with width 128:

    G: z (128) -> Dense -> 4x4x256 -> 3 x ResBlock up 256 -> BN, ReLU,
       Conv 3x3 -> 32x32x3, tanh
    D: OptimizedBlock down 128 -> ResBlock down 128 -> 2 x ResBlock 128
       -> ReLU -> global sum pool -> Dense -> logit

with spectral normalisation on every D layer. The generator block is
BN-ReLU-up-Conv3-BN-ReLU-Conv3 with a nearest-neighbour up-sampled 1x1-conv
shortcut; the discriminator block is ReLU-Conv3-ReLU-Conv3-AvgPool with a
1x1-conv + AvgPool shortcut, and the first D block convolves before any
ReLU, so that the image itself is never rectified. Initialisation follows the
authors' code: Glorot-uniform, gain sqrt(2) inside the residual branches and
gain 1 elsewhere.

For 64x64 the same blocks run one more up/down-sampling with channels doubling
towards low resolution, in the style of the DCGAN 64x64 model (1024 channels
at 4x4 for width 128). `RESNET_SPECS` holds the channel multipliers of `width`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.layers import glorot_uniform_init, spectral_normed

Array = jax.Array

RESIDUAL_INIT = glorot_uniform_init(math.sqrt(2.0))
SHORTCUT_INIT = glorot_uniform_init(1.0)


class ResNetSpec(NamedTuple):
    g_channels: tuple[int, ...]  # at 4x4, then after each up block (x width)
    d_channels: tuple[int, ...]  # after each D block (x width)
    d_downsample: tuple[bool, ...]  # whether each D block halves the resolution


RESNET_SPECS = {
    32: ResNetSpec((2, 2, 2, 2), (1, 1, 1, 1), (True, True, False, False)),
    64: ResNetSpec((8, 8, 4, 2, 1), (1, 2, 4, 8, 8), (True, True, True, True, False)),
}


def _spec(resolution: int) -> ResNetSpec:
    if resolution not in RESNET_SPECS:
        raise ValueError(f"ResNet GAN resolution {resolution} is unsupported; "
                         f"choose one of {sorted(RESNET_SPECS)}.")
    return RESNET_SPECS[resolution]


def _upsample(x: Array) -> Array:
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _downsample(x: Array) -> Array:
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


class GeneratorBlock(nn.Module):
    """BN-ReLU-up-Conv3-BN-ReLU-Conv3 plus an up-sampled 1x1-conv shortcut; doubles H and W."""

    features: int

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        def batch_norm(h):
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(h)

        h = _upsample(nn.relu(batch_norm(x)))
        h = nn.Conv(self.features, (3, 3), kernel_init=RESIDUAL_INIT)(h)
        h = nn.relu(batch_norm(h))
        h = nn.Conv(self.features, (3, 3), kernel_init=RESIDUAL_INIT)(h)
        shortcut = nn.Conv(self.features, (1, 1), kernel_init=SHORTCUT_INIT)(_upsample(x))
        return h + shortcut


class DiscriminatorBlock(nn.Module):
    """ReLU-Conv3-ReLU-Conv3(-AvgPool) plus a shortcut (1x1 conv where shapes change)."""

    features: int
    downsample: bool
    first: bool = False  # the "optimized" first block: no ReLU on the input image
    spectral_norm: bool = True

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        def conv(h, features, kernel, init):
            layer = nn.Conv(features, kernel, kernel_init=init)
            return spectral_normed(layer, h, enabled=self.spectral_norm, update_stats=train)

        hidden = self.features if self.first else x.shape[-1]
        h = x if self.first else nn.relu(x)
        h = conv(h, hidden, (3, 3), RESIDUAL_INIT)
        h = conv(nn.relu(h), self.features, (3, 3), RESIDUAL_INIT)
        if self.downsample:
            h = _downsample(h)

        learnable = self.downsample or x.shape[-1] != self.features
        shortcut = x
        if self.first:  # pool first: the 1x1 conv then runs on a quarter of the pixels
            shortcut = conv(_downsample(shortcut), self.features, (1, 1), SHORTCUT_INIT)
        elif learnable:
            shortcut = conv(shortcut, self.features, (1, 1), SHORTCUT_INIT)
            shortcut = _downsample(shortcut) if self.downsample else shortcut
        return h + shortcut


class Generator(nn.Module):
    """z (N, latent_dim) -> images (N, R, R, channels) in [-1, 1]."""

    resolution: int = 32
    channels: int = 3
    width: int = 128
    latent_dim: int = 128

    @nn.compact
    def __call__(self, z: Array, *, train: bool) -> Array:
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"Generator expects z of shape (N, {self.latent_dim}), "
                             f"got {z.shape}.")
        multipliers = _spec(self.resolution).g_channels
        features = self.width * multipliers[0]
        x = nn.Dense(4 * 4 * features, kernel_init=SHORTCUT_INIT)(z)
        x = x.reshape(z.shape[0], 4, 4, features)
        for multiplier in multipliers[1:]:
            x = GeneratorBlock(self.width * multiplier)(x, train=train)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x)
        x = nn.Conv(self.channels, (3, 3), kernel_init=SHORTCUT_INIT)(nn.relu(x))
        return jnp.tanh(x)


class Discriminator(nn.Module):
    """images (N, R, R, C) -> logits (N,); spectral norm on every layer by default.

    `train=True` advances the spectral-norm vectors in `batch_stats` and needs
    `mutable=['batch_stats']`; apply D with `train=False` in G's step and in
    gradient penalties (the normalised weights are then deterministic).
    """

    resolution: int = 32
    width: int = 128
    spectral_norm: bool = True

    @nn.compact
    def __call__(self, images: Array, *, train: bool) -> Array:
        if images.ndim != 4 or images.shape[1:3] != (self.resolution, self.resolution):
            raise ValueError(f"Discriminator expects (N, {self.resolution}, "
                             f"{self.resolution}, C) images, got {images.shape}.")
        spec = _spec(self.resolution)
        x = images
        for index, (multiplier, down) in enumerate(
            zip(spec.d_channels, spec.d_downsample, strict=True)
        ):
            x = DiscriminatorBlock(self.width * multiplier, down, first=index == 0,
                                   spectral_norm=self.spectral_norm)(x, train=train)
        x = jnp.sum(nn.relu(x), axis=(1, 2))  # global sum pooling
        dense = nn.Dense(1, kernel_init=SHORTCUT_INIT)
        return spectral_normed(dense, x, enabled=self.spectral_norm, update_stats=train)[:, 0]


"""DCGAN generator and discriminator (Radford, Metz & Chintala 2015).

The paper's guidelines (Section 3): no pooling, strided convolutions in D and
fractionally strided (transposed) ones in G; BatchNorm in G except its output,
and in D except its input layer; ReLU in G with a tanh output; LeakyReLU(0.2)
in D; weights drawn from N(0, 0.02) (Section 4).

Layout for resolution R (start size s0 = 7 for R = 28, else 4, n = log2(R / s0)
up-samplings; `width` w):

    G: z -> Dense -> s0 x s0 x (w 2^(n-1)) -> [ConvT 4x4 s2, BN, ReLU] x (n-1)
         -> ConvT 4x4 s2 -> R x R x C, tanh
    D: R x R x C -> [Conv 4x4 s2, (BN), LeakyReLU] x n -> s0 x s0 x (w 2^(n-1))
         -> Dense -> logit

so R = 64 with w = 128 is the paper's 64x64 model (1024 channels at 4x4) and
R = 28 with w = 64 is a 0.9M-parameter MNIST model (bench/gan_step.py times it). D may
use spectral normalisation instead of BatchNorm (Miyato et al. 2018); its
power-iteration vectors then live in `batch_stats` like BatchNorm statistics,
so one `mutable=['batch_stats']` covers both. The up-sampling layers are
genjax's `ConvTranspose` (fast kernel gradients on XLA:CPU, see layers.py).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.layers import ConvTranspose, normal_init, spectral_normed

Array = jax.Array

START_SIZES = {28: 7, 32: 4, 64: 4}  # resolution -> spatial size after the projection
DCGAN_INIT = normal_init(0.02)  # Radford et al. 2015, Section 4


def _num_upsamplings(resolution: int) -> int:
    if resolution not in START_SIZES:
        raise ValueError(f"DCGAN resolution {resolution} is unsupported; "
                         f"choose one of {sorted(START_SIZES)}.")
    return int(math.log2(resolution // START_SIZES[resolution]))


def _batch_norm(train: bool) -> nn.BatchNorm:
    # PyTorch's defaults (momentum 0.1 there = 0.9 here, eps 1e-5), as in the reference DCGANs.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class Generator(nn.Module):
    """z (N, latent_dim) -> images (N, R, R, channels) in [-1, 1]."""

    resolution: int = 28
    channels: int = 1
    width: int = 64
    latent_dim: int = 100

    @nn.compact
    def __call__(self, z: Array, *, train: bool) -> Array:
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"Generator expects z of shape (N, {self.latent_dim}), "
                             f"got {z.shape}.")
        n = _num_upsamplings(self.resolution)
        size = START_SIZES[self.resolution]
        features = self.width * 2 ** (n - 1)
        x = nn.Dense(size * size * features, use_bias=False, kernel_init=DCGAN_INIT)(z)
        x = x.reshape(z.shape[0], size, size, features)
        x = nn.relu(_batch_norm(train)(x))
        for stage in range(n - 1):
            features = self.width * 2 ** (n - 2 - stage)
            x = ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME",
                              use_bias=False, kernel_init=DCGAN_INIT)(x)
            x = nn.relu(_batch_norm(train)(x))
        x = ConvTranspose(self.channels, (4, 4), strides=(2, 2), padding="SAME",
                          kernel_init=DCGAN_INIT)(x)
        return jnp.tanh(x)


def discriminator_trunk(images: Array, *, resolution: int, width: int,
                        batch_norm: bool | None, spectral_norm: bool, train: bool) -> Array:
    """D's strided convolutions, flattened: (N, R, R, C) -> (N, features).

    Call it inside a compact method: its layers belong to the calling module
    (named Conv_0, BatchNorm_0, ... there), so `Discriminator`'s parameter
    names are those of a single flat module.
    """
    if images.ndim != 4 or images.shape[1:3] != (resolution, resolution):
        raise ValueError(f"Discriminator expects (N, {resolution}, {resolution}, C) images, "
                         f"got {images.shape}.")
    use_batch_norm = not spectral_norm if batch_norm is None else batch_norm
    x = images
    for stage in range(_num_upsamplings(resolution)):
        normalised = use_batch_norm and stage > 0
        conv = nn.Conv(width * 2**stage, (4, 4), strides=(2, 2), padding="SAME",
                       use_bias=not normalised, kernel_init=DCGAN_INIT)
        x = spectral_normed(conv, x, enabled=spectral_norm, update_stats=train)
        if normalised:
            x = _batch_norm(train)(x)
        x = nn.leaky_relu(x, 0.2)
    return x.reshape(x.shape[0], -1)


class DCGANFeatures(nn.Module):
    """phi(x): `Discriminator` without its final Dense, as a module of its own.

    The feature map of the projection and AC-GAN discriminators
    (genjax/models/conditional.py), so that psi(phi(x)) is the unconditional D.
    """

    resolution: int = 28
    width: int = 64
    batch_norm: bool | None = None  # None: BatchNorm unless spectral_norm
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, images: Array, *, train: bool) -> Array:
        return discriminator_trunk(images, resolution=self.resolution, width=self.width,
                                   batch_norm=self.batch_norm,
                                   spectral_norm=self.spectral_norm, train=train)


class Discriminator(nn.Module):
    """images (N, R, R, C) -> logits (N,).

    `batch_norm` follows the paper (BN on every layer but the first);
    `spectral_norm` wraps every convolution and the final Dense. By default
    (`batch_norm=None`) D uses exactly one of the two. With BatchNorm in train
    mode the logits of one image depend on the rest of the batch, so gradient
    penalties, which assume per-image logits, want `batch_norm=False`.

    `train=True` updates `batch_stats` (BatchNorm statistics, spectral-norm
    vectors) and so needs `mutable=['batch_stats']`; in G's step either do the
    same and discard D's new state, or use `train=False`.
    """

    resolution: int = 28
    width: int = 64
    batch_norm: bool | None = None  # None: BatchNorm unless spectral_norm
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, images: Array, *, train: bool) -> Array:
        x = discriminator_trunk(images, resolution=self.resolution, width=self.width,
                                batch_norm=self.batch_norm, spectral_norm=self.spectral_norm,
                                train=train)
        dense = nn.Dense(1, kernel_init=DCGAN_INIT)
        return spectral_normed(dense, x, enabled=self.spectral_norm, update_stats=train)[:, 0]


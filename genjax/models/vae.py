"""Convolutional VAE: an encoder to q(z|x) = N(mean, diag(exp(log_var))) and a decoder to p(x|z).

Kingma & Welling 2013 (Auto-Encoding Variational Bayes), Section 3 and
appendix C: the encoder outputs the mean and log-variance of a diagonal
Gaussian posterior, the decoder the parameters of the data likelihood. Here
both are convolutional; for a resolution R and `widths` (w_1, ..., w_n),
with s = R / 2^n:

    encoder: x (R x R x C) -> [Conv 4x4 stride 2, SiLU] for w_1..w_n -> s x s x w_n
             -> Dense(hidden), SiLU -> Dense(2 latent_dim) -> (mean, log_var)
    decoder: z -> Dense(hidden), SiLU -> Dense(s s w_n), SiLU -> s x s x w_n
             -> [ConvT 4x4 stride 2, SiLU] for w_{n-1}..w_1
             -> ConvT 4x4 stride 2 -> R x R x (C num_params)

so 28x28 (s = 7) and 32x32 (s = 8 or 4) both work with two or three widths.
The decoder's output channels are the raw likelihood parameters (see
`genjax.losses.likelihoods.Likelihood`); the module knows no likelihood.

The modules hold no randomness: the reparameterisation noise is an argument
(`VAE.__call__(x, noise)`), so the losses and the importance-weighted bound
decide how it is drawn. Kernels use genjax's flat-drawn initialisers (fast
to compile on XLA:CPU) and the up-sampling genjax's `ConvTranspose` (fast
kernel gradients on XLA:CPU; see `genjax.models.layers`).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.layers import ConvTranspose, glorot_uniform_init

Array = jax.Array
KERNEL_INIT = glorot_uniform_init()


def check_geometry(resolution: int, widths: Sequence[int]) -> None:
    """Raise ValueError unless `resolution` halves cleanly len(widths) times."""
    if not widths or resolution % 2 ** len(widths):
        raise ValueError(f"resolution {resolution} is not divisible by 2^{len(widths)} "
                         f"(one halving per width in {tuple(widths)})")


class Encoder(nn.Module):
    """images (N, R, R, C) in [-1, 1] -> (mean, log_var), each (N, latent_dim)."""

    latent_dim: int = 32
    widths: Sequence[int] = (32, 64)
    hidden: int = 256

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        check_geometry(x.shape[1], self.widths)
        for width in self.widths:
            x = nn.silu(nn.Conv(width, (4, 4), strides=(2, 2), padding="SAME",
                                kernel_init=KERNEL_INIT)(x))
        x = x.reshape(x.shape[0], -1)
        x = nn.silu(nn.Dense(self.hidden, kernel_init=KERNEL_INIT)(x))
        stats = nn.Dense(2 * self.latent_dim, kernel_init=KERNEL_INIT)(x)
        mean, log_var = jnp.split(stats, 2, axis=-1)
        return mean, log_var


class Decoder(nn.Module):
    """z (N, latent_dim) -> raw likelihood parameters (N, R, R, channels * num_params)."""

    resolution: int = 28
    channels: int = 1
    num_params: int = 1
    widths: Sequence[int] = (32, 64)
    hidden: int = 256

    @nn.compact
    def __call__(self, z: Array) -> Array:
        check_geometry(self.resolution, self.widths)
        size = self.resolution // 2 ** len(self.widths)
        x = nn.silu(nn.Dense(self.hidden, kernel_init=KERNEL_INIT)(z))
        x = nn.silu(nn.Dense(size * size * self.widths[-1], kernel_init=KERNEL_INIT)(x))
        x = x.reshape(z.shape[0], size, size, self.widths[-1])
        for width in reversed(self.widths[:-1]):
            x = nn.silu(ConvTranspose(width, (4, 4), strides=(2, 2), padding="SAME",
                                      kernel_init=KERNEL_INIT)(x))
        return ConvTranspose(self.channels * self.num_params, (4, 4), strides=(2, 2),
                             padding="SAME", kernel_init=KERNEL_INIT)(x)


class VAE(nn.Module):
    """The pair, with `encode`, `decode` and a reparameterised forward pass.

    `__call__(x, noise)` returns (mean, log_var, z, raw) with
    z = mean + exp(log_var / 2) * noise (Kingma & Welling 2013, eq. 10 with
    L = 1); use `method=VAE.encode` / `VAE.decode` for either half alone.
    """

    resolution: int = 28
    channels: int = 1
    num_params: int = 1
    latent_dim: int = 32
    widths: Sequence[int] = (32, 64)
    hidden: int = 256

    def setup(self):
        self.encoder = Encoder(self.latent_dim, tuple(self.widths), self.hidden)
        self.decoder = Decoder(self.resolution, self.channels, self.num_params,
                               tuple(self.widths), self.hidden)

    def encode(self, x: Array) -> tuple[Array, Array]:
        return self.encoder(x)

    def decode(self, z: Array) -> Array:
        return self.decoder(z)

    def __call__(self, x: Array, noise: Array) -> tuple[Array, Array, Array, Array]:
        mean, log_var = self.encoder(x)
        z = mean + jnp.exp(0.5 * log_var) * noise
        return mean, log_var, z, self.decoder(z)


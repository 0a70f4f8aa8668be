"""CycleGAN's ResNet generator, scaled to 28x28 (Zhu, Park, Isola & Efros 2017).

Their Appendix 7.2 (after Johnson et al. 2016): c7s1-k is a 7x7 Convolution-
InstanceNorm-ReLU with k filters and stride 1, dk a 3x3 Convolution-InstanceNorm-
ReLU with stride 2, Rk a residual block of two 3x3 convolutions with k filters,
uk a 3x3 fractionally-strided Convolution-InstanceNorm-ReLU with stride 1/2;
reflection padding; weights from N(0, 0.02). Their 128x128 network is
c7s1-64, d128, d256, R256 x 6, u128, u64, c7s1-3. At 28x28 (width w):

    x (28, 28, C) -> c7s1-w -> d2w (14 x 14) -> d4w (7 x 7) -> R4w x blocks
                  -> u2w (14 x 14) -> uw (28 x 28) -> c7s1-C, tanh

Instance norm makes every output depend on its own image only, so G runs the
same in train and eval mode (`train` is accepted for the shared call signature).
The discriminator is genjax/models/pix2pix.py's PatchGAN fed one image, with
instance norm (`norm="instance"`): at 28 px a 22x22 receptive field.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.layers import ConvTranspose, normal_init

Array = jax.Array

CYCLEGAN_INIT = normal_init(0.02)  # Zhu et al. 2017, Appendix 7.1


def _reflect(x: Array, pad: int) -> Array:
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def _norm(x: Array) -> Array:
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)(x)


class ResnetGenerator(nn.Module):
    """images (N, H, W, C_in) in [-1, 1] -> (N, H, W, out_channels) in [-1, 1]."""

    out_channels: int = 1
    width: int = 32
    blocks: int = 6

    @nn.compact
    def __call__(self, inputs: Array, *, train: bool = False) -> Array:
        del train  # instance norm: no batch statistics, no dropout
        if inputs.ndim != 4 or inputs.shape[1] % 4 or inputs.shape[2] % 4:
            raise ValueError(f"ResnetGenerator expects (N, H, W, C) inputs with H and W "
                             f"divisible by 4, got {inputs.shape}.")
        w = self.width

        def conv(features, kernel, stride, x, pad):
            x = _reflect(x, pad) if pad else x
            return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                           padding="VALID" if pad else ((1, 1), (1, 1)),
                           kernel_init=CYCLEGAN_INIT)(x)

        x = nn.relu(_norm(conv(w, 7, 1, inputs, pad=3)))  # c7s1-w
        x = nn.relu(_norm(conv(2 * w, 3, 2, x, pad=0)))  # d2w
        x = nn.relu(_norm(conv(4 * w, 3, 2, x, pad=0)))  # d4w
        for _ in range(self.blocks):  # R4w
            y = nn.relu(_norm(conv(4 * w, 3, 1, x, pad=1)))
            x = x + _norm(conv(4 * w, 3, 1, y, pad=1))
        for features in (2 * w, w):  # u2w, uw
            x = ConvTranspose(features, (3, 3), strides=(2, 2), padding="SAME",
                              kernel_init=CYCLEGAN_INIT)(x)
            x = nn.relu(_norm(x))
        return jnp.tanh(conv(self.out_channels, 7, 1, x, pad=3))  # c7s1-C

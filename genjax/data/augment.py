"""Classical, label-preserving image augmentation in JAX (inside the jitted step).

Random horizontal flips and random translations by zero-padding then cropping
back to the original size (the "pad 4, crop 32" recipe of CIFAR training, here
with a configurable pad). Each image draws its own transform.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def random_flip(images: jax.Array, rng: jax.Array) -> jax.Array:
    """Mirror each image left-right with probability 1/2."""
    flip = jax.random.bernoulli(rng, 0.5, (images.shape[0], 1, 1, 1))
    return jnp.where(flip, images[:, :, ::-1, :], images)


def random_crop(images: jax.Array, rng: jax.Array, pad: int) -> jax.Array:
    """Zero-pad by `pad` pixels and crop a random window of the original size."""
    n, h, w, c = images.shape
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets = jax.random.randint(rng, (n, 2), 0, 2 * pad + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

    return jax.vmap(crop)(padded, offsets)


def classical_augment(images: jax.Array, rng: jax.Array, *, flip: bool = True,
                      crop_pad: int = 0) -> jax.Array:
    flip_rng, crop_rng = jax.random.split(rng)
    if flip:
        images = random_flip(images, flip_rng)
    if crop_pad > 0:
        images = random_crop(images, crop_rng, crop_pad)
    return images

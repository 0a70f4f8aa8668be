"""The image-history pool of CycleGAN, as a pure function on a pytree.

Zhu et al. 2017 (Section 4, after Shrivastava et al. 2017) update each
discriminator "using a history of generated images rather than the ones produced
by the latest generators", a buffer of 50 images. The authors' implementation
keeps up to `size` past fakes and, for each new fake in turn:

- while the pool is not full: stores it and returns it;
- once full: with probability 1/2 returns a uniformly chosen stored fake and puts
  the new one in its place; otherwise returns the new fake and leaves the pool.

Here the pool is an `ImagePool` pytree (images (size, H, W, C), count) inside
the training state, so it is checkpointed with it and a resumed run continues
bit for bit; `query_pool(pool, fakes, rng)` processes the batch in order with
`lax.scan` and is a pure function of its arguments. `size = 0` returns the fakes
unchanged (no history).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array

POOL_SIZE = 50  # Zhu et al. 2017, Section 4
REPLACE_PROB = 0.5  # the authors' implementation: return a stored fake half the time


class ImagePool(struct.PyTreeNode):
    """Up to `images.shape[0]` stored fakes; the first `count` rows are filled."""

    images: Array
    count: Array


def init_pool(size: int, shape: tuple[int, ...]) -> ImagePool:
    """An empty pool of `size` images of `shape` (H, W, C)."""
    if size < 0:
        raise ValueError(f"pool size must be >= 0, got {size}")
    return ImagePool(images=jnp.zeros((size, *shape), jnp.float32),
                     count=jnp.zeros((), jnp.int32))


def query_pool(pool: ImagePool, fakes: Array, rng: Array) -> tuple[ImagePool, Array]:
    """(new pool, the images D sees instead of `fakes`), one fake at a time, in order."""
    size = pool.images.shape[0]
    if size == 0:
        return pool, fakes

    def one(carry, inputs):
        images, count = carry
        fake, key = inputs
        coin_key, index_key = jax.random.split(key)
        swap = jax.random.uniform(coin_key) < REPLACE_PROB
        index = jax.random.randint(index_key, (), 0, size)
        full = count >= size
        slot = jnp.where(full, index, count)
        stored = images[slot]
        write = jnp.logical_or(~full, swap)
        images = images.at[slot].set(jnp.where(write, fake, stored))
        returned = jnp.where(full & swap, stored, fake)
        return (images, jnp.minimum(count + 1, size)), returned

    keys = jax.random.split(rng, fakes.shape[0])
    (images, count), returned = jax.lax.scan(one, (pool.images, pool.count), (fakes, keys))
    return ImagePool(images=images, count=count), returned

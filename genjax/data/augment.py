"""Image augmentation inside the jitted step: classical (classifiers) and DiffAugment (GANs).

Classical, label-preserving augmentation: random horizontal flips and random
translations by zero-padding then cropping back to the original size (the
"pad 4, crop 32" recipe of CIFAR training, here with a configurable pad).
Each image draws its own transform.

DiffAugment: differentiable augmentation for data-efficient GANs (Zhao et al. 2020).

The same random transform family T is applied to every image D sees, real and
generated, in both players' steps (their Figure 4); because each T is
differentiable, G's gradient flows back through T(G(z)). Call `diff_augment`
on the real and on the fake batch with the same policy (and independent keys).
Each image draws its own transform. The transforms of the authors' code, for
NHWC images in [-1, 1]:

- color: brightness x + U(-0.5, 0.5); saturation: the deviation from the
  per-pixel channel mean scaled by U(0, 2); contrast: the deviation from the
  image mean scaled by U(0.5, 1.5). No clipping, so values may leave [-1, 1]
  (as in the reference); saturation is the identity on 1-channel images.
- translation: shift by integers in [-r, r] pixels per axis, r = round(H / 8)
  rounding halves up (4 for 28 and 32, 8 for 64; one release of the authors'
  code uses H // 8, i.e. 3 for 28), filling with zeros.
- cutout: zero a square of side round(H / 2) (round(W / 2)) centred at a
  uniformly drawn pixel, clipped at the border.

All are pure jax functions of (images, rng) and differentiable in the images.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


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


Augmentation = Callable[[Array, jax.Array], Array]


def _per_image_uniform(rng: jax.Array, images: Array, low: float, high: float) -> Array:
    # Drawn as a vector: XLA:CPU compiles rank-4 draws slowly (genjax/models/layers.py).
    values = jax.random.uniform(rng, images.shape[:1], images.dtype, low, high)
    return values.reshape((images.shape[0],) + (1,) * (images.ndim - 1))


def brightness(images: Array, rng: jax.Array) -> Array:
    return images + _per_image_uniform(rng, images, -0.5, 0.5)


def saturation(images: Array, rng: jax.Array) -> Array:
    mean = jnp.mean(images, axis=-1, keepdims=True)
    return (images - mean) * _per_image_uniform(rng, images, 0.0, 2.0) + mean


def contrast(images: Array, rng: jax.Array) -> Array:
    mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
    return (images - mean) * _per_image_uniform(rng, images, 0.5, 1.5) + mean


def translate(images: Array, shifts: Array) -> Array:
    """out[n, h, w] = images[n, h - dy_n, w - dx_n], zero outside; shifts (N, 2) = (dy, dx)."""
    height, width = images.shape[1:3]

    def shift_one(image, shift):
        rows = jnp.arange(height) - shift[0]
        cols = jnp.arange(width) - shift[1]
        inside = ((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None]
        moved = image[jnp.clip(rows, 0, height - 1)][:, jnp.clip(cols, 0, width - 1)]
        return jnp.where(inside[..., None], moved, jnp.zeros_like(moved))

    return jax.vmap(shift_one)(images, shifts)


def translation(images: Array, rng: jax.Array, ratio: float = 0.125) -> Array:
    height, width = images.shape[1:3]
    max_shift = jnp.array([int(height * ratio + 0.5), int(width * ratio + 0.5)])
    shifts = jax.random.randint(rng, (images.shape[0], 2), -max_shift, max_shift + 1)
    return translate(images, shifts)


def cutout_mask(image_size: tuple[int, int], centres: Array, size: tuple[int, int]) -> Array:
    """(N, H, W, 1) mask, 0 on the size[0] x size[1] square starting at centre - size // 2."""
    (height, width), (cut_h, cut_w) = image_size, size
    top = centres[:, 0, None] - cut_h // 2
    left = centres[:, 1, None] - cut_w // 2
    rows = jnp.arange(height)[None]
    cols = jnp.arange(width)[None]
    in_rows = (rows >= top) & (rows < top + cut_h)
    in_cols = (cols >= left) & (cols < left + cut_w)
    return 1.0 - (in_rows[:, :, None] & in_cols[:, None, :])[..., None].astype(jnp.float32)


def cutout(images: Array, rng: jax.Array, ratio: float = 0.5) -> Array:
    height, width = images.shape[1:3]
    cut = (int(height * ratio + 0.5), int(width * ratio + 0.5))
    # The reference draws centres in [0, H + (1 - cut % 2)): even squares may hang off either edge.
    upper = jnp.array([height + 1 - cut[0] % 2, width + 1 - cut[1] % 2])
    centres = jax.random.randint(rng, (images.shape[0], 2), 0, upper)
    return images * cutout_mask((height, width), centres, cut).astype(images.dtype)


AUGMENTATIONS: dict[str, tuple[Augmentation, ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(policy: str) -> tuple[Augmentation, ...]:
    """'color,translation' -> the transforms in application order; '' -> none."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"Unknown DiffAugment policy {unknown}; "
                         f"choose a comma-separated subset of {sorted(AUGMENTATIONS)}.")
    return tuple(fn for name in names for fn in AUGMENTATIONS[name])


def diff_augment(images: Array, rng: jax.Array, policy: str = "color,translation,cutout"
                 ) -> Array:
    """Apply the policy's transforms in order, each with its own key, to NHWC images."""
    if images.ndim != 4:
        raise ValueError(f"diff_augment expects NHWC images, got shape {images.shape}.")
    transforms = parse_policy(policy)
    if not transforms:
        return images
    for transform, key in zip(transforms, jax.random.split(rng, len(transforms)), strict=True):
        images = transform(images, key)
    return images

"""(input, target) pairs for image-to-image tasks, built from real images by pure functions.

A builder is `build(images, rng, **options) -> inputs` on float images
(N, H, W, C) in [0, 1] (uint8 images are divided by 255 first); the target is
the image itself. Everything random comes from `rng`, a numpy Generator, so a
pair is a pure function of (images, rng). Training batch `step` uses
`batch_rng(seed, step)` = default_rng([seed, step, PAIR_TAG, process]): the
same at any step of a resumed run. Eval example i always uses
default_rng([EVAL_SEED, i, PAIR_TAG]), whatever the run's seed or method, so
every method is scored on the same degraded test images.

The tasks (`PAIRS`: name -> builder, its input channels and the `pairs.*`
options it reads):

- super_resolution (`scale`): exact area down-sampling to H/s x W/s (the mean
  of each s x s block), then nearest up-sampling back to H x W, the U-Net's
  input (as in the bicubic-upsampled input of SRCNN, Dong et al. 2014, with
  the box filter and nearest neighbour in place of bicubic interpolation);
- inpaint_centre (`mask_size`): the centred mask_size^2 square set to 0, and
  the mask (1 = missing) as a second channel (Pathak et al. 2016, their
  central-region masks);
- inpaint_box (`box_min`, `box_max`): as inpaint_centre, one box per image
  with height and width each uniform in [box_min, box_max] and a uniform
  position inside the image (their random-block masks);
- denoise_gaussian (`sigma`): clip(x + sigma n, 0, 1), n ~ N(0, 1) per pixel
  (additive white Gaussian noise on [0, 1] intensities, as in the denoising
  benchmarks of Zhang et al. 2017, DnCNN);
- denoise_salt_pepper (`fraction`): each pixel replaced with probability
  `fraction`, by 0 or 1 with equal odds (impulse noise);
- edges: the Sobel gradient magnitude sqrt(G_x^2 + G_y^2) (Sobel & Feldman
  1968; G_x, G_y the 3x3 Sobel responses, zero padding outside the image),
  divided by its per-image maximum (all zeros for a constant image): the
  edges -> photo setting of Isola et al. 2017 (Section 4), with Sobel in place
  of HED edges.

Model inputs and targets are in [-1, 1]: `to_model_range` maps every channel
x -> 2x - 1, the mask channel to {-1, 1}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

import jax
import numpy as np

from genjax.errors import UserError

PAIR_TAG = 0x9A1B  # separates the pairs' random stream from the pipeline's
EVAL_SEED = 0xE7A1  # the fixed seed of the eval split's pairs


def as_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 levels -> float32 in [0, 1]; float images are taken to be in [0, 1] already."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)


def upsample_nearest(small: np.ndarray, scale: int) -> np.ndarray:
    """(N, h, w, C) -> (N, h scale, w scale, C): each pixel repeated over a scale x scale block."""
    return np.repeat(np.repeat(small, scale, axis=1), scale, axis=2).astype(np.float32)


def super_resolution(images: np.ndarray, rng: np.random.Generator, *, scale: int) -> np.ndarray:
    """Block means over scale x scale cells, repeated back to full size (nearest)."""
    n, h, w, c = images.shape
    small = images.reshape(n, h // scale, scale, w // scale, scale, c).mean(axis=(2, 4))
    return upsample_nearest(small, scale)


def _with_holes(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """[image with the holes set to 0, the hole mask], on channels."""
    return np.concatenate([images * (1.0 - holes), holes], axis=-1).astype(np.float32)


def inpaint_centre(images: np.ndarray, rng: np.random.Generator, *, mask_size: int
                   ) -> np.ndarray:
    n, h, w, _ = images.shape
    holes = np.zeros((n, h, w, 1), np.float32)
    top, left = (h - mask_size) // 2, (w - mask_size) // 2
    holes[:, top:top + mask_size, left:left + mask_size] = 1.0
    return _with_holes(images, holes)


def inpaint_box(images: np.ndarray, rng: np.random.Generator, *, box_min: int, box_max: int
                ) -> np.ndarray:
    n, h, w, _ = images.shape
    sizes = rng.integers(box_min, box_max + 1, size=(n, 2))
    tops = rng.integers(0, h - sizes[:, 0] + 1)
    lefts = rng.integers(0, w - sizes[:, 1] + 1)
    holes = np.zeros((n, h, w, 1), np.float32)
    for i in range(n):
        holes[i, tops[i]:tops[i] + sizes[i, 0], lefts[i]:lefts[i] + sizes[i, 1]] = 1.0
    return _with_holes(images, holes)


def denoise_gaussian(images: np.ndarray, rng: np.random.Generator, *, sigma: float
                     ) -> np.ndarray:
    noise = rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(images + np.float32(sigma) * noise, 0.0, 1.0)


def denoise_salt_pepper(images: np.ndarray, rng: np.random.Generator, *, fraction: float
                        ) -> np.ndarray:
    hit = rng.random(images.shape, dtype=np.float32) < fraction
    salt = rng.random(images.shape, dtype=np.float32) < 0.5
    return np.where(hit, salt.astype(np.float32), images).astype(np.float32)


def edges(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))  # zero padding
    rows = p[:, :-2] + 2.0 * p[:, 1:-1] + p[:, 2:]  # smoothed down the columns
    cols = p[:, :, :-2] + 2.0 * p[:, :, 1:-1] + p[:, :, 2:]  # smoothed along the rows
    gx = rows[:, :, 2:] - rows[:, :, :-2]
    gy = cols[:, 2:] - cols[:, :-2]
    magnitude = np.sqrt(gx * gx + gy * gy)
    peak = magnitude.max(axis=(1, 2, 3), keepdims=True)
    return np.divide(magnitude, peak, out=np.zeros_like(magnitude),
                     where=peak > 0).astype(np.float32)


class PairSpec(NamedTuple):
    build: Callable[..., np.ndarray]
    input_channels: int  # for single-channel images
    options: tuple[str, ...]  # the pairs.* fields the builder reads


PAIRS: dict[str, PairSpec] = {
    "super_resolution": PairSpec(super_resolution, 1, ("scale",)),
    "inpaint_centre": PairSpec(inpaint_centre, 2, ("mask_size",)),
    "inpaint_box": PairSpec(inpaint_box, 2, ("box_min", "box_max")),
    "denoise_gaussian": PairSpec(denoise_gaussian, 1, ("sigma",)),
    "denoise_salt_pepper": PairSpec(denoise_salt_pepper, 1, ("fraction",)),
    "edges": PairSpec(edges, 1, ()),
}


def input_channels(name: str, image_channels: int) -> int:
    """The model's input channels: the degraded image's, plus one for a mask."""
    return image_channels + PAIRS[name].input_channels - 1


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_pairs(name: str, options: Mapping, image_shape: tuple[int, int, int]) -> None:
    """One-line `UserError`s for an unknown pair task or a bad option it reads."""
    if name not in PAIRS:
        raise UserError(f"unknown pairs.name {name!r}; choose one of {sorted(PAIRS)}")
    h, w, _ = image_shape
    if name == "super_resolution":
        scale = options["scale"]
        if not _is_int(scale) or scale < 2 or h % scale or w % scale:
            raise UserError(f"pairs.scale={scale!r} must be an integer >= 2 that divides the "
                            f"image size {h}x{w}")
    if name == "inpaint_centre":
        size = options["mask_size"]
        if not _is_int(size) or not 1 <= size <= min(h, w):
            raise UserError(f"pairs.mask_size={size!r} must be an integer in [1, {min(h, w)}] "
                            f"(the mask must fit in the {h}x{w} image)")
    if name == "inpaint_box":
        low, high = options["box_min"], options["box_max"]
        if not (_is_int(low) and _is_int(high) and 1 <= low <= high <= min(h, w)):
            raise UserError(f"pairs.box_min={low!r} and pairs.box_max={high!r} must be integers "
                            f"with 1 <= box_min <= box_max <= {min(h, w)} (the box must fit "
                            f"in the {h}x{w} image)")
    if name == "denoise_gaussian" and not options["sigma"] >= 0:
        raise UserError(f"pairs.sigma must be >= 0, got {options['sigma']}")
    if name == "denoise_salt_pepper" and not 0 <= options["fraction"] <= 1:
        raise UserError(f"pairs.fraction must be in [0, 1], got {options['fraction']}")


def degrade(name: str, images: np.ndarray, rng: np.random.Generator, options: Mapping
            ) -> np.ndarray:
    """The inputs (N, H, W, C_in) in [0, 1] of `images` under pair task `name`."""
    spec = PAIRS[name]
    return spec.build(as_unit_float(images), rng, **{k: options[k] for k in spec.options})


def to_model_range(images: np.ndarray) -> np.ndarray:
    return (2.0 * images - 1.0).astype(np.float32)


def make_pairs(name: str, images: np.ndarray, rng: np.random.Generator, options: Mapping
               ) -> dict[str, np.ndarray]:
    """{"input", "target"} in [-1, 1]: a pure function of (images, rng)."""
    return {"input": to_model_range(degrade(name, images, rng, options)),
            "target": to_model_range(as_unit_float(images))}


def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The pairs' generator for training batch `step` (this process's share)."""
    return np.random.default_rng([seed, step, PAIR_TAG, jax.process_index()])


def pair_batches(batches: Iterator[dict], name: str, options: Mapping, *, seed: int,
                 start_step: int) -> Iterator[dict[str, np.ndarray]]:
    """Pairs of image batches, batch k of `batches` being training step start_step + k.

    `batches` yield {"image": (N, H, W, C) in [0, 1]} (`array_train_iterator`
    with image_range "[0,1]"), exact from any step, so the pairs are too.
    """
    for step, batch in enumerate(batches, start_step):
        yield make_pairs(name, batch["image"], batch_rng(seed, step), options)


def eval_pairs(name: str, images: np.ndarray, options: Mapping, num: int
               ) -> dict[str, np.ndarray]:
    """Pairs of the first `num` images, example i degraded with default_rng([EVAL_SEED, i, tag])."""
    inputs = [degrade(name, images[i:i + 1], np.random.default_rng([EVAL_SEED, i, PAIR_TAG]),
                      options) for i in range(num)]
    return {"input": to_model_range(np.concatenate(inputs)),
            "target": to_model_range(as_unit_float(images[:num]))}

"""Classical image-enhancement baselines with scikit-image: batch in, batch out, no learning.

Every method maps float images (N, H, W, 1) in [0, 1] to (N, H, W, 1) in [0, 1]
(outputs clipped to [0, 1]); the batch is processed image by image where a
filter would otherwise mix neighbouring images.

- `nearest`, `bicubic`: up-sampling of the low-resolution image by `scale`
  with skimage.transform.resize (order 0, and order 3: a cubic spline, the
  usual "bicubic" baseline of super-resolution, Dong et al. 2014, SRCNN).
  `low_resolution` recovers the block means from genjax.data.pairs'
  nearest-up-sampled input, so `nearest` gives back that input exactly.
- `gaussian_filter` (sigma in pixels), `median_filter` (a size x size square
  window; the classical remedy for impulse noise, Tukey 1974) and
  `tv_chambolle` (total-variation denoising, Rudin, Osher & Fatemi 1992, by
  Chambolle's 2004 projection algorithm; `weight` trades fidelity for
  smoothness).
- `biharmonic`: the holes filled by solving the biharmonic equation with the
  known pixels as boundary values (Damelin & Hoang 2018), per image.

`baselines(pair_name, options)` lists the methods that apply to a pair task
of genjax.data.pairs, each taking the task's model input mapped to [0, 1];
`tune` chooses a method's one parameter from its grid by mean PSNR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from skimage import filters, restoration, transform

from genjax.eval import enhancement


def _each(images: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """fn applied to each (H, W) image of (N, H, W, 1); float32 in [0, 1]."""
    out = np.stack([fn(image[..., 0]) for image in images])[..., None]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def low_resolution(upsampled: np.ndarray, scale: int) -> np.ndarray:
    """(N, H, W, C) repeated scale x scale blocks -> (N, H/scale, W/scale, C): one pixel each."""
    return np.asarray(upsampled)[:, ::scale, ::scale]


def _resize(lowres: np.ndarray, scale: int, order: int) -> np.ndarray:
    h, w = lowres.shape[1] * scale, lowres.shape[2] * scale
    return _each(lowres, lambda x: transform.resize(x, (h, w), order=order, mode="edge",
                                                    anti_aliasing=False))


def nearest(lowres: np.ndarray, scale: int) -> np.ndarray:
    return _resize(lowres, scale, order=0)


def bicubic(lowres: np.ndarray, scale: int) -> np.ndarray:
    return _resize(lowres, scale, order=3)


def gaussian_filter(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over H and W only (sigma 0 on the batch and channel axes)."""
    out = filters.gaussian(np.asarray(images, np.float32), sigma=(0, sigma, sigma, 0),
                           mode="nearest")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def median_filter(images: np.ndarray, size: int) -> np.ndarray:
    """The median over a size x size window of each image (edges replicated)."""
    footprint = np.ones((1, size, size, 1), bool)
    return filters.median(np.asarray(images, np.float32), footprint=footprint,
                          mode="nearest").astype(np.float32)


def tv_chambolle(images: np.ndarray, weight: float) -> np.ndarray:
    return _each(images, lambda x: restoration.denoise_tv_chambolle(x, weight=weight))


def biharmonic(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """images (N, H, W, 1) with holes (N, H, W) True where a pixel is missing."""
    holes = np.asarray(holes, bool)
    out = [restoration.inpaint_biharmonic(image[..., 0], hole) if hole.any() else image[..., 0]
           for image, hole in zip(images, holes, strict=True)]
    return np.clip(np.stack(out)[..., None], 0.0, 1.0).astype(np.float32)


def psnr(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-image 10 log10(1 / MSE) on [0, 1] intensities, capped as genjax.eval.enhancement."""
    mse = np.mean((np.asarray(outputs, np.float64) - targets) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(1.0 / mse), enhancement.psnr_cap(np.shape(targets)))


class Baseline(NamedTuple):
    """apply(inputs in [0, 1], (N, H, W, C_in), [parameter]) -> outputs (N, H, W, 1)."""

    apply: Callable[..., np.ndarray]
    parameter: str | None = None  # the name of its one parameter, tuned on training pairs
    grid: tuple = ()


GAUSSIAN_SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
MEDIAN_SIZES = (3, 5)
TV_WEIGHTS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def baselines(pair_name: str, options: Mapping) -> dict[str, Baseline]:
    """The classical methods for a genjax.data.pairs task (none for edges)."""
    if pair_name == "super_resolution":
        s = options["scale"]
        return {"bicubic": Baseline(lambda x: bicubic(low_resolution(x, s), s)),
                "nearest": Baseline(lambda x: nearest(low_resolution(x, s), s))}
    if pair_name.startswith("denoise"):
        return {"gaussian": Baseline(gaussian_filter, "sigma", GAUSSIAN_SIGMAS),
                "median": Baseline(median_filter, "size", MEDIAN_SIZES),
                "tv_chambolle": Baseline(tv_chambolle, "weight", TV_WEIGHTS)}
    if pair_name.startswith("inpaint"):
        return {"biharmonic": Baseline(lambda x: biharmonic(x[..., :1], x[..., 1] > 0.5))}
    return {}


def tune(method: Baseline, inputs: np.ndarray, targets: np.ndarray,
         grid: Sequence | None = None) -> tuple[object, dict]:
    """(the grid value of highest mean PSNR, {value: mean PSNR}); ties go to the first."""
    grid = method.grid if grid is None else grid
    scores = {value: float(np.mean(psnr(method.apply(inputs, value), targets)))
              for value in grid}
    return max(scores, key=scores.get), scores

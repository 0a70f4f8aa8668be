"""Full-reference image quality over a split: PSNR, SSIM and L1 of outputs against targets.

All three are computed per image on [0, 1] intensities (images in `value_range`
are rescaled first) and averaged over the images, with dm-pix (Babuschkin et
al. 2020, the DeepMind JAX ecosystem):

- PSNR = 10 log10(1 / MSE) dB for a dynamic range of 1, at most `psnr_cap(shape)`:
  the PSNR of the smallest error an 8-bit image can have, one level (1/255) in one
  of its H x W x C values (77.07 dB at 28x28x1). Identical images get the cap instead
  of inf, which would make a split's mean infinite (a random inpainting box that
  hides only black background gives them: 63 of Fashion-MNIST's 10,000 test pairs);
- SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, eq. 13, averaged as their
  MSSIM, eq. 17): the mean over 11x11 Gaussian windows (sigma 1.5, 'valid'
  placement: 18x18 windows on 28x28) of (2 mu_x mu_y + C1)(2 sigma_xy + C2) /
  ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)), C1 = 0.01^2,
  C2 = 0.03^2, averaged over channels;
- L1: the mean absolute error per pixel.

`split_scores` maps a translation function over a split's inputs in fixed-size
batches (the last one padded, so one compile serves the whole split).
"""

from __future__ import annotations

from collections.abc import Callable

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def _unit(images: Array, value_range: tuple[float, float]) -> Array:
    lo, hi = value_range
    return (jnp.asarray(images, jnp.float32) - lo) / (hi - lo)


def psnr_cap(shape: tuple[int, ...]) -> float:
    """10 log10(H W C 255^2): the PSNR of one 8-bit level of error in one value of an image."""
    return float(10.0 * np.log10(np.prod(shape[-3:]) * 255.0**2))


def image_scores(outputs: Array, targets: Array, *,
                 value_range: tuple[float, float] = (-1.0, 1.0)) -> dict[str, Array]:
    """Per-image {"psnr", "ssim", "l1"} (N,) of outputs vs targets, both (N, H, W, C)."""
    a, b = _unit(outputs, value_range), _unit(targets, value_range)
    return {"psnr": jnp.minimum(dm_pix.psnr(a, b), psnr_cap(a.shape)),
            "ssim": dm_pix.ssim(a, b),
            "l1": jnp.mean(jnp.abs(a - b), axis=(1, 2, 3))}


_jitted_scores = jax.jit(image_scores, static_argnames="value_range")


def _padded(chunk: np.ndarray, size: int) -> np.ndarray:
    """`chunk` with its last row repeated up to `size` rows."""
    return np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])


def split_scores(translate: Callable[[np.ndarray], Array], inputs: np.ndarray,
                 targets: np.ndarray, *, batch_size: int,
                 value_range: tuple[float, float] = (-1.0, 1.0)) -> dict[str, float]:
    """Mean PSNR, SSIM and L1 of translate(inputs) against targets, and "num_examples".

    `translate` maps a (batch_size, H, W, C_in) batch to (batch_size, H, W, C_out).
    """
    n = len(inputs)
    if n == 0 or len(targets) != n:
        raise ValueError(f"need as many targets as inputs (at least one), got {n} inputs "
                         f"and {len(targets)} targets")
    totals: dict[str, float] = {}
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        outputs = translate(_padded(inputs[start:start + count], batch_size))
        scores = jax.device_get(_jitted_scores(outputs, _padded(targets[start:start + count],
                                                                batch_size),
                                               value_range=value_range))
        for name, values in scores.items():
            totals[name] = totals.get(name, 0.0) + float(np.sum(values[:count]))
    return {**{name: total / n for name, total in totals.items()}, "num_examples": n}

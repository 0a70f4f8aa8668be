"""Fixed-noise sample grids, latent interpolations and a diversity indicator for GANs.

- Fixed noise: the latents of every sample grid are a pure function of the run's
  seed (`fixed_noise`), so grids from different steps show the same z and the
  progress of one image can be followed across `samples/step_*.png`.
- Interpolation: rows of a strip go from one latent to another along the great
  circle (spherical linear interpolation, White 2016, "Sampling Generative
  Networks", Section 2.1): for Gaussian z the norm concentrates near
  sqrt(latent_dim), and a straight line would pass through unlikely short z.
- Diversity ratio: the mean pairwise Euclidean (pixel) distance of a batch of
  generated images divided by that of as many real images. A healthy generator
  scores near 1; mode collapse (many z giving nearly the same image) drives it
  towards 0. It is a cheap alarm, not a quality measure: blurry or noisy
  samples can score near 1 (use FID/KID for quality).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from genjax import data

GRID_NOISE_TAG = 0xF1  # fold_in tags: keep evaluation keys apart from training keys
DIVERSITY_NOISE_TAG = 0xD1
INTERPOLATION_TAG = 0x1E


def fixed_noise(seed: int, num: int, latent_dim: int, tag: int = GRID_NOISE_TAG) -> np.ndarray:
    """(num, latent_dim) N(0, I) latents, the same for every call with this seed and tag."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), tag)
    return np.asarray(jax.random.normal(key, (num * latent_dim,))).reshape(num, latent_dim)


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between two latents at fractions `t` -> (len(t), latent_dim).

    sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1, with omega
    the angle between z0 and z1 (White 2016, eq. 1); linear when they are parallel.
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.asarray(t, np.float64)[:, None]
    cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return (1.0 - t) * z0 + t * z1
    return (np.sin((1.0 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


def interpolation_latents(seed: int, rows: int, cols: int, latent_dim: int) -> np.ndarray:
    """(rows * cols, latent_dim): each row slerps between two fixed latents in `cols` steps."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), INTERPOLATION_TAG)
    ends = np.asarray(jax.random.normal(key, (2 * rows * latent_dim,)))
    ends = ends.reshape(rows, 2, latent_dim)
    t = np.linspace(0.0, 1.0, cols)
    return np.concatenate([slerp(a, b, t) for a, b in ends]).astype(np.float32)


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs i < j of flattened images."""
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    if len(x) < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 images, got {len(x)}")
    squared = np.sum(x * x, axis=1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * x @ x.T, 0.0)
    upper = np.triu_indices(len(x), k=1)
    return float(np.mean(np.sqrt(d2[upper])))


def diversity_ratio(samples: np.ndarray, real_images: np.ndarray) -> float:
    """mean_pairwise_distance(samples) / mean_pairwise_distance(real_images); ~1 healthy."""
    return mean_pairwise_distance(samples) / mean_pairwise_distance(real_images)


GRID_SIZE = 64  # images per sample grid and per interpolation strip (8 x 8)
GRID_COLUMNS = 8


def generate(generate_fn, z: np.ndarray, labels: np.ndarray | None = None,
             chunk: int = GRID_SIZE) -> np.ndarray:
    """`generate_fn(z[, labels])` over all latents, `chunk` at a time (one compiled shape:
    the last chunk is zero-padded and cut back)."""
    inputs = (z,) if labels is None else (z, np.asarray(labels, np.int32))
    chunks = []
    for start in range(0, len(z), chunk):
        part = [x[start:start + chunk] for x in inputs]
        padded = [np.concatenate([x, np.zeros((chunk - len(x), *x.shape[1:]), x.dtype)])
                  for x in part]
        chunks.append(np.asarray(generate_fn(*padded))[:len(part[0])])
    return np.concatenate(chunks)


def cycled_labels(num: int, num_classes: int, repeats: int = 1) -> np.ndarray | None:
    """0, 1, ..., num_classes - 1, 0, ... (num values), each `repeats` times; None if
    unconditional (num_classes 0)."""
    if not num_classes:
        return None
    return np.repeat(np.arange(num) % num_classes, repeats).astype(np.int32)


def grid_inputs(seed: int, latent_dim: int, num_classes: int
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """(z, labels) of the fixed-noise grid: 8 x 8 samples, or, conditional, a row of 8 per
    class with the same 8 latents in every row (a column shows one z across the classes)."""
    if not num_classes:
        return fixed_noise(seed, GRID_SIZE, latent_dim), None
    z = fixed_noise(seed, GRID_COLUMNS, latent_dim)
    return np.tile(z, (num_classes, 1)), cycled_labels(num_classes, num_classes, GRID_COLUMNS)


@functools.lru_cache(maxsize=8)
def real_pairwise_distance(dataset: str, split: str, num: int) -> float:
    """mean_pairwise_distance of the first `num` real images of a split, in [-1, 1]."""
    real = data.first_examples(dataset, num, split=split)
    return mean_pairwise_distance(real["image"][real["mask"]])


def check_labels(labels, batch_size: int, num_classes: int) -> None:
    """A `ValueError` unless `labels` is an int array (batch_size,) in [0, num_classes)."""
    values = np.asarray(labels)
    if values.shape != (batch_size,) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"labels must be an int array of shape ({batch_size},), "
                         f"got {values.dtype} {values.shape}")
    if values.size and not 0 <= values.min() <= values.max() < num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got "
                         f"[{values.min()}, {values.max()}]")

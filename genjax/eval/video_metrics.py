"""Per-step quality of sampled futures: PSNR and SSIM, best and mean over samples.

The protocol of Denton & Fergus 2018 (Section 5): for each test sequence, draw
S futures from the same conditioning frames and score every predicted frame
against the ground truth with PSNR and SSIM (dm-pix, on [0, 1] intensities:
genjax.eval.enhancement.image_scores, PSNR capped at one 8-bit level of error).
Then, per sequence,

- **best**: the sample whose mean score over the predicted steps is highest
  (chosen separately for PSNR and for SSIM), its score at every step; this is
  the "best of S" of the paper's plots, which asks whether *some* sample
  matches the one future that happened;
- **mean**: the score averaged over the S samples, what one random sample
  scores on average.

Both are then averaged over sequences, step by step. A deterministic model's S
samples are identical, so its best equals its mean.

Sharpness: `gradient_energy` is the mean squared difference between
neighbouring pixels (rows and columns) of a frame. Blurring spreads an edge of
height 1 over k pixels of height 1/k each, which divides its energy by k (total
variation, the mean absolute difference, would not change). The studies report
the samples' mean over the true frames' per step: 1 is as sharp as the truth.
A frame that loses its item also scores low, so read it beside SSIM and the
identity measure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genjax.eval.enhancement import image_scores

Array = jax.Array
METRICS = ("psnr", "ssim")


@jax.jit
def frame_scores(truth: Array, samples: Array) -> dict[str, Array]:
    """truth (B, T, S, S, C), samples (B, N, T, S, S, C), both in [0, 1] -> {metric: (B, N, T)}."""
    b, n, t = samples.shape[:3]
    tiled = jnp.broadcast_to(truth[:, None], samples.shape)
    flat = image_scores(samples.reshape(b * n * t, *samples.shape[3:]),
                        tiled.reshape(b * n * t, *samples.shape[3:]), value_range=(0.0, 1.0))
    return {k: flat[k].reshape(b, n, t) for k in METRICS}


@jax.jit
def gradient_energy(frames: Array) -> Array:
    """(..., S, S, C) -> (...): (sum row differences^2 + sum column differences^2) / pixels."""
    rows = jnp.square(jnp.diff(frames, axis=-3)).sum(axis=(-3, -2, -1))
    cols = jnp.square(jnp.diff(frames, axis=-2)).sum(axis=(-3, -2, -1))
    return (rows + cols) / (frames.shape[-3] * frames.shape[-2] * frames.shape[-1])


def best_and_mean(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{metric: (B, N, T)} -> {"<metric>_best": (B, T), "<metric>_mean": (B, T)} per sequence."""
    out = {}
    for metric in METRICS:
        s = np.asarray(scores[metric], np.float64)
        best = np.argmax(s.mean(axis=2), axis=1)  # (B,) the best sample over the steps
        out[f"{metric}_best"] = s[np.arange(len(s)), best]
        out[f"{metric}_mean"] = s.mean(axis=1)
    return out


def curves(per_sequence: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Average (B, T) per-sequence curves over sequences: {name: (T,)}."""
    return {k: np.asarray(v).mean(axis=0) for k, v in per_sequence.items()}

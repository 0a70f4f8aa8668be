"""Figures for video prediction: sampled futures as an animated GIF and a PNG strip, and
metric-per-frame curves.

Videos are (T, H, W, C) floats in [0, 1] (or uint8), C = 1 or 3. A figure shows, for each
test sequence, the ground truth `truth` (N, T, H, W, C) next to `samples`
(N, S, T, H, W, C): S futures sampled after the first `num_cond` frames, whose first
`num_cond` frames are the conditioning frames themselves. Every frame is a tile with a
`BORDER`-px coloured frame around it: green for real frames (all of the ground truth, and
the conditioning frames of each sample), red for predicted frames; tiles are `PAD` px apart
on white. Grayscale videos are drawn in RGB so that the borders can be coloured.

GIF encoding is `genjax.io.gif.gif_bytes` (the TensorBoard writer uses it too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from genjax.io.gif import FRAME_MS, frames_to_uint8, gif_bytes

GREEN = (0, 200, 0)  # real frames
RED = (220, 0, 0)  # predicted frames
BORDER = 2  # px of colour around each frame
PAD = 2  # px of white between tiles
LAST_FRAME_MS = 1000  # the GIF holds the last frame before looping
PLOT_SIZE, PLOT_DPI = (6.0, 4.0), 100  # metric curves: a 600 x 400 PNG


def _check(truth: np.ndarray, samples: np.ndarray, num_cond: int) -> None:
    if truth.ndim != 5 or samples.ndim != 6:
        raise ValueError(f"truth must be (N, T, H, W, C) and samples (N, S, T, H, W, C); got "
                         f"{truth.shape} and {samples.shape}")
    if samples.shape[0] != truth.shape[0] or samples.shape[2:] != truth.shape[1:]:
        raise ValueError(f"samples {samples.shape} do not match truth {truth.shape}")
    if not 0 <= num_cond <= truth.shape[1]:
        raise ValueError(f"num_cond={num_cond} is outside [0, {truth.shape[1]}]")


def _rgb(videos: np.ndarray) -> np.ndarray:
    videos = frames_to_uint8(videos)
    return np.repeat(videos, 3, axis=-1) if videos.shape[-1] == 1 else videos


def bordered_tiles(truth: np.ndarray | None, samples: np.ndarray, num_cond: int) -> np.ndarray:
    """(N, 1+S, T, H+2B, W+2B, 3) uint8: ground truth then the samples, each frame in its
    green (real) or red (predicted) border. With `truth=None` (a future of the user's own
    frames, none known): (N, S, ...), the samples only."""
    samples = np.asarray(samples)
    known = truth is not None
    truth = np.asarray(truth) if known else samples[:, 0]
    _check(truth, samples, num_cond)
    videos = _rgb(samples)
    if known:
        videos = np.concatenate([_rgb(truth)[:, None], videos], axis=1)
    n, k, t, h, w, _ = videos.shape
    colours = np.empty((n, k, t, 3), np.uint8)
    colours[:] = RED
    if known:
        colours[:, 0] = GREEN
    colours[:, :, :num_cond] = GREEN
    tiles = np.empty((n, k, t, h + 2 * BORDER, w + 2 * BORDER, 3), np.uint8)
    tiles[:] = colours[:, :, :, None, None, :]
    tiles[:, :, :, BORDER:BORDER + h, BORDER:BORDER + w] = videos
    return tiles


def layout(tiles: np.ndarray) -> np.ndarray:
    """(R, K, h, w, 3) tiles -> one (PAD + R*(h+PAD), PAD + K*(w+PAD), 3) image on white."""
    rows, cols, h, w, c = tiles.shape
    out = np.full((PAD + rows * (h + PAD), PAD + cols * (w + PAD), c), 255, np.uint8)
    for r in range(rows):
        for k in range(cols):
            top, left = PAD + r * (h + PAD), PAD + k * (w + PAD)
            out[top:top + h, left:left + w] = tiles[r, k]
    return out


def save_video_gif(truth: np.ndarray | None, samples: np.ndarray, num_cond: int,
                   path: str | Path, *, scale: int = 2) -> Path:
    """An animated GIF with a row per sequence: ground truth (unless None), then the S
    samples, side by side; frame t of the GIF shows frame t of every video."""
    tiles = bordered_tiles(truth, samples, num_cond)
    frames = np.stack([layout(tiles[:, :, t]) for t in range(tiles.shape[2])])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gif_bytes(frames, scale=scale, frame_ms=FRAME_MS,
                               last_frame_ms=LAST_FRAME_MS))
    return path


def save_video_strip(truth: np.ndarray | None, samples: np.ndarray, num_cond: int,
                     path: str | Path, *, every: int = 1) -> Path:
    """A PNG with, for each sequence, a row for the ground truth (unless None) then one per
    sample, and a column per time step 0, every, 2*every, ..."""
    tiles = bordered_tiles(truth, samples, num_cond)[:, :, ::every]
    n, k = tiles.shape[:2]
    image = layout(tiles.reshape(n * k, *tiles.shape[2:]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def plot_metric_curves(curves: dict[str, np.ndarray], path: str | Path, *, ylabel: str,
                       first_step: int, title: str | None = None) -> Path:
    """A PLOT_SIZE * PLOT_DPI PNG: one line per method of a metric against the frame index,
    curve[i] being frame `first_step + i` (e.g. the first predicted frame)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=PLOT_SIZE)
    for label, curve in curves.items():
        curve = np.asarray(curve, np.float64)
        ax.plot(first_step + np.arange(len(curve)), curve, marker="o", markersize=3,
                label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("frame index")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=PLOT_DPI)
    plt.close(fig)
    return path

"""Image grids written as PNG files (samples, reconstructions, predictions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Float images in `value_range` -> uint8 in [0, 255] (clipped, rounded)."""
    lo, hi = value_range
    scaled = (np.asarray(images, np.float32) - lo) / (hi - lo)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Tile (N, H, W, C) images into one (rows*(H+pad)+pad, ...) uint8 array, row-major."""
    images = to_uint8(images, value_range)
    n, h, w, c = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def save_grid(images: np.ndarray, path: str | Path, ncol: int | None = None,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Write `make_grid(images)` as a PNG and return its path."""
    grid = make_grid(images, ncol, value_range=value_range)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return path


def save_labelled_grid(images: np.ndarray, labels: Sequence[str], path: str | Path,
                       value_range: tuple[float, float] = (0.0, 1.0),
                       wrong: Sequence[bool] | None = None, ncol: int = 8) -> Path:
    """A matplotlib grid with a caption under each image (red where `wrong`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = to_uint8(images, value_range)
    nrow = math.ceil(len(images) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.6 * ncol, 1.8 * nrow))
    for i, ax in enumerate(np.asarray(axes).ravel()):
        ax.axis("off")
        if i < len(images):
            image = images[i]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0,
                      vmax=255)
            bad = wrong is not None and wrong[i]
            ax.set_title(labels[i], fontsize=6, color="red" if bad else "black")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

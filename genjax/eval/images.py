"""Every figure genjax writes: image grids (PNG), labelled prediction grids, GIFs, strips.

Also the figures' tiles of the latent-variable models, as pure functions of the
parameters (jitted by the tasks): the VAE's samples, reconstructions,
interpolations and latent traversals, and DRAW's canvases step by step.
Images are (N, H, W, C) floats in [-1, 1] unless a `value_range` says otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from genjax.data import to_uint8
from genjax.losses.likelihoods import Likelihood
from genjax.losses.vae import gaussian_kl

# VAE figures: interpolation steps between two posterior means, latent traversal values
INTERPOLATION_STEPS = 8
TRAVERSAL_VALUES = np.linspace(-3.0, 3.0, 9)
TRAVERSAL_DIMS = 8
VAE_FIGURE_COLUMNS = {"samples": 8, "reconstructions": 16,
                      "interpolation": INTERPOLATION_STEPS + 2, "traversal": len(TRAVERSAL_VALUES)}
FRAME_MS, LAST_FRAME_MS = 120, 1500  # GIF frame durations
GIF_SCALE = 2


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
    """A grid with a caption under each image (red where `wrong`): one matplotlib image and
    a text per cell, drawn in a fraction of the time a subplot per image takes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = to_uint8(images, value_range)
    n, h, w, c = images.shape
    nrow = math.ceil(n / ncol)
    cell_w, cell_h = w + w // 4, h + h // 2  # a margin beside each image, a caption below
    canvas = np.full((nrow * cell_h, ncol * cell_w, c), 255, np.uint8)
    fig = plt.figure(figsize=(1.6 * ncol, 1.8 * nrow))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    corners = [(r * cell_h + h // 8, col * cell_w + w // 8)
               for r, col in (divmod(i, ncol) for i in range(n))]
    for image, (top, left) in zip(images, corners, strict=True):
        canvas[top:top + h, left:left + w] = image
    ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray", vmin=0, vmax=255,
              interpolation="nearest", aspect="auto")
    for i, (top, left) in enumerate(corners):
        bad = wrong is not None and wrong[i]
        ax.text(left + w / 2, top + h + h / 16, labels[i], ha="center", va="top",
                fontsize=6, color="red" if bad else "black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_predictions(model, variables, batch, class_names: Sequence[str], path: str | Path,
                     value_range: tuple[float, float] = (0.0, 1.0)) -> Path:
    """A labelled grid of a classifier's predictions on `batch` (wrong ones in red, with the
    true class in brackets)."""
    logits = jax.jit(functools.partial(model.apply, train=False))(variables, batch["image"])
    predicted = np.asarray(np.argmax(np.asarray(logits), -1))
    labels = [f"{class_names[p]}" + ("" if p == t else f" ({class_names[t]})")
              for p, t in zip(predicted, batch["label"], strict=True)]
    return save_labelled_grid(batch["image"], labels, path, value_range=value_range,
                              wrong=predicted != batch["label"])


def save_animation(frames: np.ndarray, path: Path, ncol: int) -> Path:
    """An animated GIF of `frames` (T, N, H, W, C) in [-1, 1]: frame t is the grid of canvases t."""
    grids = [make_grid(frame, ncol) for frame in frames]
    pictures = [Image.fromarray(g[..., 0] if g.shape[-1] == 1 else g).resize(
        (g.shape[1] * GIF_SCALE, g.shape[0] * GIF_SCALE), Image.NEAREST) for g in grids]
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [FRAME_MS] * (len(pictures) - 1) + [LAST_FRAME_MS]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations,
                     loop=0)
    return path


def save_strip(frames: np.ndarray, path: Path, first: np.ndarray | None = None) -> Path:
    """A PNG with a row per example, a column per step of `frames` (T, N, H, W, C).

    `first` (N, H, W, C), when given, is an extra first column (the target image).
    """
    rows = np.moveaxis(np.asarray(frames), 0, 1)  # (N, T, H, W, C)
    if first is not None:
        rows = np.concatenate([np.asarray(first)[:, None], rows], axis=1)
    return save_grid(rows.reshape(-1, *rows.shape[2:]), path, rows.shape[1])


def vae_figure_tensors(params, images, prior_noise, *, model, likelihood: Likelihood) -> dict:
    """The figures' tiles, in [-1, 1], as (N, H, W, C) arrays ready for `save_grid`."""
    def decode(z):
        return likelihood.mean(model.apply({"params": params}, z, method=model.decode))

    units = likelihood.to_unit(images)
    mean, log_var = model.apply({"params": params}, units, method=model.encode)
    pairs = jnp.stack([units, decode(mean)], axis=1).reshape(-1, *images.shape[1:])
    a, b = mean[0::2][:8], mean[1::2][:8]
    t = jnp.linspace(0.0, 1.0, INTERPOLATION_STEPS)[None, :, None]
    path = decode(((1.0 - t) * a[:, None] + t * b[:, None]).reshape(-1, mean.shape[-1]))
    path = path.reshape(len(a), INTERPOLATION_STEPS, *images.shape[1:])
    interpolation = jnp.concatenate([units[0::2][:8, None], path, units[1::2][:8, None]], 1)
    num_dims = min(TRAVERSAL_DIMS, mean.shape[-1])
    _, dims = jax.lax.top_k(jnp.mean(gaussian_kl(mean, log_var), axis=0), num_dims)
    values = jnp.asarray(TRAVERSAL_VALUES, jnp.float32)
    moved = jnp.tile(mean[0], (num_dims, len(values), 1))
    moved = moved.at[jnp.arange(num_dims)[:, None], jnp.arange(len(values))[None], dims[:, None]
                     ].set(values[None])
    return {"samples": decode(prior_noise), "reconstructions": pairs,
            "interpolation": interpolation.reshape(-1, *images.shape[1:]),
            "traversal": decode(moved.reshape(-1, mean.shape[-1]))}


def draw_canvas_tensors(params, images, prior_z, *, model) -> dict:
    """Canvases as Bernoulli means in [-1, 1]: `samples`, `reconstructions` (T, N, H, W, 1).

    Reconstructions take z_t = mu_t (zero noise); `targets` are the test images.
    """
    def to_unit(canvases):
        return 2.0 * jax.nn.sigmoid(canvases)[..., None] - 1.0

    noise = jnp.zeros((model.num_steps, images.shape[0], model.latent_dim))
    outputs = model.apply({"params": params}, images, noise)
    samples = model.apply({"params": params}, prior_z, method=model.generate)
    return {"samples": to_unit(samples), "reconstructions": to_unit(outputs["canvases"]),
            "targets": 2.0 * images - 1.0}

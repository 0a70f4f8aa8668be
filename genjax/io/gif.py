"""Animated GIF encoding of videos, shared by the TensorBoard writer and the eval figures.

Videos are (T, H, W, C) arrays, C = 1 (grayscale) or 3, either floats in [0, 1] or uint8;
batches are (N, T, H, W, C). It lives in `genjax.io` because the writers need it and may
not import `genjax.eval` (the layers contract in pyproject.toml); the figures in
`genjax.eval.video` import it from here.

Grayscale frames are written as GIF "L" images, whose 256-level palette keeps every value
exactly. RGB frames are palettised by Pillow frame by frame: exact up to 256 colours per
frame, a median-cut approximation beyond. Pillow merges identical consecutive frames into
one (their durations add up), so a decoded GIF can have fewer frames than the video while
playing the same.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

FRAME_MS = 150  # duration of one video frame in a GIF
PAD_VALUE = 255  # white separation between tiled videos


def frames_to_uint8(frames: np.ndarray) -> np.ndarray:
    """uint8 frames pass through; floats in [0, 1] become levels 0..255 (rounded, clipped)."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    return np.clip(np.rint(frames.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def tile_videos(videos: np.ndarray, *, pad: int = 2) -> np.ndarray:
    """(N, T, H, W, C) videos side by side: (T, H, N*(W+pad)-pad, C) uint8, white between."""
    videos = frames_to_uint8(videos)
    if videos.ndim != 5:
        raise ValueError(f"videos must be (N, T, H, W, C); got shape {videos.shape}")
    n, t, h, w, c = videos.shape
    out = np.full((t, h, n * (w + pad) - pad, c), PAD_VALUE, np.uint8)
    for i, video in enumerate(videos):
        out[:, :, i * (w + pad):i * (w + pad) + w] = video
    return out


def gif_bytes(frames: np.ndarray, *, scale: int = 1, frame_ms: int = FRAME_MS,
              last_frame_ms: int | None = None) -> bytes:
    """An animated GIF, looping forever, of (T, H, W, C) frames; each pixel becomes a
    `scale` x `scale` block, and the last frame shows for `last_frame_ms` (default
    `frame_ms`)."""
    frames = frames_to_uint8(frames)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
        raise ValueError(f"frames must be (T, H, W, 1 or 3); got shape {frames.shape}")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    pictures = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    durations = [frame_ms] * (len(pictures) - 1) + [last_frame_ms or frame_ms]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=durations, loop=0)
    return buffer.getvalue()

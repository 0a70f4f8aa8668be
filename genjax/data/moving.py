"""Stochastic Moving Fashion-MNIST: videos of real Fashion-MNIST items bouncing in a frame.

The SM-MNIST procedure of Denton & Fergus 2018 ("Stochastic Video Generation
with a Learned Prior", their data/moving_mnist.py), with real 28x28
Fashion-MNIST items in place of digits. A sequence shows `num_items` items
(uniform draws from a split's images) moving in a `frame_size`^2 black frame
for `seq_len` frames; frames are float32 (T, H, W, 1) in [0, 1].

Physics, per item, with limit = frame_size - item_size and positions the
integer top-left corners of the items: the start (sy, sx) is uniform in
[0, limit]^2 and the velocity (dy, dx) uniform in [-max_speed, max_speed]^2.
At every frame t = 0..T-1, first the rows: if sy < 0, sy = 0 and the item
bounces; if sy > limit, sy = limit and it bounces. A bounce off the top wall
draws dy uniform in [1, max_speed] and a new dx uniform in
[-max_speed, max_speed]; off the bottom wall dy is uniform in [-max_speed, -1]
instead. Then the same for the columns (sx, dx; the new cross velocity is dy).
Then the item is drawn at (sy, sx) and (sy, sx) += (dy, dx). With
`deterministic` a bounce only reverses the velocity on the axis it hit
(dy = -dy or dx = -dx), the Moving MNIST of Srivastava, Mansimov &
Salakhutdinov 2015 ("Unsupervised Learning of Video Representations using
LSTMs") in Denton & Fergus's form.

Differences from their code (32-px digits in 64-px frames, limit 32): it
tests `>= limit` and clamps to limit - 1, and draws the start in
[0, limit - 1], so its digits never touch the right and bottom edges; here
the test is `> limit`, the clamp is to limit and the start is in [0, limit],
so every drawn position is in [0, limit], both walls included. Kept from their code: a bounce on
the columns redraws dy after a bounce on the rows at the same frame (a corner)
has drawn it, so an item may stay on a wall for another frame; an item whose
first velocity is (0, 0) never moves (odds 1 / (2 max_speed + 1)^2 per item).

Items combine by summing intensities clipped to 1 (their `x[x > 1] = 1`),
computed exactly on the uint8 levels: min(sum of the items' levels, 255) / 255.

Purity: sequence `index` of split `split` is a pure function of
(seed, split, index) (and the split's images and labels). Its own generator,
default_rng(SeedSequence([seed, MOVING_TAG, SPLIT_IDS[split], index])), draws
up front in one `integers` call: the items it shows (K indices into the
split), the start (K, 2), the velocity (K, 2) and, stochastic variant only, a
table (T, K, 4) of the values a bounce at frame t would use (rows: speed,
new dx; columns: speed, new dy), drawn whether a bounce happens or not. So a
sequence is the same in any batch, at any position, from any resumed step,
for a fixed numpy version (numpy does not promise Generator streams across
versions); the deterministic variant shares the stochastic one's items,
start and first velocity. The table is laid out frame by frame and the
integers are drawn one after another, so a longer sequence (seq_len T' > T,
the rest of the spec equal) begins with the T-frame one: test sets of
different lengths hold the same sequences. The physics then runs vectorised
over (sequences, items) with a Python loop over time only, and rendering is
one advanced-indexing paste per item slot.

Splits: training sequences (`train_batches`, indices step * batch_size
onwards, a stream that never repeats a sequence) show items of the train
split; the fixed test set (`test_set`, indices 0..num-1) items of the test
split, so no test item is ever seen in training.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from genjax.data.pipeline import process_slice
from genjax.errors import UserError

MOVING_TAG = 0x30E1  # separates the sequences' random streams from genjax's others
SPLIT_IDS = {"train": 0, "test": 1}
TEST_CHUNK = 1024  # sequences per call when building the test set


class MovingSpec(NamedTuple):
    frame_size: int = 64
    num_items: int = 2
    seq_len: int = 15
    deterministic: bool = False
    max_speed: int = 4


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_moving(frame_size: int, num_items: int, seq_len: int, item_size: int = 28, *,
                 num_cond: int | None = None) -> None:
    """One-line `UserError`s for a frame, item count or length that makes no sequences."""
    if not _is_int(num_items) or num_items < 1:
        raise UserError(f"moving.num_items ({num_items!r}) must be an integer >= 1: a "
                        "sequence needs at least one item")
    if not _is_int(frame_size) or frame_size < item_size:
        raise UserError(f"moving.frame_size ({frame_size!r}) must be at least the item size "
                        f"({item_size})")
    if not _is_int(seq_len) or seq_len < 2:
        raise UserError(f"moving.seq_len ({seq_len!r}) must be an integer >= 2")
    if num_cond is not None and not (_is_int(num_cond) and 1 <= num_cond < seq_len):
        raise UserError(f"num_cond ({num_cond!r}) must be at least 1 and fewer than "
                        f"moving.seq_len ({seq_len}): the conditioning frames leave none to "
                        "predict")


def _check_inputs(items, labels, spec: MovingSpec, seed: int, split: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    items, labels = np.asarray(items), np.asarray(labels)
    if items.dtype != np.uint8 or items.ndim != 4 or items.shape[1] != items.shape[2]:
        raise UserError(f"moving items must be uint8 (N, S, S, C), got {items.dtype} "
                        f"{items.shape}")
    if labels.shape != (len(items),) or not len(items):
        raise UserError(f"need one label per item and at least one item: {len(items)} "
                        f"items, labels of shape {labels.shape}")
    check_moving(spec.frame_size, spec.num_items, spec.seq_len, items.shape[1])
    if not _is_int(spec.max_speed) or spec.max_speed < 1:
        raise UserError(f"moving.max_speed ({spec.max_speed!r}) must be an integer >= 1")
    if split not in SPLIT_IDS:
        raise UserError(f"unknown moving split {split!r}; choose one of {list(SPLIT_IDS)}")
    if not _is_int(seed) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    return items, labels


def _draws(indices: np.ndarray, *, seed: int, split: str, spec: MovingSpec, num_choices: int,
           item_size: int) -> dict[str, np.ndarray]:
    """Every random number of each sequence (see module docstring), stacked over sequences."""
    k, t, m = spec.num_items, spec.seq_len, spec.max_speed
    limit = spec.frame_size - item_size
    low = [np.zeros(k), np.zeros(2 * k), np.full(2 * k, -m)]
    high = [np.full(k, num_choices - 1), np.full(2 * k, limit), np.full(2 * k, m)]
    if not spec.deterministic:
        low.append(np.tile([1, -m, 1, -m], t * k))
        high.append(np.full(4 * t * k, m))
    low, high = np.concatenate(low).astype(np.int64), np.concatenate(high).astype(np.int64)
    table = np.empty((len(indices), len(low)), np.int64)
    for row, index in enumerate(indices):
        rng = np.random.default_rng(
            np.random.SeedSequence([seed, MOVING_TAG, SPLIT_IDS[split], int(index)]))
        table[row] = rng.integers(low, high, endpoint=True)
    b = len(indices)
    draws = {"items": table[:, :k], "start": table[:, k:3 * k].reshape(b, k, 2),
             "velocity": table[:, 3 * k:5 * k].reshape(b, k, 2)}
    if not spec.deterministic:
        draws["bounces"] = table[:, 5 * k:].reshape(b, t, k, 4)
    return draws


def _bounce(p, v, cross, limit, table, deterministic):
    """One axis's wall check: (clamped position, velocity on the axis, cross velocity)."""
    low, high = p < 0, p > limit
    p = np.clip(p, 0, limit)
    if deterministic:
        return p, np.where(low | high, -v, v), cross
    speed, new_cross = table[..., 0], table[..., 1]
    v = np.where(low, speed, np.where(high, -speed, v))
    return p, v, np.where(low | high, new_cross, cross)


def _simulate(start: np.ndarray, velocity: np.ndarray, bounces: np.ndarray | None, *,
              limit: int, seq_len: int, deterministic: bool) -> np.ndarray:
    """Positions (B, T, K, 2) int32 (row, col) of the items' top-left corners."""
    y, x = start[..., 0], start[..., 1]
    dy, dx = velocity[..., 0], velocity[..., 1]
    positions = np.empty((len(y), seq_len, y.shape[1], 2), np.int32)
    for t in range(seq_len):
        rows, cols = (None, None) if deterministic else (bounces[:, t, :, :2],
                                                         bounces[:, t, :, 2:])
        y, dy, dx = _bounce(y, dy, dx, limit, rows, deterministic)
        x, dx, dy = _bounce(x, dx, dy, limit, cols, deterministic)
        positions[:, t, :, 0], positions[:, t, :, 1] = y, x
        y, x = y + dy, x + dx
    return positions


def _render(items: np.ndarray, picks: np.ndarray, positions: np.ndarray, frame_size: int
            ) -> np.ndarray:
    """Frames (B, T, H, W, C) float32: the items' uint8 levels summed, clipped at 255, / 255."""
    b, t, k, _ = positions.shape
    size, channels = items.shape[1], items.shape[3]
    dtype = np.uint16 if 255 * k <= np.iinfo(np.uint16).max else np.uint32
    canvas = np.zeros((b * t, frame_size, frame_size, channels), dtype)
    # windows[n, r, c] is the (C, S, S) view of frame n's square with corner (r, c).
    windows = sliding_window_view(canvas, (size, size), axis=(1, 2), writeable=True)
    patches = items.transpose(0, 3, 1, 2)
    rows, cols = positions[..., 0].reshape(b * t, k), positions[..., 1].reshape(b * t, k)
    frame = np.arange(b * t)
    for j in range(k):  # one paste per item slot: within it no two pastes share a frame
        windows[frame, rows[:, j], cols[:, j]] += patches[np.repeat(picks[:, j], t)]
    np.minimum(canvas, 255, out=canvas)
    frames = np.divide(canvas, np.float32(255), dtype=np.float32)  # = uint8 levels / 255.0
    return frames.reshape(b, t, frame_size, frame_size, channels)


def sequences(items: np.ndarray, labels: np.ndarray, indices: np.ndarray, *, seed: int,
              split: str, spec: MovingSpec) -> dict[str, np.ndarray]:
    """Sequences `indices` of `split`: {"frames", "positions", "labels", "items"}.

    frames float32 (B, T, H, W, C) in [0, 1]; positions int32 (B, T, K, 2), the
    (row, col) top-left corner of each item in each frame; labels int32 (B, K),
    the items' classes; items int32 (B, K), their indices in `items`. Each row is
    a pure function of (seed, split, index), whatever else is in the batch.
    """
    items, labels = _check_inputs(items, labels, spec, seed, split)
    indices = np.asarray(indices)
    if indices.size == 0:
        indices = indices.astype(np.int64)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise UserError(f"sequence indices must be a 1-D integer array, got {indices.dtype} "
                        f"{indices.shape}")
    if indices.size and indices.min() < 0:
        raise UserError(f"sequence indices must be >= 0, got {indices.min()}")
    size = items.shape[1]
    draws = _draws(indices, seed=seed, split=split, spec=spec, num_choices=len(items),
                   item_size=size)
    positions = _simulate(draws["start"], draws["velocity"], draws.get("bounces"),
                          limit=spec.frame_size - size, seq_len=spec.seq_len,
                          deterministic=spec.deterministic)
    picks = draws["items"]
    return {"frames": _render(items, picks, positions, spec.frame_size),
            "positions": positions,
            "labels": labels[picks].astype(np.int32),
            "items": picks.astype(np.int32)}


def train_batches(items: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int,
                  spec: MovingSpec, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Infinite training batches: step s holds train sequences s*batch_size .. (s+1)*batch_size-1.

    With several processes, each yields its contiguous share of that global batch.

    `items`, `labels` are the train split's. Exact from any `start_step`, so a
    resumed run passes `start_step=state.step` and sees the batches it would have.
    """
    _check_inputs(items, labels, spec, seed, "train")
    if not _is_int(batch_size) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not _is_int(start_step) or start_step < 0:
        raise UserError(f"start_step must be a non-negative integer, got {start_step!r}")
    return _train_batches(items, labels, batch_size, seed, spec, start_step)


def _train_batches(items, labels, batch_size, seed, spec, step):
    share = process_slice(batch_size)
    while True:
        indices = np.arange(step * batch_size, (step + 1) * batch_size)[share]
        yield sequences(items, labels, indices, seed=seed, split="train", spec=spec)
        step += 1


def test_set(items: np.ndarray, labels: np.ndarray, *, num: int, seed: int, spec: MovingSpec
             ) -> dict[str, np.ndarray]:
    """The fixed test set: test sequences 0..num-1 (`items`, `labels`: the test split's)."""
    _check_inputs(items, labels, spec, seed, "test")
    if not _is_int(num) or num < 1:
        raise UserError(f"the moving test set needs num >= 1 sequences, got {num!r}")
    chunks = [sequences(items, labels, np.arange(lo, min(lo + TEST_CHUNK, num)), seed=seed,
                        split="test", spec=spec) for lo in range(0, num, TEST_CHUNK)]
    return {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}


test_set.__test__ = False  # not a pytest test, whatever the importing module


def crop_items(frames: np.ndarray, positions: np.ndarray, item_size: int = 28) -> np.ndarray:
    """(B, T, K, S, S, C): the S x S square at each item's position in each frame.

    Works on any frames (B, T, H, W, C), e.g. generated ones, with the true
    positions of the sequences they continue, to classify the items they show.
    """
    frames, positions = np.asarray(frames), np.asarray(positions)
    if (frames.ndim != 5 or positions.ndim != 4 or positions.shape[-1] != 2
            or positions.shape[:2] != frames.shape[:2]):
        raise UserError(f"crop_items needs frames (B, T, H, W, C) and positions (B, T, K, 2) "
                        f"of the same B, T; got {frames.shape} and {positions.shape}")
    h, w = frames.shape[2:4]
    if positions.size and (positions.min() < 0 or positions[..., 0].max() > h - item_size
                           or positions[..., 1].max() > w - item_size):
        raise UserError(f"item positions must keep a {item_size}x{item_size} item inside the "
                        f"{h}x{w} frames")
    b, t = positions.shape[:2]
    windows = sliding_window_view(frames, (item_size, item_size), axis=(2, 3))
    crops = windows[np.arange(b)[:, None, None], np.arange(t)[None, :, None],
                    positions[..., 0], positions[..., 1]]  # (B, T, K, C, S, S)
    return np.ascontiguousarray(np.moveaxis(crops, 3, -1))


def locate_item(frames: np.ndarray, item_size: int = 28) -> np.ndarray:
    """(B, T, 1, 2): the top-left corner of the brightest S x S window of each frame.

    For frames with one item, e.g. generated ones, this finds where the frame shows
    its item, so that `crop_items(frames, locate_item(frames))` reads the item it
    drew wherever it put it. The windows' intensity sums come from an integral
    image. An item with black margins fits in several windows of the same sum; of
    those the one centred nearest the frame's intensity centroid wins (on true
    1-item frames that is, for most items, the item's own square).
    """
    frames = np.asarray(frames)
    if frames.ndim != 5 or min(frames.shape[2:4]) < item_size:
        raise UserError(f"locate_item needs frames (B, T, H, W, C) of at least "
                        f"{item_size}x{item_size}; got {frames.shape}")
    b, t, h, w = frames.shape[:4]
    mass = frames.astype(np.float64).sum(-1)  # (B, T, H, W)
    total = np.zeros((b, t, h + 1, w + 1), np.float64)
    total[:, :, 1:, 1:] = mass.cumsum(2).cumsum(3)
    s = item_size
    windows = (total[:, :, s:, s:] - total[:, :, :-s, s:] - total[:, :, s:, :-s]
               + total[:, :, :-s, :-s])  # (B, T, H - S + 1, W - S + 1)
    weight = np.maximum(mass.sum((2, 3)), 1e-12)
    centre_y = (mass.sum(3) * np.arange(h)).sum(-1) / weight - (s - 1) / 2  # (B, T)
    centre_x = (mass.sum(2) * np.arange(w)).sum(-1) / weight - (s - 1) / 2
    rows, cols = np.arange(h - s + 1), np.arange(w - s + 1)
    distance = ((rows[:, None] - centre_y[..., None, None]) ** 2
                + (cols[None, :] - centre_x[..., None, None]) ** 2)
    # Ties within 1e-6 (a pixel level is 1/255) go to the window nearest the centroid:
    # distances are under 2 * 64^2, so 1e-10 per squared pixel never outweighs a level.
    best = (windows - 1e-10 * distance).reshape(b, t, -1).argmax(-1)
    rows, cols = np.divmod(best, w - s + 1)
    return np.stack([rows, cols], -1)[:, :, None].astype(np.int32)

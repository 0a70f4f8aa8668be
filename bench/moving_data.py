"""Generation throughput of Stochastic Moving Fashion-MNIST (genjax/data/moving.py).

Times `moving.train_batches` as training draws it: batches of 16 sequences of
15 64x64 frames with 2 real Fashion-MNIST train items each (the default
`MovingSpec`), one batch per step, on the CPU in this process. The first batch
is timed apart (allocation warm-up); sequences/s = batch_size / median batch
time, frames/s = that times seq_len. The split is loaded before timing. Then
the parts of one batch are timed on their own: the per-sequence draws, the
physics and the rendering.

    PYTHONPATH=. .venv/bin/python bench/moving_data.py [--batches 200] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.timing import machine, time_steps
from genjax.data import load_split, moving


def _median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--deterministic", action="store_true")
    args = parser.parse_args()

    images, labels = load_split("fashion_mnist", "train")
    spec = moving.MovingSpec(deterministic=args.deterministic)
    batches = moving.train_batches(images, labels, batch_size=args.batch_size, seed=0,
                                   spec=spec)
    timed = time_steps(lambda _: next(batches), range(args.batches + 1))
    frames = timed["result"]["frames"]

    size = images.shape[1]
    indices = np.arange(args.batch_size)
    draws = moving._draws(indices, seed=0, split="train", spec=spec, num_choices=len(images),
                          item_size=size)
    positions = moving._simulate(draws["start"], draws["velocity"], draws.get("bounces"),
                                 limit=spec.frame_size - size, seq_len=spec.seq_len,
                                 deterministic=spec.deterministic)
    parts = {
        "draws": lambda: moving._draws(indices, seed=0, split="train", spec=spec,
                                       num_choices=len(images), item_size=size),
        "physics": lambda: moving._simulate(draws["start"], draws["velocity"],
                                            draws.get("bounces"),
                                            limit=spec.frame_size - size,
                                            seq_len=spec.seq_len,
                                            deterministic=spec.deterministic),
        "render": lambda: moving._render(images, draws["items"], positions, spec.frame_size),
    }
    part_ms = {name: _median_ms(call, 50) for name, call in parts.items()}

    times = timed["times"]
    median = statistics.median(times)
    before, after = timed["loads"]
    print(machine(f"numpy {np.__version__}"))
    print(f"data: {spec}; batch {tuple(frames.shape)} {frames.dtype}; {args.batches} timed "
          f"batches; real Fashion-MNIST train items")
    print(f"1-min load average before/after: {before:.1f} / {after:.1f}")
    print(f"first batch: {timed['first_s'] * 1e3:.1f} ms")
    print(f"batch: median {median * 1e3:.2f} ms, mean {statistics.fmean(times) * 1e3:.2f} ms, "
          f"min {min(times) * 1e3:.2f} ms")
    print(f"throughput: {args.batch_size / median:.0f} sequences/s, "
          f"{args.batch_size * spec.seq_len / median:.0f} frames/s (median); "
          f"{args.batch_size / min(times):.0f} sequences/s (fastest batch)")
    print("parts of one batch (median of 50): "
          + ", ".join(f"{name} {ms:.2f} ms" for name, ms in part_ms.items()))


if __name__ == "__main__":
    main()

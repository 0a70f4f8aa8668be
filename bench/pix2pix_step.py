"""Train-step throughput of pix2pix SR x4 (28x28): one D and one G Adam step per batch of 64.

The model, loss and optimizers are experiments/configs/pix2pix_sr4.py's (U-Net
G of width 64 with dropout 0.5, 22-px PatchGAN D of width 64, BatchNorm in
both, non-saturating cGAN loss with D's half + 100 L1, Adam 2e-4 / 0.5 for
both), run through `Pix2PixTask.train_step` jitted exactly as `fit` jits it
(replicated state, batch-sharded pairs, donated state). Real Fashion-MNIST
pairs (inputs: 7x7 block means nearest-upsampled to 28x28; targets in [-1, 1])
come from the task's own `train_batches` and are prepared beforehand, so only
the step is timed. images/s = batch_size / median step time; the mean is
printed too. bench/pix2pix_step_torch.py is the PyTorch twin.

    PYTHONPATH=. .venv/bin/python bench/pix2pix_step.py [--steps 30] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np

from experiments.configs import pix2pix_sr4
from genjax import parallel
from genjax.train.tasks.pix2pix import Pix2PixTask


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or "unknown CPU"


def count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    config = pix2pix_sr4.get_config()
    config.batch_size = args.batch_size
    task = Pix2PixTask(config)
    mesh = parallel.make_mesh()
    replicated, batch_sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    step = jax.jit(task.train_step, in_shardings=(replicated, batch_sharded),
                   out_shardings=(replicated, replicated), donate_argnums=0)
    state = parallel.replicate(task.init_state(jax.random.PRNGKey(0)), mesh)
    g_params, d_params = count(state.g.params), count(state.d.params)
    iterator = task.train_batches(0)
    batches = [parallel.shard_batch(next(iterator), mesh) for _ in range(args.steps + 1)]
    shapes = {k: tuple(v.shape) for k, v in batches[0].items()}

    load_before = os.getloadavg()
    start = time.perf_counter()
    state, metrics = step(state, batches[0])
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    load_after = os.getloadavg()

    median, mean = float(np.median(times)), float(np.mean(times))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.machine()}; "
          f"jax {jax.__version__}, devices {jax.devices()}; "
          f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}")
    print(f"model: G {g_params:,} + D {d_params:,} parameters; batch {shapes}; "
          f"{args.steps} timed steps; real Fashion-MNIST pairs")
    print(f"1-min load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    print(f"first call (trace + compile + run): {compile_s:.1f} s")
    print(f"step: median {median * 1e3:.0f} ms, mean {mean * 1e3:.0f} ms, "
          f"min {min(times) * 1e3:.0f} ms")
    print(f"throughput: {args.batch_size / median:.0f} images/s (median), "
          f"{args.batch_size / min(times):.0f} images/s (fastest step)")
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}, l1 {float(metrics['l1']):.3f}")


if __name__ == "__main__":
    main()

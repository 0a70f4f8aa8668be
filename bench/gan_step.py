"""Train-step throughput of the 28x28 DCGAN: one D and one G Adam step per batch of 128.

The model, loss and optimizers are experiments/configs/dcgan.py's (width 64,
latent 100, BatchNorm in G and D, non-saturating loss, Adam 2e-4 / 0.5 for both,
EMA of G), run through `GANTask.train_step` jitted exactly as `fit` jits it
(replicated state, batch-sharded images, donated state). Real Fashion-MNIST
batches are prepared beforehand, so only the step is timed. images/s =
batch_size / median step time; the mean is printed too.

    PYTHONPATH=. .venv/bin/python bench/gan_step.py [--steps 30] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np

from experiments.configs import dcgan
from genjax import parallel
from genjax.train.tasks.gan import GANTask


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
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    config = dcgan.get_config()
    config.batch_size = args.batch_size
    task = GANTask(config)
    mesh = parallel.make_mesh()
    replicated, batch_sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    step = jax.jit(task.train_step, in_shardings=(replicated, batch_sharded),
                   out_shardings=(replicated, replicated), donate_argnums=0)
    state = parallel.replicate(task.init_state(jax.random.PRNGKey(0)), mesh)
    iterator = task.train_batches(0)
    batches = [parallel.shard_batch(next(iterator), mesh) for _ in range(args.steps + 1)]

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
          f"jax {jax.__version__}, devices {jax.devices()}")
    print(f"model: G {count(state.g.params) / 1e6:.2f}M + D {count(state.d.params) / 1e6:.2f}M "
          f"parameters; batch {args.batch_size}; {args.steps} timed steps")
    print(f"1-min load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    print(f"first call (trace + compile + run): {compile_s:.1f} s")
    print(f"step: median {median * 1e3:.0f} ms, mean {mean * 1e3:.0f} ms, "
          f"min {min(times) * 1e3:.0f} ms")
    print(f"throughput: {args.batch_size / median:.0f} images/s (median), "
          f"{args.batch_size / min(times):.0f} images/s (fastest step)")
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}")


if __name__ == "__main__":
    main()

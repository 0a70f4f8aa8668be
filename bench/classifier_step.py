"""Train-step throughput of the Fashion-MNIST classifier (default config) on this machine.

python -m bench.classifier_step [--steps 100]

Times `steps` jitted train steps on real batches after one compile step, and the
same for the eval pass over the test split; prints images/s with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    from experiments.configs.classifier import get_config
    from genjax import parallel
    from genjax.train.tasks.classifier import ClassifierTask

    config = get_config()
    task = ClassifierTask(config)
    state = task.init_state(jax.random.PRNGKey(0))
    batches = task.train_batches(0)
    step = jax.jit(task.train_step, donate_argnums=0)
    state, metrics = step(state, next(batches))
    jax.block_until_ready(metrics)
    host = [next(batches) for _ in range(args.steps)]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    for batch in host:
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    train_s = time.perf_counter() - start
    mesh = parallel.make_mesh()
    task.predict(state, mesh)  # compile
    start = time.perf_counter()
    task.predict(state, mesh)
    eval_s = time.perf_counter() - start
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__} on {jax.devices()[0].platform}; load average before "
          f"{load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"train: {args.steps} steps of batch {config.batch_size} in {train_s:.2f} s -> "
          f"{args.steps / train_s:.2f} steps/s, {args.steps * config.batch_size / train_s:.0f} "
          f"images/s; 20 epochs (9360 steps) would take "
          f"{9360 * train_s / args.steps / 60:.1f} min")
    print(f"eval: 10000 test images in {eval_s:.2f} s -> {10000 / eval_s:.0f} images/s")


if __name__ == "__main__":
    main()

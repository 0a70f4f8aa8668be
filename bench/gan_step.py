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

import jax

from bench.jax_step import count, jitted_task_step, time_task_step
from bench.timing import machine, report
from experiments.configs import dcgan
from genjax.train.tasks.gan import GANTask


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    config = dcgan.get_config()
    config.batch_size = args.batch_size
    step, state, batches = jitted_task_step(GANTask(config), args.steps + 1)
    timed = time_task_step(step, state, batches)
    state, metrics = timed["result"]

    print(machine(f"jax {jax.__version__}, devices {jax.devices()}"))
    print(f"model: G {count(state.g.params) / 1e6:.2f}M + D {count(state.d.params) / 1e6:.2f}M "
          f"parameters; batch {args.batch_size}; {args.steps} timed steps")
    report(timed, batch_size=args.batch_size, first_label="trace + compile + run")
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}")


if __name__ == "__main__":
    main()

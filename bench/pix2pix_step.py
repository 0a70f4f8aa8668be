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

import jax

from bench.jax_step import count, jitted_task_step, time_task_step
from bench.timing import machine, report
from experiments.configs import pix2pix_sr4
from genjax.train.tasks.pix2pix import Pix2PixTask


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    config = pix2pix_sr4.get_config()
    config.batch_size = args.batch_size
    step, state, batches = jitted_task_step(Pix2PixTask(config), args.steps + 1)
    g_params, d_params = count(state.g.params), count(state.d.params)
    shapes = {k: tuple(v.shape) for k, v in batches[0].items()}
    timed = time_task_step(step, state, batches)
    metrics = timed["result"][1]

    print(machine(f"jax {jax.__version__}, devices {jax.devices()}; "
                  f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}"))
    print(f"model: G {g_params:,} + D {d_params:,} parameters; batch {shapes}; "
          f"{args.steps} timed steps; real Fashion-MNIST pairs")
    report(timed, batch_size=args.batch_size, first_label="trace + compile + run")
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}, l1 {float(metrics['l1']):.3f}")


if __name__ == "__main__":
    main()

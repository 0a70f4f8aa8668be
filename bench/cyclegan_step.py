"""Train-step throughput of CycleGAN Sneaker <-> Ankle boot (28x28): one G and one D step per batch.

The models, loss and optimizers are experiments/configs/cyclegan_sneaker_boot.py's
(ResNet G and F of width 32 with 6 residual blocks, 22-px PatchGAN D_A and D_B of
width 64 with instance norm, LSGAN with adversarial weight 2, cycle 10, identity
5, image pools of 50, Adam 2e-4 / 0.5 for both pairs), run through
`CycleGANTask.train_step` jitted exactly as `fit` jits it (replicated state,
batch-sharded batches, donated state). One step is one Adam update of G and F
jointly, the two pool queries, then one Adam update of D_A and D_B jointly. Real
Fashion-MNIST batches (16 Sneakers "a" and 16 Ankle boots "b" by default, in
[-1, 1]) come from the task's own `train_batches` and are prepared beforehand, so
only the step is timed. images/s counts image pairs (one a and one b per pair):
batch_size per domain / median step time; the mean is printed too.
bench/cyclegan_step_torch.py is the PyTorch twin.

    PYTHONPATH=. .venv/bin/python bench/cyclegan_step.py [--steps 30] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os

import jax

from bench.jax_step import count, jitted_task_step, time_task_step
from bench.timing import machine, report
from experiments.configs import cyclegan_sneaker_boot
from genjax.train.tasks.cyclegan import CycleGANTask


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16, help="images per domain")
    args = parser.parse_args()

    config = cyclegan_sneaker_boot.get_config()
    config.batch_size = args.batch_size
    step, state, batches = jitted_task_step(CycleGANTask(config), args.steps + 1)
    g_params = {k: count(v) for k, v in state.g.params.items()}
    d_params = {k: count(v) for k, v in state.d.params.items()}
    shapes = {k: tuple(v.shape) for k, v in batches[0].items()}
    timed = time_task_step(step, state, batches)
    metrics = timed["result"][1]

    print(machine(f"jax {jax.__version__}, devices {jax.devices()}; "
                  f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}"))
    print(f"model: G {g_params['ab']:,} + F {g_params['ba']:,} + D_A {d_params['a']:,} "
          f"+ D_B {d_params['b']:,} parameters; batch {shapes}; {args.steps} timed steps; "
          f"real Fashion-MNIST images; images/s below counts pairs (one a and one b)")
    report(timed, batch_size=args.batch_size, first_label="trace + compile + run")
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}, cycle_a {float(metrics['cycle_a']):.3f}, "
          f"cycle_b {float(metrics['cycle_b']):.3f}")


if __name__ == "__main__":
    main()

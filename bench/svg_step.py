"""Train-step throughput of SVG-LP on Stochastic Moving Fashion-MNIST (64x64, 15 frames).

The model, loss and optimizer are experiments/configs/svg_lp.py's (Denton & Fergus
2018's SVG with a learned prior, sized down for a CPU: frame encoder and decoder
of width 16 with 4 stride-2 levels, frame embedding 64, z of 10 dimensions,
LSTMs of 128 units, a 2-layer predictor and 1-layer posterior and prior; beta
1e-4; Adam lr 2e-3, b1 0.9, constant), run through `SVGTask.train_step` jitted
exactly as `fit` jits it (replicated state, batch-sharded batches, donated
state). One step is one Adam update of all the networks on
genjax/losses/svg.py's objective: the 15 frames of every sequence encoded in one
batched call, a `lax.scan` over t = 1..14 (posterior z_t reparameterised with the
step's noise, learned-prior KL, predictor), the 14 predicted embeddings decoded
in one batched call with the skips of the last conditioning frame (frame 4),
loss = sum_t mean-pixel MSE + 1e-4 sum_t batch-mean KL, and its gradient. Real
batches of Stochastic Moving Fashion-MNIST (16 sequences of 5 conditioning + 10
predicted frames, 2 train-split items each, frames in [0, 1]) come from the
task's own `train_batches` and are prepared beforehand, so only the step is
timed. images/s counts frames: batch_size x 15 / median step time; sequences/s
is batch_size / median step time. bench/svg_step_torch.py is the PyTorch twin.

    PYTHONPATH=. .venv/bin/python bench/svg_step.py [--steps 30] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import statistics

import jax

from bench.jax_step import count, jitted_task_step, time_task_step
from bench.timing import machine, report
from experiments.configs import svg_lp
from genjax.train.tasks.svg import SVGTask


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per batch")
    args = parser.parse_args()

    config = svg_lp.get_config()
    config.batch_size = args.batch_size
    seq_len = config.num_cond + config.num_future
    step, state, batches = jitted_task_step(SVGTask(config), args.steps + 1)
    params = {k: count(v) for k, v in state.params.items()}
    shapes = {k: tuple(v.shape) for k, v in batches[0].items()}
    timed = time_task_step(step, state, batches)
    metrics = timed["result"][1]

    print(machine(f"jax {jax.__version__}, devices {jax.devices()}; "
                  f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}"))
    parts = " + ".join(f"{k} {v:,}" for k, v in params.items())
    print(f"model: {parts} = {sum(params.values()):,} parameters; batch {shapes}; "
          f"{args.steps} timed steps; real Stochastic Moving Fashion-MNIST sequences; "
          f"images/s below counts frames ({args.batch_size} x {seq_len} per step)")
    report(timed, batch_size=args.batch_size * seq_len, first_label="trace + compile + run")
    median = statistics.median(timed["times"])
    print(f"sequences/s: {args.batch_size / median:.1f} (median), "
          f"{args.batch_size / min(timed['times']):.1f} (fastest step)")
    print(f"last metrics: loss {float(metrics['loss']):.4f}, mse {float(metrics['mse']):.4f}, "
          f"kl {float(metrics['kl']):.3f}, psnr {float(metrics['psnr']):.2f}")


if __name__ == "__main__":
    main()

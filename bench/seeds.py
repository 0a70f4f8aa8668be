"""K = 4 seeds in one compiled program against 4 runs one after another (`config.num_seeds`).

Each side is the experiment command as a user runs it, timed from start to exit
(start-up, data, compile, training, the final evaluation and outputs):

- one program, vmap: `python -m experiments.<family> --config.num_seeds=4`;
- one program, loop: the same with `--config.seeds_mode=loop`;
- one after another: the command 4 times, `--config.seed=0..3`.

The sides alternate (vmap, loop, the four runs; then again), so all see the same
machine state. Besides the wall time, each run's steady training speed is read from
its `metrics.jsonl` (`train/steps_per_second` of the last log interval, which holds
no compilation): for one program, replica-steps/s is K times that.

    PYTHONPATH=. .venv/bin/python bench/seeds.py [--rounds 2] [--families classifier,dcgan]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

from bench.timing import machine

K = 4
FAMILIES = {  # the experiment's default config, a short schedule, one evaluation at the end
    "classifier": ("experiments.classifier", 80),
    "dcgan": ("experiments.dcgan", 40),
}


def run(module: str, workdir: Path, steps: int, *flags: str) -> tuple[float, float]:
    """(wall seconds, steady steps/s) of one training command."""
    every = steps // 4
    cmd = [sys.executable, "-m", module, f"--workdir={workdir}",
           f"--config.num_train_steps={steps}", f"--config.log_every={every}",
           f"--config.eval_every={steps}", f"--config.checkpoint_every={steps}", *flags]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["train/steps_per_second"] for r in records if "train/steps_per_second" in r]
    return wall, speeds[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    print(machine(f"jax {jax.__version__}") + f"; load {os.getloadavg()[0]:.2f} at start")
    for family in args.families.split(","):
        module, steps = FAMILIES[family]
        print(f"\n{family}: default config, {steps} steps per replica, K = {K}")
        for round_ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                load = os.getloadavg()[0]
                programs = {mode: run(module, tmp / mode, steps, f"--config.num_seeds={K}",
                                      f"--config.seeds_mode={mode}") for mode in ("vmap", "loop")}
                seq = [run(module, tmp / f"seed{s}", steps, f"--config.seed={s}")
                       for s in range(K)]
                seq_wall = sum(w for w, _ in seq)
                seq_speed = sum(s for _, s in seq) / K
                print(f"round {round_ + 1} (load {load:.2f} before):")
                for mode, (wall, speed) in programs.items():
                    print(f"  one program, {mode:<4}  {wall:6.1f} s  {K * speed:5.1f} "
                          f"replica-steps/s  (wall {seq_wall / wall:.2f}x, steady "
                          f"{K * speed / seq_speed:.2f}x the runs one after another)")
                print(f"  {K} runs in turn     {seq_wall:6.1f} s  {seq_speed:5.1f} steps/s  "
                      f"({', '.join(f'{w:.1f}' for w, _ in seq)} s)")
    print(f"load {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()

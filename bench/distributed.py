"""One classifier run three ways: 1 process on 1 device, 1 process on 2 host devices, and
2 processes of 1 device each through jax.distributed (gloo), same global batch and seed.

Prints, at every checkpoint, the largest parameter difference between the runs (the
biases that feed a BatchNorm apart: their exact gradient is zero, so they move by
rounding alone), the test accuracy of each, and each run's wall time (start-up,
compile and training; the 2 processes share the 2 cores).

    PYTHONPATH=. .venv/bin/python bench/distributed.py [--steps 200] [--every 40]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from bench.timing import machine
from genjax.train.runs import load_run

FLAGS = ["--config.model.widths=(4,8)", "--config.model.hidden=16", "--config.batch_size=32",
         "--config.eval_batch_size=500", "--config.log_every=20",
         "--config.optimizer.warmup_steps=2"]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train(workdir: Path, flags: list[str], *, processes: int, devices: int) -> float:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    cmd = [sys.executable, "-m", "experiments.classifier", f"--workdir={workdir}", *flags]
    if processes > 1:
        address = f"--coordinator_address=127.0.0.1:{_port()}"
        cmds = [cmd + [address, f"--num_processes={processes}", f"--process_id={i}"]
                for i in range(processes)]
    else:
        cmds = [cmd]
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for c in cmds]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(err[-2000:])
    return time.perf_counter() - start


def _bn_fed(path) -> bool:
    names = [getattr(k, "key", str(k)) for k in path]
    return names[-1] == "bias" and (names[-2].startswith("conv") or names[-2] == "fc")


def differences(a: Path, b: Path, step: int) -> tuple[float, float]:
    """(max |difference| over the other parameters, over the BatchNorm-fed biases)."""
    pa = jax.tree_util.tree_leaves_with_path(jax.device_get(load_run(a, step).state.params))
    pb = jax.tree.leaves(jax.device_get(load_run(b, step).state.params))
    rest, fed = 0.0, 0.0
    for (path, x), y in zip(pa, pb, strict=True):
        d = float(np.abs(np.asarray(x) - np.asarray(y)).max())
        if _bn_fed(path):
            fed = max(fed, d)
        else:
            rest = max(rest, d)
    return rest, fed


def accuracy(workdir: Path) -> dict[int, float]:
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["eval/accuracy"] for r in map(json.loads, lines)
            if "eval/accuracy" in r}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=40)
    args = parser.parse_args()
    flags = FLAGS + [f"--config.num_train_steps={args.steps}",
                     f"--config.checkpoint_every={args.every}",
                     f"--config.eval_every={args.every}",
                     f"--config.keep_checkpoints={args.steps // args.every + 1}"]
    print(machine(f"jax {jax.__version__}; load {os.getloadavg()[0]:.2f} at start"))
    print(f"classifier widths (4, 8), hidden 16, global batch 32, {args.steps} Adam steps")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"1 process, 1 device": (1, 1), "1 process, 2 devices": (1, 2),
                "2 processes, 1 device each": (2, 1)}
        dirs, walls = {}, {}
        for name, (processes, devices) in runs.items():
            dirs[name] = Path(tmp) / name.replace(" ", "_").replace(",", "")
            walls[name] = train(dirs[name], flags, processes=processes, devices=devices)
        names = list(runs)
        for name in names:
            print(f"{name:28s} wall {walls[name]:6.1f} s  test accuracy by step "
                  f"{accuracy(dirs[name])}")
        print("max |parameter difference| by step: other parameters / BatchNorm-fed biases")
        for step in range(args.every, args.steps + 1, args.every):
            a = differences(dirs[names[0]], dirs[names[1]], step)
            b = differences(dirs[names[1]], dirs[names[2]], step)
            print(f"  step {step:4d}:  1 device vs 2 devices {a[0]:.2e} / {a[1]:.2e};  "
                  f"2 devices vs 2 processes {b[0]:.2e} / {b[1]:.2e}")
    print(f"load {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()

"""Images/s against batch size on this CPU: the DCGAN step and the FID Inception pass.

For each batch size, in turn (A B C D, then the next size; `--rounds` repeats the
sweep), each side runs in a fresh process:
- the DCGAN step: genjax (`bench/gan_step.py`) on 1 host device and on 2
  (`XLA_FLAGS=--xla_force_host_platform_device_count=2`, the batch split over
  them as `fit` splits it), and its PyTorch twin (`bench/gan_step_torch.py`), eager
  NCHW and channels_last;
- Inception: `bench/inception_throughput.py` at that batch (one warm-up batch and
  `--inception-batches` timed batches of random 28x28 images, resize included):
  genjax on XLA, genjax exported to ONNX Runtime, and the TorchScript reference.

Every figure is the median step's images/s (the fastest in brackets). Prints a table;
record it with

    PYTHONPATH=. .venv/bin/python -m bench.cpu_scaling | tee bench/cpu_scaling.txt
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from bench.timing import machine
from genjax import malloc

GAN_SIDES = {
    "genjax, 1 device": (["bench/gan_step.py"], {}),
    "genjax, 2 host devices": (["bench/gan_step.py"],
                               {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}),
    "torch eager NCHW": (["bench/gan_step_torch.py"], {}),
    "torch eager channels_last": (["bench/gan_step_torch.py", "--channels-last"], {}),
}


def _run(args: list[str], env: dict) -> str:
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ".", **env}, check=True)
    return out.stdout


def gan_point(side: str, batch: int, steps: int) -> tuple[float, float, float]:
    """(median images/s, fastest images/s, first call s) of one fresh process."""
    args, env = GAN_SIDES[side]
    out = _run([*args, "--steps", str(steps), "--batch-size", str(batch)], env)
    rate = re.search(r"throughput: (\d+) images/s \(median\), (\d+) images/s", out)
    first = re.search(r"first call \([^)]*\): ([\d.]+) s", out)
    return float(rate.group(1)), float(rate.group(2)), float(first.group(1))


def inception_point(batch: int, batches: int) -> dict[str, float]:
    out = _run(["-m", "bench.inception_throughput", "--num-images", str(batch * batches),
                "--batch-size", str(batch), "--image-size", "28"], {})
    rates = {}
    for name, pattern in (("XLA", r"^flax \(XLA"), ("ONNX Runtime", r"^flax exported"),
                          ("TorchScript", r"^torch ")):
        line = next(line for line in out.splitlines() if re.match(pattern, line))
        rates[name] = float(re.search(r"-> ([\d.]+) images/s", line).group(1))
    return rates


def main():
    malloc.reexec_with_tcmalloc()  # every side below inherits it, as the commands run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan-batches", default="32,64,128,256,512")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--inception-batches", default="8,16,32,64")
    parser.add_argument("--inception-timed", type=int, default=2,
                        help="timed batches per Inception point")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.orig_argv)}")
    preload = os.environ.get("LD_PRELOAD", "")
    print(machine(f"python {sys.version.split()[0]}, LD_PRELOAD={preload!r}"))
    print(f"1-min load average before: {os.getloadavg()[0]:.2f}\n")
    start = time.time()

    gan_sizes = [int(b) for b in args.gan_batches.split(",") if b]
    if gan_sizes:
        print(f"DCGAN step (one D and one G Adam step), images/s: median of {args.steps} steps "
              "(fastest); compile = genjax's first call")
        print("| batch | " + " | ".join(GAN_SIDES) + " | genjax compile (1 device) |")
        print("|---:|" + "---:|" * (len(GAN_SIDES) + 1))
        for _ in range(args.rounds):
            for batch in gan_sizes:
                cells, compile_s = [], None
                for side in GAN_SIDES:
                    median, fastest, first = gan_point(side, batch, args.steps)
                    cells.append(f"{median:.0f} ({fastest:.0f})")
                    if side == "genjax, 1 device":
                        compile_s = first
                print(f"| {batch} | " + " | ".join(cells) + f" | {compile_s:.1f} s |",
                      flush=True)

    inception_sizes = [int(b) for b in args.inception_batches.split(",") if b]
    if inception_sizes:
        print(f"\nFID Inception, images/s over {args.inception_timed} timed batches after one "
              "warm-up batch, the three alternating batch by batch")
        print("| batch | XLA | ONNX Runtime | TorchScript | ONNX Runtime / TorchScript |")
        print("|---:|---:|---:|---:|---:|")
        for _ in range(args.rounds):
            for batch in inception_sizes:
                r = inception_point(batch, args.inception_timed)
                print(f"| {batch} | {r['XLA']:.2f} | {r['ONNX Runtime']:.2f} | "
                      f"{r['TorchScript']:.2f} | {r['ONNX Runtime'] / r['TorchScript']:.2f}x |",
                      flush=True)
    print(f"\n1-min load average after: {os.getloadavg()[0]:.2f}; wall {time.time() - start:.0f} s")
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"git: {git.stdout.strip()}")


if __name__ == "__main__":
    main()

"""FID Inception throughput under glibc malloc vs tcmalloc (genjax/malloc.py's reason).

PYTHONPATH=. .venv/bin/python -m bench.malloc

Runs the same child twice, once per allocator (LD_PRELOAD unset, then tcmalloc):
the Inception features of 200 random 28x28 images in batches of 50, after one
warm-up batch, reporting images/s and the CPU time spent in user and kernel mode.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time

NUM, BATCH = 200, 50


def child() -> None:
    import jax
    import numpy as np

    from genjax.eval import inception

    params = inception.load_params()
    images = np.random.default_rng(0).integers(0, 256, (NUM, 28, 28, 1), dtype=np.uint8)
    inception.features_in_batches(params, images[:BATCH], BATCH)  # compile
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    inception.features_in_batches(params, images, BATCH)
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    print(f"{NUM / seconds:.2f} images/s, user {after.ru_utime - before.ru_utime:.0f} s, "
          f"system {after.ru_stime - before.ru_stime:.0f} s  (jax {jax.__version__})")


def main() -> None:
    from genjax.malloc import tcmalloc_path

    print("command: PYTHONPATH=. .venv/bin/python -m bench.malloc")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; "
          f"load average before {os.getloadavg()[0]:.2f}")
    path = tcmalloc_path()
    runs = [("glibc malloc", "")] + ([("tcmalloc", path)] if path else [])
    for name, preload in runs:
        env = dict(os.environ, LD_PRELOAD=preload, GENJAX_TCMALLOC="0",
                   TF_CPP_MIN_LOG_LEVEL="2")
        out = subprocess.run([sys.executable, "-m", "bench.malloc", "--child"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        print(f"{name:13s} {out.splitlines()[-1]}")
    if path is None:
        print("tcmalloc not installed: apt-get install libtcmalloc-minimal4")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else main()

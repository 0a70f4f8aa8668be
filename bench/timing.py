"""What the step benchmarks share: the machine line, a timed loop and the report.

Standard library only, so the PyTorch twins import it without JAX. A step is
timed from the call to `block(result)` (JAX: `jax.block_until_ready`; eager
PyTorch: nothing), the first call separately (trace, compile and run for JAX).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or "unknown CPU"


def machine(software: str) -> str:
    """`machine: <CPU>, <n> CPUs, <arch>; <software>`."""
    return f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.machine()}; {software}"


def time_steps(step: Callable, batches: Sequence, block: Callable = lambda result: result
               ) -> dict:
    """Run `step(batch)` on every batch; the first call timed apart from the rest.

    Returns `first_s`, `times` (seconds of the other calls), `loads` (the 1-min load
    average before and after) and `result` (the last call's).
    """
    loads = [os.getloadavg()[0]]
    start = time.perf_counter()
    result = block(step(batches[0]))
    first_s = time.perf_counter() - start
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        result = block(step(batch))
        times.append(time.perf_counter() - start)
    loads.append(os.getloadavg()[0])
    return {"first_s": first_s, "times": times, "loads": loads, "result": result}


def report(timed: dict, *, batch_size: int, first_label: str) -> None:
    """The load, first-call, step and throughput lines of every step benchmark."""
    times = timed["times"]
    median, mean = statistics.median(times), statistics.fmean(times)
    before, after = timed["loads"]
    print(f"1-min load average before/after: {before:.1f} / {after:.1f}")
    print(f"first call ({first_label}): {timed['first_s']:.1f} s")
    print(f"step: median {median * 1e3:.0f} ms, mean {mean * 1e3:.0f} ms, "
          f"min {min(times) * 1e3:.0f} ms")
    print(f"throughput: {batch_size / median:.0f} images/s (median), "
          f"{batch_size / min(times):.0f} images/s (fastest step)")

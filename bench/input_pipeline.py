"""Input-pipeline throughput at accelerator batch sizes: can the host keep a device fed?

For each family's config, the task's own training iterator (`task.train_batches`: the
real Fashion-MNIST arrays, each family's augmentation, degradation, domain pairing or
moving-sequence generation) is drawn as `fit` draws it, one global batch per step, on
one host thread, then handed to the device (`parallel.shard_batch` over all local
devices, blocked until the copy is done). The first batch is timed apart. Reported:
the median batch time and the examples/s the pipeline delivers at each batch size.

A step on an accelerator overlaps with the next batch's preparation (JAX dispatches
asynchronously), so the pipeline keeps a device fed while its batch time is below the
device's step time: the "needs a step slower than" column. Without an accelerator to
time, the step's cost is XLA's own count (`cost_analysis()["flops"]` of the compiled
step at the config's batch size, per example), and "starves above" is the rate of
useful work, in TFLOP/s, at which a device would finish its step before the next batch
is ready: examples/s x FLOP per example, at the largest batch.

    PYTHONPATH=. .venv/bin/python bench/input_pipeline.py [--batches 30]
        [--batch-sizes 128,256,512,1024] [--families classifier,dcgan,...]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time

import jax

from bench.timing import machine
from genjax import parallel
from genjax.train.tasks import make_task

# family -> (config module, the unit a batch holds)
FAMILIES = {
    "classifier": ("classifier", "images"),
    "dcgan": ("dcgan", "images"),
    "cdcgan": ("cdcgan", "images"),
    "vae": ("vae", "images"),
    "draw": ("draw", "images"),
    "pix2pix": ("pix2pix_sr4", "image pairs"),
    "cyclegan": ("cyclegan_sneaker_boot", "image pairs"),
    "svg": ("svg_lp", "sequences"),
}


def time_pipeline(family: str, batch_size: int, batches: int) -> dict:
    config = importlib.import_module(f"experiments.configs.{FAMILIES[family][0]}").get_config()
    default = config.batch_size
    config.batch_size = batch_size
    task = make_task(config)
    mesh = parallel.make_mesh()
    iterator = task.train_batches(0)

    def draw():
        batch = parallel.shard_batch(next(iterator), mesh)
        jax.block_until_ready(batch)

    start = time.perf_counter()
    draw()
    first = time.perf_counter() - start
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        draw()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"default": default, "first_ms": first * 1e3, "median_ms": median * 1e3,
            "per_s": batch_size / median}


def step_flops_per_example(family: str) -> float:
    """XLA's FLOP count of one compiled train step at the config's batch, per example."""
    config = importlib.import_module(f"experiments.configs.{FAMILIES[family][0]}").get_config()
    task = make_task(config)
    state = task.init_state(jax.random.PRNGKey(0))
    compiled = jax.jit(task.train_step).lower(state, next(task.train_batches(0))).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]) / config.batch_size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-sizes", default="128,256,512,1024")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(machine(f"jax {jax.__version__}, devices {jax.devices()}"))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'family':10} {'unit':12} {'config B':>8} {'B':>5} {'first ms':>9} "
          f"{'median ms':>9} {'per s':>9}  needs a step slower than")
    starve = []
    for family in args.families.split(","):
        for size in sizes:
            r = time_pipeline(family, size, args.batches)
            print(f"{family:10} {FAMILIES[family][1]:12} {r['default']:>8} {size:>5} "
                  f"{r['first_ms']:>9.1f} {r['median_ms']:>9.2f} {r['per_s']:>9.0f}  "
                  f"{r['median_ms']:.1f} ms per step", flush=True)
        flops = step_flops_per_example(family)
        starve.append((family, flops, r["per_s"] * flops / 1e12))
    title = f"starves above (TFLOP/s, B={sizes[-1]})"
    print(f"\n{'family':10} {'step GFLOP/example':>18} {title:>32}")
    for family, flops, tflops in starve:
        print(f"{family:10} {flops / 1e9:>18.3f} {tflops:>32.1f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

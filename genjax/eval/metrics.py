"""Sample-quality metrics from a sampler or an array of images, against a dataset split.

`evaluate(samples, dataset=..., split=..., num_samples=...)` returns a flat dict:

* `fid`: Fréchet Inception Distance (Heusel et al. 2017) on the TF 2015-12-05 FID
  Inception network (`genjax.eval.inception`), matching the reference implementation;
* `kid`, `kid_std`: Kernel Inception Distance (Binkowski et al. 2018), unbiased;
* `precision`, `recall`, `density`, `coverage` (Kynkaanniemi et al. 2019, k=3;
  Naeem et al. 2020) on the same Inception features;
* `classifier_fd`: the *domain* Fréchet distance, the same formula on the 128-d
  features of genjax's own Fashion-MNIST classifier (`pretrained.load("fashion_mnist_cnn")`).
  It is cheap on a CPU and good for monitoring training, but it is NOT FID: its
  numbers are not comparable with any published FID.

`samples` is either an array of images (N, H, W, C) or a sampler `rng -> images`
(called with `fold_in(seed, i)` until `num_samples` are drawn); images are in
`value_range` (default [-1, 1], the generators' tanh range). The real split's
features are computed once and cached under $GENJAX_CACHE_DIR/reference/, keyed by
dataset, split, count, network, its weights' checksum and the runtime that ran it.

On a CPU the Inception network runs through ONNX Runtime (`genjax.eval.inception_onnx`:
the same flax network exported, 2.4x faster than XLA:CPU there); GPUs and TPUs run
it in JAX. GENJAX_INCEPTION_BACKEND=jax or onnxruntime chooses.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax import atomic, data, parallel
from genjax.errors import UserError
from genjax.eval import fid as fid_lib
from genjax.eval import inception, inception_onnx
from genjax.eval import kid as kid_lib
from genjax.eval import prdc as prdc_lib
from genjax.eval.inception_weights import cache_dir
from genjax.models import pretrained

METRICS = ("fid", "kid", "prdc", "classifier_fd")
NETWORK_METRICS = {"inception": ("fid", "kid", "prdc"), "classifier": ("classifier_fd",)}
CLASSIFIER_NAME = "fashion_mnist_cnn"


@dataclasses.dataclass(frozen=True)
class FeatureNet:
    """A feature network: `apply(images in [0, 1]) -> (N, d)` and an id for cache keys.

    With a `host_network`, `apply` is only the network's JAX front end (preprocessing)
    and `host_network(numpy array) -> numpy (N, d)` runs the rest outside JAX: the
    Inception network through ONNX Runtime on a CPU (`genjax.eval.inception_onnx`).
    `runtime` names what computes the features; it is part of the cache keys.
    """

    name: str
    apply: Callable
    digest: str
    host_network: Callable | None = None
    runtime: str = "jax"


def feature_net(name: str) -> FeatureNet:
    """The named feature network; Inception on the backend `inception_onnx.backend()` picks."""
    return _feature_net(name, inception_onnx.backend() if name == "inception" else "jax")


@functools.lru_cache(maxsize=4)
def _feature_net(name: str, runtime: str) -> FeatureNet:
    if name == "inception" and runtime == "onnxruntime":
        return FeatureNet("inception", inception.preprocess, inception.PARAMS_SHA256,
                          host_network=inception_onnx.network, runtime=runtime)
    if name == "inception":
        params = inception.load_params()
        return FeatureNet("inception", functools.partial(inception.features, params),
                          inception.PARAMS_SHA256)
    if name == "classifier":
        model, variables, description = pretrained.load(CLASSIFIER_NAME)

        @jax.jit
        def classifier_features(images):
            return model.apply(variables, images, method=model.features)

        return FeatureNet("classifier", classifier_features, description["sha256"])
    raise UserError(f"unknown feature network {name!r}; choose 'inception' or 'classifier'")


def _batch(samples, num_samples: int, batch_size: int, seed: int, i: int):
    """Batch `i` as (images, mask) of exactly `batch_size` rows: images i*batch_size on,
    or the sampler's draw with `fold_in(PRNGKey(seed), i)`; past the end, all padding."""
    count = min(batch_size, max(num_samples - i * batch_size, 0))
    if callable(samples):
        images = np.asarray(samples(jax.random.fold_in(jax.random.PRNGKey(seed), i)))
        if len(images) < count:
            raise UserError(f"the sampler returned {len(images)} images; each call must "
                            f"return batch_size={batch_size} (or the {count} still needed)")
    else:
        images = np.asarray(samples[i * batch_size:i * batch_size + batch_size])
    images = images[:count]
    if count < batch_size:
        shape = images.shape[1:] or np.shape(samples)[1:]
        pad = np.zeros((batch_size - count, *shape), images.dtype)
        images = np.concatenate([images, pad]) if count else pad
    return images, np.arange(batch_size) < count


PROGRESS_SECONDS = 60.0  # a log line this often during long feature passes (10k FID on CPU)


@functools.lru_cache(maxsize=8)
def _scaled_apply(net: FeatureNet, value_range: tuple[float, float], mesh):
    """`net.apply` on images in `value_range`, compiled once per (net, range, mesh)."""
    lo, hi = value_range
    shardings = {} if mesh is None else {"in_shardings": parallel.batch_sharded(mesh)}
    return jax.jit(lambda x: net.apply(jnp.clip((x - lo) / (hi - lo), 0.0, 1.0)), **shardings)


def features(samples, net: FeatureNet, *, num_samples: int, batch_size: int = 100,
             value_range: tuple[float, float] = (-1.0, 1.0), seed: int = 0) -> np.ndarray:
    """(num_samples, d) features of an image array or a sampler, the batch split over devices.

    Batch i is images [i·batch_size, (i+1)·batch_size) of the array, or the sampler's
    draw with `fold_in(PRNGKey(seed), i)`. It is split over every device of every
    process: with P processes each runs the network on its P-th of the batch (a
    sampler's draw is repeated on each, the cheap part), and the features are
    gathered on every process in order: the same numbers as one process with the
    same devices, for a P-th of the network's work each. A `host_network` runs on
    each process's part of the batch as one array (its runtime uses every core).
    """
    mesh = parallel.make_mesh()
    parallel.check_batch_divisible(batch_size, mesh, "batch_size")
    on_host = net.host_network is not None
    apply = _scaled_apply(net, tuple(value_range), None if on_host else mesh)
    local = data.process_slice(batch_size)
    out, done = [], 0
    start = last_report = time.monotonic()
    for i in range(-(-num_samples // batch_size)):
        images, mask = _batch(samples, num_samples, batch_size, seed, i)
        if on_host:
            feats = net.host_network(np.asarray(apply(images[local].astype(np.float32))))
            out.append(parallel.gather_local(feats)[mask])
        else:
            feats = apply(parallel.shard_batch(images[local].astype(np.float32), mesh))
            out.append(parallel.gather(feats)[mask])
        done += len(out[-1])
        if time.monotonic() - last_report > PROGRESS_SECONDS and done < num_samples:
            last_report = time.monotonic()
            rate = done / (last_report - start)
            logging.info("%s features: %d/%d images, %.1f images/s, about %.0f min left",
                         net.name, done, num_samples, rate, (num_samples - done) / rate / 60)
    return np.concatenate(out)


def reference_features(dataset: str, split: str, net: FeatureNet, *, num_samples: int | None,
                       batch_size: int = 100) -> np.ndarray:
    """Features of the first `num_samples` images of a split (all if None), cached on disk."""
    images, _ = data.load_split(dataset, split)
    count = len(images) if num_samples is None else min(num_samples, len(images))
    return cached_features(f"{dataset}-{split}-{count}", images[:count], net,
                           batch_size=batch_size, what=f"{count} {dataset}:{split} images")


def _cache_suffix(net: FeatureNet) -> str:
    runtime = "" if net.runtime == "jax" else f"-{net.runtime}"
    return f"-{net.name}{runtime}-{net.digest[:16]}-v1.npy"


def _cache_path(key: str, net: FeatureNet) -> Path:
    return Path(cache_dir()) / "reference" / f"{key}{_cache_suffix(net)}"


def cached_split_prefix(dataset: str, split: str, net: FeatureNet, *, covering: int
                        ) -> np.ndarray | None:
    """Cached `reference_features` of the split's first n >= `covering` images, if on disk.

    The smallest such n is read; None when no readable one is cached. Callers slice
    it to reuse a split-wide pass (the intra-class references do) instead of running
    the network again over images it has already seen.
    """
    pattern = re.compile(re.escape(f"{dataset}-{split}-") + r"(\d+)"
                         + re.escape(_cache_suffix(net)))
    found = sorted((int(m.group(1)), path) for path in _cache_path("", net).parent.glob("*.npy")
                   if (m := pattern.fullmatch(path.name)))
    for count, path in found:
        if count < covering:
            continue
        try:
            feats = np.load(path)
        except (OSError, ValueError):
            continue
        if len(feats) == count:
            return feats
    return None


def cached_features(key: str, images: np.ndarray, net: FeatureNet, *, batch_size: int = 100,
                    what: str = "", value_range: tuple[float, float] = (0.0, 255.0)
                    ) -> np.ndarray:
    """`net`'s features of `images` (uint8 by default), cached under reference/<key>-<net>-<digest>.

    `key` must name the images exactly (dataset, split, selection, count, or a digest
    of their bytes: see `array_key`).
    """
    path = _cache_path(key, net)
    cached = None
    if path.is_file():
        try:
            cached = np.load(path)
        except (OSError, ValueError):
            logging.warning("reference features %s are unreadable; computing them again", path)
    # With several processes the pass below is collective: all run it unless all have
    # the file (each host may keep its own cache).
    if parallel.all_processes(cached is not None):
        return cached
    logging.info("computing %s features of %s (cached in %s)", net.name, what or key, path)
    feats = features(images, net, num_samples=len(images), batch_size=batch_size,
                     value_range=value_range)
    atomic.write_with(path, lambda f: np.save(f, feats))
    return feats


def array_key(prefix: str, images: np.ndarray) -> str:
    """A cache key naming an array by its shape, dtype and a SHA-256 of its bytes."""
    images = np.ascontiguousarray(images)
    digest = hashlib.sha256(images.tobytes()).hexdigest()[:16]
    return f"{prefix}-{len(images)}-{images.dtype}-{digest}"


def compare_features(real: np.ndarray, fake: np.ndarray, *, prefix: str = "",
                     with_kid: bool = True, with_prdc: bool = True) -> dict[str, float]:
    """Fréchet distance (and KID, PRDC) between two feature sets."""
    out = {f"{prefix}fd": fid_lib.fid_from_features(real, fake)}
    if with_kid:
        out[f"{prefix}kid"], out[f"{prefix}kid_std"] = kid_lib.kernel_inception_distance(
            real, fake)
    if with_prdc:
        out.update({f"{prefix}{k}": v for k, v in prdc_lib.prdc(real, fake).items()})
    return out


def check_request(*, dataset: str, split: str, num_samples: int, metrics: Sequence[str]) -> None:
    """One-line errors for a bad evaluation request, before any sample is drawn."""
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise UserError(f"unknown metrics {sorted(unknown)}; choose from {list(METRICS)}")
    data.check_dataset(dataset, split)
    if num_samples <= 0:
        raise UserError(f"num_samples must be positive, got {num_samples}")
    if "classifier_fd" in metrics and data.DATASETS[dataset].shape != (28, 28, 1):
        raise UserError(f"classifier_fd needs 28x28 grayscale images; {dataset} is "
                        f"{data.DATASETS[dataset].shape}")


def evaluate(samples, *, dataset: str, split: str = "test", num_samples: int = 10000,
             metrics: Sequence[str] = METRICS, batch_size: int = 100, seed: int = 0,
             value_range: tuple[float, float] = (-1.0, 1.0),
             fake_features: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """The requested metrics of `samples` against `dataset:split` (see module docstring).

    `fake_features` ({"inception" or "classifier": (num_samples, d)}) are features of
    the samples already computed, e.g. by the intra-class pass of a conditional
    model: a network given there draws no new samples.
    """
    check_request(dataset=dataset, split=split, num_samples=num_samples, metrics=metrics)
    fake_features = dict(fake_features or {})
    for name, feats in fake_features.items():
        if len(feats) != num_samples:
            raise UserError(f"fake_features[{name!r}] holds {len(feats)} rows, not "
                            f"num_samples={num_samples}")
    if not callable(samples) and len(samples) < num_samples:
        raise UserError(f"asked for {num_samples} samples but the array holds {len(samples)}")
    out: dict[str, float] = {"num_samples": float(num_samples)}
    wants_inception = [m for m in metrics if m in NETWORK_METRICS["inception"]]
    if wants_inception:
        net = feature_net("inception")
        real = reference_features(dataset, split, net, num_samples=num_samples,
                                  batch_size=batch_size)
        fake = fake_features.get("inception")
        if fake is None:
            fake = features(samples, net, num_samples=num_samples, batch_size=batch_size,
                            value_range=value_range, seed=seed)
        scores = compare_features(real, fake, with_kid="kid" in metrics,
                                  with_prdc="prdc" in metrics)
        out["fid"] = scores.pop("fd")
        if "fid" not in metrics:
            out.pop("fid")
        out.update(scores)
    if "classifier_fd" in metrics:
        out["classifier_fd"] = classifier_frechet_distance(
            samples, dataset=dataset, split=split, num_samples=num_samples,
            batch_size=batch_size, seed=seed, value_range=value_range,
            fake=fake_features.get("classifier"))
    return out


def classifier_frechet_distance(samples, *, dataset: str = "fashion_mnist", split: str = "test",
                                num_samples: int = 10000, batch_size: int = 100, seed: int = 0,
                                value_range: tuple[float, float] = (-1.0, 1.0),
                                fake: np.ndarray | None = None) -> float:
    """The domain metric: Fréchet distance on the genjax classifier's features (not FID).

    `fake`: the samples' classifier features if already computed (then no sample is drawn).
    """
    spec = data.DATASETS[dataset]
    if spec.shape != (28, 28, 1):
        raise UserError(f"classifier_fd needs 28x28 grayscale images; {dataset} is {spec.shape}")
    net = feature_net("classifier")
    real = reference_features(dataset, split, net, num_samples=num_samples,
                              batch_size=batch_size)
    if fake is None:
        fake = features(samples, net, num_samples=num_samples, batch_size=batch_size,
                        value_range=value_range, seed=seed)
    return fid_lib.fid_from_features(real, fake)

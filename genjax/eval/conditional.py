"""Intra-class Fréchet distance of a class-conditional generator.

Miyato & Koyama (2018, "cGANs with Projection Discriminator", ICLR) score a
conditional generator by intra-FID: the FID between generated and real images of
one class at a time, averaged over the classes. Unlike the FID of the pooled
samples, it sees a generator that draws good images of the wrong class.

`intra_class_fd(class_sampler, dataset=..., split=..., per_class=...)` draws
`per_class` images of every class from `class_sampler(rng, labels) -> images`
(labels: int32 (batch_size,), all equal here; images in `value_range`) and
compares each class with the first `per_class` real images of that class in the
split (Fashion-MNIST's test split holds 1000 of each). `network="inception"` gives
intra-FID proper; `network="classifier"` the cheap domain distance on genjax's own
classifier (see `genjax.eval.metrics`), whose numbers are not FIDs. The real
features of each class are computed once and cached like `metrics.reference_features`
(or sliced from a cached split-wide pass that holds them).

The two halves are public for callers that reuse the generated features:
`class_features` (per-class samples through a network) and `intra_class_scores`
(their distances to the real classes). `experiments.evaluate` pools the class
features into the FID of a class-balanced sample set instead of drawing another.
"""

from __future__ import annotations

import jax
import numpy as np

from genjax import data
from genjax.errors import UserError
from genjax.eval import fid as fid_lib
from genjax.eval import metrics

NETWORKS = ("classifier", "inception")


def class_names(dataset: str) -> list[str]:
    spec = data.DATASETS[dataset]
    return list(spec.class_names) or [str(c) for c in range(spec.num_classes)]


def check_request(*, dataset: str, split: str, per_class: int, network: str) -> None:
    """One-line errors for a bad intra-class request, before any feature is computed."""
    data.check_dataset(dataset, split, with_labels=True)
    if network not in NETWORKS:
        raise UserError(f"unknown feature network {network!r}; choose one of {list(NETWORKS)}")
    if network == "classifier" and data.DATASETS[dataset].shape != (28, 28, 1):
        raise UserError(f"the classifier network needs 28x28 grayscale images; {dataset} is "
                        f"{data.DATASETS[dataset].shape}: use network='inception'")
    if not isinstance(per_class, int) or per_class < 2:
        raise UserError(f"per_class must be an integer >= 2 (a covariance needs 2 samples), "
                        f"got {per_class!r}")
    _, labels = data.load_split(dataset, split)
    counts = np.bincount(labels, minlength=data.DATASETS[dataset].num_classes)
    smallest = int(counts.argmin())
    if per_class > counts[smallest]:
        raise UserError(f"per_class={per_class} exceeds the {counts[smallest]} images of class "
                        f"{class_names(dataset)[smallest]!r} in {dataset}:{split}; use at most "
                        f"{counts[smallest]}")


def class_reference_features(dataset: str, split: str, label: int, net: metrics.FeatureNet, *,
                             per_class: int, batch_size: int = 100) -> np.ndarray:
    """Features of the first `per_class` images of class `label` in the split, cached on disk.

    Sliced from the cached features of a split prefix that holds them when there is one
    (`metrics.cached_split_prefix`), so a split-wide FID pass is not run twice.
    """
    images, labels = data.load_split(dataset, split)
    chosen = np.flatnonzero(labels == label)[:per_class]
    if len(chosen) < per_class:
        raise UserError(f"{dataset}:{split} has only {len(chosen)} images of class {label}, "
                        f"not {per_class}")
    split_wide = metrics.cached_split_prefix(dataset, split, net, covering=int(chosen[-1]) + 1)
    if split_wide is not None:  # e.g. the 10k test features of a pooled FID: no second pass
        return split_wide[chosen]
    return metrics.cached_features(f"{dataset}-{split}-class{label}-{per_class}", images[chosen],
                                   net, batch_size=batch_size,
                                   what=f"{per_class} {dataset}:{split} images of class {label}")


def class_features(class_sampler, net: metrics.FeatureNet, *, num_classes: int,
                   per_class: int, batch_size: int = 100, seed: int = 0,
                   value_range: tuple[float, float] = (-1.0, 1.0)) -> list[np.ndarray]:
    """`net`'s features of `per_class` samples of every class, in label order.

    Class c's batches draw from keys folded with c, so no two classes share a key.
    """
    out = []
    for label in range(num_classes):
        labels = np.full((batch_size,), label, np.int32)

        def sampler(rng, label=label, labels=labels):
            return class_sampler(jax.random.fold_in(rng, label), labels)

        out.append(metrics.features(sampler, net, num_samples=per_class, batch_size=batch_size,
                                    value_range=value_range, seed=seed))
    return out


def intra_class_scores(fake: list[np.ndarray], *, dataset: str, split: str, network: str,
                       batch_size: int = 100) -> dict[str, float]:
    """{class name: Fréchet distance} of per-class features `fake` (label order), and "mean"."""
    net = metrics.feature_net(network)
    out: dict[str, float] = {}
    for label, name in enumerate(class_names(dataset)):
        real = class_reference_features(dataset, split, label, net, per_class=len(fake[label]),
                                        batch_size=batch_size)
        out[name] = fid_lib.fid_from_features(real, fake[label])
    out["mean"] = float(np.mean(list(out.values())))
    return out


def intra_class_fd(class_sampler, *, dataset: str, split: str = "test", per_class: int = 1000,
                   network: str = "classifier", batch_size: int = 100, seed: int = 0,
                   value_range: tuple[float, float] = (-1.0, 1.0)) -> dict[str, float]:
    """{class name: Fréchet distance} for every class, and "mean" over the classes."""
    check_request(dataset=dataset, split=split, per_class=per_class, network=network)
    fake = class_features(class_sampler, metrics.feature_net(network),
                          num_classes=len(class_names(dataset)), per_class=per_class,
                          batch_size=batch_size, seed=seed, value_range=value_range)
    return intra_class_scores(fake, dataset=dataset, split=split, network=network,
                              batch_size=batch_size)

"""Class-balanced subsets of a labelled split: the small real training sets of GAN
data augmentation experiments (a classifier trained on 1% of the real images, with
or without generated ones).

`balanced_subset(dataset, split, fraction, seed)` keeps the same number of images
of every class, `round(fraction * N / num_classes)`, drawn without replacement by
a permutation of each class's images that depends only on (seed, class). Subsets
of one seed are nested: the 1% subset lies inside the 10% one.
"""

from __future__ import annotations

import numpy as np

from genjax.data.pipeline import check_dataset, load_split
from genjax.data.registry import DATASETS
from genjax.errors import UserError


def balanced_indices(labels: np.ndarray, fraction: float, seed: int, num_classes: int
                     ) -> np.ndarray:
    """Sorted indices of a class-balanced `fraction` of `labels` (see module docstring)."""
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    per_class = round(fraction * len(labels) / num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    if per_class < 1:
        raise UserError(f"fraction={fraction} of {len(labels)} examples leaves no image per "
                        f"class; use at least {num_classes / len(labels):.2g}")
    if per_class > counts.min():
        raise UserError(f"fraction={fraction} needs {per_class} images per class, but class "
                        f"{int(counts.argmin())} has only {int(counts.min())}")
    chosen = [np.random.default_rng([seed, c, 0xBA1]).permutation(np.flatnonzero(labels == c))
              [:per_class] for c in range(num_classes)]
    return np.sort(np.concatenate(chosen))


def balanced_subset(dataset: str, split: str, fraction: float, seed: int) -> np.ndarray:
    """Indices into `load_split(dataset, split)` of a class-balanced `fraction` of it."""
    check_dataset(dataset, split, with_labels=True)
    _, labels = load_split(dataset, split)
    return balanced_indices(labels, fraction, seed, DATASETS[dataset].num_classes)

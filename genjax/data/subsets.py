"""Class-balanced subsets of a labelled split: the small real training sets of GAN
data augmentation experiments (a classifier trained on 1% of the real images, with
or without generated ones).

`balanced_subset(dataset, split, fraction, seed)` keeps the same number of images
of every class, `round(fraction * N / num_classes)`, drawn without replacement by
a permutation of each class's images that depends only on (seed, class). Subsets
of one seed are nested: the 1% subset lies inside the 10% one.

Training configs ask for a subset with `data.train_fraction` (1.0: everything, in
its stored order) and `data.subset_seed`; `subset_fields` reads and checks them
(configs older than the fields read as the whole set) and `take_fraction` cuts
a labelled set held in memory, so the classifier and the GAN train on the same
images for the same (fraction, seed).
"""

from __future__ import annotations

import numpy as np

from genjax.data.pipeline import check_dataset, load_arrays, load_split
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


def subset_fields(data_config) -> tuple[float, int]:
    """(train_fraction, subset_seed) of a config's `data` block, checked in one line each."""
    fraction = data_config.get("train_fraction", 1.0)
    seed = data_config.get("subset_seed", 0)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
            0.0 < fraction <= 1.0):
        raise UserError(f"data.train_fraction must be in (0, 1] (1: the whole set), "
                        f"got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < -1:
        raise UserError(f"data.subset_seed must be an integer >= -1 (-1: the run's seed), "
                        f"got {seed!r}")
    return float(fraction), seed


def take_fraction(images: np.ndarray, labels: np.ndarray, source: str, *, fraction: float,
                  seed: int, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, source) cut to a class-balanced `fraction` (1.0: all, unchanged).

    `source` names the set in messages; the cut one is "a class-balanced <f> of <source>".
    """
    if fraction >= 1.0:
        return images, labels, source
    if num_classes is None:
        raise UserError(f"data.train_fraction={fraction:g} needs class labels to balance the "
                        f"subset, and {source} has none; use data.train_fraction=1.0")
    keep = balanced_indices(labels, fraction, seed, num_classes)
    return images[keep], labels[keep], f"a class-balanced {fraction:g} of {source}"


def balanced_subset(dataset: str, split: str, fraction: float, seed: int) -> np.ndarray:
    """Indices into `load_split(dataset, split)` of a class-balanced `fraction` of it."""
    check_dataset(dataset, split, with_labels=True)
    _, labels = load_split(dataset, split)
    return balanced_indices(labels, fraction, seed, DATASETS[dataset].num_classes)


def training_set(d) -> tuple[np.ndarray, np.ndarray, str]:
    """(uint8 images, int32 labels, a name for messages) of a config's `data` block.

    Labelled arrays saved with `save_arrays` (`data.train_arrays`: generated images
    for the Classification Accuracy Score) or the tfds split `data.train_split`,
    cut to the class-balanced `data.train_fraction` (1.0: all of it, in order).
    """
    if d.get("train_arrays", ""):
        images, labels = load_arrays(d.train_arrays, d.name)
        source = str(d.train_arrays)
    else:
        images, labels = load_split(d.name, d.train_split)
        source = f"{d.name}:{d.train_split}"
    fraction, subset_seed = subset_fields(d)
    if subset_seed == -1:
        raise UserError("data.subset_seed = -1 means the run's own seed; resolve it first "
                        "(genjax.train.seeds.resolve_seed_fields, which make_task applies)")
    return take_fraction(images, labels, source, fraction=fraction, seed=subset_seed,
                         num_classes=DATASETS[d.name].num_classes)


def check_training_set(d, batch_size: int) -> None:
    """Read a cut or stored training set now, so that its errors come before anything is
    written; a batch larger than the set is a `UserError`. The whole split needs no read."""
    if not (d.get("train_arrays", "") or subset_fields(d)[0] < 1.0):
        return
    images, _, source = training_set(d)
    if batch_size > len(images):
        raise UserError(f"batch_size={batch_size} exceeds the {len(images)} training examples "
                        f"of {source}")

"""Unpaired domains: two disjoint sets of a dataset's classes, each its own image stream.

Unpaired translation (CycleGAN, Zhu et al. 2017) learns A -> B and B -> A from
images of A and images of B with no pairing between them. Here a domain is a
set of classes of a labelled dataset, named in a config as a comma-separated
string of class names or indices: `"Sneaker"`, `"ankle boot"`, `"T-shirt/top"`,
`"0,6"`. Names match `DATASETS[name].class_names` ignoring case and any
character that is not a letter or a digit (so `ankle_boot` is `Ankle boot`).

`unpaired_batches` draws each domain's batches from its own seeded permutation
(`data.array_train_iterator` with the seeds `domain_seed(seed, 0)` and
`domain_seed(seed, 1)`), so no pairing exists: image i of A's batch and image i
of B's are independent draws, and the step-s batch is a pure function of
(seed, s), exact from any step like every other genjax pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from genjax.data.pipeline import array_train_iterator, check_dataset, load_split
from genjax.data.registry import DATASETS
from genjax.errors import UserError

DOMAINS = ("a", "b")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_domain(dataset: str, domain: str, field: str = "domains.a") -> tuple[int, ...]:
    """The sorted class indices a domain string names, or a one-line `UserError`."""
    spec = DATASETS[dataset]
    if not spec.num_classes:
        raise UserError(f"{field}: {dataset} has no class labels to make domains of")
    if not isinstance(domain, str) or not domain.strip():
        raise UserError(f"{field} is empty; name one or more classes of {dataset}, "
                        f"e.g. {spec.class_names[0]!r}")
    names = {_key(name): i for i, name in enumerate(spec.class_names)}
    classes = set()
    for part in (p.strip() for p in domain.split(",")):
        if part.isdigit() and int(part) < spec.num_classes:
            classes.add(int(part))
        elif _key(part) in names and _key(part):
            classes.add(names[_key(part)])
        else:
            raise UserError(f"{field}: {part!r} is not a class of {dataset}; choose from "
                            f"{list(spec.class_names)} or 0-{spec.num_classes - 1}")
    return tuple(sorted(classes))


def check_domains(dataset: str, a: str, b: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(A's classes, B's classes): both non-empty, known and disjoint."""
    check_dataset(dataset)
    classes_a = parse_domain(dataset, a, "domains.a")
    classes_b = parse_domain(dataset, b, "domains.b")
    shared = sorted(set(classes_a) & set(classes_b))
    if shared:
        names = [DATASETS[dataset].class_names[i] for i in shared]
        raise UserError(f"domains.a and domains.b overlap in {names}; unpaired translation "
                        "needs disjoint domains")
    return classes_a, classes_b


def domain_name(dataset: str, classes: tuple[int, ...]) -> str:
    """'Sneaker' or 'T-shirt/top+Shirt': the class names joined."""
    return "+".join(DATASETS[dataset].class_names[i] for i in classes)


def domain_images(images: np.ndarray, labels: np.ndarray, classes: tuple[int, ...]
                  ) -> np.ndarray:
    """The images whose label is in `classes`, in split order."""
    return images[np.isin(labels, classes)]


def split_domains(dataset: str, split: str, a: str, b: str) -> dict[str, np.ndarray]:
    """{"a": A's images of the split, "b": B's}, uint8 (N, H, W, C), in split order."""
    classes = dict(zip(DOMAINS, check_domains(dataset, a, b), strict=True))
    images, labels = load_split(dataset, split)
    return {d: domain_images(images, labels, classes[d]) for d in DOMAINS}


def domain_seed(seed: int, domain: int) -> int:
    """Domain `domain`'s (0 for A, 1 for B) permutation seed: distinct for every (seed, domain)."""
    return 2 * seed + domain


def unpaired_batches(images: dict[str, np.ndarray], *, batch_size: int, seed: int,
                     start_step: int = 0, image_range: str = "[-1,1]"
                     ) -> Iterator[dict[str, np.ndarray]]:
    """{"a": (batch, H, W, C), "b": ...} float batches from `start_step` on, each domain
    reshuffled every one of its own epochs from its own seed."""
    streams = [array_train_iterator(images[d], None, batch_size=batch_size,
                                    seed=domain_seed(seed, i), image_range=image_range,
                                    start_step=start_step, source=f"domain {d}")
               for i, d in enumerate(DOMAINS)]
    for batch_a, batch_b in zip(*streams, strict=True):
        yield {"a": batch_a["image"], "b": batch_b["image"]}

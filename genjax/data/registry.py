"""Dataset registry: genjax name -> the tfds dataset and its per-example preprocessing.

Preprocessing here is the deterministic, per-example part (crop, resize, uint8
layout) run once in tf.data when a split is loaded. Randomness (shuffling,
dynamic binarisation) happens per batch in `genjax.data.pipeline`, keyed by the
seed and the step, so that any batch can be regenerated exactly.

A spec names its preprocessing function in `genjax.data.preprocess` (TensorFlow
ops, run inside tf.data): that module, and TensorFlow with it, loads only when a
split is loaded; importing TensorFlow costs about 3 s, which a command that stops
at a bad flag or config should not pay.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    tfds_name: str
    shape: tuple[int, int, int]
    num_classes: int | None
    preprocess: str  # a function of genjax.data.preprocess: example dict -> example dict
    splits: tuple[str, ...] = ("train", "test")
    class_names: tuple[str, ...] = ()


FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec("fashion_mnist", (28, 28, 1), 10, "keep",
                                 class_names=FASHION_MNIST_CLASSES),
    "mnist": DatasetSpec("mnist", (28, 28, 1), 10, "keep",
                         class_names=tuple(str(d) for d in range(10))),
    "cifar10": DatasetSpec("cifar10", (32, 32, 3), 10, "keep", class_names=(
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck")),
    "celeb_a": DatasetSpec("celeb_a", (64, 64, 3), None, "celeb_a",
                           splits=("train", "validation", "test")),
}

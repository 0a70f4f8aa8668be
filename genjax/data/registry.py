"""Dataset registry: genjax name -> the tfds dataset and its per-example preprocessing.

Preprocessing here is the deterministic, per-example part (crop, resize, uint8
layout) run once in tf.data when a split is loaded. Randomness (shuffling,
dynamic binarisation) happens per batch in `genjax.data.pipeline`, keyed by the
seed and the step, so that any batch can be regenerated exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf


def _keep(example):
    return {"image": tf.cast(example["image"], tf.uint8),
            "label": tf.cast(example["label"], tf.int32)}


def center_crop_resize(image: tf.Tensor, crop: int, size: int) -> tf.Tensor:
    """Central `crop` x `crop` square, area-resized to `size` x `size`, rounded to uint8."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left = (height - crop) // 2, (width - crop) // 2
    image = tf.image.crop_to_bounding_box(image, top, left, crop, crop)
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="area")
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _celeb_a(example):
    # 178x218 faces; the central 140x140 crop keeps the face (as in Tolstikhin et al. 2018).
    image = center_crop_resize(example["image"], crop=140, size=64)
    return {"image": image, "label": tf.constant(-1, tf.int32)}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    tfds_name: str
    shape: tuple[int, int, int]
    num_classes: int | None
    preprocess: Callable
    splits: tuple[str, ...] = ("train", "test")
    class_names: tuple[str, ...] = ()


FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec("fashion_mnist", (28, 28, 1), 10, _keep,
                                 class_names=FASHION_MNIST_CLASSES),
    "mnist": DatasetSpec("mnist", (28, 28, 1), 10, _keep,
                         class_names=tuple(str(d) for d in range(10))),
    "cifar10": DatasetSpec("cifar10", (32, 32, 3), 10, _keep, class_names=(
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck")),
    "celeb_a": DatasetSpec("celeb_a", (64, 64, 3), None, _celeb_a,
                           splits=("train", "validation", "test")),
}

"""Per-example preprocessing in tf.data, named by `genjax.data.registry.DATASETS`.

Deterministic only (crop, resize, uint8 layout): randomness happens per batch in
`genjax.data.pipeline`. Imported when a split is loaded, not before (TensorFlow).
"""

from __future__ import annotations

import tensorflow as tf


def keep(example):
    return {"image": tf.cast(example["image"], tf.uint8),
            "label": tf.cast(example["label"], tf.int32)}


def center_crop_resize(image: tf.Tensor, crop: int, size: int) -> tf.Tensor:
    """Central `crop` x `crop` square, area-resized to `size` x `size`, rounded to uint8."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left = (height - crop) // 2, (width - crop) // 2
    image = tf.image.crop_to_bounding_box(image, top, left, crop, crop)
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="area")
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def celeb_a(example):
    # 178x218 faces; the central 140x140 crop keeps the face (as in Tolstikhin et al. 2018).
    image = center_crop_resize(example["image"], crop=140, size=64)
    return {"image": image, "label": tf.constant(-1, tf.int32)}

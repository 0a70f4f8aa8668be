"""Top-1 accuracy of a classifier on a whole real split, overall and per class.

The same count as the classifier task's `eval/accuracy` (argmax of the logits
over every real example of `data.eval_iterator`), for any classifier's
variables: Classification Accuracy Score (Ravuri & Vinyals 2019) scores a
classifier trained on generated images this way, beside one trained on real data.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data, parallel
from genjax.data.registry import DATASETS


def class_sums(variables, batch, *, model, num_classes: int) -> dict[str, jax.Array]:
    """Per-class correct and total counts over the real (mask=True) rows of a batch."""
    logits = model.apply(variables, batch["image"], train=False)
    rows = jax.nn.one_hot(batch["label"], num_classes) * batch["mask"][:, None]
    correct = (jnp.argmax(logits, -1) == batch["label"])[:, None]
    return {"correct": jnp.sum(rows * correct, 0), "count": jnp.sum(rows, 0)}


def accuracy(model, variables, *, dataset: str, split: str = "test", image_range: str = "[0,1]",
             batch_size: int = 1000) -> dict:
    """`accuracy`, `count` and `per_class` accuracies of `model` with `variables` on a split.

    `image_range` is the one the classifier was trained on.
    """
    data.check_dataset(dataset, split, with_labels=True, image_range=image_range)
    mesh = parallel.make_mesh()
    parallel.check_batch_divisible(batch_size, mesh, "batch_size")
    sums_fn = jax.jit(functools.partial(class_sums, model=model,
                                        num_classes=DATASETS[dataset].num_classes),
                      in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)))
    totals = None
    for batch in data.eval_iterator(dataset, split=split, batch_size=batch_size,
                                    image_range=image_range, with_labels=True):
        sums = sums_fn(variables, parallel.shard_batch(batch, mesh))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    correct, count = (np.asarray(jax.device_get(totals)[k], np.float64)
                      for k in ("correct", "count"))
    return {"accuracy": float(correct.sum() / count.sum()), "count": int(count.sum()),
            "per_class": [float(x) for x in correct / np.maximum(count, 1)]}


def images_accuracy(model, variables, images: np.ndarray, labels: np.ndarray, *,
                    batch_size: int = 500, value_range: tuple[float, float] = (-1.0, 1.0)
                    ) -> float:
    """Top-1 accuracy of `model` on an image array with its true labels.

    `images` (N, H, W, C) in `value_range` are mapped to [0, 1] and clipped (the
    shipped classifier's range); batches are padded to `batch_size` (one compile)
    and the padding is masked out of the count.
    """
    lo, hi = value_range
    num_classes = int(model.num_classes)
    sums_fn = _array_sums(model, num_classes)
    correct = count = 0.0
    for start in range(0, len(images), batch_size):
        chunk = np.clip((np.asarray(images[start:start + batch_size], np.float32) - lo)
                        / (hi - lo), 0.0, 1.0)
        n = len(chunk)
        pad = batch_size - n
        batch = {"image": np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), np.float32)]),
                 "label": np.concatenate([np.asarray(labels[start:start + n], np.int32),
                                          np.zeros(pad, np.int32)]),
                 "mask": np.arange(batch_size) < n}
        sums = jax.device_get(sums_fn(variables, batch))
        correct += float(np.sum(sums["correct"]))
        count += float(np.sum(sums["count"]))
    return correct / count


def predicted_classes(model, variables, images: np.ndarray, *, batch_size: int = 500,
                      value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """The classifier's argmax class (N,) for each image, mapped and padded as above."""
    lo, hi = value_range
    predict = _predict(model)
    out = []
    for start in range(0, len(images), batch_size):
        chunk = np.clip((np.asarray(images[start:start + batch_size], np.float32) - lo)
                        / (hi - lo), 0.0, 1.0)
        padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk), *chunk.shape[1:]),
                                                 np.float32)])
        out.append(np.asarray(predict(variables, padded))[:len(chunk)])
    return np.concatenate(out)


@functools.lru_cache(maxsize=4)
def _predict(model):
    return jax.jit(lambda variables, images: jnp.argmax(
        model.apply(variables, images, train=False), -1))


@functools.lru_cache(maxsize=4)
def _array_sums(model, num_classes: int):
    return jax.jit(functools.partial(class_sums, model=model, num_classes=num_classes))

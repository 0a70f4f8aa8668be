"""Cross-entropy loss and masked evaluation sums for the classifier."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from genjax.data.augment import classical_augment


def classifier_loss(params, batch_stats, batch, rng, *, model: nn.Module, flip: bool = False,
                    crop_pad: int = 0, label_smoothing: float = 0.0):
    """Softmax cross-entropy on a training batch.

    Returns `(loss, (metrics, new_batch_stats))`; `metrics` holds scalar
    `loss` and `accuracy`.
    """
    aug_rng, dropout_rng = jax.random.split(rng)
    images = batch["image"]
    if flip or crop_pad:
        images = classical_augment(images, aug_rng, flip=flip, crop_pad=crop_pad)
    logits, updates = model.apply(
        {"params": params, "batch_stats": batch_stats}, images, train=True,
        rngs={"dropout": dropout_rng}, mutable=["batch_stats"])
    num_classes = logits.shape[-1]
    targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], num_classes), label_smoothing)
    loss = optax.softmax_cross_entropy(logits, targets).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return loss, ({"loss": loss, "accuracy": accuracy}, updates["batch_stats"])


def classifier_eval_sums(variables, batch, *, model: nn.Module) -> dict[str, jax.Array]:
    """Sums over the real (mask=True) examples of a padded eval batch.

    Sums, not means, so that batches and devices combine exactly; divide by
    `count` at the end.
    """
    logits = model.apply(variables, batch["image"], train=False)
    mask = batch["mask"].astype(jnp.float32)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    return {"loss": jnp.sum(nll * mask), "correct": jnp.sum(correct * mask),
            "count": jnp.sum(mask)}

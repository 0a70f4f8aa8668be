"""The CNN classifier task: Fashion-MNIST (or any labelled dataset) classification.

The training set is a tfds split, or labelled uint8 arrays saved with
`data.save_arrays` (config `data.train_arrays`: generated images for the
Classification Accuracy Score), optionally cut to a class-balanced fraction
(`data.train_fraction`, `data.subset_seed`). Evaluation is always on the real
`data.eval_split`. `accuracy` scores any classifier's variables on a real split.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data, parallel, pretrained
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import images as image_io
from genjax.io.writers import read_jsonl
from genjax.losses.classification import classifier_eval_sums, classifier_loss
from genjax.models.cnn import CNN
from genjax.train import optim, steps
from genjax.train.state import TrainState

CLASSIFIERS = {"cnn": CNN}


def check_config(config) -> None:
    c = config
    data.check_dataset(c.data.name, c.data.train_split, with_labels=True,
                       image_range=c.data.image_range)
    data.check_dataset(c.data.name, c.data.eval_split)
    if c.model.name not in CLASSIFIERS:
        raise UserError(f"unknown model.name {c.model.name!r}; choose one of {sorted(CLASSIFIERS)}")
    if any(w <= 0 for w in c.model.widths) or c.model.hidden <= 0:
        raise UserError(f"model.widths and model.hidden must be positive, got "
                        f"{tuple(c.model.widths)} and {c.model.hidden}")
    if not 0.0 <= c.model.dropout < 1.0:
        raise UserError(f"model.dropout must be in [0, 1), got {c.model.dropout}")
    data.subset_fields(c.data)
    if c.augment.crop_pad < 0:
        raise UserError(f"augment.crop_pad must be >= 0, got {c.augment.crop_pad}")
    optim.check_optimizer_config(c.optimizer)


def make_model(config) -> CNN:
    spec = DATASETS[config.data.name]
    return CLASSIFIERS[config.model.name](
        num_classes=spec.num_classes, widths=tuple(config.model.widths),
        hidden=config.model.hidden, dropout=config.model.dropout)


def training_set(config) -> tuple[np.ndarray, np.ndarray, str]:
    """(uint8 images, int32 labels, a name for messages) of the config's training set."""
    d = config.data
    if d.get("train_arrays", ""):
        images, labels = data.load_arrays(d.train_arrays, d.name)
        source = str(d.train_arrays)
    else:
        images, labels = data.load_split(d.name, d.train_split)
        source = f"{d.name}:{d.train_split}"
    fraction, subset_seed = data.subset_fields(d)
    return data.take_fraction(images, labels, source, fraction=fraction, seed=subset_seed,
                              num_classes=DATASETS[d.name].num_classes)


def _class_sums(variables, batch, *, model, num_classes: int) -> dict[str, jax.Array]:
    """Per-class correct and total counts over the real (mask=True) rows of a batch."""
    logits = model.apply(variables, batch["image"], train=False)
    rows = jax.nn.one_hot(batch["label"], num_classes) * batch["mask"][:, None]
    correct = (jnp.argmax(logits, -1) == batch["label"])[:, None]
    return {"correct": jnp.sum(rows * correct, 0), "count": jnp.sum(rows, 0)}


def accuracy(model, variables, *, dataset: str, split: str = "test", image_range: str = "[0,1]",
             batch_size: int = 1000) -> dict:
    """Top-1 accuracy of `model` with `variables` on a whole real split, overall and per class.

    The same count as the classifier's `eval/accuracy` (argmax of the logits over
    every example of `data.eval_iterator`); `image_range` is the one it was trained on.
    """
    data.check_dataset(dataset, split, with_labels=True, image_range=image_range)
    mesh = parallel.make_mesh()
    parallel.check_batch_divisible(batch_size, mesh, "batch_size")
    sums_fn = jax.jit(functools.partial(_class_sums, model=model,
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


class ClassifierTask:
    def __init__(self, config):
        check_config(config)
        self.config = config
        self.model = make_model(config)
        self.shape = DATASETS[config.data.name].shape
        loss_fn = functools.partial(classifier_loss, model=self.model, flip=config.augment.flip,
                                    crop_pad=config.augment.crop_pad,
                                    label_smoothing=config.label_smoothing)
        self.train_step = functools.partial(steps.train_step, loss_fn=loss_fn)
        self.eval_step = functools.partial(
            steps.eval_step, sums_fn=functools.partial(classifier_eval_sums, model=self.model))
        self._jitted_eval = None
        if config.data.get("train_arrays", "") or config.data.get("train_fraction", 1.0) < 1.0:
            # Read and check the set now: its errors come before anything is written.
            images, _, source = training_set(config)
            if config.batch_size > len(images):
                raise UserError(f"batch_size={config.batch_size} exceeds the {len(images)} "
                                f"training examples of {source}")

    def init_state(self, rng) -> TrainState:
        init_rng, state_rng = jax.random.split(rng)
        # One compiled init: op by op, every random draw would be compiled on its own.
        variables = jax.jit(functools.partial(self.model.init, train=False))(
            init_rng, jnp.zeros((1, *self.shape)))
        tx = optim.make_optimizer(self.config.optimizer, self.config.num_train_steps)
        return TrainState.create(apply_fn=self.model.apply, params=variables["params"], tx=tx,
                                 batch_stats=variables["batch_stats"], rng=state_rng)

    def train_batches(self, start_step: int):
        c = self.config
        images, labels, source = training_set(c)
        return data.array_train_iterator(images, labels, batch_size=c.batch_size, seed=c.seed,
                                         image_range=c.data.image_range, with_labels=True,
                                         start_step=start_step, source=source)

    def predict(self, state, mesh, split: str | None = None):
        """Masked sums over a whole split, plus the first batch's images and predictions."""
        c = self.config
        if self._jitted_eval is None:
            self._jitted_eval = jax.jit(self.eval_step, in_shardings=(
                parallel.replicated(mesh), parallel.batch_sharded(mesh)))
        totals = None
        for batch in data.eval_iterator(c.data.name, split=split or c.data.eval_split,
                                        batch_size=c.eval_batch_size,
                                        image_range=c.data.image_range, with_labels=True):
            sums = self._jitted_eval(state, parallel.shard_batch(batch, mesh))
            totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
        return {k: float(v) for k, v in jax.device_get(totals).items()}

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        sums = self.predict(state, mesh)
        return {"eval/loss": sums["loss"] / sums["count"],
                "eval/accuracy": sums["correct"] / sums["count"],
                "eval/count": sums["count"]}

    def finish(self, state, workdir) -> None:
        """Export the trained variables and write a grid of test predictions."""
        state = jax.device_get(state)
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        pretrained.export(workdir / "export", variables, self.config)
        c = self.config
        batch = next(data.eval_iterator(c.data.name, split=c.data.eval_split, batch_size=64,
                                        image_range=c.data.image_range, with_labels=True))
        logits = self.model.apply(variables, batch["image"], train=False)
        predicted = np.asarray(jnp.argmax(logits, -1))
        names = DATASETS[c.data.name].class_names
        image_io.save_labelled_grid(
            batch["image"], [f"{names[p]}" + ("" if p == t else f" ({names[t]})")
                             for p, t in zip(predicted, batch["label"], strict=True)],
            Path(workdir) / "predictions.png", value_range=(0.0, 1.0),
            wrong=predicted != batch["label"])
        evals = [r for r in read_jsonl(Path(workdir) / "metrics.jsonl") if "eval/accuracy" in r]
        (Path(workdir) / "final_metrics.json").write_text(json.dumps(evals[-1], indent=2))

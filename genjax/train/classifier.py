"""The CNN classifier task: Fashion-MNIST (or any labelled dataset) classification."""

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
    if c.augment.crop_pad < 0:
        raise UserError(f"augment.crop_pad must be >= 0, got {c.augment.crop_pad}")
    optim.check_optimizer_config(c.optimizer)


def make_model(config) -> CNN:
    spec = DATASETS[config.data.name]
    return CLASSIFIERS[config.model.name](
        num_classes=spec.num_classes, widths=tuple(config.model.widths),
        hidden=config.model.hidden, dropout=config.model.dropout)


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
        return data.train_iterator(c.data.name, split=c.data.train_split, batch_size=c.batch_size,
                                   seed=c.seed, image_range=c.data.image_range,
                                   with_labels=True, start_step=start_step)

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

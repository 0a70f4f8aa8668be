"""The CNN classifier task: Fashion-MNIST (or any labelled dataset) classification.

The training set is a tfds split, or labelled uint8 arrays saved with
`data.save_arrays` (config `data.train_arrays`: generated images for the
Classification Accuracy Score), optionally cut to a class-balanced fraction
(`data.train_fraction`, `data.subset_seed`). Evaluation is always on the real
`data.eval_split`; `genjax.eval.accuracy` scores any classifier's variables on a
real split.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp

from genjax import data, distributed, parallel
from genjax.config import positive_ints
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import images as image_io
from genjax.losses.classification import classifier_eval_sums, classifier_loss
from genjax.models import pretrained, registry
from genjax.models.build import make_classifier
from genjax.train import optim, steps
from genjax.train.state import TrainState


def check_config(config) -> None:
    c = config
    data.check_dataset(c.data.name, c.data.train_split, with_labels=True,
                       image_range=c.data.image_range)
    data.check_dataset(c.data.name, c.data.eval_split)
    registry.model_class("classifier", c.model.name)
    positive_ints(c.model.widths, "model.widths")
    positive_ints(c.model.hidden, "model.hidden")
    if not 0.0 <= c.model.dropout < 1.0:
        raise UserError(f"model.dropout must be in [0, 1), got {c.model.dropout}")
    data.subset_fields(c.data)
    if c.augment.crop_pad < 0:
        raise UserError(f"augment.crop_pad must be >= 0, got {c.augment.crop_pad}")
    optim.check_optimizer_config(c.optimizer)


class ClassifierTask:
    """The `fit` task for classifiers (`protocols.Task`)."""

    progress_metric = "loss"

    def __init__(self, config):
        check_config(config)
        self.config = config
        self.model = make_classifier(config)
        self.shape = DATASETS[config.data.name].shape
        loss_fn = functools.partial(classifier_loss, model=self.model, flip=config.augment.flip,
                                    crop_pad=config.augment.crop_pad,
                                    label_smoothing=config.label_smoothing)
        self.train_step = functools.partial(steps.train_step, loss_fn=loss_fn)
        self.eval_step = functools.partial(
            steps.eval_step, sums_fn=functools.partial(classifier_eval_sums, model=self.model))
        self._eval_sums = jax.jit(self.eval_step)  # static: compiled once, on first use
        data.check_training_set(config.data, config.batch_size)

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
        images, labels, source = data.training_set(c.data)
        return data.array_train_iterator(images, labels, batch_size=c.batch_size, seed=c.seed,
                                         image_range=c.data.image_range, with_labels=True,
                                         start_step=start_step, source=source)

    def predict(self, state, mesh, split: str | None = None) -> dict[str, float]:
        """Masked sums (loss, correct, count) over a whole split (default `data.eval_split`)."""
        c = self.config
        state = parallel.replicate(state, mesh)
        totals = None
        for batch in data.eval_iterator(c.data.name, split=split or c.data.eval_split,
                                        batch_size=c.eval_batch_size,
                                        image_range=c.data.image_range, with_labels=True):
            sums = self._eval_sums(state, parallel.shard_batch(batch, mesh))
            totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
        return {k: float(v) for k, v in jax.device_get(totals).items()}

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        sums = self.predict(state, mesh)
        return {"eval/loss": sums["loss"] / sums["count"],
                "eval/accuracy": sums["correct"] / sums["count"],
                "eval/count": sums["count"]}

    def finish(self, state, workdir) -> None:
        """Export the trained variables and write a grid of test predictions (process 0)."""
        if not distributed.is_primary():
            return
        state = jax.device_get(state)
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        pretrained.export(Path(workdir) / "export", variables, self.config)
        c = self.config
        batch = data.first_examples(c.data.name, 64, split=c.data.eval_split,
                                    image_range=c.data.image_range, with_labels=True)
        image_io.save_predictions(self.model, variables, batch, DATASETS[c.data.name].class_names,
                                  Path(workdir) / "predictions.png")

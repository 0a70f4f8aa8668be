"""The task registry: config.task -> the object that knows a model, its loss and data.

A task is built from a config (`TASKS[name](config)`), checks the config's
task-specific fields in its constructor (before anything heavy), and provides:

    init_state(rng) -> state                      # the pytree `fit` trains and checkpoints
    train_step(state, batch) -> (state, metrics)  # pure, keyword deps bound; `fit` jits it
    train_batches(start_step) -> iterator         # numpy batches, exact from any step
    evaluate(state, mesh, workdir, step, writer) -> dict[str, float]
    finish(state, workdir)                        # after the last step (export, samples)

Tasks hold only static pieces (config, model, bound functions): never the
state, a key or an iterator.
"""

from __future__ import annotations

import importlib

from genjax.errors import UserError

# name -> "module:Class", imported lazily so that each task's dependencies load only when used.
TASKS = {
    "classifier": "genjax.train.classifier:ClassifierTask",
    "vae": "genjax.train.vae:VAETask",
    "gan": "genjax.train.gan:GANTask",
    "draw": "genjax.train.draw:DRAWTask",
}


def make_task(config):
    if config.task not in TASKS:
        raise UserError(f"unknown task {config.task!r}; choose one of {sorted(TASKS)}")
    module, name = TASKS[config.task].split(":")
    return getattr(importlib.import_module(module), name)(config)

"""The task registry: `config.task` -> the class that wires a model, its loss and its data.

Every task satisfies `protocols.Task` (what `fit` needs) and some of the optional
capabilities there (`Sampler`, `ClassSampler`, `LikelihoodBound`, `ImageToImage`).
A task module is wiring only: models come from `genjax.models`, losses from
`genjax.losses`, metrics and figures from `genjax.eval`.
"""

from __future__ import annotations

from genjax.errors import UserError
from genjax.train import seeds
from genjax.train.tasks.classifier import ClassifierTask
from genjax.train.tasks.cyclegan import CycleGANTask
from genjax.train.tasks.draw import DRAWTask
from genjax.train.tasks.gan import GANTask
from genjax.train.tasks.pix2pix import Pix2PixTask
from genjax.train.tasks.protocols import (
    ClassSampler,
    ImageToImage,
    LikelihoodBound,
    Sampler,
    Task,
    is_class_conditional,
)
from genjax.train.tasks.svg import SVGTask
from genjax.train.tasks.vae import VAETask

TASKS: dict[str, type] = {
    "classifier": ClassifierTask,
    "vae": VAETask,
    "gan": GANTask,
    "draw": DRAWTask,
    "pix2pix": Pix2PixTask,
    "cyclegan": CycleGANTask,
    "svg": SVGTask,
}

__all__ = ["TASKS", "ClassSampler", "ImageToImage", "LikelihoodBound", "Sampler", "Task",
           "is_class_conditional", "make_task"]


def make_task(config) -> Task:
    """The task `config.task` names, built from `config` (which it checks first);
    with `num_seeds` K > 1, a `seeds.SeedsTask` of K replicas of it."""
    if config.task not in TASKS:
        raise UserError(f"unknown task {config.task!r}; choose one of {sorted(TASKS)}")
    if seeds.num_seeds(config) > 1:
        return seeds.SeedsTask(config, make_task)
    return TASKS[config.task](seeds.resolve_seed_fields(config))

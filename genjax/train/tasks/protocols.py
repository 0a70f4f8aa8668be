"""What a task is, and the optional capabilities callers test with `isinstance`.

A task is built from a config (`make_task(config)`): its constructor checks the
config's task-specific fields (one-line `UserError`s, before anything heavy) and
binds the static pieces (the model, the pure loss and step functions). It never
holds a state, a key or an iterator: everything that changes lives in the state
pytree that `fit` trains and checkpoints.

Capabilities beyond training are `runtime_checkable` protocols, so a study asks
`isinstance(task, ClassSampler)` instead of probing attributes by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jax

State = Any
Batch = dict[str, Any]
Metrics = dict[str, jax.Array]


@runtime_checkable
class Task(Protocol):
    """What `fit` needs. `train_step` is pure with its keyword dependencies bound; `fit` jits it."""

    config: Any
    progress_metric: str  # the train metric the progress bar shows

    def init_state(self, rng: jax.Array) -> State:
        """The pytree `fit` trains and checkpoints (step counter and root key included)."""

    def train_step(self, state: State, batch: Batch) -> tuple[State, Metrics]:
        """One pure training step."""

    def train_batches(self, start_step: int) -> Iterator[Batch]:
        """Numpy batches, exact from any step (a resumed run sees the same batches)."""

    def evaluate(self, state: State, mesh, workdir: Path, step: int, writer
                 ) -> dict[str, float]:
        """Scalars to log at an evaluation step (figures it writes go under `workdir`)."""

    def finish(self, state: State, workdir: Path) -> None:
        """Final outputs after the last step (exports, final figures)."""


@runtime_checkable
class Sampler(Protocol):
    """Draws unconditional images: `sampler(state, n)` -> `rng -> n images in [-1, 1]`."""

    def sampler(self, state: State, batch_size: int) -> Callable[[jax.Array], jax.Array]: ...


@runtime_checkable
class ClassSampler(Protocol):
    """Draws images of given classes: `class_sampler(state, n)` -> `(rng, labels) -> images`."""

    num_classes: int

    def class_sampler(self, state: State, batch_size: int
                      ) -> Callable[[jax.Array, jax.Array], jax.Array]: ...


@runtime_checkable
class LikelihoodBound(Protocol):
    """Bounds log p(x) over the eval split: the IWAE-k bound (Burda et al. 2015)."""

    def iwae_bound(self, params, *, max_examples: int | None = None, mesh=None) -> dict: ...


@runtime_checkable
class ImageToImage(Protocol):
    """Maps an input image batch to an output image batch (translation, enhancement)."""

    def translate(self, state: State, images: jax.Array) -> jax.Array: ...


def is_class_conditional(task) -> bool:
    """A class sampler with at least one class (a GAN task is one only when conditional)."""
    return isinstance(task, ClassSampler) and task.num_classes > 0

"""The training state: one pytree holding everything a step reads and writes.

A checkpoint of a `TrainState` resumes training exactly: the step counter, the
parameters, the BatchNorm statistics, the optimizer state and the root PRNG key
all live in it. `apply_fn` and `tx` are static fields,
so they are not saved; they are rebuilt from the config on restore.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax.training import train_state

Params = Any


class TrainState(train_state.TrainState):
    """`flax.training.train_state.TrainState` plus BatchNorm stats and a PRNG key.

    `rng` is the run's root key; a step derives its own key with
    `jax.random.fold_in(state.rng, state.step)`, so the root never changes during
    training and no key is ever reused.
    """

    batch_stats: Any = None
    rng: jax.Array | None = None

    @classmethod
    def create(cls, *, apply_fn, params, tx, **kwargs):
        """As flax's `create`, with `step` an int32 array so restored and fresh states match."""
        state = super().create(apply_fn=apply_fn, params=params, tx=tx, **kwargs)
        return state.replace(step=jnp.zeros((), jnp.int32))

    def step_rng(self) -> jax.Array:
        """The key for the current step: fold_in(root, step)."""
        return jax.random.fold_in(self.rng, self.step)

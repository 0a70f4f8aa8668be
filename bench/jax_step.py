"""A task's train step jitted exactly as `fit` jits it, with real batches prepared beforehand."""

from __future__ import annotations

import jax
import numpy as np

from bench.timing import time_steps
from genjax import parallel


def count(tree) -> int:
    """Parameters in a pytree."""
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def jitted_task_step(task, num_batches: int):
    """(step, state, batches): replicated state, batch-sharded batches, donated state, and the
    task's first `num_batches` training batches already sharded."""
    mesh = parallel.make_mesh()
    replicated, batch_sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    step = jax.jit(task.train_step, in_shardings=(replicated, batch_sharded),
                   out_shardings=(replicated, replicated), donate_argnums=0)
    state = parallel.replicate(task.init_state(jax.random.PRNGKey(0)), mesh)
    iterator = task.train_batches(0)
    batches = [parallel.shard_batch(next(iterator), mesh) for _ in range(num_batches)]
    return step, state, batches


def time_task_step(step, state, batches) -> dict:
    """`timing.time_steps` of a state-threading step; `result` is (state, metrics)."""
    holder = {"state": state}

    def run(batch):
        holder["state"], metrics = step(holder["state"], batch)
        return holder["state"], metrics

    return time_steps(run, batches, block=jax.block_until_ready)

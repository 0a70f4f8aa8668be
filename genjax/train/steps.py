"""Pure, module-level train and eval steps for single-network models.

`train_step` serves every model trained by one loss on one set of parameters
(the classifier, the VAE, DRAW). The caller binds the keyword dependencies with
`functools.partial` and compiles with `jax.jit` (with shardings) or `jax.pmap`
(then pass `axis_name`, and gradients, metrics and BatchNorm statistics are
averaged over it).

A loss function has the signature
    loss_fn(params, batch_stats, batch, rng) -> (loss, (metrics, new_batch_stats))
with `metrics` a flat dict of scalars.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from genjax.train.state import TrainState

Metrics = dict[str, jax.Array]


def train_step(state: TrainState, batch, *, loss_fn: Callable, axis_name: str | None = None
               ) -> tuple[TrainState, Metrics]:
    """One optimizer step on `batch`; the step's key is fold_in(state.rng, state.step)."""
    rng = state.step_rng()
    if axis_name is not None:
        # Under pmap each device sees different examples; give each its own key.
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, (metrics, batch_stats)), grads = grad_fn(state.params, state.batch_stats, batch, rng)
    if axis_name is not None:
        grads, metrics, batch_stats = jax.lax.pmean((grads, metrics, batch_stats), axis_name)
    state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    return state, metrics


def eval_step(state: TrainState, batch, *, sums_fn: Callable, axis_name: str | None = None
              ) -> Metrics:
    """Masked sums of eval metrics over a batch (see `classifier_eval_sums`)."""
    variables = {"params": state.params}
    if state.batch_stats is not None:
        variables["batch_stats"] = state.batch_stats
    sums = sums_fn(variables, batch)
    if axis_name is not None:
        sums = jax.lax.psum(sums, axis_name)
    return sums

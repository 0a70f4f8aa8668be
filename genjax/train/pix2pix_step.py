"""pix2pix training: G, D (if any) and the key in one pytree, one compiled step.

`pix2pix_train_step` makes one D update then one G update (Isola et al. 2017,
Section 3.3: "we alternate between one gradient descent step on D, then one
step on G"), composing `discriminator_loss` and `generator_loss` of
genjax/losses/pix2pix.py, where the formulas are cited:

- G runs once per step in the paper; here its output for D's update and for
  its own are two passes with the same dropout key and the same parameters,
  hence the same fakes (D's update sees them with the gradient stopped). Only
  G's own pass keeps its new BatchNorm statistics.
- With `discriminator=None` (adv_weight 0: the L1 U-Net baseline) there is no
  D update and `state.d` is None: nothing of a discriminator is built,
  checkpointed or compiled.
- Keys: fold_in(state.rng, state.step) is G's dropout key; under `pmap`
  (`axis_name`) it is folded with the device index, and gradients, metrics and
  batch statistics are averaged over the axis.

Generators and discriminators are flax modules called as `G(inputs, *, train)`
-> outputs (dropout rng "dropout") and `D(inputs, outputs, *, train)` -> logits
of any shape; `genjax.train.tasks.pix2pix.Pix2PixTask` builds them from a config.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from genjax.losses.gan import GANLoss
from genjax.losses.pix2pix import discriminator_loss, generator_loss, translate_train
from genjax.train.state import TrainState

Array = jax.Array
Metrics = dict[str, Array]


class Pix2PixState(struct.PyTreeNode):
    """Everything a pix2pix step reads and writes; `d` is None without an adversary."""

    step: Array
    g: TrainState
    d: TrainState | None
    rng: Array

    def step_rng(self) -> Array:
        return jax.random.fold_in(self.rng, self.step)


def init_pix2pix_state(rng: Array, *, generator: nn.Module, discriminator: nn.Module | None,
                       g_tx: optax.GradientTransformation,
                       d_tx: optax.GradientTransformation | None,
                       input_shape: tuple[int, ...], output_channels: int) -> Pix2PixState:
    """Initialise G (and D with its optimizer, unless `discriminator` is None)."""
    g_key, d_key, state_key = jax.random.split(rng, 3)
    inputs = jnp.zeros((1, *input_shape))
    # One compiled init each: op by op, every random draw would be compiled on its own.
    g_vars = jax.jit(functools.partial(generator.init, train=False))(g_key, inputs)
    g = TrainState.create(apply_fn=generator.apply, params=g_vars["params"], tx=g_tx,
                          batch_stats=g_vars.get("batch_stats", {}))
    d = None
    if discriminator is not None:
        outputs = jnp.zeros((1, *input_shape[:-1], output_channels))
        d_vars = jax.jit(functools.partial(discriminator.init, train=False))(d_key, inputs,
                                                                             outputs)
        d = TrainState.create(apply_fn=discriminator.apply, params=d_vars["params"], tx=d_tx,
                              batch_stats=d_vars.get("batch_stats", {}))
    return Pix2PixState(step=jnp.zeros((), jnp.int32), g=g, d=d, rng=state_key)


def pix2pix_train_step(state: Pix2PixState, batch, *, generator: nn.Module,
                       discriminator: nn.Module | None, loss: str | GANLoss,
                       adv_weight: float, l1_weight: float, axis_name: str | None = None
                       ) -> tuple[Pix2PixState, Metrics]:
    """One D update (if there is a D) then one G update; see the module docstring.

    Metrics: G's (g_loss, l1, and g_adv with an adversary) and g_grad_norm; D's
    (d_loss, d_real, d_fake, d_real_prob, d_fake_prob) and d_grad_norm.
    """
    if (discriminator is None) != (adv_weight == 0):
        raise ValueError("a discriminator is needed exactly when adv_weight > 0")
    rng = state.step_rng()
    if axis_name is not None:
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))

    def average(tree):
        return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

    metrics, d = {}, state.d
    if discriminator is not None:
        fakes, _ = translate_train(generator, state.g.params, state.g.batch_stats,
                                   batch["input"], rng)
        d_batch = {"input": batch["input"], "target": batch["target"],
                   "fake": jax.lax.stop_gradient(fakes)}
        d_objective = functools.partial(discriminator_loss, discriminator=discriminator,
                                        loss=loss)
        grads, (d_metrics, stats) = jax.grad(d_objective, has_aux=True)(
            d.params, d.batch_stats, d_batch, None)
        grads, d_metrics, stats = average((grads, d_metrics, stats))
        d = d.apply_gradients(grads=grads, batch_stats=stats)
        metrics.update(d_metrics, d_grad_norm=optax.global_norm(grads))

    g_objective = functools.partial(
        generator_loss, generator=generator, discriminator=discriminator,
        d_params=None if d is None else d.params,
        d_batch_stats=None if d is None else d.batch_stats, loss=loss,
        adv_weight=adv_weight, l1_weight=l1_weight)
    grads, (g_metrics, g_stats) = jax.grad(g_objective, has_aux=True)(
        state.g.params, state.g.batch_stats, batch, rng)
    grads, g_metrics, g_stats = average((grads, g_metrics, g_stats))
    g = state.g.apply_gradients(grads=grads, batch_stats=g_stats)
    metrics.update(g_metrics, g_grad_norm=optax.global_norm(grads))
    return state.replace(step=state.step + 1, g=g, d=d), metrics


def translate(generator: nn.Module, params, batch_stats, inputs: Array) -> Array:
    """G(inputs) in eval mode: no dropout, BatchNorm on its running averages."""
    return generator.apply({"params": params, "batch_stats": batch_stats}, inputs, train=False)

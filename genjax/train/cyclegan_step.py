"""CycleGAN training: both generators, both discriminators, both pools in one step.

`cyclegan_train_step` follows the authors' implementation's order: one update
of both generators (genjax/losses/cyclegan.py's `generator_loss`, D_A and D_B
fixed), then one update of both discriminators on the image pools' answers to
the fakes of that same forward pass (genjax/train/image_pool.py). The fakes
reach D with the gradient stopped.

- State: `g` holds {"ab": G's, "ba": F's} parameters under one optimizer, `d`
  {"a": D_A's, "b": D_B's} under another; `pool_a` keeps past F(b), `pool_b`
  past G(a). Everything is in the pytree, so a checkpoint holds the pools and a
  resumed run continues bit for bit.
- Keys: fold_in(state.rng, state.step) split three ways: the generators'
  dropout, pool A's draws and pool B's. Under `pmap` (`axis_name`) the key is
  folded with the device index (each device has its own pools), and gradients,
  metrics and batch statistics are averaged over the axis.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from genjax.losses.cyclegan import discriminator_loss, generator_loss
from genjax.losses.gan import GANLoss
from genjax.train.image_pool import ImagePool, init_pool, query_pool
from genjax.train.state import TrainState

Array = jax.Array
Metrics = dict[str, Array]
GENERATORS = ("ab", "ba")
DISCRIMINATORS = ("a", "b")


class CycleGANState(struct.PyTreeNode):
    """Everything a CycleGAN step reads and writes."""

    step: Array
    g: TrainState
    d: TrainState
    pool_a: ImagePool
    pool_b: ImagePool
    rng: Array

    def step_rng(self) -> Array:
        return jax.random.fold_in(self.rng, self.step)


def _init_pair(module: nn.Module, names, keys, *inputs):
    init = jax.jit(functools.partial(module.init, train=False))
    variables = {name: init(key, *inputs) for name, key in zip(names, keys, strict=True)}
    return ({name: v["params"] for name, v in variables.items()},
            {name: v.get("batch_stats", {}) for name, v in variables.items()})


def init_cyclegan_state(rng: Array, *, generator: nn.Module, discriminator: nn.Module,
                        g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
                        shape: tuple[int, int, int], pool_size: int) -> CycleGANState:
    """Both generators and discriminators, their optimizers and two empty pools."""
    keys = jax.random.split(rng, 5)
    images = jnp.zeros((1, *shape))
    g_params, g_stats = _init_pair(generator, GENERATORS, keys[:2], images)
    d_params, d_stats = _init_pair(discriminator, DISCRIMINATORS, keys[2:4], images)
    return CycleGANState(
        step=jnp.zeros((), jnp.int32),
        g=TrainState.create(apply_fn=generator.apply, params=g_params, tx=g_tx,
                            batch_stats=g_stats),
        d=TrainState.create(apply_fn=discriminator.apply, params=d_params, tx=d_tx,
                            batch_stats=d_stats),
        pool_a=init_pool(pool_size, shape), pool_b=init_pool(pool_size, shape), rng=keys[4])


def cyclegan_train_step(state: CycleGANState, batch, *, generator: nn.Module,
                        discriminator: nn.Module, loss: str | GANLoss, adv_weight: float,
                        cycle_weight: float, identity_weight: float,
                        axis_name: str | None = None) -> tuple[CycleGANState, Metrics]:
    """One update of both generators, then of both discriminators (module docstring).

    Metrics: the generators' (g_loss, g_adv_ab, g_adv_ba, cycle_a, cycle_b,
    identity_a, identity_b) and g_grad_norm; the discriminators' (d_loss,
    d_loss_a, d_loss_b, d_real, d_fake) and d_grad_norm.
    """
    rng = state.step_rng()
    if axis_name is not None:
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
    g_key, pool_a_key, pool_b_key = jax.random.split(rng, 3)

    def average(tree):
        return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

    g_objective = functools.partial(
        generator_loss, generator=generator, discriminator=discriminator,
        d_params=state.d.params, d_batch_stats=state.d.batch_stats, loss=loss,
        adv_weight=adv_weight, cycle_weight=cycle_weight, identity_weight=identity_weight)
    grads, (metrics, g_stats, fakes) = jax.grad(g_objective, has_aux=True)(
        state.g.params, state.g.batch_stats, batch, g_key)
    grads, metrics, g_stats = average((grads, metrics, g_stats))
    g = state.g.apply_gradients(grads=grads, batch_stats=g_stats)
    metrics = {**metrics, "g_grad_norm": optax.global_norm(grads)}

    fakes = jax.lax.stop_gradient(fakes)
    pool_a, fake_a = query_pool(state.pool_a, fakes["fake_a"], pool_a_key)
    pool_b, fake_b = query_pool(state.pool_b, fakes["fake_b"], pool_b_key)
    d_batch = {"a": batch["a"], "b": batch["b"], "fake_a": fake_a, "fake_b": fake_b}
    d_objective = functools.partial(discriminator_loss, discriminator=discriminator, loss=loss)
    grads, (d_metrics, d_stats) = jax.grad(d_objective, has_aux=True)(
        state.d.params, state.d.batch_stats, d_batch, None)
    grads, d_metrics, d_stats = average((grads, d_metrics, d_stats))
    d = state.d.apply_gradients(grads=grads, batch_stats=d_stats)
    metrics.update(d_metrics, d_grad_norm=optax.global_norm(grads))
    return state.replace(step=state.step + 1, g=g, d=d, pool_a=pool_a, pool_b=pool_b), metrics


def translate(generator: nn.Module, params, batch_stats, inputs: Array) -> Array:
    """One generator in eval mode: `params`, `batch_stats` of "ab" (A -> B) or "ba"."""
    variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
    return generator.apply(variables, inputs, train=False)

"""GAN training: both players and the EMA generator in one pytree, one compiled step.

`gan_train_step` alternates, as in Goodfellow et al. 2014 (Algorithm 1) and
Gulrajani et al. 2017 (Algorithm 1), `n_critic` discriminator updates with one
generator update. It composes the players' objectives, `discriminator_loss` and
`generator_loss` of genjax/losses/gan.py (where their formulas are cited), with
the minibatches, the random draws, the optimizers, pmap averaging and the EMA:

- The batch holds `n_critic` critic minibatches of m = batch_size / n_critic
  real images: update i sees examples i, i + n_critic, i + 2 n_critic, ...
  (fresh reals for every critic update, as in WGAN-GP; strided rather than
  contiguous slices, so that every slice stays split over a batch-sharded
  mesh). Each draws its own m latents; G then takes one step on m fresh
  latents. The critic updates are a Python loop, unrolled in the compiled
  step: under `lax.scan` (even with unroll=True, which still lowers to a while
  loop) XLA:CPU left D's kernel-gradient convolutions in their slow
  stride-dilated form, and the 28x28 DCGAN step took 6-10 s instead of 0.6 s
  (bench/gan_step.txt). Compile time grows with n_critic instead.
- G and D have their own optimizers (`TrainState.tx`), so their learning rates
  can differ (TTUR, Heusel et al. 2017).
- DiffAugment (Zhao et al. 2020), when a policy is set, transforms every image D
  sees, real and fake, in both players' steps. The gradient penalty
  (Gulrajani et al. 2017, eq. 3) and R1 (Mescheder et al. 2018, eq. 9) are
  added to D's loss when their weights are positive, on D's (augmented) inputs.
- G is in train mode everywhere (BatchNorm on batch statistics); only its own
  step keeps G's new BatchNorm statistics. D is in train mode everywhere too;
  only its own steps keep D's new `batch_stats` (BatchNorm, spectral-norm vectors).
- After G's step, g_ema_params <- EMA of G's params (Yazici et al. 2019; see
  genjax/train/ema.py) and g_ema_batch_stats <- a copy of G's statistics.

Keys: fold_in(state.rng, state.step), split into D's and G's, then by purpose
(noise, augmentation of reals and of fakes, the GP's interpolation). Noise for
a global batch is one draw constrained to `noise_sharding` (the batch
sharding), so under `jit` each device generates only its own share; under
`pmap` (`axis_name`) each device draws the global noise and keeps its rows,
so that pmap and jit see the same latents; gradients, metrics and batch
statistics are then averaged over the axis, and the per-image keys of
augmentation and GP are folded with the device index.

Class-conditional GANs (`num_classes > 0`; genjax/models/conditional.py): the
batch also holds int32 `batch["label"]`, sliced like the images, and D scores
every real with its label. Fakes are made for labels drawn uniformly from
{0, ..., num_classes - 1}: each noise key above is split into (latent key,
label key), so the labels are as reproducible as the latents and sharded like
them; D scores each fake with the label it was generated for. The gradient
penalty and R1 differentiate x -> D(x, y) with the reals' labels y (for the
GP's interpolates too: the penalty constrains each class's critic, and which
class is checked at a point is a sampling choice). A discriminator that also
returns class logits (AC-GAN, Odena et al. 2017) adds, with `ac_weight > 0`,
ac_weight (CE(reals) + CE(fakes)) to D's loss, both terms of L_C in their
eq. 2 (D maximises L_S + L_C, eq. 3), and ac_weight CE(fakes) to G's loss
(G maximises L_C - L_S). `num_classes=0` is the unconditional step, the same
computation and random draws as before conditioning existed.

Generators and discriminators are any flax modules called as `G(z, *, train)`
-> images and `D(images, *, train)` -> logits (N,), or, conditional,
`G(z, labels, *, train)` and `D(images, labels, *, train)` -> logits or
(logits, class_logits (N, num_classes)); `batch_stats` is optional.
`genjax.train.gan.GANTask` builds them, the step and the data from a config
for `fit`.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from genjax.losses.gan import (
    GANLoss,
    apply_train,
    discriminator_loss,
    generator_loss,
    get_gan_loss,
)
from genjax.train.ema import ema_update
from genjax.train.state import TrainState

Array = jax.Array
Metrics = dict[str, Array]
Params = Any


class GANState(struct.PyTreeNode):
    """Everything a GAN step reads and writes; `step` counts generator updates.

    `d.step` counts discriminator updates (n_critic per `step`).
    """

    step: Array
    g: TrainState
    d: TrainState
    g_ema_params: Params
    g_ema_batch_stats: Any
    rng: Array

    def step_rng(self) -> Array:
        return jax.random.fold_in(self.rng, self.step)


def init_gan_state(rng: Array, *, generator: nn.Module, discriminator: nn.Module,
                   g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
                   image_shape: tuple[int, ...], latent_dim: int,
                   num_classes: int = 0) -> GANState:
    """Initialise G, D and their optimizers; the EMA generator starts as a copy of G.

    `num_classes > 0`: G and D are conditional and are initialised with labels too.
    """
    g_key, d_key, state_key = jax.random.split(rng, 3)
    labels = (jnp.zeros((1,), jnp.int32),) if num_classes > 0 else ()
    # One compiled init each: op by op, every random draw would be compiled on its own.
    g_vars = jax.jit(functools.partial(generator.init, train=False))(
        g_key, jnp.zeros((1, latent_dim)), *labels)
    d_vars = jax.jit(functools.partial(discriminator.init, train=False))(
        d_key, jnp.zeros((1, *image_shape)), *labels)
    g = TrainState.create(apply_fn=generator.apply, params=g_vars["params"], tx=g_tx,
                          batch_stats=g_vars.get("batch_stats", {}))
    d = TrainState.create(apply_fn=discriminator.apply, params=d_vars["params"], tx=d_tx,
                          batch_stats=d_vars.get("batch_stats", {}))
    copy = functools.partial(jax.tree.map, jnp.copy)  # distinct buffers: fit donates the state
    return GANState(step=jnp.zeros((), jnp.int32), g=g, d=d, g_ema_params=copy(g.params),
                    g_ema_batch_stats=copy(g.batch_stats), rng=state_key)


def draw_noise(rng: Array, num: int, latent_dim: int, *, sharding=None,
               axis_name: str | None = None) -> Array:
    """N(0, I) latents (num, latent_dim), split along the batch by `sharding` if given.

    Under pmap, `num` is the per-device count: the global noise is drawn from
    the (replicated) key and this device keeps rows [index * num, (index + 1) * num).
    """
    if axis_name is None:
        z = jax.random.normal(rng, (num, latent_dim))
        return z if sharding is None else jax.lax.with_sharding_constraint(z, sharding)
    devices = jax.lax.axis_size(axis_name)
    z = jax.random.normal(rng, (num * devices, latent_dim))
    return jax.lax.dynamic_slice_in_dim(z, jax.lax.axis_index(axis_name) * num, num)


def draw_labels(rng: Array, num: int, num_classes: int, *, sharding=None,
                axis_name: str | None = None) -> Array:
    """Uniform int32 class labels (num,), sharded and split over pmap like `draw_noise`."""
    if axis_name is None:
        labels = jax.random.randint(rng, (num,), 0, num_classes, jnp.int32)
        return labels if sharding is None else jax.lax.with_sharding_constraint(labels, sharding)
    devices = jax.lax.axis_size(axis_name)
    labels = jax.random.randint(rng, (num * devices,), 0, num_classes, jnp.int32)
    return jax.lax.dynamic_slice_in_dim(labels, jax.lax.axis_index(axis_name) * num, num)


def gan_train_step(state: GANState, batch, *, generator: nn.Module, discriminator: nn.Module,
                   loss: str | GANLoss, latent_dim: int, n_critic: int = 1,
                   gp_weight: float = 0.0, r1_gamma: float = 0.0, ema_decay: float = 0.999,
                   ema_warmup: bool = False, diffaug_policy: str = "", noise_sharding=None,
                   axis_name: str | None = None, num_classes: int = 0,
                   ac_weight: float = 0.0) -> tuple[GANState, Metrics]:
    """n_critic D updates then one G update and the EMA update; see the module docstring.

    The objectives are genjax/losses/gan.py's `discriminator_loss` and
    `generator_loss`. Metrics: theirs (d_loss, gp, r1, d_real, d_fake,
    d_real_prob, d_fake_prob and, AC-GAN, d_class_loss, d_class_acc, all
    averaged over the critic updates; g_loss and, AC-GAN, g_class_loss) and the
    gradient norms d_grad_norm (averaged too) and g_grad_norm.
    """
    gan_loss = get_gan_loss(loss) if isinstance(loss, str) else loss
    real = batch["image"]
    if real.shape[0] % n_critic:
        raise ValueError(f"batch of {real.shape[0]} is not divisible by n_critic={n_critic}")
    m = real.shape[0] // n_critic

    def critic_slices(array):  # slice i: examples i, i + n_critic, ... (module docstring)
        return jnp.swapaxes(array.reshape(m, n_critic, *array.shape[1:]), 0, 1)

    real_slices = critic_slices(real)
    label_slices = critic_slices(batch["label"]) if num_classes > 0 else None
    d_key, g_key = jax.random.split(state.step_rng())

    def per_device(key):  # per-image keys differ between pmap devices
        return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))

    def latents(key):  # G's inputs for m fakes: {"z"} and, conditional, {"label"}
        if num_classes == 0:
            return {"z": draw_noise(key, m, latent_dim, sharding=noise_sharding,
                                    axis_name=axis_name)}
        z_key, label_key = jax.random.split(key)
        return {"z": draw_noise(z_key, m, latent_dim, sharding=noise_sharding,
                                axis_name=axis_name),
                "label": draw_labels(label_key, m, num_classes, sharding=noise_sharding,
                                     axis_name=axis_name)}

    def average(tree):
        return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

    d_objective = functools.partial(
        discriminator_loss, discriminator=discriminator, loss=gan_loss, gp_weight=gp_weight,
        r1_gamma=r1_gamma, ac_weight=ac_weight, diffaug_policy=diffaug_policy)

    def critic_update(d: TrainState, index: int):
        z_key, real_key, fake_key, gp_key = jax.random.split(jax.random.fold_in(d_key, index), 4)
        fakes = latents(z_key)
        inputs = (fakes["z"],) if num_classes == 0 else (fakes["z"], fakes["label"])
        fake_images, _ = apply_train(generator, state.g.params, state.g.batch_stats, *inputs)
        d_batch = {"image": real_slices[index], "fake_image": jax.lax.stop_gradient(fake_images)}
        if num_classes > 0:
            d_batch.update(label=label_slices[index], fake_label=fakes["label"])
        keys = (per_device(real_key), per_device(fake_key), per_device(gp_key))
        grads, (metrics, stats) = jax.grad(d_objective, has_aux=True)(
            d.params, d.batch_stats, d_batch, keys)
        grads, metrics, stats = average((grads, metrics, stats))
        metrics["d_grad_norm"] = optax.global_norm(grads)
        return d.apply_gradients(grads=grads, batch_stats=stats), metrics

    d, d_metrics = state.d, []
    for index in range(n_critic):  # not lax.scan: see the module docstring
        d, metrics = critic_update(d, index)
        d_metrics.append(metrics)

    z_key, aug_key = jax.random.split(g_key)
    g_objective = functools.partial(
        generator_loss, generator=generator, discriminator=discriminator, d_params=d.params,
        d_batch_stats=d.batch_stats, loss=gan_loss, ac_weight=ac_weight,
        diffaug_policy=diffaug_policy)
    grads, (g_metrics, g_stats) = jax.grad(g_objective, has_aux=True)(
        state.g.params, state.g.batch_stats, latents(z_key), per_device(aug_key))
    grads, g_metrics, g_stats = average((grads, g_metrics, g_stats))
    g = state.g.apply_gradients(grads=grads, batch_stats=g_stats)
    g_ema_params = ema_update(state.g_ema_params, g.params, ema_decay,
                              state.step if ema_warmup else None)
    state = state.replace(step=state.step + 1, g=g, d=d, g_ema_params=g_ema_params,
                          g_ema_batch_stats=g.batch_stats)
    metrics = {name: jnp.mean(jnp.stack([record[name] for record in d_metrics]))
               for name in d_metrics[0]}
    metrics.update(g_metrics, g_grad_norm=optax.global_norm(grads))
    return state, metrics

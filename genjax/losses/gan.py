"""GAN objectives as pure functions of discriminator logits, and gradient penalties.

Every loss is written as something both players *minimise*; `logits` are the
raw discriminator outputs D(x) of shape (N,), before any sigmoid.

- minimax (Goodfellow et al. 2014, eq. 1): D maximises
  E log sigmoid(D(x)) + E log(1 - sigmoid(D(G(z)))), G minimises
  E log(1 - sigmoid(D(G(z)))) = -E softplus(D(G(z))).
- nonsaturating (Goodfellow et al. 2014, Section 3): the same D, while G
  maximises E log sigmoid(D(G(z))), i.e. minimises E softplus(-D(G(z))).
- hinge (Lim & Ye 2017; Miyato et al. 2018, Section 4): D minimises
  E relu(1 - D(x)) + E relu(1 + D(G(z))), G minimises -E D(G(z)).
- wgan (Arjovsky et al. 2017, eq. 3): the critic maximises E D(x) - E D(G(z)),
  G minimises -E D(G(z)); the Lipschitz constraint comes from
  `gradient_penalty` (Gulrajani et al. 2017, eq. 3), added by the caller.
- lsgan (Mao et al. 2017, eq. 2): D minimises 1/2 E (D(x) - b)^2 +
  1/2 E (D(G(z)) - a)^2, G minimises 1/2 E (D(G(z)) - c)^2; the registry entry
  uses the 0-1 coding a = 0, b = c = 1.

- auxiliary classifier (Odena, Olah & Shlens 2017, eq. 2): the class part of
  the AC-GAN objective, L_C = E log P(C = c | X_real) + E log P(C = c | X_fake),
  as a cross-entropy both players minimise (D on reals and fakes, G on fakes):
  `class_cross_entropy`.

`gradient_penalty` and `r1_penalty` differentiate a function
`d_fn(images) -> logits (N,)` with respect to its input. They assume the logit
of each image depends on that image only (no BatchNorm in train mode in D),
so that the gradient of the summed logits gives every image's own gradient.

The players' objectives, shaped like the other families' losses
(`(params, batch_stats, batch, rng, *, ...) -> (loss, (metrics, new_batch_stats))`,
dependencies bound with functools.partial; genjax/train/gan_step.py composes
them into one step):

- `discriminator_loss`: d_loss(D(T(x)), D(T(G(z)))) + GP + R1 (+ the AC-GAN
  class terms), with T DiffAugment (Zhao et al. 2020, their Figure 4), the
  gradient penalty of Gulrajani et al. 2017 (eq. 3) on interpolates of the
  augmented images and R1 (Mescheder et al. 2018, eq. 9) on the augmented
  reals; conditional D scores reals and fakes with their labels, and the
  penalties differentiate x -> D(x, y) with the reals' labels y.
- `generator_loss`: g_loss(D(T(G(z)))) (+ ac_weight CE on the fakes), D fixed.

Both run their modules in train mode (`mutable=["batch_stats"]`): D's new
statistics are those after the reals then the fakes; G's those of its own pass.
Neither reads a pmap axis: the caller folds per-device keys in and averages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.data.augment import diff_augment

Array = jax.Array
DiscriminatorFn = Callable[[Array], Array]

GP_WEIGHT = 10.0  # lambda of Gulrajani et al. 2017, Section 4
NORM_EPSILON = 1e-12  # inside the square root, so the norm has a gradient at 0


def minimax_d_loss(real_logits: Array, fake_logits: Array) -> Array:
    """-[E log sigmoid(D(x)) + E log(1 - sigmoid(D(G(z))))]; 2 log 2 at logits 0."""
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def minimax_g_loss(fake_logits: Array) -> Array:
    """E log(1 - sigmoid(D(G(z)))) = -E softplus(D(G(z))); saturates when D wins."""
    return -jnp.mean(jax.nn.softplus(fake_logits))


def nonsaturating_g_loss(fake_logits: Array) -> Array:
    """-E log sigmoid(D(G(z))) = E softplus(-D(G(z)))."""
    return jnp.mean(jax.nn.softplus(-fake_logits))


def hinge_d_loss(real_logits: Array, fake_logits: Array) -> Array:
    """E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def generator_mean_logit_loss(fake_logits: Array) -> Array:
    """-E D(G(z)): the generator loss of both hinge and Wasserstein GANs."""
    return -jnp.mean(fake_logits)


def wasserstein_d_loss(real_logits: Array, fake_logits: Array) -> Array:
    """E D(G(z)) - E D(x): the negated Kantorovich-Rubinstein estimate."""
    return jnp.mean(fake_logits) - jnp.mean(real_logits)


def least_squares_d_loss(real_logits: Array, fake_logits: Array, *, real_label: float = 1.0,
                         fake_label: float = 0.0) -> Array:
    """1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2, with b = real_label, a = fake_label."""
    return 0.5 * (jnp.mean(jnp.square(real_logits - real_label))
                  + jnp.mean(jnp.square(fake_logits - fake_label)))


def least_squares_g_loss(fake_logits: Array, *, target: float = 1.0) -> Array:
    """1/2 E (D(G(z)) - c)^2, with c = target."""
    return 0.5 * jnp.mean(jnp.square(fake_logits - target))


def squared_gradient_norms(d_fn: DiscriminatorFn, images: Array) -> Array:
    """||grad_x D(x)||_2^2 for every image, shape (N,)."""
    grads = jax.grad(lambda x: jnp.sum(d_fn(x)))(images)
    return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1)


def gradient_penalty(d_fn: DiscriminatorFn, real_images: Array, fake_images: Array,
                     rng: jax.Array, *, weight: float = GP_WEIGHT, target: float = 1.0
                     ) -> Array:
    """weight * E (||grad D(x_hat)||_2 - target)^2 (Gulrajani et al. 2017, eq. 3).

    x_hat = eps x + (1 - eps) G(z) with eps ~ U[0, 1] drawn once per image.
    Gradients flow to D's parameters (through d_fn) and to both image batches;
    stop them at the caller if G should not see the penalty.
    """
    eps = jax.random.uniform(rng, real_images.shape[:1], dtype=real_images.dtype)
    eps = eps.reshape((real_images.shape[0],) + (1,) * (real_images.ndim - 1))
    interpolates = eps * real_images + (1.0 - eps) * fake_images
    norms = jnp.sqrt(squared_gradient_norms(d_fn, interpolates) + NORM_EPSILON)
    return weight * jnp.mean(jnp.square(norms - target))


def r1_penalty(d_fn: DiscriminatorFn, real_images: Array, *, gamma: float = 10.0) -> Array:
    """gamma / 2 * E ||grad D(x)||^2 on real data (Mescheder et al. 2018, eq. 9)."""
    return 0.5 * gamma * jnp.mean(squared_gradient_norms(d_fn, real_images))


def class_cross_entropy(class_logits: Array, labels: Array) -> Array:
    """-E log softmax(class_logits)[label]: one term of -L_C (Odena et al. 2017, eq. 2)."""
    log_probs = jax.nn.log_softmax(class_logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))


def class_accuracy(class_logits: Array, labels: Array) -> Array:
    """The fraction of rows whose largest class logit is the label's."""
    return jnp.mean(jnp.argmax(class_logits, axis=-1) == labels)


class GANLoss(NamedTuple):
    """The two halves of a GAN objective.

    d_loss(real_logits, fake_logits) -> scalar, minimised over D's parameters;
    g_loss(fake_logits) -> scalar, minimised over G's parameters. They are
    separate because the steps differentiate them with respect to different
    players (and D's step holds the fake images fixed).
    """

    d_loss: Callable[[Array, Array], Array]
    g_loss: Callable[[Array], Array]


GAN_LOSSES = {
    "minimax": GANLoss(minimax_d_loss, minimax_g_loss),
    "nonsaturating": GANLoss(minimax_d_loss, nonsaturating_g_loss),
    "hinge": GANLoss(hinge_d_loss, generator_mean_logit_loss),
    "wgan": GANLoss(wasserstein_d_loss, generator_mean_logit_loss),
    "lsgan": GANLoss(least_squares_d_loss, least_squares_g_loss),
}


def get_gan_loss(name: str) -> GANLoss:
    """GAN_LOSSES[name], with a message listing the choices if it is unknown."""
    if name not in GAN_LOSSES:
        raise ValueError(f"Unknown GAN loss {name!r}; choose one of {sorted(GAN_LOSSES)}.")
    return GAN_LOSSES[name]


def as_gan_loss(loss: str | GANLoss) -> GANLoss:
    """A `GANLoss` given by name (a key of `GAN_LOSSES`) or as itself."""
    return get_gan_loss(loss) if isinstance(loss, str) else loss


def apply_train(module: nn.Module, params, batch_stats, *inputs) -> tuple[Any, Any]:
    """module(*inputs, train=True) -> (outputs, new batch_stats); {} for stateless modules."""
    outputs, updates = module.apply({"params": params, "batch_stats": batch_stats}, *inputs,
                                    train=True, mutable=["batch_stats"])
    return outputs, updates["batch_stats"]


def discriminate(discriminator: nn.Module, params, batch_stats, images: Array,
                 labels: Array | None = None, *, ac_weight: float = 0.0
                 ) -> tuple[Array, Array | None, Any]:
    """D(images[, labels]) in train mode -> (logits, class logits or None, new batch_stats)."""
    inputs = (images,) if labels is None else (images, labels)
    outputs, stats = apply_train(discriminator, params, batch_stats, *inputs)
    logits, class_logits = outputs if isinstance(outputs, tuple) else (outputs, None)
    if ac_weight > 0 and class_logits is None:
        raise ValueError("ac_weight > 0 needs a discriminator that returns class logits")
    return logits, class_logits, stats


def _augment(images: Array, rng: Array, policy: str) -> Array:
    return diff_augment(images, rng, policy) if policy else images


def discriminator_loss(params, batch_stats, batch, rng, *, discriminator: nn.Module,
                       loss: str | GANLoss, gp_weight: float = 0.0, r1_gamma: float = 0.0,
                       ac_weight: float = 0.0, diffaug_policy: str = ""):
    """D's objective on reals `batch["image"]` and fixed fakes `batch["fake_image"]`.

    Conditional D: `batch["label"]` and `batch["fake_label"]` are the classes
    to score them with. `rng`: three keys, for the reals' augmentation, the
    fakes' and the GP's interpolation. Returns `(loss, (metrics, batch_stats))`:
    loss = d_loss + gp + r1 (+ d_class_loss); metrics d_loss, gp, r1 (weighted),
    d_real / d_fake (mean logits), d_real_prob / d_fake_prob (mean sigmoids),
    and, if D returns class logits (AC-GAN), d_class_loss = ac_weight (CE(reals)
    + CE(fakes)), both terms of L_C (Odena et al. 2017, eq. 2), and d_class_acc
    (on the reals).
    """
    real_key, fake_key, gp_key = rng
    real_labels, fake_labels = batch.get("label"), batch.get("fake_label")
    real_in = _augment(batch["image"], real_key, diffaug_policy)
    fake_in = _augment(batch["fake_image"], fake_key, diffaug_policy)
    real_logits, real_class, stats = discriminate(discriminator, params, batch_stats, real_in,
                                                  real_labels, ac_weight=ac_weight)
    fake_logits, fake_class, stats = discriminate(discriminator, params, stats, fake_in,
                                                  fake_labels, ac_weight=ac_weight)

    def d_fn(images):  # per-image logits for the penalties; state changes dropped
        return discriminate(discriminator, params, batch_stats, images, real_labels,
                            ac_weight=ac_weight)[0]

    zero = jnp.zeros((), real_logits.dtype)
    gp = (gradient_penalty(d_fn, real_in, fake_in, gp_key, weight=gp_weight)
          if gp_weight > 0 else zero)
    r1 = r1_penalty(d_fn, real_in, gamma=r1_gamma) if r1_gamma > 0 else zero
    d_loss = as_gan_loss(loss).d_loss(real_logits, fake_logits)
    metrics = {"d_loss": d_loss, "gp": gp, "r1": r1,
               "d_real": jnp.mean(real_logits), "d_fake": jnp.mean(fake_logits),
               "d_real_prob": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake_prob": jnp.mean(jax.nn.sigmoid(fake_logits))}
    total = d_loss + gp + r1
    if real_class is not None:
        d_class_loss = ac_weight * (class_cross_entropy(real_class, real_labels)
                                    + class_cross_entropy(fake_class, fake_labels))
        metrics.update(d_class_loss=d_class_loss,
                       d_class_acc=class_accuracy(real_class, real_labels))
        total = total + d_class_loss
    return total, (metrics, stats)


def generator_loss(params, batch_stats, batch, rng, *, generator: nn.Module,
                   discriminator: nn.Module, d_params, d_batch_stats, loss: str | GANLoss,
                   ac_weight: float = 0.0, diffaug_policy: str = ""):
    """G's objective on latents `batch["z"]` (conditional: classes `batch["label"]`).

    D is fixed at (d_params, d_batch_stats) and its new statistics are dropped;
    `rng` keys the fakes' augmentation. Returns `(loss, (metrics, batch_stats))`
    with G's new statistics: loss = g_loss (+ g_class_loss); metrics g_loss and,
    if D returns class logits, g_class_loss = ac_weight CE(fakes) (G maximises
    L_C - L_S, Odena et al. 2017, eq. 3).
    """
    labels = batch.get("label")
    inputs = (batch["z"],) if labels is None else (batch["z"], labels)
    images, stats = apply_train(generator, params, batch_stats, *inputs)
    fake_logits, fake_class, _ = discriminate(discriminator, d_params, d_batch_stats,
                                              _augment(images, rng, diffaug_policy), labels,
                                              ac_weight=ac_weight)
    g_loss = as_gan_loss(loss).g_loss(fake_logits)
    if fake_class is None:
        return g_loss, ({"g_loss": g_loss}, stats)
    g_class_loss = ac_weight * class_cross_entropy(fake_class, labels)
    return g_loss + g_class_loss, ({"g_loss": g_loss, "g_class_loss": g_class_loss}, stats)

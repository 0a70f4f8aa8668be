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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

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

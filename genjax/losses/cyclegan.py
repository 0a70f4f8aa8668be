"""CycleGAN's objectives (Zhu, Park, Isola & Efros 2017).

G: A -> B and F: B -> A, with D_B judging B images and D_A judging A images:

- adversarial (their eq. 1, in the least-squares form of their Section 4, after
  Mao et al. 2017): D minimises 1/2 E (D(y) - 1)^2 + 1/2 E D(G(x))^2, which is
  genjax/losses/gan.py's `lsgan` d_loss (the authors' implementation also halves
  D's objective); G minimises E (D(G(x)) - 1)^2, which is 2 x that module's
  lsgan g_loss, hence the configs' `loss.adv_weight = 2`. Any loss of
  `GAN_LOSSES` but wgan can stand in, as for pix2pix.
- cycle consistency (their eq. 2): E |F(G(a)) - a|_1 + E |G(F(b)) - b|_1, here
  mean absolute errors per pixel on [-1, 1] images, weighted by lambda = 10
  (their Section 4).
- identity (their Section 5.2, after Taigman et al. 2017): E |G(b) - b|_1 +
  E |F(a) - a|_1, weighted 0.5 lambda in the authors' implementation.

The full objective is their eq. 3. Both generators' parameters are one pytree
{"ab": G's, "ba": F's} and both discriminators' {"a": D_A's, "b": D_B's}, each
pair under one optimizer as in the authors' implementation. Shaped like the
other families' losses, `(params, batch_stats, batch, rng, *, ...) -> (loss,
aux)`; genjax/train/cyclegan_step.py composes them into one step. Batches hold
"a" and "b" (N, H, W, C) in [-1, 1]; D's also the pool's fakes "fake_a" and
"fake_b".
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.losses.gan import GANLoss, as_gan_loss

Array = jax.Array

CYCLE_WEIGHT = 10.0  # lambda, Zhu et al. 2017, Section 4
IDENTITY_WEIGHT = 0.5 * CYCLE_WEIGHT  # the authors' implementation: lambda_identity = 0.5
ADV_WEIGHT = 2.0  # E (D - 1)^2 = 2 x genjax's lsgan g_loss


def apply_network(module: nn.Module, params, batch_stats, x: Array, rng: Array | None = None
                  ) -> tuple[Array, dict]:
    """module(x, train=True) -> (output, new batch_stats); stateless modules keep {}."""
    rngs = {} if rng is None else {"dropout": rng}
    if not batch_stats:
        return module.apply({"params": params}, x, train=True, rngs=rngs), batch_stats
    y, updates = module.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                              mutable=["batch_stats"], rngs=rngs)
    return y, updates["batch_stats"]


def mean_abs_error(x: Array, y: Array) -> Array:
    """E |x - y| over pixels and channels: the cycle and identity terms."""
    return jnp.mean(jnp.abs(x - y))


def generator_loss(params, batch_stats, batch, rng, *, generator: nn.Module,
                   discriminator: nn.Module, d_params, d_batch_stats, loss: str | GANLoss,
                   adv_weight: float = ADV_WEIGHT, cycle_weight: float = CYCLE_WEIGHT,
                   identity_weight: float = IDENTITY_WEIGHT):
    """Both generators' objective (their eq. 3 plus identity), D_A and D_B fixed.

    Returns (total, (metrics, new batch_stats, {"fake_a": F(b), "fake_b": G(a)})).
    `rng` keys the generators' dropout (a U-Net's; the ResNet has none). The
    discriminators' new statistics are dropped. Metrics: g_loss (the total),
    g_adv_ab, g_adv_ba (unweighted), cycle_a = |F(G(a)) - a|, cycle_b, and with
    identity_weight > 0 identity_a = |F(a) - a|, identity_b = |G(b) - b|.
    """
    gan = as_gan_loss(loss)
    keys = iter(jax.random.split(rng, 6))
    stats = dict(batch_stats)

    def run(direction, x):
        y, stats[direction] = apply_network(generator, params[direction], stats[direction], x,
                                            next(keys))
        return y

    def judge(domain, x):
        return apply_network(discriminator, d_params[domain], d_batch_stats[domain], x)[0]

    a, b = batch["a"], batch["b"]
    fake_b = run("ab", a)
    fake_a = run("ba", b)
    metrics = {"cycle_a": mean_abs_error(run("ba", fake_b), a),
               "cycle_b": mean_abs_error(run("ab", fake_a), b),
               "g_adv_ab": gan.g_loss(judge("b", fake_b)),
               "g_adv_ba": gan.g_loss(judge("a", fake_a))}
    total = (adv_weight * (metrics["g_adv_ab"] + metrics["g_adv_ba"])
             + cycle_weight * (metrics["cycle_a"] + metrics["cycle_b"]))
    if identity_weight > 0:
        metrics["identity_a"] = mean_abs_error(run("ba", a), a)
        metrics["identity_b"] = mean_abs_error(run("ab", b), b)
        total = total + identity_weight * (metrics["identity_a"] + metrics["identity_b"])
    metrics["g_loss"] = total
    return total, (metrics, stats, {"fake_a": fake_a, "fake_b": fake_b})


def discriminator_loss(params, batch_stats, batch, rng, *, discriminator: nn.Module,
                       loss: str | GANLoss):
    """d_loss(D_A(a), D_A(fake_a)) + d_loss(D_B(b), D_B(fake_b)), the fakes held fixed.

    `rng` is unused (D has no noise). Returns (total, (metrics, new batch_stats)):
    d_loss (the total), d_loss_a, d_loss_b, and d_real, d_fake (mean logits over
    both discriminators' patches).
    """
    del rng
    gan = as_gan_loss(loss)
    stats, metrics, real_means, fake_means = dict(batch_stats), {}, [], []
    for domain in ("a", "b"):
        real, stats[domain] = apply_network(discriminator, params[domain], stats[domain],
                                            batch[domain])
        fake, stats[domain] = apply_network(discriminator, params[domain], stats[domain],
                                            batch[f"fake_{domain}"])
        metrics[f"d_loss_{domain}"] = gan.d_loss(real, fake)
        real_means.append(jnp.mean(real))
        fake_means.append(jnp.mean(fake))
    metrics.update(d_loss=metrics["d_loss_a"] + metrics["d_loss_b"],
                   d_real=sum(real_means) / 2, d_fake=sum(fake_means) / 2)
    return metrics["d_loss"], (metrics, stats)

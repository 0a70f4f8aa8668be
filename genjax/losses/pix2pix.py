"""pix2pix's objectives: a conditional GAN plus L1 (Isola, Zhu, Zhou & Efros 2017).

With x the input, y the target and G(x) the output (G's only noise is dropout):

- conditional GAN (their eq. 1): D scores the pair (x, y) as real and
  (x, G(x)) as fake, every logit of its patch grid (PatchGAN) counting as one
  term of the means in genjax/losses/gan.py's `GAN_LOSSES`. D's loss is halved
  ("we divide the objective by 2 while optimizing D", their Section 3.3); G
  takes the non-saturating form by default (same section: maximise
  log D(x, G(x))).
- L1 (their eq. 3): E |y - G(x)|_1, here the mean absolute error per pixel
  (images in [-1, 1]).
- G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G) (their eq. 4), lambda = 100
  in the paper's experiments. G minimises
  adv_weight * g_loss(D(x, G(x))) + l1_weight * L1; with adv_weight = 0 it is
  the L1-only U-Net baseline of their Table 1, and D is never built.

Shaped like the other families' losses, `(params, batch_stats, batch, rng, *,
...) -> (loss, (metrics, new_batch_stats))`; genjax/train/pix2pix_step.py
composes them into one step. Batches hold "input" (N, H, W, C_in) and
"target" (N, H, W, C_out) in [-1, 1]; D's also the fixed fakes "fake".
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.losses.gan import GANLoss, apply_train, as_gan_loss

Array = jax.Array

L1_WEIGHT = 100.0  # lambda of Isola et al. 2017's experiments (eq. 4)
D_SCALE = 0.5  # D's objective halved, Isola et al. 2017, Section 3.3


def translate_train(generator: nn.Module, params, batch_stats, inputs: Array, rng: Array
                    ) -> tuple[Array, dict]:
    """G(inputs) in train mode (dropout keyed by `rng`) -> (outputs, new batch_stats)."""
    outputs, updates = generator.apply({"params": params, "batch_stats": batch_stats}, inputs,
                                       train=True, mutable=["batch_stats"],
                                       rngs={"dropout": rng})
    return outputs, updates["batch_stats"]


def mean_abs_error(outputs: Array, targets: Array) -> Array:
    """E |y - G(x)| over pixels and channels: the L1 term of Isola et al. 2017, eq. 3."""
    return jnp.mean(jnp.abs(outputs - targets))


def discriminator_loss(params, batch_stats, batch, rng, *, discriminator: nn.Module,
                       loss: str | GANLoss, scale: float = D_SCALE):
    """scale * d_loss(D(x, y), D(x, fake)) with the fakes `batch["fake"]` held fixed.

    `rng` is unused (D has no noise). D's new statistics are those after the
    reals then the fakes. Metrics: d_loss (scaled), d_real and d_fake (mean
    logits over the patches), d_real_prob and d_fake_prob (mean sigmoids).
    """
    del rng
    real_logits, stats = apply_train(discriminator, params, batch_stats, batch["input"],
                                     batch["target"])
    fake_logits, stats = apply_train(discriminator, params, stats, batch["input"],
                                     batch["fake"])
    d_loss = scale * as_gan_loss(loss).d_loss(real_logits, fake_logits)
    metrics = {"d_loss": d_loss, "d_real": jnp.mean(real_logits),
               "d_fake": jnp.mean(fake_logits),
               "d_real_prob": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake_prob": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return d_loss, (metrics, stats)


def generator_loss(params, batch_stats, batch, rng, *, generator: nn.Module,
                   discriminator: nn.Module | None, d_params, d_batch_stats,
                   loss: str | GANLoss, adv_weight: float, l1_weight: float = L1_WEIGHT):
    """adv_weight * g_loss(D(x, G(x))) + l1_weight * L1(G(x), y), D fixed (eq. 4).

    `rng` keys G's dropout. `adv_weight = 0` needs no discriminator (pass None).
    D's new statistics are dropped. Metrics: g_loss (the total), l1 (unweighted)
    and, adversarial, g_adv (unweighted).
    """
    outputs, stats = translate_train(generator, params, batch_stats, batch["input"], rng)
    l1 = mean_abs_error(outputs, batch["target"])
    total, metrics = l1_weight * l1, {"l1": l1}
    if adv_weight > 0:
        fake_logits, _ = apply_train(discriminator, d_params, d_batch_stats, batch["input"],
                                     outputs)
        g_adv = as_gan_loss(loss).g_loss(fake_logits)
        total = total + adv_weight * g_adv
        metrics["g_adv"] = g_adv
    metrics["g_loss"] = total
    return total, (metrics, stats)

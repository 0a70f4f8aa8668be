"""The VAE objective: the ELBO with reparameterisation, beta, free bits and KL warm-up.

For an encoder q(z|x) = N(mu, diag(sigma^2)), prior p(z) = N(0, I) and a
decoder likelihood p(x|z) (`genjax.losses.likelihoods`), the ELBO is
(Kingma & Welling 2013, eq. 10)

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)),

with z = mu + sigma * eps, eps ~ N(0, I), one sample per example, and the KL
in closed form (their appendix B):

    KL = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2).

The training loss is the negative of

    E_q[log p(x|z)] - beta_t * KL_fb,

where beta is the beta-VAE weight (Higgins et al. 2017, eq. 4; beta = 1 is
the ELBO), beta_t = beta * min(1, step / kl_warmup_steps) is the linear KL
warm-up (Bowman et al. 2016, Section 3.1; Sønderby et al. 2016, Section 2.3),
and KL_fb = sum_j max(free_bits, mean over the batch of KL_j) is "free bits"
(Kingma et al. 2016, IAF paper, appendix C.8), `free_bits` nats per latent
dimension; with free_bits = 0 it is the plain batch-mean KL. Whatever the
options, the metrics report the true ELBO (beta = 1, no free bits).

The step for warm-up: `genjax.train.steps.train_step` calls the loss without
the step, so the VAE's train step (`genjax.train.tasks.vae.vae_train_step`) binds
`step=state.step` before calling it; `step=None` means the end of warm-up.

Evaluation noise is a pure function of (seed, example index, sample index)
(`example_noise`), so eval metrics and importance-weighted bounds do not
depend on the batch size, the chunking of samples or the number of devices.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.losses.likelihoods import Likelihood

Array = jax.Array
LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mean: Array, log_var: Array) -> Array:
    """KL(N(mean, exp(log_var)) || N(0, 1)) per dimension (same shape as `mean`), nats."""
    return -0.5 * (1.0 + log_var - jnp.square(mean) - jnp.exp(log_var))


def diagonal_gaussian_log_density(z: Array, mean: Array | float = 0.0,
                                  log_var: Array | float = 0.0) -> Array:
    """log N(z; mean, diag(exp(log_var))), summed over the last axis."""
    return jnp.sum(-0.5 * (LOG_2PI + log_var + jnp.square(z - mean) * jnp.exp(-log_var)),
                   axis=-1)


def kl_weight(beta: float, kl_warmup_steps: int, step) -> Array | float:
    """beta * min(1, step / kl_warmup_steps); beta when warm-up is off or step is None."""
    if kl_warmup_steps <= 0 or step is None:
        return beta
    return beta * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / kl_warmup_steps)


def example_noise(seed: int, example_index: Array, sample_index: Array, latent_dim: int
                  ) -> Array:
    """eps (B, S, latent_dim): eps[b, s] ~ N(0, I) keyed by (seed, example b, sample s)."""
    root = jax.random.PRNGKey(seed)

    def one(i, j):
        key = jax.random.fold_in(jax.random.fold_in(root, i), j)
        return jax.random.normal(key, (latent_dim,))

    return jax.vmap(lambda i: jax.vmap(lambda j: one(i, j))(sample_index))(example_index)


def _metrics(recon_log_prob: Array, kl: Array, likelihood: Likelihood, dims: int) -> dict:
    """Per-example ELBO terms (N,) -> the metric dict's per-example values."""
    elbo = recon_log_prob - kl
    metrics = {"elbo": elbo, "kl": kl, "recon": -recon_log_prob}
    if likelihood.bits_per_dim:
        metrics["bits_per_dim"] = -elbo / (dims * math.log(2.0))
    return metrics


def elbo_loss(params, batch_stats, batch, rng, *, model: nn.Module, likelihood: Likelihood,
              beta: float = 1.0, free_bits: float = 0.0, kl_warmup_steps: int = 0, step=None):
    """The negative (beta-weighted, free-bits) ELBO of a training batch.

    Returns `(loss, (metrics, batch_stats))` with `batch_stats` passed through
    (the VAE has none). Metrics, batch means: `loss`; `elbo` (nats per example,
    the true ELBO); `kl` (nats); `recon` = -E_q log p(x|z) (nats); `beta` (the
    weight used this step); and `bits_per_dim` = -elbo / (D ln 2) for 8-bit
    likelihoods (an upper bound on the negative log-likelihood in bits/dim).
    """
    images = batch["image"]
    latent_dim = model.latent_dim
    noise = jax.random.normal(rng, (images.shape[0] * latent_dim,)).reshape(-1, latent_dim)
    mean, log_var, _, raw = model.apply({"params": params}, likelihood.to_unit(images), noise)
    recon_log_prob = likelihood.log_prob(images, raw)
    kl_per_dim = gaussian_kl(mean, log_var)
    kl_term = jnp.sum(jnp.maximum(free_bits, jnp.mean(kl_per_dim, axis=0)))
    weight = kl_weight(beta, kl_warmup_steps, step)
    loss = -jnp.mean(recon_log_prob) + weight * kl_term
    per_example = _metrics(recon_log_prob, jnp.sum(kl_per_dim, axis=-1), likelihood,
                           math.prod(images.shape[1:]))
    metrics = {"loss": loss, "beta": jnp.asarray(weight, jnp.float32),
               **{k: jnp.mean(v) for k, v in per_example.items()}}
    return loss, (metrics, batch_stats)


def elbo_eval_sums(variables, batch, *, model: nn.Module, likelihood: Likelihood, seed: int
                   ) -> dict[str, Array]:
    """Masked sums of the single-sample ELBO terms over an eval batch.

    `batch` holds `image`, `mask` and `index` (each example's index in its
    split, which keys its noise). Returns sums of `elbo`, `kl`, `recon`
    (and `bits_per_dim`) and `count`; divide by `count` at the end.
    """
    images = batch["image"]
    noise = example_noise(seed, batch["index"], jnp.zeros((1,), jnp.int32), model.latent_dim)
    mean, log_var, _, raw = model.apply({"params": variables["params"]},
                                        likelihood.to_unit(images), noise[:, 0])
    kl = jnp.sum(gaussian_kl(mean, log_var), axis=-1)
    per_example = _metrics(likelihood.log_prob(images, raw), kl, likelihood,
                           math.prod(images.shape[1:]))
    mask = batch["mask"]
    sums = {k: jnp.sum(jnp.where(mask, v, 0.0)) for k, v in per_example.items()}
    sums["count"] = jnp.sum(mask.astype(jnp.float32))
    return sums

"""DRAW's objective and its importance weights, in nats.

Gregor et al. 2015, Section 2.2: the loss is the expected negative
log-likelihood of x under the final canvas plus the latent loss

    L^x = -log D(x | c_T)                                  (9)
    L^z = sum_{t=1}^T KL(Q(Z_t | h_enc_t) || N(0, I))      (10)
        = 1/2 (sum_t mu_t^2 + sigma_t^2 - log sigma_t^2) - T/2   (11)
    L   = < L^x + L^z >_{z ~ Q}                            (12)

with D Bernoulli on binarised data (`bernoulli_log_prob`) and one sample of
z_1:T per example; -L is the ELBO, reported as `elbo` (with `recon` = L^x and
`kl` = L^z).

For the importance-weighted bound (Burda et al. 2015, eq. 8;
`genjax.losses.iwae.chunked_log_mean_exp`) a sample of z_1:T is drawn
sequentially, z_t = mu_t + sigma_t eps_t with mu_t, sigma_t depending on
z_<t through the decoder state, so its log-weight is

    log w = log D(x | c_T) + sum_t [log N(z_t; 0, I) - log N(z_t; mu_t, sigma_t)],

with log N(z_t; mu_t, sigma_t) = log N(eps_t; 0, I) - sum log sigma_t exactly.
Evaluation noise is keyed by (seed, example, sample) through
`genjax.losses.vae.example_noise` (T * latent_dim numbers per sample), as for
the VAE, so the two models' bounds are computed the same way on the same data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genjax.losses.iwae import chunked_log_mean_exp
from genjax.losses.likelihoods import bernoulli_log_prob
from genjax.losses.vae import diagonal_gaussian_log_density, example_noise, gaussian_kl

Array = jax.Array


def draw_terms(params, images: Array, noise: Array, *, model) -> dict[str, Array]:
    """Per-example (B,) `recon` = L^x, `kl` = L^z (eq. 11), `elbo` and the IWAE `log_weight`."""
    outputs = model.apply({"params": params}, images, noise)
    log_px = bernoulli_log_prob(images, outputs["logits"])
    mu, log_sigma = outputs["mu"], outputs["log_sigma"]
    kl = jnp.sum(gaussian_kl(mu, 2.0 * log_sigma), axis=(0, 2))
    z = mu + jnp.exp(log_sigma) * noise
    log_q = diagonal_gaussian_log_density(noise) - jnp.sum(log_sigma, axis=-1)  # (T, B)
    log_weight = log_px + jnp.sum(diagonal_gaussian_log_density(z) - log_q, axis=0)
    return {"recon": -log_px, "kl": kl, "elbo": log_px - kl, "log_weight": log_weight}


def draw_loss(params, batch_stats, batch, rng, *, model):
    """-ELBO (eq. 12) of a training batch: `(loss, (metrics, batch_stats))`.

    Metrics, batch means in nats: `loss`, `elbo`, `recon` (L^x), `kl` (L^z).
    """
    images = batch["image"]
    noise = jax.random.normal(rng, (model.num_steps, images.shape[0], model.latent_dim))
    terms = draw_terms(params, images, noise, model=model)
    loss = -jnp.mean(terms["elbo"])
    metrics = {"loss": loss, **{k: jnp.mean(terms[k]) for k in ("elbo", "recon", "kl")}}
    return loss, (metrics, batch_stats)


def eval_noise(seed: int, example_index: Array, sample_index: Array, *, model) -> Array:
    """(T, B * S, latent_dim) standard normal noise keyed by (seed, example b, sample s)."""
    steps, latent_dim = model.num_steps, model.latent_dim
    noise = example_noise(seed, example_index, sample_index, steps * latent_dim)  # (B, S, T L)
    noise = noise.reshape(*noise.shape[:2], steps, latent_dim)
    return jnp.moveaxis(noise, 2, 0).reshape(steps, -1, latent_dim)


def _masked_sums(per_example: dict[str, Array], mask: Array) -> dict[str, Array]:
    sums = {k: jnp.sum(jnp.where(mask, v, 0.0)) for k, v in per_example.items()}
    sums["count"] = jnp.sum(mask.astype(jnp.float32))
    return sums


def draw_eval_sums(variables, batch, *, model, seed: int) -> dict[str, Array]:
    """Masked sums of `elbo`, `recon`, `kl` (one sample, noise keyed by example) and `count`."""
    noise = eval_noise(seed, batch["index"], jnp.zeros((1,), jnp.int32), model=model)
    terms = draw_terms(variables["params"], batch["image"], noise, model=model)
    return _masked_sums({k: terms[k] for k in ("elbo", "recon", "kl")}, batch["mask"])


def draw_iwae_terms(params, images: Array, example_index: Array, *, model, num_samples: int,
                    chunk_size: int, seed: int) -> tuple[Array, Array]:
    """(L_k, log w_0) per example (B,): the bound and its first sample's log-weight alone."""
    batch = images.shape[0]

    def log_weights(sample_index):
        samples = sample_index.shape[0]
        repeated = jnp.repeat(images, samples, axis=0)  # example-major, as the noise
        noise = eval_noise(seed, example_index, sample_index, model=model)
        return draw_terms(params, repeated, noise, model=model)["log_weight"].reshape(batch,
                                                                                      samples)

    return chunked_log_mean_exp(log_weights, num_samples=num_samples, chunk_size=chunk_size)


def draw_iwae_sums(variables, batch, *, model, num_samples: int, chunk_size: int, seed: int
                   ) -> dict[str, Array]:
    """Masked sums of L_k (`log_likelihood`), of L_1 with the first sample (`elbo`), `count`.

    The same keys as `genjax.eval.likelihood.iwae_sums`, for `split_sums`.
    """
    bound, first = draw_iwae_terms(variables["params"], batch["image"], batch["index"],
                                   model=model, num_samples=num_samples, chunk_size=chunk_size,
                                   seed=seed)
    return _masked_sums({"log_likelihood": bound, "elbo": first}, batch["mask"])

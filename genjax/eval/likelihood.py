"""Likelihood bounds and code lengths of a VAE over a whole split.

Importance-weighted bound (Burda, Grosse & Salakhutdinov 2015, eq. 8):

    L_k(x) = log (1/k) sum_{i=1}^k p(x, z_i) / q(z_i|x),   z_i ~ q(z|x) independently,

a lower bound on log p(x) that does not decrease with k (their Theorem 1) and
equals the single-sample ELBO estimate at k = 1. With
log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) it is computed in chunks of
`chunk_size` samples by `lax.scan`, keeping a running logsumexp, so memory
grows with the chunk, not with k: k = 5000 costs 5000 decoder passes per image
but only chunk_size of them at a time. Sample i of example n uses noise keyed
by (seed, n, i) (`genjax.losses.vae.example_noise`), so the result does not
depend on the chunking, the batch size or the device count; binarised test
data is likewise binarised per example (`genjax.data.eval_iterator`).

Units: `nll_nats` = -mean L_k, an upper bound on the negative log-likelihood
per example. For 8-bit data with a discrete likelihood (the discretised
logistic) it is also reported as bits/dim = nll_nats / (D ln 2), the usual
comparison unit. Binarised data is reported in nats only (the MNIST
literature's unit; bits per binary pixel compare with nothing).

Code lengths (`compression_sums`): for an image x with posterior N(mu, sigma^2)
- bits-back: the expected code length of the latent is KL(q || p) / ln 2 bits
  (Hinton & van Camp 1993; Townsend, Bird & Barber 2019, BB-ANS), and that of
  the whole image -ELBO / ln 2;
- the quantised mean: mu rounded to a grid of step delta and coded under the
  prior discretised on that grid costs sum_j -log2(N(mu_hat_j; 0, 1) delta) bits
  (accurate for delta much smaller than 1); decoding mu_hat gives the lossy
  reconstruction whose error is reported (MSE and PSNR in [0, 1] intensities),
  and -log2 p(x | mu_hat) is the residual a lossless coder would add.
Both are compared with the raw image: D log2(levels) bits (8 per pixel for
8-bit and [0,1] data, 1 for binarised).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax import data, parallel
from genjax.losses.iwae import chunked_log_mean_exp
from genjax.losses.likelihoods import Likelihood
from genjax.losses.vae import diagonal_gaussian_log_density, example_noise, gaussian_kl

Array = jax.Array
LN2 = math.log(2.0)


def iwae_bound(params, images: Array, example_index: Array, *, model: nn.Module,
               likelihood: Likelihood, num_samples: int, chunk_size: int, seed: int) -> Array:
    """L_k(x) per example (B,), in nats, with k = num_samples drawn chunk_size at a time."""
    return _iwae_terms(params, images, example_index, model=model, likelihood=likelihood,
                       num_samples=num_samples, chunk_size=chunk_size, seed=seed)[0]


def _iwae_terms(params, images, example_index, *, model, likelihood, num_samples, chunk_size,
                seed) -> tuple[Array, Array]:
    """(L_k, L_1): the bound and the log-weight of sample 0 alone, each (B,)."""
    batch = images.shape[0]
    latent_dim = model.latent_dim
    chunk_size = min(chunk_size, num_samples)
    mean, log_var = model.apply({"params": params}, likelihood.to_unit(images),
                                method=model.encode)
    repeated = jnp.broadcast_to(images[:, None], (batch, chunk_size, *images.shape[1:]))
    repeated = repeated.reshape(batch * chunk_size, *images.shape[1:])

    def log_weights(sample_index):
        noise = example_noise(seed, example_index, sample_index, latent_dim)  # (B, S, L)
        z = mean[:, None] + jnp.exp(0.5 * log_var)[:, None] * noise
        raw = model.apply({"params": params}, z.reshape(-1, latent_dim), method=model.decode)
        log_px = likelihood.log_prob(repeated, raw).reshape(batch, chunk_size)
        # log q(z|x) at z = mu + sigma eps is log N(eps; 0, I) - sum log sigma: exact, no division.
        log_qz = diagonal_gaussian_log_density(noise) - 0.5 * jnp.sum(log_var, -1)[:, None]
        return log_px + diagonal_gaussian_log_density(z) - log_qz

    return chunked_log_mean_exp(log_weights, num_samples=num_samples, chunk_size=chunk_size)


def iwae_sums(variables, batch, *, model: nn.Module, likelihood: Likelihood, num_samples: int,
              chunk_size: int, seed: int) -> dict[str, Array]:
    """Masked sums over an eval batch (`image`, `mask`, `index`) of L_k and of L_1.

    L_1 is the single-sample ELBO estimate of the same examples with the first
    of the same samples: the baseline that L_k improves on.
    """
    bound, first = _iwae_terms(variables["params"], batch["image"], batch["index"], model=model,
                               likelihood=likelihood, num_samples=num_samples,
                               chunk_size=chunk_size, seed=seed)
    mask = batch["mask"]
    return {"log_likelihood": jnp.sum(jnp.where(mask, bound, 0.0)),
            "elbo": jnp.sum(jnp.where(mask, first, 0.0)),
            "count": jnp.sum(mask.astype(jnp.float32))}


def compression_sums(variables, batch, *, model: nn.Module, likelihood: Likelihood,
                     grid_step: float) -> dict[str, Array]:
    """Masked sums of the code lengths and reconstruction errors of the module docstring.

    Per example: `kl_bits`, `quantised_bits` (the mean on a grid of `grid_step`),
    `mean_mse` and `quantised_mse` (pixels in [0, 1]) and, for discrete data,
    `mean_residual_bits` and `quantised_residual_bits`; plus `count`.
    """
    params = {"params": variables["params"]}
    images, mask = batch["image"], batch["mask"]
    mean, log_var = model.apply(params, likelihood.to_unit(images), method=model.encode)
    quantised = jnp.round(mean / grid_step) * grid_step
    log_prior_mass = -0.5 * (math.log(2.0 * math.pi) + jnp.square(quantised)) + math.log(grid_step)
    latent_bits = -jnp.sum(log_prior_mass, axis=-1) / LN2
    targets = (likelihood.to_unit(images) + 1.0) / 2.0
    per_example = {"kl_bits": jnp.sum(gaussian_kl(mean, log_var), -1) / LN2,
                   "quantised_bits": latent_bits}
    for name, z in (("mean", mean), ("quantised", quantised)):
        raw = model.apply(params, z, method=model.decode)
        recon = (likelihood.mean(raw) + 1.0) / 2.0
        per_example[f"{name}_mse"] = jnp.mean(jnp.square(recon - targets).reshape(len(z), -1), -1)
        if likelihood.levels is not None:
            per_example[f"{name}_residual_bits"] = -likelihood.log_prob(images, raw) / LN2
    sums = {k: jnp.sum(jnp.where(mask, v, 0.0)) for k, v in per_example.items()}
    sums["count"] = jnp.sum(mask.astype(jnp.float32))
    return sums


def indexed_eval_batches(name: str, *, split: str, batch_size: int, image_range: str,
                         max_examples: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """`data.eval_iterator` batches, limited to the first `max_examples` examples if given.

    The first `max_examples` are shared out between processes (each reads its share,
    all the same number of batches); the pipeline binarises each example from (seed,
    its index), so the evaluated test set is the same whatever the batch size or the
    number of processes.
    """
    yield from data.eval_iterator(name, split=split, batch_size=batch_size,
                                  image_range=image_range, max_examples=max_examples)


def split_sums(sums_fn: Callable, variables, batches, mesh=None) -> dict[str, float]:
    """Sum `sums_fn(variables, batch)` over `batches`, jitted with a batch-sharded input."""
    mesh = mesh if mesh is not None else parallel.make_mesh()
    step = jax.jit(sums_fn, in_shardings=(parallel.replicated(mesh),
                                          parallel.batch_sharded(mesh)))
    variables = parallel.replicate(variables, mesh)
    totals = None
    for batch in batches:
        sums = step(variables, parallel.shard_batch(batch, mesh))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    return {k: float(v) for k, v in jax.device_get(totals).items()}


def iwae_over_split(variables, *, model: nn.Module, likelihood: Likelihood, dataset: str,
                    split: str = "test", num_samples: int, batch_size: int, chunk_size: int,
                    seed: int = 0, max_examples: int | None = None, mesh=None) -> dict:
    """L_k over a split, every example once.

    Returns `nll_nats` (-mean L_k), `elbo_nats` (mean L_1 with the first of the
    same samples), `count`, `k`, and `bits_per_dim` (-mean L_k / (D ln 2)) for
    8-bit likelihoods.
    """
    sums_fn = functools.partial(iwae_sums, model=model, likelihood=likelihood,
                                num_samples=num_samples, chunk_size=chunk_size, seed=seed)
    batches = indexed_eval_batches(dataset, split=split, batch_size=batch_size,
                                   image_range=likelihood.image_range, max_examples=max_examples)
    totals = split_sums(sums_fn, variables, batches, mesh)
    dims = math.prod(data.DATASETS[dataset].shape) if likelihood.bits_per_dim else None
    return bound_summary(totals, k=num_samples, bits_dims=dims)


def bound_summary(totals: dict, *, k: int, bits_dims: int | None = None) -> dict:
    """`iwae_sums` totals -> `k`, `count`, `nll_nats` (-mean L_k), `elbo_nats` (mean L_1)
    and, given the data's dimension count `bits_dims`, `bits_per_dim`."""
    count = totals["count"]
    result = {"k": k, "count": int(count), "nll_nats": -totals["log_likelihood"] / count,
              "elbo_nats": totals["elbo"] / count}
    if bits_dims:
        result["bits_per_dim"] = result["nll_nats"] / (bits_dims * LN2)
    return result


def _reconstruction_error(mean: dict, name: str) -> dict:
    """MSE, PSNR (pixels in [0, 1]) and the residual bits of reconstructions from `name`."""
    error = {"mse": mean[f"{name}_mse"],
             "psnr_db": -10.0 * math.log10(max(mean[f"{name}_mse"], 1e-12))}
    if f"{name}_residual_bits" in mean:
        error["residual_bits"] = mean[f"{name}_residual_bits"]
    return error


def compression_report(totals: dict, *, likelihood: Likelihood, image_shape, latent_dim: int,
                       grid_step: float, elbo: float | None = None) -> dict:
    """`compression_sums` totals over a split -> the code lengths of `compression.json`.

    `elbo`, the split's mean ELBO in nats, adds the bits-back code length of the
    whole image, -ELBO / ln 2, for discrete likelihoods.
    """
    mean = {k: v / totals["count"] for k, v in totals.items() if k != "count"}
    levels = likelihood.levels or 256  # continuous data comes from 8-bit images
    image_bits = math.prod(image_shape) * math.log2(levels)
    result = {"examples": int(totals["count"]), "latent_dim": latent_dim,
              "image_bits": image_bits,
              "bits_back": {"latent_bits": mean["kl_bits"], "ratio": image_bits / mean["kl_bits"]},
              "quantised_mean": {"grid_step": grid_step, "latent_bits": mean["quantised_bits"],
                                 "ratio": image_bits / mean["quantised_bits"]}}
    if elbo is not None and likelihood.levels is not None:
        result["bits_back"]["image_code_bits"] = -elbo / LN2
    result["quantised_mean"].update(_reconstruction_error(mean, "quantised"))
    result["posterior_mean"] = _reconstruction_error(mean, "mean")
    return result

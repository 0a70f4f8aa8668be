"""Decoder likelihoods p(x|z): pure log-probabilities, per example, summed over pixels.

Each function takes images `x` (N, H, W, C) and distribution parameters of the
same shape, and returns log p(x|z) of shape (N,) in nats.

- Bernoulli (binarised data, x in {0, 1}): log p = x l - softplus(l) for logits l,
  the cross-entropy of Kingma & Welling 2013, appendix C.1, written with
  softplus so that it is exact for any logit.
- Gaussian (continuous data in [0, 1]): log N(x; mu, sigma^2) with a fixed
  sigma or a learned per-pixel variance with a floor (Kingma & Welling 2013,
  appendix C.2). A density, not a probability: its "bits" are not a code length.
- Discretised logistic (8-bit data, x in {0, ..., 255}; Salimans et al. 2017,
  PixelCNN++, eq. 2): with x rescaled to [-1, 1] and bin half-width 1/255,
      P(x) = sigmoid((x + 1/255 - mu) / s) - sigmoid((x - 1/255 - mu) / s),
  where the lowest bin takes all mass below it (x = 0: sigmoid((x + 1/255 - mu)/s))
  and the highest all mass above (x = 255: 1 - sigmoid((x - 1/255 - mu)/s)),
  so the 256 probabilities sum to 1 exactly and -log P is a code length.
  The interior difference is computed without cancellation from the identity
      sigmoid(a) - sigmoid(b) = sigmoid(a) (1 - sigmoid(b)) (1 - exp(b - a)),   a > b,
  whose three log-factors are -softplus(-a), -softplus(b) and log(-expm1(b - a)):
  accurate in both tails, where PixelCNN++'s own code switches to a density
  approximation instead.

`LIKELIHOODS` maps a config name to a factory `(options) -> Likelihood`, which
binds the decoder's raw outputs to one of these (how many channels the decoder
emits per image channel, how they are squashed) and says which data it models.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array

LOG_2PI = math.log(2.0 * math.pi)
MIN_LOG_SCALE = -7.0  # PixelCNN++'s lower clamp on the logistic log-scale


def _sum_pixels(values: Array) -> Array:
    return jnp.sum(values.reshape(values.shape[0], -1), axis=-1)


def bernoulli_log_prob(x: Array, logits: Array) -> Array:
    """sum_pixels [x log sigmoid(l) + (1 - x) log sigmoid(-l)] for x in {0, 1}."""
    return _sum_pixels(x * logits - jax.nn.softplus(logits))


def gaussian_log_prob(x: Array, mean: Array, log_var: Array | float) -> Array:
    """sum_pixels log N(x; mean, exp(log_var)); log_var a scalar (fixed) or per pixel."""
    log_var = jnp.broadcast_to(log_var, mean.shape)
    return _sum_pixels(-0.5 * (LOG_2PI + log_var + (x - mean) ** 2 * jnp.exp(-log_var)))


def discretized_logistic_log_prob(x: Array, mean: Array, log_scale: Array,
                                  num_bins: int = 256) -> Array:
    """PixelCNN++ eq. 2 for integer levels x in {0, ..., num_bins - 1}, summed over pixels.

    `mean` and `log_scale` live in the [-1, 1] scale of x / (num_bins - 1) * 2 - 1.
    """
    return _sum_pixels(discretized_logistic_log_probs(x, mean, log_scale, num_bins))


def discretized_logistic_log_probs(x: Array, mean: Array, log_scale: Array,
                                   num_bins: int = 256) -> Array:
    """The same, per pixel (broadcasting x against mean and log_scale)."""
    top = num_bins - 1
    centred = x * (2.0 / top) - 1.0
    half_width = 1.0 / top
    inv_scale = jnp.exp(-log_scale)
    upper = (centred + half_width - mean) * inv_scale  # a
    lower = (centred - half_width - mean) * inv_scale  # b
    log_cdf_upper = -jax.nn.softplus(-upper)  # log sigmoid(a): the x = 0 bin
    log_survival_lower = -jax.nn.softplus(lower)  # log(1 - sigmoid(b)): the x = top bin
    # a - b = 2 half_width / s > 0, so log(1 - exp(b - a)) is finite.
    log_width = jnp.log(-jnp.expm1(-2.0 * half_width * inv_scale))
    log_interior = log_cdf_upper + log_survival_lower + log_width
    return jnp.where(x <= 0, log_cdf_upper, jnp.where(x >= top, log_survival_lower, log_interior))


@dataclasses.dataclass(frozen=True)
class Likelihood:
    """A decoder head: how raw decoder outputs become p(x|z), and the data it models.

    The decoder emits `num_params` channels per image channel, stacked along the
    last axis (parameter-major: the first C channels are the first parameter).
    `log_prob(x, raw)` -> (N,) nats; `mean(raw)` -> E[x|z] (or the location) in
    [-1, 1] for pictures; `to_unit(x)` maps data to [-1, 1] (encoder input, pictures).
    `bits_per_dim`: log_prob is a probability of 8-bit pixels, so
    -log_prob / (D ln 2) is an exact code length in bits per dimension.
    `levels`: the number of values a pixel takes (for raw image bits), or None
    when the data is continuous. `level_log_probs(raw)`, for discrete data: the
    log-probability of every level of every pixel, (N, H, W, C, levels), whose
    exp sums to 1 over the last axis (what an entropy coder needs); None otherwise.
    """

    name: str
    num_params: int
    image_range: str
    log_prob: Callable[[Array, Array], Array]
    mean: Callable[[Array], Array]
    to_unit: Callable[[Array], Array]
    bits_per_dim: bool
    levels: int | None
    level_log_probs: Callable[[Array], Array] | None = None


def _split(raw: Array, num_params: int) -> list[Array]:
    return jnp.split(raw, num_params, axis=-1)


def _bernoulli(options) -> Likelihood:
    return Likelihood(
        name="bernoulli", num_params=1, image_range="binary",
        log_prob=bernoulli_log_prob,
        mean=lambda raw: 2.0 * jax.nn.sigmoid(raw) - 1.0,
        to_unit=lambda x: 2.0 * x - 1.0, bits_per_dim=False, levels=2,
        level_log_probs=lambda raw: jnp.stack(
            [-jax.nn.softplus(raw), -jax.nn.softplus(-raw)], axis=-1))


def _gaussian(options) -> Likelihood:
    """Fixed sigma = options.std; the mean is sigmoid(raw), inside the data's [0, 1]."""
    log_var = 2.0 * math.log(options.get("std", 0.1))
    return Likelihood(
        name="gaussian", num_params=1, image_range="[0,1]",
        log_prob=lambda x, raw: gaussian_log_prob(x, jax.nn.sigmoid(raw), log_var),
        mean=lambda raw: 2.0 * jax.nn.sigmoid(raw) - 1.0,
        to_unit=lambda x: 2.0 * x - 1.0, bits_per_dim=False, levels=None)


def _gaussian_learned(options) -> Likelihood:
    """Per-pixel variance min_std^2 + softplus(raw): floored, and about 0.7 at init.

    Without a floor the variance of always-black background pixels collapses
    and the density diverges.
    """
    floor = options.get("min_std", 0.01) ** 2

    def log_prob(x, raw):
        mean, raw_var = _split(raw, 2)
        log_var = jnp.log(floor + jax.nn.softplus(raw_var))
        return gaussian_log_prob(x, jax.nn.sigmoid(mean), log_var)

    return Likelihood(
        name="gaussian_learned", num_params=2, image_range="[0,1]", log_prob=log_prob,
        mean=lambda raw: 2.0 * jax.nn.sigmoid(_split(raw, 2)[0]) - 1.0,
        to_unit=lambda x: 2.0 * x - 1.0, bits_per_dim=False, levels=None)


def _logistic(options) -> Likelihood:
    """Discretised logistic on uint8 levels; log-scale bounded below smoothly by -7."""
    def params(raw):
        mean, raw_log_scale = _split(raw, 2)
        return mean, MIN_LOG_SCALE + jax.nn.softplus(raw_log_scale - MIN_LOG_SCALE)

    def log_prob(x, raw):
        return discretized_logistic_log_prob(x, *params(raw))

    def level_log_probs(raw):
        mean, log_scale = params(raw)
        levels = jnp.arange(256, dtype=raw.dtype)
        return discretized_logistic_log_probs(levels, mean[..., None], log_scale[..., None])

    return Likelihood(
        name="logistic", num_params=2, image_range="uint8", log_prob=log_prob,
        mean=lambda raw: jnp.clip(_split(raw, 2)[0], -1.0, 1.0),
        to_unit=lambda x: x / 127.5 - 1.0, bits_per_dim=True, levels=256,
        level_log_probs=level_log_probs)


LIKELIHOODS: dict[str, Callable[..., Likelihood]] = {
    "bernoulli": _bernoulli,
    "gaussian": _gaussian,
    "gaussian_learned": _gaussian_learned,
    "logistic": _logistic,
}

"""Lossless bits-back coding with ANS (BB-ANS; Townsend, Bird & Barber 2019) for genjax's VAEs.

The latent space is cut, per dimension, into `num_buckets` buckets of equal
mass under the prior N(0, 1): bucket k spans [Phi^-1(k/K), Phi^-1((k+1)/K)]
and stands for its prior-mass centre Phi^-1((k + 1/2)/K). Each image x, in
turn, on one ANS stack (the `constriction` library's `AnsCoder`):

1. *decode* the bucket indices z from the stack with the posterior q(z|x),
   discretised on the buckets: this takes bits off the stack, -log2 q(z|x);
2. encode x with the decoder's p(x|z) (per-pixel probabilities of every level);
3. encode z with the prior, uniform over the K buckets: log2 K bits per dimension.

The net cost of an image is log2 K^D - log2 q(z|x) - log2 p(x|z), whose
expectation over q is the negative ELBO of the discretised latent. Decoding
runs the three steps backwards from the last image to the first: z from the
prior, x from p(x|z), then z re-encoded with q(z|x) to give the bits back.

Step 1 of the first image needs bits on the stack before any exist: the
coder starts from `initial_words(latent_dim)` 32-bit words drawn from a seeded
generator, enough for the longest possible decode of z (each symbol takes at
most the coder's 24 bits of precision). They stay in the file, a fixed
overhead that amortises over the image count, and the decoder checks that it
ends with exactly them. `encode` also checks, before every image, that the
stack holds enough bits for step 1 (it always does after the first image,
which adds thousands).

Both sides compute q and p with the same jitted functions on batches of one
image, so the probability tables, and hence the quantised models that
`constriction` builds from them, are bit-identical: a file decodes on the
software and hardware that wrote it (XLA results may differ across CPUs).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import constriction
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr
from scipy import special

from genjax.errors import UserError
from genjax.losses.likelihoods import Likelihood

NUM_BUCKETS = 256  # K: 8 bits of prior precision per latent dimension, as in BB-ANS
PRECISION_BITS = 24  # constriction's default ANS coder: 32-bit words, 24-bit probabilities
HEAD_BITS = 64


def bucket_edges(num_buckets: int) -> np.ndarray:
    """(K + 1,) edges of the equal-prior-mass buckets, Phi^-1(k / K), from -inf to inf."""
    return special.ndtri(np.linspace(0.0, 1.0, num_buckets + 1))


def bucket_centres(num_buckets: int) -> np.ndarray:
    """(K,) the prior-mass centre of each bucket, Phi^-1((k + 1/2) / K), as float32."""
    return special.ndtri((np.arange(num_buckets) + 0.5) / num_buckets).astype(np.float32)


def posterior_bucket_probs(mean: jax.Array, log_var: jax.Array, edges: jax.Array) -> jax.Array:
    """q(z in bucket k | x) for mean, log_var (..., D) and edges (K + 1,) -> (..., D, K).

    Each bucket's mass is a difference of normal CDFs taken on the side of the mean
    it lies on (the survival function above it), so tail buckets keep their digits.
    """
    a = (edges - mean[..., None]) * jnp.exp(-0.5 * log_var)[..., None]  # (..., D, K + 1)
    below = ndtr(a[..., 1:]) - ndtr(a[..., :-1])
    above = ndtr(-a[..., :-1]) - ndtr(-a[..., 1:])
    return jnp.where(a[..., :-1] > 0, above, below)


def initial_words(latent_dim: int) -> int:
    """32-bit words the stack starts with: the longest decode of z, plus the coder's head."""
    return math.ceil((latent_dim * PRECISION_BITS + HEAD_BITS) / 32) + 1


def clean_words(count: int, seed: int) -> np.ndarray:
    """The seeded initial words (nonzero, so that none is dropped as padding)."""
    words = np.random.default_rng(seed).integers(1, 2**32, size=count, dtype=np.uint64)
    return words.astype(np.uint32)


@dataclasses.dataclass(frozen=True)
class VAECoderModel:
    """The two jitted tables a BB-ANS coder needs from a trained VAE.

    `posterior(x)` : one image (1, H, W, C) of levels -> (D, K) float64 bucket masses;
    `pixels(z)`    : one latent (1, D) -> (H * W * C, levels) float64 level masses.
    """

    posterior: Callable[[np.ndarray], np.ndarray]
    pixels: Callable[[np.ndarray], np.ndarray]
    latent_dim: int
    levels: int
    num_buckets: int


def coder_model(model, params, likelihood: Likelihood, latent_dim: int,
                num_buckets: int = NUM_BUCKETS) -> VAECoderModel:
    """Bind a VAE (`genjax.models.vae.VAE`) and its discrete likelihood into a coder model."""
    if likelihood.level_log_probs is None:
        raise UserError(f"the {likelihood.name!r} likelihood is a density over continuous "
                        "pixels: only discrete decoders (bernoulli, logistic) are codecs")
    variables = {"params": params}
    edges = jnp.asarray(bucket_edges(num_buckets), jnp.float32)

    @jax.jit
    def posterior(x):
        mean, log_var = model.apply(variables, likelihood.to_unit(x.astype(jnp.float32)),
                                    method=model.encode)
        return posterior_bucket_probs(mean[0], log_var[0], edges)

    @jax.jit
    def pixels(z):
        raw = model.apply(variables, z, method=model.decode)
        return likelihood.level_log_probs(raw)[0].reshape(-1, likelihood.levels)

    def as_table(fn, *args):
        return np.asarray(fn(*args), dtype=np.float64)

    return VAECoderModel(
        posterior=functools.partial(as_table, posterior),
        pixels=lambda z: np.exp(as_table(pixels, z)),
        latent_dim=latent_dim, levels=likelihood.levels, num_buckets=num_buckets)


def encode(images: np.ndarray, coder: VAECoderModel, *, seed: int = 0,
           progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """BB-ANS code of `images` (N, H, W, C) of integer levels.

    Returns (words, bits): the compressed uint32 words (the initial words
    included) and the stack's size in bits after each image, (N,).
    """
    d, k = coder.latent_dim, coder.num_buckets
    centres = bucket_centres(k)
    ans = constriction.stream.stack.AnsCoder(clean_words(initial_words(d), seed), seal=False)
    categorical = constriction.stream.model.Categorical(perfect=False)
    prior = constriction.stream.model.Uniform(k)
    bits = np.zeros(len(images), np.int64)
    for n, x in enumerate(images):
        if ans.num_valid_bits() < d * PRECISION_BITS + HEAD_BITS:
            raise RuntimeError(f"the ANS stack ran short of bits before image {n}")
        z = ans.decode(categorical, coder.posterior(x[None]))
        ans.encode_reverse(x.reshape(-1).astype(np.int32), categorical,
                           coder.pixels(centres[z][None]))
        ans.encode_reverse(z, prior)
        bits[n] = ans.num_bits()
        if progress is not None:
            progress(n)
    return ans.get_compressed(), bits


def decode(words: np.ndarray, count: int, shape: tuple[int, int, int], coder: VAECoderModel,
           *, seed: int = 0, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The `count` images (count, H, W, C) uint8 of levels that `encode` wrote into `words`.

    Raises ValueError when the words are not such a code (what is left at the end is
    not the initial words).
    """
    d, k = coder.latent_dim, coder.num_buckets
    centres = bucket_centres(k)
    ans = constriction.stream.stack.AnsCoder(np.asarray(words, np.uint32), seal=False)
    categorical = constriction.stream.model.Categorical(perfect=False)
    prior = constriction.stream.model.Uniform(k)
    images = np.zeros((count, *shape), np.uint8)
    for n in reversed(range(count)):
        z = ans.decode(prior, d)
        x = ans.decode(categorical, coder.pixels(centres[z][None])).reshape(shape)
        ans.encode_reverse(z, categorical, coder.posterior(x[None]))
        images[n] = x
        if progress is not None:
            progress(count - 1 - n)
    left = ans.get_compressed()
    if not np.array_equal(left, clean_words(initial_words(d), seed)):
        raise ValueError("the code does not end with its initial words")
    return images

"""The importance-weighted bound's log-mean-exp, computed in chunks of samples.

L_k(x) = log (1/k) sum_i w_i (Burda, Grosse & Salakhutdinov 2015, eq. 8) needs
the k log-weights of an example; `chunked_log_mean_exp` asks for them a chunk
at a time inside `lax.scan` with a running logsumexp, so memory grows with the
chunk, not with k. Both latent-variable families (the VAE, DRAW) use it: the
split-wide bound is in `genjax.eval.likelihood`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array


def chunked_log_mean_exp(log_weights: Callable[[Array], Array], *, num_samples: int,
                         chunk_size: int) -> tuple[Array, Array]:
    """(L_k, log w_0): log (1/k) sum_{i<k} w_i and the first log-weight alone, each (B,).

    `log_weights(sample_index (S,))` -> (B, S) log w_i, called on chunks of
    `chunk_size` sample indices inside a `lax.scan` with a running logsumexp;
    any model whose log-weights are keyed by sample index (the VAE, DRAW) uses it.
    """
    chunk_size = min(chunk_size, num_samples)

    def padded(chunk_index):
        sample_index = chunk_index * chunk_size + jnp.arange(chunk_size)
        log_w = log_weights(sample_index)
        return jnp.where(sample_index < num_samples, log_w, -jnp.inf)  # the last chunk's pad

    def accumulate(running, chunk_index):
        return jnp.logaddexp(running, jax.nn.logsumexp(padded(chunk_index), axis=1)), None

    first = padded(0)
    num_chunks = -(-num_samples // chunk_size)
    total, _ = lax.scan(accumulate, jax.nn.logsumexp(first, axis=1), jnp.arange(1, num_chunks))
    return total - math.log(num_samples), first[:, 0]

"""DRAW's reading and writing: Gaussian attention and its no-attention variant, as pure functions.

Gregor, Danihelka, Graves, Rezende & Wierstra 2015 (DRAW: A Recurrent Neural
Network For Image Generation), Section 3. Images are (batch, B, A): B rows
(height) and A columns (width); pixels are numbered a = 1..A, b = 1..B, filters
i, j = 1..N, as in the paper.

Without attention (eqs. 17-18) the encoder reads the whole image and the error
image, read(x, x_hat, h) = [x, x_hat], and the decoder writes the whole canvas,
write(h) = W(h) (a dense layer of the model).

With attention, an N x N grid of Gaussian filters is placed on the image by
five numbers emitted by a linear layer of the decoder state (eq. 21),

    (g~_X, g~_Y, log sigma^2, log delta~, log gamma) = W(h_dec),

scaled so that g~ = 0 is the image centre and delta~ = 1 spans the image
(eqs. 22-24):

    g_X = (A + 1)/2 (g~_X + 1),   g_Y = (B + 1)/2 (g~_Y + 1),
    delta = (max(A, B) - 1)/(N - 1) delta~.

The filter centres (eqs. 19-20) are mu_X^i = g_X + (i - N/2 - 0.5) delta, and
the filterbanks (eqs. 25-26) are

    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X,   sum_a F_X[i, a] = 1,

likewise F_Y[j, b], normalised as a softmax over pixels so that a filter
centred off the image still sums to one (on the nearest pixels). Reading
extracts two N x N glimpses scaled by the intensity gamma (eq. 27),

    read = gamma [F_Y x F_X^T, F_Y x_hat F_X^T];

writing pastes an N x N patch w (eq. 28, a dense layer of h_dec) through the
transposed filters of a second, independent set of parameters (eq. 29),

    write = (1/gamma^) F^_Y^T w F^_X.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def attention_params(raw: Array, size: int, width: int, height: int
                     ) -> tuple[Array, Array, Array, Array, Array]:
    """Eqs. 21-24: a head's outputs (..., 5) -> (g_X, g_Y, log sigma^2, log delta, log gamma).

    g_X, g_Y are in pixel coordinates (1..A, 1..B); delta is the stride in
    pixels, returned as its log so that `filterbank` takes what a head emits.
    """
    gx_tilde, gy_tilde, log_sigma2, log_delta_tilde, log_gamma = jnp.moveaxis(raw, -1, 0)
    gx = (width + 1) / 2.0 * (gx_tilde + 1.0)
    gy = (height + 1) / 2.0 * (gy_tilde + 1.0)
    log_delta = jnp.log((max(width, height) - 1) / (size - 1)) + log_delta_tilde
    return gx, gy, log_sigma2, log_delta, log_gamma


def _filters(centre: Array, log_delta: Array, log_sigma2: Array, size: int, length: int
             ) -> Array:
    """One axis's filterbank (batch, size, length), eqs. 19/20 and 25/26, rows summing to one."""
    offsets = jnp.arange(1, size + 1, dtype=jnp.float32) - size / 2.0 - 0.5
    mu = centre[:, None] + offsets[None, :] * jnp.exp(log_delta)[:, None]  # (batch, N)
    pixels = jnp.arange(1, length + 1, dtype=jnp.float32)
    squared = jnp.square(pixels[None, None, :] - mu[:, :, None])
    # exp(.)/Z_X as a softmax: exact even where every exp underflows (a filter off the image).
    return jax.nn.softmax(-squared * (0.5 * jnp.exp(-log_sigma2))[:, None, None], axis=-1)


def filterbank(gx: Array, gy: Array, log_sigma2: Array, log_delta: Array, size: int,
               width: int, height: int) -> tuple[Array, Array]:
    """(F_X (batch, N, A), F_Y (batch, N, B)) for per-example (batch,) attention parameters.

    `size` is N, `width` A and `height` B; `log_delta` is the log stride in pixels
    (after eq. 24) and the grid centre (g_X, g_Y) is in 1-based pixel coordinates.
    """
    fx = _filters(gx, log_delta, log_sigma2, size, width)
    fy = _filters(gy, log_delta, log_sigma2, size, height)
    return fx, fy


def glimpse(image: Array, fx: Array, fy: Array) -> Array:
    """F_Y x F_X^T: (batch, B, A) -> (batch, N, N)."""
    return jnp.einsum("zjb,zba,zia->zji", fy, image, fx)


def read_attention(image: Array, error: Array, raw: Array, size: int) -> Array:
    """Eq. 27: gamma [F_Y x F_X^T, F_Y x_hat F_X^T], flattened to (batch, 2 N^2).

    `raw` (batch, 5) is the read head's output on h_dec_{t-1} (eq. 21).
    """
    height, width = image.shape[1:]
    gx, gy, log_sigma2, log_delta, log_gamma = attention_params(raw, size, width, height)
    fx, fy = filterbank(gx, gy, log_sigma2, log_delta, size, width, height)
    gamma = jnp.exp(log_gamma)[:, None, None]
    patches = [gamma * glimpse(x, fx, fy) for x in (image, error)]
    return jnp.concatenate([p.reshape(p.shape[0], -1) for p in patches], axis=-1)


def write_attention(patch: Array, raw: Array, width: int, height: int) -> Array:
    """Eq. 29: (1/gamma^) F^_Y^T w F^_X: a (batch, N, N) patch -> a (batch, B, A) canvas update.

    `raw` (batch, 5) is the write head's output on h_dec_t (eq. 21).
    """
    size = patch.shape[-1]
    gx, gy, log_sigma2, log_delta, log_gamma = attention_params(raw, size, width, height)
    fx, fy = filterbank(gx, gy, log_sigma2, log_delta, size, width, height)
    update = jnp.einsum("zjb,zji,zia->zba", fy, patch, fx)
    return update * jnp.exp(-log_gamma)[:, None, None]


def read_no_attention(image: Array, error: Array) -> Array:
    """Eq. 17: [x, x_hat], flattened to (batch, 2 A B)."""
    return jnp.concatenate([image.reshape(image.shape[0], -1),
                            error.reshape(error.shape[0], -1)], axis=-1)

"""Lossy coding with a VAE: the posterior mean on a grid, entropy-coded with the prior.

Each image's posterior mean mu (D,) is rounded to the grid of step `delta`,
s = round(mu / delta) clipped to [-R, R] with R = ceil(8 / delta) (eight prior
standard deviations), and the integers are entropy-coded on one ANS stack
(`constriction`) under the prior discretised on the grid: N(0, 1) in units of
delta is N(0, 1/delta^2), so symbol s has the mass of [s - 1/2, s + 1/2] under
it (`QuantizedGaussian`). The decoder reads s back and decodes s * delta with
the VAE's decoder mean, rounded to the data's levels. A coarser grid costs
fewer bits and gives a blurrier image: sweeping `delta` traces the
rate-distortion curve.

Posterior means and decoded images are computed on fixed batches of `BATCH`
images (the last one padded), the same on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import constriction
import jax
import jax.numpy as jnp
import numpy as np

from genjax.errors import UserError
from genjax.losses.likelihoods import Likelihood

BATCH = 64
PRIOR_STDS = 8.0


def grid_radius(grid_step: float) -> int:
    return math.ceil(PRIOR_STDS / grid_step)


def check_grid_step(grid_step: float) -> None:
    if not (math.isfinite(grid_step) and 1e-3 <= grid_step <= 8.0):
        raise UserError(f"--lossy_step must be a grid step in [0.001, 8], got {grid_step}")


def _batches(array: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(array), BATCH):
        chunk = array[start:start + BATCH]
        pad = BATCH - len(chunk)
        yield len(chunk), np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)]) if pad else chunk


class LossyCoder:
    """The jitted halves of the lossy codec for one trained VAE."""

    def __init__(self, model, params, likelihood: Likelihood):
        if likelihood.levels is None:
            raise UserError(f"the {likelihood.name!r} likelihood models continuous pixels; "
                            "the codec needs a discrete one (bernoulli, logistic)")
        variables = {"params": params}
        top = likelihood.levels - 1
        self.levels = likelihood.levels
        self._mean = jax.jit(lambda x: model.apply(
            variables, likelihood.to_unit(x.astype(jnp.float32)), method=model.encode)[0])
        self._decode = jax.jit(lambda z: jnp.round(
            (likelihood.mean(model.apply(variables, z, method=model.decode)) + 1.0) / 2.0
            * top).astype(jnp.uint8))

    def symbols(self, images: np.ndarray, grid_step: float) -> np.ndarray:
        """(N, D) int32 grid indices of the images' posterior means."""
        radius = grid_radius(grid_step)
        out = [np.asarray(self._mean(batch))[:n] for n, batch in _batches(images)]
        return np.clip(np.round(np.concatenate(out) / grid_step), -radius, radius).astype(
            np.int32)

    def reconstruct(self, symbols: np.ndarray, grid_step: float) -> np.ndarray:
        """(N, H, W, C) uint8 levels decoded from grid indices (N, D)."""
        z = symbols.astype(np.float32) * np.float32(grid_step)
        return np.concatenate([np.asarray(self._decode(batch))[:n] for n, batch in _batches(z)])


def _prior(grid_step: float):
    radius = grid_radius(grid_step)
    return constriction.stream.model.QuantizedGaussian(-radius, radius, 0.0, 1.0 / grid_step)


def encode_symbols(symbols: np.ndarray, grid_step: float) -> np.ndarray:
    """The ANS code (uint32 words) of grid indices (N, D) under the discretised prior."""
    ans = constriction.stream.stack.AnsCoder()
    ans.encode_reverse(symbols.reshape(-1).astype(np.int32), _prior(grid_step))
    return ans.get_compressed()


def decode_symbols(words: np.ndarray, count: int, latent_dim: int,
                   grid_step: float) -> np.ndarray:
    ans = constriction.stream.stack.AnsCoder(np.asarray(words, np.uint32))
    symbols = ans.decode(_prior(grid_step), count * latent_dim).reshape(count, latent_dim)
    if not ans.is_empty():
        raise ValueError("words left over after the last image")
    return symbols

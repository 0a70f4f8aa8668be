"""SVG's objective (Denton & Fergus 2018, eq. 2 and their `train`).

For a sequence x_0..x_{T-1}, with the teacher-forced pass of
genjax/models/svg_rollout.py giving x^_t and the Gaussians of step t,

    loss = sum_{t=1}^{T-1} [mean_pixels (x^_t - x_t)^2 + beta KL(q(z_t|x_1..t) || p(z_t|x_1..t-1))]

averaged over the batch: the squared error is their `nn.MSELoss()` (a mean
over pixels, i.e. a fixed-variance Gaussian likelihood up to scale), the KL is
summed over z's dimensions, and every frame after the first is reconstructed,
the conditioning frames included, as in their code. beta = 1e-4 in the paper.

The prior p is the learned LSTM prior for SVG-LP (`prior="learned"`),
N(0, I) for SVG-FP (`"fixed"`), and there is no KL for the deterministic model
(`"none"`). The KL between diagonal Gaussians is in closed form:

    KL(N(m1, v1) || N(m2, v2)) = 1/2 [log v2 - log v1 + (v1 + (m1 - m2)^2) / v2 - 1]

per dimension (`diagonal_gaussian_kl`).

The loss matches `genjax.train.steps.train_step`'s signature (no BatchNorm:
`batch_stats` passes through). Metrics are per predicted frame: `mse` (the
mean over frames and pixels), `kl` (nats per frame, summed over z), `loss`
(the objective divided by T - 1) and `psnr` of the mean squared error.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genjax.losses.vae import gaussian_kl
from genjax.models.svg import SVG
from genjax.models.svg_rollout import teacher_forced

Array = jax.Array


def diagonal_gaussian_kl(mean_q: Array, log_var_q: Array, mean_p: Array, log_var_p: Array
                         ) -> Array:
    """KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p))) per dimension, nats."""
    return 0.5 * (log_var_p - log_var_q
                  + (jnp.exp(log_var_q) + jnp.square(mean_q - mean_p)) * jnp.exp(-log_var_p)
                  - 1.0)


def step_kl(out: dict, prior: str) -> Array:
    """KL per step and sequence, (T-1, B), summed over z; zeros for the deterministic model."""
    if prior == "none":
        return jnp.zeros(out["frames"].shape[1::-1])
    mean_q, log_var_q = out["posterior"]
    if prior == "learned":
        kl = diagonal_gaussian_kl(mean_q, log_var_q, *out["prior"])
    else:
        kl = gaussian_kl(mean_q, log_var_q)
    return jnp.sum(kl, axis=-1)


def svg_loss(params, batch_stats, batch, rng, *, model: SVG, num_cond: int, beta: float,
             unroll: bool = False):
    """(loss, (metrics, batch_stats)) for batch {"frames": (B, T, S, S, C) in [0, 1]}."""
    frames = batch["frames"]
    steps = frames.shape[1] - 1
    noise = jax.random.normal(rng, (steps, frames.shape[0], model.z_dim))
    out = teacher_forced({"params": params}, frames, noise, model=model, num_cond=num_cond,
                         unroll=unroll)
    mse = jnp.mean(jnp.square(out["frames"] - frames[:, 1:]), axis=(2, 3, 4))  # (B, T-1)
    kl = step_kl(out, model.prior)  # (T-1, B)
    loss = jnp.sum(jnp.mean(mse, 0)) + beta * jnp.sum(jnp.mean(kl, 1))
    mean_mse = jnp.mean(mse)
    metrics = {"loss": loss / steps, "mse": mean_mse, "kl": jnp.mean(kl),
               "psnr": -10.0 * jnp.log10(mean_mse)}
    return loss, (metrics, batch_stats)

"""SVG's two time loops, as `lax.scan`s over the networks of genjax/models/svg.py.

`teacher_forced` is the training pass (Denton & Fergus 2018, Algorithm 1 and
their `train`): every frame of the sequence is encoded at once, and for each
t = 1..T-1 the predictor sees the true frame's embedding h_{t-1}, z_t is drawn
from the posterior q(z_t | x_1..t) (reparameterised with the given noise), and
the learned prior p(z_t | x_1..t-1) is evaluated on h_{t-1}. The T-1
predicted embeddings are decoded at once, with the last conditioning frame's
skips. It returns the frames and both Gaussians; the objective is in
genjax/losses/svg.py.

`generate` is their `generate`: the conditioning frames warm the LSTMs up
exactly as in training (posterior z on the true frames), then each new frame
is encoded from the previous *generated* frame, z_t is drawn from the learned
prior (SVG-LP) or N(0, I) (SVG-FP), and the decoded frame is fed back. Any
number of frames can be generated (long rollouts need no retraining).

Both take `unroll=True` to run the same step function in a Python loop, which
the tests compare with the scan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from genjax.models.svg import SVG

Array = jax.Array


def _scan(step: Callable, carry, xs, length: int, unroll: bool):
    """`lax.scan(step, carry, xs)`, or the same loop in Python when `unroll`."""
    if not unroll:
        return jax.lax.scan(step, carry, xs, length=length)
    outputs = []
    for t in range(length):
        carry, out = step(carry, jax.tree.map(lambda x, t=t: x[t], xs))
        outputs.append(out)
    return carry, jax.tree.map(lambda *o: jnp.stack(o), *outputs)


def _time_major(x: Array) -> Array:
    return jnp.swapaxes(x, 0, 1)


def _encode_sequence(params, frames: Array, model: SVG) -> tuple[Array, tuple[Array, ...]]:
    """frames (B, T, S, S, C) -> (h (T, B, dim), skips each (B, T, ...))."""
    b, t = frames.shape[:2]
    h, skips = model.apply(params, frames.reshape(b * t, *frames.shape[2:]),
                           method=SVG.encode)
    return (_time_major(h.reshape(b, t, -1)),
            tuple(s.reshape(b, t, *s.shape[1:]) for s in skips))


def _decode(params, g: Array, skips: tuple[Array, ...], model: SVG) -> Array:
    """g (T, B, dim), skips each (B, ...) -> frames (B, T, S, S, C), one batched call."""
    t, b = g.shape[:2]
    tiled = tuple(jnp.broadcast_to(s[:, None], (b, t, *s.shape[1:])).reshape(b * t, *s.shape[1:])
                  for s in skips)
    frames = model.apply(params, _time_major(g).reshape(b * t, -1), tiled, method=SVG.decode)
    return frames.reshape(b, t, *frames.shape[1:])


def _observe_step(params, model: SVG, state: dict, h_prev: Array, h_now: Array, eps: Array):
    """One step on true frames: posterior z (reparameterised), learned prior, predictor."""
    gaussians = {}
    z = jnp.zeros((h_prev.shape[0], model.z_dim))
    if model.stochastic:
        state["posterior"], (mu, log_var) = model.apply(params, state["posterior"], h_now,
                                                        method=SVG.posterior)
        z = mu + jnp.exp(0.5 * log_var) * eps
        gaussians["posterior"] = (mu, log_var)
    if model.prior == "learned":
        state["prior"], gaussians["prior"] = model.apply(params, state["prior"], h_prev,
                                                         method=SVG.learned_prior)
    state["predictor"], g = model.apply(params, state["predictor"], h_prev, z,
                                        method=SVG.predict)
    return state, g, gaussians


def teacher_forced(params, frames: Array, noise: Array, *, model: SVG, num_cond: int,
                   unroll: bool = False) -> dict:
    """The training pass over frames (B, T, S, S, C) with posterior noise (T-1, B, z_dim).

    Returns {"frames": predicted x^_1..T-1 (B, T-1, S, S, C), "posterior": (mu, log_var),
    "prior": (mu, log_var)}, the Gaussians (T-1, B, z_dim) each (those the variant has).
    """
    h, skips = _encode_sequence(params, frames, model)
    skip = tuple(s[:, num_cond - 1] for s in skips)

    def step(state, xs):
        h_prev, h_now, eps = xs
        state, g, gaussians = _observe_step(params, model, dict(state), h_prev, h_now, eps)
        return state, (g, gaussians)

    length = frames.shape[1] - 1
    _, (g, gaussians) = _scan(step, model.initial_state(frames.shape[0]),
                              (h[:-1], h[1:], noise), length, unroll)
    return {"frames": _decode(params, g, skip, model), **gaussians}


def generate(params, cond: Array, keys: Array, *, model: SVG, num_frames: int,
             unroll: bool = False) -> Array:
    """Continue conditioning frames cond (B, n, S, S, C) to num_frames frames in all.

    Returns (B, num_frames, S, S, C): the n conditioning frames, then num_frames - n
    generated ones. `keys` (B,) holds one key per sequence: sequence b's noise at step
    t is drawn from fold_in(keys[b], t) (the posterior's during conditioning, then the
    prior's), so a sequence's future does not depend on the batch it is in, and a
    longer rollout starts with the same frames as a shorter one.
    """
    batch, n = cond.shape[:2]
    if not 1 <= n < num_frames:
        raise ValueError(f"need 1 <= conditioning frames ({n}) < num_frames ({num_frames})")
    h, skips = _encode_sequence(params, cond, model)
    skip = tuple(s[:, n - 1] for s in skips)
    state = model.initial_state(batch)

    def noise(t: Array) -> Array:
        return jax.vmap(lambda key: jax.random.normal(jax.random.fold_in(key, t),
                                                      (model.z_dim,)))(keys)

    def observe(state, xs):
        t, h_prev, h_now = xs
        state, _, _ = _observe_step(params, model, dict(state), h_prev, h_now, noise(t))
        return state, None

    if n > 1:
        state, _ = _scan(observe, state, (jnp.arange(1, n), h[:-1], h[1:]), n - 1, unroll)

    def predict(carry, t):
        state, h_prev = dict(carry[0]), carry[1]
        z = noise(t)
        if model.prior == "learned":
            state["prior"], (mu, log_var) = model.apply(params, state["prior"], h_prev,
                                                        method=SVG.learned_prior)
            z = mu + jnp.exp(0.5 * log_var) * z
        state["predictor"], g = model.apply(params, state["predictor"], h_prev, z,
                                            method=SVG.predict)
        frame = model.apply(params, g, skip, method=SVG.decode)
        h_next, _ = model.apply(params, frame, method=SVG.encode)
        return (state, h_next), frame

    _, frames = _scan(predict, (state, h[-1]), jnp.arange(n, num_frames), num_frames - n,
                      unroll)
    return jnp.concatenate([cond, _time_major(frames)], axis=1)


def sample_futures(params, cond: Array, keys: Array, *, model: SVG, num_frames: int,
                   num_samples: int) -> Array:
    """`num_samples` futures per conditioning sequence: (B, num_samples, num_frames, ...).

    Sample s of sequence b uses the key fold_in(keys[b], s), whatever the batch.
    """
    run = functools.partial(generate, model=model, num_frames=num_frames)
    samples = jnp.arange(num_samples)
    sample_keys = jax.vmap(lambda s: jax.vmap(lambda k: jax.random.fold_in(k, s))(keys))(samples)
    futures = jax.vmap(lambda k: run(params, cond, k))(sample_keys)  # (S, B, T, ...)
    return jnp.swapaxes(futures, 0, 1)

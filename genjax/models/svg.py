"""SVG: stochastic video generation with a learned prior (Denton & Fergus 2018).

A frame encoder and decoder (DCGAN-style, their `dcgan_64`) sandwich three
LSTMs that run over time:

    h_t       = Enc(x_t)                                 frame embedding, tanh, (dim,)
    mu, logvar = q(h_t; state)                           posterior q(z_t | x_1..t)
    mu_p, lv_p = p(h_{t-1}; state)                       learned prior p(z_t | x_1..t-1)
    g_t       = Pred([h_{t-1}, z_t]; state)              frame predictor, tanh, (dim,)
    x^_t      = Dec(g_t, skips of the last conditioning frame)

Variants, by `prior` (their Section 3):

- "learned": SVG-LP, z_t from the LSTM prior at generation;
- "fixed": SVG-FP, a fixed N(0, I) prior (no prior LSTM);
- "none": the deterministic baseline, the same network with no z.

Encoder at frame side S = 4 * 2^k (k = 3 for 64 px; width w): k + 1 stride-2
4x4 convolutions halve the side down to 4 (w, 2w, 4w, 8w channels, GroupNorm and
LeakyReLU(0.2) after all but the first), then a 4x4 'VALID' convolution to
`dim` and tanh. Each stride-2 level's output is a skip. The decoder mirrors it:
a 4x4 'VALID' transposed convolution from 1x1 to 4x4 (8w), then at each level
the skip of the same side is concatenated on channels and a stride-2
transposed convolution doubles the side; the last one outputs the frame's
channels through a sigmoid (frames are in [0, 1]). Denton & Fergus use
BatchNorm; GroupNorm (8 groups) is used here so that the encoder and decoder
are pure functions of their input inside a `lax.scan` (no batch statistics to
thread through time, and a frame's embedding does not depend on the batch).

Skips: the decoder always reads the skips of the last conditioning frame
(the paper: "skip connections from the encoder at the last ground truth frame
to the decoder"). Their code keeps the skips of the last encoder call made
while i < n_past, which is frame n_past - 2; here it is frame n_past - 1.

LSTM stacks (their `lstm` and `gaussian_lstm`): a Dense embedding of the
input to `hidden` units, `layers` LSTM cells, then a Dense to the output
(tanh for the predictor; mean and log-variance for the Gaussian ones). Each
stack is called one time step at a time (`step`), so the time loop is a
`lax.scan` in genjax/losses/svg.py and genjax/train/svg_step.py.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.layers import ConvTranspose

Array = jax.Array
PRIORS = ("learned", "fixed", "none")
KERNEL = 4
GROUPS = 8


def num_levels(frame_size: int) -> int:
    """The stride-2 levels from `frame_size` down to 4 px; frame_size must be 4 * 2^k, k >= 1."""
    k = math.log2(frame_size / 4) if frame_size >= 8 else 0
    if frame_size < 8 or k != int(k):
        raise ValueError(f"frame size {frame_size} is not 4 * 2^k (8, 16, 32, 64, 128, ...)")
    return int(k)


def _norm(x: Array) -> Array:
    return nn.GroupNorm(num_groups=min(GROUPS, x.shape[-1]))(x)


class FrameEncoder(nn.Module):
    """x (N, S, S, C) in [0, 1] -> (h (N, dim) in (-1, 1), skips: the levels' outputs)."""

    dim: int
    width: int

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, tuple[Array, ...]]:
        skips = []
        for level in range(num_levels(x.shape[1])):
            x = nn.Conv(self.width * 2 ** min(level, 3), (KERNEL, KERNEL), strides=2,
                        padding=((1, 1), (1, 1)))(x)
            if level > 0:
                x = _norm(x)
            x = nn.leaky_relu(x, 0.2)
            skips.append(x)
        h = nn.Conv(self.dim, (KERNEL, KERNEL), padding="VALID")(x)
        return jnp.tanh(h.reshape(h.shape[0], self.dim)), tuple(skips)


class FrameDecoder(nn.Module):
    """(h (N, dim), skips) -> frames (N, S, S, channels) in (0, 1)."""

    width: int
    channels: int

    @nn.compact
    def __call__(self, h: Array, skips: tuple[Array, ...]) -> Array:
        x = h.reshape(h.shape[0], 1, 1, h.shape[-1])
        x = ConvTranspose(skips[-1].shape[-1], (KERNEL, KERNEL), padding="VALID")(x)
        x = nn.leaky_relu(_norm(x), 0.2)
        for level in reversed(range(len(skips))):
            x = jnp.concatenate([x, skips[level]], axis=-1)
            last = level == 0
            features = self.channels if last else skips[level - 1].shape[-1]
            x = ConvTranspose(features, (KERNEL, KERNEL), strides=(2, 2), padding="SAME")(x)
            x = nn.sigmoid(x) if last else nn.leaky_relu(_norm(x), 0.2)
        return x


def _zero_state(batch: int, hidden: int, layers: int) -> tuple:
    zeros = jnp.zeros((batch, hidden))
    return tuple((zeros, zeros) for _ in range(layers))


class LSTMStack(nn.Module):
    """Dense(hidden) -> `layers` LSTM cells -> Dense(out) (and a second Dense when Gaussian)."""

    out: int
    hidden: int
    layers: int
    gaussian: bool = False

    def setup(self):
        self.embed = nn.Dense(self.hidden)
        self.cells = [nn.OptimizedLSTMCell(self.hidden) for _ in range(self.layers)]
        self.head = nn.Dense(self.out)
        if self.gaussian:
            self.log_var_head = nn.Dense(self.out)

    def __call__(self, state: tuple, x: Array) -> tuple[tuple, Array | tuple[Array, Array]]:
        """One time step: (state, x (B, in)) -> (state, output); the state is per layer (c, h)."""
        h = self.embed(x)
        new_state = []
        for cell, carry in zip(self.cells, state, strict=True):
            carry, h = cell(carry, h)
            new_state.append(carry)
        if self.gaussian:
            return tuple(new_state), (self.head(h), self.log_var_head(h))
        return tuple(new_state), jnp.tanh(self.head(h))


class SVG(nn.Module):
    """The SVG networks; methods are called one at a time with `apply(..., method=...)`."""

    dim: int = 128  # frame embedding g (their g_dim)
    z_dim: int = 10
    width: int = 64  # encoder / decoder base width (their nf)
    hidden: int = 256  # LSTM units (their rnn_size)
    predictor_layers: int = 2
    posterior_layers: int = 1
    prior_layers: int = 1
    prior: str = "learned"
    channels: int = 1

    def setup(self):
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        self.encoder = FrameEncoder(self.dim, self.width)
        self.decoder = FrameDecoder(self.width, self.channels)
        self.predictor = LSTMStack(self.dim, self.hidden, self.predictor_layers)
        if self.stochastic:
            self.posterior_net = LSTMStack(self.z_dim, self.hidden, self.posterior_layers,
                                           gaussian=True)
        if self.prior == "learned":
            self.prior_net = LSTMStack(self.z_dim, self.hidden, self.prior_layers,
                                       gaussian=True)

    @property
    def stochastic(self) -> bool:
        return self.prior != "none"

    def __call__(self, frames: Array) -> Array:
        """Touches every network once (for `init`): frames (N, S, S, C) -> reconstructions."""
        h, skips = self.encode(frames)
        batch = frames.shape[0]
        state = self.initial_state(batch)
        z = jnp.zeros((batch, self.z_dim))
        if self.stochastic:
            self.posterior(state["posterior"], h)
        if self.prior == "learned":
            self.learned_prior(state["prior"], h)
        _, g = self.predict(state["predictor"], h, z)
        return self.decode(g, skips)

    def encode(self, frames: Array) -> tuple[Array, tuple[Array, ...]]:
        return self.encoder(frames)

    def decode(self, g: Array, skips: tuple[Array, ...]) -> Array:
        return self.decoder(g, skips)

    def predict(self, state: tuple, h: Array, z: Array) -> tuple[tuple, Array]:
        """One predictor step on [h_{t-1}, z_t] (h alone without z)."""
        return self.predictor(state, jnp.concatenate([h, z], -1) if self.stochastic else h)

    def posterior(self, state: tuple, h: Array) -> tuple[tuple, tuple[Array, Array]]:
        return self.posterior_net(state, h)

    def learned_prior(self, state: tuple, h: Array) -> tuple[tuple, tuple[Array, Array]]:
        return self.prior_net(state, h)

    def initial_state(self, batch: int) -> dict[str, tuple]:
        """Zero LSTM states for every stack the variant has (a pytree for `lax.scan`)."""
        state = {"predictor": _zero_state(batch, self.hidden, self.predictor_layers)}
        if self.stochastic:
            state["posterior"] = _zero_state(batch, self.hidden, self.posterior_layers)
        if self.prior == "learned":
            state["prior"] = _zero_state(batch, self.hidden, self.prior_layers)
        return state

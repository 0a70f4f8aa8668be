"""DRAW: a recurrent VAE that writes an image onto a canvas over T steps.

Gregor, Danihelka, Graves, Rezende & Wierstra 2015, Section 2. With the canvas
c_t holding Bernoulli logits, at each step t = 1..T (eqs. 3-8):

    x_hat_t  = x - sigmoid(c_{t-1})                              (3)  error image
    r_t      = read(x, x_hat_t, h_dec_{t-1})                     (4)
    h_enc_t  = LSTM_enc(h_enc_{t-1}, [r_t, h_dec_{t-1}])         (5)
    z_t      ~ Q(Z_t | h_enc_t) = N(mu_t, sigma_t),              (6)
               mu_t = W(h_enc_t), log sigma_t = W(h_enc_t)       (1-2)
    h_dec_t  = LSTM_dec(h_dec_{t-1}, z_t)                        (7)
    c_t      = c_{t-1} + write(h_dec_t)                          (8)

and D(x | c_T) = Bernoulli(sigmoid(c_T)). Generation (eqs. 13-15) runs the
decoder half alone on z_t ~ N(0, I). `read` and `write` are the attention or
no-attention functions of `genjax.models.draw_attention`. The initial canvas
and LSTM states are zero.

The module holds no randomness: `__call__(images, noise)` takes the standard
normal noise (T, batch, latent_dim) and sets z_t = mu_t + sigma_t noise_t, so
that every loss, bound and figure chooses its own noise. The T steps run in
one `nn.scan` (a `lax.scan` sharing the step's parameters); `unroll=True` runs
the same step, with the same parameters, in a Python loop instead.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models import draw_attention as attention

Array = jax.Array


class DRAWStep(nn.Module):
    """One step of eqs. 3-8; the carry is (canvas (batch, B, A), enc LSTM state, dec LSTM state)."""

    height: int
    width: int
    lstm_size: int
    latent_dim: int
    attention: bool
    read_size: int
    write_size: int

    def setup(self):
        self.encoder = nn.OptimizedLSTMCell(self.lstm_size)
        self.decoder = nn.OptimizedLSTMCell(self.lstm_size)
        self.posterior = nn.Dense(2 * self.latent_dim)
        if self.attention:
            self.read_head = nn.Dense(5)
            self.write_head = nn.Dense(5)
            self.write_patch = nn.Dense(self.write_size ** 2)
        else:
            self.write_patch = nn.Dense(self.height * self.width)

    def read(self, images: Array, error: Array, h_dec: Array) -> Array:
        if self.attention:
            return attention.read_attention(images, error, self.read_head(h_dec), self.read_size)
        return attention.read_no_attention(images, error)

    def write(self, h_dec: Array) -> Array:
        patch = self.write_patch(h_dec)
        if self.attention:
            patch = patch.reshape(-1, self.write_size, self.write_size)
            return attention.write_attention(patch, self.write_head(h_dec), self.width,
                                             self.height)
        return patch.reshape(-1, self.height, self.width)

    def decode(self, carry, z: Array):
        """Eqs. 7-8: (carry, z_t) -> (carry, c_t)."""
        canvas, enc_state, dec_state = carry
        dec_state, h_dec = self.decoder(dec_state, z)
        canvas = canvas + self.write(h_dec)
        return (canvas, enc_state, dec_state), canvas

    def __call__(self, carry, noise: Array, images: Array):
        """Eqs. 3-8: (carry, noise_t, x) -> (carry, (c_t, mu_t, log sigma_t))."""
        canvas, enc_state, dec_state = carry
        h_dec = dec_state[1]
        error = images - jax.nn.sigmoid(canvas)
        read = self.read(images, error, h_dec)
        enc_state, h_enc = self.encoder(enc_state, jnp.concatenate([read, h_dec], axis=-1))
        mu, log_sigma = jnp.split(self.posterior(h_enc), 2, axis=-1)
        z = mu + jnp.exp(log_sigma) * noise
        carry, canvas = self.decode((canvas, enc_state, dec_state), z)
        return carry, (canvas, mu, log_sigma)


def _infer(step: DRAWStep, carry, noise, images):
    return step(carry, noise, images)


def _generate(step: DRAWStep, carry, z):
    return step.decode(carry, z)


_SCAN = {"variable_broadcast": "params", "split_rngs": {"params": False}}
_scan_infer = nn.scan(_infer, in_axes=(0, nn.broadcast), **_SCAN)
_scan_generate = nn.scan(_generate, **_SCAN)


class DRAW(nn.Module):
    """DRAW on (batch, height, width, 1) images in {0, 1}; T = `num_steps`.

    `attention=False` is the no-attention variant (eqs. 17-18); otherwise
    reads are `read_size` x `read_size` glimpses and writes `write_size` x
    `write_size` patches (eqs. 27-29).
    """

    height: int = 28
    width: int = 28
    num_steps: int = 16
    lstm_size: int = 256
    latent_dim: int = 100
    attention: bool = True
    read_size: int = 2
    write_size: int = 5

    def setup(self):
        self.step = DRAWStep(self.height, self.width, self.lstm_size, self.latent_dim,
                             self.attention, self.read_size, self.write_size)

    def _initial_carry(self, batch: int):
        zeros = jnp.zeros((batch, self.lstm_size))
        return (jnp.zeros((batch, self.height, self.width)), (zeros, zeros), (zeros, zeros))

    def __call__(self, images: Array, noise: Array, *, unroll: bool = False) -> dict[str, Array]:
        """images (batch, B, A, 1), noise (T, batch, latent_dim) -> a dict of

        `canvases` (T, batch, B, A) logits c_1..c_T, `mu` and `log_sigma`
        (T, batch, latent_dim) of Q(Z_t | h_enc_t), and `logits`
        (batch, B, A, 1) = c_T, the final canvas.
        """
        pixels = images[..., 0]
        carry = self._initial_carry(images.shape[0])
        if unroll:
            outputs = []
            for noise_t in noise:
                carry, output = self.step(carry, noise_t, pixels)
                outputs.append(output)
            canvases, mu, log_sigma = (jnp.stack(x) for x in zip(*outputs, strict=True))
        else:
            _, (canvases, mu, log_sigma) = _scan_infer(self.step, carry, noise, pixels)
        return {"canvases": canvases, "mu": mu, "log_sigma": log_sigma,
                "logits": canvases[-1][..., None]}

    def generate(self, z: Array) -> Array:
        """Eqs. 13-15: prior z (T, batch, latent_dim) -> canvases (T, batch, B, A) logits."""
        _, canvases = _scan_generate(self.step, self._initial_carry(z.shape[1]), z)
        return canvases

"""Exponential moving average of parameters, e.g. the generator's (Yazici et al. 2019).

    ema <- decay * ema + (1 - decay) * params

Evaluating a GAN generator with averaged weights gives better samples than the
last iterate ("The Unusual Effectiveness of Averaging in GAN Training", Yazici
et al. 2019). Early in training the average would be dominated by the random
initialisation, so `ema_decay` can warm the decay up as
min(decay, (1 + step) / (10 + step)), the schedule of TensorFlow's
`tf.train.ExponentialMovingAverage(num_updates=step)`: 0.1 at step 0, 0.5 at
step 8, 0.9 at step 80, and `decay` from then on for decay 0.9 (0.999 from step
8990).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

Params = Any


def ema_decay(decay: float, step: jax.Array | int | None = None) -> jax.Array:
    """`decay`, or min(decay, (1 + step) / (10 + step)) when a step is given."""
    decay = jnp.asarray(decay, jnp.float32)
    if step is None:
        return decay
    step = jnp.asarray(step, jnp.float32)
    return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def ema_update(ema_params: Params, params: Params, decay: float | jax.Array,
               step: jax.Array | int | None = None) -> Params:
    """decay * ema_params + (1 - decay) * params, leaf by leaf.

    With `step`, the decay is warmed up (see `ema_decay`); without it the
    decay is used as given. Leaves keep the dtype of `ema_params`.
    """
    decay = ema_decay(decay, step)
    return jax.tree.map(
        lambda ema, new: (decay * ema + (1.0 - decay) * new).astype(ema.dtype),
        ema_params,
        params,
    )

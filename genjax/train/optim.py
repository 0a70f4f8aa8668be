"""Optimizer factory: an optax transformation from an `ml_collections` config.

Config fields (`config.optimizer`): `name` (adam | adamw | sgd), `lr`, `b1`, `b2`,
`weight_decay` (adamw), `momentum` and `nesterov` (sgd), `schedule`
(constant | cosine | warmup_cosine | linear_decay), `warmup_steps`, `decay_start`
(linear_decay: constant until that step, then linear to 0 at the run's last step,
CycleGAN's schedule, Zhu et al. 2017, Section 4; default: half the run),
`grad_clip` (global norm; 0 disables).
"""

from __future__ import annotations

from collections.abc import Callable

import optax

from genjax.errors import UserError


def _adam(c, lr):
    return optax.adam(lr, b1=c.get("b1", 0.9), b2=c.get("b2", 0.999))


def _adamw(c, lr):
    return optax.adamw(lr, b1=c.get("b1", 0.9), b2=c.get("b2", 0.999),
                       weight_decay=c.get("weight_decay", 1e-4))


def _sgd(c, lr):
    return optax.sgd(lr, momentum=c.get("momentum", 0.9) or None,
                     nesterov=c.get("nesterov", False))


OPTIMIZERS: dict[str, Callable] = {"adam": _adam, "adamw": _adamw, "sgd": _sgd}


def _constant(c, total_steps):
    return optax.constant_schedule(c.lr)


def _cosine(c, total_steps):
    return optax.cosine_decay_schedule(c.lr, decay_steps=max(total_steps, 1))


def _warmup_cosine(c, total_steps):
    warmup = c.get("warmup_steps", 0)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=c.lr, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1), end_value=c.get("end_lr", 0.0))


def decay_start(c, total_steps: int) -> int:
    """linear_decay's first decaying step: `decay_start`, or half the run if unset."""
    start = c.get("decay_start", None)
    return total_steps // 2 if start is None else start


def _linear_decay(c, total_steps):
    start = decay_start(c, total_steps)
    return optax.join_schedules(
        [optax.constant_schedule(c.lr),
         optax.linear_schedule(c.lr, 0.0, transition_steps=max(total_steps - start, 1))],
        [start])


SCHEDULES: dict[str, Callable] = {
    "constant": _constant, "cosine": _cosine, "warmup_cosine": _warmup_cosine,
    "linear_decay": _linear_decay,
}


def check_optimizer_config(c, what: str = "optimizer") -> None:
    if c.name not in OPTIMIZERS:
        raise UserError(f"unknown {what}.name {c.name!r}; choose one of {sorted(OPTIMIZERS)}")
    schedule = c.get("schedule", "constant")
    if schedule not in SCHEDULES:
        raise UserError(f"unknown {what}.schedule {schedule!r}; choose one of {sorted(SCHEDULES)}")
    if not c.lr > 0:
        raise UserError(f"{what}.lr must be positive, got {c.lr}")
    start = c.get("decay_start", None)
    if start is not None and (isinstance(start, bool) or not isinstance(start, int)
                              or start < 0):
        raise UserError(f"{what}.decay_start must be an integer >= 0, got {start!r}")
    if c.get("grad_clip", 0.0) < 0:
        raise UserError(f"{what}.grad_clip must be >= 0, got {c.grad_clip}")


def make_optimizer(c, total_steps: int) -> optax.GradientTransformation:
    """The optimizer for config `c` over a run of `total_steps` steps."""
    check_optimizer_config(c)
    lr = SCHEDULES[c.get("schedule", "constant")](c, total_steps)
    parts = []
    if c.get("grad_clip", 0.0) > 0:
        parts.append(optax.clip_by_global_norm(c.grad_clip))
    parts.append(OPTIMIZERS[c.name](c, lr))
    return optax.chain(*parts)

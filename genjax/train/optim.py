"""Optimizer factory: an optax transformation from an `ml_collections` config.

Config fields (`config.optimizer`): `name` (adam | adamw | sgd), `lr`, `b1`, `b2`,
`weight_decay` (adamw), `momentum` and `nesterov` (sgd), `schedule`
(constant | cosine | warmup_cosine), `warmup_steps`, `grad_clip` (global norm;
0 disables).
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


SCHEDULES: dict[str, Callable] = {
    "constant": _constant, "cosine": _cosine, "warmup_cosine": _warmup_cosine,
}


def check_optimizer_config(c, what: str = "optimizer") -> None:
    if c.name not in OPTIMIZERS:
        raise UserError(f"unknown {what}.name {c.name!r}; choose one of {sorted(OPTIMIZERS)}")
    schedule = c.get("schedule", "constant")
    if schedule not in SCHEDULES:
        raise UserError(f"unknown {what}.schedule {schedule!r}; choose one of {sorted(SCHEDULES)}")
    if not c.lr > 0:
        raise UserError(f"{what}.lr must be positive, got {c.lr}")
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

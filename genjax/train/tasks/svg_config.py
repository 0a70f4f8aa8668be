"""SVG configs: one-line validation of every field, before anything is built.

See genjax/train/tasks/svg.py for the fields' meaning and
experiments/configs/svg_lp.py for their defaults. The frames are checked by
genjax/data/moving.py's `check_moving`; the networks are then built by tracing
(`genjax.models.build.make_video_model`).
"""

from __future__ import annotations

from genjax import data
from genjax.config import check_int
from genjax.data import moving
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.models import registry, svg
from genjax.train import optim


def check_config(c) -> None:
    """One-line UserErrors for the SVG-specific fields."""
    data.check_dataset(c.data.name, c.data.train_split)
    data.check_dataset(c.data.name, c.data.eval_split)
    item_size = DATASETS[c.data.name].shape[0]
    check_int(c.num_cond, "num_cond")
    check_int(c.num_future, "num_future", minimum=0)
    if c.num_future < 1:
        raise UserError(f"num_cond ({c.num_cond}) must be fewer than the sequence length "
                        f"num_cond + num_future ({c.num_cond + c.num_future}): nothing is left "
                        "to predict; set num_future >= 1")
    m = c.moving
    moving.check_moving(m.frame_size, m.num_items, c.num_cond + c.num_future, item_size,
                        num_cond=c.num_cond)
    check_int(m.max_speed, "moving.max_speed")
    if not isinstance(m.deterministic, bool):
        raise UserError(f"moving.deterministic must be True or False, got {m.deterministic!r}")
    try:
        svg.num_levels(m.frame_size)
    except ValueError:
        raise UserError(f"moving.frame_size must be 4 * 2^k (32, 64, 128, ...) for the "
                        f"frame encoder, got {m.frame_size}") from None
    registry.model_class("video", c.model.name)
    if c.model.prior not in svg.PRIORS:
        raise UserError(f"unknown model.prior {c.model.prior!r}; choose one of "
                        f"{list(svg.PRIORS)} (SVG-LP, SVG-FP, deterministic)")
    for field in ("dim", "z_dim", "width", "hidden", "predictor_layers", "posterior_layers",
                  "prior_layers"):
        check_int(c.model[field], f"model.{field}")
    if not c.loss.beta >= 0:
        raise UserError(f"loss.beta must be >= 0, got {c.loss.beta}")
    optim.check_optimizer_config(c.optimizer, "optimizer")
    check_int(c.eval_num_sequences, "eval_num_sequences")
    check_int(c.eval_num_samples, "eval_num_samples")
    check_int(c.eval_num_future, "eval_num_future")

"""CycleGAN configs: one-line validation of every field, before anything is built.

See genjax/train/tasks/cyclegan.py for the fields' meaning and
experiments/configs/cyclegan_sneaker_boot.py for their defaults. The domains are
checked by genjax/data/domains.py's `check_domains`; the models are then built
by tracing (`genjax.models.build.make_cyclegan`).
"""

from __future__ import annotations

from genjax import data
from genjax.config import check_int
from genjax.data import domains
from genjax.errors import UserError
from genjax.losses.gan import GAN_LOSSES
from genjax.models import pix2pix as pix2pix_models
from genjax.models import registry
from genjax.train import optim


def check_config(c) -> None:
    """One-line UserErrors for the CycleGAN-specific fields."""
    data.check_dataset(c.data.name, c.data.train_split, image_range="[-1,1]")
    data.check_dataset(c.data.name, c.data.eval_split)
    domains.check_domains(c.data.name, c.domains.a, c.domains.b)
    registry.model_class("cyclegan_generator", c.model.name)
    registry.model_class("patch_discriminator", c.model.discriminator, "model.discriminator")
    check_int(c.model.width, "model.width")
    check_int(c.model.d_width, "model.d_width")
    check_int(c.eval_num_examples, "eval_num_examples")
    if c.model.name == "resnet":
        check_int(c.model.blocks, "model.blocks", minimum=0)
    elif not 0.0 <= c.model.dropout < 1.0:
        raise UserError(f"model.dropout must be in [0, 1), got {c.model.dropout}")
    if c.model.d_norm not in pix2pix_models.NORMS:
        raise UserError(f"unknown model.d_norm {c.model.d_norm!r}; choose one of "
                        f"{list(pix2pix_models.NORMS)}")
    check_int(c.pool_size, "pool_size", minimum=0, note=" (0: no image history)")
    if c.loss.name not in GAN_LOSSES or c.loss.name == "wgan":
        raise UserError(f"unknown loss.name {c.loss.name!r}; choose one of "
                        f"{sorted(set(GAN_LOSSES) - {'wgan'})}")
    for field in ("adv_weight", "cycle_weight", "identity_weight"):
        if c.loss[field] < 0:
            raise UserError(f"loss.{field} must be >= 0, got {c.loss[field]}")
    for name in ("g_optimizer", "d_optimizer"):
        optim.check_optimizer_config(c[name], name)
        start = optim.decay_start(c[name], c.num_train_steps)
        if c[name].get("schedule") == "linear_decay" and start > c.num_train_steps:
            raise UserError(f"{name}.decay_start={start} is past num_train_steps="
                            f"{c.num_train_steps}")

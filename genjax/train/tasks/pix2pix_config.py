"""pix2pix configs: one-line validation of every field, before anything is built.

See genjax/train/tasks/pix2pix.py for the fields' meaning and
experiments/configs/pix2pix_sr4.py for their defaults. The pair task's options
are checked by genjax/data/pairs.py's `check_pairs`; the models are then built
by tracing (`genjax.models.build.make_image_to_image`).
"""

from __future__ import annotations

from genjax import data
from genjax.config import check_int
from genjax.data.pairs import check_pairs
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.losses.gan import GAN_LOSSES
from genjax.models import registry
from genjax.train import optim


def check_config(c) -> None:
    """One-line UserErrors for the pix2pix-specific fields."""
    data.check_dataset(c.data.name, c.data.train_split, image_range="[0,1]")
    data.check_dataset(c.data.name, c.data.eval_split)
    data.subset_fields(c.data)  # train_fraction in (0, 1], an integer subset_seed
    check_pairs(c.pairs.name, c.pairs, DATASETS[c.data.name].shape)
    registry.model_class("image_to_image", c.model.name)
    check_int(c.model.width, "model.width")
    if not 0.0 <= c.model.dropout < 1.0:
        raise UserError(f"model.dropout must be in [0, 1), got {c.model.dropout}")
    if c.loss.l1_weight < 0:
        raise UserError(f"loss.l1_weight (lambda) must be >= 0, got {c.loss.l1_weight}")
    if c.loss.adv_weight < 0:
        raise UserError(f"loss.adv_weight must be >= 0 (0: the L1-only U-Net), "
                        f"got {c.loss.adv_weight}")
    if c.loss.l1_weight == 0 and c.loss.adv_weight == 0:
        raise UserError("loss.l1_weight and loss.adv_weight are both 0: nothing to train")
    if c.loss.adv_weight > 0:
        registry.model_class("patch_discriminator", c.model.discriminator,
                             "model.discriminator")
        check_int(c.model.d_width, "model.d_width")
        if c.loss.name not in GAN_LOSSES:
            raise UserError(f"unknown loss.name {c.loss.name!r}; choose one of "
                            f"{sorted(GAN_LOSSES)}")
        if c.loss.name == "wgan":
            raise UserError("loss.name='wgan' needs a Lipschitz critic, which pix2pix's D "
                            "lacks; use 'nonsaturating' (the paper's) or 'lsgan'")
        optim.check_optimizer_config(c.d_optimizer, "d_optimizer")
    optim.check_optimizer_config(c.g_optimizer, "g_optimizer")
    check_int(c.eval_num_examples, "eval_num_examples")

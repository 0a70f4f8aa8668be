"""GAN configs: one-line validation of every field.

`check_config` raises a `UserError` naming the field and the fix before
anything is built or compiled; `genjax.models.build.make_gan` then builds G and
D (and reports a model that cannot make the dataset's images). See
genjax/train/tasks/gan.py for the fields' meaning and experiments/configs/dcgan.py
for their defaults.
"""

from __future__ import annotations

from genjax import data, parallel
from genjax.data.augment import parse_policy
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import metrics
from genjax.losses.gan import GAN_LOSSES
from genjax.models import registry
from genjax.models.build import D_NORMS, gan_conditioning
from genjax.train import optim


def _check_conditioning(c) -> None:
    num_classes, how, ac_weight = gan_conditioning(c)
    if not isinstance(num_classes, int) or num_classes < 0:
        raise UserError(f"model.num_classes must be an integer >= 0 (0: unconditional), "
                        f"got {num_classes!r}")
    if how not in registry.MODELS["conditional_discriminator"]:
        raise UserError(f"unknown model.conditioning {how!r}; "
                        f"choose one of {registry.names('conditional_discriminator')}")
    if ac_weight < 0:
        raise UserError(f"loss.ac_weight must be >= 0, got {ac_weight}")
    if num_classes > 0:
        dataset_classes = DATASETS[c.data.name].num_classes
        if dataset_classes is None:
            raise UserError(f"model.num_classes={num_classes} but dataset {c.data.name!r} has "
                            "no class labels; set model.num_classes=0")
        if num_classes != dataset_classes:
            raise UserError(f"model.num_classes={num_classes} but {c.data.name} has "
                            f"{dataset_classes} classes; set model.num_classes={dataset_classes}")
        if c.model.name not in registry.MODELS["conditional_generator"]:
            raise UserError(f"model.name={c.model.name!r} has no class-conditional version; "
                            f"use one of {registry.names('conditional_generator')} or "
                            "model.num_classes=0")
        if how == "acgan" and ac_weight == 0:
            raise UserError("model.conditioning='acgan' needs loss.ac_weight > 0 "
                            "(1 in Odena et al. 2017)")
    if ac_weight > 0 and (num_classes == 0 or how != "acgan"):
        raise UserError("loss.ac_weight > 0 needs model.conditioning='acgan' and "
                        "model.num_classes > 0")


def check_config(c) -> None:
    """One-line UserErrors for the GAN-specific fields (models are checked in `make_models`)."""
    data.check_dataset(c.data.name, c.data.train_split, image_range="[-1,1]")
    data.check_dataset(c.data.name, c.data.eval_split)
    data.subset_fields(c.data)  # train_fraction in (0, 1], an integer subset_seed
    registry.model_class("gan", c.model.name)
    _check_conditioning(c)
    for name in ("width", "latent_dim"):
        if not isinstance(c.model[name], int) or c.model[name] <= 0:
            raise UserError(f"model.{name} must be a positive integer, got {c.model[name]!r}")
    if c.model.d_norm not in D_NORMS:
        raise UserError(f"unknown model.d_norm {c.model.d_norm!r}; choose one of {sorted(D_NORMS)}")
    if c.loss.name not in GAN_LOSSES:
        raise UserError(f"unknown loss.name {c.loss.name!r}; choose one of {sorted(GAN_LOSSES)}")
    if c.loss.gp_weight < 0 or c.loss.r1_gamma < 0:
        raise UserError(f"loss.gp_weight and loss.r1_gamma must be >= 0, got "
                        f"{c.loss.gp_weight} and {c.loss.r1_gamma}")
    penalised = c.loss.gp_weight > 0 or c.loss.r1_gamma > 0
    if penalised and c.model.d_norm == "batch_norm":
        raise UserError("gradient penalties need per-image logits, which BatchNorm in D breaks; "
                        "set model.d_norm='none' or 'spectral_norm'")
    if c.loss.name == "wgan" and c.loss.gp_weight == 0 and c.model.d_norm != "spectral_norm":
        raise UserError("loss.name='wgan' needs a Lipschitz critic: set loss.gp_weight > 0 "
                        "(10 in Gulrajani et al. 2017) or model.d_norm='spectral_norm'")
    if not isinstance(c.n_critic, int) or c.n_critic <= 0:
        raise UserError(f"n_critic must be a positive integer, got {c.n_critic!r}")
    devices = parallel.make_mesh().devices.size
    if c.batch_size % (c.n_critic * devices):
        raise UserError(f"batch_size={c.batch_size} must be a multiple of n_critic={c.n_critic} "
                        f"x {devices} devices (each critic update takes batch_size / n_critic "
                        "real images, split over the devices)")
    metrics.check_request(dataset=c.data.name, split=c.data.eval_split,
                          num_samples=c.eval_num_samples, metrics=c.eval_metrics)
    if c.eval_batch_size < 2:
        raise UserError(f"eval_batch_size must be >= 2 (samples for the diversity ratio), "
                        f"got {c.eval_batch_size}")
    if not 0.0 <= c.ema_decay < 1.0:
        raise UserError(f"ema_decay must be in [0, 1), got {c.ema_decay}")
    try:
        parse_policy(c.diffaug_policy)
    except ValueError as err:
        raise UserError(f"diffaug_policy {c.diffaug_policy!r}: {err}") from None
    optim.check_optimizer_config(c.g_optimizer, "g_optimizer")
    optim.check_optimizer_config(c.d_optimizer, "d_optimizer")

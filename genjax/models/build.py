"""Models built from a config: the factories every task calls (one per family).

Each reads `config.model` (and the dataset's shape from `config.data.name`),
takes the class from `genjax.models.registry`, and returns flax modules. The GAN
factory also traces G and D once (`jax.eval_shape`), so that a model that cannot
make the dataset's images is reported in one line, not by a compile error.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.data.pairs import input_channels
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.models.registry import model_class

# model.d_norm -> the discriminator fields it sets
D_NORMS = {"batch_norm": {"batch_norm": True, "spectral_norm": False},
           "spectral_norm": {"batch_norm": False, "spectral_norm": True},
           "none": {"batch_norm": False, "spectral_norm": False}}


def make_classifier(config) -> nn.Module:
    m = config.model
    return model_class("classifier", m.name)(
        num_classes=DATASETS[config.data.name].num_classes, widths=tuple(m.widths),
        hidden=m.hidden, dropout=m.dropout)


def gan_conditioning(c) -> tuple[int, str, float]:
    """(model.num_classes, model.conditioning, loss.ac_weight); configs saved before
    conditioning existed (an old workdir's config.json) read as unconditional."""
    return (c.model.get("num_classes", 0), c.model.get("conditioning", "projection"),
            c.loss.get("ac_weight", 0.0))


def make_gan(c) -> tuple[nn.Module, nn.Module]:
    """G and D for the dataset's shape; shape errors are found by tracing, not compiling."""
    resolution, _, channels = shape = DATASETS[c.data.name].shape
    g_cls, d_cls = model_class("gan", c.model.name)
    num_classes, how, _ = gan_conditioning(c)
    classes, labels = {}, ()  # the conditional models' extra field and init input
    if num_classes > 0:
        g_cls = model_class("conditional_generator", c.model.name)
        d_cls = model_class("conditional_discriminator", how, "model.conditioning")
        classes, labels = {"num_classes": num_classes}, (jnp.zeros((2,), jnp.int32),)
    d_fields = {f.name for f in dataclasses.fields(d_cls)}
    norm = {k: v for k, v in D_NORMS[c.model.d_norm].items() if k in d_fields or v}
    if not set(norm) <= d_fields:
        raise UserError(f"model.name={c.model.name!r} has no model.d_norm={c.model.d_norm!r}; "
                        "use 'spectral_norm' or 'none'")
    generator = g_cls(resolution=resolution, channels=channels, width=c.model.width,
                      latent_dim=c.model.latent_dim, **classes)
    discriminator = d_cls(resolution=resolution, width=c.model.width, **norm, **classes)
    try:
        images = jax.eval_shape(functools.partial(generator.init_with_output, train=False),
                                jax.random.PRNGKey(0), jnp.zeros((2, c.model.latent_dim)),
                                *labels)[0]
        jax.eval_shape(functools.partial(discriminator.init, train=False),
                       jax.random.PRNGKey(0), jnp.zeros((2, *shape)), *labels)
    except ValueError as err:
        raise UserError(f"model {c.model.name!r} cannot be built for {c.data.name} "
                        f"{shape}: {str(err).splitlines()[0]}") from None
    if images.shape[1:] != shape:
        raise UserError(f"model {c.model.name!r} makes {images.shape[1:]} images, "
                        f"but {c.data.name} has {shape}")
    return generator, discriminator


def make_vae(config, num_params: int) -> nn.Module:
    """The VAE; `num_params` is the likelihood's decoder outputs per pixel channel."""
    resolution, _, channels = DATASETS[config.data.name].shape
    m = config.model
    return model_class("vae", m.name)(
        resolution=resolution, channels=channels, num_params=num_params,
        latent_dim=m.latent_dim, widths=tuple(m.widths), hidden=m.hidden)


def make_draw(config) -> nn.Module:
    height, width, _ = DATASETS[config.data.name].shape
    m = config.model
    return model_class("draw", m.get("name", "draw"))(
        height=height, width=width, num_steps=m.num_steps, lstm_size=m.lstm_size,
        latent_dim=m.latent_dim, attention=m.attention, read_size=m.read_size,
        write_size=m.write_size)


def make_image_to_image(config) -> tuple[nn.Module, nn.Module | None]:
    """G (inputs of the pair task's channels -> images) and D, or None when
    `loss.adv_weight` is 0 (the L1-only baseline); shapes are checked by tracing."""
    m, (height, width, channels) = config.model, DATASETS[config.data.name].shape
    in_channels = input_channels(config.pairs.name, channels)
    generator = model_class("image_to_image", m.name)(
        out_channels=channels, width=m.width, dropout=m.dropout)
    discriminator = None
    if config.loss.adv_weight > 0:
        discriminator = model_class("patch_discriminator", m.discriminator,
                                    "model.discriminator")(width=m.d_width)
    inputs = jnp.zeros((2, height, width, in_channels))
    try:
        outputs = jax.eval_shape(functools.partial(generator.init_with_output, train=False),
                                 jax.random.PRNGKey(0), inputs)[0]
        if discriminator is not None:
            jax.eval_shape(functools.partial(discriminator.init, train=False),
                           jax.random.PRNGKey(0), inputs, outputs)
    except ValueError as err:
        raise UserError(f"model {m.name!r} cannot be built for {config.data.name} "
                        f"{(height, width, channels)}: {str(err).splitlines()[0]}") from None
    return generator, discriminator


def make_cyclegan(config) -> tuple[nn.Module, nn.Module]:
    """One generator module (used for G: A -> B and F: B -> A) and one unconditional
    PatchGAN module (D_A and D_B); shapes are checked by tracing."""
    m, shape = config.model, DATASETS[config.data.name].shape
    cls = model_class("cyclegan_generator", m.name)
    extra = {"blocks": m.blocks} if m.name == "resnet" else {"dropout": m.dropout}
    generator = cls(out_channels=shape[2], width=m.width, **extra)
    discriminator = model_class("patch_discriminator", m.discriminator, "model.discriminator")(
        width=m.d_width, norm=m.d_norm)
    images = jnp.zeros((2, *shape))
    try:
        outputs = jax.eval_shape(functools.partial(generator.init_with_output, train=False),
                                 jax.random.PRNGKey(0), images)[0]
        jax.eval_shape(functools.partial(discriminator.init, train=False),
                       jax.random.PRNGKey(0), outputs)
    except ValueError as err:
        raise UserError(f"model {m.name!r} cannot be built for {config.data.name} "
                        f"{shape}: {str(err).splitlines()[0]}") from None
    return generator, discriminator


def make_video_model(config) -> nn.Module:
    """The video model for the moving-items frames (`config.moving.frame_size`, the
    dataset's channels); shapes are checked by tracing."""
    m, channels = config.model, DATASETS[config.data.name].shape[2]
    model = model_class("video", m.name)(
        dim=m.dim, z_dim=m.z_dim, width=m.width, hidden=m.hidden,
        predictor_layers=m.predictor_layers, posterior_layers=m.posterior_layers,
        prior_layers=m.prior_layers, prior=m.prior, channels=channels)
    size = config.moving.frame_size
    try:
        frames = jax.eval_shape(model.init_with_output, jax.random.PRNGKey(0),
                                jnp.zeros((2, size, size, channels)))[0]
    except ValueError as err:
        raise UserError(f"model {m.name!r} cannot be built for {size}x{size} frames: "
                        f"{str(err).splitlines()[0]}") from None
    assert frames.shape[1:] == (size, size, channels), frames.shape
    return model

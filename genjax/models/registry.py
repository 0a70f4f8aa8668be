"""The one model registry: family -> model name -> flax module class(es).

Configs name a model by `model.name` within their task's family; `model_class`
looks it up with a one-line `UserError` listing the choices. Adding a model is
one entry here. A GAN entry is a (Generator, Discriminator) pair; class-conditional
GANs take their generator by `model.name` and their discriminator by
`model.conditioning` (projection: Miyato & Koyama 2018; acgan: Odena et al. 2017).
Image-to-image tasks take their generator by `model.name` and their conditional
discriminator by `model.discriminator` (pix2pix: Isola et al. 2017); CycleGAN
(Zhu et al. 2017) its two generators by `model.name` and its two unconditional
PatchGANs by `model.discriminator`. Video models (SVG: Denton & Fergus 2018) take
their variant (learned prior, fixed prior, deterministic) by `model.prior`.
"""

from __future__ import annotations

from genjax.errors import UserError
from genjax.models import cnn, conditional, cyclegan, dcgan, draw, pix2pix, resnet_gan, svg, vae

MODELS: dict[str, dict[str, object]] = {
    "classifier": {"cnn": cnn.CNN},
    "gan": {"dcgan": (dcgan.Generator, dcgan.Discriminator),
            "resnet": (resnet_gan.Generator, resnet_gan.Discriminator)},
    "conditional_generator": {"dcgan": conditional.ConditionalGenerator},
    "conditional_discriminator": {"projection": conditional.ProjectionDiscriminator,
                                  "acgan": conditional.ACGANDiscriminator},
    "vae": {"conv": vae.VAE},
    "draw": {"draw": draw.DRAW},
    "image_to_image": {"unet": pix2pix.UNet},
    "patch_discriminator": {"patchgan": pix2pix.PatchGAN},
    "cyclegan_generator": {"resnet": cyclegan.ResnetGenerator, "unet": pix2pix.UNet},
    "video": {"svg": svg.SVG},
}


def names(family: str) -> list[str]:
    """The registered model names of `family`, sorted."""
    return sorted(MODELS[family])


def model_class(family: str, name: str, field: str = "model.name"):
    """MODELS[family][name], or a `UserError` naming `field` and the choices."""
    if name not in MODELS[family]:
        raise UserError(f"unknown {field} {name!r}; choose one of {names(family)}")
    return MODELS[family][name]

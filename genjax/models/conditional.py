"""Class-conditional DCGANs: conditional BatchNorm in G, projection or AC-GAN discriminators.

Modules are called as `G(z, labels, *, train) -> images` and
`D(images, labels, *, train) -> logits` (or `(logits, class_logits)` for AC-GAN),
with integer labels of shape (N,). The layout is the DCGAN of
genjax/models/dcgan.py (Radford et al. 2015), whose helpers they import.

- Conditional BatchNorm (de Vries et al. 2017, "Modulating early visual
  processing by language", eq. 3; in the categorical form of Dumoulin et al.
  2017 and Miyato & Koyama 2018, Section 4): x is normalised with statistics
  shared by all classes, then scaled and shifted by the gamma_y and beta_y of
  its own class, two rows of learnt (num_classes, C) tables. The tables start
  at gamma = 1, beta = 0, so an untrained G is the unconditional DCGAN.
- Projection discriminator (Miyato & Koyama 2018, "cGANs with Projection
  Discriminator", eq. 3): D(x, y) = psi(phi(x)) + <V y, phi(x)>, where phi is
  DCGAN D's trunk (everything before its final linear layer), psi that final
  linear layer and V y the embedding of class y. The inner product is the
  log-density ratio log q(y|x) / p(y|x) of a log-linear class model (their
  eq. 1-2), so D needs no class head and no concatenation of y to x.
- AC-GAN discriminator (Odena, Olah & Shlens 2017, "Conditional Image Synthesis
  with Auxiliary Classifier GANs", Section 3): the same trunk with two heads, a
  real/fake logit and class logits for P(C | X). It ignores the label input;
  the step's auxiliary cross-entropy (genjax/losses/gan.py) does the conditioning.

With spectral normalisation (Miyato et al. 2018) D's embedding and heads are
normalised too, as in Miyato & Koyama's own projection model.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.dcgan import (
    DCGAN_INIT,
    START_SIZES,
    DCGANFeatures,
    _num_upsamplings,
)
from genjax.models.layers import ConvTranspose, spectral_normed

Array = jax.Array

# dcgan._batch_norm's settings (PyTorch's defaults), here without the shared affine part.
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5


def _check_labels(labels: Array, batch: int, name: str) -> None:
    if labels.shape != (batch,):
        raise ValueError(f"{name} expects labels of shape ({batch},), got {labels.shape}.")


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose scale and shift are looked up per example from its class label.

    x (N, ..., C), labels (N,) -> gamma[labels] * BN(x) + beta[labels]; the batch
    statistics (and the running averages kept for `train=False`) are shared by
    all classes, as in de Vries et al. 2017.
    """

    num_classes: int

    @nn.compact
    def __call__(self, x: Array, labels: Array, *, train: bool) -> Array:
        x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                         epsilon=BN_EPSILON, use_scale=False, use_bias=False)(x)
        features = x.shape[-1]
        gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones,
                         name="gamma")(labels)
        beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                        name="beta")(labels)
        per_example = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
        return x * gamma.reshape(per_example) + beta.reshape(per_example)


class ConditionalGenerator(nn.Module):
    """(z (N, latent_dim), labels (N,)) -> images (N, R, R, channels) in [-1, 1].

    DCGAN's generator with every BatchNorm replaced by `ConditionalBatchNorm`.
    `label_embed_dim > 0` also concatenates a learnt label embedding of that
    size to z (Mirza & Osindero 2014), so the first projection sees the class too.
    """

    num_classes: int
    resolution: int = 28
    channels: int = 1
    width: int = 64
    latent_dim: int = 100
    label_embed_dim: int = 0

    @nn.compact
    def __call__(self, z: Array, labels: Array, *, train: bool) -> Array:
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"ConditionalGenerator expects z of shape (N, {self.latent_dim}), "
                             f"got {z.shape}.")
        _check_labels(labels, z.shape[0], "ConditionalGenerator")
        n = _num_upsamplings(self.resolution)
        size = START_SIZES[self.resolution]
        features = self.width * 2 ** (n - 1)
        if self.label_embed_dim:
            embedding = nn.Embed(self.num_classes, self.label_embed_dim,
                                 embedding_init=DCGAN_INIT, name="label_embedding")(labels)
            z = jnp.concatenate([z, embedding], axis=-1)
        x = nn.Dense(size * size * features, use_bias=False, kernel_init=DCGAN_INIT)(z)
        x = x.reshape(z.shape[0], size, size, features)
        x = nn.relu(ConditionalBatchNorm(self.num_classes)(x, labels, train=train))
        for stage in range(n - 1):
            features = self.width * 2 ** (n - 2 - stage)
            x = ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME",
                              use_bias=False, kernel_init=DCGAN_INIT)(x)
            x = nn.relu(ConditionalBatchNorm(self.num_classes)(x, labels, train=train))
        x = ConvTranspose(self.channels, (4, 4), strides=(2, 2), padding="SAME",
                          kernel_init=DCGAN_INIT)(x)
        return jnp.tanh(x)


class ProjectionDiscriminator(nn.Module):
    """(images (N, R, R, C), labels (N,)) -> logits (N,) = psi(phi(x)) + <embed(y), phi(x)>.

    Miyato & Koyama 2018, eq. 3, with psi the linear map of DCGAN D's last layer.
    """

    num_classes: int
    resolution: int = 28
    width: int = 64
    batch_norm: bool | None = None
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, images: Array, labels: Array, *, train: bool) -> Array:
        _check_labels(labels, images.shape[0], "ProjectionDiscriminator")
        phi = DCGANFeatures(self.resolution, self.width, self.batch_norm, self.spectral_norm,
                            name="features")(images, train=train)
        psi = spectral_normed(nn.Dense(1, kernel_init=DCGAN_INIT, name="psi"), phi,
                              enabled=self.spectral_norm, update_stats=train)[:, 0]
        embed = nn.Embed(self.num_classes, phi.shape[-1], embedding_init=DCGAN_INIT,
                         name="embed")
        class_vectors = spectral_normed(embed, labels, enabled=self.spectral_norm,
                                        update_stats=train)
        return psi + jnp.sum(class_vectors * phi, axis=-1)


class ACGANDiscriminator(nn.Module):
    """(images, labels) -> (logits (N,), class_logits (N, num_classes)); labels unused.

    Odena et al. 2017, Section 3: D outputs P(S | X) and P(C | X). The labels
    argument only keeps the conditional call signature; the class head is
    trained by the auxiliary loss in the step.
    """

    num_classes: int
    resolution: int = 28
    width: int = 64
    batch_norm: bool | None = None
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, images: Array, labels: Array, *, train: bool) -> tuple[Array, Array]:
        _check_labels(labels, images.shape[0], "ACGANDiscriminator")
        phi = DCGANFeatures(self.resolution, self.width, self.batch_norm, self.spectral_norm,
                            name="features")(images, train=train)
        logits = spectral_normed(nn.Dense(1, kernel_init=DCGAN_INIT, name="psi"), phi,
                                 enabled=self.spectral_norm, update_stats=train)[:, 0]
        class_logits = spectral_normed(
            nn.Dense(self.num_classes, kernel_init=DCGAN_INIT, name="classifier"), phi,
            enabled=self.spectral_norm, update_stats=train)
        return logits, class_logits


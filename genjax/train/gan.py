"""The GAN task: GANs (DCGAN, SNGAN ResNet; class-conditional DCGAN) trained by `fit`.

`GANTask` validates the config (one-line `UserError`s before anything is built),
makes G and D from `GAN_MODELS` for the dataset's shape, binds
`gan_train_step` (genjax/train/gan_step.py: n_critic D updates, one G update,
EMA of G, DiffAugment, GP / R1) and evaluates the EMA generator:

- `samples/step_<NNNNNN>.png`: 64 samples from fixed noise (a function of the
  seed), the same latents at every evaluation; also logged to TensorBoard;
- `samples/interp_<NNNNNN>.png`: 8 spherical interpolations between fixed latents;
- `eval/diversity_ratio`: the mean pairwise pixel distance of `eval_batch_size`
  EMA samples over that of as many real test images: ~1 healthy, towards 0
  under mode collapse (genjax/eval/gan_samples.py).

`finish` writes the final fixed-noise grid to `workdir/samples.png`.

Class-conditional GANs (`model.num_classes > 0`, the dataset's class count):
G is genjax/models/conditional.py's `ConditionalGenerator`, D the projection
discriminator (Miyato & Koyama 2018) or the AC-GAN one (Odena et al. 2017,
with `loss.ac_weight > 0`), as `model.conditioning` says; the training batches
carry labels. Sample grids then have one row of 8 per class, the same 8
latents in every row; interpolation row r shows class r mod num_classes, and
the diversity samples cycle through the classes, like a balanced test set.
`sampler` draws the labels uniformly; `class_sampler` takes them.

Config fields (experiments/configs/dcgan.py): data.{name, train_split,
eval_split}; model.{name, width, latent_dim, d_norm, num_classes,
conditioning}; loss.{name, gp_weight, r1_gamma, ac_weight}; n_critic;
ema_decay; ema_warmup; diffaug_policy; g_optimizer and d_optimizer
(genjax/train/optim.py; D's schedule runs over n_critic x num_train_steps updates).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax import data, parallel
from genjax.augment import parse_policy
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import gan_samples, metrics
from genjax.eval import images as image_io
from genjax.losses.gan import GAN_LOSSES
from genjax.models import dcgan, resnet_gan
from genjax.models.conditional import CONDITIONAL_DISCRIMINATORS, CONDITIONAL_GENERATORS
from genjax.train import optim
from genjax.train.gan_step import (
    GANState,
    draw_labels,
    draw_noise,
    gan_train_step,
    init_gan_state,
)

__all__ = ["GAN_MODELS", "GANState", "GANTask", "check_config", "conditioning", "draw_labels",
           "draw_noise", "gan_train_step", "init_gan_state", "make_models"]


GAN_MODELS = {**dcgan.GAN_MODELS, **resnet_gan.GAN_MODELS}  # name -> (Generator, Discriminator)
D_NORMS = {"batch_norm": {"batch_norm": True, "spectral_norm": False},
           "spectral_norm": {"batch_norm": False, "spectral_norm": True},
           "none": {"batch_norm": False, "spectral_norm": False}}
GRID_SIZE = 64  # images per sample grid and per interpolation strip (8 x 8)
GRID_COLUMNS = 8


def conditioning(c) -> tuple[int, str, float]:
    """(model.num_classes, model.conditioning, loss.ac_weight); configs saved before
    conditioning existed (an old workdir's config.json) read as unconditional."""
    return (c.model.get("num_classes", 0), c.model.get("conditioning", "projection"),
            c.loss.get("ac_weight", 0.0))


def _check_conditioning(c) -> None:
    num_classes, how, ac_weight = conditioning(c)
    if not isinstance(num_classes, int) or num_classes < 0:
        raise UserError(f"model.num_classes must be an integer >= 0 (0: unconditional), "
                        f"got {num_classes!r}")
    if how not in CONDITIONAL_DISCRIMINATORS:
        raise UserError(f"unknown model.conditioning {how!r}; "
                        f"choose one of {sorted(CONDITIONAL_DISCRIMINATORS)}")
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
        if c.model.name not in CONDITIONAL_GENERATORS:
            raise UserError(f"model.name={c.model.name!r} has no class-conditional version; "
                            f"use one of {sorted(CONDITIONAL_GENERATORS)} or model.num_classes=0")
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
    if c.model.name not in GAN_MODELS:
        raise UserError(f"unknown model.name {c.model.name!r}; choose one of {sorted(GAN_MODELS)}")
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


def make_models(c) -> tuple[nn.Module, nn.Module]:
    """G and D for the dataset's shape; shape errors are found by tracing, not compiling."""
    resolution, _, channels = shape = DATASETS[c.data.name].shape
    g_cls, d_cls = GAN_MODELS[c.model.name]
    num_classes, how, _ = conditioning(c)
    classes, labels = {}, ()  # the conditional models' extra field and init input
    if num_classes > 0:
        g_cls, d_cls = CONDITIONAL_GENERATORS[c.model.name], CONDITIONAL_DISCRIMINATORS[how]
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


def _sample(g_params, g_batch_stats, *inputs, generator):  # inputs: z, or z and labels
    return generator.apply({"params": g_params, "batch_stats": g_batch_stats}, *inputs,
                           train=False)


class GANTask:
    """The `fit` task for GANs (see genjax/train/tasks.py for the protocol)."""

    progress_metric = "d_loss"

    def __init__(self, config):
        check_config(config)
        self.config = c = config
        self.shape = DATASETS[c.data.name].shape
        self.generator, self.discriminator = make_models(c)
        self.num_classes, _, ac_weight = conditioning(c)
        mesh = parallel.make_mesh()  # the mesh fit uses; one device needs no constraint
        noise_sharding = parallel.batch_sharded(mesh) if mesh.devices.size > 1 else None
        self.train_step = functools.partial(
            gan_train_step, generator=self.generator, discriminator=self.discriminator,
            loss=c.loss.name, latent_dim=c.model.latent_dim, n_critic=c.n_critic,
            gp_weight=c.loss.gp_weight, r1_gamma=c.loss.r1_gamma, ema_decay=c.ema_decay,
            ema_warmup=c.ema_warmup, diffaug_policy=c.diffaug_policy,
            noise_sharding=noise_sharding, num_classes=self.num_classes, ac_weight=ac_weight)
        self._sample = jax.jit(functools.partial(_sample, generator=self.generator))
        self._real_distance = None  # mean pairwise distance of real images, computed once

    def init_state(self, rng) -> GANState:
        c = self.config
        return init_gan_state(
            rng, generator=self.generator, discriminator=self.discriminator,
            g_tx=optim.make_optimizer(c.g_optimizer, c.num_train_steps),
            d_tx=optim.make_optimizer(c.d_optimizer, c.num_train_steps * c.n_critic),
            image_shape=self.shape, latent_dim=c.model.latent_dim, num_classes=self.num_classes)

    def train_batches(self, start_step: int):
        c = self.config
        return data.train_iterator(c.data.name, split=c.data.train_split, batch_size=c.batch_size,
                                   seed=c.seed, image_range="[-1,1]", start_step=start_step,
                                   with_labels=self.num_classes > 0)

    def ema_samples(self, state, z: np.ndarray, labels: np.ndarray | None = None
                    ) -> np.ndarray:
        """EMA-generator images for latents z (and, conditional, class labels), GRID_SIZE
        at a time (one compiled shape)."""
        params, stats = jax.device_get((state.g_ema_params, state.g_ema_batch_stats))
        inputs = (z,) if labels is None else (z, np.asarray(labels, np.int32))
        chunks = []
        for start in range(0, len(z), GRID_SIZE):
            chunk = [x[start:start + GRID_SIZE] for x in inputs]
            padded = [np.concatenate([x, np.zeros((GRID_SIZE - len(x), *x.shape[1:]), x.dtype)])
                      for x in chunk]
            chunks.append(np.asarray(self._sample(params, stats, *padded))[:len(chunk[0])])
        return np.concatenate(chunks)

    def _cycled_labels(self, num: int, repeats: int = 1) -> np.ndarray | None:
        """0, 1, ..., num_classes - 1, 0, ... (num values), each `repeats` times; None if
        unconditional."""
        if not self.num_classes:
            return None
        return np.repeat(np.arange(num) % self.num_classes, repeats).astype(np.int32)

    def grid_samples(self, state) -> np.ndarray:
        """The fixed-noise grid's images: 8 x 8, or, conditional, a row of 8 per class."""
        c = self.config
        if not self.num_classes:
            return self.ema_samples(state, gan_samples.fixed_noise(c.seed, GRID_SIZE,
                                                                   c.model.latent_dim))
        # The same 8 latents in every row: a column shows one z across the classes.
        z = gan_samples.fixed_noise(c.seed, GRID_COLUMNS, c.model.latent_dim)
        return self.ema_samples(state, np.tile(z, (self.num_classes, 1)),
                                self._cycled_labels(self.num_classes, GRID_COLUMNS))

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        """Sample grid and interpolation strip (PNG + TensorBoard), and the diversity ratio."""
        c, samples_dir = self.config, Path(workdir) / "samples"
        latent_dim = c.model.latent_dim
        grid = self.grid_samples(state)
        interpolation = self.ema_samples(
            state, gan_samples.interpolation_latents(c.seed, 8, GRID_COLUMNS, latent_dim),
            self._cycled_labels(8, GRID_COLUMNS))
        if jax.process_index() == 0:
            image_io.save_grid(grid, samples_dir / f"step_{step:06d}.png", ncol=GRID_COLUMNS)
            image_io.save_grid(interpolation, samples_dir / f"interp_{step:06d}.png",
                               ncol=GRID_COLUMNS)
        writer.write_images(step, {
            "samples": image_io.make_grid(grid, GRID_COLUMNS)[None],
            "interpolation": image_io.make_grid(interpolation, GRID_COLUMNS)[None]})
        if self._real_distance is None:
            real = next(data.eval_iterator(c.data.name, split=c.data.eval_split,
                                           batch_size=c.eval_batch_size))
            self._real_distance = gan_samples.mean_pairwise_distance(real["image"][real["mask"]])
        samples = self.ema_samples(state, gan_samples.fixed_noise(
            c.seed, c.eval_batch_size, latent_dim, gan_samples.DIVERSITY_NOISE_TAG),
            self._cycled_labels(c.eval_batch_size))
        sample_distance = gan_samples.mean_pairwise_distance(samples)
        scores = {"eval/diversity_ratio": sample_distance / self._real_distance,
                  "eval/sample_pairwise_distance": sample_distance,
                  "eval/real_pairwise_distance": self._real_distance}
        if c.eval_metrics:
            quality = metrics.evaluate(
                self.sampler(state, 100), dataset=c.data.name, split=c.data.eval_split,
                num_samples=c.eval_num_samples, metrics=c.eval_metrics, batch_size=100,
                seed=c.seed)
            scores.update({f"eval/{k}": v for k, v in quality.items()})
        return scores

    def sampler(self, state, batch_size: int):
        """`rng -> batch_size` EMA-generator images in [-1, 1] (for genjax.eval.metrics).

        Conditional models: rng is split into (latent key, label key) and the
        labels are uniform over the classes.
        """
        params, stats = jax.device_get((state.g_ema_params, state.g_ema_batch_stats))
        latent_dim, num_classes = self.config.model.latent_dim, self.num_classes

        def sample(rng):
            if not num_classes:
                z = jax.random.normal(rng, (batch_size, latent_dim))
                return self._sample(params, stats, z)
            z_key, label_key = jax.random.split(rng)
            z = jax.random.normal(z_key, (batch_size, latent_dim))
            labels = jax.random.randint(label_key, (batch_size,), 0, num_classes, jnp.int32)
            return self._sample(params, stats, z, labels)

        return sample

    def class_sampler(self, state, batch_size: int):
        """`(rng, labels) -> batch_size` EMA-generator images in [-1, 1] of the given classes.

        labels: an int array (batch_size,) of classes in [0, num_classes); the
        latents are N(0, I) drawn from rng. For per-class metrics (intra-class
        FID, Classification Accuracy Score); needs a conditional model.
        """
        if not self.num_classes:
            raise UserError("class_sampler needs a class-conditional GAN; set "
                            "model.num_classes to the dataset's class count")
        params, stats = jax.device_get((state.g_ema_params, state.g_ema_batch_stats))
        latent_dim, num_classes = self.config.model.latent_dim, self.num_classes

        def sample(rng, labels):
            if not isinstance(labels, jax.core.Tracer):  # concrete: check before sampling
                values = np.asarray(labels)
                if values.shape != (batch_size,) or not np.issubdtype(values.dtype, np.integer):
                    raise ValueError(f"labels must be an int array of shape ({batch_size},), "
                                     f"got {values.dtype} {values.shape}")
                if values.size and not 0 <= values.min() <= values.max() < num_classes:
                    raise ValueError(f"labels must lie in [0, {num_classes}), got "
                                     f"[{values.min()}, {values.max()}]")
            z = jax.random.normal(rng, (batch_size, latent_dim))
            return self._sample(params, stats, z, jnp.asarray(labels, jnp.int32))

        return sample

    def finish(self, state, workdir) -> None:
        """The final fixed-noise grid of the EMA generator: workdir/samples.png."""
        samples = self.grid_samples(state)
        if jax.process_index() == 0:
            image_io.save_grid(samples, Path(workdir) / "samples.png", ncol=GRID_COLUMNS)

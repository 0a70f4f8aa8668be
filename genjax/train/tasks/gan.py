"""The GAN task: GANs (DCGAN, SNGAN ResNet; class-conditional DCGAN) trained by `fit`.

`GANTask` validates the config (genjax/train/tasks/gan_config.py: one-line
`UserError`s before anything is built), makes G and D (genjax/models/build.py),
binds `gan_train_step` (genjax/train/gan_step.py: n_critic D updates, one G update,
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

Small data: `data.train_fraction` < 1 trains on a class-balanced fraction of
the train split (`data.subset_seed`; genjax/data/subsets.py), the same images
the classifier gets for the same fraction and seed; 1.0 is the whole split
with the same batches as ever.

Config fields (experiments/configs/dcgan.py): data.{name, train_split,
eval_split, train_fraction, subset_seed}; model.{name, width, latent_dim, d_norm, num_classes,
conditioning}; loss.{name, gp_weight, r1_gamma, ac_weight}; n_critic;
ema_decay; ema_warmup; diffaug_policy; g_optimizer and d_optimizer
(genjax/train/optim.py; D's schedule runs over n_critic x num_train_steps updates).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data, parallel
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import gan_samples, metrics
from genjax.eval import images as image_io
from genjax.eval.gan_samples import GRID_COLUMNS
from genjax.models.build import gan_conditioning, make_gan
from genjax.train import optim
from genjax.train.gan_step import GANState, gan_train_step, init_gan_state
from genjax.train.tasks.gan_config import check_config


def _sample(g_params, g_batch_stats, *inputs, generator):  # inputs: z, or z and labels
    return generator.apply({"params": g_params, "batch_stats": g_batch_stats}, *inputs,
                           train=False)


class GANTask:
    """The `fit` task for GANs: a `Task`, a `Sampler` and a `ClassSampler`."""

    progress_metric = "d_loss"

    def __init__(self, config):
        check_config(config)
        self.config = c = config
        self.shape = DATASETS[c.data.name].shape
        self.generator, self.discriminator = make_gan(c)
        self.num_classes, _, ac_weight = gan_conditioning(c)
        mesh = parallel.make_mesh()  # the mesh fit uses; one device needs no constraint
        noise_sharding = parallel.batch_sharded(mesh) if mesh.devices.size > 1 else None
        self.train_step = functools.partial(
            gan_train_step, generator=self.generator, discriminator=self.discriminator,
            loss=c.loss.name, latent_dim=c.model.latent_dim, n_critic=c.n_critic,
            gp_weight=c.loss.gp_weight, r1_gamma=c.loss.r1_gamma, ema_decay=c.ema_decay,
            ema_warmup=c.ema_warmup, diffaug_policy=c.diffaug_policy,
            noise_sharding=noise_sharding, num_classes=self.num_classes, ac_weight=ac_weight)
        self._sample = jax.jit(functools.partial(_sample, generator=self.generator))
        data.check_training_set(c.data, c.batch_size)

    def init_state(self, rng) -> GANState:
        c = self.config
        return init_gan_state(
            rng, generator=self.generator, discriminator=self.discriminator,
            g_tx=optim.make_optimizer(c.g_optimizer, c.num_train_steps),
            d_tx=optim.make_optimizer(c.d_optimizer, c.num_train_steps * c.n_critic),
            image_shape=self.shape, latent_dim=c.model.latent_dim, num_classes=self.num_classes)

    def train_batches(self, start_step: int):
        c = self.config
        images, labels, source = data.training_set(c.data)
        return data.array_train_iterator(images, labels, batch_size=c.batch_size, seed=c.seed,
                                         image_range="[-1,1]", start_step=start_step,
                                         with_labels=self.num_classes > 0, source=source)

    def ema_samples(self, state, z: np.ndarray, labels: np.ndarray | None = None
                    ) -> np.ndarray:
        """EMA-generator images for latents z (and, conditional, class labels)."""
        params, stats = jax.device_get((state.g_ema_params, state.g_ema_batch_stats))
        return gan_samples.generate(functools.partial(self._sample, params, stats), z, labels)

    def grid_samples(self, state) -> np.ndarray:
        """The fixed-noise grid's images: 8 x 8, or, conditional, a row of 8 per class."""
        c = self.config
        return self.ema_samples(state, *gan_samples.grid_inputs(c.seed, c.model.latent_dim,
                                                                self.num_classes))

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        """Sample grid and interpolation strip (PNG + TensorBoard), and the diversity ratio."""
        c, samples_dir = self.config, Path(workdir) / "samples"
        latent_dim = c.model.latent_dim
        grid = self.grid_samples(state)
        interpolation = self.ema_samples(
            state, gan_samples.interpolation_latents(c.seed, 8, GRID_COLUMNS, latent_dim),
            gan_samples.cycled_labels(8, self.num_classes, GRID_COLUMNS))
        if jax.process_index() == 0:
            image_io.save_grid(grid, samples_dir / f"step_{step:06d}.png", ncol=GRID_COLUMNS)
            image_io.save_grid(interpolation, samples_dir / f"interp_{step:06d}.png",
                               ncol=GRID_COLUMNS)
        writer.write_images(step, {
            "samples": image_io.make_grid(grid, GRID_COLUMNS)[None],
            "interpolation": image_io.make_grid(interpolation, GRID_COLUMNS)[None]})
        real_distance = gan_samples.real_pairwise_distance(c.data.name, c.data.eval_split,
                                                           c.eval_batch_size)
        samples = self.ema_samples(state, gan_samples.fixed_noise(
            c.seed, c.eval_batch_size, latent_dim, gan_samples.DIVERSITY_NOISE_TAG),
            gan_samples.cycled_labels(c.eval_batch_size, self.num_classes))
        sample_distance = gan_samples.mean_pairwise_distance(samples)
        scores = {"eval/diversity_ratio": sample_distance / real_distance,
                  "eval/sample_pairwise_distance": sample_distance,
                  "eval/real_pairwise_distance": real_distance}
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
                gan_samples.check_labels(labels, batch_size, num_classes)
            z = jax.random.normal(rng, (batch_size, latent_dim))
            return self._sample(params, stats, z, jnp.asarray(labels, jnp.int32))

        return sample

    def finish(self, state, workdir) -> None:
        """The final fixed-noise grid of the EMA generator: workdir/samples.png."""
        samples = self.grid_samples(state)
        if jax.process_index() == 0:
            image_io.save_grid(samples, Path(workdir) / "samples.png", ncol=GRID_COLUMNS)

"""The VAE task: train a convolutional VAE with `fit`, evaluate its likelihood, draw its figures.

Config fields of its own (see experiments/configs/vae.py): `model` (name,
latent_dim, widths, hidden), `likelihood` (name; `std` of the fixed Gaussian,
`min_std` of the learned one), `loss` (beta, free_bits, kl_warmup_steps) and
`eval` (IWAE samples, examples, batch and chunk sizes; the compression grid).

`evaluate` returns the single-sample test ELBO over the whole eval split, and
the IWAE-k bound (Burda et al. 2015) on its first `eval.iwae_examples`
examples when `eval.iwae_samples` > 0 (`eval/iwae<k>_nll_nats`, beside
`eval/iwae1_nll_nats`, the k = 1 bound of the same examples; the whole split
with `experiments/vae_eval.py`), and writes figures (genjax/eval/images.py) to
workdir/samples/: `<step>_samples.png` (decoder means of z ~ N(0, I), the same
z every time), `<step>_reconstructions.png` (test image, reconstruction from
the posterior mean, side by side), `<step>_interpolation.png` (rows: image a,
decodes of (1 - t) mu_a + t mu_b for 8 values of t in [0, 1], image b) and
`<step>_traversal.png` (rows: the latents with the largest KL, moved through
[-3, 3] from one image's mean). `finish` writes the same with prefix `final_`
and `compression.json` (see `genjax.eval.likelihood`: latent code bits by
bits-back and by quantising the mean, against the raw image bits, with the
reconstruction error).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data, distributed
from genjax.config import positive_ints
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import images as image_io
from genjax.eval import likelihood as likelihood_eval
from genjax.io.writers import read_jsonl
from genjax.losses.likelihoods import LIKELIHOODS, Likelihood
from genjax.losses.vae import elbo_eval_sums, elbo_loss
from genjax.models import registry
from genjax.models.build import make_vae
from genjax.train import optim, steps
from genjax.train.state import TrainState
from genjax.train.tasks.likelihood import LikelihoodTask, check_iwae_config

NUM_FIGURE_IMAGES = 32  # test images used by the reconstruction, interpolation, traversal
NUM_PRIOR_SAMPLES = 64


def vae_train_step(state: TrainState, batch, *, loss_fn, axis_name: str | None = None):
    """`steps.train_step` with `step=state.step` bound into the loss (for KL warm-up)."""
    return steps.train_step(state, batch, loss_fn=functools.partial(loss_fn, step=state.step),
                            axis_name=axis_name)


def check_config(config) -> None:
    c = config
    data.check_dataset(c.data.name, c.data.train_split, image_range=c.data.image_range)
    data.check_dataset(c.data.name, c.data.eval_split)
    registry.model_class("vae", c.model.name)
    if c.likelihood.name not in LIKELIHOODS:
        raise UserError(f"unknown likelihood.name {c.likelihood.name!r}; choose one of "
                        f"{sorted(LIKELIHOODS)}")
    wanted = LIKELIHOODS[c.likelihood.name](c.likelihood).image_range
    if c.data.image_range != wanted:
        raise UserError(f"likelihood {c.likelihood.name!r} models {wanted!r} data; set "
                        f"data.image_range={wanted!r} (got {c.data.image_range!r})")
    widths = positive_ints(c.model.widths, "model.widths")
    positive_ints(c.model.hidden, "model.hidden")
    positive_ints(c.model.latent_dim, "model.latent_dim")
    resolution = DATASETS[c.data.name].shape[0]
    if resolution % 2 ** len(widths):
        raise UserError(f"{c.data.name} images ({resolution}x{resolution}) cannot be halved "
                        f"{len(widths)} times (one per model.widths entry); use fewer widths")
    for name in ("std", "min_std"):
        if not c.likelihood[name] > 0:
            raise UserError(f"likelihood.{name} must be positive, got {c.likelihood[name]}")
    if c.loss.beta < 0 or c.loss.free_bits < 0 or c.loss.kl_warmup_steps < 0:
        raise UserError(f"loss.beta, loss.free_bits and loss.kl_warmup_steps must be >= 0, got "
                        f"{c.loss.beta}, {c.loss.free_bits} and {c.loss.kl_warmup_steps}")
    e = c.eval
    check_iwae_config(e)
    if not e.compression_grid_step > 0:
        raise UserError(f"eval.compression_grid_step must be positive, got "
                        f"{e.compression_grid_step}")
    optim.check_optimizer_config(c.optimizer)


def make_likelihood(config) -> Likelihood:
    return LIKELIHOODS[config.likelihood.name](config.likelihood)


@functools.partial(jax.jit, static_argnames=("batch_size", "latent_dim", "model", "likelihood"))
def _prior_mean(params, rng, *, batch_size: int, latent_dim: int, model, likelihood):
    z = jax.random.normal(rng, (batch_size, latent_dim))
    return likelihood.mean(model.apply({"params": params}, z, method=model.decode))


class VAETask(LikelihoodTask):
    """The `fit` task for VAEs: a `Task`, a `Sampler` and a `LikelihoodBound`."""

    def __init__(self, config):
        check_config(config)
        self.config = config
        self.likelihood = make_likelihood(config)
        self.model = make_vae(config, self.likelihood.num_params)
        self.bits_per_dim = self.likelihood.bits_per_dim
        self.shape = DATASETS[config.data.name].shape
        loss = config.loss
        loss_fn = functools.partial(elbo_loss, model=self.model, likelihood=self.likelihood,
                                    beta=loss.beta, free_bits=loss.free_bits,
                                    kl_warmup_steps=loss.kl_warmup_steps)
        self.train_step = functools.partial(vae_train_step, loss_fn=loss_fn)
        self.eval_step = functools.partial(steps.eval_step, sums_fn=functools.partial(
            elbo_eval_sums, model=self.model, likelihood=self.likelihood, seed=config.seed))
        e = config.eval
        self.iwae_sums = functools.partial(
            likelihood_eval.iwae_sums, model=self.model, likelihood=self.likelihood,
            num_samples=e.iwae_samples, chunk_size=e.iwae_chunk_size, seed=config.seed)
        self.compression_sums = functools.partial(
            likelihood_eval.compression_sums, model=self.model, likelihood=self.likelihood,
            grid_step=e.compression_grid_step)
        self.figures = jax.jit(functools.partial(image_io.vae_figure_tensors, model=self.model,
                                                 likelihood=self.likelihood))
        self.prior_noise = np.random.default_rng(config.seed).standard_normal(
            (NUM_PRIOR_SAMPLES, config.model.latent_dim)).astype(np.float32)

    def init_state(self, rng) -> TrainState:
        init_rng, state_rng = jax.random.split(rng)
        latent = jnp.zeros((1, self.config.model.latent_dim))
        variables = jax.jit(self.model.init)(init_rng, jnp.zeros((1, *self.shape)), latent)
        tx = optim.make_optimizer(self.config.optimizer, self.config.num_train_steps)
        return TrainState.create(apply_fn=self.model.apply, params=variables["params"], tx=tx,
                                 batch_stats={}, rng=state_rng)

    def sampler(self, state, batch_size: int):
        """`rng -> batch_size` images in [-1, 1]: the decoder's mean at z ~ N(0, I).

        The mean, not a draw from p(x|z): the image a VAE's sample figures show,
        and what Dai & Wipf 2019 score with FID. For `genjax.eval.metrics` and
        `experiments.evaluate`.
        """
        params = jax.device_get(state.params)
        latent_dim = self.config.model.latent_dim
        return functools.partial(_prior_mean, params, batch_size=batch_size,
                                 latent_dim=latent_dim, model=self.model,
                                 likelihood=self.likelihood)

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        metrics = self.likelihood_metrics(state, mesh)
        grids = self.write_figures(state.params, Path(workdir) / "samples", f"{step:06d}_")
        writer.write_images(step, {f"vae/{k}": g[None] for k, g in grids.items()
                                   if k in ("samples", "reconstructions")})
        return metrics

    def write_figures(self, params, directory: Path, prefix: str) -> dict[str, np.ndarray]:
        """Write the four PNGs as `<directory>/<prefix><name>.png` (process 0); returns the
        uint8 grids."""
        batch = self.figure_batch(NUM_FIGURE_IMAGES)
        tensors = jax.device_get(self.figures(jax.device_get(params), batch["image"],
                                              self.prior_noise))
        grids = {}
        for name, tiles in tensors.items():
            ncol = image_io.VAE_FIGURE_COLUMNS[name]
            if distributed.is_primary():
                image_io.save_grid(tiles, directory / f"{prefix}{name}.png", ncol)
            grids[name] = image_io.make_grid(tiles, ncol)
        return grids

    def compression(self, params, elbo: float | None = None) -> dict:
        """The eval split's code lengths and reconstruction errors (`compression.json`)."""
        totals = likelihood_eval.split_sums(self.compression_sums, {"params": params},
                                            self.eval_batches(self.config.eval_batch_size))
        return likelihood_eval.compression_report(
            totals, likelihood=self.likelihood, image_shape=self.shape,
            latent_dim=self.config.model.latent_dim,
            grid_step=self.config.eval.compression_grid_step, elbo=elbo)

    def finish(self, state, workdir) -> None:
        workdir = Path(workdir)
        params = jax.device_get(state.params)
        self.write_figures(params, workdir / "samples", "final_")
        if not distributed.is_primary():  # the sums are collective; process 0 writes
            self.compression(params)
            return
        evals = [r for r in read_jsonl(workdir / "metrics.jsonl") if "eval/elbo" in r]
        compression = self.compression(params, evals[-1]["eval/elbo"] if evals else None)
        (workdir / "compression.json").write_text(json.dumps(compression, indent=2))

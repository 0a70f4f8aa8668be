"""The VAE task: train a convolutional VAE with `fit`, evaluate its likelihood, draw its figures.

Config fields of its own (see experiments/configs/vae.py): `model` (name,
latent_dim, widths, hidden), `likelihood` (name; `std` of the fixed Gaussian,
`min_std` of the learned one), `loss` (beta, free_bits, kl_warmup_steps) and
`eval` (IWAE samples, examples, batch and chunk sizes; the compression grid).

`evaluate` returns the single-sample test ELBO over the whole eval split, and
the IWAE-k bound (Burda et al. 2015) on its first `eval.iwae_examples`
examples when `eval.iwae_samples` > 0 (`eval/iwae<k>_nll_nats`, beside
`eval/iwae1_nll_nats`, the k = 1 bound of the same examples; the whole split
with `experiments/vae_eval.py`), and writes figures to workdir/samples/: `<step>_samples.png`
(decoder means of z ~ N(0, I), the same z every time), `<step>_reconstructions.png`
(test image, reconstruction from the posterior mean, side by side),
`<step>_interpolation.png` (rows: image a, decodes of (1 - t) mu_a + t mu_b
for 8 values of t in [0, 1], image b) and `<step>_traversal.png` (rows: the
latents with the largest KL, moved through [-3, 3] from one image's mean).
`finish` writes the same with prefix `final_`, `final_metrics.json` and
`compression.json` (see `genjax.eval.likelihood`: latent code bits by bits-back
and by quantising the mean, against the raw image bits, with the
reconstruction error).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import images as image_io
from genjax.eval import likelihood as likelihood_eval
from genjax.io.writers import read_jsonl
from genjax.losses.likelihoods import LIKELIHOODS, Likelihood
from genjax.losses.vae import elbo_eval_sums, elbo_loss, gaussian_kl
from genjax.models.vae import VAE_MODELS
from genjax.train import optim, steps
from genjax.train.likelihood_task import LikelihoodTask
from genjax.train.state import TrainState

NUM_FIGURE_IMAGES = 32  # test images used by the reconstruction, interpolation, traversal
NUM_PRIOR_SAMPLES = 64
INTERPOLATION_STEPS = 8
TRAVERSAL_VALUES = np.linspace(-3.0, 3.0, 9)
TRAVERSAL_DIMS = 8


def vae_train_step(state: TrainState, batch, *, loss_fn, axis_name: str | None = None):
    """`steps.train_step` with `step=state.step` bound into the loss (for KL warm-up)."""
    return steps.train_step(state, batch, loss_fn=functools.partial(loss_fn, step=state.step),
                            axis_name=axis_name)


def check_config(config) -> None:
    c = config
    data.check_dataset(c.data.name, c.data.train_split, image_range=c.data.image_range)
    data.check_dataset(c.data.name, c.data.eval_split)
    if c.model.name not in VAE_MODELS:
        raise UserError(f"unknown model.name {c.model.name!r}; choose one of {sorted(VAE_MODELS)}")
    if c.likelihood.name not in LIKELIHOODS:
        raise UserError(f"unknown likelihood.name {c.likelihood.name!r}; choose one of "
                        f"{sorted(LIKELIHOODS)}")
    wanted = LIKELIHOODS[c.likelihood.name](c.likelihood).image_range
    if c.data.image_range != wanted:
        raise UserError(f"likelihood {c.likelihood.name!r} models {wanted!r} data; set "
                        f"data.image_range={wanted!r} (got {c.data.image_range!r})")
    widths = tuple(c.model.widths)
    if not widths or any(w <= 0 for w in widths) or c.model.hidden <= 0 or c.model.latent_dim <= 0:
        raise UserError(f"model.widths, model.hidden and model.latent_dim must be positive, got "
                        f"{widths}, {c.model.hidden} and {c.model.latent_dim}")
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
    if e.iwae_samples < 0 or min(e.iwae_examples, e.iwae_batch_size, e.iwae_chunk_size) <= 0:
        raise UserError("eval.iwae_samples must be >= 0 and eval.iwae_examples, "
                        "eval.iwae_batch_size, eval.iwae_chunk_size positive")
    if not e.compression_grid_step > 0:
        raise UserError(f"eval.compression_grid_step must be positive, got "
                        f"{e.compression_grid_step}")
    optim.check_optimizer_config(c.optimizer)


def make_likelihood(config) -> Likelihood:
    return LIKELIHOODS[config.likelihood.name](config.likelihood)


def make_model(config, likelihood: Likelihood):
    resolution, _, channels = DATASETS[config.data.name].shape
    return VAE_MODELS[config.model.name](
        resolution=resolution, channels=channels, num_params=likelihood.num_params,
        latent_dim=config.model.latent_dim, widths=tuple(config.model.widths),
        hidden=config.model.hidden)


def figure_tensors(params, images, prior_noise, *, model, likelihood: Likelihood) -> dict:
    """The figures' tiles, in [-1, 1], as (N, H, W, C) arrays ready for `save_grid`."""
    def decode(z):
        return likelihood.mean(model.apply({"params": params}, z, method=model.decode))

    units = likelihood.to_unit(images)
    mean, log_var = model.apply({"params": params}, units, method=model.encode)
    pairs = jnp.stack([units, decode(mean)], axis=1).reshape(-1, *images.shape[1:])
    a, b = mean[0::2][:8], mean[1::2][:8]
    t = jnp.linspace(0.0, 1.0, INTERPOLATION_STEPS)[None, :, None]
    path = decode(((1.0 - t) * a[:, None] + t * b[:, None]).reshape(-1, mean.shape[-1]))
    path = path.reshape(len(a), INTERPOLATION_STEPS, *images.shape[1:])
    interpolation = jnp.concatenate([units[0::2][:8, None], path, units[1::2][:8, None]], 1)
    num_dims = min(TRAVERSAL_DIMS, mean.shape[-1])
    _, dims = jax.lax.top_k(jnp.mean(gaussian_kl(mean, log_var), axis=0), num_dims)
    values = jnp.asarray(TRAVERSAL_VALUES, jnp.float32)
    moved = jnp.tile(mean[0], (num_dims, len(values), 1))
    moved = moved.at[jnp.arange(num_dims)[:, None], jnp.arange(len(values))[None], dims[:, None]
                     ].set(values[None])
    return {"samples": decode(prior_noise), "reconstructions": pairs,
            "interpolation": interpolation.reshape(-1, *images.shape[1:]),
            "traversal": decode(moved.reshape(-1, mean.shape[-1]))}


@functools.partial(jax.jit, static_argnames=("batch_size", "latent_dim", "model", "likelihood"))
def _prior_mean(params, rng, *, batch_size: int, latent_dim: int, model, likelihood):
    z = jax.random.normal(rng, (batch_size, latent_dim))
    return likelihood.mean(model.apply({"params": params}, z, method=model.decode))


def _reconstruction_error(mean: dict, name: str) -> dict:
    """MSE, PSNR (pixels in [0, 1]) and the residual bits of reconstructions from `name`."""
    error = {"mse": mean[f"{name}_mse"],
             "psnr_db": -10.0 * math.log10(max(mean[f"{name}_mse"], 1e-12))}
    if f"{name}_residual_bits" in mean:
        error["residual_bits"] = mean[f"{name}_residual_bits"]
    return error


FIGURE_COLUMNS = {"samples": 8, "reconstructions": 16, "interpolation": INTERPOLATION_STEPS + 2,
                  "traversal": len(TRAVERSAL_VALUES)}


class VAETask(LikelihoodTask):
    def __init__(self, config):
        check_config(config)
        self.config = config
        self.likelihood = make_likelihood(config)
        self.model = make_model(config, self.likelihood)
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
        self.figures = jax.jit(functools.partial(figure_tensors, model=self.model,
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
        """Write the four PNGs as `<directory>/<prefix><name>.png`; returns the uint8 grids."""
        batch = next(self.eval_batches(NUM_FIGURE_IMAGES))
        tensors = jax.device_get(self.figures(jax.device_get(params), batch["image"],
                                              self.prior_noise))
        grids = {}
        for name, tiles in tensors.items():
            image_io.save_grid(tiles, directory / f"{prefix}{name}.png", FIGURE_COLUMNS[name])
            grids[name] = image_io.make_grid(tiles, FIGURE_COLUMNS[name])
        return grids

    def compression(self, params, elbo: float | None = None) -> dict:
        """The test split's code lengths and reconstruction errors (`compression.json`).

        `elbo`, the test ELBO in nats, adds the bits-back code length of the
        whole image, -ELBO / ln 2, for discrete likelihoods.
        """
        sums = likelihood_eval.split_sums(self.compression_sums, {"params": params},
                                          self.eval_batches(self.config.eval_batch_size))
        mean = {k: v / sums["count"] for k, v in sums.items() if k != "count"}
        levels = self.likelihood.levels or 256  # continuous data comes from 8-bit images
        image_bits = math.prod(self.shape) * math.log2(levels)
        result = {"examples": int(sums["count"]), "latent_dim": self.config.model.latent_dim,
                  "image_bits": image_bits,
                  "bits_back": {"latent_bits": mean["kl_bits"],
                                "ratio": image_bits / mean["kl_bits"]},
                  "quantised_mean": {"grid_step": self.config.eval.compression_grid_step,
                                     "latent_bits": mean["quantised_bits"],
                                     "ratio": image_bits / mean["quantised_bits"]}}
        if elbo is not None and self.likelihood.levels is not None:
            result["bits_back"]["image_code_bits"] = -elbo / math.log(2)
        result["quantised_mean"].update(_reconstruction_error(mean, "quantised"))
        result["posterior_mean"] = _reconstruction_error(mean, "mean")
        return result

    def finish(self, state, workdir) -> None:
        workdir = Path(workdir)
        params = jax.device_get(state.params)
        self.write_figures(params, workdir / "samples", "final_")
        evals = [r for r in read_jsonl(workdir / "metrics.jsonl") if "eval/elbo" in r]
        compression = self.compression(params, evals[-1]["eval/elbo"] if evals else None)
        (workdir / "compression.json").write_text(json.dumps(compression, indent=2))
        if evals:
            (workdir / "final_metrics.json").write_text(json.dumps(evals[-1], indent=2))

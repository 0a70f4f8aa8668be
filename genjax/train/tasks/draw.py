"""The DRAW task: train DRAW with `fit`, evaluate its likelihood, draw its canvases.

Gregor et al. 2015 (see `genjax.models.draw`, `genjax.losses.draw`). Config
fields of its own (see experiments/configs/draw.py): `model` (num_steps T,
attention, read_size and write_size N, lstm_size, latent_dim) and `eval`
(IWAE samples, examples, batch and chunk sizes). Data must be binarised and
single-channel (the Bernoulli canvas of the paper's MNIST experiments).

`evaluate` returns the single-sample test ELBO terms over the whole eval split
(`eval/elbo`, `eval/recon`, `eval/kl`, nats) and, when `eval.iwae_samples` > 0,
the IWAE-k bound on the first `eval.iwae_examples` examples
(`eval/iwae<k>_nll_nats` beside `eval/iwae1_nll_nats` of the same samples),
computed as for the VAE so that the two compare; it writes
workdir/samples/<step>_samples.png (the final canvases, as Bernoulli means,
of fixed prior samples) and <step>_reconstructions.png (test image and its
reconstruction with z_t = mu_t, side by side). `finish` writes the same with
prefix `final_` and the drawing in workdir/animations/:
`samples.gif` and `reconstructions.gif` (one frame per canvas c_1..c_T, a grid
of examples) and `samples_strip.png`, `reconstructions_strip.png` (a row per
example, a column per step; reconstructions start with the test image).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data, distributed
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import images as image_io
from genjax.losses.draw import draw_eval_sums, draw_iwae_sums, draw_loss
from genjax.models.build import make_draw
from genjax.train import optim, steps
from genjax.train.state import TrainState
from genjax.train.tasks.likelihood import LikelihoodTask, check_iwae_config

NUM_PRIOR_SAMPLES = 64
NUM_FIGURE_IMAGES = 32  # test images reconstructed in the figures
NUM_STRIP_ROWS = 8


def check_config(config) -> None:
    c = config
    data.check_dataset(c.data.name, c.data.train_split, image_range=c.data.image_range)
    data.check_dataset(c.data.name, c.data.eval_split)
    if c.data.image_range != "binary":
        raise UserError(f"DRAW models binarised data with a Bernoulli canvas; set "
                        f"data.image_range='binary' (got {c.data.image_range!r})")
    channels = DATASETS[c.data.name].shape[-1]
    if channels != 1:
        raise UserError(f"DRAW draws single-channel images; {c.data.name} has {channels} "
                        f"channels (use mnist or fashion_mnist)")
    m = c.model
    if min(m.num_steps, m.lstm_size, m.latent_dim) <= 0:
        raise UserError(f"model.num_steps, model.lstm_size and model.latent_dim must be "
                        f"positive, got {m.num_steps}, {m.lstm_size} and {m.latent_dim}")
    if m.attention and min(m.read_size, m.write_size) < 2:
        raise UserError(f"model.read_size and model.write_size must be >= 2 with attention "
                        f"(the stride divides by N - 1), got {m.read_size} and {m.write_size}")
    check_iwae_config(c.eval)
    optim.check_optimizer_config(c.optimizer)


class DRAWTask(LikelihoodTask):
    """The `fit` task for DRAW: a `Task` and a `LikelihoodBound`."""

    def __init__(self, config):
        check_config(config)
        self.config = config
        self.model = make_draw(config)
        self.shape = DATASETS[config.data.name].shape
        self.train_step = functools.partial(
            steps.train_step, loss_fn=functools.partial(draw_loss, model=self.model))
        self.eval_step = functools.partial(steps.eval_step, sums_fn=functools.partial(
            draw_eval_sums, model=self.model, seed=config.seed))
        e = config.eval
        self.iwae_sums = functools.partial(draw_iwae_sums, model=self.model,
                                           num_samples=e.iwae_samples,
                                           chunk_size=e.iwae_chunk_size, seed=config.seed)
        self.canvases = jax.jit(functools.partial(image_io.draw_canvas_tensors, model=self.model))
        m = config.model
        self.prior_z = np.random.default_rng(config.seed).standard_normal(
            (m.num_steps, NUM_PRIOR_SAMPLES, m.latent_dim)).astype(np.float32)

    def init_state(self, rng) -> TrainState:
        init_rng, state_rng = jax.random.split(rng)
        m = self.config.model
        noise = jnp.zeros((m.num_steps, 1, m.latent_dim))
        variables = jax.jit(self.model.init)(init_rng, jnp.zeros((1, *self.shape)), noise)
        tx = optim.make_optimizer(self.config.optimizer, self.config.num_train_steps)
        return TrainState.create(apply_fn=self.model.apply, params=variables["params"], tx=tx,
                                 batch_stats={}, rng=state_rng)

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        metrics = self.likelihood_metrics(state, mesh)
        tensors = self._canvas_tensors(state.params)
        grids = self.write_figures(tensors, Path(workdir) / "samples", f"{step:06d}_")
        writer.write_images(step, {f"draw/{k}": g[None] for k, g in grids.items()})
        return metrics

    def _canvas_tensors(self, params) -> dict[str, np.ndarray]:
        batch = self.figure_batch(NUM_FIGURE_IMAGES)
        return jax.device_get(self.canvases(jax.device_get(params), batch["image"],
                                            self.prior_z))

    def write_figures(self, tensors, directory: Path, prefix: str) -> dict[str, np.ndarray]:
        """`<prefix>samples.png` and `<prefix>reconstructions.png`; returns the uint8 grids."""
        pairs = np.stack([tensors["targets"], tensors["reconstructions"][-1]], axis=1)
        tiles = {"samples": (tensors["samples"][-1], 8),
                 "reconstructions": (pairs.reshape(-1, *pairs.shape[2:]), 16)}
        grids = {}
        for name, (images, ncol) in tiles.items():
            if distributed.is_primary():
                image_io.save_grid(images, directory / f"{prefix}{name}.png", ncol)
            grids[name] = image_io.make_grid(images, ncol)
        return grids

    def write_animations(self, tensors, directory: Path) -> None:
        """The GIFs and strips of the module docstring in `directory` (process 0)."""
        if not distributed.is_primary():
            return
        samples, recons = tensors["samples"], tensors["reconstructions"]
        image_io.save_animation(samples, directory / "samples.gif", 8)
        image_io.save_animation(recons, directory / "reconstructions.gif", 8)
        image_io.save_strip(samples[:, :NUM_STRIP_ROWS], directory / "samples_strip.png")
        image_io.save_strip(recons[:, :NUM_STRIP_ROWS], directory / "reconstructions_strip.png",
                   first=tensors["targets"][:NUM_STRIP_ROWS])

    def finish(self, state, workdir) -> None:
        workdir = Path(workdir)
        tensors = self._canvas_tensors(state.params)
        self.write_figures(tensors, workdir / "samples", "final_")
        self.write_animations(tensors, workdir / "animations")

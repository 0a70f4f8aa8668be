"""The image-to-image task: pix2pix (Isola et al. 2017) and its L1-only U-Net baseline.

`Pix2PixTask` validates the config (genjax/train/tasks/pix2pix_config.py), makes
the U-Net G and the PatchGAN D (genjax/models/build.py; no D when
`loss.adv_weight` is 0) and binds `pix2pix_train_step`
(genjax/train/pix2pix_step.py: one D update then one G update, the losses of
genjax/losses/pix2pix.py). Training pairs come from real images by the pair
task `pairs.name` (genjax/data/pairs.py), exact from any step.

`evaluate` translates the first `eval_num_examples` examples of
`data.eval_split` (degraded with the fixed eval seed: the same inputs for every
method and run) with G in eval mode, and logs (genjax/eval/enhancement.py, on
[0, 1] intensities):

- eval/psnr, eval/ssim, eval/l1: the outputs against the targets;
- eval/input_psnr, eval/input_ssim, eval/input_l1: the degraded input itself
  (its first channel) against the target, the do-nothing baseline;
- samples/step_<NNNNNN>.png: 16 examples, two (input | output | target)
  triples per row, also logged to TensorBoard.

`finish` writes the final grid to workdir/samples.png. `translate(state, inputs)`
maps model inputs in [-1, 1] to outputs in [-1, 1] (`ImageToImage`).

Config fields (experiments/configs/pix2pix_sr4.py): data.{name, train_split,
eval_split}; pairs.{name, scale, mask_size, box_min, box_max, sigma, fraction};
model.{name, width, dropout, discriminator, d_width}; loss.{name, adv_weight,
l1_weight}; g_optimizer, d_optimizer (genjax/train/optim.py); eval_num_examples.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np

from genjax import data
from genjax.data import pairs
from genjax.data.registry import DATASETS
from genjax.eval import enhancement
from genjax.eval import images as image_io
from genjax.models.build import make_image_to_image
from genjax.train import optim
from genjax.train.pix2pix_step import (
    Pix2PixState,
    init_pix2pix_state,
    pix2pix_train_step,
    translate,
)
from genjax.train.tasks.pix2pix_config import check_config

GRID_EXAMPLES = 16
GRID_COLUMNS = 6  # two (input | output | target) triples per row


class Pix2PixTask:
    """The `fit` task for image-to-image translation: a `Task` and an `ImageToImage`."""

    progress_metric = "l1"

    def __init__(self, config):
        check_config(config)
        self.config = c = config
        self.shape = DATASETS[c.data.name].shape
        self.input_shape = (*self.shape[:2], pairs.input_channels(c.pairs.name, self.shape[2]))
        self.generator, self.discriminator = make_image_to_image(c)
        self.train_step = functools.partial(
            pix2pix_train_step, generator=self.generator, discriminator=self.discriminator,
            loss=c.loss.name, adv_weight=c.loss.adv_weight, l1_weight=c.loss.l1_weight)
        self._translate = jax.jit(functools.partial(translate, self.generator))
        self._eval_pairs = None
        self._input_scores = None
        data.check_training_set(c.data, c.batch_size)

    def init_state(self, rng) -> Pix2PixState:
        c = self.config
        adversarial = self.discriminator is not None
        return init_pix2pix_state(
            rng, generator=self.generator, discriminator=self.discriminator,
            g_tx=optim.make_optimizer(c.g_optimizer, c.num_train_steps),
            d_tx=optim.make_optimizer(c.d_optimizer, c.num_train_steps) if adversarial else None,
            input_shape=self.input_shape, output_channels=self.shape[2])

    def train_batches(self, start_step: int):
        """{"input", "target"} batches in [-1, 1]: pairs of the real training images."""
        c = self.config
        images, labels, source = data.training_set(c.data)
        batches = data.array_train_iterator(images, labels, batch_size=c.batch_size,
                                            seed=c.seed, image_range="[0,1]",
                                            start_step=start_step, source=source)
        return pairs.pair_batches(batches, c.pairs.name, c.pairs, seed=c.seed,
                                  start_step=start_step)

    def translate(self, state, inputs) -> jax.Array:
        """G(inputs) in eval mode: (N, H, W, C_in) in [-1, 1] -> (N, H, W, C) in [-1, 1]."""
        return self._translate(state.g.params, state.g.batch_stats, inputs)

    def eval_pairs(self) -> dict[str, np.ndarray]:
        """The eval split's first `eval_num_examples` pairs (fewer if the split is smaller)."""
        if self._eval_pairs is None:
            c = self.config
            images, _ = data.load_split(c.data.name, c.data.eval_split)
            self._eval_pairs = pairs.eval_pairs(c.pairs.name, images, c.pairs,
                                                min(c.eval_num_examples, len(images)))
        return self._eval_pairs

    def grid(self, state) -> np.ndarray:
        """(input | output | target) triples of the first eval examples, row-major."""
        batch = {k: v[:GRID_EXAMPLES] for k, v in self.eval_pairs().items()}
        outputs = np.asarray(self.translate(state, batch["input"]))
        shown = batch["input"][..., :self.shape[2]]
        return np.stack([shown, outputs, batch["target"]], axis=1).reshape(-1, *self.shape)

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        c, eval_pairs = self.config, self.eval_pairs()
        channels = self.shape[2]
        scores = enhancement.split_scores(functools.partial(self.translate, state),
                                          eval_pairs["input"], eval_pairs["target"],
                                          batch_size=c.eval_batch_size)
        if self._input_scores is None:
            self._input_scores = enhancement.split_scores(
                lambda x: x[..., :channels], eval_pairs["input"], eval_pairs["target"],
                batch_size=c.eval_batch_size)
        grid = self.grid(state)
        if jax.process_index() == 0:
            image_io.save_grid(grid, Path(workdir) / "samples" / f"step_{step:06d}.png",
                               ncol=GRID_COLUMNS)
        writer.write_images(step, {"translations": image_io.make_grid(grid, GRID_COLUMNS)[None]})
        results = {f"eval/{k}": v for k, v in scores.items()}
        results.update({f"eval/input_{k}": v for k, v in self._input_scores.items()
                        if k != "num_examples"})
        return results

    def finish(self, state, workdir) -> None:
        """The final (input | output | target) grid: workdir/samples.png."""
        grid = self.grid(state)
        if jax.process_index() == 0:
            image_io.save_grid(grid, Path(workdir) / "samples.png", ncol=GRID_COLUMNS)

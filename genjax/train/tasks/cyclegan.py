"""The unpaired translation task: CycleGAN (Zhu, Park, Isola & Efros 2017).

`CycleGANTask` validates the config (genjax/train/tasks/cyclegan_config.py),
makes one generator module for G: A -> B and F: B -> A and one PatchGAN module
for D_A and D_B (genjax/models/build.py) and binds `cyclegan_train_step`
(genjax/train/cyclegan_step.py; the losses of genjax/losses/cyclegan.py, the
image pools of genjax/train/image_pool.py). Domains are class sets
(genjax/data/domains.py); each streams from its own seeded permutation.

`evaluate` translates the first `eval_num_examples` eval-split images of each
domain both ways (eval mode) and logs:

- eval/success_ab, eval/success_ba: the share of G(a) that the shipped
  Fashion-MNIST classifier puts in one of B's classes (and of F(b) in A's);
  Fashion-MNIST only;
- eval/cycle_psnr_a, eval/cycle_ssim_a, eval/cycle_l1_a: F(G(a)) against a
  (genjax/eval/enhancement.py, on [0, 1] intensities), and the same for b;
- samples/step_<NNNNNN>.png: input | translated | reconstructed triples, two
  per row, the first rows from A, the rest from B; also logged to TensorBoard.

`finish` writes the final grid to workdir/samples.png. `translate(state,
images, direction="ab")` maps images in [-1, 1] of domain A to B ("ab", G) or
of B to A ("ba", F) (`ImageToImage`).

Config fields (experiments/configs/cyclegan_sneaker_boot.py): data.{name,
train_split, eval_split}; domains.{a, b}; model.{name, width, blocks, dropout,
discriminator, d_width, d_norm}; loss.{name, adv_weight, cycle_weight,
identity_weight}; pool_size; g_optimizer, d_optimizer (genjax/train/optim.py);
eval_num_examples.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np

from genjax import data
from genjax.data import domains
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.eval import accuracy, enhancement
from genjax.eval import images as image_io
from genjax.models import pretrained
from genjax.models.build import make_cyclegan
from genjax.train import optim
from genjax.train.cyclegan_step import (
    CycleGANState,
    cyclegan_train_step,
    init_cyclegan_state,
    translate,
)
from genjax.train.tasks.cyclegan_config import check_config

GRID_EXAMPLES = 8  # per domain
GRID_COLUMNS = 6  # two (input | translated | reconstructed) triples per row
DIRECTIONS = {"ab": ("a", "b"), "ba": ("b", "a")}  # direction -> (source, target) domain
CLASSIFIER = "fashion_mnist_cnn"


class CycleGANTask:
    """The `fit` task for unpaired translation: a `Task` and an `ImageToImage`."""

    progress_metric = "cycle_a"

    def __init__(self, config):
        check_config(config)
        self.config = c = config
        self.shape = DATASETS[c.data.name].shape
        self.classes = dict(zip(domains.DOMAINS, domains.check_domains(
            c.data.name, c.domains.a, c.domains.b), strict=True))
        self.generator, self.discriminator = make_cyclegan(c)
        self.train_step = functools.partial(
            cyclegan_train_step, generator=self.generator, discriminator=self.discriminator,
            loss=c.loss.name, adv_weight=c.loss.adv_weight, cycle_weight=c.loss.cycle_weight,
            identity_weight=c.loss.identity_weight)
        self._translate = jax.jit(functools.partial(translate, self.generator))
        self._eval_images = None
        train_labels = data.load_split(c.data.name, c.data.train_split)[1]
        for domain, classes in self.classes.items():
            count = int(np.isin(train_labels, classes).sum())
            if count < c.batch_size:
                raise UserError(f"domain {domain} ({domains.domain_name(c.data.name, classes)}) "
                                f"has {count} {c.data.train_split} images, fewer than "
                                f"batch_size={c.batch_size}")

    def init_state(self, rng) -> CycleGANState:
        c = self.config
        return init_cyclegan_state(
            rng, generator=self.generator, discriminator=self.discriminator,
            g_tx=optim.make_optimizer(c.g_optimizer, c.num_train_steps),
            d_tx=optim.make_optimizer(c.d_optimizer, c.num_train_steps),
            shape=self.shape, pool_size=c.pool_size)

    def train_batches(self, start_step: int):
        """{"a", "b"} batches in [-1, 1], each domain from its own permutation."""
        c = self.config
        images = domains.split_domains(c.data.name, c.data.train_split, c.domains.a,
                                       c.domains.b)
        return domains.unpaired_batches(images, batch_size=c.batch_size, seed=c.seed,
                                        start_step=start_step)

    def translate(self, state, images, direction: str = "ab") -> jax.Array:
        """G(images) ("ab": A -> B) or F(images) ("ba": B -> A), eval mode, [-1, 1]."""
        if direction not in DIRECTIONS:
            raise UserError(f"unknown direction {direction!r}; choose 'ab' (A -> B) or "
                            "'ba' (B -> A)")
        return self._translate(state.g.params[direction], state.g.batch_stats[direction],
                               images)

    def eval_images(self) -> dict[str, np.ndarray]:
        """{"a", "b"}: the first `eval_num_examples` eval-split images of each domain, [-1, 1]."""
        if self._eval_images is None:
            c = self.config
            split = domains.split_domains(c.data.name, c.data.eval_split, c.domains.a,
                                          c.domains.b)
            self._eval_images = {d: x[:c.eval_num_examples].astype(np.float32) / 127.5 - 1.0
                                 for d, x in split.items()}
        return self._eval_images

    def grid(self, state) -> np.ndarray:
        """input | translated | reconstructed triples: A's first examples, then B's."""
        rows = []
        for direction, (source, _) in DIRECTIONS.items():
            x = self.eval_images()[source][:GRID_EXAMPLES]
            y = np.asarray(self.translate(state, x, direction))
            back = np.asarray(self.translate(state, y, direction[::-1]))
            rows.append(np.stack([x, y, back], axis=1).reshape(-1, *self.shape))
        return np.concatenate(rows)

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        c, results = self.config, {}
        for direction, (source, target) in DIRECTIONS.items():
            images = self.eval_images()[source]
            batch = min(c.eval_batch_size, len(images))
            scores = enhancement.split_scores(
                lambda x, d=direction: self.translate(state, self.translate(state, x, d),
                                                      d[::-1]),
                images, images, batch_size=batch)
            results.update({f"eval/cycle_{k}_{source}": v for k, v in scores.items()
                            if k != "num_examples"})
            if c.data.name == "fashion_mnist":
                outputs = np.concatenate([
                    np.asarray(self.translate(state, images[i:i + batch], direction))
                    for i in range(0, len(images), batch)])
                results[f"eval/success_{direction}"] = translation_success(
                    outputs, self.classes[target])
        grid = self.grid(state)
        if jax.process_index() == 0:
            image_io.save_grid(grid, Path(workdir) / "samples" / f"step_{step:06d}.png",
                               ncol=GRID_COLUMNS)
        writer.write_images(step, {"translations": image_io.make_grid(grid, GRID_COLUMNS)[None]})
        return results

    def finish(self, state, workdir) -> None:
        """The final input | translated | reconstructed grid: workdir/samples.png."""
        grid = self.grid(state)
        if jax.process_index() == 0:
            image_io.save_grid(grid, Path(workdir) / "samples.png", ncol=GRID_COLUMNS)


def translation_success(outputs: np.ndarray, target_classes, batch_size: int = 500) -> float:
    """The share of `outputs` ([-1, 1]) the shipped classifier puts in `target_classes`."""
    model, variables, _ = pretrained.load(CLASSIFIER)
    predicted = accuracy.predicted_classes(model, variables, outputs,
                                           batch_size=min(batch_size, len(outputs)))
    return float(np.mean(np.isin(predicted, target_classes)))

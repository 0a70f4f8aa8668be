"""The video task: SVG (Denton & Fergus 2018) on Stochastic Moving Fashion-MNIST.

`SVGTask` validates the config (genjax/train/tasks/svg_config.py), builds the
networks (genjax/models/svg.py, through genjax/models/build.py) and binds
`genjax.train.steps.train_step` to SVG's objective (genjax/losses/svg.py): one
Adam step per batch of sequences, the time loop a `lax.scan` inside it. The
variant is `model.prior`: "learned" (SVG-LP), "fixed" (SVG-FP) or "none" (the
deterministic baseline). Training sequences (genjax/data/moving.py) hold
`num_cond + num_future` frames of train-split items, a pure function of
(seed, index), exact from any step.

`evaluate` continues the fixed test set's first `eval_num_sequences` sequences
(test-split items, the data seed `EVAL_SEED` whatever the run's seed) from
`num_cond` true frames to `eval_num_future` predicted ones,
`eval_num_samples` futures each, and logs the PSNR and SSIM of the predicted
frames (genjax/eval/video_metrics.py), best and mean over the samples,
averaged over the predicted steps (eval/psnr_best, eval/psnr_mean,
eval/ssim_best, eval/ssim_mean) and at the last step (..._last). It writes
samples/step_<NNNNNN>.gif (ground truth, then 3 sampled futures, per row; green
borders mark true frames, red ones predicted frames) and logs the same videos
to TensorBoard. `finish` writes workdir/samples.gif and workdir/samples.png
(a strip: rows of truth and samples, a column per frame).

Config fields (experiments/configs/svg_lp.py): moving.{frame_size, num_items,
deterministic, max_speed}; num_cond, num_future; model.{name, prior, dim,
z_dim, width, hidden, predictor_layers, posterior_layers, prior_layers};
loss.beta; optimizer; eval_num_sequences, eval_num_samples, eval_num_future.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data
from genjax.data import moving
from genjax.eval import video, video_metrics
from genjax.losses.svg import svg_loss
from genjax.models.build import make_video_model
from genjax.models.svg_rollout import sample_futures
from genjax.train import optim, steps
from genjax.train.state import TrainState
from genjax.train.tasks.svg_config import check_config

EVAL_SEED = 0  # the test set's data seed and its samples' root key: the same for every run
FIGURE_SEQUENCES = 4  # rows of the GIFs and strips
FIGURE_SAMPLES = 3  # sampled futures shown beside the truth


class SVGTask:
    """The `fit` task for video prediction."""

    progress_metric = "mse"

    def __init__(self, config):
        check_config(config)
        self.config = c = config
        self.model = make_video_model(c)
        self.train_step = functools.partial(
            steps.train_step, loss_fn=functools.partial(
                svg_loss, model=self.model, num_cond=c.num_cond, beta=c.loss.beta))
        self._futures = {}
        self._test = None

    def spec(self, num_frames: int) -> moving.MovingSpec:
        m = self.config.moving
        return moving.MovingSpec(frame_size=m.frame_size, num_items=m.num_items,
                                 seq_len=num_frames, deterministic=m.deterministic,
                                 max_speed=m.max_speed)

    def init_state(self, rng) -> TrainState:
        c = self.config
        param_key, state_key = jax.random.split(rng)
        size = c.moving.frame_size
        frames = jnp.zeros((1, size, size, self.model.channels))
        params = jax.jit(self.model.init)(param_key, frames)["params"]
        return TrainState.create(apply_fn=self.model.apply, params=params,
                                 tx=optim.make_optimizer(c.optimizer, c.num_train_steps),
                                 rng=state_key)

    def train_batches(self, start_step: int):
        """{"frames": (B, num_cond + num_future, S, S, C)} in [0, 1], train-split items."""
        c = self.config
        items, labels = data.load_split(c.data.name, c.data.train_split)
        batches = moving.train_batches(items, labels, batch_size=c.batch_size, seed=c.seed,
                                       spec=self.spec(c.num_cond + c.num_future),
                                       start_step=start_step)
        return ({"frames": b["frames"]} for b in batches)

    eval_seed = EVAL_SEED

    def test_items(self) -> tuple[np.ndarray, np.ndarray]:
        """The eval split's images and labels, the items of every test sequence."""
        c = self.config
        return data.load_split(c.data.name, c.data.eval_split)

    def test_set(self, num: int, num_frames: int) -> dict[str, np.ndarray]:
        """The first `num` test sequences of `num_frames` frames (test-split items, EVAL_SEED)."""
        items, labels = self.test_items()
        return moving.test_set(items, labels, num=num, seed=EVAL_SEED,
                               spec=self.spec(num_frames))

    def futures(self, params, cond: np.ndarray, indices: np.ndarray, *, num_frames: int,
                num_samples: int, seed: int = EVAL_SEED) -> np.ndarray:
        """(B, num_samples, num_frames, S, S, C) futures of cond (B, n, S, S, C).

        Sequence `indices[b]`'s sample s uses fold_in(fold_in(key(seed), index), s),
        so a sequence's futures do not depend on the batch it is in.
        """
        key = (num_frames, num_samples)
        if key not in self._futures:
            self._futures[key] = jax.jit(functools.partial(
                sample_futures, model=self.model, num_frames=num_frames,
                num_samples=num_samples))
        root = jax.random.PRNGKey(seed)
        keys = jax.vmap(functools.partial(jax.random.fold_in, root))(jnp.asarray(indices))
        return np.asarray(self._futures[key]({"params": params}, jnp.asarray(cond), keys))

    def futures_in_batches(self, params, cond: np.ndarray, *, num_frames: int,
                           num_samples: int, batch_size: int, seed: int = EVAL_SEED):
        """Yield (indices, futures) over cond (N, n, S, S, C), `batch_size` sequences at a time.

        Sequence i is sampled with index i (see `futures`); the last batch is padded with
        copies of its last sequence, so every call has one shape and compiles once, and the
        padding is dropped from what is yielded.
        """
        num = len(cond)
        for start in range(0, num, batch_size):
            chunk = np.arange(start, min(start + batch_size, num))
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - len(chunk))])
            futures = self.futures(params, cond[padded], padded, num_frames=num_frames,
                                   num_samples=num_samples, seed=seed)
            yield chunk, futures[:len(chunk)]

    def sample_test(self, params, *, num: int, num_future: int, num_samples: int,
                    batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The test set's first `num` sequences and their futures, in batches of sequences."""
        c = self.config
        test = self.test_set(num, c.num_cond + num_future)
        outputs = [futures for _, futures in self.futures_in_batches(
            params, test["frames"][:, :c.num_cond], num_frames=c.num_cond + num_future,
            num_samples=num_samples, batch_size=batch_size)]
        return test, np.concatenate(outputs)

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, float]:
        c = self.config
        num = c.eval_num_sequences
        test, samples = self.sample_test(state.params, num=num, num_future=c.eval_num_future,
                                         num_samples=c.eval_num_samples,
                                         batch_size=min(c.eval_batch_size, num))
        results = {}
        scores = video_metrics.frame_scores(test["frames"], samples)
        per_sequence = video_metrics.best_and_mean(
            {k: np.asarray(v)[..., c.num_cond:] for k, v in scores.items()})
        for name, curve in video_metrics.curves(per_sequence).items():
            results[f"eval/{name}"] = float(curve.mean())
            results[f"eval/{name}_last"] = float(curve[-1])
        truth = test["frames"][:FIGURE_SEQUENCES]
        shown = samples[:FIGURE_SEQUENCES, :FIGURE_SAMPLES]
        if jax.process_index() == 0:
            video.save_video_gif(truth, shown, c.num_cond,
                                 Path(workdir) / "samples" / f"step_{step:06d}.gif")
        writer.write_videos(step, {"futures": np.concatenate([truth[:, None], shown], 1)[0]})
        return results

    def finish(self, state, workdir) -> None:
        """The final figures: workdir/samples.gif and workdir/samples.png."""
        c = self.config
        test, samples = self.sample_test(state.params, num=FIGURE_SEQUENCES,
                                         num_future=c.eval_num_future,
                                         num_samples=FIGURE_SAMPLES, batch_size=FIGURE_SEQUENCES)
        if jax.process_index() == 0:
            video.save_video_gif(test["frames"], samples, c.num_cond,
                                 Path(workdir) / "samples.gif")
            video.save_video_strip(test["frames"], samples, c.num_cond,
                                   Path(workdir) / "samples.png")

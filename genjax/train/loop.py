"""`fit(config, workdir)`: the training loop as a library function.

What it does, in order:
1. validates the config, the workdir, the data and, on resume, the workdir's saved
   config (genjax/train/preflight.py: one-line `UserError`s before anything is
   compiled or written);
2. builds the task (model, loss, data) from the `TASKS` registry;
3. restores the newest readable checkpoint in `workdir/checkpoints`, if any, so
   that running the same command again resumes; the data iterator restarts at
   the restored step, so a resumed run sees exactly the batches it would have;
4. runs the jitted, sharded train step, logging averaged metrics (TensorBoard
   event files, `metrics.jsonl`, log) with a progress bar (steps/s, ETA);
5. evaluates and checkpoints at intervals and at the end;
6. after the last step, lets the task write its final outputs, and writes
   `final_metrics.json` (the last evaluation's record).

Time: `train/elapsed_seconds` in the logs is the wall time spent inside `fit`
(steps, evaluations, checkpoints), summed over resumed runs: each checkpoint
stores it in its metadata. A config with `max_train_seconds > 0` ends training
at the first step past that budget as if it were the last step (evaluation,
checkpoint, final outputs); the step reached depends on the machine's speed,
so budgeted runs are reproducible only given the same stopping step.

Safety: every metric is checked for NaN/Inf before a checkpoint is written and
at each log interval; a non-finite value stops the run with a `NonFiniteError`
naming the step and the metric, and no checkpoint of the bad state is saved.
SIGTERM (a scheduler's preemption) saves a checkpoint and returns cleanly.

Several processes (`genjax.distributed`): each runs `fit` on its slice of every
global batch; orbax saves checkpoints collectively; process 0 alone writes the
config, logs and final outputs. A SIGTERM to any process stops all of them after
the same step, with the same checkpoint; a NaN stops all at the same step (the
metrics are global values, the same on every process).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import time
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from genjax import distributed, parallel
from genjax.config import check_common, save_config
from genjax.errors import NonFiniteError
from genjax.io import checkpoint, writers
from genjax.models import precision
from genjax.train import preflight, seeds
from genjax.train.tasks import make_task


class _TermFlag:
    """Set by SIGTERM; the loop checks it between steps.

    With several processes JAX's preemption service catches SIGTERM instead (its
    handler is installed by `jax.distributed.initialize`): `stop_at(step)` is then
    true on every process at the same step, whichever process got the signal.
    """

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        if jax.process_count() > 1:
            return self
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def stop_at(self, step: int) -> bool:
        """Whether to checkpoint and stop after `step` (called once per step, on every process)."""
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            self.raised = self.raised or multihost_utils.reached_preemption_sync_point(step)
        return self.raised

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _check_finite(pending: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Fetch pending per-step metrics; raise on the first non-finite value."""
    fetched = jax.device_get(pending)
    for step, metrics in fetched:
        for name, value in metrics.items():
            if not np.all(np.isfinite(value)):
                raise NonFiniteError(
                    f"non-finite {name}={float(np.asarray(value).mean())} at step {step + 1}; "
                    "stopped without saving it (the last good checkpoint is intact)")
    return fetched


def _agreed(flag: bool) -> bool:
    """Process 0's `flag` on every process (wall clocks differ between processes)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.bool_(flag)))


def _mean_metrics(fetched: list[tuple[int, dict]]) -> dict[str, float | np.ndarray]:
    """Each metric's mean over the steps: a float, or an array over seeds (`num_seeds` > 1)."""
    names = fetched[0][1].keys()
    means = {k: np.mean([m[k] for _, m in fetched], axis=0) for k in names}
    return {f"train/{k}": float(v) if np.ndim(v) == 0 else v for k, v in means.items()}


def _truncate_jsonl(path: Path, last_step: int) -> None:
    """Drop records written after the restored step by the run that was interrupted."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def fit(config, workdir: str | Path):
    """Train `config` in `workdir` (resuming from its checkpoints); returns the final state."""
    check_common(config)
    task = make_task(config)  # validates the task's own fields; builds nothing heavy
    mesh = parallel.make_mesh()
    parallel.check_batch_divisible(config.batch_size, mesh)
    parallel.check_batch_divisible(config.eval_batch_size, mesh, "eval_batch_size")

    workdir = Path(workdir)
    preflight.check_workdir(workdir)
    preflight.check_resume(workdir, config)
    preflight.check_data(config)
    distributed.barrier("genjax:fit:preflight")  # every process has read the old config
    workdir.mkdir(parents=True, exist_ok=True)
    if distributed.is_primary():
        save_config(workdir, config)

    state = task.init_state(jax.random.PRNGKey(config.seed))
    manager = checkpoint.make_manager(workdir / "checkpoints", max_to_keep=config.keep_checkpoints)
    try:
        state, restored_step = checkpoint.restore_latest(manager, state)
    except BaseException:
        manager.close()  # an open manager fails again at interpreter exit
        raise
    start_step = seeds.state_step(state)
    seconds_before = 0.0
    if restored_step is not None:
        logging.info("resumed from %s at step %d", manager.directory, start_step)
        if distributed.is_primary():
            _truncate_jsonl(workdir / "metrics.jsonl", start_step)
            for seed in task.seeds if isinstance(task, seeds.SeedsTask) else []:
                _truncate_jsonl(seeds.seed_dir(workdir, seed) / "metrics.jsonl", start_step)
        seconds_before = checkpoint.saved_train_seconds(manager, restored_step)
    budget = float(config.get("max_train_seconds", 0) or 0)
    if budget and seconds_before >= budget:
        logging.info("time budget of %.0f s already spent at step %d; nothing to do",
                     budget, start_step)
        manager.close()
        return state
    state = parallel.replicate(state, mesh)

    batch_axis = task.batch_axis if isinstance(task, seeds.SeedsTask) else 0
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharded(mesh, batch_axis)
    train_step = precision.with_compute_dtype(task.train_step,
                                              config.get("compute_dtype", "float32"))
    step_fn = jax.jit(train_step, in_shardings=(replicated, batch_sharding),
                      out_shardings=(replicated, replicated), donate_argnums=0)
    writer = seeds.make_writer(workdir, task)
    batches = task.train_batches(start_step)
    total = config.num_train_steps
    pending: list[tuple[int, dict]] = []
    bar = tqdm(total=total, initial=start_step, unit="step", dynamic_ncols=True,
               disable=jax.process_index() > 0 or start_step >= total)
    timer_step, timer = start_step, time.perf_counter()
    started = timer

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - started

    out_of_time = False
    with _TermFlag() as term:
        step = start_step
        while step < total:
            batch = parallel.shard_batch(next(batches), mesh, batch_axis)
            state, metrics = step_fn(state, batch)
            pending.append((step, metrics))
            step += 1
            bar.update(1)
            out_of_time = bool(budget) and _agreed(elapsed() >= budget)
            last = step == total or out_of_time
            if step % config.log_every == 0 or last:
                fetched = _check_finite(pending)
                pending = []
                now = time.perf_counter()
                scalars = _mean_metrics(fetched)
                scalars["train/steps_per_second"] = (step - timer_step) / (now - timer)
                scalars["train/elapsed_seconds"] = elapsed()
                timer_step, timer = step, now
                writer.write_scalars(step, scalars)
                shown = task.progress_metric
                shown_value = np.mean(scalars.get(f"train/{shown}", math.nan))
                bar.set_postfix({shown: f"{shown_value:.4g}"})
            if step % config.eval_every == 0 or last:
                writer.write_scalars(step, task.evaluate(state, mesh, workdir, step, writer))
            stopping = term.stop_at(step)
            if step % config.checkpoint_every == 0 or last or stopping:
                _check_finite(pending)
                checkpoint.save(manager, step, state, train_seconds=elapsed())
            writer.flush()
            if stopping:
                logging.warning("SIGTERM at step %d: checkpoint saved; run again to resume", step)
                break
            if out_of_time:
                logging.info("time budget of %.0f s reached at step %d", budget, step)
                break
    bar.close()
    manager.wait_until_finished()
    manager.close()
    writer.close()
    if seeds.state_step(state) >= total or (out_of_time and not term.raised):
        task.finish(state, workdir)
        if distributed.is_primary():
            writers.write_final_metrics(workdir)
    return state

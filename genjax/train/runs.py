"""Runs as values: reopen a trained workdir as (config, task, state, step, time).

`load_run(workdir)` is the one way to reopen a run that `fit` trained: it reads
`<workdir>/config.json`, rebuilds the task from it (the config's checks run
again), and restores the newest readable checkpoint (or `step`) into the task's
state structure. Evaluation, CAS, likelihood bounds, the notebooks and the
studies all start here.

A run of K seeds (`num_seeds` > 1) is K replicas in one checkpoint: `load_run(workdir,
replica=k)` reopens replica k as a single-seed run (its config's seed, its task, its
slice of the state, its own directory `seed_<s>/` as `workdir`), and
`load_replicas(workdir)` all K.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections

from genjax.config import read_saved_config
from genjax.errors import UserError
from genjax.io import checkpoint
from genjax.train import seeds
from genjax.train.tasks import Task, make_task


class Run(NamedTuple):
    config: ml_collections.ConfigDict
    task: Task
    state: Any
    step: int
    train_seconds: float
    workdir: Path


def read_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """The config a workdir was trained with (its `config.json`)."""
    return ml_collections.ConfigDict(read_saved_config(workdir))


def load_run(workdir: str | Path, step: int | None = None, *, config=None,
             replica: int | None = None) -> Run:
    """The run in `workdir` at its newest readable checkpoint, or at `step`.

    `config`, when given, replaces the saved one (for evaluation-only changes such
    as the eval split or IWAE sample count; the model fields must match the
    checkpoint). A run of several seeds needs `replica` (0 to K - 1).
    """
    workdir = Path(workdir)
    config = read_config(workdir) if config is None else config
    k = seeds.num_seeds(config)
    if k > 1 and replica is None:
        raise UserError(f"{workdir} holds {k} seeds (num_seeds={k}); load one with "
                        f"replica=0..{k - 1}, or all with load_replicas")
    if replica is not None and not (isinstance(replica, int) and 0 <= replica < k):
        raise UserError(f"replica must be an integer in 0..{k - 1} for {workdir} "
                        f"(num_seeds={k}), got {replica!r}")
    runs = _load(workdir, step, config)
    return runs[replica or 0]


def load_replicas(workdir: str | Path, step: int | None = None, *, config=None) -> list[Run]:
    """Every replica of the run in `workdir` (one `Run` for a single-seed run)."""
    workdir = Path(workdir)
    return _load(workdir, step, read_config(workdir) if config is None else config)


def _load(workdir: Path, step: int | None, config) -> list[Run]:
    task = make_task(config)
    if not (workdir / "checkpoints").is_dir():
        raise UserError(f"{workdir} has no checkpoints/; train first")
    template = task.init_state(jax.random.PRNGKey(config.seed))
    manager = checkpoint.open_manager(workdir / "checkpoints")
    try:
        if step is not None:
            if step not in manager.all_steps():
                raise UserError(f"no checkpoint step {step} in {workdir / 'checkpoints'}; "
                                f"saved steps: {sorted(manager.all_steps())}")
            state = checkpoint.restore(manager, step, template)
        else:
            state, step = checkpoint.restore_latest(manager, template)
            if step is None:
                raise UserError(f"{workdir / 'checkpoints'} holds no checkpoint; train first")
        seconds = checkpoint.saved_train_seconds(manager, step)
    finally:
        manager.close()
    if not isinstance(task, seeds.SeedsTask):
        return [Run(config=config, task=task, state=state, step=int(step),
                    train_seconds=seconds, workdir=workdir)]
    return [Run(config=t.config, task=t, state=seeds.replica(state, k), step=int(step),
                train_seconds=seconds, workdir=seeds.seed_dir(workdir, s))
            for k, (t, s) in enumerate(zip(task.tasks, task.seeds, strict=True))]

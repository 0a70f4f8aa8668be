"""K independent replicas of one task in one compiled program (`config.num_seeds = K`).

Replica k is the run the same config would make with `seed = config.seed + k`: its
initial weights, its root key (so its noise) and its data order all come from that
seed. `SeedsTask` builds the K single-seed tasks and stacks their states along a
new leading axis; its train step is the single task's step over that axis, so `fit`
compiles one program for all K, and a checkpoint (and a resume) holds all K.

How the step covers the K replicas is `config.seeds_mode`:
- "vmap" (the default): `jax.vmap`, so each convolution and matmul runs once for all
  K, as one batched op: what fills an accelerator;
- "loop": the single-seed step written out K times in the one compiled program
  (a Python loop under `jit`), each replica running the single-seed ops. On a CPU,
  XLA runs vmap's batched (grouped) convolutions about 3x slower than K plain ones,
  and "loop" is faster there (bench/seeds.txt); it compiles K copies of the step.
  (`jax.lax.map`, a loop XLA keeps as a loop, was slower still on CPU: under a
  tenth of a single run's speed per replica.)
The state is the same either way, so a run may resume in the other mode.
Each global batch is the K replicas' batches stacked: shape (K, batch, ...), split
over the devices along axis 1.

On disk, `<workdir>/seed_<s>/` is replica s's own directory: its figures, exports,
`metrics.jsonl`, TensorBoard events (TensorBoard lists each seed as a run) and
`final_metrics.json`, with the names a single-seed run writes. `<workdir>/metrics.jsonl`
and its TensorBoard events hold, for each metric, the mean over seeds under the
metric's own name and the sample standard deviation under `<name>_std`.

Two data fields may follow each replica's seed, for studies whose replicas see different
data (`resolve_seed_fields`, applied to every single-seed config): `data.subset_seed = -1`
takes the class-balanced subset of the run's own seed, and a `{seed}` in
`data.train_arrays` is replaced by it (`.../seed_{seed}/arrays.npz`). A single-seed
run resolves them the same way, so replica k still equals the single run of its seed.

A non-finite value in any replica stops the whole run, as in a single run. vmap's
batched ops round differently from the single-seed ops on CPU, so under "vmap" a
replica matches its single-seed run to float tolerance, not bit for bit
(tests/test_seeds.py states it and why); under "loop" a replica is its single-seed
run bit for bit, but for the BatchNorm running statistics (1 ulp: XLA fuses their
update differently).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genjax.config import with_fields
from genjax.io import writers


def num_seeds(config) -> int:
    """The config's replica count (1 for configs saved before the field existed)."""
    return int(config.get("num_seeds", 1))


FOLLOW_SEED = -1  # data.subset_seed: the run's own seed
SEED_PLACEHOLDER = "{seed}"  # in data.train_arrays: the run's own seed


def resolve_seed_fields(config):
    """`config` with `data.subset_seed = -1` and a `{seed}` in `data.train_arrays` replaced
    by `config.seed` (the same config when neither is used)."""
    d = config.get("data")
    fields = {}
    if d is not None and d.get("subset_seed", 0) == FOLLOW_SEED:
        fields["data.subset_seed"] = config.seed
    if d is not None and SEED_PLACEHOLDER in str(d.get("train_arrays", "")):
        fields["data.train_arrays"] = d.train_arrays.replace(SEED_PLACEHOLDER, str(config.seed))
    return with_fields(config, **fields) if fields else config


def replica_configs(config) -> list:
    """The K single-seed configs: seed config.seed + k, num_seeds 1."""
    return [with_fields(config, seed=config.seed + k, num_seeds=1)
            for k in range(num_seeds(config))]


def seed_dir(workdir: str | Path, seed: int) -> Path:
    """Replica `seed`'s own directory inside a multi-seed workdir."""
    return Path(workdir) / f"seed_{seed}"


def state_step(state) -> int:
    """A state's step counter (replicas step together: each holds the same count)."""
    return int(np.asarray(jax.device_get(state.step)).reshape(-1)[0])


def replica(tree, k: int):
    """Replica k's slice of a stacked state (or any pytree with a leading seed axis)."""
    return jax.tree.map(lambda x: x[k], tree)


def stack(trees):
    """Stack pytrees of the same shape along a new leading axis (numpy leaves).

    The result has the first tree's structure, static fields included (a
    `TrainState`'s `apply_fn` and `tx` are the first replica's: the same functions).
    """
    leaves = [jax.tree.leaves(tree) for tree in trees]
    stacked = [np.stack([np.asarray(x) for x in xs]) for xs in zip(*leaves, strict=True)]
    return jax.tree.unflatten(jax.tree.structure(trees[0]), stacked)


def _loop_step(state, batch, *, step, num_seeds: int):
    """`step` on each replica in turn, written out in one program (`seeds_mode="loop"`)."""
    outs = [step(replica(state, k), replica(batch, k)) for k in range(num_seeds)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)


def _stacked_batches(iterators) -> Iterator:
    while True:
        yield stack([next(it) for it in iterators])


class SeedsTask:
    """A task (`protocols.Task`) training K replicas of `tasks[0]`'s kind, stacked.

    `tasks[k]` is the single-seed task of seed `seeds[k]`; studies that need one
    replica use it with `replica(state, k)`.
    """

    batch_axis = 1  # the axis of a stacked batch that the devices split

    def __init__(self, config, make_task):
        self.config = config
        configs = replica_configs(config)
        self.seeds = [c.seed for c in configs]
        self.tasks = [make_task(c) for c in configs]
        self.progress_metric = self.tasks[0].progress_metric
        # A step reads its randomness from the state (its root key), never from the
        # config, so one step function serves every replica.
        step = self.tasks[0].train_step
        if config.get("seeds_mode", "vmap") == "vmap":
            self.train_step = jax.vmap(step)
        else:
            self.train_step = functools.partial(_loop_step, step=step, num_seeds=len(configs))

    def init_state(self, rng=None):
        """The K replicas' initial states, stacked; each from its own seed (`rng` unused)."""
        del rng
        return stack([t.init_state(jax.random.PRNGKey(t.config.seed)) for t in self.tasks])

    def train_batches(self, start_step: int) -> Iterator:
        return _stacked_batches([t.train_batches(start_step) for t in self.tasks])

    def evaluate(self, state, mesh, workdir, step, writer) -> dict[str, np.ndarray]:
        """Each replica's scalars (its figures in its own directory), as arrays over seeds."""
        results = [t.evaluate(replica(state, k), mesh, seed_dir(workdir, s), step,
                              writer.replica(k))
                   for k, (t, s) in enumerate(zip(self.tasks, self.seeds, strict=True))]
        return {name: np.asarray([r[name] for r in results]) for name in results[0]}

    def finish(self, state, workdir) -> None:
        for k, (t, s) in enumerate(zip(self.tasks, self.seeds, strict=True)):
            t.finish(replica(state, k), seed_dir(workdir, s))
            if jax.process_index() == 0:
                writers.write_final_metrics(seed_dir(workdir, s))


def summarise(scalars: dict) -> dict[str, float]:
    """Per-seed arrays as mean (under the name) and sample std (`<name>_std`); floats kept."""
    out = {}
    for name, value in scalars.items():
        value = np.asarray(value, np.float64)
        if value.ndim == 0:
            out[name] = float(value)
            continue
        out[name] = float(value.mean())
        out[f"{name}_std"] = float(value.std(ddof=1)) if value.size > 1 else 0.0
    return out


class SeedsWriter:
    """Writes per-seed scalars to each replica's directory and their mean ± std to the run's.

    Scalars that are arrays over seeds go value k to replica k's writer and the mean
    and std to the run's; plain floats (steps/s, elapsed time) go to all.
    """

    def __init__(self, workdir: str | Path, seeds: list[int]):
        self.main = writers.make_writer(workdir)
        self.replicas = [writers.make_writer(seed_dir(workdir, s), log=False) for s in seeds]

    def replica(self, k: int):
        return self.replicas[k]

    def write_scalars(self, step: int, scalars: dict) -> None:
        for k, writer in enumerate(self.replicas):
            writer.write_scalars(step, {name: float(np.asarray(v).reshape(-1)[k])
                                        if np.ndim(v) else float(v)
                                        for name, v in scalars.items()})
        self.main.write_scalars(step, summarise(scalars))

    def write_images(self, step: int, images: dict) -> None:
        self.main.write_images(step, images)

    def write_videos(self, step: int, videos: dict) -> None:
        self.main.write_videos(step, videos)

    def flush(self) -> None:
        for writer in [self.main, *self.replicas]:
            writer.flush()

    def close(self) -> None:
        for writer in [self.main, *self.replicas]:
            writer.close()


def make_writer(workdir: str | Path, task):
    """The run's metric writer: a `SeedsWriter` for a `SeedsTask`, else the usual one."""
    if isinstance(task, SeedsTask):
        return SeedsWriter(workdir, task.seeds)
    return writers.make_writer(workdir)

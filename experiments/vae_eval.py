"""The importance-weighted bound (Burda et al. 2015) of a trained VAE or DRAW over a split.

python -m experiments.vae_eval --workdir=runs/vae --k=5000 --batch_size=100 --chunk_size=100
python -m experiments.vae_eval --workdir=runs/draw --k=100 --chunk_size=25

Restores the newest readable checkpoint of an `experiments.vae` or `experiments.draw`
workdir (its config.json rebuilds the model), computes L_k on every example of
the split (test by default; `--examples=N` for the first N only, e.g. to time a
run before committing to the whole split), prints nats (and bits/dim for 8-bit
data) and the wall time, and writes <workdir>/likelihood.json (or `--output`).
Both tasks run the same code (`LikelihoodTask.iwae_bound`), so their figures
compare. Memory grows with batch_size * chunk_size decoder passes, not with k;
time grows with k (k = 5000 is 5000 decoder passes per image).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import ml_collections

from experiments.launch import errors_exit
from genjax.errors import UserError
from genjax.io import checkpoint
from genjax.train.tasks import make_task

LIKELIHOOD_TASKS = ("vae", "draw")


def evaluate_workdir(workdir, *, k: int, batch_size: int, chunk_size: int,
                     split: str | None = None, examples: int | None = None,
                     output: str | Path | None = None) -> dict:
    """L_k of the workdir's latest checkpoint over `split`, also written to `output`
    (default <workdir>/likelihood.json)."""
    workdir = Path(workdir)
    if not (workdir / "config.json").is_file():
        raise UserError(f"{workdir} has no config.json; pass the --workdir of a VAE or DRAW run")
    if min(k, batch_size, chunk_size) <= 0 or (examples is not None and examples <= 0):
        raise UserError(f"--k, --batch_size, --chunk_size and --examples (when given) must be "
                        f"positive, got {k}, {batch_size}, {chunk_size} and {examples}")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    if config.task not in LIKELIHOOD_TASKS:
        raise UserError(f"{workdir} holds a {config.task!r} run, not a VAE or DRAW")
    if batch_size % jax.device_count():
        raise UserError(f"--batch_size={batch_size} is not divisible by the "
                        f"{jax.device_count()} devices")
    config.data.eval_split = split or config.data.eval_split
    config.eval.iwae_samples, config.eval.iwae_batch_size = k, batch_size
    config.eval.iwae_chunk_size = min(chunk_size, k)
    task = make_task(config)
    template = task.init_state(jax.random.PRNGKey(config.seed))
    manager = checkpoint.make_manager(workdir / "checkpoints")
    state, step = checkpoint.restore_latest(manager, template)
    manager.close()
    if step is None:
        raise UserError(f"no checkpoint in {workdir / 'checkpoints'}; train first")
    start = time.perf_counter()
    result = task.iwae_bound(state.params, max_examples=examples)
    result = {"dataset": config.data.name, "split": config.data.eval_split, "step": step,
              "task": config.task, **({"likelihood": config.likelihood.name}
                                      if "likelihood" in config else {}),
              **result, "seconds": time.perf_counter() - start}
    output = Path(output) if output else workdir / "likelihood.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    from absl import app, flags

    flags.DEFINE_string("workdir", None, "A VAE or DRAW run's workdir.", required=True)
    flags.DEFINE_integer("k", 5000, "Importance samples per example.")
    flags.DEFINE_integer("batch_size", 100, "Examples per batch.")
    flags.DEFINE_integer("chunk_size", 100, "Samples decoded at once per example.")
    flags.DEFINE_string("split", None, "Split to evaluate (default: the config's eval_split).")
    flags.DEFINE_integer("examples", None, "Only the first N examples (default: all).")
    flags.DEFINE_string("output", None, "Where to write the JSON (default: "
                        "<workdir>/likelihood.json).")

    def run(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        f = flags.FLAGS
        with errors_exit():
            result = evaluate_workdir(f.workdir, k=f.k, batch_size=f.batch_size,
                                      chunk_size=f.chunk_size, split=f.split, examples=f.examples,
                                      output=f.output)
        line = (f"IWAE k={result['k']} on {result['count']} {result['dataset']}:"
                f"{result['split']} examples: {result['nll_nats']:.3f} nats")
        if "bits_per_dim" in result:
            line += f", {result['bits_per_dim']:.4f} bits/dim"
        print(f"{line}; L_1 of the same samples {-result['elbo_nats']:.3f} nats; "
              f"{result['seconds']:.1f} s")

    app.run(run)


if __name__ == "__main__":
    from genjax.malloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    main()

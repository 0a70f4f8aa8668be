"""The importance-weighted bound (Burda et al. 2015) of a trained VAE over a whole split.

python -m experiments.vae_eval --workdir=runs/vae --k=5000 --batch_size=100 --chunk_size=100

Restores the newest readable checkpoint of a `experiments.vae` workdir (its
config.json rebuilds the model), computes L_k on every example of the split
(test by default), prints nats (and bits/dim for 8-bit data) and writes
<workdir>/likelihood.json. Memory grows with batch_size * chunk_size decoder
passes, not with k; time grows with k (k = 5000 is 5000 decoder passes per image).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import ml_collections

from genjax.errors import UserError
from genjax.eval.likelihood import iwae_over_split
from genjax.io import checkpoint
from genjax.train.vae import VAETask


def evaluate_workdir(workdir, *, k: int, batch_size: int, chunk_size: int,
                     split: str | None = None) -> dict:
    """L_k of the workdir's latest checkpoint over `split`; also written to likelihood.json."""
    workdir = Path(workdir)
    if not (workdir / "config.json").is_file():
        raise UserError(f"{workdir} has no config.json; pass the --workdir of a VAE run")
    if min(k, batch_size, chunk_size) <= 0:
        raise UserError(f"--k, --batch_size and --chunk_size must be positive, got "
                        f"{k}, {batch_size} and {chunk_size}")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    if config.task != "vae":
        raise UserError(f"{workdir} holds a {config.task!r} run, not a VAE")
    if batch_size % jax.device_count():
        raise UserError(f"--batch_size={batch_size} is not divisible by the "
                        f"{jax.device_count()} devices")
    task = VAETask(config)
    split = split or config.data.eval_split
    template = task.init_state(jax.random.PRNGKey(config.seed))
    manager = checkpoint.make_manager(workdir / "checkpoints")
    state, step = checkpoint.restore_latest(manager, template)
    manager.close()
    if step is None:
        raise UserError(f"no checkpoint in {workdir / 'checkpoints'}; train first")
    result = iwae_over_split({"params": state.params}, model=task.model,
                             likelihood=task.likelihood, dataset=config.data.name, split=split,
                             num_samples=k, batch_size=batch_size, chunk_size=chunk_size,
                             seed=config.seed)
    result = {"dataset": config.data.name, "split": split, "step": step,
              "likelihood": config.likelihood.name, **result}
    (workdir / "likelihood.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    from absl import app, flags

    flags.DEFINE_string("workdir", None, "A VAE run's workdir.", required=True)
    flags.DEFINE_integer("k", 5000, "Importance samples per example.")
    flags.DEFINE_integer("batch_size", 100, "Examples per batch.")
    flags.DEFINE_integer("chunk_size", 100, "Samples decoded at once per example.")
    flags.DEFINE_string("split", None, "Split to evaluate (default: the config's eval_split).")

    def run(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        f = flags.FLAGS
        try:
            result = evaluate_workdir(f.workdir, k=f.k, batch_size=f.batch_size,
                                      chunk_size=f.chunk_size, split=f.split)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        line = (f"IWAE k={result['k']} on {result['count']} {result['dataset']}:"
                f"{result['split']} examples: {result['nll_nats']:.3f} nats")
        if "bits_per_dim" in result:
            line += f", {result['bits_per_dim']:.4f} bits/dim"
        print(line)

    app.run(run)


if __name__ == "__main__":
    from genjax.malloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    main()

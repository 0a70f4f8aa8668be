"""The importance-weighted bound (Burda et al. 2015) of a trained VAE or DRAW over a split.

`likelihood_bound(workdir, k=...)` reopens a run (`load_run`), computes L_k on
every example of the split (the config's eval split by default; `examples=N`
for the first N only, e.g. to time a run before committing to the whole split)
and writes nats (and bits/dim for 8-bit data) with the wall time to
`<workdir>/likelihood.json` (or `output`). Both families run the same code
(`LikelihoodTask.iwae_bound`, the training-time metric), so their figures
compare. Memory grows with batch_size * chunk_size decoder passes, not with k;
time grows with k (k = 5000 is 5000 decoder passes per image).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax

from genjax.errors import UserError
from genjax.train.runs import load_run, read_config
from genjax.train.tasks import LikelihoodBound, make_task


def likelihood_bound(workdir: str | Path, *, k: int, batch_size: int = 100,
                     chunk_size: int = 100, split: str | None = None,
                     examples: int | None = None, output: str | Path | None = None) -> dict:
    """L_k of the workdir's latest checkpoint over `split` (see the module docstring)."""
    workdir = Path(workdir)
    config = read_config(workdir)
    if min(k, batch_size, chunk_size) <= 0 or (examples is not None and examples <= 0):
        raise UserError(f"--k, --batch_size, --chunk_size and --examples (when given) must be "
                        f"positive, got {k}, {batch_size}, {chunk_size} and {examples}")
    if batch_size % jax.device_count():
        raise UserError(f"--batch_size={batch_size} is not divisible by the "
                        f"{jax.device_count()} devices")
    if "eval" not in config or "iwae_samples" not in config.eval:
        raise UserError(f"{workdir} holds a {config.task!r} run, not a VAE or DRAW")
    config.data.eval_split = split or config.data.eval_split
    config.eval.iwae_samples, config.eval.iwae_batch_size = k, batch_size
    config.eval.iwae_chunk_size = min(chunk_size, k)
    if not isinstance(make_task(config), LikelihoodBound):
        raise UserError(f"{workdir} holds a {config.task!r} run, not a VAE or DRAW")
    run = load_run(workdir, config=config)
    start = time.perf_counter()
    result = run.task.iwae_bound(run.state.params, max_examples=examples)
    result = {"dataset": config.data.name, "split": config.data.eval_split, "step": run.step,
              "task": config.task, **({"likelihood": config.likelihood.name}
                                      if "likelihood" in config else {}),
              **result, "seconds": time.perf_counter() - start}
    output = Path(output) if output else workdir / "likelihood.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    return result


def format_bound(result: dict) -> str:
    line = (f"IWAE k={result['k']} on {result['count']} {result['dataset']}:"
            f"{result['split']} examples: {result['nll_nats']:.3f} nats")
    if "bits_per_dim" in result:
        line += f", {result['bits_per_dim']:.4f} bits/dim"
    return (f"{line}; L_1 of the same samples {-result['elbo_nats']:.3f} nats; "
            f"{result['seconds']:.1f} s")

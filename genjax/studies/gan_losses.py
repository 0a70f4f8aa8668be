"""The GAN loss table: one GAN config, one row per loss, the same wall-time budget.

`gan_loss_table(workdir, config=..., ...)` trains `config` once per row of
`variants` with that row's overrides (`VARIANTS`) and
`max_train_seconds=budget_seconds`, in `<workdir>/<row>` (training ends at the
budget or at `num_train_steps`, whichever comes first), then measures its EMA
generator: the classifier Fréchet distance of `num_samples` samples against the
test split, the diversity ratio, and FID when `fid_samples` > 0 (slow on a CPU).
Rows run one after another so that each has the machine to itself; run nothing
else meanwhile, or the budgets are not the same. Results go to
`<workdir>/results.json` (a finished row is not run again; an interrupted one
resumes from its checkpoint with the time it had already used) and
`<workdir>/table.md`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jax

from genjax.config import with_fields
from genjax.errors import UserError
from genjax.eval import metrics
from genjax.io.writers import read_jsonl
from genjax.train.loop import fit
from genjax.train.tasks import make_task

# Each row changes only what its paper prescribes; everything else is the base config.
VARIANTS = {
    # Goodfellow et al. 2014, eq. 1: G minimises log(1 - D(G(z))) (saturates early on).
    "minimax": {"loss.name": "minimax"},
    # Goodfellow et al. 2014, Section 3: G maximises log D(G(z)); the DCGAN paper's choice.
    "nonsaturating": {"loss.name": "nonsaturating"},
    # Lim & Ye 2017; Miyato et al. 2018 (with the same BatchNorm D as the other rows).
    "hinge": {"loss.name": "hinge"},
    # Mao et al. 2017, a-b-c = 0-1-1.
    "lsgan": {"loss.name": "lsgan"},
    # Gulrajani et al. 2017, Algorithm 1: no BatchNorm in the critic, lambda = 10,
    # n_critic = 5 critic minibatches of 64, Adam(1e-4, beta1 0, beta2 0.9).
    "wgan_gp": {"loss.name": "wgan", "loss.gp_weight": 10.0, "model.d_norm": "none",
                "n_critic": 5, "batch_size": 320, "g_optimizer.lr": 1e-4,
                "g_optimizer.b1": 0.0, "g_optimizer.b2": 0.9, "d_optimizer.lr": 1e-4,
                "d_optimizer.b1": 0.0, "d_optimizer.b2": 0.9},
}


def row_config(base, name: str, budget_seconds: float):
    """The base config with row `name`'s overrides and the time budget (a fresh copy)."""
    config = with_fields(base, **VARIANTS[name], max_train_seconds=float(budget_seconds))
    return config.lock()


def run_row(config, workdir: Path, *, num_samples: int, fid_samples: int) -> dict:
    """Train one row (resuming if interrupted) and measure its EMA generator."""
    state = fit(config, workdir)
    task = make_task(config)
    records = read_jsonl(workdir / "metrics.jsonl")
    train = [r for r in records if "train/elapsed_seconds" in r]
    evals = [r for r in records if "eval/diversity_ratio" in r]
    steps = int(jax.device_get(state.step))
    result = {"steps": steps, "images_seen": steps * config.batch_size,
              "train_seconds": train[-1]["train/elapsed_seconds"],
              "diversity_ratio": evals[-1]["eval/diversity_ratio"]}
    sampler = task.sampler(state, 100)
    result["classifier_fd"] = metrics.evaluate(
        sampler, dataset=config.data.name, split="test", num_samples=num_samples,
        metrics=("classifier_fd",), seed=config.seed)["classifier_fd"]
    result["classifier_fd_samples"] = num_samples
    if fid_samples:
        result["fid"] = metrics.evaluate(sampler, dataset=config.data.name, split="test",
                                         num_samples=fid_samples, metrics=("fid",),
                                         seed=config.seed)["fid"]
        result["fid_samples"] = fid_samples
    return result


def markdown_table(results: dict[str, dict], budget_seconds: float) -> str:
    with_fid = any("fid" in r for r in results.values())
    header = ["loss", "steps", "images seen", "classifier FD", "diversity ratio"]
    header += ["FID"] if with_fid else []
    lines = [f"Training budget {budget_seconds:.0f} s of wall time per row.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        cells = [name, str(r["steps"]), f"{r['images_seen']:,}",
                 f"{r['classifier_fd']:.2f}", f"{r['diversity_ratio']:.3f}"]
        cells += [f"{r['fid']:.2f}" if "fid" in r else "-"] if with_fid else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def gan_loss_table(workdir, *, config, budget_seconds: float, variants: Sequence[str],
                   num_samples: int, fid_samples: int = 0) -> str:
    """Train and measure every row of `variants` not yet in `<workdir>/results.json`,
    write `<workdir>/table.md` (those rows, in order) and return it."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UserError(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    if budget_seconds <= 0:
        raise UserError(f"--budget_seconds must be > 0, got {budget_seconds}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results_path = workdir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in variants:
        if name in results:
            continue
        results[name] = run_row(row_config(config, name, budget_seconds), workdir / name,
                                num_samples=num_samples, fid_samples=fid_samples)
        tmp = results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2))
        tmp.replace(results_path)  # a kill mid-write leaves the previous results intact
    table = markdown_table({n: results[n] for n in variants}, budget_seconds)
    (workdir / "table.md").write_text(table)
    return table

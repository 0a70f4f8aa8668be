"""Make the legacy checkpoints of tests/test_legacy_checkpoints.py with the pre-restructure code.

Written for, and run at, genjax commit 43db071be3c8d6b5622be8d7ef87ee6ac5284408 (the
last commit before the issue-13 restructure). Run it from a checkout of that commit, so
that its `genjax` and `experiments` are imported, not the current ones:

    cd <checkout of 43db071> && PYTHONPATH=$PWD JAX_PLATFORMS=cpu \
        python <this repo>/tests/data/legacy/make_legacy.py --out <this repo>/tests/data/legacy

For each of five tiny runs (classifier, dcgan, cdcgan, vae, draw) it trains with
`genjax.train.loop.fit` into `<out>/<name>`, keeps only `config.json` and
`checkpoints/` (the newest step), reopens the workdir as that code's
`experiments/evaluate.py` did (config.json -> `make_task`, `restore_latest` into
`task.init_state(PRNGKey(0))`) and records what the restored state gives:

    <out>/expected.json  commit, and per run: task, step, train_seconds, metrics (floats)
    <out>/expected.npz   arrays, keyed "<run>/<value>": images in [-1, 1], logits

The values are CPU results (JAX_PLATFORMS=cpu); two runs of this script give the
same checkpoints and the same values, except `train_seconds` (wall time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

COMMIT = "43db071be3c8d6b5622be8d7ef87ee6ac5284408"
NAMES = ("classifier", "dcgan", "cdcgan", "vae", "draw")
PROBE_IMAGES = 16  # classifier logits of the first test images; samples per sampler call;
# the first images kept of the 64 of the GAN's fixed-noise grid and of DRAW's canvases
CLASS_PROBE = 20  # class_sampler batch: labels 0..9, 0..9


def common(c, steps: int):
    """Short run, one evaluation and one checkpoint, at the end."""
    c.num_train_steps = steps
    c.log_every = 5
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.keep_checkpoints = 1
    return c


def classifier_config():
    from experiments.configs import classifier

    c = common(classifier.get_config(), 20)
    c.model.widths = (4, 8)
    c.model.hidden = 16
    c.batch_size = 32
    c.eval_batch_size = 500
    c.optimizer.lr = 5e-3  # far enough from the initial weights in 20 steps
    c.optimizer.warmup_steps = 2
    return c


def gan_config(module):
    c = common(module.get_config(), 20)
    c.model.width = 4
    c.model.latent_dim = 8
    c.g_optimizer.lr = c.d_optimizer.lr = 2e-3  # far enough from the initial weights
    c.batch_size = 32
    c.eval_batch_size = 64
    c.eval_metrics = ()
    c.eval_num_samples = 500
    return c


def dcgan_config():
    from experiments.configs import dcgan

    return gan_config(dcgan)


def cdcgan_config():
    from experiments.configs import cdcgan

    c = gan_config(cdcgan)
    assert c.model.num_classes == 10 and c.model.conditioning == "projection"
    return c


def vae_config():
    from experiments.configs import vae

    c = common(vae.get_config(), 20)
    assert c.likelihood.name == "bernoulli" and c.data.image_range == "binary"
    c.model.latent_dim = 4
    c.model.widths = (4, 8)
    c.model.hidden = 16
    c.batch_size = 64
    c.eval_batch_size = 1000
    c.optimizer.lr = 1e-2
    c.optimizer.warmup_steps = 2
    c.eval.iwae_samples = 2
    c.eval.iwae_examples = 100
    c.eval.iwae_chunk_size = 2
    return c


def draw_config():
    from experiments.configs import draw

    c = common(draw.get_config(), 10)
    c.model.num_steps = 4
    c.model.lstm_size = 16
    c.model.latent_dim = 4
    c.batch_size = 64
    c.eval_batch_size = 1000
    c.optimizer.lr = 1e-2
    c.optimizer.warmup_steps = 2
    c.eval.iwae_samples = 2
    c.eval.iwae_examples = 100
    c.eval.iwae_chunk_size = 2
    return c


CONFIGS = {"classifier": classifier_config, "dcgan": dcgan_config, "cdcgan": cdcgan_config,
           "vae": vae_config, "draw": draw_config}


def reopen(workdir: Path):
    """(config, task, state, step, train_seconds) as experiments/evaluate.py restores them."""
    import jax
    import ml_collections

    from genjax.io import checkpoint
    from genjax.train.tasks import make_task

    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    task = make_task(config)
    manager = checkpoint.make_manager(workdir / "checkpoints")
    state, step = checkpoint.restore_latest(manager, task.init_state(jax.random.PRNGKey(0)))
    assert step is not None, workdir
    seconds = checkpoint.saved_train_seconds(manager, step)
    manager.close()
    return config, task, state, step, seconds


def expected_values(name: str, task, state) -> tuple[dict[str, float], dict[str, object]]:
    """(metrics, arrays) of the restored state, as the pre-restructure task API gives them."""
    import jax
    import numpy as np

    from genjax import data, parallel

    mesh = parallel.make_mesh()
    key = jax.random.PRNGKey(0)
    if name == "classifier":
        c = task.config
        sums = task.predict(state, mesh)
        batch = next(data.eval_iterator(c.data.name, split=c.data.eval_split,
                                        batch_size=c.eval_batch_size,
                                        image_range=c.data.image_range, with_labels=True))
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        logits = task.model.apply(variables, batch["image"][:PROBE_IMAGES], train=False)
        return ({"eval/loss": sums["loss"] / sums["count"],
                 "eval/accuracy": sums["correct"] / sums["count"], "eval/count": sums["count"]},
                {"logits": logits})
    if name == "dcgan":
        return {}, {"sampler": task.sampler(state, PROBE_IMAGES)(key),
                    "grid": task.grid_samples(state)[:PROBE_IMAGES]}
    if name == "cdcgan":
        labels = np.arange(CLASS_PROBE) % task.num_classes
        return {}, {"class_sampler": task.class_sampler(state, CLASS_PROBE)(key, labels=labels),
                    "sampler": task.sampler(state, PROBE_IMAGES)(key)}
    if name == "vae":
        return (task.likelihood_metrics(state, mesh),
                {"sampler": task.sampler(state, PROBE_IMAGES)(key)})
    if name == "draw":
        return (task.likelihood_metrics(state, mesh),
                {"canvases": task._canvas_tensors(state.params)["samples"][-1][:PROBE_IMAGES]})
    raise ValueError(name)


def git_head(path: Path) -> tuple[str, bool]:
    """(HEAD commit, whether genjax/ or experiments/ differ from it) of the repo at `path`."""
    def git(*args):
        return subprocess.run(["git", "-C", str(path), *args], check=True, text=True,
                              capture_output=True).stdout.strip()

    return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "genjax", "experiments"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--only", default=",".join(NAMES),
                        help="comma-separated runs (expected.* then hold only those)")
    parser.add_argument("--any-commit", action="store_true",
                        help=f"run even if the imported genjax is not at {COMMIT[:7]}")
    args = parser.parse_args()

    import jax
    import numpy as np

    import genjax
    from genjax.train.loop import fit

    repo = Path(genjax.__file__).resolve().parents[1]
    commit, dirty = git_head(repo)
    if (commit != COMMIT or dirty) and not args.any_commit:
        sys.exit(f"genjax is imported from {repo} at {commit}{' (modified)' if dirty else ''}; "
                 f"these checkpoints are made at {COMMIT}: set PYTHONPATH to such a checkout")
    if jax.default_backend() != "cpu":
        sys.exit("run with JAX_PLATFORMS=cpu: the recorded values are CPU results")
    print(f"genjax from {repo} at {commit}", flush=True)

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    record = {"commit": commit, "jax": jax.__version__, "runs": {}}
    arrays = {}
    for name in args.only.split(","):
        workdir = out / name
        if workdir.exists():
            shutil.rmtree(workdir)
        print(f"--- {name}: training in {workdir}", flush=True)
        fit(CONFIGS[name](), workdir)
        for entry in workdir.iterdir():
            if entry.name not in ("config.json", "checkpoints"):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        # orbax's commit_success.txt records the absolute path of this machine; a local
        # restore does not read it, so the committed copy leaves it out.
        for marker in workdir.rglob("commit_success.txt"):
            marker.unlink()
        config, task, state, step, seconds = reopen(workdir)
        metrics, values = expected_values(name, task, state)
        record["runs"][name] = {"task": config.task, "step": int(step),
                                "train_seconds": seconds,
                                "metrics": {k: float(v) for k, v in metrics.items()}}
        for key, value in values.items():
            arrays[f"{name}/{key}"] = np.asarray(jax.device_get(value))
        print(json.dumps(record["runs"][name], indent=1), flush=True)
    (out / "expected.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    np.savez_compressed(out / "expected.npz", **arrays)
    print(f"wrote {out}/expected.json and expected.npz", flush=True)


if __name__ == "__main__":
    main()

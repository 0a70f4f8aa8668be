"""Workdirs written before the restructure still open, and give the same numbers.

tests/data/legacy/<name>/ holds a real training workdir (config.json and
checkpoints/) of a tiny run made by tests/data/legacy/make_legacy.py with the
pre-restructure code (the commit is in expected.json); expected.json and
expected.npz hold what that code computed from the restored state. Each test
copies a workdir, reopens it with `load_run` and recomputes the same values:
images and logits must be bit-identical, metrics equal to 1e-6 relative (CPU).

The task-side calls are the helpers below, one per family: adapt them there if
a task method is renamed.
"""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from genjax import data, parallel
from genjax.train.runs import load_run

LEGACY = Path(__file__).parent / "data" / "legacy"
KEY = jax.random.PRNGKey(0)
PROBE = 16  # logits of the first test images; images per sampler call; grid images kept
CLASS_PROBE = 20  # class_sampler batch, labels 0..9, 0..9


def classifier_values(run):
    task, state, c = run.task, run.state, run.config
    sums = task.predict(state, parallel.make_mesh())
    batch = next(data.eval_iterator(c.data.name, split=c.data.eval_split,
                                    batch_size=c.eval_batch_size,
                                    image_range=c.data.image_range, with_labels=True))
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    logits = task.model.apply(variables, batch["image"][:PROBE], train=False)
    return ({"eval/loss": sums["loss"] / sums["count"],
             "eval/accuracy": sums["correct"] / sums["count"], "eval/count": sums["count"]},
            {"logits": logits})


def gan_values(run):
    task, state = run.task, run.state
    return {}, {"sampler": task.sampler(state, PROBE)(KEY),
                "grid": task.grid_samples(state)[:PROBE]}


def cgan_values(run):
    task, state = run.task, run.state
    labels = np.arange(CLASS_PROBE) % task.num_classes
    return {}, {"class_sampler": task.class_sampler(state, CLASS_PROBE)(KEY, labels=labels),
                "sampler": task.sampler(state, PROBE)(KEY)}


def vae_values(run):
    task, state = run.task, run.state
    return (task.likelihood_metrics(state, parallel.make_mesh()),
            {"sampler": task.sampler(state, PROBE)(KEY)})


def draw_values(run):
    task, state = run.task, run.state
    return (task.likelihood_metrics(state, parallel.make_mesh()),
            {"canvases": task._canvas_tensors(state.params)["samples"][-1][:PROBE]})


VALUES = {"classifier": classifier_values, "dcgan": gan_values, "cdcgan": cgan_values,
          "vae": vae_values, "draw": draw_values}


@pytest.fixture(scope="module")
def expected():
    record = json.loads((LEGACY / "expected.json").read_text())
    with np.load(LEGACY / "expected.npz") as arrays:
        return record, {k: arrays[k] for k in arrays.files}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_legacy_checkpoint_gives_recorded_values(name, expected, tmp_path):
    record, arrays = expected
    want = record["runs"][name]
    workdir = tmp_path / name
    shutil.copytree(LEGACY / name, workdir)

    run = load_run(workdir)

    assert run.config.task == want["task"]
    assert run.step == want["step"]
    assert run.train_seconds == pytest.approx(want["train_seconds"], rel=1e-6)
    metrics, values = VALUES[name](run)
    for key, value in want["metrics"].items():
        assert float(metrics[key]) == pytest.approx(value, rel=1e-6), key
    wanted_arrays = {k.split("/", 1)[1] for k in arrays if k.startswith(f"{name}/")}
    assert set(values) == wanted_arrays
    for key, value in values.items():
        np.testing.assert_array_equal(np.asarray(jax.device_get(value)),
                                      arrays[f"{name}/{key}"], err_msg=f"{name}/{key}")

"""`fit()` end to end: logs, checkpoints, resume, NaN, damage, signals, bad configs."""

import json
import logging
import shutil
import signal
import time

import jax
import numpy as np
import pytest

from genjax.errors import NonFiniteError, UserError
from genjax.io import checkpoint
from genjax.train.loop import fit
from genjax.train.tasks import classifier as classifier_module
from tests.conftest import run_experiment, tiny_classifier_config


def _params(state):
    return jax.tree.leaves(jax.device_get(state.params))


def _assert_bitwise_equal(a, b):
    for x, y in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(x, y)


def _restore(workdir, step=None):
    config = tiny_classifier_config()
    task = classifier_module.ClassifierTask(config)
    template = task.init_state(jax.random.PRNGKey(config.seed))
    manager = checkpoint.make_manager(workdir / "checkpoints")
    if step is None:
        return checkpoint.restore_latest(manager, template)
    return checkpoint.restore(manager, step, template), step


def test_fit_writes_logs_checkpoints_and_outputs(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    state = fit(tiny_classifier_config(), tmp_path)
    assert int(state.step) == 20
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["num_train_steps"] == 20 and config["model"]["widths"] == [4, 8]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/loss" in r]
    evals = [r for r in records if "eval/accuracy" in r]
    assert [r["step"] for r in train] == [5, 10, 15, 20]
    assert [r["step"] for r in evals] == [10, 20]
    assert all(r["eval/count"] == 10000 for r in evals)
    assert 0.1 < evals[-1]["eval/accuracy"] <= 1.0
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0})
    events.Reload()
    tb_loss = [(e.step, float(np.asarray(jax.numpy.asarray(
        __import__("tensorflow").make_ndarray(e.tensor_proto)))))
        for e in events.Tensors("train/loss")]
    assert [s for s, _ in tb_loss] == [5, 10, 15, 20]
    np.testing.assert_allclose([v for _, v in tb_loss], [r["train/loss"] for r in train],
                               rtol=1e-6)
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()
                  if p.name.isdigit()) == [10, 20]
    assert (tmp_path / "predictions.png").stat().st_size > 1000
    assert json.loads((tmp_path / "final_metrics.json").read_text())["step"] == 20
    from genjax.models import pretrained

    model, variables, description = pretrained.load(tmp_path / "export")
    restored, _ = _restore(tmp_path)
    np.testing.assert_array_equal(variables["params"]["head"]["kernel"],
                                  restored.params["head"]["kernel"])


def test_resume_continues_bit_for_bit(tmp_path):
    config = tiny_classifier_config(num_train_steps=30)
    straight = fit(config, tmp_path / "straight")
    # A run that died after its step-10 checkpoint: the same workdir without the later ones.
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    for step in ("20", "30"):
        shutil.rmtree(tmp_path / "resumed" / "checkpoints" / step)
    resumed = fit(config, tmp_path / "resumed")
    _assert_bitwise_equal(straight, resumed)
    records = [r for r in map(json.loads, (tmp_path / "resumed" / "metrics.jsonl")
                              .read_text().splitlines()) if "train/loss" in r]
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30]
    # Wall time carries over the resume: the step-10 checkpoint recorded it.
    manager = checkpoint.make_manager(tmp_path / "resumed" / "checkpoints")
    at_10 = checkpoint.saved_train_seconds(manager, 10)
    elapsed = [r["train/elapsed_seconds"] for r in records]
    assert 0 < elapsed[0] < elapsed[1] <= at_10 < elapsed[2] < elapsed[3] < elapsed[4] < elapsed[5]


def test_time_budget_ends_the_run_like_its_last_step(tmp_path):
    config = tiny_classifier_config(max_train_seconds=1e-3)  # spent by the first step
    state = fit(config, tmp_path)
    assert int(state.step) == 1
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["step"] == 1 and records[0]["train/elapsed_seconds"] >= 1e-3
    assert any("eval/accuracy" in r for r in records)  # evaluated as a last step is
    assert json.loads((tmp_path / "final_metrics.json").read_text())["step"] == 1
    manager = checkpoint.make_manager(tmp_path / "checkpoints")
    assert manager.all_steps() == [1]
    assert checkpoint.saved_train_seconds(manager, 1) >= 1e-3
    again = fit(config, tmp_path)  # the budget is spent: nothing more to do
    assert int(again.step) == 1


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original = classifier_module.ClassifierTask.train_batches

    def poisoned(self, start_step):
        for step, batch in enumerate(original(self, start_step), start=start_step):
            if step >= 13:  # the 14th step sees a corrupt batch
                batch["image"] = batch["image"] * np.nan
            yield batch

    monkeypatch.setattr(classifier_module.ClassifierTask, "train_batches", poisoned)
    with pytest.raises(NonFiniteError, match=r"non-finite (loss|accuracy)=nan at step 14"):
        fit(tiny_classifier_config(), tmp_path)
    state, step = _restore(tmp_path)
    assert step == 10
    assert all(np.isfinite(x).all() for x in _params(state))


def test_damaged_newest_checkpoint_falls_back_with_a_warning(tmp_path, caplog):
    fit(tiny_classifier_config(), tmp_path)
    good, _ = _restore(tmp_path, step=10)
    for path in (tmp_path / "checkpoints" / "20").rglob("*"):
        if path.is_file() and path.stat().st_size > 0:
            path.write_bytes(b"\0" * 7)  # as a disk error or a partial copy would leave it
    with caplog.at_level(logging.WARNING):
        state, step = _restore(tmp_path)
    assert step == 10
    assert "checkpoint step 20" in caplog.text and "unreadable" in caplog.text
    _assert_bitwise_equal(state, good)


@pytest.mark.parametrize("field,value,message", [
    ("data.name", "fashion", "unknown dataset 'fashion'"),
    ("model.name", "resnet9000", "unknown model.name 'resnet9000'"),
    ("batch_size", 0, "batch_size must be a positive integer"),
    ("model.widths", (8, -1), "must be positive"),
    ("optimizer.name", "adamm", "unknown optimizer.name"),
    ("max_train_seconds", -5.0, "max_train_seconds must be >= 0"),
])
def test_bad_config_fails_before_anything_is_written(tmp_path, field, value, message):
    with pytest.raises(UserError, match=message):
        fit(tiny_classifier_config(**{field: value}), tmp_path / "w")
    assert not (tmp_path / "w").exists()


# SIGKILL and resume in a subprocess: tests/test_distributed.py kills a 1-process run and a
# 2-process run, resumes each on the other count, and checks both end bit for bit equal to
# an uninterrupted run.
FLAGS = ["--config.model.widths=(4,8)", "--config.model.hidden=16", "--config.batch_size=32",
         "--config.eval_batch_size=500", "--config.log_every=5", "--config.eval_every=1000",
         "--config.checkpoint_every=5", "--config.optimizer.warmup_steps=2"]


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    proc = run_experiment("experiments.classifier", tmp_path, *FLAGS,
                          "--config.num_train_steps=100000", "--config.checkpoint_every=50000")
    while not (tmp_path / "metrics.jsonl").exists() or not (tmp_path / "metrics.jsonl").read_text():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    assert "SIGTERM" in out
    steps = [int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()]
    assert len(steps) == 1 and 5 <= steps[0] < 100000
    state, step = _restore(tmp_path)
    assert int(state.step) == step == steps[0]


def test_command_line_overrides_are_locked_against_typos(tmp_path):
    proc = run_experiment("experiments.classifier", tmp_path, "--config.optimizer.lrr=0.1")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "lrr" in out
    proc = run_experiment("experiments.classifier", tmp_path / "w", "--config.data.name=cifar")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert out.strip().splitlines()[-1] == (
        "error: unknown dataset 'cifar'; choose one of "
        "['celeb_a', 'cifar10', 'fashion_mnist', 'mnist']")
    assert not (tmp_path / "w").exists()


def test_managers_leave_no_clean_up_running(tmp_path):
    """`make_manager` has removed an interrupted save's temporary directory when it returns
    (orbax does it in a thread that `close()` does not join: a command that exits early
    would kill it mid-way); `open_manager` reads and removes nothing."""
    directory = tmp_path / "checkpoints"
    leftover = directory / "5.orbax-checkpoint-tmp-1733000000000000"
    leftover.mkdir(parents=True)
    (leftover / "partial").write_text("half a save")
    reader = checkpoint.open_manager(directory)
    assert reader.all_steps() == [] and leftover.is_dir()
    reader.close()
    writer = checkpoint.make_manager(directory)
    assert not leftover.exists()
    writer.close()

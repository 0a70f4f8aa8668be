"""Shared fixtures. Tests run on the CPU with the real Fashion-MNIST (built offline)."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def override(config, **overrides):
    """Set dotted fields as --config.a.b=value does: override(c, **{"a.b": 1})."""
    from genjax.config import set_fields

    return set_fields(config, **overrides)


def tiny_classifier_config(**overrides):
    """The real classifier config, shrunk so that a run takes seconds."""
    from experiments.configs import classifier

    config = classifier.get_config()
    config.model.widths = (4, 8)
    config.model.hidden = 16
    config.batch_size = 32
    config.eval_batch_size = 500
    config.num_train_steps = 20
    config.log_every = 5
    config.eval_every = 10
    config.checkpoint_every = 10
    config.optimizer.warmup_steps = 2
    return override(config, **overrides)


def evaluate_flags(*args):
    """Parse experiments.evaluate's flags from their defaults: absl keeps earlier values."""
    from experiments import evaluate

    evaluate.FLAGS.unparse_flags()
    evaluate.FLAGS(["evaluate", *args])


def run_experiment(module: str, workdir, *flags, env=None, **popen):
    """Start `python -m <module> --workdir=... <flags>` in a subprocess."""
    import subprocess

    cmd = [sys.executable, "-m", module, f"--workdir={workdir}", *flags]
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


@pytest.fixture(autouse=True)
def _fresh_trace_counters():
    """chex.assert_max_traces counts per function name across the whole session: reset it."""
    import chex

    chex.clear_trace_counter()
    yield

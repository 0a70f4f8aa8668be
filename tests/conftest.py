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


def tiny_likelihood_config(config, *, num_train_steps, iwae_samples, iwae_chunk_size,
                           **overrides):
    """The VAE's or DRAW's real config with the small schedule both families' tests use."""
    config.batch_size = 64
    config.num_train_steps = num_train_steps
    config.log_every = 5
    config.eval_every = 10
    config.checkpoint_every = 10
    config.optimizer.lr = 3e-3
    config.optimizer.warmup_steps = 2
    config.eval.iwae_samples = iwae_samples
    config.eval.iwae_examples = 200
    config.eval.iwae_chunk_size = iwae_chunk_size
    return override(config, **overrides)


def train_traced(task, num_steps: int):
    """`num_steps` jitted steps of `task` from seed 0 on its real batches, asserting that the
    step compiles once; returns (task, state, per-step losses)."""
    import chex
    import jax

    state = task.init_state(jax.random.PRNGKey(0))
    chex.clear_trace_counter()  # module-scoped callers run before the autouse reset

    @chex.assert_max_traces(n=1)
    def traced_step(state, batch):
        return task.train_step(state, batch)

    step = jax.jit(traced_step, donate_argnums=0)
    batches = task.train_batches(0)
    losses = []
    for _ in range(num_steps):
        state, metrics = step(state, next(batches))
        losses.append(float(metrics["loss"]))
    return task, state, losses

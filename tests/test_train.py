"""Train/eval steps, the optimizer factory and sharding, with values."""

import functools
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict

from genjax import data
from genjax.errors import UserError
from genjax.losses.classification import classifier_eval_sums
from genjax.train import optim
from genjax.train.tasks.classifier import ClassifierTask
from tests.conftest import ROOT, tiny_classifier_config


def test_warmup_cosine_schedule_values():
    c = ConfigDict(dict(name="sgd", lr=0.5, momentum=0.0, schedule="warmup_cosine",
                        warmup_steps=10, grad_clip=0.0))
    tx = optim.make_optimizer(c, total_steps=110)
    params = {"w": jnp.zeros(())}
    opt_state = tx.init(params)
    lrs = []
    for _ in range(111):
        # sgd without momentum: update = -lr * grad, so a unit gradient reveals the lr.
        updates, opt_state = tx.update({"w": jnp.ones(())}, opt_state, params)
        lrs.append(-float(updates["w"]))
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(0.25)
    assert lrs[10] == pytest.approx(0.5)
    assert lrs[60] == pytest.approx(0.25, abs=1e-6)  # half way through the cosine
    assert lrs[110] == pytest.approx(0.0, abs=1e-7)


def test_gradient_clipping_and_bad_optimizer():
    c = ConfigDict(dict(name="sgd", lr=1.0, momentum=0.0, schedule="constant", grad_clip=1.0))
    tx = optim.make_optimizer(c, total_steps=10)
    updates, _ = tx.update({"w": jnp.array([3.0, 4.0])}, tx.init({"w": jnp.zeros(2)}))
    np.testing.assert_allclose(updates["w"], [-0.6, -0.8], rtol=1e-6)
    with pytest.raises(UserError, match="unknown optimizer.name 'adamm'"):
        optim.make_optimizer(ConfigDict(dict(name="adamm", lr=1.0)), 10)
    with pytest.raises(UserError, match="lr must be positive"):
        optim.make_optimizer(ConfigDict(dict(name="adam", lr=0.0)), 10)


def _task_and_batches(**overrides):
    config = tiny_classifier_config(**overrides)
    task = ClassifierTask(config)
    return config, task, task.train_batches(0)


def test_train_step_compiles_once_and_loss_falls_on_real_data():
    config, task, batches = _task_and_batches(**{"optimizer.lr": 3e-3, "batch_size": 64,
                                                 "model.widths": (8, 16), "model.hidden": 32,
                                                 "num_train_steps": 60})
    state = task.init_state(jax.random.PRNGKey(0))
    @chex.assert_max_traces(n=1)
    def traced_step(state, batch):
        return task.train_step(state, batch)

    step = jax.jit(traced_step, donate_argnums=0)
    losses = []
    for _ in range(60):
        state, metrics = step(state, next(batches))
        losses.append(float(metrics["loss"]))
    assert int(state.step) == 60
    assert np.mean(losses[:5]) > 2.0  # chance level is log(10) = 2.30
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:5]) and np.mean(losses[-10:]) < 1.2


def test_eval_sums_mask_out_padding():
    config, task, _ = _task_and_batches()
    state = task.init_state(jax.random.PRNGKey(1))
    batch = next(data.eval_iterator("fashion_mnist", batch_size=64, image_range="[0,1]",
                                    with_labels=True))
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    half = dict(batch, mask=np.arange(64) < 40)
    sums = classifier_eval_sums(variables, half, model=task.model)
    logits = task.model.apply(variables, batch["image"][:40], train=False)
    expected_loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"][:40])
    assert float(sums["count"]) == 40.0
    assert float(sums["loss"]) == pytest.approx(float(expected_loss.sum()), rel=1e-5)
    assert float(sums["correct"]) == float((logits.argmax(-1) == batch["label"][:40]).sum())


def test_pmap_with_axis_name_matches_jit():
    """The same step under pmap (one device, axis_name bound) equals the jitted step."""
    # Under pmap the device index folds into the key, so compare with randomness off.
    config, task, batches = _task_and_batches(**{"model.dropout": 0.0, "augment.flip": False,
                                                 "augment.crop_pad": 0})
    state = task.init_state(jax.random.PRNGKey(2))
    batch = next(batches)
    jit_state, jit_metrics = jax.jit(task.train_step)(state, batch)
    pmapped = jax.pmap(functools.partial(task.train_step, axis_name="batch"), axis_name="batch")
    pmap_state, pmap_metrics = pmapped(*jax.tree.map(lambda x: x[None], (state, batch)))
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[0], pmap_state.params), jit_state.params,
                                rtol=1e-5, atol=1e-6)
    assert float(pmap_metrics["loss"][0]) == pytest.approx(float(jit_metrics["loss"]), rel=1e-6)


SHARDED_SCRIPT = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, numpy as np
    from genjax import parallel
    from genjax.train.tasks.classifier import ClassifierTask
    from tests.conftest import tiny_classifier_config
    assert len(jax.devices()) == 2
    # SGD, whose update is linear in the gradient: Adam's first steps are +-lr whatever the
    # gradient's size, so it would turn float rounding in near-zero gradients into lr-sized
    # differences. Dropout and augmentation stay on: their keys are the same on both paths.
    task = ClassifierTask(tiny_classifier_config(**{
        "optimizer.name": "sgd", "optimizer.schedule": "constant", "optimizer.lr": 0.05}))
    batches = task.train_batches(0)
    state = task.init_state(jax.random.PRNGKey(0))
    mesh = parallel.make_mesh()
    sharded = jax.jit(task.train_step,
                      in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)),
                      out_shardings=(parallel.replicated(mesh), parallel.replicated(mesh)))
    single = jax.jit(task.train_step)
    s1 = s2 = state
    s2 = parallel.replicate(s2, mesh)
    for _ in range(5):
        batch = next(batches)
        s1, m1 = single(s1, batch)
        placed = parallel.shard_batch(batch, mesh)
        assert len(placed["image"].sharding.device_set) == 2
        s2, m2 = sharded(s2, placed)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(
        jax.tree.leaves(jax.device_get(s1.params)), jax.tree.leaves(jax.device_get(s2.params))))
    print("MAXDIFF", diff, float(m1["loss"]), float(m2["loss"]))
""")


def test_sharded_step_on_two_devices_matches_single_device():
    out = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("MAXDIFF"))
    diff, loss1, loss2 = map(float, line.split()[1:])
    assert diff < 1e-5
    assert loss1 == pytest.approx(loss2, rel=1e-5)

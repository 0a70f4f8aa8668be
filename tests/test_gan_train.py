"""The GAN step, state and task, with values: compile once, loss directions, n_critic, EMA,
user models, sharding and pmap, and fit() with sample grids and a bit-for-bit resume."""

import functools
import json
import math
import shutil
import subprocess
import sys
import textwrap

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import data, parallel
from genjax.errors import UserError
from genjax.eval import gan_samples
from genjax.io import checkpoint
from genjax.losses.gan import r1_penalty
from genjax.studies.evaluation import evaluate_run
from genjax.train.gan_step import gan_train_step, init_gan_state
from genjax.train.loop import fit
from genjax.train.tasks.gan import GANTask
from tests.conftest import ROOT, override, run_experiment


class MLPGenerator(nn.Module):
    """A user's own generator: z -> 28x28x1, no BatchNorm, nothing genjax-specific."""

    @nn.compact
    def __call__(self, z, *, train):
        h = nn.relu(nn.Dense(32)(z))
        return jnp.tanh(nn.Dense(28 * 28)(h)).reshape(z.shape[0], 28, 28, 1)


class MLPDiscriminator(nn.Module):
    @nn.compact
    def __call__(self, images, *, train):
        h = nn.leaky_relu(nn.Dense(32)(images.reshape(images.shape[0], -1)), 0.2)
        return nn.Dense(1)(h)[:, 0]


LATENT = 8


def tiny_gan_config(**overrides):
    """The real DCGAN config, shrunk so that a run takes seconds."""
    from experiments.configs import dcgan

    c = dcgan.get_config()
    c.model.width, c.model.latent_dim = 8, 16
    c.batch_size, c.eval_batch_size = 32, 64
    c.num_train_steps, c.log_every, c.eval_every, c.checkpoint_every = 20, 5, 10, 10
    c.eval_num_samples = 500
    return override(c, **overrides)


@functools.lru_cache(maxsize=1)
def _mlp_initial_state():
    return init_gan_state(jax.random.PRNGKey(0), generator=MLPGenerator(),
                          discriminator=MLPDiscriminator(), g_tx=optax.adam(1e-3),
                          d_tx=optax.adam(1e-3), image_shape=(28, 28, 1), latent_dim=LATENT)


def mlp_state_and_step(g_tx=None, d_tx=None, **step_kwargs):
    """The MLP pair's initial state with the given optimizers, and its jitted step."""
    state = _mlp_initial_state()  # initialised once: each init costs seconds of compiling
    g_tx, d_tx = g_tx or optax.adam(1e-3), d_tx or optax.adam(1e-3)
    state = state.replace(g=state.g.replace(tx=g_tx, opt_state=g_tx.init(state.g.params)),
                          d=state.d.replace(tx=d_tx, opt_state=d_tx.init(state.d.params)))
    step = functools.partial(gan_train_step, generator=MLPGenerator(),
                             discriminator=MLPDiscriminator(), latent_dim=LATENT,
                             **{"loss": "nonsaturating", **step_kwargs})
    return state, jax.jit(step)


def fashion_batches(batch_size=32):
    return data.train_iterator("fashion_mnist", batch_size=batch_size, seed=0)


def test_dcgan_step_compiles_once_and_discriminator_learns_on_real_data():
    task = GANTask(tiny_gan_config())
    mesh = parallel.make_mesh()
    state = parallel.replicate(task.init_state(jax.random.PRNGKey(0)), mesh)

    @chex.assert_max_traces(n=1)
    def traced_step(state, batch):
        return task.train_step(state, batch)

    replicated, batch_sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    step = jax.jit(traced_step, in_shardings=(replicated, batch_sharded),  # as fit() does
                   out_shardings=(replicated, replicated), donate_argnums=0)
    batches, history = task.train_batches(0), []
    for _ in range(30):
        state, metrics = step(state, parallel.shard_batch(next(batches), mesh))
        history.append(jax.device_get(metrics))
    d_loss = [m["d_loss"] for m in history]
    gap = [m["d_real"] - m["d_fake"] for m in history]
    assert d_loss[0] == pytest.approx(2 * math.log(2), abs=0.2)  # D(x) ~ 0 at the start
    assert np.mean(d_loss[-5:]) < d_loss[0] - 0.2  # D tells real from fake better
    assert np.mean(gap[-5:]) > gap[0] + 0.5
    assert all(m["gp"] == 0 and m["r1"] == 0 for m in history)
    assert all(np.isfinite(v) for m in history for v in m.values())
    assert int(state.step) == int(state.g.step) == int(state.d.step) == 30
    chex.assert_trees_all_equal(state.g_ema_batch_stats, state.g.batch_stats)
    # D's kernel gradients must not be left as XLA:CPU's slow stride-dilated convolutions
    # (output layout 01bf): inside lax.scan they were, and the step ran 10x slower.
    hlo = step.lower(state, parallel.shard_batch(next(batches), mesh)).compile().as_text()
    assert "->01bf" not in hlo


def test_generator_loss_falls_against_a_frozen_discriminator_and_ema_warms_up():
    state, step = mlp_state_and_step(d_tx=optax.set_to_zero(), ema_decay=0.9, ema_warmup=True)
    d_params, g_loss = state.d.params, []
    for index, batch in zip(range(25), fashion_batches(), strict=False):
        new, metrics = step(state, batch)
        if index < 2:  # decay min(0.9, (1 + t) / (10 + t)) at G step t: 0.1, then 2/11
            decay = min(0.9, (1 + index) / (10 + index))
            expected = jax.tree.map(lambda e, g, d=decay: d * e + (1 - d) * g,
                                    state.g_ema_params, new.g.params)
            chex.assert_trees_all_close(new.g_ema_params, expected, rtol=1e-6, atol=1e-7)
        state = new
        g_loss.append(float(metrics["g_loss"]))
    chex.assert_trees_all_equal(state.d.params, d_params)
    assert np.mean(g_loss[-5:]) < 0.7 * g_loss[0]


def test_n_critic_two_makes_two_discriminator_updates_per_generator_update():
    state, step = mlp_state_and_step(n_critic=2, ema_decay=0.9)
    batches = fashion_batches(batch_size=64)
    new, _ = step(state, next(batches))
    assert (int(new.step), int(new.g.step), int(new.d.step)) == (1, 1, 2)
    assert int(optax.tree_utils.tree_get(new.d.opt_state, "count")) == 2
    assert int(optax.tree_utils.tree_get(new.g.opt_state, "count")) == 1
    # Adam's first step moves a weight by at most about lr; two steps by up to about 2 lr.
    moved = np.abs(np.asarray(new.d.params["Dense_0"]["kernel"]
                              - state.d.params["Dense_0"]["kernel"]))
    assert 1.5e-3 < moved.max() < 2.02e-3
    expected = jax.tree.map(lambda e, g: 0.9 * e + 0.1 * g, state.g_ema_params, new.g.params)
    chex.assert_trees_all_close(new.g_ema_params, expected, rtol=1e-6, atol=1e-7)
    new, metrics = step(new, next(batches))
    assert int(new.d.step) == 4 and np.isfinite(float(metrics["d_loss"]))


def test_user_models_work_unchanged_with_gradient_penalty_and_r1():
    state, step = mlp_state_and_step(loss="wgan", gp_weight=10.0, r1_gamma=10.0)
    for index, batch in zip(range(3), fashion_batches(), strict=False):
        new, metrics = step(state, batch)
        if index == 0:  # metrics are taken at D's parameters before its update
            d_fn = functools.partial(MLPDiscriminator().apply, {"params": state.d.params},
                                     train=True)
            assert float(metrics["d_real"]) == pytest.approx(
                float(d_fn(batch["image"]).mean()), rel=1e-5)
            assert float(metrics["r1"]) == pytest.approx(
                float(r1_penalty(d_fn, batch["image"], gamma=10.0)), rel=1e-4)
        assert float(metrics["gp"]) > 0 and float(metrics["r1"]) > 0
        assert all(np.isfinite(float(v)) for v in metrics.values())
        state = new


SHARDED_SCRIPT = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import functools, jax, numpy as np, optax
    from jax.sharding import PartitionSpec
    from genjax import parallel
    from genjax.train.gan_step import draw_noise, gan_train_step
    from tests.test_gan_train import LATENT, MLPDiscriminator, MLPGenerator, mlp_state_and_step
    assert len(jax.devices()) == 2
    mesh = parallel.make_mesh()
    noise = jax.jit(functools.partial(draw_noise, num=8, latent_dim=4,
                                      sharding=parallel.batch_sharded(mesh)))(jax.random.key(0))
    shards = [np.asarray(s.data) for s in noise.addressable_shards]
    print("NOISE", noise.sharding.spec == PartitionSpec("data"), len(shards),
          [s.shape for s in shards] == [(4, 4)] * 2, not np.allclose(shards[0], shards[1]))

    def max_diff(a, b):
        return max(float(np.max(np.abs(x - y))) for x, y in zip(
            jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))))

    # SGD: updates linear in gradients (Adam's first steps turn rounding into lr-sized steps).
    options = dict(n_critic=2, r1_gamma=1.0)
    state, single = mlp_state_and_step(g_tx=optax.sgd(0.05), d_tx=optax.sgd(0.05), **options)
    bound = functools.partial(gan_train_step, generator=MLPGenerator(), latent_dim=LATENT,
                              discriminator=MLPDiscriminator(), loss="nonsaturating", **options)
    sharded = jax.jit(functools.partial(bound, noise_sharding=parallel.batch_sharded(mesh)),
                      in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)),
                      out_shardings=(parallel.replicated(mesh), parallel.replicated(mesh)))
    pmapped = jax.pmap(functools.partial(bound, axis_name="batch"), axis_name="batch")
    rng = np.random.default_rng(0)
    batches = [{"image": rng.uniform(-1, 1, (32, 28, 28, 1)).astype(np.float32)}
               for _ in range(3)]
    s1, s2, s3 = state, parallel.replicate(state, mesh), jax.tree.map(
        lambda x: np.stack([x, x]), state)
    # Each critic update generates 16 images: 8 per device if the noise is split, else 16
    # on both, and the per-device program would then hold the full (16, LATENT) noise.
    sharded = sharded.lower(s2, parallel.shard_batch(batches[0], mesh)).compile()
    print("HLO", sharded.as_text().count(f"f32[16,{LATENT}]"),
          sharded.as_text().count(f"f32[8,{LATENT}]"))
    for batch in batches:
        s1, m1 = single(s1, batch)
        s2, m2 = sharded(s2, parallel.shard_batch(batch, mesh))
        s3, m3 = pmapped(s3, {"image": batch["image"].reshape(2, 16, 28, 28, 1)})
    print("SHARDED", max_diff(s1, s2), max(abs(float(m1[k]) - float(m2[k])) for k in m1))
    print("PMAP", max_diff(s1, jax.tree.map(lambda x: x[0], s3)),
          max(abs(float(m1[k]) - float(m3[k][0])) for k in m1))
""")


def test_two_device_sharded_and_pmapped_steps_match_one_device_with_sharded_noise():
    out = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin",
                                                      "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    assert lines["NOISE"] == ["True", "2", "True", "True"]  # split along the batch, not copied
    full_noise, half_noise = map(int, lines["HLO"])
    assert full_noise == 0 and half_noise > 0  # inside the step too
    for name in ("SHARDED", "PMAP"):
        param_diff, metric_diff = map(float, lines[name])
        assert param_diff < 1e-5 and metric_diff < 1e-5, (name, param_diff, metric_diff)


def _restore(workdir, config):
    task = GANTask(config)
    manager = checkpoint.make_manager(workdir / "checkpoints")
    return checkpoint.restore_latest(manager, task.init_state(jax.random.PRNGKey(config.seed)))


def test_fit_writes_sample_grids_and_resumes_bit_for_bit(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_gan_config(diffaug_policy="color,translation")
    fit(config, tmp_path / "straight")
    samples = tmp_path / "straight" / "samples"
    assert sorted(p.name for p in samples.iterdir()) == [
        "interp_000010.png", "interp_000020.png", "step_000010.png", "step_000020.png"]
    # The final grid is the last evaluation's: the same fixed noise, the same EMA weights.
    assert ((tmp_path / "straight" / "samples.png").read_bytes()
            == (samples / "step_000020.png").read_bytes())
    records = [json.loads(line) for line in
               (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/diversity_ratio" in r]
    assert [r["step"] for r in evals] == [10, 20]
    assert all(0 < r["eval/diversity_ratio"] < 2 for r in evals)
    # The domain metric of 500 EMA samples: an untrained G is far from real clothes.
    assert all(r["eval/num_samples"] == 500 and r["eval/classifier_fd"] > 10 for r in evals)
    assert [r["step"] for r in records if "train/d_loss" in r] == [5, 10, 15, 20]
    events = EventAccumulator(str(tmp_path / "straight" / "tb"), size_guidance={"tensors": 0})
    events.Reload()
    assert {"samples", "interpolation"} <= set(events.Tags()["tensors"])

    # A run that died after its step-10 checkpoint: the same workdir without the later one.
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "20")
    fit(config, tmp_path / "resumed")
    straight, step_a = _restore(tmp_path / "straight", config)
    resumed, step_b = _restore(tmp_path / "resumed", config)
    assert step_a == step_b == 20
    for a, b in zip(jax.tree.leaves(jax.device_get(straight)),  # G, D, EMA, optimizers, rng
                    jax.tree.leaves(jax.device_get(resumed)), strict=True):
        np.testing.assert_array_equal(a, b)

    # The evaluate command on the finished workdir: the sampler of the EMA generator.
    results = evaluate_run(tmp_path / "straight", num_samples=300, metrics=["classifier_fd"])
    assert results["step"] == 20 and results["num_samples"] == 300
    assert results["classifier_fd"] > 10
    saved = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert saved == pytest.approx(results)
    assert results["train_seconds"] > 0  # the checkpoint's recorded training wall time
    at_10 = evaluate_run(tmp_path / "straight", step=10, num_samples=300,
                         metrics=["classifier_fd"], output=tmp_path / "at10.json")
    assert at_10["step"] == 10 and 0 < at_10["train_seconds"] < results["train_seconds"]
    assert json.loads((tmp_path / "at10.json").read_text()) == pytest.approx(at_10)
    with pytest.raises(UserError, match=r"no checkpoint step 7 .* saved steps: \[10, 20\]"):
        evaluate_run(tmp_path / "straight", step=7)
    assert ((tmp_path / "straight" / "samples.png").read_bytes()
            == (tmp_path / "resumed" / "samples.png").read_bytes())


@pytest.mark.parametrize("name,shape", [("dcgan", (28, 28, 1)), ("dcgan_mnist", (28, 28, 1)),
                                        ("dcgan_cifar10", (32, 32, 3)),
                                        ("dcgan_celeba64", (64, 64, 3))])
def test_experiment_configs_build_and_validate(name, shape):
    import importlib

    config = importlib.import_module(f"experiments.configs.{name}").get_config()
    task = GANTask(config)  # validates, builds G and D by tracing; loads no data
    assert task.shape == shape
    images = jax.eval_shape(functools.partial(task.generator.init_with_output, train=False),
                            jax.random.PRNGKey(0), jnp.zeros((2, config.model.latent_dim)))[0]
    assert images.shape == (2, *shape)


@pytest.mark.parametrize("field,value,message", [
    ("model.name", "stylegan", "unknown model.name 'stylegan'"),
    ("model.name", "resnet", "has no model.d_norm='batch_norm'"),
    ("loss.name", "wasserstein", "unknown loss.name 'wasserstein'"),
    ("loss.gp_weight", 10.0, "BatchNorm in D"),
    ("loss.name", "wgan", "needs a Lipschitz critic"),
    ("n_critic", 5, "multiple of n_critic=5"),
    ("diffaug_policy", "color,flip", "diffaug_policy 'color,flip'"),
    ("d_optimizer.lr", 0.0, "d_optimizer.lr must be positive"),
    ("ema_decay", 1.0, "ema_decay must be in"),
])
def test_bad_gan_config_is_one_user_error(field, value, message):
    with pytest.raises(UserError, match=message):
        GANTask(tiny_gan_config(**{field: value}))


def test_resnet_model_at_an_unsupported_resolution_is_a_user_error():
    config = tiny_gan_config(**{"model.name": "resnet", "model.d_norm": "spectral_norm"})
    with pytest.raises(UserError, match="cannot be built for fashion_mnist"):
        GANTask(config)


def test_pairwise_distance_slerp_and_fixed_noise_values():
    images = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]).reshape(3, 1, 2, 1)
    assert gan_samples.mean_pairwise_distance(images) == pytest.approx(10 / 3)  # 5, 0, 5
    assert gan_samples.diversity_ratio(images, 2 * images) == pytest.approx(0.5)
    z0, z1 = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    path = gan_samples.slerp(z0, z1, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(path, [[2, 0], [math.sqrt(2), math.sqrt(2)], [0, 2]], atol=1e-12)
    grid = gan_samples.fixed_noise(3, 4, 5)
    np.testing.assert_array_equal(grid, gan_samples.fixed_noise(3, 4, 5))
    assert not np.allclose(grid, gan_samples.fixed_noise(4, 4, 5))
    strip = gan_samples.interpolation_latents(3, rows=2, cols=4, latent_dim=5)
    assert strip.shape == (8, 5)
    norms = np.linalg.norm(strip, axis=1).reshape(2, 4)  # slerp keeps norms between the ends'
    assert np.all(norms.min(1) >= np.minimum(norms[:, 0], norms[:, -1]) - 1e-5)


def test_loss_table_runs_each_row_on_the_budget_and_caches_it(tmp_path):

    small = ["--config.model.width=8", "--config.model.latent_dim=16",
             "--config.batch_size=40", "--config.eval_batch_size=64", "--config.log_every=1",
             "--config.eval_every=1000", "--config.checkpoint_every=1000",
             "--config.eval_metrics=()", "--num_samples=300", "--budget_seconds=0.001"]
    proc = run_experiment("experiments.gan_losses", tmp_path, "--variants=minimax,wgan_gp",
                          *small)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results) == ["minimax", "wgan_gp"]
    for name, row in results.items():
        assert row["steps"] == 1, name  # the budget is spent by the first step
        assert row["train_seconds"] >= 0.001 and row["classifier_fd"] > 10
        assert row["classifier_fd_samples"] == 300
    assert results["wgan_gp"]["images_seen"] == 320  # Gulrajani et al.: 5 critic batches of 64
    saved = json.loads((tmp_path / "wgan_gp" / "config.json").read_text())
    assert (saved["loss"]["name"], saved["loss"]["gp_weight"], saved["n_critic"],
            saved["model"]["d_norm"], saved["d_optimizer"]["b2"]) == ("wgan", 10.0, 5, "none", 0.9)
    table = (tmp_path / "table.md").read_text()
    assert "| minimax | 1 | 40 |" in table and "| wgan_gp | 1 | 320 |" in table
    # A finished row is not trained again: the rerun only rewrites the table.
    proc = run_experiment("experiments.gan_losses", tmp_path, "--variants=wgan_gp", *small)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert "minimax" not in (tmp_path / "table.md").read_text()


def test_loss_table_rejects_an_unknown_row_at_once(tmp_path):
    proc = run_experiment("experiments.gan_losses", tmp_path, "--variants=minimax,wgan")
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 2 and "unknown variants ['wgan']" in out
    assert not (tmp_path / "minimax").exists()


def test_evaluate_refuses_intra_class_metrics_for_an_unconditional_model(tmp_path):
    fit(tiny_gan_config(num_train_steps=2, eval_every=2, checkpoint_every=2), tmp_path)
    with pytest.raises(UserError, match=r"\['intra_fid'\] need a class-conditional model"):
        evaluate_run(tmp_path, metrics=["intra_fid"])

"""CycleGAN, with values: the cycle and identity losses by hand, the image pool's replacement
rule and purity, disjoint domains with exact unpaired batches, a step that compiles once and
learns on real data, and a bit-for-bit resume with the pools in the checkpoint."""

import importlib
import json
import shutil

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from genjax import data
from genjax.data import domains
from genjax.errors import UserError
from genjax.io import checkpoint
from genjax.losses import cyclegan as losses
from genjax.models.cyclegan import ResnetGenerator
from genjax.studies import enhance
from genjax.studies.translation import format_table, translation_report
from genjax.train import optim
from genjax.train.image_pool import init_pool, query_pool
from genjax.train.loop import fit
from genjax.train.runs import load_run
from genjax.train.tasks import TASKS, ImageToImage, Task
from genjax.train.tasks.cyclegan import CycleGANTask, translation_success
from tests.conftest import ROOT, override


def tiny_config(name="cyclegan_sneaker_boot", **overrides):
    """A real experiment config, shrunk so that a run takes seconds."""
    c = importlib.import_module(f"experiments.configs.{name}").get_config()
    c.model.width, c.model.blocks, c.model.d_width = 8, 1, 8
    c.batch_size, c.eval_batch_size, c.eval_num_examples = 8, 16, 16
    c.num_train_steps, c.log_every, c.eval_every, c.checkpoint_every = 8, 2, 4, 4
    c.g_optimizer.decay_start = c.d_optimizer.decay_start = 4
    c.pool_size = 6
    return override(c, **overrides)


class Scale(nn.Module):
    """x -> s * x with a parameter s (initialised to 1): a generator computed by hand."""

    @nn.compact
    def __call__(self, x, *, train):
        return self.param("s", nn.initializers.ones, ()) * x


class Constant(nn.Module):
    """x -> a logit c per image (parameter c, initialised to 0): a D computed by hand."""

    @nn.compact
    def __call__(self, x, *, train):
        return jnp.broadcast_to(self.param("c", nn.initializers.zeros, ()), x.shape[:1])


def test_cycle_identity_and_adversarial_terms_by_hand():
    rng = np.random.default_rng(0)
    a, b = (jnp.asarray(rng.uniform(-1, 1, (4, 28, 28, 1)), jnp.float32) for _ in range(2))
    g_params = {"ab": {"s": jnp.float32(0.5)}, "ba": {"s": jnp.float32(2.0)}}  # F = G^-1
    d_params = {"a": {"c": jnp.float32(0.2)}, "b": {"c": jnp.float32(-0.4)}}
    total, (metrics, stats, fakes) = losses.generator_loss(
        g_params, {"ab": {}, "ba": {}}, {"a": a, "b": b}, jax.random.PRNGKey(0),
        generator=Scale(), discriminator=Constant(), d_params=d_params,
        d_batch_stats={"a": {}, "b": {}}, loss="lsgan")
    np.testing.assert_allclose(fakes["fake_b"], 0.5 * a)
    assert float(metrics["cycle_a"]) == pytest.approx(0.0, abs=1e-7)  # F(G(a)) = a
    assert float(metrics["cycle_b"]) == pytest.approx(0.0, abs=1e-7)
    mean_a, mean_b = float(jnp.mean(jnp.abs(a))), float(jnp.mean(jnp.abs(b)))
    assert float(metrics["identity_b"]) == pytest.approx(0.5 * mean_b, rel=1e-5)  # |b/2 - b|
    assert float(metrics["identity_a"]) == pytest.approx(mean_a, rel=1e-5)  # |2a - a|
    # lsgan g_loss = 1/2 (c - 1)^2: D_B's c = -0.4 judges G(a), D_A's c = 0.2 judges F(b)
    assert float(metrics["g_adv_ab"]) == pytest.approx(0.5 * 1.4**2, rel=1e-6)
    assert float(metrics["g_adv_ba"]) == pytest.approx(0.5 * 0.8**2, rel=1e-6)
    expected = 2.0 * (0.98 + 0.32) + 5.0 * (mean_a + 0.5 * mean_b)
    assert float(total) == pytest.approx(expected, rel=1e-5)
    # D: lsgan d_loss = 1/2 (c - 1)^2 + 1/2 c^2 per discriminator
    d_total, (d_metrics, _) = losses.discriminator_loss(
        d_params, {"a": {}, "b": {}}, {"a": a, "b": b, **fakes}, None,
        discriminator=Constant(), loss="lsgan")
    assert float(d_metrics["d_loss_a"]) == pytest.approx(0.5 * 0.64 + 0.5 * 0.04, rel=1e-6)
    assert float(d_total) == pytest.approx(0.34 + 0.5 * 1.96 + 0.5 * 0.16, rel=1e-6)


def test_pool_fills_then_returns_a_stored_fake_half_the_time_and_is_pure():
    shape = (2, 2, 1)
    fakes = jnp.arange(1, 4, dtype=jnp.float32)[:, None, None, None] * jnp.ones(shape)
    pool, out = query_pool(init_pool(3, shape), fakes, jax.random.PRNGKey(0))
    assert int(pool.count) == 3  # while filling: each fake is stored and returned
    np.testing.assert_array_equal(pool.images, fakes)
    np.testing.assert_array_equal(out, fakes)
    # Full: each new fake comes back itself or swaps with a stored one, probability 1/2.
    many = jnp.arange(100, 4100, dtype=jnp.float32)[:, None, None, None] * jnp.ones(shape)
    pool2, out2 = query_pool(pool, many, jax.random.PRNGKey(1))
    swapped = np.asarray(out2[:, 0, 0, 0] != many[:, 0, 0, 0])
    assert abs(swapped.mean() - 0.5) < 0.03  # 4,000 draws: 3 standard deviations is 0.024
    # every swapped-out image was in the pool: the first three old ones or an earlier fake
    seen = set(np.asarray(pool.images[:, 0, 0, 0]).tolist()) | set(
        np.asarray(many[:, 0, 0, 0]).tolist())
    assert set(np.asarray(out2[swapped, 0, 0, 0]).tolist()) <= seen
    again = query_pool(pool, many, jax.random.PRNGKey(1))
    for x, y in zip(jax.tree.leaves((pool2, out2)), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(x, y)  # pure in (pool, fakes, rng)
    other = query_pool(pool, many, jax.random.PRNGKey(2))[1]
    assert not np.array_equal(other, out2)
    empty, same = query_pool(init_pool(0, shape), fakes, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(same, fakes)  # size 0: no history
    with pytest.raises(ValueError, match="pool size must be >= 0"):
        init_pool(-1, shape)


def test_domains_are_disjoint_named_classes_and_unpaired_batches_resume_exactly():
    assert domains.check_domains("fashion_mnist", "Sneaker", "ankle_boot") == ((7,), (9,))
    assert domains.parse_domain("fashion_mnist", "t-shirt/top, 6") == (0, 6)
    for a, b, message in [("Sneaker", "sneaker,Bag", r"overlap in \['Sneaker'\]"),
                          ("", "Bag", "domains.a is empty"),
                          ("Sneaker", "Sandals", "'Sandals' is not a class of fashion_mnist"),
                          ("Sneaker", "12", "'12' is not a class")]:
        with pytest.raises(UserError, match=message):
            domains.check_domains("fashion_mnist", a, b)
    images, labels = data.load_split("fashion_mnist", "train")
    split = domains.split_domains("fashion_mnist", "train", "Sneaker", "Ankle boot")
    assert len(split["a"]) == len(split["b"]) == 6000
    np.testing.assert_array_equal(split["a"], images[labels == 7])
    stream = domains.unpaired_batches(split, batch_size=64, seed=3)
    batches = [next(stream) for _ in range(95)]  # past the end of the first epoch (93 batches)
    for start in (0, 40, 93):
        resumed = next(domains.unpaired_batches(split, batch_size=64, seed=3, start_step=start))
        for d in ("a", "b"):
            np.testing.assert_array_equal(resumed[d], batches[start][d])
    # each domain has its own permutation: the index orders of A and B differ
    order_a = data.pipeline.epoch_order(domains.domain_seed(3, 0), 0, 6000)
    order_b = data.pipeline.epoch_order(domains.domain_seed(3, 1), 0, 6000)
    assert not np.array_equal(order_a, order_b)
    np.testing.assert_allclose(batches[0]["a"], split["a"][order_a[:64]] / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(batches[0]["b"], split["b"][order_b[:64]] / 127.5 - 1, atol=1e-6)


def test_resnet_generator_shapes_and_linear_decay_schedule():
    g = ResnetGenerator(out_channels=1, width=8, blocks=2)
    x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (3, 28, 28, 1)), jnp.float32)
    variables = g.init(jax.random.PRNGKey(0), x)
    y = g.apply(variables, x)
    assert y.shape == (3, 28, 28, 1) and float(jnp.max(jnp.abs(y))) < 1.0
    assert "batch_stats" not in variables  # instance norm: each image on its own
    np.testing.assert_allclose(g.apply(variables, x[1:2]), y[1:2], atol=1e-5)
    c = tiny_config().g_optimizer
    lr = optim.SCHEDULES["linear_decay"](c, 8)
    assert [float(lr(s)) for s in (0, 3, 4, 6, 8)] == pytest.approx(
        [c.lr, c.lr, c.lr, c.lr / 2, 0.0])


def test_step_compiles_once_and_the_cycle_loss_falls_on_real_images():
    task = CycleGANTask(tiny_config(**{"model.width": 16, "model.blocks": 2, "num_train_steps": 30,
                                       "g_optimizer.decay_start": 30,
                                       "d_optimizer.decay_start": 30}))
    state = task.init_state(jax.random.PRNGKey(0))

    @chex.assert_max_traces(n=1)
    def traced_step(state, batch):
        return task.train_step(state, batch)

    step, batches, history = jax.jit(traced_step, donate_argnums=0), task.train_batches(0), []
    for _ in range(30):
        state, metrics = step(state, next(batches))
        history.append(jax.device_get(metrics))
    cycle = [m["cycle_a"] + m["cycle_b"] for m in history]
    assert np.mean(cycle[-5:]) < 0.6 * np.mean(cycle[:3])
    assert int(state.pool_a.count) == int(state.pool_b.count) == 6
    assert all(np.isfinite(m["d_loss"]) and np.isfinite(m["g_loss"]) for m in history)


def test_fit_logs_scores_and_grids_and_resumes_bit_for_bit_with_the_pools(tmp_path):
    config = tiny_config()
    fit(config, tmp_path / "straight")
    samples = tmp_path / "straight" / "samples"
    assert sorted(p.name for p in samples.iterdir()) == ["step_000004.png", "step_000008.png"]
    records = [json.loads(line) for line in
               (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/cycle_psnr_a" in r]
    assert [r["step"] for r in evals] == [4, 8]
    assert all(0 <= r["eval/success_ab"] <= 1 and 0 < r["eval/cycle_ssim_b"] < 1 for r in evals)
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "8")
    fit(config, tmp_path / "resumed")
    template = CycleGANTask(config).init_state(jax.random.PRNGKey(config.seed))
    straight, step_a, resumed, step_b = (
        value for run in ("straight", "resumed") for value in checkpoint.restore_latest(
            checkpoint.make_manager(tmp_path / run / "checkpoints"), template))
    assert step_a == step_b == 8 and int(straight.pool_a.count) == 6
    for a, b in zip(jax.tree.leaves(jax.device_get(straight)),  # G, F, D_A, D_B, pools, rng
                    jax.tree.leaves(jax.device_get(resumed)), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["cyclegan_sneaker_boot", "cyclegan_tshirt_shirt",
                                  "cyclegan_pullover_coat"])
def test_experiment_configs_build(name):
    task = TASKS["cyclegan"](importlib.import_module(f"experiments.configs.{name}").get_config())
    assert isinstance(task, Task) and isinstance(task, ImageToImage)
    assert all(len(classes) == 1 for classes in task.classes.values())


@pytest.mark.parametrize("overrides,message", [
    ({"domains.b": "Sneaker"}, r"overlap in \['Sneaker'\]"),
    ({"domains.a": " "}, "domains.a is empty"),
    ({"domains.b": "Boot"}, "'Boot' is not a class of fashion_mnist"),
    ({"pool_size": -1}, r"pool_size must be an integer >= 0 \(0: no image history\)"),
    ({"loss.cycle_weight": -1.0}, "loss.cycle_weight must be >= 0"),
    ({"loss.name": "wgan"}, "unknown loss.name 'wgan'"),
    ({"model.name": "dcgan"}, "unknown model.name 'dcgan'"),
    ({"model.d_norm": "layer"}, "unknown model.d_norm 'layer'"),
    ({"g_optimizer.decay_start": 9}, "g_optimizer.decay_start=9 is past num_train_steps=8"),
    ({"batch_size": 7000}, r"domain a \(Sneaker\) has 6000 train images, fewer than"),
])
def test_bad_cyclegan_config_is_one_user_error(overrides, message):
    with pytest.raises(UserError, match=message) as error:
        CycleGANTask(tiny_config(**overrides))
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cyclegan") / "run"
    fit(tiny_config(), workdir)
    return workdir


def test_apply_command_translates_png_files_either_way(run_dir, tmp_path):
    test = domains.split_domains("fashion_mnist", "test", "Sneaker", "Ankle boot")
    folder = tmp_path / "boots"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(test["b"][i, ..., 0]).save(folder / f"boot{i}.png")
    run = load_run(run_dir)
    expected = np.asarray(run.task.translate(run.state, test["b"][:3] / 127.5 - 1.0, "ba"))
    written = enhance.enhance_files(run_dir, folder, tmp_path / "out", direction="ba")
    assert [p.name for p in written] == ["boot0.png", "boot1.png", "boot2.png"]
    got = np.stack([np.asarray(Image.open(p)) for p in written])
    np.testing.assert_allclose(got / 127.5 - 1.0, expected[..., 0], atol=1 / 127.5 + 1e-6)
    forward = enhance.enhance_files(run_dir, folder, tmp_path / "ab")  # "ab" by default
    assert not np.array_equal(np.asarray(Image.open(forward[0])), got[0])
    with pytest.raises(UserError, match="unknown direction 'up'"):
        enhance.enhance_files(run_dir, folder, tmp_path / "never", direction="up")
    assert not (tmp_path / "never").exists()


def test_translation_report_scores_both_directions_beside_identity_and_floor(run_dir, tmp_path):
    results = translation_report(run_dir, output=tmp_path / "report")
    assert results["domains"] == {"a": "Sneaker", "b": "Ankle boot"}
    assert results["counts"] == {"a": 1000, "b": 1000}
    for direction in ("ab", "ba"):
        rows = results["directions"][direction]["methods"]
        assert results["directions"][direction]["fd_images"] == 500
        assert rows["real"]["success"] > 0.9 and rows["identity"]["success"] < 0.1
        assert rows["real"]["classifier_fd"] < rows["identity"]["classifier_fd"]
        assert 0 <= rows["cyclegan"]["success"] <= 1 and rows["cyclegan"]["cycle_psnr"] > 5
    # the identity row by hand: A's test images as they are, through the shipped classifier
    test = domains.split_domains("fashion_mnist", "test", "Sneaker", "Ankle boot")
    identity = translation_success(test["a"] / 127.5 - 1.0, (9,))
    assert results["directions"]["ab"]["methods"]["identity"]["success"] == identity
    assert (tmp_path / "report.md").read_text() == format_table(results) + "\n"
    grid = np.asarray(Image.open(tmp_path / "report.png"))
    assert grid.shape == (16 * 30 + 2, 3 * 30 + 2)  # 8 rows per direction, 3 columns
    with pytest.raises(UserError, match="not a CycleGAN run"):
        translation_report(ROOT / "tests" / "data" / "legacy" / "classifier")


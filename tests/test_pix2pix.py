"""pix2pix and the L1 U-Net, with values: PSNR/SSIM by hand, exact pairs, the PatchGAN's
receptive field, a step that compiles once and learns on real data, and a bit-for-bit resume."""

import importlib
import json
import math
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import data
from genjax.data import pairs
from genjax.errors import UserError
from genjax.eval.enhancement import image_scores, split_scores
from genjax.io import checkpoint
from genjax.models.pix2pix import PatchGAN, UNet, patch_grid, receptive_field
from genjax.train.loop import fit
from genjax.train.tasks import TASKS, ImageToImage, Task
from genjax.train.tasks.pix2pix import Pix2PixTask
from tests.conftest import override


def tiny_config(name="pix2pix_sr4", **overrides):
    """A real experiment config, shrunk so that a run takes seconds."""
    c = importlib.import_module(f"experiments.configs.{name}").get_config()
    c.model.width, c.model.d_width = 8, 8
    c.batch_size, c.eval_batch_size, c.eval_num_examples = 32, 32, 48
    c.num_train_steps, c.log_every, c.eval_every, c.checkpoint_every = 8, 2, 4, 4
    c.g_optimizer.lr = c.d_optimizer.lr = 1e-3
    return override(c, **overrides)


def test_psnr_ssim_and_l1_match_hand_computed_values():
    rng = np.random.default_rng(0)
    targets = rng.uniform(-0.8, 0.8, (3, 28, 28, 1)).astype(np.float32)
    scores = image_scores(targets + 0.2, targets)  # an offset of 0.1 on [0, 1]
    np.testing.assert_allclose(scores["psnr"], 20.0, rtol=1e-4)  # -10 log10(0.1^2)
    np.testing.assert_allclose(scores["l1"], 0.1, rtol=1e-4)
    same = image_scores(targets, targets)
    np.testing.assert_allclose(same["ssim"], 1.0, atol=1e-5)
    assert np.all(same["l1"] == 0)
    # identical images get the cap: the PSNR of one 8-bit level in one of 784 values
    cap = 10 * math.log10(784 * 255**2)
    np.testing.assert_allclose(same["psnr"], cap, rtol=1e-6)
    one_level = targets.copy()
    one_level[:, 3, 5, 0] += 2 / 255  # one level on [0, 1] is 2/255 on [-1, 1]
    np.testing.assert_allclose(image_scores(one_level, targets)["psnr"], cap, rtol=1e-4)
    # Constant images a = 0.5, b = 0.25: no variance, SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b, c1 = np.zeros((1, 28, 28, 1), np.float32), np.full((1, 28, 28, 1), -0.5), 0.01**2
    np.testing.assert_allclose(image_scores(b, a)["ssim"], (0.25 + c1) / (0.3125 + c1), rtol=1e-5)
    # Over a split: 5 images with offsets 0.1, ..., 0.5 on [0, 1], batches of 2 (one padded).
    offsets, shapes = np.arange(1, 6, dtype=np.float32) / 10, []
    dark = np.clip(targets[[0, 1, 2, 0, 1]], -1, 0)
    split = split_scores(lambda x: shapes.append(x.shape) or x,
                         dark + 2 * offsets[:, None, None, None], dark, batch_size=2)
    assert shapes == [(2, 28, 28, 1)] * 3 and split["num_examples"] == 5
    assert split["psnr"] == pytest.approx(np.mean(-20 * np.log10(offsets)), rel=1e-4)
    assert split["l1"] == pytest.approx(0.3, rel=1e-4)


def test_super_resolution_inputs_are_exact_block_means():
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    unit = images.astype(np.float64) / 255
    for scale in (2, 4, 7):
        pair = pairs.make_pairs("super_resolution", images, None, {"scale": scale})
        shown = (pair["input"] + 1) / 2
        for i in range(28 // scale):
            for j in range(28 // scale):
                cell = np.s_[:, i * scale:(i + 1) * scale, j * scale:(j + 1) * scale]
                mean = unit[cell].mean(axis=(1, 2, 3), keepdims=True)
                np.testing.assert_allclose(shown[cell] - mean, 0.0, atol=1e-6)
        np.testing.assert_allclose(pair["target"], 2 * unit - 1, atol=1e-6)


def _box_sides(mask):
    """(height, width) of the one solid box `mask` holds."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert mask.sum() == height * width  # the bounding box is all hole
    return height, width


def test_inpainting_masks_are_where_they_should_be():
    images = np.random.default_rng(2).integers(1, 256, (6, 28, 28, 1), dtype=np.uint8)
    target = images / 127.5 - 1
    centre = pairs.make_pairs("inpaint_centre", images, pairs.batch_rng(0, 0), {"mask_size": 14})
    hole = np.zeros((28, 28), bool)
    hole[7:21, 7:21] = True
    assert centre["input"].shape == (6, 28, 28, 2)
    np.testing.assert_array_equal(centre["input"][..., 1], np.where(hole, 1.0, -1.0)[None]
                                  .repeat(6, 0))
    np.testing.assert_array_equal(centre["input"][:, hole, 0], -1.0)  # zero intensity
    np.testing.assert_allclose(centre["input"][:, ~hole, 0], target[:, ~hole, 0], atol=1e-6)
    options = {"box_min": 8, "box_max": 16}
    box = pairs.make_pairs("inpaint_box", images, pairs.batch_rng(0, 5), options)
    for image in range(6):
        mask = box["input"][image, ..., 1] > 0
        assert all(8 <= side <= 16 for side in _box_sides(mask))
        np.testing.assert_array_equal(box["input"][image, mask, 0], -1.0)
    again = pairs.make_pairs("inpaint_box", images, pairs.batch_rng(0, 5), options)
    np.testing.assert_array_equal(box["input"], again["input"])
    other = pairs.make_pairs("inpaint_box", images, pairs.batch_rng(0, 6), options)
    assert not np.array_equal(box["input"], other["input"])


def test_noise_is_seeded_by_seed_and_step_and_has_its_configured_size():
    grey = np.full((8, 28, 28, 1), 128, np.uint8)

    def gauss(sigma, step):
        return pairs.degrade("denoise_gaussian", grey, pairs.batch_rng(3, step), {"sigma": sigma})

    noisy = gauss(0.1, 7)
    np.testing.assert_array_equal(noisy, gauss(0.1, 7))
    assert not np.array_equal(noisy, gauss(0.1, 8))
    assert np.std(noisy - 128 / 255) == pytest.approx(0.1, rel=0.05)
    np.testing.assert_array_equal(gauss(0.0, 7), grey / np.float32(255))
    salted = pairs.degrade("denoise_salt_pepper", grey, pairs.batch_rng(3, 7), {"fraction": 0.25})
    hit = salted != np.float32(128 / 255)
    assert np.all(np.isin(salted[hit], [0.0, 1.0]))
    assert hit.mean() == pytest.approx(0.25, abs=0.02)
    assert (salted[hit] == 1).mean() == pytest.approx(0.5, abs=0.05)


def test_sobel_edges_of_an_impulse_and_an_empty_image():
    image = np.zeros((2, 28, 28, 1), np.float32)
    image[0, 14, 14] = 1.0
    edges = pairs.degrade("edges", image, pairs.batch_rng(0, 0), {})
    expected, r2 = np.zeros((28, 28)), math.sqrt(2)  # |Sobel| of an impulse: 2 beside it,
    expected[13:16, 13:16] = [[r2, 2, r2], [2, 0, 2], [r2, 2, r2]]  # sqrt(2) diagonally
    np.testing.assert_allclose(edges[0, ..., 0], expected / 2, atol=1e-6)
    np.testing.assert_array_equal(edges[1], 0.0)


def test_eval_pairs_are_fixed_per_example_for_every_method_and_batches_resume_exactly():
    denoise = Pix2PixTask(tiny_config("pix2pix_denoise"))
    baseline = Pix2PixTask(tiny_config("pix2pix_denoise", seed=5, **{"loss.adv_weight": 0.0}))
    first, second = denoise.eval_pairs(), baseline.eval_pairs()
    for key in ("input", "target"):
        np.testing.assert_array_equal(first[key], second[key])
    assert first["input"].shape == (48, 28, 28, 1)
    test_images, _ = data.load_split("fashion_mnist", "test")
    fewer = pairs.eval_pairs("denoise_gaussian", test_images, {"sigma": 0.3}, 7)
    np.testing.assert_array_equal(fewer["input"], first["input"][:7])
    batches = denoise.train_batches(0)
    fourth, resumed = [next(batches) for _ in range(4)][-1], next(denoise.train_batches(3))
    for key in ("input", "target"):
        np.testing.assert_array_equal(fourth[key], resumed[key])


def test_patchgan_grid_and_receptive_field_of_22_pixels():
    assert receptive_field((2, 2, 1)) == 22 and patch_grid(28, (2, 2, 1)) == 6
    rng = np.random.default_rng(3)
    inputs, outputs = (jnp.asarray(rng.uniform(-1, 1, (2, 28, 28, c)), jnp.float32)
                       for c in (2, 1))
    d = PatchGAN(width=8)
    variables = d.init(jax.random.PRNGKey(0), inputs, outputs, train=False)
    logits = d.apply(variables, inputs, outputs, train=False)
    assert logits.shape == (2, 6, 6)
    # The support of logit (2, 2)'s gradient: rows and columns 4i - 7 .. 4i + 14 = 1 .. 22.
    grad = jax.grad(lambda o: d.apply(variables, inputs, o, train=False)[0, 2, 2])(outputs)
    support = np.asarray(grad[0, ..., 0]) != 0
    np.testing.assert_array_equal(support, np.outer(*[(np.arange(28) >= 1)
                                                       & (np.arange(28) <= 22)] * 2))
    assert np.all(np.asarray(grad[1]) == 0)
    # Pixel (0, 0) is seen by the logits whose fields reach it: i, j in {0, 1}.
    changed = np.asarray(d.apply(variables, inputs, outputs.at[0, 0, 0, 0].add(1.0),
                                 train=False) != logits)
    expected = np.zeros((2, 6, 6), bool)
    expected[0, :2, :2] = True
    np.testing.assert_array_equal(changed, expected)


def test_unet_shapes_range_and_dropout_noise():
    g = UNet(out_channels=1, width=8)
    inputs = jnp.asarray(np.random.default_rng(4).uniform(-1, 1, (2, 28, 28, 2)), jnp.float32)
    variables = g.init(jax.random.PRNGKey(0), inputs, train=False)

    def train_out(seed):
        return g.apply(variables, inputs, train=True, mutable=["batch_stats"],
                       rngs={"dropout": jax.random.PRNGKey(seed)})[0]

    out = g.apply(variables, inputs, train=False)
    assert out.shape == (2, 28, 28, 1) and float(jnp.max(jnp.abs(out))) < 1.0
    np.testing.assert_array_equal(out, g.apply(variables, inputs, train=False))
    np.testing.assert_array_equal(train_out(1), train_out(1))
    assert float(jnp.max(jnp.abs(train_out(1) - train_out(2)))) > 1e-4  # dropout is the noise


@pytest.mark.parametrize("name", ["pix2pix_sr4", "unet_l1_sr4"])
def test_step_compiles_once_and_l1_falls_on_real_super_resolution(name):
    task = Pix2PixTask(tiny_config(name))
    state = task.init_state(jax.random.PRNGKey(0))

    @chex.assert_max_traces(n=1)
    def traced_step(state, batch):
        return task.train_step(state, batch)

    step, batches, history = jax.jit(traced_step, donate_argnums=0), task.train_batches(0), []
    for _ in range(30):
        state, metrics = step(state, next(batches))
        history.append(jax.device_get(metrics))
    l1 = [m["l1"] for m in history]
    assert np.mean(l1[-5:]) < 0.75 * l1[0]
    assert all(np.isfinite(v) for m in history for v in m.values())
    assert int(state.step) == int(state.g.step) == 30
    if name == "unet_l1_sr4":  # no discriminator anywhere
        assert state.d is None and "d_loss" not in history[0]
        np.testing.assert_allclose([m["g_loss"] for m in history], 100 * np.array(l1), rtol=1e-5)
    else:
        assert int(state.d.step) == 30
        assert history[0]["d_loss"] == pytest.approx(math.log(2), abs=0.1)  # halved 2 log 2
        np.testing.assert_allclose([m["g_loss"] for m in history],
                                   [m["g_adv"] + 100 * m["l1"] for m in history], rtol=1e-5)


def test_the_adversary_changes_the_generator_update():
    tasks = [Pix2PixTask(tiny_config(**{"loss.adv_weight": w})) for w in (1.0, 0.0)]
    batch = next(tasks[0].train_batches(0))  # the same G init and batch for both:
    a, b = (jax.jit(t.train_step)(t.init_state(jax.random.PRNGKey(0)), batch)[0] for t in tasks)
    differences = jax.tree.map(lambda x, y: float(jnp.max(jnp.abs(x - y))), a.g.params, b.g.params)
    assert max(jax.tree.leaves(differences)) > 0  # only the adversarial term differs


def test_fit_writes_scores_and_grids_and_resumes_bit_for_bit(tmp_path):
    config = tiny_config("pix2pix_inpaint_box")
    fit(config, tmp_path / "straight")
    samples = tmp_path / "straight" / "samples"
    assert sorted(p.name for p in samples.iterdir()) == ["step_000004.png", "step_000008.png"]
    assert ((tmp_path / "straight" / "samples.png").read_bytes()
            == (samples / "step_000008.png").read_bytes())
    records = [json.loads(line) for line in
               (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/psnr" in r]
    assert [r["step"] for r in evals] == [4, 8]
    assert all(r["eval/num_examples"] == 48 and 0 < r["eval/ssim"] < 1 for r in evals)
    assert evals[0]["eval/input_psnr"] == evals[1]["eval/input_psnr"] > 5  # a fixed eval set
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "8")
    fit(config, tmp_path / "resumed")
    template = Pix2PixTask(config).init_state(jax.random.PRNGKey(config.seed))
    straight, step_a, resumed, step_b = (
        value for run in ("straight", "resumed") for value in checkpoint.restore_latest(
            checkpoint.make_manager(tmp_path / run / "checkpoints"), template))
    assert step_a == step_b == 8
    for a, b in zip(jax.tree.leaves(jax.device_get(straight)),  # G, D, optimizers, rng
                    jax.tree.leaves(jax.device_get(resumed)), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["pix2pix_sr4", "pix2pix_sr2", "pix2pix_inpaint_centre",
                                  "pix2pix_inpaint_box", "pix2pix_denoise", "pix2pix_denoise_sp",
                                  "pix2pix_edges", "unet_l1_sr4"])
def test_experiment_configs_build(name):
    task = TASKS["pix2pix"](importlib.import_module(f"experiments.configs.{name}").get_config())
    assert isinstance(task, Task) and isinstance(task, ImageToImage)
    expected = {"inpaint": 2}.get(name.split("_")[1], 1)
    assert task.input_shape == (28, 28, expected)
    assert (task.discriminator is None) == (name == "unet_l1_sr4")


@pytest.mark.parametrize("overrides,message", [
    ({"pairs.name": "colorise"}, "unknown pairs.name 'colorise'"),
    ({"pairs.scale": 3}, r"pairs.scale=3 must be an integer >= 2 that divides"),
    ({"pairs.name": "inpaint_centre", "pairs.mask_size": 30}, "mask must fit"),
    ({"pairs.name": "inpaint_box", "pairs.box_max": 29}, "box must fit"),
    ({"pairs.name": "denoise_gaussian", "pairs.sigma": -0.1}, "pairs.sigma must be >= 0"),
    ({"pairs.name": "denoise_salt_pepper", "pairs.fraction": 1.5}, "pairs.fraction"),
    ({"loss.l1_weight": -1.0}, r"loss.l1_weight \(lambda\) must be >= 0"),
    ({"loss.adv_weight": -1.0}, "loss.adv_weight must be >= 0"),
    ({"loss.name": "wgan"}, "needs a Lipschitz critic"),
    ({"model.name": "resnet"}, "unknown model.name 'resnet'"),
    ({"model.dropout": 1.0}, r"model.dropout must be in \[0, 1\)"),
])
def test_bad_pix2pix_config_is_one_user_error(overrides, message):
    with pytest.raises(UserError, match=message) as error:
        Pix2PixTask(tiny_config(**overrides))
    assert "\n" not in str(error.value)


"""DRAW: Gaussian attention, the scanned model, loss and IWAE bound, task and fit(), with values."""

import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from genjax.errors import UserError
from genjax.eval import likelihood as likelihood_eval
from genjax.losses.draw import draw_eval_sums, draw_iwae_terms, draw_terms, eval_noise
from genjax.models import draw_attention as attention
from genjax.models.draw import DRAW
from genjax.train.tasks.draw import DRAWTask
from tests.conftest import tiny_likelihood_config, train_traced

SHARP = math.log(1e-3)  # log sigma^2 of filters that are one-hot to e^-500


def tiny_draw_config(**overrides):
    """The real DRAW config, shrunk so that a run takes seconds."""
    from experiments.configs import draw

    config = draw.get_config()
    config.model.num_steps = 4
    config.model.lstm_size = 64
    config.model.latent_dim = 8
    return tiny_likelihood_config(config, iwae_samples=2,
                                  iwae_chunk_size=2,
                                  **{"num_train_steps": 10, **overrides})


@pytest.fixture(scope="module")
def trained():
    """A tiny DRAW after 40 Adam steps on real binarised Fashion-MNIST, and its losses."""
    return train_traced(DRAWTask(tiny_draw_config(num_train_steps=40)), 40)


def _test_batch(n):
    return next(likelihood_eval.indexed_eval_batches(
        "fashion_mnist", split="test", batch_size=n, image_range="binary"))


def test_filterbank_rows_sum_to_one():
    gx = jnp.array([14.5, 1.0, 30.0, 7.2])  # centred, on the edge, half off the image
    gy = jnp.array([14.5, 20.0, -2.0, 3.3])
    log_sigma2 = jnp.log(jnp.array([1.0, 0.3, 4.0, 20.0]))
    log_delta = jnp.log(jnp.array([1.0, 2.5, 0.5, 6.0]))
    fx, fy = attention.filterbank(gx, gy, log_sigma2, log_delta, 5, 28, 20)
    assert fx.shape == (4, 5, 28) and fy.shape == (4, 5, 20)
    np.testing.assert_allclose(fx.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(fy.sum(-1), 1.0, rtol=1e-5)
    # Centred filters are symmetric about the centre: the middle row peaks at pixel 14.5.
    middle = fx[0, 2]
    np.testing.assert_allclose(middle[:14], middle[14:][::-1], rtol=1e-5)


def test_centred_read_with_unit_stride_returns_the_central_patch():
    image = jnp.arange(28 * 28, dtype=jnp.float32).reshape(1, 28, 28)
    error = -image
    # g~ = 0 centres the grid at pixel 14.5; delta~ = (N - 1)/(A - 1) makes the stride 1.
    size, gamma = 4, 2.0
    raw = jnp.array([[0.0, 0.0, SHARP, math.log(3 / 27), math.log(gamma)]])
    read = attention.read_attention(image, error, raw, size).reshape(1, 2, size, size)
    np.testing.assert_allclose(read[0, 0], gamma * image[0, 12:16, 12:16], rtol=1e-5)
    np.testing.assert_allclose(read[0, 1], -gamma * image[0, 12:16, 12:16], rtol=1e-5)
    # N = A and delta~ = 1 (raw zeros) tile the whole image: the read is the image itself.
    whole = attention.read_attention(image, error, jnp.array([[0.0, 0.0, SHARP, 0.0, 0.0]]), 28)
    np.testing.assert_allclose(whole[0, :784].reshape(28, 28), image[0], rtol=1e-5, atol=1e-3)
    assert whole.shape == (1, 2 * 784)
    np.testing.assert_array_equal(attention.read_no_attention(image, error)[0, 784:],
                                  -image.reshape(-1))


def test_write_pastes_the_patch_where_read_reads_it():
    patch = jnp.arange(1.0, 10.0).reshape(1, 3, 3)
    # Centre at pixel (x, y) = (6, 9), 1-based: g~ = 2 g / (A + 1) - 1; stride 1.
    raw = jnp.array([[2 * 6 / 29 - 1, 2 * 9 / 29 - 1, SHARP, math.log(2 / 27), math.log(4.0)]])
    canvas = attention.write_attention(patch, raw, 28, 28)
    expected = jnp.zeros((28, 28)).at[7:10, 4:7].set(patch[0] / 4.0)  # rows 8-10, cols 5-7
    np.testing.assert_allclose(canvas[0], expected, atol=1e-6)


@pytest.mark.parametrize("use_attention", [True, False])
def test_scan_equals_the_unrolled_loop(use_attention):
    model = DRAW(num_steps=3, lstm_size=16, latent_dim=3, attention=use_attention)
    images = (jax.random.uniform(jax.random.PRNGKey(0), (3, 28, 28, 1)) > 0.6).astype(jnp.float32)
    noise = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3))
    variables = model.init(jax.random.PRNGKey(2), images, noise)
    scanned = model.apply(variables, images, noise)
    unrolled = model.apply(variables, images, noise, unroll=True)
    for key in ("canvases", "mu", "log_sigma", "logits"):
        np.testing.assert_allclose(scanned[key], unrolled[key], rtol=1e-5, atol=1e-5)
    assert scanned["canvases"].shape == (3, 3, 28, 28) and scanned["logits"].shape == (3, 28, 28, 1)
    # The canvas is a running sum: each step adds a different write.
    assert float(jnp.min(jnp.abs(jnp.diff(scanned["canvases"], axis=0)).max((1, 2, 3)))) > 0
    samples = model.apply(variables, noise, method=model.generate)
    assert samples.shape == (3, 3, 28, 28) and bool(jnp.all(jnp.isfinite(samples)))


def test_train_step_compiles_once_and_loss_falls_on_real_data(trained):
    _, state, losses = trained
    assert int(state.step) == 40
    assert np.mean(losses[:3]) > 500.0  # 784 ln 2 = 543 nats with a blank canvas
    # 40 steps of a cosine schedule down to 0: the blank canvas loses about 100 nats.
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:3])


def test_iwae_with_one_sample_is_the_loss_estimate_of_the_same_noise(trained):
    task, state, _ = trained
    model, batch = task.model, _test_batch(256)

    @jax.jit
    def by_hand(params, batch):
        noise = eval_noise(0, batch["index"], jnp.zeros((1,), jnp.int32), model=model)
        outputs = model.apply({"params": params}, batch["image"], noise)
        sums = draw_eval_sums({"params": params}, batch, model=model, seed=0)
        return draw_terms(params, batch["image"], noise, model=model), outputs, sums

    terms, outputs, sums = by_hand(state.params, batch)
    iwae = jax.jit(functools.partial(draw_iwae_terms, model=model, chunk_size=4, seed=0),
                   static_argnames="num_samples")
    bound, first = iwae(state.params, batch["image"], batch["index"], num_samples=1)
    np.testing.assert_allclose(bound, terms["log_weight"], rtol=1e-5)
    np.testing.assert_allclose(first, terms["log_weight"], rtol=1e-5)
    # The analytic-KL ELBO (eq. 11) of the same noise, as eval reports it: equal in expectation.
    sigma2 = jnp.exp(2 * outputs["log_sigma"])
    eq11 = 0.5 * jnp.sum(outputs["mu"] ** 2 + sigma2 - jnp.log(sigma2), (0, 2)) - 0.5 * 4 * 8
    np.testing.assert_allclose(terms["kl"], eq11, rtol=1e-4)
    assert float(sums["elbo"]) / 256 == pytest.approx(float(terms["elbo"].mean()), rel=1e-5)
    difference = bound - terms["elbo"]
    assert abs(float(difference.mean())) < 4 * float(difference.std()) / math.sqrt(256)
    bound8, _ = iwae(state.params, batch["image"], batch["index"], num_samples=8)
    assert float(bound8.mean()) > float(bound.mean())  # chunks 4 and 4: L_8 > L_1


def test_bad_config_is_a_user_error():
    with pytest.raises(UserError, match="data.image_range='binary'"):
        DRAWTask(tiny_draw_config(**{"data.image_range": "[0,1]"}))
    with pytest.raises(UserError, match="must be >= 2 with attention"):
        DRAWTask(tiny_draw_config(**{"model.read_size": 1}))


def test_fit_writes_metrics_figures_and_animations(tmp_path):
    from genjax.io.writers import read_jsonl
    from genjax.train.loop import fit

    state = fit(tiny_draw_config(), tmp_path)
    assert int(state.step) == 10
    last = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if "eval/elbo" in r][-1]
    assert last["eval/count"] == 10000 and last["eval/iwae_count"] == 200
    assert 100 < last["eval/iwae2_nll_nats"] < 600
    assert 100 < last["eval/iwae1_nll_nats"] < 600
    assert last["eval/elbo"] == pytest.approx(-last["eval/recon"] - last["eval/kl"], rel=1e-5)
    for prefix in ("000010_", "final_"):
        for name in ("samples", "reconstructions"):
            assert (tmp_path / "samples" / f"{prefix}{name}.png").stat().st_size > 200
    for name in ("samples", "reconstructions"):
        with Image.open(tmp_path / "animations" / f"{name}.gif") as gif:
            assert gif.n_frames == 4  # one frame per canvas c_1..c_T
        strip = Image.open(tmp_path / "animations" / f"{name}_strip.png")
        columns = 4 + (name == "reconstructions")  # the test image first
        assert strip.size == (columns * 30 + 2, 8 * 30 + 2)  # 28-pixel tiles, 2-pixel pads
    assert (tmp_path / "final_metrics.json").exists()

    # the split-wide command scores DRAW with the same code as the VAE
    from genjax.studies.likelihood import likelihood_bound

    same = likelihood_bound(tmp_path, k=2, batch_size=100, chunk_size=2, examples=200)
    assert same["task"] == "draw" and same["count"] == 200 and same["step"] == 10
    assert same["nll_nats"] == pytest.approx(last["eval/iwae2_nll_nats"], rel=1e-5)
    assert -same["elbo_nats"] == pytest.approx(last["eval/iwae1_nll_nats"], rel=1e-5)
    one = likelihood_bound(tmp_path, k=1, batch_size=100, chunk_size=4, examples=100,
                           output=tmp_path / "bounds" / "k1.json")
    assert json.loads((tmp_path / "bounds" / "k1.json").read_text()) == one
    assert one["nll_nats"] == pytest.approx(-one["elbo_nats"], rel=1e-6)

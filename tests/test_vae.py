"""The VAE: likelihoods, closed-form KL, ELBO options, IWAE bound, task and fit(), with values."""

import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import UserError
from genjax.eval import likelihood as likelihood_eval
from genjax.losses import likelihoods
from genjax.losses.vae import (
    diagonal_gaussian_log_density,
    elbo_eval_sums,
    elbo_loss,
    example_noise,
    gaussian_kl,
    kl_weight,
)
from genjax.train.tasks.vae import VAETask
from tests.conftest import tiny_likelihood_config, train_traced


def tiny_vae_config(**overrides):
    """The real VAE config, shrunk so that a run takes seconds."""
    from experiments.configs import vae

    config = vae.get_config()
    config.model.latent_dim = 8
    config.model.widths = (8, 16)
    config.model.hidden = 64
    config.eval_batch_size = 1000
    return tiny_likelihood_config(config, iwae_samples=4,
                                  iwae_chunk_size=3,
                                  **{"num_train_steps": 20, **overrides})


@pytest.fixture(scope="module")
def trained():
    """A tiny VAE after 50 Adam steps on real binarised Fashion-MNIST, and its losses."""
    return train_traced(VAETask(tiny_vae_config(num_train_steps=50)), 50)


_iwae_bound = jax.jit(likelihood_eval.iwae_bound, static_argnames=(
    "model", "likelihood", "num_samples", "chunk_size", "seed"))


def _test_batch(task, n=64):
    return next(likelihood_eval.indexed_eval_batches(
        "fashion_mnist", split="test", batch_size=n, image_range=task.likelihood.image_range))


def test_gaussian_kl_closed_form_matches_monte_carlo():
    mean = jnp.array([0.0, 1.0, -0.5, 2.0])
    log_var = jnp.array([0.0, 0.0, -1.0, 0.7])
    np.testing.assert_allclose(gaussian_kl(mean, log_var)[:2], [0.0, 0.5], atol=1e-7)
    eps = jax.random.normal(jax.random.PRNGKey(0), (400_000, 4))
    z = mean + jnp.exp(0.5 * log_var) * eps
    log_q = -0.5 * (math.log(2 * math.pi) + log_var + eps**2)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2)
    samples = log_q - log_p
    stderr = samples.std(0) / math.sqrt(len(samples))
    diff = np.abs(samples.mean(0) - gaussian_kl(mean, log_var))
    assert np.all(diff < 4 * stderr + 1e-6), (diff, stderr)


def test_discretized_logistic_sums_to_one_over_256_levels():
    x = jnp.arange(256.0)[:, None, None, None]  # 256 "images" of one pixel
    for mean, log_scale in [(0.0, -3.0), (0.9, -5.0), (-1.3, -1.0), (1.5, 2.0), (0.2, -7.0)]:
        log_p = likelihoods.discretized_logistic_log_prob(
            x, jnp.full_like(x, mean), jnp.full_like(x, log_scale))
        assert float(jax.nn.logsumexp(log_p)) == pytest.approx(0.0, abs=2e-5)
    # Interior and edge bins against sigmoid differences in float64.
    sigmoid = lambda t: 1.0 / (1.0 + np.exp(-t))
    mean, scale = 0.1, 0.05
    centre = np.array([0.0, 140.0, 255.0]) / 127.5 - 1.0
    upper, lower = sigmoid((centre + 1 / 255 - mean) / scale), sigmoid((centre - 1 / 255 - mean)
                                                                       / scale)
    expected = np.log([upper[0], upper[1] - lower[1], 1.0 - lower[2]])
    got = likelihoods.discretized_logistic_log_prob(
        jnp.array([0.0, 140.0, 255.0])[:, None, None, None], mean, jnp.log(scale))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    # A far tail stays finite and accurate (a naive difference of sigmoids gives log 0).
    far = likelihoods.discretized_logistic_log_prob(jnp.full((1, 1, 1, 1), 100.0), 0.9,
                                                    jnp.log(0.01))
    # a << 0, so sigmoid(a) = e^a to 1e-48 and sigmoid(a) - sigmoid(b) = e^a (1 - e^(b - a)).
    upper = (100 / 127.5 - 1 + 1 / 255 - 0.9) / 0.01
    expected_far = upper + math.log(1 - math.exp(-(2 / 255) / 0.01))
    assert float(far[0]) == pytest.approx(expected_far, rel=1e-5)


def test_bernoulli_and_gaussian_log_probs_by_hand():
    x = jnp.array([[1.0, 0.0, 1.0]])
    logits = jnp.array([[0.0, 2.0, -3.0]])
    sigmoid = lambda t: 1 / (1 + math.exp(-t))
    expected = math.log(0.5) + math.log(1 - sigmoid(2)) + math.log(sigmoid(-3))
    assert float(likelihoods.bernoulli_log_prob(x, logits)[0]) == pytest.approx(expected, rel=1e-6)
    got = likelihoods.gaussian_log_prob(jnp.array([[0.5, 1.0]]), jnp.array([[0.5, 0.0]]), 0.0)
    assert float(got[0]) == pytest.approx(-math.log(2 * math.pi) - 0.5, rel=1e-6)


def test_kl_warmup_weights():
    assert kl_weight(2.0, 10, 5) == pytest.approx(1.0)
    assert float(kl_weight(2.0, 10, 0)) == 0.0 and float(kl_weight(2.0, 10, 30)) == 2.0
    assert kl_weight(2.0, 0, 5) == 2.0 and kl_weight(2.0, 10, None) == 2.0


def test_free_bits_and_warmup_in_the_loss(trained):
    task, state, _ = trained
    batch = _test_batch(task)
    loss_fn = jax.jit(functools.partial(elbo_loss, model=task.model, likelihood=task.likelihood),
                      static_argnames=("beta", "free_bits", "kl_warmup_steps"))
    rng = jax.random.PRNGKey(3)
    # Every KL_j is far below 50 nats: free bits make the KL term exactly 50 * 8 nats.
    loss, (metrics, _) = loss_fn(state.params, {}, batch, rng, free_bits=50.0)
    assert float(metrics["kl"]) < 100.0
    assert float(loss) == pytest.approx(float(metrics["recon"]) + 400.0, rel=1e-6)
    _, (plain, _) = loss_fn(state.params, {}, batch, rng, beta=3.0, kl_warmup_steps=4, step=1)
    assert float(plain["beta"]) == 0.75
    assert float(plain["loss"]) == pytest.approx(
        float(plain["recon"] + 0.75 * plain["kl"]), rel=1e-6)
    assert float(plain["elbo"]) == pytest.approx(float(-plain["recon"] - plain["kl"]), rel=1e-6)


def test_train_step_compiles_once_and_loss_falls_on_real_data(trained):
    _, state, losses = trained
    assert int(state.step) == 50
    assert np.mean(losses[:3]) > 500.0  # 784 ln 2 = 543 nats at init
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:3])


def test_iwae_with_one_sample_is_the_elbo_estimate_of_the_same_samples(trained):
    task, state, _ = trained
    batch = _test_batch(task, 256)
    params, images = state.params, batch["image"]
    bound = _iwae_bound(params, images, batch["index"], model=task.model,
                        likelihood=task.likelihood, num_samples=1, chunk_size=1, seed=0)

    @jax.jit
    def by_hand(params, batch):
        noise = example_noise(0, batch["index"], jnp.zeros((1,), jnp.int32), 8)[:, 0]
        mean, log_var, z, raw = task.model.apply(
            {"params": params}, task.likelihood.to_unit(batch["image"]), noise)
        log_px = task.likelihood.log_prob(batch["image"], raw)
        log_w = (log_px + diagonal_gaussian_log_density(z)
                 - diagonal_gaussian_log_density(z, mean, log_var))
        analytic = log_px - jnp.sum(gaussian_kl(mean, log_var), -1)
        sums = elbo_eval_sums({"params": params}, batch, model=task.model,
                              likelihood=task.likelihood, seed=0)
        return log_w, analytic, sums

    log_w, analytic, sums = by_hand(params, batch)
    np.testing.assert_allclose(bound, log_w, rtol=1e-5)
    # The analytic-KL ELBO of the same samples: equal in expectation, and what eval reports.
    difference = bound - analytic
    assert abs(float(difference.mean())) < 4 * float(difference.std()) / math.sqrt(256)
    assert float(sums["count"]) == 256
    assert float(sums["elbo"]) / 256 == pytest.approx(float(analytic.mean()), rel=1e-5)


def test_iwae_bound_does_not_decrease_with_k(trained):
    task, state, _ = trained
    batch = _test_batch(task, 256)
    means = [float(jnp.mean(_iwae_bound(
        state.params, batch["image"], batch["index"], model=task.model,
        likelihood=task.likelihood, num_samples=k, chunk_size=k, seed=0))) for k in (1, 10, 100)]
    print("IWAE means", means)
    assert means[0] < means[1] < means[2], means
    assert means[2] - means[0] > 0.5  # a trained posterior leaves a visible gap


def test_chunked_iwae_equals_unchunked(trained):
    task, state, _ = trained
    batch = _test_batch(task, 256)
    unchunked = _iwae_bound(state.params, batch["image"], batch["index"], model=task.model,
                            likelihood=task.likelihood, num_samples=10, chunk_size=10, seed=0)
    chunked = _iwae_bound(state.params, batch["image"], batch["index"], model=task.model,
                          likelihood=task.likelihood, num_samples=10, chunk_size=4, seed=0)
    np.testing.assert_allclose(chunked, unchunked, rtol=1e-5)  # chunks 4, 4 and 2 (padded)


def test_iwae_over_the_test_split_counts_every_example_once(trained):
    task, state, _ = trained
    results = [likelihood_eval.iwae_over_split(
        {"params": state.params}, model=task.model, likelihood=task.likelihood,
        dataset="fashion_mnist", num_samples=2, batch_size=size, chunk_size=2)
        for size in (768, 1000)]  # 768: 13 full batches and one of 16 examples (padded)
    assert [r["count"] for r in results] == [10000, 10000]
    # Noise and binarisation are keyed by example, so the batch size changes nothing.
    assert results[0]["nll_nats"] == pytest.approx(results[1]["nll_nats"], rel=1e-6)
    assert 100 < results[0]["nll_nats"] < -results[0]["elbo_nats"] < 543  # L_2 > L_1 on average
    assert "bits_per_dim" not in results[0]  # binarised data: nats only


def test_eval_binarisation_is_fixed_per_example():
    first = [next(likelihood_eval.indexed_eval_batches(
        "fashion_mnist", split="test", batch_size=size, image_range="binary"))
        for size in (10, 4)]
    np.testing.assert_array_equal(first[0]["image"][:4], first[1]["image"])
    assert set(np.unique(first[0]["image"])) == {0.0, 1.0}
    np.testing.assert_array_equal(first[0]["index"], np.arange(10))


def test_mismatched_likelihood_and_data_is_a_user_error():
    with pytest.raises(UserError, match="likelihood 'logistic' models 'uint8' data"):
        VAETask(tiny_vae_config(**{"likelihood.name": "logistic"}))
    with pytest.raises(UserError, match="cannot be halved 3 times"):
        VAETask(tiny_vae_config(**{"model.widths": (4, 8, 16)}))


def test_fit_writes_figures_metrics_compression_and_likelihood(tmp_path):
    from genjax.studies.likelihood import likelihood_bound
    from genjax.train.loop import fit

    config = tiny_vae_config(**{"data.image_range": "uint8", "likelihood.name": "logistic",
                                "eval_every": 20})
    state = fit(config, tmp_path)
    assert int(state.step) == 20
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/elbo" in r]
    assert [r["step"] for r in evals] == [20]
    assert all(r["eval/count"] == 10000 and r["eval/iwae_count"] == 200 for r in evals)
    last = evals[-1]
    dims_ln2 = 784 * math.log(2)
    assert last["eval/bits_per_dim"] == pytest.approx(-last["eval/elbo"] / dims_ln2, rel=1e-5)
    assert last["eval/iwae4_bits_per_dim"] < 8.0
    for prefix in ("000020_", "final_"):
        for name in ("samples", "reconstructions", "interpolation", "traversal"):
            assert (tmp_path / "samples" / f"{prefix}{name}.png").stat().st_size > 200
    compression = json.loads((tmp_path / "compression.json").read_text())
    assert compression["examples"] == 10000 and compression["image_bits"] == 784 * 8
    bits_back = compression["bits_back"]
    assert 0 < bits_back["latent_bits"] < compression["image_bits"]
    assert bits_back["image_code_bits"] == pytest.approx(-last["eval/elbo"] / math.log(2))
    assert 0 < compression["posterior_mean"]["mse"] < 0.25
    assert json.loads((tmp_path / "final_metrics.json").read_text())["step"] == 20
    result = likelihood_bound(tmp_path, k=2, batch_size=500, chunk_size=2)
    assert result["count"] == 10000 and result["step"] == 20
    assert result["bits_per_dim"] == pytest.approx(result["nll_nats"] / dims_ln2)
    assert json.loads((tmp_path / "likelihood.json").read_text()) == result
    first = likelihood_bound(tmp_path, k=4, batch_size=100, chunk_size=3, examples=200)
    assert first["count"] == 200  # the same examples and samples as the fit's eval/iwae4
    assert first["bits_per_dim"] == pytest.approx(last["eval/iwae4_bits_per_dim"], rel=1e-5)
    assert -first["elbo_nats"] == pytest.approx(last["eval/iwae1_nll_nats"], rel=1e-5)
    assert last["eval/iwae1_nll_nats"] > last["eval/iwae4_nll_nats"] > 0
    with pytest.raises(UserError, match="must be positive"):
        likelihood_bound(tmp_path, k=4, batch_size=100, chunk_size=3, examples=0)


def test_vae_train_step_passes_the_state_step_to_the_loss():
    import optax

    from genjax.train.state import TrainState
    from genjax.train.tasks.vae import vae_train_step

    def loss_fn(params, batch_stats, batch, rng, *, step):
        return params["w"] * 2.0, ({"step": step}, batch_stats)

    state = TrainState.create(apply_fn=None, params={"w": jnp.ones(())}, tx=optax.sgd(0.5),
                              batch_stats={}, rng=jax.random.PRNGKey(0)).replace(step=7)
    state, metrics = vae_train_step(state, {}, loss_fn=loss_fn)
    assert int(metrics["step"]) == 7 and int(state.step) == 8
    assert float(state.params["w"]) == 0.0  # 1 - 0.5 * 2


def test_sampler_decodes_prior_noise_to_the_likelihood_mean(trained):
    task, state, _ = trained
    sample = task.sampler(state, 16)
    images = np.asarray(sample(jax.random.PRNGKey(3)))
    assert images.shape == (16, 28, 28, 1)
    assert -1.0 <= images.min() and images.max() <= 1.0 and images.std() > 0.01
    z = jax.random.normal(jax.random.PRNGKey(3), (16, task.config.model.latent_dim))
    raw = task.model.apply({"params": state.params}, z, method=task.model.decode)
    np.testing.assert_allclose(images, np.tanh(raw / 2.0), atol=1e-5)  # Bernoulli mean, in [-1, 1]
    np.testing.assert_array_equal(images, np.asarray(sample(jax.random.PRNGKey(3))))
    assert not np.array_equal(images, np.asarray(sample(jax.random.PRNGKey(4))))

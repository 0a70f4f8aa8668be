"""Class-conditional GANs, with values: projection logits and conditional BatchNorm by hand,
AC-GAN losses from the documented keys, labels through R1, a step that compiles once and is
deterministic, AC-GAN's D learning the classes, a fit with one grid row per class, the class
sampler and one-line config errors."""

import functools
import json
import math

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from genjax import data
from genjax.errors import UserError
from genjax.losses.gan import class_accuracy, class_cross_entropy, r1_penalty
from genjax.models.conditional import (
    ConditionalBatchNorm,
    DCGANFeatures,
    ProjectionDiscriminator,
)
from genjax.models.dcgan import Discriminator
from genjax.studies.evaluation import evaluate_run
from genjax.train.gan_step import gan_train_step, init_gan_state
from genjax.train.loop import fit
from genjax.train.tasks.gan import GANTask
from tests.test_gan_train import tiny_gan_config

LATENT = 8
NUM_CLASSES = 10  # fashion_mnist


def tiny_cgan_config(**overrides):
    """experiments/configs/cdcgan.py's conditioning on the shrunk DCGAN config."""
    from experiments.configs import cdcgan

    conditional = cdcgan.get_config().model
    return tiny_gan_config(**{"model.num_classes": conditional.num_classes,
                              "model.conditioning": conditional.conditioning, **overrides})


class ConditionalMLPGenerator(nn.Module):
    """A user's conditional G: the label's embedding concatenated to z, no BatchNorm."""

    @nn.compact
    def __call__(self, z, labels, *, train):
        h = jnp.concatenate([z, nn.Embed(NUM_CLASSES, 4)(labels)], axis=-1)
        h = nn.relu(nn.Dense(32)(h))
        return jnp.tanh(nn.Dense(28 * 28)(h)).reshape(z.shape[0], 28, 28, 1)


class MLPACDiscriminator(nn.Module):
    @nn.compact
    def __call__(self, images, labels, *, train):
        h = nn.leaky_relu(nn.Dense(32)(images.reshape(images.shape[0], -1)), 0.2)
        return nn.Dense(1)(h)[:, 0], nn.Dense(NUM_CLASSES)(h)


class MLPProjectionDiscriminator(nn.Module):
    @nn.compact
    def __call__(self, images, labels, *, train):
        h = nn.leaky_relu(nn.Dense(32)(images.reshape(images.shape[0], -1)), 0.2)
        return nn.Dense(1)(h)[:, 0] + jnp.sum(nn.Embed(NUM_CLASSES, 32)(labels) * h, axis=-1)


def labelled_batch(batch_size=32, step=0):
    batches = data.train_iterator("fashion_mnist", batch_size=batch_size, seed=0,
                                  with_labels=True, start_step=step)
    return next(batches)


def test_projection_logit_is_psi_plus_the_class_embedding_inner_product_phi():
    key = jax.random.PRNGKey(0)
    images = jax.random.uniform(key, (5, 28, 28, 1), minval=-1.0, maxval=1.0)
    labels = jnp.array([0, 1, 2, 1, 0])
    discriminator = ProjectionDiscriminator(num_classes=3, width=4, batch_norm=False)
    params = discriminator.init(jax.random.PRNGKey(1), images, labels, train=False)["params"]
    logits = np.asarray(discriminator.apply({"params": params}, images, labels, train=False))
    phi = np.asarray(DCGANFeatures(width=4, batch_norm=False).apply(
        {"params": params["features"]}, images, train=False), np.float64)
    psi = phi @ np.asarray(params["psi"]["kernel"][:, 0]) + float(params["psi"]["bias"][0])
    embedding = np.asarray(params["embed"]["embedding"], np.float64)[np.asarray(labels)]
    expected = psi + np.sum(embedding * phi, axis=1)  # Miyato & Koyama 2018, eq. 3
    assert logits.shape == (5,)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected - psi).max() > 1e-3  # the class term is not negligible here
    # phi is exactly DCGAN D's trunk: with its params, the unconditional D gives psi(phi(x)).
    unconditional = Discriminator(width=4, batch_norm=False).apply(
        {"params": {**params["features"], "Dense_0": params["psi"]}}, images, train=False)
    np.testing.assert_allclose(unconditional, psi, rtol=1e-5, atol=1e-6)


def test_conditional_batch_norm_applies_each_class_its_own_gamma_and_beta():
    x = 3.0 * np.asarray(jax.random.normal(jax.random.PRNGKey(0), (6, 2, 2, 3))) + 1.0
    labels = jnp.array([0, 1, 0, 1, 1, 0])
    norm = ConditionalBatchNorm(num_classes=2)
    variables = norm.init(jax.random.PRNGKey(1), x, labels, train=False)
    gamma = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]], np.float32)
    beta = np.array([[0.0, 1.0, 2.0], [5.0, -5.0, 0.5]], np.float32)
    params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
    out, updates = norm.apply({"params": params, "batch_stats": variables["batch_stats"]},
                              x, labels, train=True, mutable=["batch_stats"])
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # shared by both classes
    normalised = (x - mean) / np.sqrt(var + 1e-5)
    rows = np.asarray(labels)
    expected = normalised * gamma[rows][:, None, None] + beta[rows][:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(updates["batch_stats"]["BatchNorm_0"]["mean"], 0.1 * mean,
                               rtol=1e-5, atol=1e-6)
    # At init (gamma 1, beta 0) it is plain BatchNorm, whatever the class.
    plain, _ = norm.apply(variables, x, labels, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(plain, normalised, rtol=1e-4, atol=1e-4)


def test_class_cross_entropy_and_accuracy_on_hand_made_logits():
    logits = jnp.log(jnp.array([[1.0, 3.0], [3.0, 2.0], [4.0, 1.0]]))  # softmax: p / sum p
    labels = jnp.array([1, 0, 1])
    expected = -(math.log(0.75) + math.log(0.6) + math.log(0.2)) / 3
    assert float(class_cross_entropy(logits, labels)) == pytest.approx(expected, rel=1e-6)
    assert float(class_accuracy(logits, labels)) == pytest.approx(2 / 3)  # the last is wrong


def test_acgan_step_losses_match_a_hand_computation_from_the_documented_keys():
    generator, discriminator = ConditionalMLPGenerator(), MLPACDiscriminator()
    state = init_gan_state(jax.random.PRNGKey(0), generator=generator,
                           discriminator=discriminator, g_tx=optax.sgd(0.1),
                           d_tx=optax.sgd(0.1), image_shape=(28, 28, 1), latent_dim=LATENT,
                           num_classes=NUM_CLASSES)
    step = jax.jit(functools.partial(
        gan_train_step, generator=generator, discriminator=discriminator,
        loss="nonsaturating", latent_dim=LATENT, num_classes=NUM_CLASSES, ac_weight=2.0))
    batch = labelled_batch()
    new, metrics = step(state, batch)

    def fakes(key, g_params):  # each noise key splits into (latent key, label key)
        z_key, label_key = jax.random.split(key)
        labels = jax.random.randint(label_key, (32,), 0, NUM_CLASSES, jnp.int32)
        z = jax.random.normal(z_key, (32, LATENT))
        return generator.apply({"params": g_params}, z, labels, train=True), labels

    d_key, g_key = jax.random.split(jax.random.fold_in(state.rng, 0))
    fake_images, fake_labels = fakes(jax.random.split(jax.random.fold_in(d_key, 0), 4)[0],
                                     state.g.params)
    _, real_class = discriminator.apply({"params": state.d.params}, batch["image"],
                                        batch["label"], train=True)
    _, fake_class = discriminator.apply({"params": state.d.params}, fake_images, fake_labels,
                                        train=True)
    # Odena et al. 2017, eq. 2: D's class loss has a term for the reals and one for the fakes.
    d_class_loss = 2.0 * (class_cross_entropy(real_class, batch["label"])
                          + class_cross_entropy(fake_class, fake_labels))
    assert float(metrics["d_class_loss"]) == pytest.approx(float(d_class_loss), rel=1e-5)
    assert float(metrics["d_class_acc"]) == pytest.approx(
        float(class_accuracy(real_class, batch["label"])))
    # G's class loss: fresh fakes from G's key, scored by D after its update.
    fake_images, fake_labels = fakes(jax.random.split(g_key)[0], state.g.params)
    _, fake_class = discriminator.apply({"params": new.d.params}, fake_images, fake_labels,
                                        train=True)
    assert float(metrics["g_class_loss"]) == pytest.approx(
        2.0 * float(class_cross_entropy(fake_class, fake_labels)), rel=1e-5)
    assert all(np.ndim(v) == 0 for v in metrics.values())  # flat scalars


def test_r1_and_gradient_penalty_differentiate_d_at_the_real_labels():
    generator, discriminator = ConditionalMLPGenerator(), MLPProjectionDiscriminator()
    state = init_gan_state(jax.random.PRNGKey(0), generator=generator,
                           discriminator=discriminator, g_tx=optax.adam(1e-3),
                           d_tx=optax.adam(1e-3), image_shape=(28, 28, 1), latent_dim=LATENT,
                           num_classes=NUM_CLASSES)
    step = jax.jit(functools.partial(
        gan_train_step, generator=generator, discriminator=discriminator, loss="wgan",
        latent_dim=LATENT, num_classes=NUM_CLASSES, gp_weight=10.0, r1_gamma=10.0,
        diffaug_policy="translation"))
    batch = labelled_batch()
    batch["image"] = np.zeros_like(batch["image"])  # translation of a blank image is blank
    _, metrics = step(state, batch)

    def r1(labels):
        d_fn = functools.partial(discriminator.apply, {"params": state.d.params},
                                 labels=labels, train=True)
        return float(r1_penalty(d_fn, batch["image"], gamma=10.0))

    assert float(metrics["r1"]) == pytest.approx(r1(batch["label"]), rel=1e-4)
    assert abs(r1((batch["label"] + 1) % NUM_CLASSES) - r1(batch["label"])) > 1e-3
    assert float(metrics["gp"]) > 0 and all(np.isfinite(float(v)) for v in metrics.values())


@functools.lru_cache(maxsize=1)
def _tiny_task_and_state():
    task = GANTask(tiny_cgan_config())
    return task, task.init_state(jax.random.PRNGKey(0))


def test_conditional_dcgan_step_compiles_once_and_is_deterministic():
    task, initial = _tiny_task_and_state()

    @chex.assert_max_traces(n=1)
    def traced_step(state, batch):
        return task.train_step(state, batch)

    step = jax.jit(traced_step)

    def run():
        state, history = initial, []
        for batch, _ in zip(task.train_batches(0), range(3), strict=False):
            assert batch["label"].dtype == np.int32 and batch["label"].shape == (32,)
            state, metrics = step(state, batch)
            history.append(jax.device_get(metrics))
        return jax.device_get(state), history

    (first, first_metrics), (second, second_metrics) = run(), run()
    chex.assert_trees_all_equal(first, second)
    assert first_metrics == second_metrics
    assert int(first.step) == 3 and "d_class_acc" not in first_metrics[0]
    assert all(np.isfinite(v) for m in first_metrics for v in m.values())


def test_acgan_discriminator_learns_the_classes_of_real_images():
    task = GANTask(tiny_cgan_config(**{"model.conditioning": "acgan", "loss.ac_weight": 1.0}))
    state, step = task.init_state(jax.random.PRNGKey(0)), jax.jit(task.train_step)
    accuracy = []
    for batch, _ in zip(task.train_batches(0), range(30), strict=False):
        state, metrics = step(state, batch)
        accuracy.append(float(metrics["d_class_acc"]))
    assert np.mean(accuracy[:3]) < 0.25  # chance is 0.1
    assert np.mean(accuracy[-10:]) > 0.3


def test_class_sampler_makes_the_asked_classes_from_the_ema_generator():
    task, state = _tiny_task_and_state()
    # At init every class has gamma 1, beta 0; give each class its own shift first.
    shifted = jax.tree_util.tree_map_with_path(
        lambda path, x: (jax.random.normal(jax.random.PRNGKey(len(path)), x.shape)
                         if "beta" in jax.tree_util.keystr(path) else x), state.g_ema_params)
    state = state.replace(g_ema_params=shifted)
    sample = task.class_sampler(state, 4)
    rng, labels = jax.random.PRNGKey(3), np.array([0, 1, 2, 9], np.int32)
    images = np.asarray(sample(rng, labels))
    expected = task.generator.apply(
        {"params": state.g_ema_params, "batch_stats": state.g_ema_batch_stats},
        jax.random.normal(rng, (4, task.config.model.latent_dim)), labels, train=False)
    np.testing.assert_allclose(images, expected, rtol=1e-5, atol=1e-6)
    assert images.shape == (4, 28, 28, 1) and np.abs(images).max() <= 1.0
    np.testing.assert_array_equal(images, np.asarray(sample(rng, labels)))
    other = np.asarray(sample(rng, np.array([5, 5, 5, 5], np.int32)))
    assert np.abs(other - images).max() > 1e-4  # the same latents, other classes
    uniform = np.asarray(task.sampler(state, 4)(rng))  # rng -> images still works
    assert uniform.shape == (4, 28, 28, 1) and np.abs(uniform).max() <= 1.0
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        sample(rng, np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=r"in \[0, 10\)"):
        sample(rng, np.array([0, 1, 2, 10]))
    with pytest.raises(UserError, match="needs a class-conditional GAN"):
        GANTask(tiny_gan_config()).class_sampler(None, 4)


def test_conditional_fit_writes_a_grid_with_one_row_per_class(tmp_path, monkeypatch):
    config = tiny_cgan_config(**{"eval_every": 20, "checkpoint_every": 20})
    fit(config, tmp_path)
    rows, columns, pad = NUM_CLASSES, 8, 2
    with Image.open(tmp_path / "samples" / "step_000020.png") as grid:
        assert grid.size == (columns * (28 + pad) + pad, rows * (28 + pad) + pad)
    with Image.open(tmp_path / "samples" / "interp_000020.png") as strip:
        assert strip.size == (columns * (28 + pad) + pad, 8 * (28 + pad) + pad)
    assert ((tmp_path / "samples.png").read_bytes()
            == (tmp_path / "samples" / "step_000020.png").read_bytes())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().split("\n")
               if line]
    (final,) = [r for r in records if "eval/diversity_ratio" in r]
    assert 0 < final["eval/diversity_ratio"] < 2 and final["eval/classifier_fd"] > 10

    # The evaluate command adds the intra-class distances of a conditional checkpoint.
    results = evaluate_run(tmp_path, num_samples=200,
                           metrics=["classifier_fd", "intra_classifier_fd"], per_class=50,
                           output=tmp_path / "intra.json")
    per_class = {k.split("/", 1)[1]: v for k, v in results.items()
                 if k.startswith("intra_classifier_fd/")}
    assert len(per_class) == NUM_CLASSES + 1 and "mean" in per_class
    values = [v for k, v in per_class.items() if k != "mean"]
    assert min(values) > 10  # 20 steps of training: far from every class
    assert per_class["mean"] == pytest.approx(np.mean(values))
    assert results["classifier_fd"] > 10
    assert "pooled_class_balanced" not in results  # 200 != 10 x 50: pooled drawn on its own

    # 10 x 50 = 500 samples: the pooled distance reuses the class-balanced intra samples.
    from genjax.eval import metrics

    drawn = []
    original = metrics.features
    monkeypatch.setattr(metrics, "features", lambda samples, *a, **k: (
        drawn.append(callable(samples)), original(samples, *a, **k))[1])
    balanced = evaluate_run(tmp_path, num_samples=500,
                            metrics=["classifier_fd", "intra_classifier_fd"], per_class=50,
                            output=tmp_path / "balanced.json")
    assert drawn.count(True) == NUM_CLASSES  # one generated pass per class, none pooled
    assert balanced["pooled_class_balanced"] == 1.0
    for key in [k for k in results if k.startswith("intra_")]:  # the same class samples
        assert balanced[key] == pytest.approx(results[key], rel=1e-6)
    assert balanced["classifier_fd"] > 10


def test_cdcgan_config_builds_a_projection_model():
    from experiments.configs import cdcgan

    task = GANTask(cdcgan.get_config())  # validates and builds by tracing; loads no data
    assert type(task.discriminator).__name__ == "ProjectionDiscriminator"
    assert task.discriminator.num_classes == task.generator.num_classes == 10


@pytest.mark.parametrize("overrides,message", [
    ({"model.conditioning": "concat"}, "unknown model.conditioning 'concat'"),
    ({"model.num_classes": 5}, "model.num_classes=5 but fashion_mnist has 10 classes"),
    ({"model.num_classes": -1}, "model.num_classes must be an integer >= 0"),
    ({"data.name": "celeb_a", "eval_metrics": ()}, "dataset 'celeb_a' has no class labels"),
    ({"model.name": "resnet"}, "has no class-conditional version"),
    ({"model.conditioning": "acgan"}, "needs loss.ac_weight > 0"),
    ({"loss.ac_weight": 1.0}, "loss.ac_weight > 0 needs model.conditioning='acgan'"),
    ({"model.num_classes": 0, "model.conditioning": "acgan", "loss.ac_weight": 1.0},
     "model.num_classes > 0"),
])
def test_bad_conditional_config_is_one_line_user_error(overrides, message):
    with pytest.raises(UserError, match=message) as error:
        GANTask(tiny_cgan_config(**overrides))
    assert "\n" not in str(error.value)

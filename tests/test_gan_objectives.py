"""The players' objectives (genjax.losses.gan.discriminator_loss / generator_loss) by hand
on a linear critic D(x) = <w, x> and a scaling generator G(z) = s z: values at zero logits
(2 log 2 for D, log 2 for G), gradients, penalties, AC-GAN class terms, metric keys,
DiffAugment with the documented keys, and D's batch statistics after reals then fakes."""

import math

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import augment
from genjax.losses import gan

LOG2 = math.log(2.0)


class LinearCritic(nn.Module):
    """D(x) = <w, x> with w = weight everywhere; with classes also zero class logits."""

    weight: float = 0.0
    num_classes: int = 0
    batch_norm: bool = False

    @nn.compact
    def __call__(self, images, labels=None, *, train):
        if self.batch_norm:  # momentum 1/2: stats <- (stats + batch mean) / 2
            images = nn.BatchNorm(use_running_average=not train, momentum=0.5)(images)
        flat = images.reshape(images.shape[0], -1)
        logits = flat @ self.param("w", nn.initializers.constant(self.weight), flat.shape[1:])
        return (logits, jnp.zeros((len(flat), self.num_classes))) if self.num_classes else logits


class ScaleGenerator(nn.Module):
    """G(z) = s z as (N, 2, 2, 1) images, s = 1 at init."""

    @nn.compact
    def __call__(self, z, labels=None, *, train):
        return self.param("s", nn.initializers.ones, ()) * z.reshape(-1, 2, 2, 1)


_RNG = np.random.default_rng(0)
REALS, FAKES, Z = (jnp.asarray(_RNG.standard_normal((4, 2, 2, 1)), jnp.float32) for _ in "rfz")
KEYS = (jax.random.key(1), jax.random.key(2), jax.random.key(3))  # reals', fakes', GP's
D_METRICS = {"d_loss", "gp", "r1", "d_real", "d_fake", "d_real_prob", "d_fake_prob"}


def d_objective(critic, *, labels=None, **kwargs):  # value_and_grad of D's objective
    params = {"w": jnp.full(4, critic.weight)}
    batch = {"image": REALS, "fake_image": FAKES, **({} if labels is None else labels)}
    kwargs = {"discriminator": critic, "loss": "nonsaturating", **kwargs}
    return jax.value_and_grad(gan.discriminator_loss, has_aux=True)(params, {}, batch, KEYS,
                                                                   **kwargs)


def test_discriminator_objective_is_two_log_two_at_zero_logits():
    (loss, (metrics, stats)), _ = d_objective(LinearCritic(), r1_gamma=10.0)
    assert set(metrics) == D_METRICS and stats == {}
    np.testing.assert_allclose([loss, metrics["d_loss"], metrics["d_real_prob"]],
                               [2 * LOG2, 2 * LOG2, 0.5], rtol=1e-6)
    assert float(metrics["r1"]) == float(metrics["gp"]) == 0.0  # no gradient at w = 0


def test_discriminator_objective_and_its_gradient_by_hand_for_a_linear_critic():
    c, x, y = 0.1, np.asarray(REALS).reshape(4, -1), np.asarray(FAKES).reshape(4, -1)
    (loss, (metrics, _)), grads = d_objective(LinearCritic(c), gp_weight=10.0, r1_gamma=10.0)
    real, fake, w = c * x.sum(1), c * y.sum(1), np.full(4, c)
    sigmoid = 1 / (1 + np.exp(-np.concatenate([-real, fake])))
    d_loss = np.mean(np.log1p(np.exp(-real))) + np.mean(np.log1p(np.exp(fake)))
    norm = np.linalg.norm(w)  # ||grad_x D|| = ||w|| at every x: gp 10 (||w|| - 1)^2, r1 5 ||w||^2
    np.testing.assert_allclose([metrics["d_loss"], metrics["gp"], metrics["r1"], loss],
                               [d_loss, 10 * (norm - 1) ** 2, 5 * norm**2,
                                d_loss + 10 * (norm - 1) ** 2 + 5 * norm**2], rtol=1e-5)
    grad = (-(sigmoid[:4, None] * x).mean(0) + (sigmoid[4:, None] * y).mean(0)
            + 20 * (norm - 1) * w / norm + 10 * w)
    np.testing.assert_allclose(grads["w"], grad, rtol=1e-5)


def test_ac_class_terms_at_zero_class_logits_and_the_missing_class_logits_error():
    labels = {"label": jnp.array([0, 1, 2, 0]), "fake_label": jnp.array([1, 1, 2, 0])}
    (loss, (metrics, _)), _ = d_objective(LinearCritic(num_classes=3), labels=labels,
                                          ac_weight=0.5)
    assert set(metrics) == D_METRICS | {"d_class_loss", "d_class_acc"}
    np.testing.assert_allclose([metrics["d_class_loss"], metrics["d_class_acc"], loss],
                               [math.log(3), 0.5, 2 * LOG2 + math.log(3)], rtol=1e-6)
    (g_loss, (g_metrics, _)) = gan.generator_loss(
        {"s": jnp.ones(())}, {}, {"z": Z.reshape(4, 4), "label": labels["label"]},
        jax.random.key(0), generator=ScaleGenerator(), discriminator=LinearCritic(num_classes=3),
        d_params={"w": jnp.zeros(4)}, d_batch_stats={}, loss="nonsaturating", ac_weight=0.5)
    assert set(g_metrics) == {"g_loss", "g_class_loss"}
    np.testing.assert_allclose([g_metrics["g_class_loss"], g_loss],
                               [0.5 * math.log(3), LOG2 + 0.5 * math.log(3)], rtol=1e-6)
    with pytest.raises(ValueError, match="class logits"):
        d_objective(LinearCritic(), labels=labels, ac_weight=0.5)


def test_generator_objective_and_its_gradient_by_hand():
    c = 0.1

    def g_objective(s):
        return gan.generator_loss({"s": s}, {}, {"z": Z.reshape(4, 4)}, jax.random.key(0),
                                  generator=ScaleGenerator(), discriminator=LinearCritic(c),
                                  d_params={"w": jnp.full(4, c)}, d_batch_stats={},
                                  loss="nonsaturating")

    (loss, (metrics, stats)), grad = jax.value_and_grad(g_objective, has_aux=True)(1.0)
    assert set(metrics) == {"g_loss"} and stats == {}
    sums = np.asarray(Z).reshape(4, -1).sum(1)  # logits c s sum(z); loss mean softplus(-l)
    np.testing.assert_allclose(loss, np.mean(np.log1p(np.exp(-c * sums))), rtol=1e-6)
    np.testing.assert_allclose(grad, np.mean(-c * sums / (1 + np.exp(c * sums))), rtol=1e-5)


def test_objectives_augment_with_their_keys_and_d_keeps_stats_after_reals_then_fakes():
    policy, keys = "color,translation", KEYS
    augmented = gan.discriminator_loss(
        {"w": jnp.full(4, 0.1)}, {}, {"image": augment.diff_augment(REALS, keys[0], policy),
                                      "fake_image": augment.diff_augment(FAKES, keys[1], policy)},
        keys, discriminator=LinearCritic(0.1), loss="hinge", r1_gamma=1.0)
    (loss, aux), _ = d_objective(LinearCritic(0.1), loss="hinge", r1_gamma=1.0,
                                 diffaug_policy=policy)
    chex.assert_trees_all_close((loss, aux), augmented, rtol=1e-6)
    critic = LinearCritic(batch_norm=True)
    stats = critic.init(jax.random.key(0), REALS, train=False)["batch_stats"]
    _, (_, new_stats) = gan.discriminator_loss(
        {"w": jnp.zeros(4), "BatchNorm_0": {"scale": jnp.ones(1), "bias": jnp.zeros(1)}}, stats,
        {"image": REALS, "fake_image": FAKES}, keys, discriminator=critic, loss="minimax")
    expected = (np.mean(REALS) / 2 + np.mean(FAKES)) / 2  # 0 -> (0 + real) / 2 -> (. + fake) / 2
    np.testing.assert_allclose(new_stats["BatchNorm_0"]["mean"], [expected], rtol=1e-5)

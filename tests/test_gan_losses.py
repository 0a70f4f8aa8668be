"""GAN losses on hand-computed logits, gradient penalties, EMA and DiffAugment."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import augment
from genjax.losses import gan
from genjax.models import dcgan
from genjax.train.ema import ema_decay, ema_update

LOG2 = math.log(2.0)
REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def softplus(x):
    return math.log1p(math.exp(x))


# name -> (d_loss, g_loss) at real = fake = 0, and at REAL, FAKE, computed by hand.
EXPECTED = {
    "minimax": ((2 * LOG2, -LOG2),
                ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-3)) / 2,
                 -(softplus(0.5) + softplus(-3)) / 2)),
    "nonsaturating": ((2 * LOG2, LOG2),
                      ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-3)) / 2,
                       (softplus(-0.5) + softplus(3)) / 2)),
    # relu(1 - [2, -1]) = [0, 2]; relu(1 + [0.5, -3]) = [1.5, 0]
    "hinge": ((2.0, 0.0), (1.0 + 0.75, 1.25)),
    "wgan": ((0.0, 0.0), (-1.25 - 0.5, 1.25)),
    # 1/2 mean([1, 4]) + 1/2 mean([0.25, 9]); 1/2 mean([0.25, 16])
    "lsgan": ((0.5, 0.5), (1.25 + 2.3125, 4.0625)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_losses_on_hand_computed_logits(name):
    loss = gan.get_gan_loss(name)
    (d_zero, g_zero), (d_value, g_value) = EXPECTED[name]
    zeros = jnp.zeros(4)
    np.testing.assert_allclose(loss.d_loss(zeros, zeros), d_zero, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(loss.g_loss(zeros), g_zero, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(loss.d_loss(REAL, FAKE), d_value, rtol=1e-6)
    np.testing.assert_allclose(loss.g_loss(FAKE), g_value, rtol=1e-6)


def test_registry_names_and_error():
    assert set(gan.GAN_LOSSES) == {"minimax", "nonsaturating", "hinge", "wgan", "lsgan"}
    with pytest.raises(ValueError, match="hinge"):
        gan.get_gan_loss("hinj")


def test_minimax_generator_saturates_and_nonsaturating_does_not():
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l) ~ 0 when D confidently rejects (l = -10);
    # d/dl -log sigmoid(l) = sigmoid(l) - 1 ~ -1 there (Goodfellow et al. 2014, Section 3).
    fake = jnp.array([-10.0])
    minimax = jax.grad(gan.minimax_g_loss)(fake)[0]
    nonsaturating = jax.grad(gan.nonsaturating_g_loss)(fake)[0]
    np.testing.assert_allclose(minimax, -jax.nn.sigmoid(-10.0), rtol=1e-5)
    np.testing.assert_allclose(nonsaturating, jax.nn.sigmoid(-10.0) - 1.0, rtol=1e-5)


def test_least_squares_labels():
    # a = -1, b = 1, c = 0 (Mao et al. 2017's other coding) on logits at the labels.
    d = gan.least_squares_d_loss(jnp.ones(3), -jnp.ones(3), real_label=1.0, fake_label=-1.0)
    assert float(d) == 0.0
    assert float(gan.least_squares_g_loss(jnp.full(3, 2.0), target=0.0)) == 2.0


IMAGE_SHAPE = (4, 3, 3, 2)  # 18 values per image
DIM = 18


def _linear_critic(c):
    return lambda images: c * jnp.sum(images, axis=(1, 2, 3))


def test_gradient_penalty_of_linear_critic():
    real = jnp.ones(IMAGE_SHAPE)
    fake = -jnp.ones(IMAGE_SHAPE)
    c = 0.5  # gradient norm c sqrt(18) = 2.1213 wherever it is evaluated
    penalty = gan.gradient_penalty(_linear_critic(c), real, fake, jax.random.key(0))
    np.testing.assert_allclose(penalty, 10.0 * (c * math.sqrt(DIM) - 1.0) ** 2, rtol=1e-5)
    unit = gan.gradient_penalty(_linear_critic(1 / math.sqrt(DIM)), real, fake,
                                jax.random.key(0))
    assert float(unit) == pytest.approx(0.0, abs=1e-9)


def test_gradient_penalty_uses_per_image_interpolates():
    # D(x) = 1/2 ||x||^2 has gradient x, so the norm at x_hat = eps * real is eps * 3 sqrt(18).
    real = 3.0 * jnp.ones(IMAGE_SHAPE)
    fake = jnp.zeros(IMAGE_SHAPE)
    rng = jax.random.key(7)
    penalty = gan.gradient_penalty(lambda x: 0.5 * jnp.sum(x**2, axis=(1, 2, 3)), real, fake,
                                   rng, weight=1.0)
    eps = jax.random.uniform(rng, (4,))
    assert len(set(np.asarray(eps).tolist())) == 4
    expected = jnp.mean((eps * 3.0 * math.sqrt(DIM) - 1.0) ** 2)
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)


def test_gradient_penalty_gradient_reaches_critic_parameters():
    real, fake = jnp.ones(IMAGE_SHAPE), jnp.zeros(IMAGE_SHAPE)

    def penalty(c):
        return gan.gradient_penalty(_linear_critic(c), real, fake, jax.random.key(0))

    c = 0.5  # d/dc 10 (c sqrt(D) - 1)^2 = 20 (c sqrt(D) - 1) sqrt(D)
    expected = 20.0 * (c * math.sqrt(DIM) - 1.0) * math.sqrt(DIM)
    np.testing.assert_allclose(jax.grad(penalty)(c), expected, rtol=1e-5)


def test_r1_penalty_of_linear_critic():
    real = jnp.asarray(np.random.default_rng(0).standard_normal(IMAGE_SHAPE), jnp.float32)
    c = 0.5  # gamma / 2 * ||grad||^2 = 5 * 0.25 * 18
    np.testing.assert_allclose(gan.r1_penalty(_linear_critic(c), real), 5.0 * 0.25 * DIM,
                               rtol=1e-6)
    quadratic = gan.r1_penalty(lambda x: 0.5 * jnp.sum(x**2, axis=(1, 2, 3)), real, gamma=2.0)
    np.testing.assert_allclose(quadratic, jnp.mean(jnp.sum(real**2, axis=(1, 2, 3))), rtol=1e-6)


def test_ema_update_exact():
    ema = {"w": jnp.zeros(3), "b": {"c": jnp.full((2,), 8.0)}}
    params = {"w": jnp.full(3, 4.0), "b": {"c": jnp.zeros(2)}}
    updated = ema_update(ema, params, 0.75)
    np.testing.assert_array_equal(updated["w"], jnp.full(3, 1.0))  # 0.25 * 4
    np.testing.assert_array_equal(updated["b"]["c"], jnp.full(2, 6.0))  # 0.75 * 8
    # Warm-up: at step 8 the decay is min(0.75, 9 / 18) = 0.5.
    warm = ema_update(ema, params, 0.75, step=8)
    np.testing.assert_array_equal(warm["w"], jnp.full(3, 2.0))
    np.testing.assert_array_equal(ema_update(ema, params, 0.75, step=10_000)["w"], updated["w"])
    bf16 = ema_update({"w": jnp.zeros(2, jnp.bfloat16)}, {"w": jnp.ones(2)}, 0.5)
    assert bf16["w"].dtype == jnp.bfloat16


def test_ema_decay_schedule():
    np.testing.assert_allclose([ema_decay(0.999, s) for s in (0, 8, 80, 8990, 10**6)],
                               [0.1, 0.5, 0.9, 0.999, 0.999], rtol=1e-6)
    assert float(ema_decay(0.9)) == pytest.approx(0.9)


def test_translate_by_a_known_shift():
    image = np.arange(30, dtype=np.float32).reshape(1, 5, 6, 1) + 1
    shifted = np.asarray(augment.translate(jnp.asarray(image), jnp.array([[1, -2]])))
    expected = np.zeros_like(image)
    expected[0, 1:, :-2] = image[0, :-1, 2:]  # down by 1, left by 2, zeros shifted in
    np.testing.assert_array_equal(shifted, expected)


def test_translation_moves_a_dot_at_most_one_eighth():
    images = jnp.zeros((64, 32, 32, 1)).at[:, 16, 16, 0].set(1.0)
    moved = augment.translation(images, jax.random.key(0))
    rows, cols = np.nonzero(np.asarray(moved)[..., 0].max(axis=0))
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (12, 20, 12, 20)  # r = 4
    np.testing.assert_array_equal(np.asarray(moved).sum(axis=(1, 2, 3)), 1.0)


def test_cutout_zeroes_a_half_size_square():
    mask = augment.cutout_mask((8, 8), jnp.array([[4, 4], [0, 0]]), (4, 4))
    assert float(jnp.sum(1 - mask[0])) == 16  # interior: a full 4 x 4 square at rows 2..5
    np.testing.assert_array_equal(mask[0, 2:6, 2:6, 0], 0.0)
    assert float(jnp.sum(1 - mask[1])) == 4  # corner: clipped to rows/cols 0..1
    cut = augment.cutout(jnp.ones((16, 8, 8, 1)), jax.random.key(1))
    assert set(np.unique(np.asarray(cut)).tolist()) == {0.0, 1.0}
    assert float(jnp.max(jnp.sum(1 - cut, axis=(1, 2, 3)))) <= 16


def test_colour_transforms_keep_what_they_should():
    images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 6, 6, 3)), jnp.float32)
    shift = augment.brightness(images, jax.random.key(1)) - images
    np.testing.assert_allclose(shift, shift[:, :1, :1, :1] * jnp.ones_like(shift), atol=1e-6)
    assert float(jnp.max(jnp.abs(shift))) <= 0.5
    saturated = augment.saturation(images, jax.random.key(2))
    np.testing.assert_allclose(saturated.mean(-1), images.mean(-1), atol=1e-5)
    contrasted = augment.contrast(images, jax.random.key(3))
    np.testing.assert_allclose(contrasted.mean((1, 2, 3)), images.mean((1, 2, 3)), atol=1e-5)


def test_diff_augment_shape_range_randomness_and_gradients():
    images = jnp.tile(jnp.linspace(-1, 1, 8 * 8 * 3).reshape(1, 8, 8, 3), (6, 1, 1, 1))
    rng = jax.random.key(0)
    spatial = jax.jit(lambda x, r: augment.diff_augment(x, r, "translation,cutout"))
    out = spatial(images, rng)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert float(jnp.min(out)) >= -1.0 and float(jnp.max(out)) <= 1.0
    full = jax.jit(augment.diff_augment)(images, rng)
    assert full.shape == images.shape and bool(jnp.all(jnp.isfinite(full)))
    # Identical inputs, different transforms per image; the same key repeats itself.
    flat = np.asarray(full).reshape(6, -1)
    assert len({row.tobytes() for row in flat}) == 6
    np.testing.assert_array_equal(jax.jit(augment.diff_augment)(images, rng), full)
    # Gradients reach the images, through every transform.
    grads = jax.jit(jax.grad(lambda x: jnp.sum(augment.diff_augment(x, rng) ** 2)))(images)
    assert bool(jnp.all(jnp.isfinite(grads))) and float(jnp.max(jnp.abs(grads))) > 0


def test_translate_gradient_is_the_kept_pixel_mask():
    grads = jax.grad(lambda x: jnp.sum(augment.translate(x, jnp.array([[2, 0]]))))(
        jnp.ones((1, 4, 4, 1)))
    expected = np.ones((1, 4, 4, 1), np.float32)
    expected[0, 2:] = 0.0  # the bottom two rows are pushed out of the image
    np.testing.assert_array_equal(grads, expected)


def test_policy_parsing():
    images = jnp.ones((2, 4, 4, 1))
    np.testing.assert_array_equal(augment.diff_augment(images, jax.random.key(0), ""), images)
    assert len(augment.parse_policy("color, translation")) == 4
    with pytest.raises(ValueError, match="colour"):
        augment.diff_augment(images, jax.random.key(0), "colour")


def test_penalties_differentiate_through_a_spectral_norm_dcgan_discriminator():
    discriminator = dcgan.Discriminator(resolution=28, width=4, spectral_norm=True)
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.uniform(-1, 1, (4, 28, 28, 1)), jnp.float32)
    fake = jnp.asarray(rng.uniform(-1, 1, (4, 28, 28, 1)), jnp.float32)
    variables = jax.jit(lambda k: discriminator.init(k, real, train=False))(jax.random.key(0))

    @jax.jit
    def penalty_grads(params):
        def penalties(params):
            def d_fn(images):
                return discriminator.apply({**variables, "params": params}, images, train=False)
            return (gan.gradient_penalty(d_fn, real, fake, jax.random.key(1))
                    + gan.r1_penalty(d_fn, real))
        return jax.value_and_grad(penalties)(params)

    value, grads = penalty_grads(variables["params"])
    assert np.isfinite(float(value)) and float(value) > 0
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
    assert all(np.isfinite(norms)) and max(norms) > 0


"""ConvTranspose against flax's, spectral norm on a known matrix, GAN shapes."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models import dcgan
from genjax.models.layers import ConvTranspose, spectral_normed
from genjax.models.registry import MODELS

# (kernel, stride, padding, input spatial size): the DCGAN layers and harder cases.
CONV_TRANSPOSE_CASES = [
    ((4, 4), 2, "SAME", (7, 7)),  # every DCGAN up-sampling layer; int strides as in flax
    ((1, 1), (2, 2), "VALID", (3, 3)),  # stride > kernel
    ((4, 4), (2, 2), "VALID", (4, 4)),
    ((3, 3), (1, 1), "SAME", (5, 6)),
    ((5, 5), (2, 2), "SAME", (5, 4)),
    ((3, 3), (2, 2), ((1, 2), (0, 3)), (4, 5)),  # explicit, asymmetric
    ((4, 4), (2, 2), ((4, 4), (4, 4)), (3, 3)),  # padding > k - 1: negative adjoint padding
    ((3, 3), (3, 3), "SAME", (3, 3)),  # stride > k - 1
]


def _random(shape, seed):
    # numpy, not jax.random: XLA:CPU compiles rank-4 threefry draws slowly (layers.py).
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _conv_transpose_variables(kernel_size, in_features, features, transpose_kernel):
    channels = (features, in_features) if transpose_kernel else (in_features, features)
    return {"params": {"kernel": _random((*kernel_size, *channels), 1),
                       "bias": jnp.arange(features, dtype=jnp.float32) / features}}


@pytest.mark.parametrize("transpose_kernel", [False, True])
@pytest.mark.parametrize("kernel_size, strides, padding, spatial", CONV_TRANSPOSE_CASES)
def test_conv_transpose_matches_flax(kernel_size, strides, padding, spatial, transpose_kernel):
    inputs = _random((2, *spatial, 3), 0)
    kwargs = dict(strides=strides, padding=padding, transpose_kernel=transpose_kernel)
    reference = nn.ConvTranspose(4, kernel_size, **kwargs)
    ours = ConvTranspose(4, kernel_size, **kwargs)
    variables = _conv_transpose_variables(kernel_size, 3, 4, transpose_kernel)
    init_shapes = [jax.eval_shape(m.init, jax.random.key(0), inputs) for m in (ours, reference)]
    assert jax.tree.map(jnp.shape, init_shapes[0]) == jax.tree.map(jnp.shape, init_shapes[1])

    @jax.jit
    def outputs_and_grads(variables, inputs):
        results = []
        for module in (ours, reference):
            outputs, vjp = jax.vjp(module.apply, variables, inputs)
            cotangent = jnp.cos(jnp.arange(outputs.size)).reshape(outputs.shape)
            results.append((outputs, vjp(cotangent)))  # gradients: kernel, bias, inputs
        return results

    got, want = outputs_and_grads(variables, inputs)
    for got_leaf, want_leaf in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(got_leaf, want_leaf, rtol=1e-4, atol=1e-4)


def test_conv_transpose_second_order_gradient_matches_flax():
    inputs = _random((2, 4, 4, 3), 0)
    reference = nn.ConvTranspose(2, (4, 4), strides=(2, 2))
    ours = ConvTranspose(2, (4, 4), strides=(2, 2))
    variables = _conv_transpose_variables((4, 4), 3, 2, False)

    @jax.jit
    def penalty_grads(variables):  # the parameter gradient of a gradient penalty
        def penalty(module, v):
            grads = jax.grad(lambda x: jnp.sum(jnp.tanh(module.apply(v, x))))(inputs)
            return jnp.sum(grads**2)
        return [jax.grad(penalty, 1)(module, variables) for module in (ours, reference)]

    got, want = penalty_grads(variables)
    for got_leaf, want_leaf in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(got_leaf, want_leaf, rtol=1e-4, atol=1e-5)


class _SpectralDense(nn.Module):
    @nn.compact
    def __call__(self, x, *, update_stats):
        layer = nn.Dense(2, use_bias=False)
        return spectral_normed(layer, x, enabled=True, update_stats=update_stats)


def test_spectral_norm_of_diag_3_1():
    model = _SpectralDense()
    eye = jnp.eye(2)
    variables = model.init(jax.random.key(0), eye, update_stats=False)
    variables = {"params": {"Dense_0": {"kernel": jnp.diag(jnp.array([3.0, 1.0]))}},
                 "batch_stats": variables["batch_stats"]}
    stats = variables["batch_stats"]["SpectralNorm_0"]
    assert set(stats) == {"Dense_0/kernel/u", "Dense_0/kernel/sigma"}

    # Without update_stats the power-iteration state does not move.
    _, state = model.apply(variables, eye, update_stats=False, mutable=["batch_stats"])
    np.testing.assert_array_equal(state["batch_stats"]["SpectralNorm_0"]["Dense_0/kernel/u"],
                                  stats["Dense_0/kernel/u"])

    step = jax.jit(lambda v: model.apply(v, eye, update_stats=True, mutable=["batch_stats"]))
    for _ in range(30):  # one power iteration per call; u converges to +-e_1
        normalised, state = step(variables)
        variables = {"params": variables["params"], **state}
    # eye @ (W / sigma) = diag(1, 1/3): largest singular value 1.
    np.testing.assert_allclose(normalised, jnp.diag(jnp.array([1.0, 1 / 3])), atol=1e-5)
    np.testing.assert_allclose(state["batch_stats"]["SpectralNorm_0"]["Dense_0/kernel/sigma"],
                               3.0, rtol=1e-5)
    assert np.linalg.norm(np.asarray(normalised), 2) == pytest.approx(1.0, abs=1e-5)


GAN_REGISTRY = MODELS["gan"]
GAN_CASES = [  # (registry name, resolution, channels)
    ("dcgan", 28, 1),
    ("dcgan", 32, 3),
    ("dcgan", 64, 3),
    ("resnet", 32, 3),
    ("resnet", 64, 3),
]


def _gan_pair(name, resolution, channels, *, width, spectral_norm):
    generator_cls, discriminator_cls = GAN_REGISTRY[name]
    generator = generator_cls(resolution=resolution, channels=channels, width=width,
                              latent_dim=16)
    discriminator = discriminator_cls(resolution=resolution, width=width,
                                      spectral_norm=spectral_norm)

    def generate_and_discriminate(z):
        g_vars = generator.init(jax.random.key(1), z, train=False)
        images, _ = generator.apply(g_vars, z, train=True, mutable=["batch_stats"])
        d_vars = discriminator.init(jax.random.key(2), images, train=False)
        logits, d_state = discriminator.apply(d_vars, images, train=True,
                                              mutable=["batch_stats"])
        return images, logits, d_state

    return generate_and_discriminate


@pytest.mark.parametrize("name, resolution, channels", GAN_CASES)
def test_gan_shapes(name, resolution, channels):
    # Shapes only (no compilation): values are checked below on two of the models.
    for spectral_norm in (False, True):
        run = _gan_pair(name, resolution, channels, width=8, spectral_norm=spectral_norm)
        images, logits, _ = jax.eval_shape(run, jnp.zeros((3, 16)))
        assert images.shape == (3, resolution, resolution, channels)
        assert logits.shape == (3,)


@pytest.mark.parametrize("name, resolution, channels, spectral_norm",
                         [("dcgan", 28, 1, False), ("resnet", 32, 3, True)])
def test_gan_values(name, resolution, channels, spectral_norm):
    run = jax.jit(_gan_pair(name, resolution, channels, width=4, spectral_norm=spectral_norm))
    images, logits, d_state = run(_random((3, 16), 0))
    assert float(jnp.max(jnp.abs(images))) <= 1.0
    assert float(jnp.std(images)) > 0.0
    assert bool(jnp.all(jnp.isfinite(logits)))
    assert float(jnp.std(logits)) > 0.0
    paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(d_state)]
    assert any(path.endswith("/u']") for path in paths) == spectral_norm


def test_dcgan_28_matches_the_documented_size():
    z = jnp.zeros((1, 100))
    g_vars = jax.eval_shape(functools.partial(dcgan.Generator().init, train=False),
                            jax.random.key(0), z)
    images = jnp.zeros((1, 28, 28, 1))
    d_vars = jax.eval_shape(functools.partial(dcgan.Discriminator().init, train=False),
                            jax.random.key(0), images)
    count = sum(x.size for x in jax.tree.leaves((g_vars["params"], d_vars["params"])))
    assert 0.85e6 < count < 0.95e6


def test_bad_resolution_raises_a_clear_error():
    with pytest.raises(ValueError, match="resolution 48"):
        dcgan.Generator(resolution=48).init(jax.random.key(0), jnp.zeros((1, 100)), train=False)

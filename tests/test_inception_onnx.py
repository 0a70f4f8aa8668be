"""ONNX export of JAX functions, and the FID Inception network through ONNX Runtime.

The exporter is checked on small flax networks with every rule it has (values
against JAX, the graph it writes, the errors it raises); the exported Inception
network against genjax's JAX network (within 1e-5) and against the TorchScript
reference (the same bound as the JAX network's parity test); the backend choice
and the metrics path on real Fashion-MNIST.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import data
from genjax.errors import UserError
from genjax.eval import inception, inception_onnx, metrics, onnx_export

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(["features"], {"images": x})[0]


class _Small(nn.Module):
    """Every rule: convs with bias and padding, batch norm, relu, the three pools, concat."""

    pooled: bool = True

    @nn.compact
    def __call__(self, x):
        a = nn.relu(nn.Conv(6, (3, 3), strides=2, padding="VALID")(x))
        b = nn.BatchNorm(use_running_average=True)(
            nn.Conv(6, (1, 5), padding=((0, 0), (2, 2)), use_bias=False)(a))
        c = nn.avg_pool(a, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)
        d = nn.avg_pool(a, (3, 3), (1, 1), ((1, 1), (1, 1)))  # padding counted
        e = nn.max_pool(jnp.maximum(b, -0.5), (3, 3), (1, 1), ((1, 1), (1, 1)))
        y = jnp.concatenate([a, b - c, d * 2.0, e / 3.0], axis=-1)
        return jnp.mean(y, axis=(1, 2)) if self.pooled else y


def _small(pooled: bool):
    model = _Small(pooled)
    x = np.random.default_rng(0).normal(size=(3, 11, 13, 2)).astype(np.float32)
    variables = model.init(jax.random.PRNGKey(0), x)
    rng = np.random.default_rng(1)  # batch-norm statistics that are not the identity
    stats = variables["batch_stats"]["BatchNorm_0"]
    variables = {"params": variables["params"], "batch_stats": {"BatchNorm_0": {
        "mean": rng.normal(size=stats["mean"].shape).astype(np.float32),
        "var": rng.uniform(0.5, 2.0, stats["var"].shape).astype(np.float32)}}}
    return (lambda images: model.apply(variables, images)), x


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "nhwc-output"])
def test_export_matches_jax_on_every_rule(pooled):
    fn, x = _small(pooled)
    model = onnx_export.to_onnx(fn, jax.ShapeDtypeStruct(x.shape, np.float32))
    ours = _run(model, x)
    theirs = np.asarray(jax.jit(fn)(x))
    assert ours.shape == theirs.shape == ((3, 24) if pooled else (3, 5, 6, 24))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    nodes = onnx.load_from_string(model).graph.node
    ops = [node.op_type for node in nodes]
    # the exclude-padding average is one AveragePool; the other is a pool times 9
    include_pad = [a.i for n in nodes if n.op_type == "AveragePool" for a in n.attribute
                   if a.name == "count_include_pad"]
    assert sorted(include_pad) == [0, 1]
    assert ops.count("Conv") == 2 and ops.count("Relu") == 1 and ops.count("MaxPool") == 1
    assert ops.count("Transpose") == (1 if pooled else 2)


def test_export_names_what_it_cannot_do():
    x = jax.ShapeDtypeStruct((2, 4, 4, 3), np.float32)
    with pytest.raises(onnx_export.UnsupportedError, match="'tanh'"):
        onnx_export.to_onnx(jnp.tanh, x)
    with pytest.raises(onnx_export.UnsupportedError, match="reduce_sum over"):
        onnx_export.to_onnx(lambda v: jnp.sum(v, axis=1), x)  # (N, W, C): not NCHW's order
    with pytest.raises(ValueError, match="does not depend on the input"):
        onnx_export.to_onnx(lambda v: jnp.zeros((2, 3)), x)
    with pytest.raises(ValueError, match="NHWC float32"):
        onnx_export.to_onnx(jnp.tanh, jax.ShapeDtypeStruct((2, 4, 4), np.float32))


@pytest.fixture(scope="module")
def fashion():
    images, _ = data.load_split("fashion_mnist", "test")
    return images[:8]


@pytest.fixture(scope="module")
def session():
    return inception_onnx.session(8)


def test_inception_on_onnxruntime_matches_the_jax_network(session, fashion):
    theirs = np.asarray(inception.features(inception.load_params(), fashion))
    ours = session(fashion)
    diff = np.abs(ours - theirs).max()
    print(f"onnxruntime vs jax: max abs diff {diff:.3g}, max |feature| {np.abs(theirs).max():.3g}")
    assert ours.shape == (8, inception.FEATURE_DIM) and ours.dtype == np.float32
    assert diff < 1e-5
    np.testing.assert_array_equal(session(fashion), ours)  # deterministic
    with pytest.raises(ValueError, match="batches of 8"):
        session(fashion[:4])


def test_inception_on_onnxruntime_matches_the_torchscript_reference(session, fashion):
    from tests.test_inception import _nchw, torchscript_reference

    reference = torchscript_reference()
    rgb = np.repeat(fashion, 3, axis=-1).astype(np.float32) / 255.0
    theirs = reference.helper.extract_feats(_nchw(reference.torch, rgb), (0, 1), (299, 299),
                                            "nv_bilinear_float", quant=True)
    ours = session(rgb)
    diff = np.abs(ours - theirs).max()
    print(f"onnxruntime vs TorchScript: max abs diff {diff:.3g}")
    assert diff < 1e-4 * np.abs(theirs).max()  # the JAX network's parity bound
    assert np.abs(theirs[0] - theirs[1]).max() > 1000 * diff


def test_backend_choice(monkeypatch):
    monkeypatch.delenv(inception_onnx.ENV, raising=False)
    assert inception_onnx.backend() == "onnxruntime"  # JAX's backend here is the CPU
    assert metrics.feature_net("inception").runtime == "onnxruntime"
    monkeypatch.setenv(inception_onnx.ENV, "jax")
    net = metrics.feature_net("inception")
    assert inception_onnx.backend() == "jax" and net.host_network is None
    assert "onnxruntime" not in metrics._cache_suffix(net)
    monkeypatch.setenv(inception_onnx.ENV, "tensorflow")
    with pytest.raises(UserError, match=r"^GENJAX_INCEPTION_BACKEND must be one of \['jax', "
                                        r"'onnxruntime'\], got 'tensorflow'$"):
        metrics.feature_net("inception")


def test_metrics_features_run_the_exported_network_batch_by_batch(monkeypatch, session,
                                                                  fashion):
    monkeypatch.setenv(inception_onnx.ENV, "onnxruntime")
    net = metrics.feature_net("inception")
    assert net.runtime == "onnxruntime" and "-inception-onnxruntime-" in metrics._cache_suffix(net)
    images = np.concatenate([fashion, fashion[:3]])  # 11 images: the second batch padded
    feats = metrics.features(images, net, num_samples=11, batch_size=8, value_range=(0, 255))
    expected = session(fashion)
    np.testing.assert_array_equal(feats[:8], expected)
    np.testing.assert_array_equal(feats[8:], expected[:3])

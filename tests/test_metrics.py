"""Sample-quality metrics on real Fashion-MNIST: values, caching, inputs."""

import logging

import numpy as np
import pytest

from genjax import data
from genjax.errors import UserError
from genjax.eval import metrics


@pytest.fixture
def ref_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "cache_dir", lambda: tmp_path)
    return tmp_path


def _split(split, n, offset=0):
    images, _ = data.load_split("fashion_mnist", split)
    return images[offset:offset + n].astype(np.float32) / 127.5 - 1.0  # the generators' range


def _noisy(images, sigma, seed=0):
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape).astype(np.float32)
    return np.clip(images + noise, -1.0, 1.0)


def test_classifier_fd_orders_real_and_degraded_sets(ref_cache):
    n = 2000
    test = _split("test", n)
    same = metrics.classifier_frechet_distance(test, num_samples=n)
    train = metrics.classifier_frechet_distance(_split("train", n), num_samples=n)
    noisy = [metrics.classifier_frechet_distance(_noisy(test, s), num_samples=n)
             for s in (0.1, 0.3, 0.6)]
    assert abs(same) < 1e-6  # the reference set is test[:2000] itself
    assert train < noisy[0] < noisy[1] < noisy[2]
    assert train < 0.1 * noisy[2]
    assert len(list((ref_cache / "reference").glob("*.npy"))) == 1


@pytest.mark.slow
def test_fid_on_real_images_small_sample(ref_cache):
    """32 images per set (FID is biased upwards at this size; the ordering is what we test)."""
    n = 32
    test = _split("test", n)
    train_fid = metrics.evaluate(_split("train", n), dataset="fashion_mnist", num_samples=n,
                                 metrics=("fid",), batch_size=32)["fid"]
    noisy_fid = [metrics.evaluate(_noisy(test, s), dataset="fashion_mnist", num_samples=n,
                                  metrics=("fid",), batch_size=32)["fid"] for s in (0.2, 0.5)]
    self_fid = metrics.evaluate(test, dataset="fashion_mnist", num_samples=n, metrics=("fid",),
                                batch_size=32)["fid"]
    assert abs(self_fid) < 1e-3
    assert train_fid < noisy_fid[0] < noisy_fid[1]


def test_sampler_and_array_give_the_same_features(ref_cache):
    images = _split("train", 250)
    net = metrics.feature_net("classifier")
    from_array = metrics.features(images, net, num_samples=230, batch_size=100)
    calls = []

    def sampler(rng):
        calls.append(rng)
        start = 100 * (len(calls) - 1)
        return images[start:start + 100]

    from_sampler = metrics.features(sampler, net, num_samples=230, batch_size=100)
    assert from_array.shape == (230, 128) and len(calls) == 3
    np.testing.assert_array_equal(from_array, from_sampler)


def test_reference_features_are_cached(ref_cache, monkeypatch):
    net = metrics.feature_net("classifier")
    first = metrics.reference_features("fashion_mnist", "test", net, num_samples=300)
    monkeypatch.setattr(metrics, "features", lambda *a, **k: pytest.fail("recomputed"))
    again = metrics.reference_features("fashion_mnist", "test", net, num_samples=300)
    np.testing.assert_array_equal(first, again)


def test_bad_requests(ref_cache):
    with pytest.raises(UserError, match="unknown metrics"):
        metrics.evaluate(np.zeros((4, 28, 28, 1)), dataset="fashion_mnist", metrics=("fidd",))
    with pytest.raises(UserError, match="holds 4"):
        metrics.evaluate(np.zeros((4, 28, 28, 1)), dataset="fashion_mnist", num_samples=10)
    with pytest.raises(UserError, match="needs 28x28"):
        metrics.classifier_frechet_distance(np.zeros((4, 32, 32, 3)), dataset="cifar10")


def test_long_feature_passes_log_their_progress(monkeypatch, caplog):
    from genjax.eval import metrics

    monkeypatch.setattr(metrics, "PROGRESS_SECONDS", 0.0)
    net = metrics.feature_net("classifier")
    images = np.random.default_rng(0).uniform(-1, 1, (250, 28, 28, 1)).astype(np.float32)
    with caplog.at_level(logging.INFO):
        feats = metrics.features(images, net, num_samples=250, batch_size=100)
    assert feats.shape[0] == 250 and np.isfinite(feats).all()
    lines = [r.getMessage() for r in caplog.records if "features:" in r.getMessage()]
    assert [line.split(",")[0] for line in lines] == [
        "classifier features: 100/250 images", "classifier features: 200/250 images"]

"""Conditional evaluation on real Fashion-MNIST: intra-class FD, training on arrays, CAS.

No conditional GAN is needed: the fake class samplers below return real images of
the class they are asked for (or of the next class), so the right values are known.
"""

import collections
import json
import shutil

import jax
import ml_collections
import numpy as np
import pytest

from genjax import data
from genjax.errors import UserError
from genjax.eval import conditional, metrics
from genjax.eval import fid as fid_lib
from genjax.studies import cas
from genjax.train.loop import fit
from genjax.train.tasks import classifier
from tests.conftest import tiny_classifier_config

NUM_CLASSES = 10


@pytest.fixture
def ref_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "cache_dir", lambda: tmp_path / "cache")
    return tmp_path / "cache"


def _class_pools(split):
    images, labels = data.load_split("fashion_mnist", split)
    return [images[labels == c].astype(np.float32) / 127.5 - 1.0 for c in range(NUM_CLASSES)]


def in_order_sampler(split, shift=0):
    """Serves the images of class (label + shift) of `split` in their stored order."""
    pools, served = _class_pools(split), collections.Counter()

    def sampler(rng, labels):
        assert labels.shape == (100,) and (labels == labels[0]).all()
        label = (int(labels[0]) + shift) % NUM_CLASSES
        start = served[label]
        served[label] += len(labels)
        return pools[label][start:start + len(labels)]

    return sampler


def random_real_sampler(split="train"):
    """Real images of each asked class, drawn by the key: a perfect conditional generator."""
    pools = _class_pools(split)

    def sampler(rng, labels):
        u = np.asarray(jax.random.uniform(rng, (len(labels),)))
        return np.stack([pools[c][int(x * len(pools[c]))] for c, x in zip(labels, u, strict=True)])

    return sampler


# ---- intra-class Fréchet distance -----------------------------------------------------------

def test_intra_class_fd_is_zero_on_the_references_and_large_for_the_wrong_class(ref_cache):
    kwargs = dict(dataset="fashion_mnist", per_class=300, network="classifier")
    same = conditional.intra_class_fd(in_order_sampler("test"), **kwargs)
    train = conditional.intra_class_fd(in_order_sampler("train"), **kwargs)
    swapped = conditional.intra_class_fd(in_order_sampler("test", shift=1), **kwargs)
    names = list(data.DATASETS["fashion_mnist"].class_names)
    assert list(same) == [*names, "mean"]
    assert all(abs(same[n]) < 1e-4 for n in names)  # the very images (float32 round-off)
    assert same["mean"] == pytest.approx(np.mean([same[n] for n in names]), abs=1e-12)
    # Other real images of the right class stay close; the wrong class is far for every class.
    assert all(swapped[n] > 5 * train[n] > 0 for n in names), (train, swapped)
    assert swapped["mean"] > 10 * train["mean"]


def test_class_references_are_cached_and_reused(ref_cache, monkeypatch):
    calls = collections.Counter()
    original = metrics.features

    def counting(samples, *args, **kwargs):
        calls["generated" if callable(samples) else "reference"] += 1
        return original(samples, *args, **kwargs)

    monkeypatch.setattr(metrics, "features", counting)
    kwargs = dict(dataset="fashion_mnist", per_class=200, network="classifier")
    first = conditional.intra_class_fd(in_order_sampler("test"), **kwargs)
    assert calls == {"reference": NUM_CLASSES, "generated": NUM_CLASSES}
    cached = sorted(p.name for p in (ref_cache / "reference").glob("*.npy"))
    assert len(cached) == NUM_CLASSES and all("-class" in name for name in cached)
    calls.clear()
    again = conditional.intra_class_fd(in_order_sampler("test"), **kwargs)
    assert calls == {"generated": NUM_CLASSES}  # no reference feature computed again
    assert again == first
    # A different count is a different reference set, not a stale one.
    net = metrics.feature_net("classifier")
    fewer = conditional.class_reference_features("fashion_mnist", "test", 3, net, per_class=100)
    images, labels = data.load_split("fashion_mnist", "test")
    np.testing.assert_allclose(fewer, metrics.features(images[labels == 3][:100], net,
                                                       num_samples=100, value_range=(0, 255)),
                               rtol=1e-6, atol=1e-6)


def test_class_references_slice_a_cached_split_prefix(ref_cache, monkeypatch):
    net = metrics.feature_net("classifier")
    images, labels = data.load_split("fashion_mnist", "test")
    prefix = metrics.reference_features("fashion_mnist", "test", net, num_samples=2000)
    inside = np.flatnonzero(labels == 4)[:100]
    beyond = np.flatnonzero(labels == 4)[:300]
    assert inside[-1] < 2000 <= beyond[-1]  # the first 100 coats lie in the prefix, 300 do not
    calls = collections.Counter()
    original = metrics.features

    def counting(samples, *args, **kwargs):
        calls[len(samples)] += 1
        return original(samples, *args, **kwargs)

    monkeypatch.setattr(metrics, "features", counting)
    sliced = conditional.class_reference_features("fashion_mnist", "test", 4, net, per_class=100)
    assert calls == {}  # no network pass: rows of the cached prefix
    np.testing.assert_array_equal(sliced, prefix[inside])
    np.testing.assert_allclose(sliced, original(images[inside], net, num_samples=100,
                                                value_range=(0, 255)), rtol=1e-5, atol=1e-5)
    assert metrics.cached_split_prefix("fashion_mnist", "test", net, covering=2000) is not None
    assert metrics.cached_split_prefix("fashion_mnist", "test", net, covering=2001) is None
    assert metrics.cached_split_prefix("fashion_mnist", "train", net, covering=1) is None
    computed = conditional.class_reference_features("fashion_mnist", "test", 4, net,
                                                    per_class=300)
    assert calls == {300: 1}  # beyond the prefix: computed (and cached) on its own
    np.testing.assert_array_equal(computed[:100], sliced)


def test_evaluate_reuses_given_fake_features(ref_cache, monkeypatch):
    net = metrics.feature_net("classifier")
    images, _ = data.load_split("fashion_mnist", "train")
    fake = metrics.features(images[:300], net, num_samples=300, value_range=(0, 255))
    real = metrics.reference_features("fashion_mnist", "test", net, num_samples=300)

    def no_sampler(rng):
        pytest.fail("drew samples although their features were given")

    out = metrics.evaluate(no_sampler, dataset="fashion_mnist", num_samples=300,
                           metrics=["classifier_fd"], fake_features={"classifier": fake})
    assert out["classifier_fd"] == pytest.approx(fid_lib.fid_from_features(real, fake),
                                                 rel=1e-12)
    assert 1 < out["classifier_fd"] < 50  # train vs test images: close, not equal
    with pytest.raises(UserError, match=r"fake_features\['classifier'\] holds 300 rows, "
                                        r"not num_samples=200"):
        metrics.evaluate(no_sampler, dataset="fashion_mnist", num_samples=200,
                         metrics=["classifier_fd"], fake_features={"classifier": fake})


def test_intra_class_requests_fail_before_any_feature(ref_cache, monkeypatch):
    monkeypatch.setattr(metrics, "features", lambda *a, **k: pytest.fail("computed features"))
    sampler = in_order_sampler("test")
    with pytest.raises(UserError, match=r"^per_class=1001 exceeds the 1000 images of class "
                                        r"'T-shirt/top' in fashion_mnist:test; use at most 1000$"):
        conditional.intra_class_fd(sampler, dataset="fashion_mnist", per_class=1001)
    with pytest.raises(UserError, match="unknown feature network 'vgg'"):
        conditional.intra_class_fd(sampler, dataset="fashion_mnist", network="vgg")
    with pytest.raises(UserError, match="has no class labels"):
        conditional.intra_class_fd(sampler, dataset="celeb_a")
    with pytest.raises(UserError, match="needs 28x28"):
        conditional.intra_class_fd(sampler, dataset="cifar10", network="classifier")


# ---- class-balanced subsets and training on arrays ------------------------------------------

def test_balanced_subset_counts_determinism_and_nesting():
    _, labels = data.load_split("fashion_mnist", "train")
    small = data.balanced_subset("fashion_mnist", "train", 0.01, seed=0)
    assert len(small) == 600 and np.array_equal(np.bincount(labels[small]), [60] * NUM_CLASSES)
    assert np.array_equal(small, np.unique(small))  # sorted, no repeats
    np.testing.assert_array_equal(small, data.balanced_subset("fashion_mnist", "train", 0.01, 0))
    other = data.balanced_subset("fashion_mnist", "train", 0.01, seed=1)
    assert len(np.intersect1d(small, other)) < 60  # ~6 expected by chance
    larger = data.balanced_subset("fashion_mnist", "train", 0.1, seed=0)
    assert len(larger) == 6000 and np.isin(small, larger).all()
    for fraction, message in [(0.0, r"must be in \(0, 1\]"), (1.5, r"must be in \(0, 1\]"),
                              (1e-5, "leaves no image per class")]:
        with pytest.raises(UserError, match=message):
            data.balanced_subset("fashion_mnist", "train", fraction, seed=0)
    with pytest.raises(UserError, match="class 1 has only 2"):
        data.balanced_indices(np.array([0, 0, 0, 0, 1, 1]), 1.0, 0, num_classes=2)


def _numbered_arrays(n=50):
    """Images whose first pixel is their index, so a batch tells which examples it holds."""
    images = np.zeros((n, 4, 4, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    return images, np.arange(n, dtype=np.int32) % 7


def _indices(batch):
    return np.rint(batch["image"][:, 0, 0, 0] * 255).astype(int)


def test_array_iterator_is_pure_in_seed_and_step_with_epoch_permutations():
    images, labels = _numbered_arrays()
    kwargs = dict(batch_size=8, image_range="[0,1]", with_labels=True)
    run = data.array_train_iterator(images, labels, seed=3, **kwargs)
    batches = [next(run) for _ in range(18)]  # 6 batches per epoch (2 examples left over)
    resumed = data.array_train_iterator(images, labels, seed=3, start_step=7, **kwargs)
    for step in range(7, 18):
        got = next(resumed)
        for key in ("image", "label"):
            np.testing.assert_array_equal(got[key], batches[step][key])
    for epoch in range(3):
        seen = np.concatenate([_indices(b) for b in batches[6 * epoch:6 * epoch + 6]])
        assert len(np.unique(seen)) == 48  # no example twice within an epoch
    assert not np.array_equal(_indices(batches[0]), _indices(batches[6]))  # reshuffled
    for b in batches:
        np.testing.assert_array_equal(b["label"], labels[_indices(b)])
    other = next(data.array_train_iterator(images, labels, seed=4, **kwargs))
    assert not np.array_equal(_indices(other), _indices(batches[0]))
    with pytest.raises(UserError, match="batch_size=64 exceeds the 50 examples"):
        data.array_train_iterator(images, labels, seed=0, batch_size=64)
    with pytest.raises(UserError, match="must be uint8"):
        data.array_train_iterator(images.astype(np.float32), labels, seed=0, batch_size=8)


def test_classifier_on_saved_arrays_of_the_split_sees_the_split_batches(tmp_path):
    images, labels = data.load_split("fashion_mnist", "train")
    path = data.save_arrays(tmp_path / "train.npz", images, labels)
    plain = classifier.ClassifierTask(tiny_classifier_config()).train_batches(start_step=1870)
    arrays = classifier.ClassifierTask(
        tiny_classifier_config(**{"data.train_arrays": str(path)})).train_batches(1870)
    for _ in range(3):  # across the epoch boundary at step 1875
        a, b = next(plain), next(arrays)
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])
    subset = classifier.ClassifierTask(tiny_classifier_config(**{"data.train_fraction": 0.01}))
    _, subset_labels, source = data.training_set(subset.config.data)
    assert np.array_equal(np.bincount(subset_labels), [60] * NUM_CLASSES)
    assert source == "a class-balanced 0.01 of fashion_mnist:train"


@pytest.mark.parametrize("source", ["arrays", pytest.param("subset", marks=pytest.mark.slow)])
def test_resumed_fit_on_arrays_equals_the_uninterrupted_run(tmp_path, source):
    if source == "arrays":
        images, labels = data.load_split("fashion_mnist", "test")  # any labelled set will do
        path = data.save_arrays(tmp_path / "set.npz", images[:1000], labels[:1000])
        overrides = {"data.train_arrays": str(path)}
    else:
        overrides = {"data.train_fraction": 0.01, "data.subset_seed": 5}
    config = tiny_classifier_config(num_train_steps=30, eval_every=30, **overrides)
    straight = fit(config, tmp_path / "straight")
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    for step in ("20", "30"):
        shutil.rmtree(tmp_path / "resumed" / "checkpoints" / step)
    resumed = fit(config, tmp_path / "resumed")
    for a, b in zip(jax.tree.leaves(jax.device_get(straight.params)),
                    jax.tree.leaves(jax.device_get(resumed.params)), strict=True):
        np.testing.assert_array_equal(a, b)
    record = json.loads((tmp_path / "resumed" / "final_metrics.json").read_text())
    assert record["eval/count"] == 10000  # evaluated on the real test split


def test_bad_array_sources_fail_before_anything_is_written(tmp_path):
    with pytest.raises(UserError, match="no training arrays at"):
        fit(tiny_classifier_config(**{"data.train_arrays": str(tmp_path / "nope.npz")}),
            tmp_path / "w")
    path = data.save_arrays(tmp_path / "rgb.npz", np.zeros((40, 32, 32, 3), np.uint8),
                            np.zeros(40, np.int32))
    with pytest.raises(UserError, match=r"images of shape \(32, 32, 3\), but fashion_mnist"):
        fit(tiny_classifier_config(**{"data.train_arrays": str(path)}), tmp_path / "w")
    path = data.save_arrays(tmp_path / "few.npz", np.zeros((20, 28, 28, 1), np.uint8),
                            np.zeros(20, np.int32))
    with pytest.raises(UserError, match="batch_size=32 exceeds the 20 training examples"):
        fit(tiny_classifier_config(**{"data.train_arrays": str(path)}), tmp_path / "w")
    with pytest.raises(UserError, match="data.train_fraction must be in"):
        fit(tiny_classifier_config(**{"data.train_fraction": 0.0}), tmp_path / "w")
    assert not (tmp_path / "w").exists()


# ---- Classification Accuracy Score ----------------------------------------------------------

def test_cas_of_a_perfect_generator_is_well_above_chance(tmp_path, monkeypatch):
    config = tiny_classifier_config(num_train_steps=120, eval_every=120, checkpoint_every=60,
                                    log_every=20)
    result = cas.classification_accuracy_score(random_real_sampler(), NUM_CLASSES,
                                               config=config, out=tmp_path, num_per_class=100)
    assert result["num_train_images"] == 1000 and result["classifier_steps"] == 120
    assert result["cas_accuracy"] > 0.5  # chance is 0.1
    # Scored as fit scores it, on the real test split; the baseline is measured, not quoted.
    final = json.loads((tmp_path / "final_metrics.json").read_text())
    assert result["cas_accuracy"] == pytest.approx(final["eval/accuracy"], abs=1e-9)
    assert result["eval_count"] == 10000
    assert result["real_accuracy"] == pytest.approx(0.9366, abs=1e-4)  # the README's figure
    assert json.loads((tmp_path / "cas.json").read_text()) == result
    # The generated set: balanced, and each image the real image drawn for its label.
    images, labels = data.load_arrays(tmp_path / "generated.npz")
    assert images.shape == (1000, 28, 28, 1) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), [100] * NUM_CLASSES)
    real_images, real_labels = data.load_split("fashion_mnist", "train")
    real = {(image.tobytes(), int(label)) for image, label in zip(real_images, real_labels,
                                                                   strict=True)}
    assert all((image.tobytes(), int(label)) in real for image, label in zip(images, labels,
                                                                               strict=True))
    # A rerun reuses the generated set and the finished classifier.
    monkeypatch.setattr(cas, "generate_labelled", lambda *a, **k: pytest.fail("regenerated"))
    again = cas.classification_accuracy_score(random_real_sampler(), NUM_CLASSES,
                                              config=config, out=tmp_path, num_per_class=100)
    assert again == result
    with pytest.raises(UserError, match="was generated with"):
        cas.classification_accuracy_score(random_real_sampler(), NUM_CLASSES, config=config,
                                          out=tmp_path, num_per_class=100, seed=1)


def test_cas_requests_fail_early(tmp_path):
    workdir = tmp_path / "classifier_run"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps(tiny_classifier_config().to_dict()))
    with pytest.raises(UserError, match=r"^the model in .* \(task 'classifier'\) is not "
                                        "class-conditional"):
        cas.cas_for_workdir(workdir, config=tiny_classifier_config())
    from experiments.configs import dcgan

    unconditional = tmp_path / "dcgan_run"  # its task has a class_sampler, but no classes
    unconditional.mkdir()
    (unconditional / "config.json").write_text(json.dumps(dcgan.get_config().to_dict()))
    with pytest.raises(UserError, match=r"\(task 'gan'\) is not class-conditional"):
        cas.cas_for_workdir(unconditional, config=tiny_classifier_config())
    with pytest.raises(UserError, match="has no config.json"):
        cas.cas_for_workdir(tmp_path / "nowhere", config=tiny_classifier_config())
    sampler = random_real_sampler()
    with pytest.raises(UserError, match="generator draws 7 classes"):
        cas.classification_accuracy_score(sampler, 7, config=tiny_classifier_config(),
                                          out=tmp_path / "o", num_per_class=10)
    with pytest.raises(UserError, match="batch_size=32 exceeds the 10 x 2 generated"):
        cas.classification_accuracy_score(sampler, NUM_CLASSES, config=tiny_classifier_config(),
                                          out=tmp_path / "o", num_per_class=2)
    with pytest.raises(UserError, match="unknown model.name"):
        cas.classification_accuracy_score(
            sampler, NUM_CLASSES, config=tiny_classifier_config(**{"model.name": "vit"}),
            out=tmp_path / "o", num_per_class=10)
    assert not (tmp_path / "o").exists()
    with pytest.raises(UserError, match=r"returned shape \(3, 28, 28, 1\) for 100 labels"):
        cas.generate_labelled(lambda rng, labels: np.zeros((3, 28, 28, 1)), NUM_CLASSES, 10)


def test_generated_labels_are_balanced_and_interleaved():
    asked = []

    def sampler(rng, labels):
        asked.append(np.array(labels))
        return np.broadcast_to(labels[:, None, None, None] / 4.5 - 1.0,
                               (len(labels), 28, 28, 1)).astype(np.float32)

    images, labels = cas.generate_labelled(sampler, NUM_CLASSES, 25, batch_size=64)
    assert len(asked) == 4 and all(len(a) == 64 for a in asked)  # 250 = 3 * 64 + 58
    assert np.array_equal(labels, np.arange(250) % NUM_CLASSES)
    np.testing.assert_array_equal(images[:, 0, 0, 0], np.rint(labels * 255 / 9))
    np.testing.assert_array_equal(np.concatenate(asked)[:250], labels)


def test_configs_without_the_new_data_fields_still_train():
    """Old workdirs' config.json files lack the new data fields; both kinds build a task."""
    config = tiny_classifier_config()
    old = config.to_dict()
    for field in ("train_arrays", "train_fraction", "subset_seed"):
        old["data"].pop(field)
    task = classifier.ClassifierTask(ml_collections.ConfigDict(old))
    assert next(task.train_batches(0))["image"].shape == (32, 28, 28, 1)

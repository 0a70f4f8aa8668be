"""The tfds pipelines, on the real Fashion-MNIST (built offline from Debian's files)."""

import hashlib
import os
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from genjax import data
from genjax.data import offline, pipeline
from genjax.errors import UserError

pytestmark = pytest.mark.skipif(not offline.source_available() and not
                                (data.data_dir() / "fashion_mnist").exists(),
                                reason="needs dataset-fashion-mnist (apt) or a prepared tfds dir")


def test_real_split_sizes_and_class_balance():
    train_images, train_labels = data.load_split("fashion_mnist", "train")
    test_images, test_labels = data.load_split("fashion_mnist", "test")
    assert train_images.shape == (60000, 28, 28, 1) and train_images.dtype == np.uint8
    assert test_images.shape == (10000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(train_labels), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test_labels), [1000] * 10)
    # Real images, not noise: the mean intensity of Fashion-MNIST is 72.9/255.
    assert abs(train_images.mean() - 72.94) < 0.1
    assert train_images.max() == 255 and train_images.min() == 0


def test_split_arrays_are_cached_and_decoded_again_when_the_tfds_files_change(tmp_path,
                                                                             monkeypatch):
    """The decoded split is saved beside the tfds files and read back (equal, same dtypes);
    a changed tfds file gives a new key, so the split is decoded afresh; a torn cache file
    or a data dir that cannot be written costs a decode, never a wrong array or a crash."""
    data.load_split("fashion_mnist", "test")  # the shared data dir holds the prepared set
    shutil.copytree(data.data_dir() / "fashion_mnist", tmp_path / "fashion_mnist")
    monkeypatch.setenv("GENJAX_DATA_DIR", str(tmp_path))
    decodes = []
    decode = pipeline._decode
    monkeypatch.setattr(pipeline, "_decode", lambda *args: decodes.append(1) or decode(*args))

    def load():
        pipeline._load.cache_clear()  # the in-memory copy; the disk cache is under test
        return data.load_split("fashion_mnist", "test")

    images, labels = load()
    assert len(decodes) == 1 and images.shape == (10000, 28, 28, 1)
    (cached,) = (tmp_path / pipeline.CACHE_DIR).iterdir()
    umask = os.umask(0o022)
    os.umask(umask)
    assert cached.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any written file
    again_images, again_labels = load()
    assert len(decodes) == 1
    assert again_images.dtype == np.uint8 and again_labels.dtype == np.int32
    np.testing.assert_array_equal(again_images, images)
    np.testing.assert_array_equal(again_labels, labels)

    record = next((tmp_path / "fashion_mnist").rglob("*test.tfrecord*"))
    stat = record.stat()
    os.utime(record, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load()
    assert len(decodes) == 2 and len(list((tmp_path / pipeline.CACHE_DIR).iterdir())) == 2

    pipeline._cache_path("fashion_mnist", "test", tmp_path).write_bytes(b"torn")
    np.testing.assert_array_equal(load()[0], images)
    assert len(decodes) == 3

    def refuse(*args):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(pipeline.atomic, "write_with", refuse)
    pipeline._cache_path("fashion_mnist", "test", tmp_path).unlink()
    np.testing.assert_array_equal(load()[1], labels)
    assert len(decodes) == 4


def test_debian_headers_restored_to_upstream_checksums():
    """The restored files hash to tfds's registered sha256 sums (what its builder checks)."""
    if not offline.source_available():
        pytest.skip("Debian files not installed")
    import tensorflow_datasets as tfds

    checksums = Path(tfds.__file__).parent / "url_checksums" / "fashion_mnist.txt"
    expected = {}
    for line in checksums.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            url, _size, sha256 = line.split()[:3]
            expected[url.rsplit("/", 1)[-1]] = sha256
    assert set(expected) == set(offline.FILES)
    for name in offline.FILES:
        raw = (offline.source_dir() / name).read_bytes()
        restored = offline.restore_upstream_header(raw, name)
        assert hashlib.sha256(restored).hexdigest() == expected[name]
        assert offline.restore_upstream_header(restored, name) == restored  # idempotent


@pytest.mark.parametrize("image_range,lo,hi", [("[-1,1]", -1.0, 1.0), ("[0,1]", 0.0, 1.0),
                                                ("uint8", 0.0, 255.0), ("binary", 0.0, 1.0)])
def test_image_ranges(image_range, lo, hi):
    batch = next(data.train_iterator("fashion_mnist", batch_size=256, seed=0,
                                     image_range=image_range))
    image = batch["image"]
    assert image.dtype == np.float32 and image.shape == (256, 28, 28, 1)
    assert image.min() == lo and image.max() == hi
    if image_range == "binary":
        assert set(np.unique(image)) == {0.0, 1.0}
        # Dynamic binarisation keeps the mean intensity: E[x] = pixel / 255.
        assert abs(image.mean() - 72.94 / 255) < 0.02
    if image_range == "uint8":
        np.testing.assert_array_equal(image, np.round(image))


def test_binarisation_is_redrawn_each_step_but_fixed_by_seed():
    images, labels = data.load_split("fashion_mnist", "train")
    kw = dict(batch_size=64, seed=3, image_range="binary", with_labels=False)
    a = pipeline.train_batch(images, labels, step=5, **kw)["image"]
    b = pipeline.train_batch(images, labels, step=5, **kw)["image"]
    np.testing.assert_array_equal(a, b)
    # The same example seen at another step gets other binary pixels.
    example = pipeline.epoch_order(3, 0, len(images))[5 * 64]
    at_step = {s: pipeline.epoch_order(3, s * 64 // len(images), len(images)) for s in (5,)}
    assert at_step[5][5 * 64] == example
    redraw = pipeline.convert_images(images[[example]], "binary", np.random.default_rng(1))
    assert not np.array_equal(redraw[0], a[0])


def test_train_iterator_deterministic_and_resumable():
    first = [b["label"] for b, _ in zip(data.train_iterator(
        "fashion_mnist", batch_size=128, seed=7, with_labels=True), range(6), strict=False)]
    again = [b["label"] for b, _ in zip(data.train_iterator(
        "fashion_mnist", batch_size=128, seed=7, with_labels=True), range(6), strict=False)]
    other = next(data.train_iterator("fashion_mnist", batch_size=128, seed=8, with_labels=True))
    resumed = next(data.train_iterator("fashion_mnist", batch_size=128, seed=7, with_labels=True,
                                       start_step=4))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(resumed["label"], first[4])
    assert not np.array_equal(other["label"], first[0])


def test_each_epoch_is_a_reshuffled_permutation():
    """drop_remainder: an epoch's batches hold distinct examples; the next epoch reorders."""
    images, labels = data.load_split("fashion_mnist", "train")
    batch_size = 7000  # 8 batches per epoch, 4000 examples dropped per epoch
    index = np.arange(len(images))  # passed as labels, so each batch names its examples
    seen0 = np.concatenate([pipeline.train_batch(images, index, batch_size=batch_size, seed=1,
                                                 step=s, image_range="uint8", with_labels=True
                                                 )["label"] for s in range(8)])
    seen1 = pipeline.train_batch(images, index, batch_size=batch_size, seed=1, step=8,
                                 image_range="uint8", with_labels=True)["label"]
    assert len(np.unique(seen0)) == 8 * batch_size
    np.testing.assert_array_equal(seen0, pipeline.epoch_order(1, 0, len(index))[:56000])
    np.testing.assert_array_equal(seen1, pipeline.epoch_order(1, 1, len(index))[:batch_size])


@pytest.mark.parametrize("batch_size", [384, 1000])
def test_eval_iterator_covers_every_example_once(batch_size):
    images, labels = data.load_split("fashion_mnist", "test")
    got_images, got_labels, padded = [], [], 0
    for batch in data.eval_iterator("fashion_mnist", batch_size=batch_size, image_range="uint8",
                                    with_labels=True):
        assert batch["image"].shape[0] == batch_size
        mask = batch["mask"]
        got_images.append(batch["image"][mask])
        got_labels.append(batch["label"][mask])
        padded += int((~mask).sum())
        assert not batch["image"][~mask].any()
    np.testing.assert_array_equal(np.concatenate(got_images), images.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate(got_labels), labels)
    assert padded == -len(images) % batch_size


def test_processes_split_the_global_batch(monkeypatch):
    """With 4 processes each keeps a quarter of the same global batch; together they cover it."""
    images, labels = data.load_split("fashion_mnist", "train")
    index = np.arange(len(images))
    whole = pipeline.train_batch(images, index, batch_size=64, seed=0, step=3,
                                 image_range="[0,1]", with_labels=True)["label"]
    parts = []
    for p in range(4):
        monkeypatch.setattr(jax, "process_count", lambda: 4)
        monkeypatch.setattr(jax, "process_index", lambda p=p: p)
        parts.append(pipeline.train_batch(images, index, batch_size=64, seed=0, step=3,
                                          image_range="[0,1]", with_labels=True)["label"])
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    # Binarised batches: the same bits whatever the process count.
    monkeypatch.setattr(jax, "process_count", lambda: 1)
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    whole = pipeline.train_batch(images, index, batch_size=64, seed=0, step=3,
                                 image_range="binary", with_labels=False)["image"]
    parts = []
    for p in range(2):
        monkeypatch.setattr(jax, "process_count", lambda: 2)
        monkeypatch.setattr(jax, "process_index", lambda p=p: p)
        parts.append(pipeline.train_batch(images, index, batch_size=64, seed=0, step=3,
                                          image_range="binary", with_labels=False)["image"])
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert 0.05 < whole.mean() < 0.5 and set(np.unique(whole)) == {0.0, 1.0}
    # Evaluation: each process reads its third of every global batch of 300.
    per_process = []
    for p in range(3):
        monkeypatch.setattr(jax, "process_count", lambda: 3)
        monkeypatch.setattr(jax, "process_index", lambda p=p: p)
        batches = list(data.eval_iterator("fashion_mnist", batch_size=300, with_labels=True))
        assert len(batches) == 34  # ceil(10000 / 300): the same count on every process
        per_process.append(batches)
    eval_labels = [batch["label"][batch["mask"]] for global_batch in zip(*per_process, strict=True)
                   for batch in global_batch]
    np.testing.assert_array_equal(np.concatenate(eval_labels), data.load_split(
        "fashion_mnist", "test")[1])
    assert [int(b["mask"].sum()) for b in (per_process[0][-1], per_process[1][-1],
                                           per_process[2][-1])] == [100, 0, 0]


def test_bad_requests_fail_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="unknown dataset 'fashion'"):
        data.train_iterator("fashion", batch_size=8, seed=0).__next__()
    with pytest.raises(UserError, match="no split 'validation'"):
        data.check_dataset("fashion_mnist", "validation")
    with pytest.raises(UserError, match="no class labels"):
        data.check_dataset("celeb_a", "train", with_labels=True)
    with pytest.raises(UserError, match="unknown image_range"):
        data.check_dataset("mnist", "train", image_range="[0,255]")
    with pytest.raises(UserError, match="exceeds"):
        next(data.train_iterator("fashion_mnist", batch_size=10**6, seed=0))
    # Offline, with neither a prepared dataset nor the Debian files: one line, quickly.
    monkeypatch.setenv("GENJAX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(offline.ENV_DIR, str(tmp_path / "nothing"))
    monkeypatch.setattr(pipeline, "_online", lambda: False)
    with pytest.raises(UserError, match="apt-get install -y dataset-fashion-mnist") as err:
        data.load_split("fashion_mnist", "test")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name,shape,num_classes", [
    ("mnist", (28, 28, 1), 10), ("cifar10", (32, 32, 3), 10), ("celeb_a", (64, 64, 3), None)])
def test_other_datasets_preprocessing_on_mock_data(name, shape, num_classes, tmp_path,
                                                   monkeypatch):
    """Plumbing only: tfds's mock data has random pixels, so only shapes, ranges and labels."""
    import tensorflow_datasets as tfds

    monkeypatch.setenv("GENJAX_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(pipeline, "_online", lambda: True)
    with tfds.testing.mock_data(num_examples=40):
        images, labels = data.load_split(name, "train")
        assert images.shape == (40, *shape) and images.dtype == np.uint8
        batch = next(data.train_iterator(name, batch_size=16, seed=0, image_range="[-1,1]",
                                         with_labels=num_classes is not None))
        evals = list(data.eval_iterator(name, batch_size=16, image_range="[0,1]"))
    assert batch["image"].shape == (16, *shape)
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert sum(int(b["mask"].sum()) for b in evals) == 40
    if num_classes:
        assert labels.min() >= 0 and labels.max() < num_classes
    else:
        assert (labels == -1).all()


def test_celeb_a_center_crop_resize_values():
    """On a known image: the crop is central and the area resize averages 140/64 blocks."""
    import tensorflow as tf

    from genjax.data.preprocess import center_crop_resize

    image = np.zeros((218, 178, 3), np.uint8)
    image[39:39 + 140, 19:19 + 140] = 200  # exactly the central 140x140 square
    out = center_crop_resize(tf.constant(image), crop=140, size=64).numpy()
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out == 200).all()
    ramp = np.tile(np.arange(178, dtype=np.uint8)[None, :, None], (218, 1, 3))
    out = center_crop_resize(tf.constant(ramp), crop=140, size=64).numpy().astype(float)
    assert out[0, 0, 0] == pytest.approx(19 + (140 / 64 - 1) / 2, abs=0.6)
    assert out[0, -1, 0] == pytest.approx(158 - (140 / 64 - 1) / 2, abs=0.6)


def test_eval_binarisation_does_not_depend_on_batch_size():
    def binarised(batch_size):
        return np.concatenate([b["image"][b["mask"]] for b in data.eval_iterator(
            "fashion_mnist", batch_size=batch_size, image_range="binary", seed=4)])

    a, b = binarised(1000), binarised(384)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 1.0}
    assert abs(a.mean() - data.load_split("fashion_mnist", "test")[0].mean() / 255) < 0.005

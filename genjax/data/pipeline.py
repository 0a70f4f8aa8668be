"""Deterministic, resumable batch iterators over tfds datasets.

A split is read once through tfds (`builder.as_dataset`, files in their stored
order) and its per-example preprocessing (`registry.DATASETS`) is run in
tf.data; the result is held as a uint8 array, and saved beside the tfds files
(`<data dir>/genjax_arrays/`) so that later runs read it back without TensorFlow.
Batches are then drawn by index: the global batch at step `s` is a pure function
of `(seed, s)`, like grain's index sampler. That gives, without checkpointing an iterator:

* training: infinite, reshuffled every epoch from the seed, `drop_remainder`
  (batches never straddle an epoch), resumable at any step exactly;
* multi-host: every process computes the same global order and keeps its own
  contiguous slice of each global batch (even splits);
* evaluation: every example exactly once, the last batch padded, with a mask.

`array_train_iterator` gives the same training guarantees over labelled arrays
held in memory (generated images, a subset of a split); `save_arrays` and
`load_arrays` store such a set as an .npz that a config can name.

Image ranges: "[-1,1]" and "[0,1]" are float32 scalings; "binary" is dynamic
binarisation (each pixel ~ Bernoulli(intensity), redrawn every time an example
is seen in training, fixed by the seed for evaluation); "uint8" keeps the 256
integer levels (as float32) for discrete likelihoods.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import jax
import numpy as np

from genjax import atomic
from genjax.data import offline
from genjax.data.registry import DATASETS
from genjax.errors import UserError

IMAGE_RANGES = ("[-1,1]", "[0,1]", "binary", "uint8")
DATA_DIR_ENV = "GENJAX_DATA_DIR"


def data_dir() -> Path:
    """The tfds data dir: $GENJAX_DATA_DIR, else tfds's default (~/tensorflow_datasets)."""
    if DATA_DIR_ENV in os.environ:
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return Path(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()


def check_dataset(name: str, split: str | None = None, *, with_labels: bool = False,
                  image_range: str | None = None) -> None:
    """Raise a one-line `UserError` for an unknown dataset, split or option."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    spec = DATASETS[name]
    if split is not None and split.split("[")[0] not in spec.splits:
        raise UserError(f"dataset {name!r} has no split {split!r}; it has {list(spec.splits)}")
    if with_labels and spec.num_classes is None:
        raise UserError(f"dataset {name!r} has no class labels")
    if image_range is not None and image_range not in IMAGE_RANGES:
        raise UserError(f"unknown image_range {image_range!r}; choose one of {list(IMAGE_RANGES)}")


def _prepare(name: str, directory: Path):
    """The tfds builder for `name`, built in `directory` if it is not there yet."""
    import tensorflow_datasets as tfds

    spec = DATASETS[name]
    builder = tfds.builder(spec.tfds_name, data_dir=str(directory))
    if builder.is_prepared():
        return builder
    if name == "fashion_mnist" and offline.source_available():
        manual = offline.write_manual_dir(directory / "downloads" / "manual" / "fashion_mnist")
        logging.info("building fashion_mnist from %s (offline)", offline.source_dir())
        config = tfds.download.DownloadConfig(manual_dir=str(manual))
        builder.download_and_prepare(download_config=config)
        return builder
    hint = (f"apt-get install -y dataset-fashion-mnist (or set {offline.ENV_DIR} to a "
            "directory with the four IDX .gz files)" if name == "fashion_mnist" else
            f"run once with network access, or copy a prepared tfds '{spec.tfds_name}' "
            f"directory into {directory} (or set {DATA_DIR_ENV})")
    if not _online():
        # Without this check tfds retries its downloads for minutes before failing.
        raise UserError(f"dataset {name!r} is not in {directory} and there is no network to "
                        f"download it; {hint}")
    try:
        builder.download_and_prepare()
    except Exception as err:  # tfds raises many kinds here; the user needs one line
        logging.debug("download_and_prepare(%s) failed", name, exc_info=True)
        raise UserError(f"dataset {name!r} is not in {directory} and could not be downloaded "
                        f"({type(err).__name__}); {hint}") from None
    return builder


def _online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    """Whether tfds's download host answers (a DNS lookup and a TCP connect)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


CACHE_DIR = "genjax_arrays"  # beside the tfds datasets in the data dir
CACHE_FORMAT = 1
CACHE_MAX_BYTES = 1 << 30  # larger splits are decoded every time, not copied to disk


def _source_key(name: str, split: str, directory: Path) -> str | None:
    """A hash of what a split's arrays derive from: the split, its preprocessing and every
    file of the prepared tfds dataset (path, size, modification time). None if unprepared."""
    spec = DATASETS[name]
    root = directory / spec.tfds_name.split("/")[0]
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    if not files:
        return None
    digest = hashlib.sha256(repr((CACHE_FORMAT, name, split, spec.tfds_name,
                                  spec.preprocess)).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _cache_path(name: str, split: str, directory: Path) -> Path | None:
    key = _source_key(name, split, directory)
    return None if key is None else directory / CACHE_DIR / f"{name}-{key}.npz"


def _decode(name: str, split: str, directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """The split through tfds and its per-example preprocessing in tf.data."""
    import tensorflow as tf

    builder = _prepare(name, directory)
    ds = builder.as_dataset(split=split, shuffle_files=False)
    from genjax.data import preprocess

    ds = ds.map(getattr(preprocess, DATASETS[name].preprocess),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    images, labels = [], []
    for batch in ds.batch(4096).as_numpy_iterator():
        images.append(batch["image"])
        labels.append(batch["label"])
    return np.concatenate(images), np.concatenate(labels)


@functools.lru_cache(maxsize=8)
def _load(name: str, split: str, directory: str) -> tuple[np.ndarray, np.ndarray]:
    """The decoded split, from the array cache when the tfds files it came from are unchanged.

    Decoding Fashion-MNIST's training split through tf.data takes seconds (and importing
    TensorFlow more); reading the cached arrays back takes a fraction of one. The cache is
    keyed by `_source_key`, so a rebuilt or damaged dataset is decoded afresh, and it is
    written atomically (several processes may write it at once). A data dir that cannot be
    written only costs the decode."""
    directory = Path(directory)
    cached = _cache_path(name, split, directory)
    if cached is not None and cached.is_file():
        try:
            with np.load(cached) as arrays:
                return arrays["image"], arrays["label"]
        except (OSError, ValueError, KeyError, EOFError):
            logging.warning("ignoring the unreadable array cache %s", cached)
    images, labels = _decode(name, split, directory)
    cached = _cache_path(name, split, directory)  # the dataset may have been built just now
    if cached is not None and images.nbytes + labels.nbytes <= CACHE_MAX_BYTES:
        try:
            atomic.write_with(cached, lambda f: np.savez(f, image=images, label=labels))
        except OSError as err:
            logging.info("not caching %s %s arrays in %s: %s", name, split, cached.parent, err)
    return images, labels


def load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The whole split as (uint8 images (N, H, W, C), int32 labels (N,)), cached in memory."""
    check_dataset(name, split)
    return _load(name, split, str(data_dir()))


def num_examples(name: str, split: str) -> int:
    return len(load_split(name, split)[1])


def convert_images(images: np.ndarray, image_range: str, rng: np.random.Generator | None
                   ) -> np.ndarray:
    """uint8 images -> float32 in `image_range` (see module docstring)."""
    if image_range == "[-1,1]":
        return images.astype(np.float32) / 127.5 - 1.0
    if image_range == "[0,1]":
        return images.astype(np.float32) / 255.0
    if image_range == "uint8":
        return images.astype(np.float32)
    if image_range == "binary":
        probs = images.astype(np.float32) / 255.0
        return (rng.random(probs.shape, dtype=np.float32) < probs).astype(np.float32)
    raise UserError(f"unknown image_range {image_range!r}; choose one of {list(IMAGE_RANGES)}")


def process_slice(global_batch: int) -> slice:
    """This process's contiguous share of a global batch (a one-line error if uneven)."""
    count, index = jax.process_count(), jax.process_index()
    if global_batch % count:
        raise UserError(f"batch_size={global_batch} is not divisible by {count} processes")
    local = global_batch // count
    return slice(index * local, (index + 1) * local)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The permutation of `n` examples used in `epoch`: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


def train_batch(images, labels, *, batch_size: int, seed: int, step: int, image_range: str,
                with_labels: bool) -> dict[str, np.ndarray]:
    """This process's part of the global training batch number `step`."""
    n = len(images)
    per_epoch = n // batch_size
    epoch, index = divmod(step, per_epoch)
    order = _cached_order(seed, epoch, n)
    chosen = order[index * batch_size:(index + 1) * batch_size]
    share = process_slice(batch_size)
    rng = np.random.default_rng([seed, step, 0xB17])
    if image_range == "binary":  # drawn for the global batch: the same bits on any process count
        image = convert_images(images[chosen], image_range, rng)[share]
    else:
        image = convert_images(images[chosen[share]], image_range, rng)
    chosen = chosen[share]
    batch = {"image": image}
    if with_labels:
        batch["label"] = labels[chosen].astype(np.int32)
    return batch


@functools.lru_cache(maxsize=2)
def _cached_order(seed: int, epoch: int, n: int) -> np.ndarray:
    return epoch_order(seed, epoch, n)


def train_iterator(name: str, *, batch_size: int, seed: int, split: str = "train",
                   image_range: str = "[-1,1]", with_labels: bool = False,
                   start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Infinite training batches from `start_step` on (global `batch_size`, this process's part).

    The same (seed, step) always gives the same batch, so a resumed run passes
    `start_step=state.step` and sees exactly the batches it would have seen.
    """
    check_dataset(name, split, with_labels=with_labels, image_range=image_range)
    if batch_size <= 0:
        raise UserError(f"batch_size must be positive, got {batch_size}")
    images, labels = load_split(name, split)
    return array_train_iterator(images, labels, batch_size=batch_size, seed=seed,
                                image_range=image_range, with_labels=with_labels,
                                start_step=start_step, source=f"{name}:{split}")


def array_train_iterator(images: np.ndarray, labels: np.ndarray | None, *, batch_size: int,
                         seed: int, image_range: str = "[-1,1]", with_labels: bool = False,
                         start_step: int = 0, source: str = "the arrays"
                         ) -> Iterator[dict[str, np.ndarray]]:
    """`train_iterator` over in-memory uint8 images (N, H, W, C) and int labels (N,).

    The same guarantees: batch `s` is a pure function of (seed, s) and the arrays,
    epochs are permutations of all N examples (the remainder dropped), so a resumed
    run with the same arrays sees the same batches.
    """
    if image_range not in IMAGE_RANGES:
        raise UserError(f"unknown image_range {image_range!r}; choose one of {list(IMAGE_RANGES)}")
    if batch_size <= 0:
        raise UserError(f"batch_size must be positive, got {batch_size}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise UserError(f"training images must be uint8 (N, H, W, C), got {images.dtype} "
                        f"{images.shape}")
    if with_labels and (labels is None or np.shape(labels) != (len(images),)):
        raise UserError(f"need one label per image: {len(images)} images, labels of shape "
                        f"{None if labels is None else np.shape(labels)}")
    if batch_size > len(images):
        raise UserError(f"batch_size={batch_size} exceeds the {len(images)} examples of {source}")
    return _train_batches(images, labels, batch_size, seed, image_range, with_labels, start_step)


def _train_batches(images, labels, batch_size, seed, image_range, with_labels, step):
    while True:
        yield train_batch(images, labels, batch_size=batch_size, seed=seed, step=step,
                          image_range=image_range, with_labels=with_labels)
        step += 1


def to_uint8(images, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Float images in `value_range` -> uint8 levels 0..255 (rounded, clipped), as stored splits."""
    lo, hi = value_range
    scaled = (np.asarray(images, np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def save_arrays(path: str | Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write a labelled set for `load_arrays` (an uncompressed .npz, replaced atomically)."""
    return atomic.write_with(path, lambda f: np.savez(
        f, image=np.asarray(images, np.uint8), label=np.asarray(labels, np.int32)))


def load_arrays(path: str | Path, name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, int32 labels) of a `save_arrays` file, checked against dataset `name`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"no training arrays at {path}: give an .npz holding 'image' (uint8 "
                        "N,H,W,C) and 'label' (N,)")
    stat = path.stat()
    images, labels = _load_arrays(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if name is not None:
        spec = DATASETS[name]
        if images.shape[1:] != spec.shape:
            raise UserError(f"{path} holds images of shape {images.shape[1:]}, but {name} "
                            f"images are {spec.shape}")
        if spec.num_classes is not None and len(labels) and not (
                0 <= labels.min() and labels.max() < spec.num_classes):
            raise UserError(f"{path} holds labels outside [0, {spec.num_classes}) of {name}")
    return images, labels


@functools.lru_cache(maxsize=2)
def _load_arrays(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as stored:
            images, labels = stored["image"], stored["label"]
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{path} is not a readable .npz with 'image' and 'label' arrays "
                        f"({type(err).__name__})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != (len(images),):
        raise UserError(f"{path} must hold uint8 'image' (N, H, W, C) and 'label' (N,), got "
                        f"{images.dtype} {images.shape} and {labels.shape}")
    return images, labels.astype(np.int32)


def eval_iterator(name: str, *, batch_size: int, split: str = "test",
                  image_range: str = "[-1,1]", with_labels: bool = False, seed: int = 0,
                  max_examples: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """One pass over the split (its first `max_examples` if given): each example exactly
    once, in order, padded with a mask.

    `batch_size` is global: global batch b holds examples [b·batch_size, (b+1)·batch_size),
    the last one padded, and with several processes each reads its contiguous slice of
    every global batch, as in training. So the devices see the same examples whatever
    the process count, and the sums agree bit for bit. Binarisation
    (image_range="binary") is fixed by `seed` and the example's index, so every
    evaluation sees the same data whatever the batch size or process count.
    """
    check_dataset(name, split, with_labels=with_labels, image_range=image_range)
    if batch_size <= 0:
        raise UserError(f"batch_size must be positive, got {batch_size}")
    images, labels = load_split(name, split)
    share = process_slice(batch_size)
    local = share.stop - share.start
    n = len(images) if max_examples is None else min(len(images), max_examples)
    for b in range(-(-n // batch_size)):
        lo = b * batch_size + share.start
        yield _eval_batch(images, labels, lo, min(max(n - lo, 0), local), local,
                          image_range=image_range, with_labels=with_labels, seed=seed)


def first_examples(name: str, num: int, *, split: str = "test", image_range: str = "[-1,1]",
                   with_labels: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """The split's first `num` examples as one `eval_iterator` batch of one process.

    The same on every process (for figures and other single-copy outputs, where an
    `eval_iterator` batch would hold only this process's share).
    """
    check_dataset(name, split, with_labels=with_labels, image_range=image_range)
    images, labels = load_split(name, split)
    return _eval_batch(images, labels, 0, min(num, len(images)), num, image_range=image_range,
                       with_labels=with_labels, seed=seed)


def _eval_batch(images, labels, lo: int, count: int, size: int, *, image_range: str,
                with_labels: bool, seed: int) -> dict[str, np.ndarray]:
    """Examples lo..lo+count of a split in a batch of `size` rows, padded and masked."""
    index = np.arange(lo, lo + count)
    image = np.zeros((size, *images.shape[1:]), np.float32)
    if image_range == "binary":
        # Keyed by example, so the binarised split is the same for every batch size.
        image[:count] = [convert_images(images[i], image_range,
                                        np.random.default_rng([seed, i, 0xE7A1]))
                         for i in index]
    else:
        image[:count] = convert_images(images[index], image_range, None)
    # index: each row's position in the split (padding rows continue past the end).
    batch = {"image": image, "mask": np.arange(size) < count,
             "index": (lo + np.arange(size)).astype(np.int32)}
    if with_labels:
        label = np.zeros((size,), np.int32)
        label[:count] = labels[index]
        batch["label"] = label
    return batch

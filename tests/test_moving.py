"""Stochastic Moving Fashion-MNIST (genjax/data/moving.py), on the real Fashion-MNIST items."""

import itertools

import numpy as np
import pytest

from genjax import data
from genjax.data import moving, offline
from genjax.errors import UserError

pytestmark = pytest.mark.skipif(not offline.source_available() and not
                                (data.data_dir() / "fashion_mnist").exists(),
                                reason="needs dataset-fashion-mnist (apt) or a prepared tfds dir")


@pytest.fixture(scope="module")
def train():
    return data.load_split("fashion_mnist", "train")


@pytest.fixture(scope="module")
def test():
    return data.load_split("fashion_mnist", "test")


def _seqs(split_data, indices, *, seed=0, split="train", **spec):
    images, labels = split_data
    return moving.sequences(images, labels, np.asarray(indices), seed=seed, split=split,
                            spec=moving.MovingSpec(**spec))


def _denton(start, velocity, bounces, *, limit, seq_len, deterministic):
    """Denton & Fergus's per-item loop, literally, with the clean limit: [(row, col)] per frame."""
    sy, sx = start
    dy, dx = velocity
    path = []
    for t in range(seq_len):
        if sy < 0:
            sy = 0
            if deterministic:
                dy = -dy
            else:
                dy, dx = bounces[t][0], bounces[t][1]
        elif sy > limit:
            sy = limit
            if deterministic:
                dy = -dy
            else:
                dy, dx = -bounces[t][0], bounces[t][1]
        if sx < 0:
            sx = 0
            if deterministic:
                dx = -dx
            else:
                dx, dy = bounces[t][2], bounces[t][3]
        elif sx > limit:
            sx = limit
            if deterministic:
                dx = -dx
            else:
                dx, dy = -bounces[t][2], bounces[t][3]
        path.append((sy, sx))
        sy, sx = sy + dy, sx + dx
    return path


@pytest.mark.parametrize("deterministic", [False, True])
def test_physics_matches_the_reference_loop(train, deterministic):
    spec = moving.MovingSpec(frame_size=48, num_items=3, seq_len=60, deterministic=deterministic)
    indices = np.arange(20)
    draws = moving._draws(indices, seed=4, split="train", spec=spec, num_choices=60000,
                          item_size=28)
    positions = _seqs(train, indices, seed=4, **spec._asdict())["positions"]
    for b, k in itertools.product(range(len(indices)), range(spec.num_items)):
        table = None if deterministic else draws["bounces"][b, :, k]
        path = _denton(draws["start"][b, k], draws["velocity"][b, k], table, limit=20,
                       seq_len=spec.seq_len, deterministic=deterministic)
        np.testing.assert_array_equal(positions[b, :, k], path)


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("frame_size", [64, 40, 28])
def test_items_stay_inside_the_frame(train, deterministic, frame_size):
    out = _seqs(train, np.arange(64), frame_size=frame_size, num_items=3, seq_len=200,
                deterministic=deterministic)
    positions, limit = out["positions"], frame_size - 28
    assert positions.shape == (64, 200, 3, 2) and positions.dtype == np.int32
    assert positions.min() == 0 and positions.max() == limit  # both walls are reached
    if limit:
        assert len(np.unique(positions)) == limit + 1


def _steps(positions, limit):
    """(d, wall): d[:, t] = p[t + 1] - p[t]; wall[:, t]: p[t] is on a wall, per axis."""
    return np.diff(positions, axis=1), (positions == 0) | (positions == limit)


def test_stochastic_velocity_changes_only_at_bounces(train):
    positions = _seqs(train, np.arange(64), num_items=2, seq_len=200)["positions"]
    d, wall = _steps(positions, 36)
    on_wall = wall.any(-1)
    # d_t != d_(t-1) needs a bounce at frame t or a clamp at t + 1: p[t] or p[t+1] on a wall.
    changed = (d[:, 1:] != d[:, :-1]).any(-1)
    assert not (changed & ~(on_wall[:, 1:-1] | on_wall[:, 2:])).any()
    assert changed.sum() > 1000
    # Bounces redraw speeds: an item's speed between walls takes several values.
    interior = ((positions > 0) & (positions < 36))
    interior = interior[:, 1:] & interior[:, :-1]
    speeds = [len(np.unique(np.abs(d[b, :, k, a][interior[b, :, k, a]])))
              for b, k, a in itertools.product(range(64), range(2), range(2))]
    assert np.mean(np.array(speeds) > 1) > 0.8


def test_deterministic_speed_is_constant_and_flips_only_at_walls(train):
    positions = _seqs(train, np.arange(64), num_items=2, seq_len=200,
                      deterministic=True)["positions"]
    d, wall = _steps(positions, 36)
    changed = d[:, 1:] != d[:, :-1]  # per axis: the axes are independent here
    assert not (changed & ~(wall[:, 1:-1] | wall[:, 2:])).any()
    assert changed.sum() > 1000
    interior = ((positions > 0) & (positions < 36))
    interior = interior[:, 1:] & interior[:, :-1]
    flips = 0
    for b, k, a in itertools.product(range(64), range(2), range(2)):
        steps = d[b, :, k, a][interior[b, :, k, a]]
        assert len(np.unique(np.abs(steps))) <= 1
        flips += len(np.unique(steps)) == 2
    assert flips > 100


def test_frames_are_the_clipped_sum_of_the_items(train):
    images, labels = train
    out = _seqs(train, [7, 8, 9], frame_size=40, num_items=3, seq_len=10)
    frames = out["frames"]
    assert frames.shape == (3, 10, 40, 40, 1) and frames.dtype == np.float32
    clipped = 0
    for b in range(3):
        canvas = np.zeros((10, 40, 40, 1), np.int64)
        for t, k in itertools.product(range(10), range(3)):
            r, c = out["positions"][b, t, k]
            canvas[t, r:r + 28, c:c + 28] += images[out["items"][b, k]]
        clipped += (canvas > 255).sum()
        np.testing.assert_array_equal(frames[b], np.minimum(canvas, 255).astype(np.float32)
                                      / 255.0)
    assert clipped > 0  # the items overlap and the clip is exercised
    np.testing.assert_array_equal(out["labels"], labels[out["items"]])


def test_a_sequence_is_a_pure_function_of_seed_split_and_index(train):
    a = _seqs(train, [3, 10, 11])
    b = _seqs(train, [11, 0, 3, 99])
    for key in a:
        np.testing.assert_array_equal(a[key][[0, 2]], b[key][[2, 0]])
    other_seed = _seqs(train, [3, 10, 11], seed=1)
    other_split = _seqs(train, [3, 10, 11], split="test")
    for other in (other_seed, other_split):
        assert not np.array_equal(a["positions"], other["positions"])
        assert not np.array_equal(a["items"], other["items"])
    # A longer sequence begins with the shorter one.
    longer = _seqs(train, [3, 10, 11], seq_len=40)
    for key in ("frames", "positions"):
        np.testing.assert_array_equal(a[key], longer[key][:, :15])
    np.testing.assert_array_equal(a["items"], longer["items"])
    # The deterministic variant shares the items, the start and the first step.
    fixed = _seqs(train, [3, 10, 11], deterministic=True)
    np.testing.assert_array_equal(a["items"], fixed["items"])
    np.testing.assert_array_equal(a["positions"][:, 0], fixed["positions"][:, 0])


def test_train_batches_are_exact_from_any_step(train):
    images, labels = train
    spec = moving.MovingSpec()
    batches = list(itertools.islice(moving.train_batches(images, labels, batch_size=4, seed=2,
                                                         spec=spec), 4))
    resumed = next(moving.train_batches(images, labels, batch_size=4, seed=2, spec=spec,
                                        start_step=3))
    direct = _seqs(train, np.arange(12, 16), seed=2)
    for key in batches[3]:
        np.testing.assert_array_equal(batches[3][key], resumed[key])
        np.testing.assert_array_equal(batches[3][key], direct[key])
    assert not np.array_equal(batches[0]["frames"], batches[1]["frames"])


def test_test_set_is_sequences_zero_to_num_in_chunks(test, monkeypatch):
    images, labels = test
    spec = moving.MovingSpec(num_items=2, seq_len=5)
    whole = moving.test_set(images, labels, num=7, seed=0, spec=spec)
    monkeypatch.setattr(moving, "TEST_CHUNK", 3)
    chunked = moving.test_set(images, labels, num=7, seed=0, spec=spec)
    direct = _seqs(test, np.arange(7), split="test", num_items=2, seq_len=5)
    for key in whole:
        assert whole[key].shape[0] == 7
        np.testing.assert_array_equal(whole[key], chunked[key])
        np.testing.assert_array_equal(whole[key], direct[key])


@pytest.mark.parametrize("split", ["train", "test"])
def test_sequences_show_their_splits_items_and_crops_recover_them(train, test, split):
    images, labels = {"train": train, "test": test}[split]
    if split == "train":
        out = next(moving.train_batches(images, labels, batch_size=32, seed=0,
                                        spec=moving.MovingSpec(num_items=1, seq_len=30)))
    else:
        out = moving.test_set(images, labels, num=32, seed=0,
                              spec=moving.MovingSpec(num_items=1, seq_len=30))
    picks = out["items"]
    assert picks.shape == (32, 1) and picks.dtype == np.int32
    assert 0 <= picks.min() and picks.max() < len(images) and len(np.unique(picks)) > 25
    np.testing.assert_array_equal(out["labels"], labels[picks])
    crops = moving.crop_items(out["frames"], out["positions"])
    assert crops.shape == (32, 30, 1, 28, 28, 1) and crops.dtype == np.float32
    expected = images[picks[:, 0]].astype(np.float32) / 255.0
    np.testing.assert_array_equal(crops[:, :, 0], np.broadcast_to(expected[:, None],
                                                                  crops[:, :, 0].shape))


def test_locate_item_finds_the_item_wherever_the_frame_shows_it(test):
    images, labels = test
    out = moving.test_set(images, labels, num=64, seed=0,
                          spec=moving.MovingSpec(num_items=1, seq_len=12))
    located = moving.locate_item(out["frames"])
    assert located.shape == out["positions"].shape and located.dtype == np.int32
    # Every located window holds the whole item: the same intensity as the true square.
    truth = moving.crop_items(out["frames"], out["positions"]).sum((2, 3, 4, 5))
    found = moving.crop_items(out["frames"], located).sum((2, 3, 4, 5))
    np.testing.assert_allclose(found, truth, rtol=1e-6)
    # An item with no black margin is found exactly; margins leave ties, broken toward
    # the intensity centroid, a few pixels at most from the item's square.
    assert np.abs(located - out["positions"]).max() <= 4
    assert (located == out["positions"]).all(-1).mean() > 0.3
    square = np.zeros((1, 2, 64, 64, 1), np.float32)
    square[0, 0, 7:35, 20:48] = 0.5  # a full 28x28 item at (7, 20)
    square[0, 1, 36:64, 0:28] = 1.0  # in the bottom-left corner
    square[0, 1, 0:5, 50:60] = 0.2  # beside a fainter blob
    np.testing.assert_array_equal(moving.locate_item(square)[0, :, 0], [[7, 20], [36, 0]])
    with pytest.raises(UserError, match="locate_item needs frames") as err:
        moving.locate_item(np.zeros((2, 3, 20, 20, 1)))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs,message", [
    (dict(frame_size=20, num_items=2, seq_len=15),
     "moving.frame_size (20) must be at least the item size (28)"),
    (dict(frame_size=64, num_items=0, seq_len=15), "moving.num_items (0)"),
    (dict(frame_size=64, num_items=2, seq_len=1), "moving.seq_len (1)"),
    (dict(frame_size=64, num_items=2, seq_len=15, num_cond=15), "num_cond (15)"),
    (dict(frame_size=64, num_items=2, seq_len=15, num_cond=0), "num_cond (0)"),
])
def test_check_moving_errors(kwargs, message):
    with pytest.raises(UserError) as err:
        moving.check_moving(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)
    moving.check_moving(64, 2, 15, num_cond=5)


def test_bad_inputs_are_user_errors(train):
    images, labels = train
    spec = moving.MovingSpec()
    cases = [
        (lambda: _seqs(train, [0], max_speed=0), "moving.max_speed"),
        (lambda: _seqs(train, [0], split="validation"), "split"),
        (lambda: _seqs(train, [0], seed=-1), "seed"),
        (lambda: _seqs(train, [-1]), "indices"),
        (lambda: moving.sequences(images[:10] / 255.0, labels[:10], [0], seed=0,
                                  split="train", spec=spec), "uint8"),
        (lambda: moving.train_batches(images, labels, batch_size=0, seed=0, spec=spec),
         "batch_size"),
        (lambda: moving.crop_items(np.zeros((2, 3, 64, 64, 1)), np.zeros((2, 4, 1, 2), int)),
         "crop_items"),
    ]
    for call, message in cases:
        with pytest.raises(UserError, match=message) as err:
            call()
        assert "\n" not in str(err.value)

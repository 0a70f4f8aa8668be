"""Videos on disk and in TensorBoard: GIF encoding, the prediction figures, the writer."""

import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

from genjax.eval import video
from genjax.io import gif
from genjax.io.writers import make_writer, read_jsonl


def _videos(shape, seed=0):
    """Floats in [0, 1] on 64 gray levels: with the two border colours and white, a figure
    has fewer than 256 colours, so that its GIF is exact."""
    return np.random.default_rng(seed).integers(0, 64, shape).astype(np.float32) * 4 / 255


def _decode(data: bytes, mode: str = "RGB") -> tuple[np.ndarray, list[int]]:
    """All frames of a GIF as (T, H, W, ...) uint8, and their durations."""
    frames = ImageSequence.all_frames(Image.open(io.BytesIO(data)))
    return (np.stack([np.asarray(f.convert(mode)) for f in frames]),
            [f.info["duration"] for f in frames])


def _upscale(frame, scale):
    return frame.repeat(scale, axis=0).repeat(scale, axis=1)


# ---------------------------------------------------------------- GIF encoding


def test_grayscale_gif_round_trip_is_exact():
    frames = np.random.default_rng(0).random((6, 8, 10, 1), np.float32)
    levels = gif.frames_to_uint8(frames)
    decoded, durations = _decode(gif.gif_bytes(frames), "L")
    np.testing.assert_array_equal(decoded, levels[..., 0])
    assert durations == [gif.FRAME_MS] * 6
    decoded, durations = _decode(gif.gif_bytes(levels, scale=3, frame_ms=40, last_frame_ms=500),
                                 "L")
    assert decoded.shape == (6, 24, 30)
    np.testing.assert_array_equal(decoded[4], _upscale(levels[4, ..., 0], 3))
    assert durations == [40] * 5 + [500]


def test_rgb_gif_round_trip_is_exact_under_256_colours():
    frames = gif.frames_to_uint8(_colour(_videos((4, 6, 7, 1))))
    decoded, _ = _decode(gif.gif_bytes(frames))
    np.testing.assert_array_equal(decoded, frames)


def test_identical_consecutive_frames_are_merged_into_one_longer_frame():
    a, b = _videos((2, 1, 4, 4, 1))
    decoded, durations = _decode(gif.gif_bytes(np.concatenate([a, a, a, b])), "L")
    assert len(decoded) == 2 and durations == [3 * gif.FRAME_MS, gif.FRAME_MS]


def test_tile_videos_puts_videos_side_by_side_with_white_between():
    videos = _videos((3, 4, 5, 6, 1))
    tiled = gif.tile_videos(videos, pad=2)
    assert tiled.shape == (4, 5, 3 * 6 + 2 * 2, 1)
    np.testing.assert_array_equal(tiled[:, :, 16:22], gif.frames_to_uint8(videos[2]))
    assert (tiled[:, :, 6:8] == 255).all() and (tiled[:, :, 14:16] == 255).all()


# ---------------------------------------------------------------- prediction figures

N, S, T, H, W, NUM_COND = 2, 3, 5, 8, 9, 2
TILE_H, TILE_W = H + 2 * video.BORDER, W + 2 * video.BORDER


def _colour(gray):
    """Gray (..., 1) videos -> RGB ones with as few colours (a colour per gray level)."""
    return np.concatenate([gray, 1.0 - gray, gray / 2], axis=-1)


def _truth_and_samples(channels):
    truth = _videos((N, T, H, W, 1), seed=1)
    samples = _videos((N, S, T, H, W, 1), seed=2)
    if channels == 3:
        truth, samples = _colour(truth), _colour(samples)
    samples[:, :, :NUM_COND] = truth[:, None, :NUM_COND]
    return truth, samples


def _tile(image, row, col):
    top, left = video.PAD + row * (TILE_H + video.PAD), video.PAD + col * (TILE_W + video.PAD)
    return image[top:top + TILE_H, left:left + TILE_W]


def _assert_tile(tile, frame, colour):
    b = video.BORDER
    rgb = np.broadcast_to(gif.frames_to_uint8(frame), (H, W, 3))
    np.testing.assert_array_equal(tile[b:-b, b:-b], rgb)
    border = np.concatenate([tile[:b].reshape(-1, 3), tile[-b:].reshape(-1, 3),
                             tile[:, :b].reshape(-1, 3), tile[:, -b:].reshape(-1, 3)])
    assert (border == colour).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_video_gif_rows_are_truth_then_samples_with_borders(tmp_path, channels):
    truth, samples = _truth_and_samples(channels)
    path = video.save_video_gif(truth, samples, NUM_COND, tmp_path / "f" / "pred.gif", scale=2)
    frames, durations = _decode(path.read_bytes())
    height = video.PAD + N * (TILE_H + video.PAD)
    width = video.PAD + (1 + S) * (TILE_W + video.PAD)
    assert frames.shape == (T, 2 * height, 2 * width, 3)
    assert durations == [gif.FRAME_MS] * (T - 1) + [video.LAST_FRAME_MS]
    frames = frames[:, ::2, ::2]  # each pixel is a 2 x 2 block
    for t in range(T):
        real = video.GREEN if t < NUM_COND else video.RED
        _assert_tile(_tile(frames[t], 1, 0), truth[1, t], video.GREEN)
        _assert_tile(_tile(frames[t], 1, 3), samples[1, 2, t], real)
        _assert_tile(_tile(frames[t], 0, 1), samples[0, 0, t], real)
    assert (frames[:, :video.PAD] == 255).all() and (frames[:, :, -video.PAD:] == 255).all()


def test_video_strip_has_a_row_per_video_and_a_column_per_kept_step(tmp_path):
    truth, samples = _truth_and_samples(1)
    path = video.save_video_strip(truth, samples, NUM_COND, tmp_path / "strip.png", every=2)
    image = np.asarray(Image.open(path))
    steps = [0, 2, 4]
    assert image.shape == (video.PAD + N * (1 + S) * (TILE_H + video.PAD),
                           video.PAD + len(steps) * (TILE_W + video.PAD), 3)
    for col, t in enumerate(steps):
        real = video.GREEN if t < NUM_COND else video.RED
        _assert_tile(_tile(image, 1 + S, col), truth[1, t], video.GREEN)  # sequence 1's truth
        _assert_tile(_tile(image, 1 + S + 2, col), samples[1, 1, t], real)


def test_figures_reject_mismatched_shapes(tmp_path):
    truth, samples = _truth_and_samples(1)
    with pytest.raises(ValueError, match="do not match"):
        video.save_video_strip(truth, samples[:, :, 1:], NUM_COND, tmp_path / "x.png")
    with pytest.raises(ValueError, match="num_cond"):
        video.save_video_gif(truth, samples, T + 1, tmp_path / "x.gif")


def test_metric_curves_plot(tmp_path):
    steps = np.arange(10)
    curves = {"SVG-LP best": 0.9 - 0.02 * steps, "SVG-LP mean": 0.85 - 0.03 * steps,
              "deterministic": 0.88 - 0.05 * steps}
    path = video.plot_metric_curves(curves, tmp_path / "ssim.png", ylabel="SSIM",
                                    first_step=5, title="SSIM per predicted frame")
    image = Image.open(path).convert("RGB")
    width, height = video.PLOT_SIZE
    assert image.size == (round(width * video.PLOT_DPI), round(height * video.PLOT_DPI))
    pixels = np.asarray(image).reshape(-1, 3)
    assert (pixels == (31, 119, 180)).all(axis=1).sum() > 100  # the first line, colour C0
    assert len(np.unique(pixels, axis=0)) > 50


# ---------------------------------------------------------------- TensorBoard


def test_tensorboard_writer_writes_videos_as_gif_images(tmp_path):
    import tensorflow as tf
    from tensorboard.backend.event_processing import plugin_event_accumulator

    batch = _videos((2, 4, 6, 5, 1))
    single = gif.frames_to_uint8(_colour(_videos((3, 7, 4, 1), seed=1)))
    writer = make_writer(tmp_path)
    writer.write_scalars(3, {"loss": 0.5})
    writer.write_videos(3, {"predictions": batch, "single": single})
    writer.write_images(3, {"grid": np.zeros((1, 4, 4, 1), np.float32)})
    writer.flush()

    (event_file,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    values = {v.tag: v for e in tf.compat.v1.train.summary_iterator(str(event_file))
              for v in e.summary.value}
    assert {"loss", "predictions", "single", "grid"} <= set(values)
    for name, expected in [("predictions", gif.tile_videos(batch)), ("single", single)]:
        assert values[name].metadata.plugin_data.plugin_name == "images"
        width, height, encoded = tf.make_ndarray(values[name].tensor)
        assert (int(width), int(height)) == (expected.shape[2], expected.shape[1])
        decoded, _ = _decode(encoded, "L" if expected.shape[-1] == 1 else "RGB")
        np.testing.assert_array_equal(decoded, expected[..., 0] if name == "predictions"
                                      else expected)
    accumulator = plugin_event_accumulator.EventAccumulator(str(tmp_path / "tb"))
    accumulator.Reload()  # what TensorBoard itself sees: images, with the GIF as the blob
    assert {"predictions", "single", "grid"} <= set(accumulator.PluginTagToContent("images"))
    assert read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 3, "loss": 0.5}]

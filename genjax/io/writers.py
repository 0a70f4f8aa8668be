"""Metric writers: TensorBoard event files, a JSONL file and the log, through clu.

`make_writer(workdir)` returns a clu `MetricWriter` that writes scalars to
TensorBoard event files under `workdir/tb` (clu's `SummaryWriter`), appends
one JSON object per `write_scalars` call to `workdir/metrics.jsonl`, and logs
them. Images and videos go to TensorBoard only.

clu's `SummaryWriter` drops videos (it logs a warning), so `TensorBoardWriter` wraps it
and writes each video as an animated GIF in an image summary, as tensorboardX's
`add_video` does: TensorBoard's images dashboard serves the encoded bytes with the MIME
type it sniffs, and a browser plays a GIF. The summary is the TF2 image format that
`tf.summary.image` writes (a string tensor `[width, height, encoded]` with the image
plugin's metadata), written through clu's public `write_summaries` into the same event
file as the scalars and images.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import numpy as np

from genjax.io.gif import gif_bytes, tile_videos


def _to_float(value) -> float | None:
    value = float(np.asarray(value))
    return value if math.isfinite(value) else None


class JsonlWriter:
    """Appends `{"step": s, name: value, ...}` lines; non-finite values are written as null.

    clu's `MetricWriter` interface, duck-typed: subclassing it would import clu's
    writers, and with them TensorFlow, whenever this module is imported.
    """

    def __init__(self, path: str | Path):
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._path.open("a")

    def write_scalars(self, step, scalars):
        record = {"step": int(step), **{k: _to_float(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")

    def write_summaries(self, step, values, metadata=None):
        pass

    def write_images(self, step, images):
        pass

    def write_videos(self, step, videos):
        pass  # a scalars file: videos go to TensorBoard (`TensorBoardWriter`)

    def write_audios(self, step, audios, *, sample_rate):
        pass

    def write_texts(self, step, texts):
        pass

    def write_histograms(self, step, arrays, num_buckets=None):
        pass

    def write_hparams(self, hparams):
        pass

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


class TensorBoardWriter:
    """clu's `SummaryWriter` on `logdir`, plus videos as animated GIFs in the images dashboard.

    Every other `MetricWriter` method is the wrapped writer's (duck-typed, as `JsonlWriter`,
    so that importing this module does not import TensorFlow).
    """

    def __init__(self, logdir: str | Path):
        from clu.metric_writers import SummaryWriter

        self._writer = SummaryWriter(str(logdir))

    def __getattr__(self, name):
        if name == "_writer":  # not yet set (e.g. during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._writer, name)

    def write_videos(self, step, videos):
        """One animated GIF per name: a (T, H, W, C) video, or (N, T, H, W, C) videos side by
        side 2 px apart on white (`tile_videos`); floats in [0, 1] or uint8, C = 1 or 3."""
        from tensorboard.plugins.image import metadata as image_metadata

        values, metadata = {}, {}
        for name, video in videos.items():
            video = np.asarray(video)
            frames = tile_videos(video[None] if video.ndim == 4 else video)
            height, width = frames.shape[1:3]
            values[name] = np.array([str(width).encode(), str(height).encode(),
                                     gif_bytes(frames)], dtype=object)
            metadata[name] = image_metadata.create_summary_metadata(display_name=None,
                                                                   description=None)
        self._writer.write_summaries(step, values, metadata)


def make_writer(workdir: str | Path, *, log: bool = True):
    """A clu `MetricWriter`: TensorBoard + JSONL (+ logging, unless `log=False`) on
    process 0; logging elsewhere."""
    # Imported here: clu's writers import TensorFlow (about 3.4 s), which every command
    # would otherwise pay before it can even report a bad flag.
    from clu import metric_writers

    workdir = Path(workdir)
    if jax.process_index() > 0:
        return metric_writers.LoggingWriter()
    return metric_writers.MultiWriter([
        TensorBoardWriter(workdir / "tb"),
        JsonlWriter(workdir / "metrics.jsonl"),
        *([metric_writers.LoggingWriter()] if log else []),
    ])


def read_jsonl(path: str | Path) -> list[dict]:
    """All records of a metrics.jsonl file."""
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def write_final_metrics(workdir: str | Path) -> Path | None:
    """`<workdir>/final_metrics.json`: the last `metrics.jsonl` record with `eval/` scalars
    (the one place that writes it); None when the run logged no evaluation."""
    workdir = Path(workdir)
    evals = [r for r in read_jsonl(workdir / "metrics.jsonl")
             if any(k.startswith("eval/") for k in r)]
    if not evals:
        return None
    path = workdir / "final_metrics.json"
    path.write_text(json.dumps(evals[-1], indent=2))
    return path

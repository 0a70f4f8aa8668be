"""Metric writers: TensorBoard event files, a JSONL file and the log, through clu.

`make_writer(workdir)` returns a clu `MetricWriter` that writes scalars to
TensorBoard event files under `workdir/tb` (clu's `SummaryWriter`), appends
one JSON object per `write_scalars` call to `workdir/metrics.jsonl`, and logs
them. Images go to TensorBoard.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import numpy as np


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
        pass

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


def make_writer(workdir: str | Path):
    """A clu `MetricWriter`: TensorBoard + JSONL + logging on process 0; logging elsewhere."""
    # Imported here: clu's writers import TensorFlow (about 3.4 s), which every command
    # would otherwise pay before it can even report a bad flag.
    from clu import metric_writers

    workdir = Path(workdir)
    if jax.process_index() > 0:
        return metric_writers.LoggingWriter()
    return metric_writers.MultiWriter([
        metric_writers.SummaryWriter(str(workdir / "tb")),
        JsonlWriter(workdir / "metrics.jsonl"),
        metric_writers.LoggingWriter(),
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

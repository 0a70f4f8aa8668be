"""Video prediction studies: per-step quality over sampled futures, identity over time, and
futures of a user's own frames.

`quality_report(workdirs)` is the protocol of Denton & Fergus 2018 (Section 5) on
the fixed Stochastic Moving Fashion-MNIST test set (genjax/data/moving.py; the
data seed `EVAL_SEED` of genjax/train/tasks/svg.py, so every run sees the same
sequences): `num_sequences` test sequences, each continued from its first
`num_cond` true frames by `num_samples` sampled futures of `num_future` frames,
every predicted frame scored against the truth by PSNR and SSIM, best and mean
over the samples, and its sharpness (gradient energy) over the true frame's
(genjax/eval/video_metrics.py). The deterministic model draws the
same future every time, so it is sampled once. All runs must share the frames'
spec and `num_cond`. It writes, under `output`: psnr.png, ssim.png and
sharpness.png (the metric against the predicted step, one line per method and
statistic), a GIF and a PNG strip per method (4 sequences, the truth and 3
samples), and report.json.

`identity_report(workdir)` asks whether items keep their class: on the 1-item
variant of the test set it crops the 28x28 window at the item's true position
(the data generator knows it) in every predicted frame and takes the shipped
Fashion-MNIST classifier's accuracy on the crops at the given predicted steps,
beside the same crops of the true frames (the ceiling). After a stochastic bounce
a good sample may put the item elsewhere than the truth, so the report also
crops each predicted frame where it shows its item (`moving.locate_item`, the
brightest 28x28 window): that asks whether the item kept its class wherever it
went. A run trained on 2-item frames is scored on 1-item test frames; the report
says which.

Steps are counted from the first predicted frame: step k is frame num_cond + k - 1
(0-based) of the sequence. Tables, plots and merging reports written apart are in
genjax/studies/video_report.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from genjax.data import moving
from genjax.errors import UserError, check_counts
from genjax.eval import accuracy, video, video_metrics
from genjax.models import pretrained
from genjax.studies import video_report
from genjax.train.runs import Run, load_run
from genjax.train.tasks.svg import SVGTask

METHOD_NAMES = {"learned": "SVG-LP", "fixed": "SVG-FP", "none": "deterministic"}
IDENTITY_STEPS = (5, 10, 20, 100)
CLASSIFIER = "fashion_mnist_cnn"
FIGURE_SEQUENCES, FIGURE_SAMPLES = 4, 3


def load_video_run(workdir: str | Path, step: int | None = None) -> Run:
    """A trained SVG run (`experiments.svg`), or a one-line `UserError`."""
    run = load_run(workdir, step)
    if not isinstance(run.task, SVGTask):
        raise UserError(f"{workdir} is a {run.config.task!r} run; video studies need an SVG "
                        "run (python -m experiments.svg)")
    return run


def as_video_run(run: Run | str | Path) -> Run:
    """`run` itself when it is a loaded `Run` (its compiled samplers are reused), else
    `load_video_run(run)`."""
    if isinstance(run, Run):
        if not isinstance(run.task, SVGTask):
            raise UserError(f"{run.workdir} is a {run.config.task!r} run; video studies need "
                            "an SVG run")
        return run
    return load_video_run(run)


def method_name(run: Run) -> str:
    return METHOD_NAMES[run.config.model.prior]


def _same_setting(runs: list[Run]) -> None:
    first = runs[0].config
    for run in runs[1:]:
        for field in ("num_cond",):
            if run.config[field] != first[field]:
                raise UserError(f"{run.workdir} has {field}={run.config[field]}, "
                                f"{runs[0].workdir} {first[field]}: compare like with like")
        if run.config.moving.to_dict() != first.moving.to_dict():
            raise UserError(f"{run.workdir} and {runs[0].workdir} were trained on different "
                            f"frames ({run.config.moving.to_dict()} vs "
                            f"{first.moving.to_dict()})")


def sampled_scores(run: Run, *, num_sequences: int, num_samples: int, num_future: int,
                   batch_size: int) -> tuple[dict[str, np.ndarray], dict]:
    """Per-sequence best / mean curves {name: (num_sequences, num_future)} and figure data.

    Sequences are sampled `batch_size` at a time and scored as they come, so memory holds
    one batch of futures, not the whole set.
    """
    task, c = run.task, run.config
    test = task.test_set(num_sequences, c.num_cond + num_future)
    per_sequence: dict[str, list[np.ndarray]] = {}
    figure = None
    for chunk, futures in task.futures_in_batches(
            run.state.params, test["frames"][:, :c.num_cond], num_frames=c.num_cond + num_future,
            num_samples=num_samples, batch_size=batch_size):
        scores = video_metrics.frame_scores(test["frames"][chunk], futures)
        curves = video_metrics.best_and_mean(
            {k: np.asarray(v)[..., c.num_cond:] for k, v in scores.items()})
        curves["energy_mean"] = np.asarray(
            video_metrics.gradient_energy(futures[:, :, c.num_cond:])).mean(1)
        curves["energy_truth"] = np.asarray(
            video_metrics.gradient_energy(test["frames"][chunk][:, c.num_cond:]))
        for name, value in curves.items():
            per_sequence.setdefault(name, []).append(value)
        if figure is None:
            figure = {"truth": test["frames"][chunk[:FIGURE_SEQUENCES]],
                      "samples": futures[:FIGURE_SEQUENCES, :FIGURE_SAMPLES]}
    return {k: np.concatenate(v) for k, v in per_sequence.items()}, figure


def samples_for(run: Run, num_samples: int) -> int:
    """Futures to draw per sequence: 1 for the deterministic model, whose futures are all the
    same, else `num_samples`."""
    return 1 if run.config.model.prior == "none" else num_samples


def quality_report(workdirs: list[Run | str | Path], *, num_sequences: int = 256,
                   num_samples: int = 100, num_future: int = 20, batch_size: int = 8,
                   output: str | Path | None = None) -> dict:
    """Per-step PSNR / SSIM, best and mean over samples, for each run; see the module doc."""
    check_counts(num_sequences=num_sequences, num_samples=num_samples, num_future=num_future,
                 batch_size=batch_size)
    runs = [as_video_run(w) for w in workdirs]
    _same_setting(runs)
    names = [method_name(r) for r in runs]
    if len(set(names)) != len(names):
        raise UserError(f"two runs of the same model ({names}); give one run per model")
    num_cond = runs[0].config.num_cond
    report = {"num_sequences": num_sequences, "num_samples": num_samples,
              "num_future": num_future, "num_cond": num_cond,
              "moving": runs[0].config.moving.to_dict(), "methods": {}}
    for run, name in zip(runs, names, strict=True):
        started = time.perf_counter()
        samples = samples_for(run, num_samples)
        per_sequence, figure = sampled_scores(
            run, num_sequences=num_sequences, num_samples=samples, num_future=num_future,
            batch_size=min(batch_size, num_sequences))
        curves = video_metrics.curves(per_sequence)
        report["methods"][name] = {
            "workdir": str(run.workdir), "step": run.step, "num_samples": samples,
            "curves": {k: [float(x) for x in v] for k, v in curves.items()},
            "seconds": time.perf_counter() - started}
        if output is not None:
            slug = name.lower().replace("-", "_")
            video.save_video_gif(figure["truth"], figure["samples"], num_cond,
                                 Path(output) / f"{slug}.gif")
            video.save_video_strip(figure["truth"], figure["samples"], num_cond,
                                   Path(output) / f"{slug}.png", every=2)
    if output is not None:
        video_report.plots(report, Path(output))
        Path(output, "report.json").write_text(json.dumps(report, indent=2))
    return report


def identity_report(workdir: Run | str | Path, *, num_sequences: int = 256,
                    num_samples: int = 10, steps: tuple[int, ...] = IDENTITY_STEPS,
                    batch_size: int = 8) -> dict:
    """The classifier's accuracy on the predicted item per step: cropped at the item's true
    position, and where the predicted frame shows it (`moving.locate_item`)."""
    run = as_video_run(workdir)
    task, c = run.task, run.config
    if min(steps) < 1:
        raise UserError(f"steps are counted from 1 (the first predicted frame), got {steps}")
    model, variables, _ = pretrained.load(CLASSIFIER)
    one_item = c.moving.to_dict() | {"num_items": 1}
    spec = moving.MovingSpec(**{k: one_item[k] for k in moving.MovingSpec._fields
                                if k in one_item}, seq_len=c.num_cond + max(steps))
    items, labels = task.test_items()
    test = moving.test_set(items, labels, num=num_sequences, seed=task.eval_seed, spec=spec)
    frames = [c.num_cond + s - 1 for s in steps]
    samples = samples_for(run, num_samples)
    correct = {"true": np.zeros(len(steps)), "located": np.zeros(len(steps))}
    truth_correct = {"true": np.zeros(len(steps)), "located": np.zeros(len(steps))}

    def hits(crops: np.ndarray, label: np.ndarray) -> np.ndarray:
        predicted = accuracy.predicted_classes(
            model, variables, crops.reshape(-1, *crops.shape[2:]), value_range=(0.0, 1.0),
            batch_size=crops.shape[0] * crops.shape[1]).reshape(crops.shape[:2])
        return (predicted == label[:, None]).sum(0)

    started = time.perf_counter()
    for chunk, futures in task.futures_in_batches(
            run.state.params, test["frames"][:, :c.num_cond], num_frames=spec.seq_len,
            num_samples=samples, batch_size=batch_size):
        positions = test["positions"][chunk][:, frames]  # (B, steps, 1, 2)
        label = test["labels"][chunk][:, 0]  # (B,)
        for s in range(samples):
            predicted = futures[:, s, frames]
            correct["true"] += hits(moving.crop_items(predicted, positions)[:, :, 0], label)
            correct["located"] += hits(moving.crop_items(
                predicted, moving.locate_item(predicted))[:, :, 0], label)
        truth = test["frames"][chunk][:, frames]
        truth_correct["true"] += hits(moving.crop_items(truth, positions)[:, :, 0], label)
        truth_correct["located"] += hits(moving.crop_items(
            truth, moving.locate_item(truth))[:, :, 0], label)
    return {"method": method_name(run), "workdir": str(run.workdir), "step": run.step,
            "trained_items": c.moving.num_items, "num_sequences": num_sequences,
            "num_samples": samples, "steps": list(steps),
            "accuracy": [float(x) for x in correct["true"] / (num_sequences * samples)],
            "accuracy_located": [float(x)
                                 for x in correct["located"] / (num_sequences * samples)],
            "true_frames_accuracy": [float(x) for x in truth_correct["true"] / num_sequences],
            "true_frames_accuracy_located": [float(x)
                                             for x in truth_correct["located"] / num_sequences],
            "seconds": time.perf_counter() - started}


def user_futures(workdir: Run | str | Path, frames: np.ndarray | None, *, num: int,
                 num_frames: int, num_samples: int = 1, seed: int = 0,
                 output: str | Path, batch_size: int = 8) -> Path:
    """Sampled futures of `frames` (N, T >= num_cond, S, S[, C]) or, when None, of the first
    `num` test sequences; writes futures.npy (N, samples, num_frames, S, S, C) in [0, 1],
    futures.gif and futures.png under `output`."""
    run = as_video_run(workdir)
    task, c = run.task, run.config
    if num_frames <= c.num_cond:
        raise UserError(f"--frames ({num_frames}) must be more than the {c.num_cond} "
                        "conditioning frames the model reads")
    truth = None
    if frames is None:
        test = task.test_set(num, num_frames)
        frames, truth = test["frames"], test["frames"]
    else:
        frames = as_user_frames(frames, c.moving.frame_size, c.num_cond,
                                channels=task.model.channels)[:num]
    futures = np.concatenate([out for _, out in task.futures_in_batches(
        run.state.params, frames[:, :c.num_cond], num_frames=num_frames,
        num_samples=num_samples, batch_size=batch_size, seed=seed)])
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    np.save(output / "futures.npy", futures)
    shown = slice(0, FIGURE_SEQUENCES)
    video.save_video_gif(None if truth is None else truth[shown], futures[shown][:, :4],
                         c.num_cond, output / "futures.gif")
    video.save_video_strip(None if truth is None else truth[shown], futures[shown][:, :4],
                           c.num_cond, output / "futures.png", every=max(1, num_frames // 25))
    return output


def as_user_frames(frames: np.ndarray, size: int, num_cond: int, *, channels: int = 1
                   ) -> np.ndarray:
    """A user's frames as float32 (N, T, size, size, channels) in [0, 1], or a one-line error.

    Accepts (N, T, size, size) or (N, T, size, size, channels), uint8 (0..255) or floats in
    [0, 1], with T >= num_cond.
    """
    frames = np.asarray(frames)
    if frames.ndim == 4 and channels == 1:
        frames = frames[..., None]
    if frames.ndim != 5 or frames.shape[2:] != (size, size, channels):
        raise UserError(f"frames must be (N, T, {size}, {size}) or (N, T, {size}, {size}, "
                        f"{channels}); got {frames.shape}")
    if frames.shape[1] < num_cond:
        raise UserError(f"the model reads {num_cond} conditioning frames; the input has "
                        f"{frames.shape[1]} per sequence")
    if len(frames) == 0:
        raise UserError("no sequences in the input")
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / 255.0
    frames = frames.astype(np.float32)
    if not np.isfinite(frames).all() or frames.min() < 0 or frames.max() > 1:
        raise UserError("float frames must be finite and in [0, 1] (or give uint8 0..255)")
    return frames

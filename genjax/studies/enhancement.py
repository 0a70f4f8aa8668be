"""Compare image-enhancement methods on the same degraded test pairs.

`compare_methods(task, workdirs={"pix2pix": ..., "unet": ...})` degrades the
first `num_examples` test images with genjax.data.pairs' fixed eval seed (every
method sees the same inputs) and scores each method's outputs:

- psnr, ssim: against the targets (genjax.eval.enhancement, dm-pix);
- classifier_fd: the Fréchet distance (Heusel et al. 2017's formula) between the
  shipped Fashion-MNIST classifier's features of the outputs and of the same real
  test images (genjax.eval.metrics, the real features cached on disk);
- accuracy: that classifier's top-1 accuracy on the outputs with the true labels
  (`real_accuracy` in the record: on the clean targets);
- fid, only for the methods named in `fid`: FID (genjax.eval.metrics, the TF FID
  Inception network) of the outputs against the same real test images. An Inception
  pass over 10,000 images takes about 11 minutes on a 2-vCPU CPU (ONNX Runtime at
  15.8 images/s, bench/inception_throughput.txt), so it is opt-in
  per method; the real images' features and each method's (keyed by a digest of its
  output bytes) are cached on disk, so a rerun does not pay for them again.

Methods: `identity` (the degraded input itself; not for edges, whose input is
no image), the classical baselines of genjax.eval.classical (each one-parameter
filter tuned on the first `TUNE_EXAMPLES` TRAIN pairs, degraded as the eval pairs
are, by mean PSNR), and each trained run. `seconds` is the wall time to produce
a method's outputs (a trained run's includes compiling its translation; a
classical filter's excludes its tuning, recorded as `tune_seconds`). `task` is a
name of `TASKS` (the pairs of experiments/configs/pix2pix_<name>.py) or a config
with data.{name, train_split, eval_split} and pairs.*. With `output`, the record
goes to <output>.json, the table to <output>.md and a grid of the first
`GRID_EXAMPLES` pairs to <output>.png (a row per example: input | each method
except the identity | target).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from genjax import data
from genjax.data import pairs
from genjax.errors import UserError
from genjax.eval import accuracy, enhancement
from genjax.eval import classical as classical_lib
from genjax.eval import images as image_io
from genjax.eval import metrics as eval_metrics
from genjax.models import pretrained
from genjax.studies.enhance import image_to_image_config, translate_all
from genjax.train.runs import load_run

METRICS = ("psnr", "ssim", "classifier_fd", "accuracy")
FID_BATCH = 100  # images per Inception batch (299x299 inputs)
TASKS = {  # name -> (pairs.name, its options): experiments/configs/pix2pix_<name>.py
    "sr2": ("super_resolution", {"scale": 2}), "sr4": ("super_resolution", {"scale": 4}),
    "inpaint_centre": ("inpaint_centre", {"mask_size": 14}),
    "inpaint_box": ("inpaint_box", {"box_min": 8, "box_max": 16}),
    "denoise": ("denoise_gaussian", {"sigma": 0.3}),
    "denoise_sp": ("denoise_salt_pepper", {"fraction": 0.1}), "edges": ("edges", {}),
}
TUNE_EXAMPLES = 500  # the first train pairs that choose a filter parameter
GRID_EXAMPLES = 8  # rows of <output>.png: input | each method | target
COLUMNS = {"psnr": ("PSNR (dB)", ".2f"), "ssim": ("SSIM", ".4f"),
           "classifier_fd": ("classifier FD", ".2f"), "fid": ("FID", ".2f"),
           "accuracy": ("accuracy", ".4f"),
           "seconds": ("seconds", ".2f")}


def resolve_task(task) -> dict:
    """{"dataset", "train_split", "split", "pairs", "options"} of a TASKS name or a config."""
    if isinstance(task, str):
        if task not in TASKS:
            raise UserError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
        name, options = TASKS[task]
        return {"dataset": "fashion_mnist", "train_split": "train", "split": "test",
                "pairs": name, "options": dict(options)}
    name = task.pairs.name
    data.check_dataset(task.data.name, task.data.eval_split)
    pairs.check_pairs(name, task.pairs, data.DATASETS[task.data.name].shape)
    return {"dataset": task.data.name, "train_split": task.data.train_split,
            "split": task.data.eval_split, "pairs": name,
            "options": {k: task.pairs[k] for k in pairs.PAIRS[name].options}}


def _check_workdir(workdir, spec: dict):
    config = image_to_image_config(workdir)
    if config.task != "pix2pix":
        raise UserError(f"{workdir} holds a {config.task!r} run, not a paired (pix2pix) run; "
                        "score a CycleGAN with python -m experiments.translate_eval")
    trained = {k: config.pairs[k] for k in pairs.PAIRS[config.pairs.name].options}
    if (config.data.name, config.pairs.name, trained) != (spec["dataset"], spec["pairs"],
                                                          spec["options"]):
        raise UserError(f"{workdir} was trained on {config.data.name} {config.pairs.name} "
                        f"{trained}, not the {spec['dataset']} {spec['pairs']} "
                        f"{spec['options']} being compared")
    return config


def _scores(outputs, targets, labels, spec, metrics, classifier, batch_size) -> dict:
    """The requested metrics of outputs (N, H, W, 1) in [-1, 1]."""
    out = {}
    if {"psnr", "ssim"} & set(metrics):
        quality = enhancement.split_scores(lambda x: x, outputs, targets, batch_size=batch_size)
        out.update({k: quality[k] for k in ("psnr", "ssim") if k in metrics})
    if "classifier_fd" in metrics:
        out["classifier_fd"] = eval_metrics.classifier_frechet_distance(
            outputs, dataset=spec["dataset"], split=spec["split"], num_samples=len(outputs),
            batch_size=batch_size)
    if "accuracy" in metrics:
        out["accuracy"] = accuracy.images_accuracy(*classifier, outputs, labels,
                                                   batch_size=batch_size)
    return out


def _fid(outputs, spec) -> float:
    """FID of outputs in [-1, 1] against the same number of real split images, both cached."""
    net = eval_metrics.feature_net("inception")
    real = eval_metrics.reference_features(spec["dataset"], spec["split"], net,
                                           num_samples=len(outputs), batch_size=FID_BATCH)
    fake = eval_metrics.cached_features(
        eval_metrics.array_key(f"{spec['dataset']}-{spec['split']}-outputs", outputs), outputs,
        net, batch_size=FID_BATCH, what=f"{len(outputs)} outputs", value_range=(-1.0, 1.0))
    return eval_metrics.compare_features(real, fake, with_kid=False, with_prdc=False)["fd"]


def _tuned_train_pairs(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    images, _ = data.load_split(spec["dataset"], spec["train_split"])
    train = pairs.eval_pairs(spec["pairs"], images, spec["options"],
                             min(TUNE_EXAMPLES, len(images)))
    return (train["input"] + 1) / 2, (train["target"] + 1) / 2


def compare_methods(task, *, workdirs: Mapping[str, str | Path] | None = None,
                    classical: bool = True, num_examples: int | None = None,
                    batch_size: int = 500, metrics: Sequence[str] = METRICS,
                    fid: Sequence[str] = (), output: str | Path | None = None) -> dict:
    """Score every method on the same test pairs (see the module docstring).

    Writes the record to `output` with suffix .json and the table with suffix .md.
    """
    spec, workdirs = resolve_task(task), dict(workdirs or {})
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise UserError(f"unknown or no metrics {unknown}; choose from {list(METRICS)}")
    for flag, value in (("batch_size", batch_size), ("num_examples", num_examples)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise UserError(f"{flag} must be a positive integer, got {value!r}")
    if "accuracy" in metrics and spec["dataset"] != "fashion_mnist":
        raise UserError(f"accuracy uses the shipped Fashion-MNIST classifier; {spec['dataset']} "
                        "has other classes (drop it from metrics)")
    baselines = classical_lib.baselines(spec["pairs"], spec["options"]) if classical else {}
    methods = [*([] if spec["pairs"] == "edges" else ["identity"]), *baselines, *workdirs]
    if set(fid) - set(methods):
        raise UserError(f"fid names {sorted(set(fid) - set(methods))}, which are not methods "
                        f"of this comparison; choose from {methods}")
    configs = {method: _check_workdir(wd, spec) for method, wd in workdirs.items()}
    n = num_examples or data.num_examples(spec["dataset"], spec["split"])
    eval_metrics.check_request(dataset=spec["dataset"], split=spec["split"], num_samples=n,
                               metrics=[m for m in metrics if m == "classifier_fd"])
    images, labels = data.load_split(spec["dataset"], spec["split"])
    if n > len(images):
        raise UserError(f"num_examples={n} but {spec['dataset']}:{spec['split']} holds "
                        f"{len(images)} images")
    test = pairs.eval_pairs(spec["pairs"], images, spec["options"], n)
    labels = labels[:n]
    model, variables, _ = pretrained.load(eval_metrics.CLASSIFIER_NAME)
    classifier = (model, variables)
    channels = data.DATASETS[spec["dataset"]].shape[2]

    shown = {}  # method -> its first GRID_EXAMPLES outputs, for the comparison grid

    def score(outputs, name):
        shown[name] = np.asarray(outputs[:GRID_EXAMPLES])
        scores = _scores(outputs, test["target"], labels, spec, metrics, classifier,
                         min(batch_size, n))
        return {**scores, "fid": _fid(outputs, spec)} if name in fid else scores

    results = {"task": task if isinstance(task, str) else spec["pairs"], **spec,
               "num_examples": n, "real_accuracy": (
                   accuracy.images_accuracy(model, variables, test["target"], labels,
                                            batch_size=min(batch_size, n))
                   if "accuracy" in metrics else None), "methods": {}}
    rows = results["methods"]
    if spec["pairs"] != "edges":
        start = time.perf_counter()
        outputs = test["input"][..., :channels]
        rows["identity"] = {"kind": "identity", "seconds": time.perf_counter() - start,
                            **score(outputs, "identity")}
    unit_inputs = (test["input"] + 1) / 2
    train = _tuned_train_pairs(spec) if any(m.parameter for m in baselines.values()) else None
    for name, method in baselines.items():
        row, value = {"kind": "classical"}, ()
        if method.parameter:
            start = time.perf_counter()
            best, tuned = classical_lib.tune(method, *train)
            value = (best,)
            row.update(parameter=method.parameter, value=best, tune_seconds=(
                time.perf_counter() - start), tune_psnr={str(k): v for k, v in tuned.items()},
                tune_examples=len(train[0]))
        start = time.perf_counter()
        outputs = 2 * method.apply(unit_inputs, *value) - 1
        rows[name] = {**row, "seconds": time.perf_counter() - start, **score(outputs, name)}
    for name, workdir in workdirs.items():
        run = load_run(workdir, config=configs[name])
        start = time.perf_counter()
        outputs = translate_all(run.task, run.state, test["input"], min(batch_size, n))
        rows[name] = {"kind": "trained", "workdir": str(workdir), "step": run.step,
                      "seconds": time.perf_counter() - start, **score(outputs, name)}
    if output:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.with_suffix(".json").write_text(json.dumps(results, indent=2))
        output.with_suffix(".md").write_text(format_table(results) + "\n")
        columns = [test["input"][:GRID_EXAMPLES, ..., :channels],
                   *(v for k, v in shown.items() if k != "identity"),
                   test["target"][:GRID_EXAMPLES]]
        tiles = np.stack(columns, axis=1)  # (examples, columns, H, W, C): a row per example
        image_io.save_grid(tiles.reshape(-1, *tiles.shape[2:]), output.with_suffix(".png"),
                         ncol=len(columns))
        results["grid_columns"] = ["input", *(k for k in shown if k != "identity"), "target"]
        output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    return results


def format_table(results: dict) -> str:
    """A markdown table: methods as rows, the metrics and the wall time as columns."""
    columns = [c for c in COLUMNS if any(c in row for row in results["methods"].values())]
    real = results["real_accuracy"]
    lines = [f"{results['task']}: {results['num_examples']} {results['dataset']}:"
             f"{results['split']} pairs" + ("" if real is None else
                                            f"; accuracy on the clean targets {real:.4f}"), "",
             "| method | " + " | ".join(COLUMNS[c][0] for c in columns) + " | notes |",
             "|---|" + "---:|" * len(columns) + "---|"]
    for name, row in results["methods"].items():
        cells = [format(row[c], COLUMNS[c][1]) if c in row else "" for c in columns]
        note = (f"{row['parameter']}={row['value']} (best PSNR on {row['tune_examples']} "
                "train pairs)" if "parameter" in row else
                f"step {row['step']}" if row["kind"] == "trained" else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {note} |")
    return "\n".join(lines)

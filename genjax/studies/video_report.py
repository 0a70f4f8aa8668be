"""Reports of the video studies (genjax/studies/video.py): tables, plots and merging.

A report is the dict `video.quality_report` returns (and `experiments.video_eval`
writes as report.json): the settings `SETTINGS`, and per method its curves over
the predicted steps, best and mean PSNR and SSIM and the gradient energy of the
samples and of the truth. `merge_reports` combines reports of the same settings
written apart (one model each), `plots` draws them and the `format_*` functions
give markdown tables.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from genjax.errors import UserError
from genjax.eval import video

SETTINGS = ("num_sequences", "num_samples", "num_future", "num_cond", "moving")


def merge_reports(sources: list[str | Path], output: str | Path) -> dict:
    """One report from the `report.json`s of evaluations run apart (e.g. one model each, at
    once on several cores or machines), which must share the settings `SETTINGS`. Copies
    each method's GIF and PNG strip into `output` and draws the plots of all methods there.
    Each method's scores depend only on its run and the settings, so the merged report
    equals the one a single evaluation of all the runs would write."""
    reports = []
    for source in sources:
        path = Path(source) / "report.json"
        if not path.is_file():
            raise UserError(f"{path} does not exist: give directories that "
                            "experiments.video_eval wrote with --output")
        reports.append((Path(source), json.loads(path.read_text())))
    first_source, merged = reports[0][0], dict(reports[0][1])
    merged["methods"], merged["identity"] = {}, []
    for source, report in reports:
        for field in SETTINGS:
            if report[field] != merged[field]:
                raise UserError(f"{source} has {field}={report[field]}, {first_source} "
                                f"{merged[field]}: merge evaluations of the same settings")
        for name, result in report["methods"].items():
            if name in merged["methods"]:
                raise UserError(f"{name} is in two of the reports ({source}); give one per model")
            merged["methods"][name] = result
        merged["identity"] += report.get("identity", [])
    if not merged["identity"]:
        del merged["identity"]
    Path(output).mkdir(parents=True, exist_ok=True)  # written only once all the reports agree
    for source, report in reports:
        for name in report["methods"]:
            for suffix in (".gif", ".png"):
                figure = source / f"{name.lower().replace('-', '_')}{suffix}"
                if figure.is_file() and figure.resolve() != (Path(output) / figure.name).resolve():
                    shutil.copyfile(figure, Path(output) / figure.name)
    plots(merged, Path(output))
    return merged


def format_sharpness_table(report: dict, steps: tuple[int, ...] = (1, 5, 10, 15, 20)) -> str:
    """A markdown table of `sharpness` at some predicted steps, one row per method."""
    steps = tuple(s for s in steps if s <= report["num_future"])
    lines = ["| method | " + " | ".join(f"sharpness @{s}" for s in steps) + " |",
             "|---|" + "---:|" * len(steps)]
    for name, result in report["methods"].items():
        ratio = sharpness(result)
        lines.append(f"| {name} | " + " | ".join(f"{ratio[s - 1]:.3f}" for s in steps) + " |")
    return "\n".join(lines)


def format_report(report: dict) -> str:
    """The quality and sharpness tables, and the identity table when the report has one."""
    text = format_quality_table(report) + "\n\n" + format_sharpness_table(report)
    if report.get("identity"):
        text += "\n\n" + format_identity_table(report["identity"])
    return text


def sharpness(result: dict) -> np.ndarray:
    """Per predicted step: the samples' mean gradient energy over the true frames'."""
    curves = result["curves"]
    return np.asarray(curves["energy_mean"]) / np.asarray(curves["energy_truth"])


def plots(report: dict, output: Path) -> None:
    """sharpness.png, ssim.png and psnr.png under `output`: one line per method (and statistic)."""
    video.plot_metric_curves(
        {name: sharpness(result) for name, result in report["methods"].items()},
        output / "sharpness.png", ylabel="gradient energy / the truth's", first_step=1,
        title=f"Sharpness per predicted frame (1 = the truth's), "
              f"{report['num_sequences']} test sequences")
    for metric, label in (("ssim", "SSIM"), ("psnr", "PSNR (dB)")):
        lines = {}
        for name, result in report["methods"].items():
            stats = ("best", "mean") if name != "deterministic" else ("mean",)
            for stat in stats:
                key = name if name == "deterministic" else f"{name}, {stat} of " \
                    f"{report['num_samples']}"
                lines[key] = np.asarray(result["curves"][f"{metric}_{stat}"])
        video.plot_metric_curves(lines, output / f"{metric}.png", ylabel=label, first_step=1,
                                 title=f"{label} per predicted frame, "
                                       f"{report['num_sequences']} test sequences")


def format_quality_table(report: dict, steps: tuple[int, ...] = (1, 5, 10, 15, 20)) -> str:
    """A markdown table: each method's best and mean PSNR / SSIM at some predicted steps."""
    steps = tuple(s for s in steps if s <= report["num_future"])
    header = "| method | statistic | " + " | ".join(
        f"SSIM @{s}" for s in steps) + " | " + " | ".join(f"PSNR @{s}" for s in steps) + " |"
    lines = [header, "|---|---|" + "---:|" * (2 * len(steps))]
    for name, result in report["methods"].items():
        for stat in ("best", "mean") if name != "deterministic" else ("mean",):
            ssim = [result["curves"][f"ssim_{stat}"][s - 1] for s in steps]
            psnr = [result["curves"][f"psnr_{stat}"][s - 1] for s in steps]
            label = (f"{stat} of {report['num_samples']}" if name != "deterministic"
                     else "its one future")
            lines.append(f"| {name} | {label} | "
                         + " | ".join(f"{x:.4f}" for x in ssim) + " | "
                         + " | ".join(f"{x:.2f}" for x in psnr) + " |")
    return "\n".join(lines)



def format_identity_table(reports: list[dict]) -> str:
    steps = reports[0]["steps"]
    lines = ["| method | trained on | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|---|" + "---:|" * len(steps)]
    for r in reports:
        for key, where in (("accuracy", "true position"), ("accuracy_located", "located")):
            futures = f"{r['num_samples']} sample{'s' if r['num_samples'] > 1 else ''}"
            lines.append(f"| {r['method']} ({futures}), {where} | "
                         f"{r['trained_items']}-item frames | "
                         + " | ".join(f"{100 * a:.1f}%" for a in r[key]) + " |")
    for key, where in (("true_frames_accuracy", "true position"),
                       ("true_frames_accuracy_located", "located")):
        lines.append(f"| true frames (ceiling), {where} | | " + " | ".join(
            f"{100 * a:.1f}%" for a in reports[0][key]) + " |")
    return "\n".join(lines)

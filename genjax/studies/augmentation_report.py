"""The augmentation study's outputs: the per-condition summary, table.md and plot.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def cell_name(fraction: float, seed: int) -> str:
    """The directory of one (fraction, seed) under the study's workdir, and its results key."""
    return f"f{fraction:g}_s{seed}"


def summary(results: dict, fractions, seeds, conditions) -> dict:
    """{(fraction, condition): (mean %, sample std % or None, n)} over the requested seeds."""
    table = {}
    for fraction in fractions:
        for condition in conditions:
            values = [100 * results["runs"][key]["test_accuracy"] for key in
                      (f"{cell_name(fraction, s)}/{condition}" for s in seeds)
                      if key in results["runs"]]
            std = float(np.std(values, ddof=1)) if len(values) > 1 else None
            table[fraction, condition] = (float(np.mean(values)) if values else None, std,
                                          len(values))
    return table


def markdown_table(table: dict, fractions, conditions, settings: dict) -> str:
    lines = [f"Test accuracy (%) of the CNN on the real test split, mean ± sample std over "
             f"seeds. Classifier {settings['classifier_steps']} steps; GAN "
             f"{settings['gan_steps']} steps, {settings['generated_per_class']} generated "
             "images per class.", "",
             "| fraction | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for fraction in fractions:
        cells = []
        for condition in conditions:
            mean, std, n = table[fraction, condition]
            cells.append("-" if mean is None else f"{mean:.2f} ± "
                         + ("-" if std is None else f"{std:.2f}")
                         + f" ({n} seed{'s' * (n != 1)})")
        lines.append(f"| {fraction:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(table: dict, fractions, conditions, path: Path) -> None:
    """Accuracy against fraction (log x axis), one line with error bars per condition."""
    figure = Figure(figsize=(6, 4))  # no pyplot: no global backend or figure state
    axes = figure.subplots()
    for condition in conditions:
        points = [(f, *table[f, condition][:2]) for f in fractions
                  if table[f, condition][0] is not None]
        if points:
            xs, means, stds = zip(*points, strict=True)
            axes.errorbar(xs, means, yerr=[s or 0.0 for s in stds], marker="o", capsize=3,
                          label=condition)
    axes.set_xscale("log")
    axes.set_xticks(list(fractions), labels=[f"{f:g}" for f in fractions])
    axes.minorticks_off()
    axes.set_xlabel("fraction of the real training set")
    axes.set_ylabel("test accuracy (%)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)

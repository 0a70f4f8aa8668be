"""Score a trained CycleGAN both ways on the test split, beside the identity map and real images.

`translation_report(workdir)` loads the run, takes every eval-split image of
domain A and of domain B, and for each direction (A -> B with G, B -> A with F)
reports:

- success: the share of translated images that the shipped Fashion-MNIST
  classifier puts in one of the target domain's classes. For the identity map
  (output = input) this is the classifier's confusion between the domains;
- classifier_fd (and fid, with `fid=True`): the Fréchet distance between the
  translated images and real images of the target domain. Every distance uses
  the same number of images, n = half the target domain's test images: the
  outputs of the first n source images against the target's second half, so
  that the floor row, real vs real (the target's first half against its second
  half), is comparable. FID runs the TF FID Inception network (genjax.eval.metrics;
  about 11 minutes per 10,000 images on a 2-vCPU CPU, here 4 x n images);
- cycle_psnr, cycle_ssim, cycle_l1: F(G(a)) against a (and G(F(b)) against b),
  over every source image (genjax.eval.enhancement, dm-pix, on [0, 1]).

With `output`, the record goes to <output>.json, the table to <output>.md and a
figure to <output>.png: `GRID_EXAMPLES` rows per direction of
input | translated | reconstructed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from genjax.data import domains
from genjax.errors import UserError
from genjax.eval import enhancement
from genjax.eval import fid as fid_lib
from genjax.eval import images as image_io
from genjax.eval import metrics as eval_metrics
from genjax.studies.enhance import translate_all
from genjax.train.runs import load_run, read_config
from genjax.train.tasks.cyclegan import DIRECTIONS, translation_success

GRID_EXAMPLES = 8
COLUMNS = {"success": ("success", ".2%"), "classifier_fd": ("classifier FD", ".2f"),
           "fid": ("FID", ".2f"), "cycle_psnr": ("cycle PSNR (dB)", ".2f"),
           "cycle_ssim": ("cycle SSIM", ".4f"), "cycle_l1": ("cycle L1", ".4f")}


def cyclegan_config(workdir: str | Path):
    """The config of the CycleGAN run in `workdir`, or a one-line `UserError`."""
    config = read_config(workdir)
    if config.task != "cyclegan":
        raise UserError(f"{workdir} holds a {config.task!r} run, not a CycleGAN run "
                        "(train one with python -m experiments.cyclegan)")
    if config.data.name != "fashion_mnist":
        raise UserError(f"translation success uses the shipped Fashion-MNIST classifier; "
                        f"{workdir} was trained on {config.data.name}")
    return config


def _distance(net_name: str, images: np.ndarray, reference: np.ndarray, key: str) -> float:
    """Fréchet distance of two image sets in [-1, 1] on a feature network; inception
    features are cached on disk by a digest of the images."""
    net = eval_metrics.feature_net(net_name)
    feats = []
    for name, x in (("images", images), ("reference", reference)):
        if net_name == "inception":
            feats.append(eval_metrics.cached_features(
                eval_metrics.array_key(f"{key}-{name}", x), x, net, batch_size=100,
                what=f"{len(x)} images", value_range=(-1.0, 1.0)))
        else:
            feats.append(eval_metrics.features(x, net, num_samples=len(x),
                                               batch_size=min(500, len(x))))
    return fid_lib.fid_from_features(*feats)


def translation_report(workdir: str | Path, *, step: int | None = None, fid: bool = False,
                       batch_size: int = 500, output: str | Path | None = None) -> dict:
    """Score the run both ways (module docstring); writes <output>.json/.md/.png."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    config = cyclegan_config(workdir)
    run = load_run(workdir, step, config=config)
    task, state = run.task, run.state
    test = {d: x.astype(np.float32) / 127.5 - 1.0 for d, x in domains.split_domains(
        config.data.name, config.data.eval_split, config.domains.a, config.domains.b).items()}
    names = {d: domains.domain_name(config.data.name, task.classes[d]) for d in test}
    results = {"workdir": str(workdir), "step": run.step, "split": config.data.eval_split,
               "domains": names, "counts": {d: len(x) for d, x in test.items()},
               "directions": {}}
    shown = []
    for direction, (source, target) in DIRECTIONS.items():
        start = time.perf_counter()
        inputs = test[source]
        batch = min(batch_size, len(inputs))
        outputs = translate_all(task, state, inputs, batch, direction=direction)
        back = translate_all(task, state, outputs, batch, direction=direction[::-1])
        seconds = time.perf_counter() - start
        n = len(test[target]) // 2
        reference = test[target][n:2 * n]
        rows = {}
        for method, images in (("cyclegan", outputs), ("identity", inputs),
                               ("real", test[target][:n])):
            row = {"success": translation_success(images, task.classes[target], batch_size),
                   "classifier_fd": _distance("classifier", images[:n], reference, "")}
            if fid:
                row["fid"] = _distance("inception", images[:n], reference,
                                       f"translation-{direction}-{method}")
            rows[method] = row
        cycle = enhancement.split_scores(lambda x: x, back, inputs, batch_size=batch)
        rows["cyclegan"].update(cycle_psnr=cycle["psnr"], cycle_ssim=cycle["ssim"],
                                cycle_l1=cycle["l1"], seconds=seconds)
        results["directions"][direction] = {"source": names[source], "target": names[target],
                                            "fd_images": n, "methods": rows}
        k = GRID_EXAMPLES
        shown.append(np.stack([inputs[:k], outputs[:k], back[:k]], axis=1))
    if output:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        tiles = np.concatenate(shown)
        image_io.save_grid(tiles.reshape(-1, *tiles.shape[2:]), output.with_suffix(".png"),
                           ncol=3)
        output.with_suffix(".json").write_text(json.dumps(results, indent=2))
        output.with_suffix(".md").write_text(format_table(results) + "\n")
    return results


def format_table(results: dict) -> str:
    """A markdown table: a row per (direction, method), the metrics as columns."""
    rows = [(d, m, r) for d, record in results["directions"].items()
            for m, r in record["methods"].items()]
    columns = [c for c in COLUMNS if any(c in r for _, _, r in rows)]
    a, b = results["domains"]["a"], results["domains"]["b"]
    lines = [f"{a} <-> {b}: step {results['step']}, {results['split']} split "
             f"({results['counts']['a']} + {results['counts']['b']} images)", "",
             "| direction | method | " + " | ".join(COLUMNS[c][0] for c in columns) + " |",
             "|---|---|" + "---:|" * len(columns)]
    for direction, method, row in rows:
        record = results["directions"][direction]
        label = {"cyclegan": "CycleGAN", "identity": "identity (input)",
                 "real": f"real {record['target']} (floor)"}[method]
        cells = [format(row[c], COLUMNS[c][1]) if c in row else "" for c in columns]
        lines.append(f"| {record['source']} -> {record['target']} | {label} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)

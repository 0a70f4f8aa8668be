"""The augmentation study (issue 7): with little labelled data, do GAN samples help a classifier?

python -m experiments.augmentation_study --workdir=runs/aug_study
    [--fractions=0.01,0.05,0.1] [--seeds=0,1,2] [--conditions=real,classical,gan,both]
    [--gan_steps=2000] [--classifier_steps=1000] [--generated_per_class=600]
    [--gan_config.model.width=32 ...] [--classifier_config.model.hidden=64 ...]

For every training fraction f of Fashion-MNIST's train split and every seed s, the
real training set is the class-balanced subset `data.balanced_subset(f, seed=s)`
(600 / 3000 / 6000 images at 1% / 5% / 10%), and the project's CNN classifier
(`--classifier_config`, experiments/configs/classifier.py) is trained under four
conditions:

- `real`: the real subset alone, no augmentation (augment.flip off, crop_pad 0);
- `classical`: the real subset with the config's flips and padded crops;
- `gan`: the real subset plus `--generated_per_class` labelled images of each class
  drawn from a class-conditional GAN (`--gan_config`, experiments/configs/cdcgan.py)
  trained on that same subset only, with DiffAugment ("color,translation,cutout",
  Zhao et al. 2020) since the data are scarce; no classical augmentation;
- `both`: the `gan` training set with the classical augmentation.

Mixing: the real subset and the generated set are concatenated into one labelled set
(`<cell>/real_and_generated.npz`) whose examples the batch iterator permutes afresh
every epoch, so each batch holds real and generated images in proportion to their
counts. With the default 600 per class (6000 images) that is 10, 2 and 1 generated
images per real one at 1%, 5% and 10%; each run records its counts. `real` and
`classical` train on exactly the subset the GAN saw (`data.train_fraction=f`,
`data.subset_seed=s`). Seed s also seeds the GAN, the generated set and the
classifiers, so the conditions of a seed share their initial weights.

Every part runs in `<workdir>/f<f>_s<s>/` (the GAN in `gan/`, `generated.npz`, each
classifier in `classifier_<condition>/`) through `fit`, so an interrupted run resumes.
Each finished classifier is recorded in `<workdir>/results.json` (written atomically,
with the time of each part: GAN training, generation, every classifier; training
times are `fit`'s elapsed seconds, summed over resumes, compilation included) and is
not run again; a workdir made with other steps, counts or configs is refused. At the
end `<workdir>/table.md` (test accuracy in %, mean ± sample std over seeds) and
`<workdir>/plot.png` (accuracy against fraction, log x axis) are written and the table
printed. Test accuracy is `fit`'s final evaluation on the whole real test split.

Cost with the defaults on this machine's 2 CPU cores (README timings: DCGAN ~0.3-0.5
s/step, CNN ~0.2 s/step at batch 128): a GAN of 2000 steps takes ~12-18 min with its
evaluations, 6000 generated images ~10 s, a classifier of 1000 steps ~3-4 min. The full
study (9 GANs, 36 classifiers) is therefore ~4-5 h; one seed ~1.5 h; only `real` and
`classical` (no GAN) ~1 h.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from experiments.launch import errors_exit
from genjax.config import with_fields

CONDITIONS = {"real": (False, False), "classical": (False, True),  # (GAN samples, flips+crops)
              "gan": (True, False), "both": (True, True)}
DIFFAUG_POLICY = "color,translation,cutout"
GAN_CONFIG = "experiments/configs/cdcgan.py"
CLASSIFIER_CONFIG = "experiments/configs/classifier.py"
GENERATION_BATCH = 100


def cell_name(fraction: float, seed: int) -> str:
    return f"f{fraction:g}_s{seed}"


def gan_config(base, fraction: float, seed: int, steps: int):
    return with_fields(base, **{"data.train_fraction": fraction, "data.subset_seed": seed,
                                "seed": seed, "diffaug_policy": DIFFAUG_POLICY,
                                "num_train_steps": steps})


def classifier_config(base, fraction: float, seed: int, condition: str, steps: int,
                      arrays: str = ""):
    with_gan, classical = CONDITIONS[condition]
    fields = {"seed": seed, "num_train_steps": steps, "data.subset_seed": seed,
              "data.train_arrays": arrays if with_gan else "",
              "data.train_fraction": 1.0 if with_gan else fraction}
    if not classical:
        fields.update({"augment.flip": False, "augment.crop_pad": 0})
    return with_fields(base, **fields)


def check_request(*, fractions, seeds, conditions, gan_base, classifier_base, gan_steps,
                  classifier_steps, generated_per_class) -> None:
    """One-line UserErrors for a bad request, before any training."""
    from genjax import data
    from genjax.config import check_common
    from genjax.errors import UserError
    from genjax.train import classifier
    from genjax.train.gan import GANTask

    for name, value in [("gan_steps", gan_steps), ("classifier_steps", classifier_steps),
                        ("generated_per_class", generated_per_class)]:
        if value <= 0:
            raise UserError(f"--{name} must be a positive integer, got {value}")
    base = classifier_base.augment
    if any(CONDITIONS[c][1] for c in conditions) and not (base.flip or base.crop_pad):
        raise UserError("conditions 'classical' and 'both' need the classifier config's "
                        "augment.flip or augment.crop_pad; they are both off")
    if gan_base.data.name != classifier_base.data.name:
        raise UserError(f"the GAN config learns {gan_base.data.name!r} but the classifier config "
                        f"{classifier_base.data.name!r}; give both the same data.name")
    with_gan = any(CONDITIONS[c][0] for c in conditions)
    for fraction in fractions:
        for seed in seeds:
            data.balanced_subset(classifier_base.data.name, classifier_base.data.train_split,
                                 fraction, seed)
        config = classifier_config(classifier_base, fraction, seeds[0], "real", classifier_steps)
        check_common(config)
        classifier.ClassifierTask(config)  # checks the batch size against the subset's size
        if with_gan:
            config = gan_config(gan_base, fraction, seeds[0], gan_steps)
            check_common(config)
            task = GANTask(config)
            if not task.num_classes:
                raise UserError("the GAN conditions need a class-conditional GAN config "
                                "(model.num_classes > 0), e.g. " + GAN_CONFIG)


def train_gan_and_generate(cell_dir: Path, config, *, seed: int, generated_per_class: int
                           ) -> dict:
    """Fit the conditional GAN in `cell_dir/gan` (resuming) and draw the generated set."""
    import jax

    from experiments import cas
    from genjax.io.writers import read_jsonl
    from genjax.train.gan import GANTask
    from genjax.train.loop import fit

    state = fit(config, cell_dir / "gan")
    train_seconds = [r for r in read_jsonl(cell_dir / "gan" / "metrics.jsonl")
                     if "train/elapsed_seconds" in r][-1]["train/elapsed_seconds"]
    task = GANTask(config)
    step = int(jax.device_get(state.step))
    record = {"num_per_class": generated_per_class, "batch_size": GENERATION_BATCH,
              "seed": seed, "generator": {"workdir": "gan", "step": step}}
    started = time.perf_counter()
    cas.generated_set(cell_dir, record, task.class_sampler(state, GENERATION_BATCH),
                      task.num_classes)
    return {"gan_steps": step, "gan_seconds": train_seconds,
            "generation_seconds": time.perf_counter() - started,
            "num_generated": generated_per_class * task.num_classes}


def real_and_generated(cell_dir: Path, classifier_base, fraction: float, seed: int) -> Path:
    """`cell_dir/real_and_generated.npz`: the real subset followed by the generated set."""
    import numpy as np

    from genjax import data

    path = cell_dir / "real_and_generated.npz"
    if not path.is_file():
        d = classifier_base.data
        images, labels = data.load_split(d.name, d.train_split)
        keep = data.balanced_subset(d.name, d.train_split, fraction, seed)
        fake_images, fake_labels = data.load_arrays(cell_dir / "generated.npz", d.name)
        data.save_arrays(path, np.concatenate([images[keep], fake_images]),
                         np.concatenate([labels[keep], fake_labels]))
    return path


def train_classifier(config, workdir: Path) -> dict:
    from genjax.io.writers import read_jsonl
    from genjax.train import classifier
    from genjax.train.loop import fit

    fit(config, workdir)
    final = json.loads((workdir / "final_metrics.json").read_text())
    train_seconds = [r for r in read_jsonl(workdir / "metrics.jsonl")
                     if "train/elapsed_seconds" in r][-1]["train/elapsed_seconds"]
    images, labels, _ = classifier.training_set(config)
    return {"test_accuracy": final["eval/accuracy"], "test_count": int(final["eval/count"]),
            "steps": int(final["step"]), "seconds": train_seconds,
            "num_train": int(len(labels))}


def run_cell(results: dict, save, *, workdir: Path, fraction: float, seed: int, conditions,
             gan_base, classifier_base, gan_steps: int, classifier_steps: int,
             generated_per_class: int) -> None:
    """Every condition of one (fraction, seed) not yet in `results`; `save()` after each."""
    cell = cell_name(fraction, seed)
    cell_dir = workdir / cell
    todo = [c for c in conditions if f"{cell}/{c}" not in results["runs"]]
    arrays = ""
    if any(CONDITIONS[c][0] for c in todo):
        if cell not in results["gans"]:
            logging.info("%s: training the conditional GAN", cell)
            results["gans"][cell] = train_gan_and_generate(
                cell_dir, gan_config(gan_base, fraction, seed, gan_steps), seed=seed,
                generated_per_class=generated_per_class)
            save()
        arrays = str(real_and_generated(cell_dir, classifier_base, fraction, seed))
    for condition in todo:
        logging.info("%s: training the classifier, condition %s", cell, condition)
        config = classifier_config(classifier_base, fraction, seed, condition, classifier_steps,
                                   arrays)
        run = train_classifier(config, cell_dir / f"classifier_{condition}")
        num_generated = results["gans"][cell]["num_generated"] if CONDITIONS[condition][0] else 0
        results["runs"][f"{cell}/{condition}"] = {
            "fraction": fraction, "seed": seed, "condition": condition, **run,
            "num_real": run["num_train"] - num_generated, "num_generated": num_generated}
        save()


def summary(results: dict, fractions, seeds, conditions) -> dict:
    """{(fraction, condition): (mean %, sample std % or None, n)} over the requested seeds."""
    import numpy as np

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
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
    plt.close(figure)


def _parse_lists(flag_values) -> tuple[list[float], list[int], list[str]]:
    from genjax.errors import UserError

    unknown = [c for c in flag_values.conditions if c not in CONDITIONS]
    if unknown or not flag_values.conditions:
        raise UserError(f"unknown conditions {unknown}; choose from {list(CONDITIONS)}")
    try:
        fractions = [float(f) for f in flag_values.fractions]
        seeds = [int(s) for s in flag_values.seeds]
    except ValueError as err:
        raise UserError(f"--fractions takes numbers and --seeds integers: {err}") from None
    bad = [f for f in fractions if not 0.0 < f <= 1.0]
    if bad or not fractions or not seeds:
        raise UserError(f"every fraction must be in (0, 1] and at least one fraction and one "
                        f"seed are needed; got --fractions={fractions} --seeds={seeds}")
    for name, values in [("fractions", fractions), ("seeds", seeds),
                         ("conditions", flag_values.conditions)]:
        if len(set(values)) != len(values):
            raise UserError(f"--{name} repeats a value: {values}")
    return sorted(fractions), seeds, list(flag_values.conditions)


def study(flag_values) -> str:
    """Run whatever is missing and write the table and the plot; returns the table."""
    from genjax.config import config_to_json
    from genjax.errors import UserError

    fractions, seeds, conditions = _parse_lists(flag_values)
    f = flag_values
    gan_base, classifier_base = f.gan_config, f.classifier_config
    settings = {"gan_steps": f.gan_steps, "classifier_steps": f.classifier_steps,
                "generated_per_class": f.generated_per_class,
                "diffaug_policy": DIFFAUG_POLICY,
                "gan_config": json.loads(config_to_json(gan_base)),
                "classifier_config": json.loads(config_to_json(classifier_base))}
    workdir = Path(f.workdir)
    results_path = workdir / "results.json"
    results = (json.loads(results_path.read_text()) if results_path.is_file()
               else {"settings": settings, "gans": {}, "runs": {}})
    if results["settings"] != settings:
        changed = sorted(k for k in settings if results["settings"].get(k) != settings[k])
        raise UserError(f"{results_path} was made with other {', '.join(changed)}; give the "
                        "same flags to add to it, or another --workdir")
    check_request(fractions=fractions, seeds=seeds, conditions=conditions, gan_base=gan_base,
                  classifier_base=classifier_base, gan_steps=f.gan_steps,
                  classifier_steps=f.classifier_steps,
                  generated_per_class=f.generated_per_class)
    workdir.mkdir(parents=True, exist_ok=True)

    def save():
        partial = results_path.with_suffix(".tmp")
        partial.write_text(json.dumps(results, indent=2))
        partial.replace(results_path)  # a kill mid-write leaves the previous results intact

    for fraction in fractions:
        for seed in seeds:
            run_cell(results, save, workdir=workdir, fraction=fraction, seed=seed,
                     conditions=conditions, gan_base=gan_base, classifier_base=classifier_base,
                     gan_steps=f.gan_steps, classifier_steps=f.classifier_steps,
                     generated_per_class=f.generated_per_class)
    table = summary(results, fractions, seeds, conditions)
    text = markdown_table(table, fractions, conditions, settings)
    (workdir / "table.md").write_text(text)
    plot(table, fractions, conditions, workdir / "plot.png")
    return text


def main(argv):
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.getLogger("absl").addFilter(  # orbax logs every save at INFO
        lambda r: r.levelno >= logging.WARNING or "/orbax/" not in r.pathname)
    with errors_exit():
        print(study(flags.FLAGS))


def _define_flags() -> None:
    # Defined only when run as a script: tests import modules with flags of the same names.
    from absl import flags
    from ml_collections import config_flags

    flags.DEFINE_string("workdir", None, "Directory of the study's runs, results and table.",
                        required=True)
    flags.DEFINE_list("fractions", ["0.01", "0.05", "0.1"],
                      "Fractions of the real train split (class-balanced), each in (0, 1].")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds: of the subset, GAN and classifiers.")
    flags.DEFINE_list("conditions", list(CONDITIONS), f"Any of {list(CONDITIONS)}.")
    flags.DEFINE_integer("gan_steps", 2000, "Training steps of each conditional GAN.")
    flags.DEFINE_integer("classifier_steps", 1000, "Training steps of each classifier.")
    flags.DEFINE_integer("generated_per_class", 600, "Generated images per class added to "
                         "the real subset in the gan and both conditions.")
    config_flags.DEFINE_config_file(
        "gan_config", GAN_CONFIG, "Class-conditional GAN config (its data.train_fraction, "
        "subset_seed, seed, diffaug_policy and num_train_steps are set per cell).",
        lock_config=True)
    config_flags.DEFINE_config_file(
        "classifier_config", CLASSIFIER_CONFIG, "Classifier config (its data, augment, seed "
        "and num_train_steps fields are set per condition).", lock_config=True)


if __name__ == "__main__":
    from genjax.malloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import app

    _define_flags()
    app.run(main)

"""The augmentation study (issue 7): with little labelled data, do GAN samples help a classifier?

For every training fraction f and seed s, the real training set is the class-balanced
subset `data.balanced_subset(f, seed=s)` of the classifier config's train split, and
the classifier config is trained under some of four conditions (`CONDITIONS`):

- `real`: the real subset alone, no augmentation (augment.flip off, crop_pad 0);
- `classical`: the real subset with the config's flips and padded crops;
- `gan`: the real subset plus `generated_per_class` labelled images of each class
  drawn from a class-conditional GAN (the GAN config) trained on that same subset
  only, with DiffAugment (`DIFFAUG_POLICY`, Zhao et al. 2020) since the data are
  scarce; no classical augmentation;
- `both`: the `gan` training set with the classical augmentation.

Mixing: the real subset and the generated set are concatenated into one labelled set
(`<cell>/real_and_generated.npz`) whose examples the batch iterator permutes afresh
every epoch, so each batch holds real and generated images in proportion to their
counts; each run records its counts. `real` and `classical` train on exactly the
subset the GAN saw (`data.train_fraction=f`, subset seed s). Seed s also seeds the
GAN, the generated set and the classifiers, so the conditions of a seed share their
initial weights.

The seeds of a fraction train together: each run of consecutive requested seeds
s0..s1 is one group, and each of its parts is one compiled program for all its seeds
(`config.num_seeds`, `seeds_mode="loop"`: every replica is bit for bit the single-seed
run of its seed, but for BatchNorm running statistics within 1 ulp; genjax/train/seeds.py).
Replica s sees its own subset (`data.subset_seed = -1`: the replica's seed) and its own
mixed set (`data.train_arrays` with `{seed}`).

Every part of a group runs in `<workdir>/f<f>_s<s0>-<s1>/` (`f<f>_s<s>/` for a single
seed, the layout of one seed alone): the GANs in `gan/`, each seed's `generated.npz` and
`real_and_generated.npz` in `seed_<s>/` (in the group's directory for a single seed),
each condition's classifiers in `classifier_<condition>/`, through `fit`, so an
interrupted run resumes. Each finished condition is recorded per seed in
`<workdir>/results.json` (written atomically, with the time of each part: GAN training,
generation, every classifier program, which the seeds of a group share; training times
are `fit`'s elapsed seconds, summed over resumes, compilation included) and is not run
again; a workdir made with other steps, counts or configs is refused. At the
end `<workdir>/table.md` (test accuracy in %, mean ± sample std over seeds) and
`<workdir>/plot.png` (accuracy against fraction, log x axis) are written
(genjax.studies.augmentation_report). Test accuracy is `fit`'s final evaluation on
the whole real test split.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from genjax import data
from genjax.config import check_common, saved_form, with_fields
from genjax.errors import UserError
from genjax.io.writers import read_jsonl
from genjax.studies.augmentation_report import cell_name, markdown_table, plot, summary
from genjax.studies.cas import generated_set
from genjax.train.loop import fit
from genjax.train.seeds import (
    FOLLOW_SEED,
    SEED_PLACEHOLDER,
    SeedsTask,
    replica,
    replica_configs,
    resolve_seed_fields,
    seed_dir,
    state_step,
)
from genjax.train.tasks import is_class_conditional, make_task

CONDITIONS = {"real": (False, False), "classical": (False, True),  # (GAN samples, flips+crops)
              "gan": (True, False), "both": (True, True)}
DIFFAUG_POLICY = "color,translation,cutout"
GENERATION_BATCH = 100
MIXED_SET = "real_and_generated.npz"
SEEDS_MODE = "loop"  # each replica bit for bit its single-seed run (genjax/train/seeds.py)


def _group_fields(seeds: list[int]) -> dict:
    """K consecutive seeds as one program: seed s0, num_seeds K, each replica's own subset."""
    return {"seed": seeds[0], "num_seeds": len(seeds), "seeds_mode": SEEDS_MODE,
            "data.subset_seed": FOLLOW_SEED}


def gan_cell_config(base, fraction: float, seeds: list[int], steps: int):
    return with_fields(base, **{"data.train_fraction": fraction, **_group_fields(seeds),
                                "diffaug_policy": DIFFAUG_POLICY, "num_train_steps": steps})


def classifier_cell_config(base, fraction: float, seeds: list[int], condition: str,
                           steps: int, arrays: str = ""):
    """`arrays`: the mixed set's path, with `{seed}` where a replica's seed goes."""
    with_gan, classical = CONDITIONS[condition]
    fields = {**_group_fields(seeds), "num_train_steps": steps,
              "data.train_arrays": arrays if with_gan else "",
              "data.train_fraction": 1.0 if with_gan else fraction}
    if not classical:
        fields.update({"augment.flip": False, "augment.crop_pad": 0})
    return with_fields(base, **fields)


def _integer(value) -> int:
    if isinstance(value, str):
        return int(value)
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def check_lists(fractions, seeds, conditions) -> tuple[list[float], list[int], list[str]]:
    """(sorted fractions, seeds, conditions) from lists of strings or numbers; UserErrors."""
    conditions = list(conditions)
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        raise UserError(f"unknown conditions {unknown}; choose from {list(CONDITIONS)}")
    try:
        fractions = [float(f) for f in fractions]
        seeds = [_integer(s) for s in seeds]
    except ValueError as err:
        raise UserError(f"--fractions takes numbers and --seeds integers: {err}") from None
    bad = [f for f in fractions if not 0.0 < f <= 1.0]
    if bad or not fractions or not seeds:
        raise UserError(f"every fraction must be in (0, 1] and at least one fraction and one "
                        f"seed are needed; got --fractions={fractions} --seeds={seeds}")
    for name, values in [("fractions", fractions), ("seeds", seeds), ("conditions", conditions)]:
        if len(set(values)) != len(values):
            raise UserError(f"--{name} repeats a value: {values}")
    return sorted(fractions), seeds, conditions


def check_request(*, fractions, seeds, conditions, gan_base, classifier_base, gan_steps,
                  classifier_steps, generated_per_class) -> None:
    """One-line UserErrors for a bad request, before any training."""
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
        config = classifier_cell_config(classifier_base, fraction, seeds[:1], "real",
                                        classifier_steps)
        check_common(config)
        make_task(config)  # checks the batch size against the subset's size
        if with_gan:
            config = gan_cell_config(gan_base, fraction, seeds[:1], gan_steps)
            check_common(config)
            if not is_class_conditional(make_task(config)):
                raise UserError("the GAN conditions need a class-conditional GAN config "
                                "(model.num_classes > 0), e.g. experiments/configs/cdcgan.py")


def _train_seconds(workdir: Path) -> float:
    return [r for r in read_jsonl(workdir / "metrics.jsonl")
            if "train/elapsed_seconds" in r][-1]["train/elapsed_seconds"]


def seed_groups(seeds: list[int]) -> list[list[int]]:
    """`seeds` cut into runs of consecutive integers, in order: each runs as one program."""
    groups: list[list[int]] = []
    for seed in seeds:
        if groups and seed == groups[-1][-1] + 1:
            groups[-1].append(seed)
        else:
            groups.append([seed])
    return groups


def group_name(fraction: float, seeds: list[int]) -> str:
    """A group's directory: `f<f>_s<s>` for one seed, `f<f>_s<first>-<last>` for several."""
    name = cell_name(fraction, seeds[0])
    return name if len(seeds) == 1 else f"{name}-{seeds[-1]}"


def seed_output_dir(group_dir: Path, seeds: list[int], seed: int | str) -> Path:
    """Where one seed's generated and mixed sets go (the group's directory for one seed)."""
    return group_dir if len(seeds) == 1 else group_dir / f"seed_{seed}"


def train_gan_and_generate(group_dir: Path, config, *, seeds: list[int],
                           generated_per_class: int) -> dict:
    """Fit the group's conditional GANs in `group_dir/gan` (resuming), then draw each seed's
    generated set with its own replica."""
    state = fit(config, group_dir / "gan")
    task = make_task(config)
    replicas = (task.tasks if isinstance(task, SeedsTask) else [task])
    step = state_step(state)
    started = time.perf_counter()
    for k, (seed, replica_task) in enumerate(zip(seeds, replicas, strict=True)):
        record = {"num_per_class": generated_per_class, "batch_size": GENERATION_BATCH,
                  "seed": seed, "generator": {"workdir": "gan", "step": step}}
        if len(seeds) > 1:
            record["generator"]["replica"] = k
        own = replica(state, k) if len(seeds) > 1 else state
        generated_set(seed_output_dir(group_dir, seeds, seed), record,
                      replica_task.class_sampler(own, GENERATION_BATCH),
                      replica_task.num_classes)
    return {"seeds": seeds, "gan_steps": step, "gan_seconds": _train_seconds(group_dir / "gan"),
            "generation_seconds": time.perf_counter() - started,
            "num_generated": generated_per_class * replicas[0].num_classes}


def real_and_generated(out: Path, classifier_base, fraction: float, seed: int) -> Path:
    """`out/real_and_generated.npz`: the real subset followed by the generated set."""
    path = out / MIXED_SET
    if not path.is_file():
        d = classifier_base.data
        images, labels = data.load_split(d.name, d.train_split)
        keep = data.balanced_subset(d.name, d.train_split, fraction, seed)
        fake_images, fake_labels = data.load_arrays(out / "generated.npz", d.name)
        data.save_arrays(path, np.concatenate([images[keep], fake_images]),
                         np.concatenate([labels[keep], fake_labels]))
    return path


def train_classifiers(config, workdir: Path) -> dict[int, dict]:
    """Fit the group's classifiers (one program) in `workdir`; each seed's record."""
    fit(config, workdir)
    seconds = _train_seconds(workdir)
    replicas = [resolve_seed_fields(c) for c in replica_configs(config)]
    records = {}
    for replica_config in replicas:
        seed = replica_config.seed
        own = workdir if len(replicas) == 1 else seed_dir(workdir, seed)
        final = json.loads((own / "final_metrics.json").read_text())
        _, labels, _ = data.training_set(replica_config.data)
        records[seed] = {"test_accuracy": final["eval/accuracy"],
                         "test_count": int(final["eval/count"]), "steps": int(final["step"]),
                         "seconds": seconds, "seeds_together": len(replicas),
                         "num_train": int(len(labels))}
    return records


def run_group(results: dict, save, *, workdir: Path, fraction: float, seeds: list[int],
              conditions, gan_base, classifier_base, gan_steps: int, classifier_steps: int,
              generated_per_class: int) -> None:
    """Every condition missing for the consecutive `seeds` of one fraction, each condition
    one program for all of them (K seeds together); `save()` after each part."""
    group = group_name(fraction, seeds)
    group_dir = workdir / group
    todo = [c for c in conditions
            if any(f"{cell_name(fraction, s)}/{c}" not in results["runs"] for s in seeds)]
    arrays = ""
    if any(CONDITIONS[c][0] for c in todo):
        if group not in results["gans"]:
            logging.info("%s: training the conditional GAN (%d seeds)", group, len(seeds))
            results["gans"][group] = train_gan_and_generate(
                group_dir, gan_cell_config(gan_base, fraction, seeds, gan_steps), seeds=seeds,
                generated_per_class=generated_per_class)
            save()
        for seed in seeds:
            real_and_generated(seed_output_dir(group_dir, seeds, seed), classifier_base,
                               fraction, seed)
        # One path for every replica: `{seed}` (in a group of several) is each one's own.
        arrays = str(seed_output_dir(group_dir, seeds, SEED_PLACEHOLDER) / MIXED_SET)
    for condition in todo:
        logging.info("%s: training the classifiers, condition %s", group, condition)
        config = classifier_cell_config(classifier_base, fraction, seeds, condition,
                                        classifier_steps, arrays)
        runs = train_classifiers(config, group_dir / f"classifier_{condition}")
        num_generated = (results["gans"][group]["num_generated"] if CONDITIONS[condition][0]
                         else 0)
        for seed, run in runs.items():
            results["runs"][f"{cell_name(fraction, seed)}/{condition}"] = {
                "fraction": fraction, "seed": seed, "condition": condition, "group": group,
                **run, "num_real": run["num_train"] - num_generated,
                "num_generated": num_generated}
        save()


def augmentation_study(workdir, *, fractions, seeds, conditions, gan_config, classifier_config,
                       gan_steps: int = 2000, classifier_steps: int = 1000,
                       generated_per_class: int = 600) -> str:
    """Run whatever is missing in `workdir`, write table.md and plot.png; returns the table.

    fractions, seeds: lists of numbers or of their strings; conditions: names in
    `CONDITIONS`; gan_config: a class-conditional GAN config; classifier_config: a
    classifier config (of the same dataset).
    """
    fractions, seeds, conditions = check_lists(fractions, seeds, conditions)
    settings = {"gan_steps": gan_steps, "classifier_steps": classifier_steps,
                "generated_per_class": generated_per_class, "diffaug_policy": DIFFAUG_POLICY,
                "gan_config": saved_form(gan_config),
                "classifier_config": saved_form(classifier_config)}
    workdir = Path(workdir)
    results_path = workdir / "results.json"
    results = (json.loads(results_path.read_text()) if results_path.is_file()
               else {"settings": settings, "gans": {}, "runs": {}})
    if results["settings"] != settings:
        changed = sorted(k for k in settings if results["settings"].get(k) != settings[k])
        raise UserError(f"{results_path} was made with other {', '.join(changed)}; give the "
                        "same flags to add to it, or another --workdir")
    request = dict(conditions=conditions, gan_base=gan_config, classifier_base=classifier_config,
                   gan_steps=gan_steps, classifier_steps=classifier_steps,
                   generated_per_class=generated_per_class)
    check_request(fractions=fractions, seeds=seeds, **request)
    workdir.mkdir(parents=True, exist_ok=True)

    def save():
        partial = results_path.with_suffix(".tmp")
        partial.write_text(json.dumps(results, indent=2))
        partial.replace(results_path)  # a kill mid-write leaves the previous results intact

    for fraction in fractions:
        done = [s for s in seeds if all(f"{cell_name(fraction, s)}/{c}" in results["runs"]
                                        for c in conditions)]
        for group in seed_groups([s for s in seeds if s not in done]):
            run_group(results, save, workdir=workdir, fraction=fraction, seeds=group,
                      **request)
    table = summary(results, fractions, seeds, conditions)
    text = markdown_table(table, fractions, conditions, settings)
    (workdir / "table.md").write_text(text)
    plot(table, fractions, conditions, workdir / "plot.png")
    return text

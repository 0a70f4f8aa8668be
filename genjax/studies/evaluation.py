"""Evaluate a trained generative model: FID, KID, precision/recall, classifier FD, intra-class.

`evaluate_run(workdir, ...)` reopens a run (`load_run`: its config.json and the
newest readable checkpoint, or `step`), draws `num_samples` images from the
task's sampler and compares them with the real `split`; the record holds the
checkpoint's step and its training wall time, and is written to `output`
(default `<workdir>/metrics.json`).

For class-conditional models, `intra_classifier_fd` and `intra_fid` add the
intra-class distances (genjax.eval.conditional: each class's `per_class`
samples against that class's real images, on the classifier's features or on
Inception's), as `<metric>/<class name>` and `<metric>/mean`. When `num_samples`
equals `per_class` times the number of classes (10 x 1000 = 10000, the defaults),
the pooled metrics of the same network (fid/kid/prdc for intra_fid, classifier_fd
for intra_classifier_fd) are computed on those class-balanced samples instead of
a second set drawn with random labels: one feature pass instead of two (a 10k
Inception pass takes about 35 min on 2 CPU cores, bench/fid_10k_time.txt). The
record then holds `pooled_class_balanced` = 1.

A run of K seeds (`num_seeds` > 1) is evaluated replica by replica: the record holds
each replica's metrics as `seed_<s>/<metric>`, and for each metric the mean over
seeds under its own name and the sample standard deviation as `<metric>_std`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genjax import distributed
from genjax.errors import UserError
from genjax.eval import conditional
from genjax.eval import metrics as eval_metrics
from genjax.train import seeds
from genjax.train.runs import Run, load_replicas, read_config
from genjax.train.tasks import Sampler, is_class_conditional, make_task

INTRA_METRICS = {"intra_classifier_fd": "classifier", "intra_fid": "inception"}
DEFAULT_METRICS = ("fid", "kid", "prdc", "classifier_fd")


def evaluate_run(workdir: str | Path, *, num_samples: int = 10000, split: str = "test",
                 metrics: Sequence[str] = DEFAULT_METRICS, per_class: int = 1000,
                 batch_size: int = 100, seed: int = 0, step: int | None = None,
                 output: str | Path | None = None) -> dict[str, float]:
    """The metrics of the run in `workdir` (see the module docstring); also written to JSON."""
    workdir = Path(workdir)
    config = read_config(workdir)
    task = make_task(seeds.replica_configs(config)[0])  # checks before the checkpoint is read
    if not isinstance(task, Sampler):
        raise UserError(f"task {config.task!r} does not generate images")
    intra = {m: INTRA_METRICS[m] for m in metrics if m in INTRA_METRICS}
    pooled = [m for m in metrics if m not in INTRA_METRICS]
    eval_metrics.check_request(dataset=config.data.name, split=split,
                               num_samples=num_samples, metrics=pooled)
    if intra and not is_class_conditional(task):
        raise UserError(f"{sorted(intra)} need a class-conditional model; {workdir} has none")
    for network in intra.values():
        conditional.check_request(dataset=config.data.name, split=split, per_class=per_class,
                                  network=network)
    runs = load_replicas(workdir, step, config=config)
    options = dict(num_samples=num_samples, split=split, intra=intra, pooled=pooled,
                   per_class=per_class, batch_size=batch_size, seed=seed)
    if len(runs) == 1:
        results = _evaluate_one(runs[0], **options)
    else:
        per_seed = [_evaluate_one(run, **options) for run in runs]
        shared = ("step", "train_seconds")  # the same for every replica: one checkpoint
        results = {name: per_seed[0][name] for name in shared}
        names = [name for name in per_seed[0] if name not in shared]
        results.update(seeds.summarise({name: np.asarray([r[name] for r in per_seed])
                                        for name in names}))
        for run, record in zip(runs, per_seed, strict=True):
            results.update({f"seed_{run.config.seed}/{name}": record[name] for name in names})
    output = Path(output) if output else workdir / "metrics.json"
    if distributed.is_primary():
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2))
    return results


def _evaluate_one(run: Run, *, num_samples, split, intra, pooled, per_class, batch_size,
                  seed) -> dict[str, float]:
    """One single-seed run's record (see `evaluate_run`)."""
    config, task, state = run.config, run.task, run.state
    results = {"step": float(run.step), "train_seconds": run.train_seconds}
    pooled_features = {}  # network -> the intra pass's class-balanced features, to reuse
    for name, network in intra.items():
        wanted = set(eval_metrics.NETWORK_METRICS[network]) & set(pooled)
        if wanted:  # the split-wide pass first: the class references slice it
            eval_metrics.reference_features(
                config.data.name, split, eval_metrics.feature_net(network),
                num_samples=num_samples, batch_size=batch_size)
        fake = conditional.class_features(
            task.class_sampler(state, batch_size), eval_metrics.feature_net(network),
            num_classes=task.num_classes, per_class=per_class, batch_size=batch_size, seed=seed)
        per_class_scores = conditional.intra_class_scores(
            fake, dataset=config.data.name, split=split, network=network, batch_size=batch_size)
        results.update({f"{name}/{label}": value for label, value in per_class_scores.items()})
        if wanted and num_samples == per_class * task.num_classes:
            pooled_features[network] = np.concatenate(fake)
    if pooled:
        if pooled_features:
            results["pooled_class_balanced"] = 1.0
        results.update(eval_metrics.evaluate(
            task.sampler(state, batch_size), dataset=config.data.name, split=split,
            num_samples=num_samples, metrics=pooled, batch_size=batch_size, seed=seed,
            fake_features=pooled_features))
    return results


def format_table(results: dict[str, float]) -> str:
    """`metric  value` lines, the names aligned."""
    width = max(map(len, results))
    lines = [f"{'metric':<{width}}  value"]
    lines += [f"{name:<{width}}  {value:.6g}" for name, value in results.items()]
    return "\n".join(lines)

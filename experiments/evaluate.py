"""Evaluate a generative model's checkpoint: FID, KID, precision/recall, classifier FD.

python -m experiments.evaluate --workdir=runs/dcgan --num_samples=10000 --split=test

python -m experiments.evaluate --workdir=runs/cdcgan --metrics=fid,intra_classifier_fd,intra_fid

Reads `<workdir>/config.json`, restores the newest readable checkpoint (or
`--step`), draws `num_samples` images from the task's sampler and compares them
with the split; writes `<workdir>/metrics.json` (or `--output`) and prints a
table. The record holds the checkpoint's step and its training wall time.

For class-conditional GANs, `intra_classifier_fd` and `intra_fid` add the
intra-class distances (genjax.eval.conditional: each class's `--per_class`
samples against that class's real images, on the classifier's features or on
Inception's), as `<metric>/<class name>` and `<metric>/mean`. When `--num_samples`
equals `--per_class` times the number of classes (10 x 1000 = 10000, the defaults),
the pooled metrics of the same network (fid/kid/prdc for intra_fid, classifier_fd for
intra_classifier_fd) are computed on those class-balanced samples instead of a second
set drawn with random labels: one feature pass instead of two (a 10k Inception pass
is ~35 min on 2 CPU cores). The record then holds `pooled_class_balanced` = 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from absl import app, flags

from experiments.launch import errors_exit

flags.DEFINE_string("workdir", None, "A training workdir (holds config.json, checkpoints/).",
                    required=True)
flags.DEFINE_integer("num_samples", 10000, "Generated samples (and real images) to compare.")
flags.DEFINE_string("split", "test", "The real split to compare with.")
flags.DEFINE_list("metrics", ["fid", "kid", "prdc", "classifier_fd"],
                  "Metrics to compute; conditional GANs also: intra_classifier_fd, intra_fid.")
flags.DEFINE_integer("per_class", 1000, "Samples (and real images) per class for intra_* metrics.")
flags.DEFINE_integer("batch_size", 100, "Images per feature-network batch.")
flags.DEFINE_integer("seed", 0, "Seed of the samples drawn.")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the newest readable).")
flags.DEFINE_string("output", None, "Where to write the JSON (default: <workdir>/metrics.json).")
FLAGS = flags.FLAGS
INTRA_METRICS = {"intra_classifier_fd": "classifier", "intra_fid": "inception"}


def main(argv):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    with errors_exit():
        results = evaluate_workdir(Path(FLAGS.workdir))
    width = max(map(len, results))
    print(f"{'metric':<{width}}  value")
    for name, value in results.items():
        print(f"{name:<{width}}  {value:.6g}")


def evaluate_workdir(workdir: Path) -> dict[str, float]:
    import jax
    import ml_collections
    import numpy as np

    from genjax.errors import UserError
    from genjax.eval import conditional, metrics
    from genjax.io import checkpoint
    from genjax.train.tasks import make_task

    if not (workdir / "config.json").is_file():
        raise UserError(f"{workdir} has no config.json: not a genjax training workdir")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    task = make_task(config)
    if not hasattr(task, "sampler"):
        raise UserError(f"task {config.task!r} does not generate images")
    intra = {m: INTRA_METRICS[m] for m in FLAGS.metrics if m in INTRA_METRICS}
    pooled = [m for m in FLAGS.metrics if m not in INTRA_METRICS]
    metrics.check_request(dataset=config.data.name, split=FLAGS.split,
                          num_samples=FLAGS.num_samples, metrics=pooled)
    if intra and not getattr(task, "num_classes", 0):
        raise UserError(f"{sorted(intra)} need a class-conditional model; {workdir} has none")
    for network in intra.values():
        conditional.check_request(dataset=config.data.name, split=FLAGS.split,
                                  per_class=FLAGS.per_class, network=network)
    manager = checkpoint.make_manager(workdir / "checkpoints")
    template = task.init_state(jax.random.PRNGKey(0))
    if FLAGS.step is not None:
        if FLAGS.step not in manager.all_steps():
            raise UserError(f"no checkpoint step {FLAGS.step} in {workdir / 'checkpoints'}; "
                            f"saved steps: {sorted(manager.all_steps())}")
        state, step = checkpoint.restore(manager, FLAGS.step, template), FLAGS.step
    else:
        state, step = checkpoint.restore_latest(manager, template)
    if step is None:
        raise UserError(f"{workdir / 'checkpoints'} holds no checkpoint")
    results = {"step": float(step), "train_seconds": checkpoint.saved_train_seconds(manager, step)}
    pooled_features = {}  # network -> the intra pass's class-balanced features, to reuse
    for name, network in intra.items():
        wanted = set(metrics.NETWORK_METRICS[network]) & set(pooled)
        if wanted:  # the split-wide pass first: the class references slice it
            metrics.reference_features(config.data.name, FLAGS.split, metrics.feature_net(network),
                                       num_samples=FLAGS.num_samples, batch_size=FLAGS.batch_size)
        fake = conditional.class_features(
            task.class_sampler(state, FLAGS.batch_size), metrics.feature_net(network),
            num_classes=task.num_classes, per_class=FLAGS.per_class,
            batch_size=FLAGS.batch_size, seed=FLAGS.seed)
        per_class = conditional.intra_class_scores(fake, dataset=config.data.name,
                                                   split=FLAGS.split, network=network,
                                                   batch_size=FLAGS.batch_size)
        results.update({f"{name}/{label}": value for label, value in per_class.items()})
        if wanted and FLAGS.num_samples == FLAGS.per_class * task.num_classes:
            pooled_features[network] = np.concatenate(fake)
    if pooled:
        if pooled_features:
            results["pooled_class_balanced"] = 1.0
        results.update(metrics.evaluate(
            task.sampler(state, FLAGS.batch_size), dataset=config.data.name, split=FLAGS.split,
            num_samples=FLAGS.num_samples, metrics=pooled, batch_size=FLAGS.batch_size,
            seed=FLAGS.seed, fake_features=pooled_features))
    output = Path(FLAGS.output) if FLAGS.output else workdir / "metrics.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    from genjax.malloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    app.run(main)

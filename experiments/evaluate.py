"""Evaluate a generative model's checkpoint: FID, KID, precision/recall, classifier FD.

python -m experiments.evaluate --workdir=runs/dcgan --num_samples=10000 --split=test

python -m experiments.evaluate --workdir=runs/cdcgan --metrics=fid,intra_classifier_fd,intra_fid

Writes `<workdir>/metrics.json` (or `--output`) and prints a table; see
genjax/studies/evaluation.py for what each metric compares.
"""

from absl import flags

from experiments import launch
from genjax.studies.evaluation import DEFAULT_METRICS, evaluate_run, format_table

flags.DEFINE_string("workdir", None, "A training workdir (holds config.json, checkpoints/).",
                    required=True)
flags.DEFINE_integer("num_samples", 10000, "Generated samples (and real images) to compare.")
flags.DEFINE_string("split", "test", "The real split to compare with.")
flags.DEFINE_list("metrics", list(DEFAULT_METRICS),
                  "Metrics to compute; conditional GANs also: intra_classifier_fd, intra_fid.")
flags.DEFINE_integer("per_class", 1000, "Samples (and real images) per class for intra_* metrics.")
flags.DEFINE_integer("batch_size", 100, "Images per feature-network batch.")
flags.DEFINE_integer("seed", 0, "Seed of the samples drawn.")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the newest readable).")
flags.DEFINE_string("output", None, "Where to write the JSON (default: <workdir>/metrics.json).")
FLAGS = flags.FLAGS


def main() -> None:
    results = evaluate_run(FLAGS.workdir, num_samples=FLAGS.num_samples, split=FLAGS.split,
                           metrics=FLAGS.metrics, per_class=FLAGS.per_class,
                           batch_size=FLAGS.batch_size, seed=FLAGS.seed, step=FLAGS.step,
                           output=FLAGS.output)
    print(format_table(results))


if __name__ == "__main__":
    launch.command(main)

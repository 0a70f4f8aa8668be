"""Score trained SVG runs on the fixed Stochastic Moving Fashion-MNIST test set.

python -m experiments.video_eval --workdirs=runs/svg_lp,runs/svg_fp,runs/svg_det \
    --output=runs/video_eval

Per predicted step: PSNR and SSIM of the best of --num_samples futures and their mean
(Denton & Fergus 2018's protocol), one column per method, plots psnr.png / ssim.png, a
GIF and a PNG strip per method, report.json and report.md. The deterministic model is
sampled once (its futures are all the same). With --identity, also the shipped
classifier's accuracy on each predicted item of the 1-item test set at steps 5, 10, 20
and 100, cropped at the item's true position and where the predicted frame shows it.
See genjax/studies/video.py and video_report.py.
"""

import json
from pathlib import Path

from absl import flags

from experiments import launch
from genjax.errors import UserError, check_counts

flags.DEFINE_list("workdirs", None, "Trained SVG workdirs (experiments.svg), one per model.")
flags.DEFINE_integer("num_sequences", 256, "Test sequences.")
flags.DEFINE_integer("num_samples", 100, "Sampled futures per test sequence.")
flags.DEFINE_integer("num_future", 20, "Predicted frames per future.")
flags.DEFINE_integer("batch_size", 8, "Test sequences sampled at once (x num_samples futures).")
flags.DEFINE_bool("identity", False, "Also the classifier's accuracy on predicted items.")
flags.DEFINE_integer("identity_samples", 10, "Futures per sequence for --identity.")
flags.DEFINE_list("merge", None, "Instead of --workdirs: --output directories of earlier "
                  "evaluations (e.g. one model each, run at once) to combine into one report.")
flags.DEFINE_string("output", None, "Directory for the figures and reports (default: print).")
FLAGS = flags.FLAGS


def check() -> None:
    """The flags alone, before JAX, flax and TensorFlow are imported."""
    if bool(FLAGS.workdirs) == bool(FLAGS.merge):
        raise UserError("give --workdirs (runs to score) or --merge (reports to combine), "
                        "one of the two")
    if FLAGS.merge:
        if not FLAGS.output:
            raise UserError("--merge needs --output, the directory for the combined report")
        for source in FLAGS.merge:
            if not Path(source, "report.json").is_file():
                raise UserError(f"{Path(source, 'report.json')} does not exist: give "
                                "directories that experiments.video_eval wrote with --output")
    else:
        check_counts(num_sequences=FLAGS.num_sequences, num_samples=FLAGS.num_samples,
                     num_future=FLAGS.num_future, batch_size=FLAGS.batch_size,
                     identity_samples=FLAGS.identity_samples)


def score(study) -> dict:
    runs = [study.load_video_run(w) for w in FLAGS.workdirs]  # loaded once, for both reports
    report = study.quality_report(runs, num_sequences=FLAGS.num_sequences,
                                  num_samples=FLAGS.num_samples, num_future=FLAGS.num_future,
                                  batch_size=FLAGS.batch_size, output=FLAGS.output)
    if FLAGS.identity:
        report["identity"] = [study.identity_report(run, num_sequences=FLAGS.num_sequences,
                                                    num_samples=FLAGS.identity_samples,
                                                    batch_size=FLAGS.batch_size)
                              for run in runs]
    return report


def main() -> None:
    # JAX, flax and TensorFlow: after `check`.
    from genjax.studies import video as study
    from genjax.studies import video_report

    report = (video_report.merge_reports(FLAGS.merge, FLAGS.output) if FLAGS.merge
              else score(study))
    text = video_report.format_report(report)
    print(text)
    if FLAGS.output:
        Path(FLAGS.output, "report.md").write_text(text + "\n")
        Path(FLAGS.output, "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    launch.command(main, check)

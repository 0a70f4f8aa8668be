"""The VAE codec measured: the lossless table and the lossy rate-distortion curve.

python -m experiments.compression_eval --workdir=runs/vae_8bit --output=runs/vae_8bit/codec

Codes the first --examples test images (all 10,000 by default) into one real file and
back (the round trip is checked), and sets its bits/dim beside the model's negative
ELBO and IWAE-k bound on the same images, the bits-back overhead as it amortises, the
standard lossless formats (PNG, WebP lossless, JPEG XL lossless, gzip/bz2/lzma of the raw
array) and the encode and decode speed. For an 8-bit model it then sweeps the lossy grid
step and JPEG's and WebP's quality on the same images (--lossy_examples of them) for the
rate-distortion curve. Writes lossless.gjx, report.json, report.md and
rate_distortion.png under --output.
"""

from pathlib import Path

from absl import flags

from experiments import launch
from genjax.errors import UserError
from genjax.studies import compression

flags.DEFINE_string("workdir", None, "A trained VAE workdir (bernoulli or logistic decoder).",
                    required=True)
flags.DEFINE_string("split", "test", "The split to code.")
flags.DEFINE_integer("examples", 10000, "Images for the lossless table.")
flags.DEFINE_integer("lossy_examples", 10000, "Images for the rate-distortion curve (0: none).")
flags.DEFINE_integer("iwae_samples", 100, "k of the IWAE bound beside the file size.")
flags.DEFINE_string("output", None, "Output directory.", required=True)
FLAGS = flags.FLAGS


def main() -> None:
    if FLAGS.iwae_samples < 1:
        raise UserError(f"--iwae_samples must be at least 1, got {FLAGS.iwae_samples}")
    if FLAGS.lossy_examples < 0:
        raise UserError(f"--lossy_examples must be >= 0, got {FLAGS.lossy_examples}")
    run, codec = compression.load_codec(FLAGS.workdir)
    if FLAGS.lossy_examples and codec.levels != 256:
        raise UserError("the lossy comparison needs an 8-bit (logistic) model; give "
                        "--lossy_examples=0 for a binarised one")
    output = Path(FLAGS.output)
    images = compression.split_images(run, FLAGS.split, FLAGS.examples)
    report = {"workdir": str(run.workdir), "step": run.step, "split": FLAGS.split,
              "lossless": compression.lossless_report(
                  run, codec, images, split=FLAGS.split, output=output / "lossless.gjx",
                  iwae_samples=FLAGS.iwae_samples)}
    text = compression.format_lossless_table(report["lossless"])
    if FLAGS.lossy_examples:
        rd = compression.rate_distortion(codec, images[:FLAGS.lossy_examples])
        report["rate_distortion"] = rd
        compression.plot_rate_distortion(rd, output / "rate_distortion.png")
        text += "\n\n" + compression.format_rd_table(rd)
    print(text)
    compression.write_report(report, output / "report.json")
    (output / "report.md").write_text(text + "\n")


if __name__ == "__main__":
    launch.command(main)

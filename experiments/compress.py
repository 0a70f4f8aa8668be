"""Compress images into one file with a trained VAE: lossless (BB-ANS) or lossy.

python -m experiments.compress --workdir=runs/vae_8bit --split=test --output=test.gjx
python -m experiments.compress --workdir=runs/vae_8bit --input=my_pngs/ --output=mine.gjx
python -m experiments.compress --workdir=runs/vae_8bit --split=test --lossy_step=0.25 \
    --output=test_lossy.gjx

--split codes the first --examples images of a split of the run's dataset, as the
model sees them (8-bit levels; the seeded 0/1 binarisation for a Bernoulli VAE).
--input codes a folder of same-sized grayscale PNGs (names are kept in the file) or a
.npy of pixel levels (N, H, W[, 1]). Lossless by default: `experiments.decompress`
restores every image bit for bit. --lossy_step=delta codes the posterior mean on a grid
of step delta instead (smaller: more bits, sharper). The file is written atomically.
"""

from pathlib import Path

from absl import flags

from experiments import launch
from genjax.codec import files, lossy
from genjax.errors import UserError
from genjax.studies import compression

flags.DEFINE_string("workdir", None, "A trained VAE workdir (bernoulli or logistic decoder).",
                    required=True)
flags.DEFINE_string("split", None, "A split of the run's dataset to code (e.g. test).")
flags.DEFINE_string("input", None, "A folder of PNGs or a .npy of pixel levels, instead.")
flags.DEFINE_integer("examples", None, "Only the first N images of --split.")
flags.DEFINE_float("lossy_step", None, "Lossy: the grid step of the posterior mean.")
flags.DEFINE_integer("seed", 0, "Seed of the bits-back initial words.")
flags.DEFINE_string("output", None, "The file to write.", required=True)
FLAGS = flags.FLAGS


def main() -> None:
    if (FLAGS.split is None) == (FLAGS.input is None):
        raise UserError("give one of --split and --input")
    if FLAGS.lossy_step is not None:
        lossy.check_grid_step(FLAGS.lossy_step)
    if Path(FLAGS.output).is_dir():
        raise UserError(f"--output {FLAGS.output} is a folder; give a file path")
    run, codec = compression.load_codec(FLAGS.workdir)
    names = None
    if FLAGS.split is not None:
        images = compression.split_images(run, FLAGS.split, FLAGS.examples)
    else:
        images, names = files.read_images(FLAGS.input, levels=codec.levels)
        images = codec.check_images(images, f"--input {FLAGS.input}")
    result = codec.compress(images, FLAGS.output, names=names, grid_step=FLAGS.lossy_step,
                            seed=FLAGS.seed)
    bits_per_dim = 8.0 * result["bytes"] / (result["count"] * result["dims"])
    kind = "lossless" if FLAGS.lossy_step is None else f"lossy, grid {FLAGS.lossy_step:g}"
    print(f"wrote {FLAGS.output}: {result['count']} images, {result['bytes']:,} bytes, "
          f"{bits_per_dim:.4f} bits/dim ({kind}), {result['seconds']:.1f} s")


if __name__ == "__main__":
    launch.command(main)

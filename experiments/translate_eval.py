"""Score a trained CycleGAN both ways on the test split, beside the identity map and real images.

python -m experiments.translate_eval --workdir=runs/cg_sneaker_boot \
    --output=runs/cg_sneaker_boot_eval

Prints a markdown table per direction (translation success by the shipped classifier,
classifier FD to the real target images and the real-vs-real floor, FID with --fid,
cycle PSNR / SSIM / L1) and writes <output>.md, <output>.json and an
input | translated | reconstructed figure <output>.png; see genjax/studies/translation.py.
"""

from absl import flags

from experiments import launch
from genjax.studies.translation import format_table, translation_report

flags.DEFINE_string("workdir", None, "A trained CycleGAN workdir (experiments.cyclegan).",
                    required=True)
flags.DEFINE_integer("step", None, "Checkpoint step to use (default: the newest readable).")
flags.DEFINE_bool("fid", False, "Also FID on the Inception network (about 11 min per 10k "
                  "images on a 2-vCPU CPU; here 4 x 500 images per direction).")
flags.DEFINE_integer("batch_size", 500, "Images per batch.")
flags.DEFINE_string("output", None, "Write <output>.json, .md and .png (default: print only).")
FLAGS = flags.FLAGS


def main() -> None:
    results = translation_report(FLAGS.workdir, step=FLAGS.step, fid=FLAGS.fid,
                                 batch_size=FLAGS.batch_size, output=FLAGS.output)
    print(format_table(results))


if __name__ == "__main__":
    launch.command(main)

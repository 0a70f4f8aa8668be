"""Enhance or translate your own grayscale PNGs with a trained pix2pix, L1 U-Net or CycleGAN run.

python -m experiments.enhance --workdir=runs/sr4 --input=my_images/ --output=enhanced/
python -m experiments.enhance --workdir=runs/cg_sneaker_boot --direction=ba \
    --input=boots/ --output=sneakers/

--input is one PNG or a folder of them; the outputs (28x28 PNGs) get the same names
in --output. For super-resolution the PNG is the low-resolution image (7x7 for x4;
other sizes are resized to it); for CycleGAN, an image of domain A (--direction=ab,
the default) or B (--direction=ba). Nothing is written unless every input is readable
and grayscale; see genjax/studies/enhance.py.
"""

from absl import flags

from experiments import launch
from genjax.studies.enhance import enhance_files

flags.DEFINE_string("workdir", None, "A trained pix2pix or CycleGAN workdir.",
                    required=True)
flags.DEFINE_string("input", None, "A grayscale PNG or a folder of them.", required=True)
flags.DEFINE_string("output", None, "The folder to write the outputs into.", required=True)
flags.DEFINE_integer("batch_size", 64, "Images per batch.")
flags.DEFINE_enum("direction", None, ["ab", "ba"],
                  "CycleGAN runs: ab translates domain A to B (the default), ba B to A.")
flags.DEFINE_integer("step", None, "Checkpoint step to use (default: the newest readable).")
FLAGS = flags.FLAGS


def main() -> None:
    written = enhance_files(FLAGS.workdir, FLAGS.input, FLAGS.output,
                            batch_size=FLAGS.batch_size, step=FLAGS.step,
                            direction=FLAGS.direction)
    print(f"wrote {len(written)} image(s) to {FLAGS.output}")


if __name__ == "__main__":
    launch.command(main)

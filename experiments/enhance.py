"""Enhance your own grayscale PNGs with a trained pix2pix or L1 U-Net run.

python -m experiments.enhance --workdir=runs/sr4 --input=my_images/ --output=enhanced/

--input is one PNG or a folder of them; the outputs (28x28 PNGs) get the same names
in --output. For super-resolution the PNG is the low-resolution image (7x7 for x4;
other sizes are resized to it). Nothing is written unless every input is readable
and grayscale; see genjax/studies/enhance.py.
"""

from absl import flags

from experiments import launch
from genjax.studies.enhance import enhance_files

flags.DEFINE_string("workdir", None, "A trained image-to-image workdir (experiments.pix2pix).",
                    required=True)
flags.DEFINE_string("input", None, "A grayscale PNG or a folder of them.", required=True)
flags.DEFINE_string("output", None, "The folder to write the outputs into.", required=True)
flags.DEFINE_integer("batch_size", 64, "Images per batch.")
flags.DEFINE_integer("step", None, "Checkpoint step to use (default: the newest readable).")
FLAGS = flags.FLAGS


def main() -> None:
    written = enhance_files(FLAGS.workdir, FLAGS.input, FLAGS.output,
                            batch_size=FLAGS.batch_size, step=FLAGS.step)
    print(f"wrote {len(written)} image(s) to {FLAGS.output}")


if __name__ == "__main__":
    launch.command(main)

"""Restore the images of a file written by `experiments.compress`.

python -m experiments.decompress --workdir=runs/vae_8bit --input=test.gjx --output=test.npy
python -m experiments.decompress --workdir=runs/vae_8bit --input=mine.gjx --output=restored/

The run must be the one that wrote the file (its checksum is in the header). A .npy
output holds the pixel levels (N, H, W, C) uint8; a folder output (new or empty) gets one
8-bit grayscale PNG per image, under its original name when the file kept names. A
truncated, corrupted or foreign file is a one-line error, and nothing is written.
"""

from absl import flags

from experiments import launch
from genjax.codec import files
from genjax.studies import compression

flags.DEFINE_string("workdir", None, "The VAE workdir that wrote the file.", required=True)
flags.DEFINE_string("input", None, "The compressed file.", required=True)
flags.DEFINE_string("output", None, "A .npy path or a new folder for PNGs.", required=True)
FLAGS = flags.FLAGS


def main() -> None:
    _, codec = compression.load_codec(FLAGS.workdir)
    images, names, header = codec.decompress(FLAGS.input)
    output = files.write_images(images, FLAGS.output, levels=header.levels, names=names)
    kind = "lossless" if header.mode == 0 else f"lossy, grid {header.grid_step:g}"
    print(f"wrote {output}: {header.count} images ({kind})")


if __name__ == "__main__":
    launch.command(main)

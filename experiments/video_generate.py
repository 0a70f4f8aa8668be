"""Sample futures from a trained SVG run: of test sequences, or of your own frames.

python -m experiments.video_generate --workdir=runs/svg_lp --num=16 --frames=100 \
    --output=runs/svg_lp_futures
python -m experiments.video_generate --workdir=runs/svg_lp --input=my_frames.npy \
    --frames=30 --samples=4 --output=my_futures

--frames counts every frame of an output video: the model's conditioning frames (the
config's num_cond, 5 by default) and the generated ones after them. --input is a .npy of
(N, T, 64, 64) or (N, T, 64, 64, 1) frames, uint8 or floats in [0, 1], T >= num_cond; its
first num_cond frames condition the model. Writes futures.npy (N, samples, frames, 64, 64,
1) in [0, 1], futures.gif (green borders: given frames, red: generated) and futures.png.
"""

from pathlib import Path

import numpy as np
from absl import flags

from experiments import launch
from genjax.errors import UserError
from genjax.studies.video import user_futures

flags.DEFINE_string("workdir", None, "A trained SVG workdir (experiments.svg).", required=True)
flags.DEFINE_integer("num", 16, "Sequences to continue (the first of --input or of the test "
                     "set).")
flags.DEFINE_integer("frames", 100, "Frames per output video, conditioning frames included.")
flags.DEFINE_integer("samples", 1, "Sampled futures per sequence.")
flags.DEFINE_integer("seed", 0, "Seed of the sampled futures.")
flags.DEFINE_string("input", None, "A .npy of your own frames (default: test sequences).")
flags.DEFINE_string("output", None, "Output directory.", required=True)
FLAGS = flags.FLAGS


def main() -> None:
    for name in ("num", "frames", "samples"):
        if FLAGS[name].value < 1:
            raise UserError(f"--{name} must be at least 1, got {FLAGS[name].value}")
    frames = None
    if FLAGS.input is not None:
        path = Path(FLAGS.input)
        if not path.is_file():
            raise UserError(f"--input {path} does not exist")
        try:
            frames = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise UserError(f"--input {path} is not a .npy array: {err}") from None
    output = user_futures(FLAGS.workdir, frames, num=FLAGS.num, num_frames=FLAGS.frames,
                          num_samples=FLAGS.samples, seed=FLAGS.seed, output=FLAGS.output)
    print(f"wrote {output / 'futures.npy'}, futures.gif and futures.png")


if __name__ == "__main__":
    launch.command(main)

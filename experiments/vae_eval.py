"""The importance-weighted bound (Burda et al. 2015) of a trained VAE or DRAW over a split.

python -m experiments.vae_eval --workdir=runs/vae --k=5000 --batch_size=100 --chunk_size=100
python -m experiments.vae_eval --workdir=runs/draw --k=100 --chunk_size=25

Prints nats (and bits/dim for 8-bit data) and the wall time, and writes
<workdir>/likelihood.json (or `--output`); see genjax/studies/likelihood.py.
"""

from absl import flags

from experiments import launch
from genjax.studies.likelihood import format_bound, likelihood_bound

flags.DEFINE_string("workdir", None, "A VAE or DRAW run's workdir.", required=True)
flags.DEFINE_integer("k", 5000, "Importance samples per example.")
flags.DEFINE_integer("batch_size", 100, "Examples per batch.")
flags.DEFINE_integer("chunk_size", 100, "Samples decoded at once per example.")
flags.DEFINE_string("split", None, "Split to evaluate (default: the config's eval_split).")
flags.DEFINE_integer("examples", None, "Only the first N examples (default: all).")
flags.DEFINE_string("output", None, "Where to write the JSON (default: "
                    "<workdir>/likelihood.json).")
FLAGS = flags.FLAGS


def main() -> None:
    print(format_bound(likelihood_bound(
        FLAGS.workdir, k=FLAGS.k, batch_size=FLAGS.batch_size, chunk_size=FLAGS.chunk_size,
        split=FLAGS.split, examples=FLAGS.examples, output=FLAGS.output)))


if __name__ == "__main__":
    launch.command(main)

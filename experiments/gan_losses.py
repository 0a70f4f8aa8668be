"""The GAN loss table: one DCGAN config, one row per loss, the same wall-time budget.

python -m experiments.gan_losses --workdir=runs/gan_losses --budget_seconds=480

Every row trains `--config` (default: the Fashion-MNIST DCGAN) with its own
overrides (`VARIANTS` in genjax/studies/gan_losses.py) and
`max_train_seconds=--budget_seconds`, in `<workdir>/<row>` (training ends at the
budget or at `num_train_steps`, whichever comes first), then measures its EMA
generator: the classifier Fréchet distance of `--num_samples` samples against the
test split, the diversity ratio, and FID when `--fid_samples` > 0 (slow on a CPU:
~30 min per 10k samples on 2 CPU cores). Rows run one after another so that each
has the machine to itself; run nothing else meanwhile, or the budgets are not the
same. Results go to `<workdir>/results.json` (a finished row is not run again; an
interrupted one resumes from its checkpoint with the time it had already used) and
`<workdir>/table.md`, which is printed.
"""

from absl import flags

from experiments import launch
from genjax.studies.gan_losses import VARIANTS, gan_loss_table

flags.DEFINE_string("workdir", None, "Directory for the rows' runs and the table.", required=True)
launch.define_config("config", "experiments/configs/dcgan.py",
                                "The base GAN config every row starts from.")
flags.DEFINE_float("budget_seconds", 600.0, "Training wall time of every row.")
flags.DEFINE_list("variants", ["minimax", "nonsaturating", "hinge", "wgan_gp"],
                  f"Rows, in order; any of {sorted(VARIANTS)}.")
flags.DEFINE_integer("num_samples", 10000, "Samples for the classifier Fréchet distance.")
flags.DEFINE_integer("fid_samples", 0, "Samples for FID (0: skip; ~30 min per 10k on 2 CPUs).")
FLAGS = flags.FLAGS


def main() -> None:
    print(gan_loss_table(FLAGS.workdir, config=FLAGS.config,
                         budget_seconds=FLAGS.budget_seconds, variants=FLAGS.variants,
                         num_samples=FLAGS.num_samples, fid_samples=FLAGS.fid_samples))


if __name__ == "__main__":
    launch.command(main)

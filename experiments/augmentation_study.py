"""The augmentation study (issue 7): with little labelled data, do GAN samples help a classifier?

python -m experiments.augmentation_study --workdir=runs/aug_study
    [--fractions=0.01,0.05,0.1] [--seeds=0,1,2] [--conditions=real,classical,gan,both]
    [--gan_steps=2000] [--classifier_steps=1000] [--generated_per_class=600]
    [--gan_config.model.width=32 ...] [--classifier_config.model.hidden=64 ...]

For every fraction of Fashion-MNIST's train split (class-balanced: 600 / 3000 / 6000
images at 1% / 5% / 10%) and every seed, the CNN classifier (`--classifier_config`)
is trained on the real subset alone (`real`), with flips and crops (`classical`),
with `--generated_per_class` images of each class from a class-conditional GAN
(`--gan_config`) trained on that subset with DiffAugment (`gan`), or both (`both`).
The default 600 per class (6000 images) is 10, 2 and 1 generated images per real one
at 1%, 5% and 10%. The seeds of a fraction train together, each part one compiled program
for all of them (`num_seeds`, seeds_mode "loop"), so consecutive --seeds are cheapest.
genjax/studies/augmentation.py describes the study; an interrupted
run resumes, finished parts are not run again, and `<workdir>/table.md` (test accuracy
in %, mean ± sample std over seeds) and `<workdir>/plot.png` end it; the table is printed.

Cost with the defaults on this machine's 2 CPU cores (README timings: DCGAN ~0.3-0.5
s/step, CNN ~0.2 s/step at batch 128): a GAN of 2000 steps takes ~12-18 min with its
evaluations, 6000 generated images ~10 s, a classifier of 1000 steps ~3-4 min. The full
study (9 GANs, 36 classifiers) is therefore ~4-5 h; one seed ~1.5 h; only `real` and
`classical` (no GAN) ~1 h.
"""

from absl import flags

from experiments import launch
from genjax.studies.augmentation import CONDITIONS, augmentation_study

flags.DEFINE_string("workdir", None, "Directory of the study's runs, results and table.",
                    required=True)
flags.DEFINE_list("fractions", ["0.01", "0.05", "0.1"],
                  "Fractions of the real train split (class-balanced), each in (0, 1].")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds: of the subset, GAN and classifiers.")
flags.DEFINE_list("conditions", list(CONDITIONS), f"Any of {list(CONDITIONS)}.")
flags.DEFINE_integer("gan_steps", 2000, "Training steps of each conditional GAN.")
flags.DEFINE_integer("classifier_steps", 1000, "Training steps of each classifier.")
flags.DEFINE_integer("generated_per_class", 600, "Generated images per class added to "
                     "the real subset in the gan and both conditions.")
launch.define_config(
    "gan_config", "experiments/configs/cdcgan.py", "Class-conditional GAN config (its "
    "data.train_fraction, subset_seed, seed, diffaug_policy and num_train_steps are set per "
    "cell).")
launch.define_config(
    "classifier_config", "experiments/configs/classifier.py", "Classifier config (its data, "
    "augment, seed and num_train_steps fields are set per condition).")
FLAGS = flags.FLAGS


def main() -> None:
    print(augmentation_study(
        FLAGS.workdir, fractions=FLAGS.fractions, seeds=FLAGS.seeds,
        conditions=FLAGS.conditions, gan_config=FLAGS.gan_config,
        classifier_config=FLAGS.classifier_config, gan_steps=FLAGS.gan_steps,
        classifier_steps=FLAGS.classifier_steps, generated_per_class=FLAGS.generated_per_class))


if __name__ == "__main__":
    launch.command(main)

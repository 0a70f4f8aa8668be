"""Classification Accuracy Score of a class-conditional GAN.

python -m experiments.cas --workdir=runs/cgan [--num_per_class=6000] [--out=runs/cgan/cas]
    [--config.num_train_steps=2000 ...]   # overrides of experiments/configs/classifier.py

Ravuri & Vinyals (2019, "Classification Accuracy Score for Conditional Generative
Models") train a classifier on generated, labelled images only and test it on the
real test set: a generator that misses part of a class, or draws the wrong class,
lowers the score. Its gap to the same classifier trained on real data is the result.

1. restore the newest checkpoint of the conditional GAN in `--workdir`;
2. draw `--num_per_class` images of every class (default: as many as the real
   training split holds, e.g. 6000 for Fashion-MNIST), labels interleaved so every
   batch mixes the classes, into `<out>/generated.npz` (uint8, as a stored split);
   a rerun with the same settings reuses the file, so `fit` resumes on the same data;
3. `fit` the classifier config on it in `<out>` (default `<workdir>/cas`);
4. write `<out>/cas.json`: that classifier's accuracy on the real test split, overall
   and per class, next to the accuracy of the classifier trained on real data
   (`--baseline`, default the shipped `fashion_mnist_cnn`), measured the same way.

The core, `classification_accuracy_score(class_sampler, num_classes, ...)`, takes any
sampler `fn(rng, labels) -> images in [-1, 1]`, so it runs without a GAN.
"""

from absl import flags

from experiments import launch
from genjax.studies.cas import cas_for_workdir

flags.DEFINE_string("workdir", None, "The conditional GAN's training workdir.",
                    required=True)
flags.DEFINE_integer("num_per_class", None,
                     "Generated images per class (default: as many as the real train split).")
flags.DEFINE_string("out", None, "Workdir of the classifier and cas.json "
                    "(default: <workdir>/cas).")
flags.DEFINE_integer("batch_size", 100, "Images per class_sampler call.")
flags.DEFINE_integer("seed", 0, "Seed of the generated set.")
flags.DEFINE_string("baseline", "fashion_mnist_cnn", "Classifier trained on real data to "
                    "compare with: a pretrained name or an export directory ('' for none).")
launch.define_config("config", "experiments/configs/classifier.py",
                                "Classifier config file.")
FLAGS = flags.FLAGS


def main() -> None:
    f = FLAGS
    result = cas_for_workdir(f.workdir, config=f.config, num_per_class=f.num_per_class,
                             out=f.out, batch_size=f.batch_size, seed=f.seed,
                             baseline=f.baseline or None)
    real = result["real_accuracy"]
    print(f"CAS (trained on {result['num_train_images']} generated images): "
          f"{result['cas_accuracy']:.4f}")
    print(f"trained on real data ({result['baseline']}): "
          + ("-" if real is None else f"{real:.4f}"))


if __name__ == "__main__":
    launch.command(main)

"""Class-conditional DCGAN on Fashion-MNIST 28x28: projection discriminator, 10 classes.

python -m experiments.dcgan --config=experiments/configs/cdcgan.py --workdir=runs/cdcgan
AC-GAN instead: --config.model.conditioning=acgan --config.loss.ac_weight=1.0

The DCGAN recipe of experiments/configs/dcgan.py (Adam 2e-4 / 0.5, BatchNorm in
G and D, non-saturating loss, EMA of G), with G's BatchNorm made
class-conditional (de Vries et al. 2017) and D's output the projection of
Miyato & Koyama 2018 (eq. 3). They trained with the hinge loss and spectral
norm in D: --config.loss.name=hinge --config.model.d_norm=spectral_norm. Sample
grids (workdir/samples/) have one row per class, in the dataset's label order.
"""

from experiments.configs import dcgan


def get_config():
    c = dcgan.get_config()
    c.model.num_classes = 10  # fashion_mnist's classes (genjax.data.registry)
    c.model.conditioning = "projection"
    return c

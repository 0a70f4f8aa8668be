"""DCGAN on MNIST 28x28: the Fashion-MNIST recipe on digits.

python -m experiments.dcgan --config=experiments/configs/dcgan_mnist.py --workdir=runs/mnist
MNIST is not available offline here; it downloads through tfds on first use.
"""

from experiments.configs import dcgan


def get_config():
    c = dcgan.get_config()
    c.data.name = "mnist"
    return c

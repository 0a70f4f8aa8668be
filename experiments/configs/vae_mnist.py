"""Convolutional VAE on dynamically binarised MNIST (Bernoulli decoder).

python -m experiments.vae --config=experiments/configs/vae_mnist.py --workdir=runs/vae_mnist

Needs network access once: tfds downloads MNIST into the data dir (only
Fashion-MNIST can be built offline here). The binarised-MNIST literature
reports its test IWAE-5000 bound in nats (e.g. Burda et al. 2015, Table 1).
"""

from experiments.configs import vae


def get_config():
    c = vae.get_config()
    c.data.name = "mnist"
    return c

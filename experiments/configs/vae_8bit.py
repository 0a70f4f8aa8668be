"""Convolutional VAE on 8-bit Fashion-MNIST with a discretised logistic decoder.

python -m experiments.vae --config=experiments/configs/vae_8bit.py --workdir=runs/vae_8bit

The decoder puts a discretised logistic (Salimans et al. 2017, eq. 2) on each of
the 256 pixel levels, so -ELBO and the IWAE bound are code lengths, reported in
bits/dim = nats / (784 ln 2) beside nats.
"""

from experiments.configs import vae


def get_config():
    c = vae.get_config()
    c.data.image_range = "uint8"
    c.likelihood.name = "logistic"
    return c

"""pix2pix: denoising Gaussian noise, sigma 0.3 on [0, 1] intensities, clipped.

python -m experiments.pix2pix --workdir=runs/denoise \
    --config=experiments/configs/pix2pix_denoise.py
Everything else is experiments/configs/pix2pix_sr4.py's.
"""

from experiments.configs import pix2pix_sr4


def get_config():
    c = pix2pix_sr4.get_config()
    c.pairs.name = "denoise_gaussian"
    c.pairs.sigma = 0.3
    return c

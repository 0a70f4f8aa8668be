"""pix2pix: denoising salt-and-pepper noise on 10% of the pixels.

python -m experiments.pix2pix --workdir=runs/sp \
    --config=experiments/configs/pix2pix_denoise_sp.py
Everything else is experiments/configs/pix2pix_sr4.py's.
"""

from experiments.configs import pix2pix_sr4


def get_config():
    c = pix2pix_sr4.get_config()
    c.pairs.name = "denoise_salt_pepper"
    c.pairs.fraction = 0.1
    return c

"""pix2pix: x2 super-resolution, 14x14 -> 28x28.

python -m experiments.pix2pix --workdir=runs/sr2 \
    --config=experiments/configs/pix2pix_sr2.py
Everything else is experiments/configs/pix2pix_sr4.py's.
"""

from experiments.configs import pix2pix_sr4


def get_config():
    c = pix2pix_sr4.get_config()
    c.pairs.scale = 2
    return c

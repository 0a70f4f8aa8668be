"""pix2pix: edges -> garment (Sobel magnitudes, normalised per image, as input).

python -m experiments.pix2pix --workdir=runs/edges \
    --config=experiments/configs/pix2pix_edges.py
Everything else is experiments/configs/pix2pix_sr4.py's.
"""

from experiments.configs import pix2pix_sr4


def get_config():
    c = pix2pix_sr4.get_config()
    c.pairs.name = "edges"
    return c

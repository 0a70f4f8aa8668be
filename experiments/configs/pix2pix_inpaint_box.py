"""pix2pix: inpainting a random box of 8 to 16 px a side (the mask: channel 2).

python -m experiments.pix2pix --workdir=runs/box \
    --config=experiments/configs/pix2pix_inpaint_box.py
Everything else is experiments/configs/pix2pix_sr4.py's.
"""

from experiments.configs import pix2pix_sr4


def get_config():
    c = pix2pix_sr4.get_config()
    c.pairs.name = "inpaint_box"
    c.pairs.box_min, c.pairs.box_max = 8, 16
    return c

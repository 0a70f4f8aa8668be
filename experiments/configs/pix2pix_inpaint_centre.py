"""pix2pix: inpainting the centre 14x14 square (the mask as a second channel).

python -m experiments.pix2pix --workdir=runs/centre \
    --config=experiments/configs/pix2pix_inpaint_centre.py
Everything else is experiments/configs/pix2pix_sr4.py's.
"""

from experiments.configs import pix2pix_sr4


def get_config():
    c = pix2pix_sr4.get_config()
    c.pairs.name = "inpaint_centre"
    c.pairs.mask_size = 14
    return c

"""The L1-only U-Net baseline of pix2pix on x4 super-resolution (Isola et al. 2017, Table 1).

python -m experiments.pix2pix --config=experiments/configs/unet_l1_sr4.py --workdir=runs/l1_sr4
The same U-Net, data, schedule and eval set as experiments/configs/pix2pix_sr4.py,
trained on L1 alone: loss.adv_weight = 0, so no discriminator is built or trained.
"""

from experiments.configs import pix2pix_sr4


def get_config():
    c = pix2pix_sr4.get_config()
    c.loss.adv_weight = 0.0
    return c

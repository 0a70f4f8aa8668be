"""Train pix2pix or the L1-only U-Net on an image-to-image task (default: x4 super-resolution).

python -m experiments.pix2pix --workdir=runs/sr4
python -m experiments.pix2pix --config=experiments/configs/pix2pix_inpaint_centre.py \
    --workdir=runs/inpaint_centre
python -m experiments.pix2pix --config=experiments/configs/unet_l1_sr4.py --workdir=runs/l1_sr4
"""

from experiments import launch

if __name__ == "__main__":
    launch.train("experiments/configs/pix2pix_sr4.py")

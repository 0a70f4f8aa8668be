"""DCGAN on CelebA 64x64 (Radford et al. 2015, their Figure 1 architecture family).

python -m experiments.dcgan --config=experiments/configs/dcgan_celeba64.py --workdir=runs/celeba
Width 64 gives 512 channels at 4x4, the PyTorch DCGAN example's size; width 128
is the paper's (1024 at 4x4). CelebA must be prepared for tfds beforehand (its
download needs a manual step); meant for a machine with a GPU.
"""

from experiments.configs import dcgan


def get_config():
    c = dcgan.get_config()
    c.data.name = "celeb_a"
    c.model.width = 64
    c.num_train_steps = 30_000  # about 23 epochs of 1271 batches
    c.eval_every = 2500
    c.checkpoint_every = 2500
    c.eval_metrics = ("fid", "kid")  # on a GPU; classifier_fd is for 28x28 grayscale only
    c.eval_num_samples = 10000
    return c

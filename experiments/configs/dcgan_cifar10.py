"""DCGAN on CIFAR-10 32x32 (Radford et al. 2015 recipe; G: 4x4x256 -> 32x32x3 at width 64).

python -m experiments.dcgan --config=experiments/configs/dcgan_cifar10.py --workdir=runs/c10
Downloads CIFAR-10 through tfds on first use; meant for a machine with a GPU.
"""

from experiments.configs import dcgan


def get_config():
    c = dcgan.get_config()
    c.data.name = "cifar10"
    c.model.width = 64
    c.num_train_steps = 50_000  # 128 epochs of 390 batches
    c.eval_every = 5000
    c.checkpoint_every = 5000
    c.eval_metrics = ("fid", "kid")  # on a GPU; classifier_fd is for 28x28 grayscale only
    c.eval_num_samples = 10000
    return c

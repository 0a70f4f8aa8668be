"""CNN classifier on Fashion-MNIST: the project's first experiment and its feature network.

python -m experiments.classifier --config=experiments/configs/classifier.py --workdir=runs/cnn
Override any field: --config.optimizer.lr=3e-3 --config.num_train_steps=2000
"""

import ml_collections

from experiments.configs import common


def get_config():
    c = common.base("classifier", image_range="[0,1]", num_train_steps=9360,  # 20 epochs
                    eval_every=2340, checkpoint_every=1000)
    # Training set: "" reads data.train_split through tfds; a path reads an .npz of uint8
    # 'image' and int 'label' arrays (data.save_arrays), e.g. generated images for CAS.
    c.data.train_arrays = ""
    # < 1: train on a class-balanced fraction of that set (data.balanced_subset), drawn
    # with subset_seed; 1.0 keeps every example in its stored order.
    c.data.train_fraction = 1.0
    c.data.subset_seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.name = "cnn"
    c.model.widths = (16, 32)
    c.model.hidden = 128
    c.model.dropout = 0.3

    c.augment = ml_collections.ConfigDict()
    c.augment.flip = True
    c.augment.crop_pad = 2
    c.label_smoothing = 0.0

    c.optimizer = common.adam(name="adamw", lr=2e-3, weight_decay=1e-4, warmup_steps=200,
                              grad_clip=1.0)
    return c.lock()

"""CNN classifier on Fashion-MNIST: the project's first experiment and its feature network.

python -m experiments.classifier --config=experiments/configs/classifier.py --workdir=runs/cnn
Override any field: --config.optimizer.lr=3e-3 --config.num_train_steps=2000
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.task = "classifier"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "fashion_mnist"
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.image_range = "[0,1]"
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

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adamw"
    c.optimizer.lr = 2e-3
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.weight_decay = 1e-4
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 200
    c.optimizer.grad_clip = 1.0

    c.batch_size = 128
    c.eval_batch_size = 1000
    c.num_train_steps = 9360  # 20 epochs of 468 batches
    c.max_train_seconds = 0.0  # > 0: stop (and finish) at the first step past this wall time
    c.log_every = 100
    c.eval_every = 2340
    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    return c.lock()

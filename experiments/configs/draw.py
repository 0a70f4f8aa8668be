"""DRAW with attention on dynamically binarised Fashion-MNIST (Bernoulli canvas).

python -m experiments.draw --config=experiments/configs/draw.py --workdir=runs/draw
Override any field: --config.model.num_steps=64 --config.model.attention=False

The paper's MNIST setting (Gregor et al. 2015, Table 3) is a 2 x 2 read, a
5 x 5 write, 256 LSTM units, 100 latents per step and T = 64 steps; here
T = 16, a quarter of the sequential cost per image, which still shows the
canvas being drawn (set num_steps=64 for the paper's). Losses are in nats per
image, as for the VAE (experiments/configs/vae.py), and the IWAE bound is
computed the same way, so the two compare on the same test images.
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.task = "draw"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "fashion_mnist"
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.image_range = "binary"

    c.model = ml_collections.ConfigDict()
    c.model.num_steps = 16  # T
    c.model.attention = True  # False: read and write the whole image (eqs. 17-18)
    c.model.read_size = 2  # N of the read glimpse
    c.model.write_size = 5  # N of the write patch
    c.model.lstm_size = 256
    c.model.latent_dim = 100  # per step

    c.eval = ml_collections.ConfigDict()
    c.eval.iwae_samples = 10  # k of the IWAE bound at each evaluation (0: off)
    c.eval.iwae_examples = 1000  # the first examples of the eval split it runs on
    c.eval.iwae_batch_size = 100
    c.eval.iwae_chunk_size = 10  # samples run at once per example

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.schedule = "warmup_cosine"
    c.optimizer.warmup_steps = 500
    # Summed-over-pixels losses give large gradient norms early; a loose clip only guards
    # the recurrent nets against rare spikes.
    c.optimizer.grad_clip = 100.0

    c.batch_size = 128
    c.eval_batch_size = 1000
    c.num_train_steps = 23400  # 50 epochs of 468 batches
    c.max_train_seconds = 0.0  # > 0: stop (and finish) at the first step past this wall time
    c.log_every = 100
    c.eval_every = 4680
    c.checkpoint_every = 2000
    c.keep_checkpoints = 3
    return c.lock()

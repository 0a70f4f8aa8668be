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

from experiments.configs import common


def get_config():
    c = common.base("draw", image_range="binary", num_train_steps=23400,  # 50 epochs of 468
                    eval_every=4680, checkpoint_every=2000)

    c.model = ml_collections.ConfigDict()
    c.model.num_steps = 16  # T
    c.model.attention = True  # False: read and write the whole image (eqs. 17-18)
    c.model.read_size = 2  # N of the read glimpse
    c.model.write_size = 5  # N of the write patch
    c.model.lstm_size = 256
    c.model.latent_dim = 100  # per step

    c.eval = common.likelihood_eval(iwae_samples=10, iwae_chunk_size=10)

    # Summed-over-pixels losses give large gradient norms early; a loose clip only guards
    # the recurrent nets against rare spikes.
    c.optimizer = common.adam(lr=1e-3, grad_clip=100.0)
    return c.lock()

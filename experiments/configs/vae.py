"""Convolutional VAE on dynamically binarised Fashion-MNIST with a Bernoulli decoder.

python -m experiments.vae --config=experiments/configs/vae.py --workdir=runs/vae
Override any field: --config.model.latent_dim=16 --config.loss.beta=4.0
Then the whole-test-split IWAE bound: python -m experiments.vae_eval --workdir=runs/vae --k=5000

Losses are reported in nats per image (the unit of the binarised-MNIST
literature, e.g. Burda et al. 2015, Table 1).
"""

import ml_collections

from experiments.configs import common


def get_config():
    c = common.base("vae", image_range="binary", num_train_steps=23400,  # 50 epochs of 468
                    eval_every=4680, checkpoint_every=2000)

    c.model = ml_collections.ConfigDict()
    c.model.name = "conv"
    c.model.latent_dim = 32
    c.model.widths = (32, 64)
    c.model.hidden = 256

    c.likelihood = ml_collections.ConfigDict()
    c.likelihood.name = "bernoulli"  # bernoulli | gaussian | gaussian_learned | logistic
    c.likelihood.std = 0.1  # the fixed sigma of "gaussian"
    c.likelihood.min_std = 0.01  # the floor on sigma of "gaussian_learned"

    c.loss = ml_collections.ConfigDict()
    c.loss.beta = 1.0  # beta-VAE weight on the KL (1: the ELBO)
    c.loss.free_bits = 0.0  # nats per latent dimension (0: off)
    c.loss.kl_warmup_steps = 0  # linear 0 -> beta over these steps (0: off)

    c.eval = common.likelihood_eval(iwae_samples=100, iwae_chunk_size=50)
    c.eval.compression_grid_step = 1.0 / 16  # quantisation step of the latent mean

    # grad_clip off: the loss sums over pixels, so gradient norms are 30-200 (Bernoulli) and
    # 200-3000 (logistic) early on; any fixed clip would bind most steps. Set one against spikes.
    c.optimizer = common.adam(lr=1e-3)
    return c.lock()

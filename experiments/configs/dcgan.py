"""DCGAN on Fashion-MNIST 28x28 (Radford, Metz & Chintala 2015), non-saturating loss.

python -m experiments.dcgan --config=experiments/configs/dcgan.py --workdir=runs/dcgan
Override any field: --config.loss.name=hinge --config.d_optimizer.lr=4e-4

The paper's recipe (Section 4): Adam with lr 2e-4 and beta1 0.5 for both
players, batch 128, N(0, 0.02) weights (in the model), BatchNorm in G and D,
the non-saturating G loss (Goodfellow et al. 2014, Section 3). Samples are
drawn from an EMA of G's weights (decay 0.999, warmed up over the first steps,
Yazici et al. 2019). Sample grids land in workdir/samples/.

The class-conditional variant is experiments/configs/cdcgan.py (model.num_classes,
model.conditioning, loss.ac_weight; all off here).
"""

import ml_collections

from experiments.configs import common


def get_config():
    # num_train_steps: 20 epochs of 468 batches; about 45 min on 2 CPU cores.
    # eval_batch_size: EMA samples (and real images) for the diversity ratio.
    c = common.base("gan", image_range=None, num_train_steps=9360, eval_every=1000,
                    checkpoint_every=1000, eval_batch_size=256)
    # data.eval_split: the real images of the diversity ratio.
    # < 1: train on a class-balanced fraction of the train split (data.balanced_subset, the
    # same images as the classifier's with the same fraction and seed), drawn with
    # subset_seed; 1.0 keeps every example in its stored order (the batches as before).
    c.data.train_fraction = 1.0
    c.data.subset_seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.name = "dcgan"  # genjax.models.registry.MODELS["gan"]: dcgan | resnet
    c.model.width = 64  # 0.9M parameters at 28x28 (bench/gan_step.py's model)
    c.model.latent_dim = 100
    c.model.d_norm = "batch_norm"  # batch_norm | spectral_norm | none
    c.model.num_classes = 0  # 0: unconditional; else the dataset's class count (cdcgan.py)
    c.model.conditioning = "projection"  # projection | acgan (used when num_classes > 0)

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "nonsaturating"  # genjax.losses.gan.GAN_LOSSES
    c.loss.gp_weight = 0.0  # WGAN-GP: 10 (needs d_norm none or spectral_norm)
    c.loss.r1_gamma = 0.0
    c.loss.ac_weight = 0.0  # AC-GAN auxiliary class loss weight (conditioning="acgan": 1)

    c.n_critic = 1  # D updates per G update; each takes batch_size / n_critic reals
    c.ema_decay = 0.999
    c.ema_warmup = True  # decay min(0.999, (1 + t) / (10 + t)): early samples are not the init
    c.diffaug_policy = ""  # e.g. "color,translation,cutout" for small data (Zhao et al. 2020)

    c.g_optimizer = common.adam(lr=2e-4, b1=0.5, schedule="constant", warmup_steps=None)
    c.d_optimizer = ml_collections.ConfigDict(c.g_optimizer.to_dict())  # TTUR: set its own lr

    # Sample-quality metrics at each eval (genjax.eval.metrics): the classifier Fréchet
    # distance is cheap on a CPU; add "fid" (and "kid", "prdc") where a GPU is there.
    c.eval_metrics = ("classifier_fd",)
    c.eval_num_samples = 2000
    return c.lock()

"""CycleGAN on Fashion-MNIST: Sneaker <-> Ankle boot, unpaired (Zhu et al. 2017).

python -m experiments.cyclegan --workdir=runs/cg_sneaker_boot
Other domain pairs: experiments/configs/cyclegan_tshirt_shirt.py and
cyclegan_pullover_coat.py, or any two disjoint class sets:
--config.domains.a="T-shirt/top,Pullover" --config.domains.b=Coat

The paper's recipe (their Section 4 and Appendix 7): the least-squares GAN loss,
lambda = 10 for cycle consistency and 0.5 lambda for the identity loss, a pool of
the 50 last fakes per discriminator, Adam with lr 2e-4 and beta1 0.5, constant for
the first half of training and then linearly to 0. Sized for 28 px: the ResNet
generator at width 32 with 6 blocks at 7x7, the 22 px PatchGAN with instance norm.
They train with batch 1; here batches of 16 (instance norm keeps every image's
normalisation its own).
"""

import ml_collections

from experiments.configs import common


def get_config():
    # 2,000 steps of 16 per domain: 5.3 epochs of each 6,000-image domain.
    c = common.base("cyclegan", image_range=None, num_train_steps=2000, eval_every=500,
                    checkpoint_every=500, batch_size=16, eval_batch_size=500)

    # genjax.data.domains: comma-separated class names or indices, disjoint.
    c.domains = ml_collections.ConfigDict()
    c.domains.a = "Sneaker"
    c.domains.b = "Ankle boot"

    c.model = ml_collections.ConfigDict()
    c.model.name = "resnet"  # MODELS["cyclegan_generator"]: resnet or unet
    c.model.width = 32
    c.model.blocks = 6  # resnet: residual blocks at 7x7
    c.model.dropout = 0.0  # unet only
    c.model.discriminator = "patchgan"  # MODELS["patch_discriminator"], fed one image
    c.model.d_width = 64
    c.model.d_norm = "instance"  # or "batch"

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "lsgan"  # genjax.losses.gan.GAN_LOSSES (not wgan)
    c.loss.adv_weight = 2.0  # 2 x lsgan's g_loss = E (D(G(a)) - 1)^2, the paper's term
    c.loss.cycle_weight = 10.0  # lambda
    c.loss.identity_weight = 5.0  # 0.5 lambda

    c.pool_size = 50  # past fakes per discriminator (0: none)

    c.g_optimizer = common.adam(lr=2e-4, b1=0.5, schedule="linear_decay", warmup_steps=None,
                                decay_start=1000)
    c.d_optimizer = ml_collections.ConfigDict(c.g_optimizer.to_dict())

    # Cycle PSNR / SSIM / L1 and translation success on each domain's first test images.
    c.eval_num_examples = 500
    return c.lock()

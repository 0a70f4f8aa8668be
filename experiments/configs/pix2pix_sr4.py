"""pix2pix on Fashion-MNIST: x4 super-resolution, 7x7 -> 28x28 (Isola et al. 2017).

python -m experiments.pix2pix --config=experiments/configs/pix2pix_sr4.py --workdir=runs/sr4
Override any field: --config.pairs.scale=2 --config.loss.l1_weight=10

The paper's recipe (their Section 3.3 and Appendix 6): Adam with lr 2e-4 and
beta1 0.5 for both players, one D step then one G step, D's loss halved, the
non-saturating G loss plus lambda = 100 times L1 (their eq. 4), dropout 0.5 in
the U-Net's decoder as its only noise. The other pair tasks are the files
pix2pix_{sr2, inpaint_centre, inpaint_box, denoise, denoise_sp, edges}.py, and the
L1-only U-Net baseline unet_l1_sr4.py (loss.adv_weight = 0: no discriminator).
"""

import ml_collections

from experiments.configs import common


def get_config():
    # 3,000 steps of 64: 3.2 epochs of the train split.
    c = common.base("pix2pix", image_range=None, num_train_steps=3000, eval_every=500,
                    checkpoint_every=500, batch_size=64, eval_batch_size=500)

    # genjax.data.pairs.PAIRS: each task reads only its own options.
    c.pairs = ml_collections.ConfigDict()
    c.pairs.name = "super_resolution"
    c.pairs.scale = 4  # super_resolution: 28 -> 7 (block means) -> 28 (nearest)
    c.pairs.mask_size = 14  # inpaint_centre: the centred square's side
    c.pairs.box_min = 8  # inpaint_box: each side of the box uniform in [box_min, box_max]
    c.pairs.box_max = 16
    c.pairs.sigma = 0.3  # denoise_gaussian: the noise's std on [0, 1] intensities
    c.pairs.fraction = 0.1  # denoise_salt_pepper: the fraction of pixels replaced

    c.model = ml_collections.ConfigDict()
    c.model.name = "unet"  # genjax.models.registry.MODELS["image_to_image"]
    c.model.width = 64
    c.model.dropout = 0.5  # in the decoder, train mode only: G's noise
    c.model.discriminator = "patchgan"  # MODELS["patch_discriminator"]
    c.model.d_width = 64

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "nonsaturating"  # genjax.losses.gan.GAN_LOSSES (not wgan)
    c.loss.adv_weight = 1.0  # 0: the L1-only U-Net (no discriminator at all)
    c.loss.l1_weight = 100.0  # lambda of eq. 4

    c.g_optimizer = common.adam(lr=2e-4, b1=0.5, schedule="constant", warmup_steps=None)
    c.d_optimizer = ml_collections.ConfigDict(c.g_optimizer.to_dict())

    # PSNR / SSIM / L1 on the eval split's first examples (the same degraded inputs for
    # every method: a fixed eval seed per example).
    c.eval_num_examples = 1000
    return c.lock()

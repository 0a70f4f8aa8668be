"""SVG-LP on Stochastic Moving Fashion-MNIST (Denton & Fergus 2018).

python -m experiments.svg --workdir=runs/svg_lp
The other two models of the comparison share this file:
experiments/configs/svg_fp.py (a fixed N(0, I) prior) and
experiments/configs/svg_det.py (the deterministic baseline, no z).

The paper's SM-MNIST setting: 64x64 frames with 2 items, condition on 5 frames
and predict 10 in training, beta = 1e-4, Adam lr 2e-3 (b1 0.9), z of 10
dimensions, a 2-layer predictor LSTM and 1-layer posterior and prior LSTMs.
Sized down for a CPU: frame embedding 64 (theirs 128), LSTMs of 128 units
(theirs 256), encoder / decoder width 16 (theirs 64), batches of 16 (theirs
100). genjax.data.moving draws the sequences: a pure function of (seed,
index), exact from any step.
"""

import ml_collections

from experiments.configs import common


def get_config():
    c = common.base("svg", image_range=None, num_train_steps=3000, eval_every=1000,
                    checkpoint_every=500, batch_size=16, eval_batch_size=64)

    c.moving = ml_collections.ConfigDict()
    c.moving.frame_size = 64
    c.moving.num_items = 2
    c.moving.deterministic = False  # True: Srivastava et al. 2015's bounces (no new velocity)
    c.moving.max_speed = 4  # pixels per frame along each axis

    c.num_cond = 5  # conditioning frames
    c.num_future = 10  # predicted frames in training (sequences of num_cond + num_future)

    c.model = ml_collections.ConfigDict()
    c.model.name = "svg"  # MODELS["video"]
    c.model.prior = "learned"  # "learned" (SVG-LP), "fixed" (SVG-FP), "none" (deterministic)
    c.model.dim = 64  # frame embedding g
    c.model.z_dim = 10
    c.model.width = 16  # encoder / decoder base width
    c.model.hidden = 128  # LSTM units
    c.model.predictor_layers = 2
    c.model.posterior_layers = 1
    c.model.prior_layers = 1

    c.loss = ml_collections.ConfigDict()
    c.loss.beta = 1e-4

    c.optimizer = common.adam(lr=2e-3, b1=0.9, schedule="constant", warmup_steps=None)

    # At each evaluation: futures of the first test sequences, scored per step.
    c.eval_num_sequences = 64
    c.eval_num_samples = 5
    c.eval_num_future = 20  # predicted frames at test (more than in training)
    return c.lock()

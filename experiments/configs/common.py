"""The config blocks every family shares, so each experiment's file holds only its own.

`base(task, image_range=...)` starts a config: the task, the seed, the data
block (Fashion-MNIST, train and test splits) and the run schedule (batch sizes,
steps, the wall-time budget, log / eval / checkpoint intervals); `adam(...)` is
an optimizer block (genjax/train/optim.py); `likelihood_eval(...)` the IWAE
block of the VAE and DRAW, which are scored the same way so that they compare.
Each experiment file sets what differs from these defaults.
"""

import ml_collections


def base(task: str, *, image_range: str | None, num_train_steps: int, eval_every: int,
         checkpoint_every: int, batch_size: int = 128, eval_batch_size: int = 1000,
         ) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.task = task
    c.seed = 0
    c.num_seeds = 1  # K > 1: replicas of seeds seed..seed+K-1 in one compiled program
    c.seeds_mode = "vmap"  # how the step covers them: "vmap" (batched ops) or "loop" (K copies)
    c.compute_dtype = "float32"  # "bfloat16": the training step's matmuls and convolutions

    c.data = ml_collections.ConfigDict()
    c.data.name = "fashion_mnist"
    c.data.train_split = "train"
    c.data.eval_split = "test"
    if image_range is not None:  # GANs always train on [-1, 1]
        c.data.image_range = image_range

    c.batch_size = batch_size
    c.eval_batch_size = eval_batch_size
    c.num_train_steps = num_train_steps
    c.max_train_seconds = 0.0  # > 0: stop (and finish) at the first step past this wall time
    c.log_every = 100
    c.eval_every = eval_every
    c.checkpoint_every = checkpoint_every
    c.keep_checkpoints = 3
    return c


def adam(*, lr: float, b1: float = 0.9, b2: float = 0.999, schedule: str = "warmup_cosine",
         warmup_steps: int | None = 500, grad_clip: float = 0.0, name: str = "adam",
         **extra) -> ml_collections.ConfigDict:
    """An optimizer block; `warmup_steps=None` leaves the field out (constant schedules)."""
    o = ml_collections.ConfigDict()
    o.name = name
    o.lr = lr
    o.b1 = b1
    o.b2 = b2
    for key, value in extra.items():  # e.g. weight_decay for adamw
        o[key] = value
    o.schedule = schedule
    if warmup_steps is not None:
        o.warmup_steps = warmup_steps
    o.grad_clip = grad_clip
    return o


def likelihood_eval(*, iwae_samples: int, iwae_chunk_size: int) -> ml_collections.ConfigDict:
    e = ml_collections.ConfigDict()
    e.iwae_samples = iwae_samples  # k of the IWAE bound at each evaluation (0: off)
    e.iwae_examples = 1000  # the first examples of the eval split it runs on
    e.iwae_batch_size = 100
    e.iwae_chunk_size = iwae_chunk_size  # samples decoded at once per example
    return e

"""DRAW with attention on dynamically binarised MNIST.

python -m experiments.draw --config=experiments/configs/draw_mnist.py --workdir=runs/draw_mnist

Needs network access once: tfds downloads MNIST into the data dir (only
Fashion-MNIST can be built offline here). The paper reports a test bound of
<= 80.97 nats with attention and T = 64 (Gregor et al. 2015, Table 2); add
--config.model.num_steps=64 to compare.
"""

from experiments.configs import draw


def get_config():
    c = draw.get_config()
    c.data.name = "mnist"
    return c

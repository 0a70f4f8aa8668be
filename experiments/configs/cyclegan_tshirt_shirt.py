"""CycleGAN on Fashion-MNIST: T-shirt/top <-> Shirt, unpaired (Zhu et al. 2017).

python -m experiments.cyclegan --config=experiments/configs/cyclegan_tshirt_shirt.py \
    --workdir=runs/cg_tshirt_shirt
Everything else as experiments/configs/cyclegan_sneaker_boot.py.
"""

from experiments.configs import cyclegan_sneaker_boot


def get_config():
    c = cyclegan_sneaker_boot.get_config().unlock()
    c.domains.a = "T-shirt/top"
    c.domains.b = "Shirt"
    return c.lock()

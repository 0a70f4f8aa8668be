"""CycleGAN on Fashion-MNIST: Pullover <-> Coat, unpaired (Zhu et al. 2017).

python -m experiments.cyclegan --config=experiments/configs/cyclegan_pullover_coat.py \
    --workdir=runs/cg_pullover_coat
Everything else as experiments/configs/cyclegan_sneaker_boot.py.
"""

from experiments.configs import cyclegan_sneaker_boot


def get_config():
    c = cyclegan_sneaker_boot.get_config().unlock()
    c.domains.a = "Pullover"
    c.domains.b = "Coat"
    return c.lock()

"""Train CycleGAN between two sets of classes (default: Sneaker <-> Ankle boot).

python -m experiments.cyclegan --workdir=runs/cg_sneaker_boot
python -m experiments.cyclegan --config=experiments/configs/cyclegan_tshirt_shirt.py \
    --workdir=runs/cg_tshirt_shirt
"""

from experiments import launch

if __name__ == "__main__":
    launch.train("experiments/configs/cyclegan_sneaker_boot.py")

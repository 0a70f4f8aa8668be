"""Train a DCGAN (default: Fashion-MNIST 28x28).

python -m experiments.dcgan --workdir=runs/dcgan
python -m experiments.dcgan --config=experiments/configs/dcgan_cifar10.py --workdir=runs/c10
python -m experiments.dcgan --config=experiments/configs/cdcgan.py --workdir=runs/cdcgan
    (class-conditional: projection D; --config.model.conditioning=acgan
    --config.loss.ac_weight=1.0 for AC-GAN)
"""

from experiments import launch

if __name__ == "__main__":
    launch.train("experiments/configs/dcgan.py")

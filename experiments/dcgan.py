"""Train a DCGAN (default: Fashion-MNIST 28x28).

python -m experiments.dcgan --workdir=runs/dcgan
python -m experiments.dcgan --config=experiments/configs/dcgan_cifar10.py --workdir=runs/c10
"""

from experiments import launch

if __name__ == "__main__":
    launch.run("experiments/configs/dcgan.py")

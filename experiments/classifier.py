"""Train the CNN classifier (default: Fashion-MNIST).

python -m experiments.classifier --workdir=runs/classifier
"""

from experiments import launch

if __name__ == "__main__":
    launch.train("experiments/configs/classifier.py")

"""Train a convolutional VAE (default: binarised Fashion-MNIST, Bernoulli decoder).

python -m experiments.vae --workdir=runs/vae
python -m experiments.vae --config=experiments/configs/vae_8bit.py --workdir=runs/vae_8bit

Figures land in <workdir>/samples/, the latent code lengths in compression.json;
experiments/vae_eval.py then computes the IWAE bound over the whole test split.
"""

from experiments import launch

if __name__ == "__main__":
    launch.train("experiments/configs/vae.py")

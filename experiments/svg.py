"""Train SVG on Stochastic Moving Fashion-MNIST (default: SVG-LP, 2 items, 64x64).

python -m experiments.svg --workdir=runs/svg_lp
python -m experiments.svg --config=experiments/configs/svg_fp.py --workdir=runs/svg_fp
python -m experiments.svg --config=experiments/configs/svg_det.py --workdir=runs/svg_det
"""

from experiments import launch

if __name__ == "__main__":
    launch.train("experiments/configs/svg_lp.py")

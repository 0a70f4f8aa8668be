"""Train DRAW (Gregor et al. 2015) on dynamically binarised Fashion-MNIST.

python -m experiments.draw --workdir=runs/draw
python -m experiments.draw --config=experiments/configs/draw_mnist.py --workdir=runs/draw_mnist

Figures land in <workdir>/samples/, the drawing (GIFs and PNG strips of the
canvases) in <workdir>/animations/ at the end of the run.
"""

from experiments import launch

if __name__ == "__main__":
    launch.train("experiments/configs/draw.py")

"""The deterministic baseline: svg_lp.py's networks with no z and no KL.

python -m experiments.svg --config=experiments/configs/svg_det.py --workdir=runs/svg_det
"""

from experiments.configs import svg_lp


def get_config():
    c = svg_lp.get_config().unlock()
    c.model.prior = "none"
    return c.lock()

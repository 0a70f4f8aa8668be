"""SVG-FP: SVG with a fixed N(0, I) prior (Denton & Fergus 2018), otherwise svg_lp.py.

python -m experiments.svg --config=experiments/configs/svg_fp.py --workdir=runs/svg_fp
"""

from experiments.configs import svg_lp


def get_config():
    c = svg_lp.get_config().unlock()
    c.model.prior = "fixed"
    return c.lock()

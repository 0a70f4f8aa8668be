"""Trained networks loadable by name (the Fashion-MNIST classifier first of all).

`load("fashion_mnist_cnn")` returns `(model, variables)` for the classifier
trained by `experiments/classifier.py` with `experiments/configs/classifier.py`;
its weights ship inside the package (`genjax/assets/`) with a sha256 that is
checked on load. Later parts of genjax use it as the feature network of the
domain Fréchet distance and as the classifier of Classification Accuracy Score.
`load(path)` loads any exported classifier directory (`<workdir>/export`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import flax.serialization

from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.models.registry import model_class

ASSETS = Path(__file__).parents[1] / "assets"
VARIABLES_FILE, MODEL_FILE = "variables.msgpack", "model.json"

# name -> sha256 of its variables.msgpack in genjax/assets/<name>/
REGISTRY: dict[str, str] = {
    # experiments/configs/classifier.py, seed 0, 20 epochs: 93.66% test accuracy.
    "fashion_mnist_cnn": "aee05cf9fd562dac654fe2a7538a38b9c9ecc28c83124b94a93a1f2ab8491f90",
}


def export(directory: str | Path, variables, config) -> Path:
    """Write `variables` and the model description into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    blob = flax.serialization.to_bytes(variables)
    (directory / VARIABLES_FILE).write_bytes(blob)
    description = {"dataset": config.data.name, "image_range": config.data.image_range,
                   "model": config.model.to_dict(),
                   "sha256": hashlib.sha256(blob).hexdigest()}
    (directory / MODEL_FILE).write_text(json.dumps(description, indent=2, default=list))
    return directory


def _directory(name_or_path: str | Path) -> Path:
    if str(name_or_path) in REGISTRY:
        return ASSETS / str(name_or_path)
    path = Path(name_or_path)
    if (path / MODEL_FILE).is_file():
        return path
    raise UserError(f"no pretrained network {name_or_path!r}: give one of {sorted(REGISTRY)} "
                    f"or a directory holding {MODEL_FILE} and {VARIABLES_FILE}")


def load(name_or_path: str | Path):
    """`(model, variables, description)` of a registered name or an export directory."""
    directory = _directory(name_or_path)
    description = json.loads((directory / MODEL_FILE).read_text())
    blob = (directory / VARIABLES_FILE).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    expected = REGISTRY.get(str(name_or_path), description["sha256"])
    if digest != expected:
        raise UserError(f"{directory / VARIABLES_FILE} is damaged (sha256 {digest[:12]}..., "
                        f"expected {expected[:12]}...); reinstall genjax or re-export it")
    m = description["model"]
    model = model_class("classifier", m["name"])(
        num_classes=DATASETS[description["dataset"]].num_classes, widths=tuple(m["widths"]),
        hidden=m["hidden"], dropout=m["dropout"])
    variables = flax.serialization.msgpack_restore(blob)
    return model, variables, description

"""Config checks and serialisation shared by every experiment.

Experiment configs are `ml_collections.ConfigDict`s, one file per experiment
under `experiments/configs/`, locked so that a mistyped field is an error.
`check_common` validates the fields every experiment has; `make_task` checks
`config.task` and each task its own fields. All run before anything is compiled
or written.
"""

from __future__ import annotations

import json
from pathlib import Path

from genjax.errors import UserError

SEEDS_MODES = ("vmap", "loop")  # how one program steps K replicas (genjax/train/seeds.py)
COMPUTE_DTYPES = ("float32", "bfloat16")  # the training step's matmuls (models/precision.py)
POSITIVE_INTS = ("num_train_steps", "batch_size", "eval_batch_size", "log_every",
                 "eval_every", "checkpoint_every", "keep_checkpoints")


def check_int(value, name: str, minimum: int = 1, note: str = "") -> int:
    """`value` if it is an int (not a bool) >= `minimum`, else a `UserError` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise UserError(f"{name} must be {wanted}{note}, got {value!r}")
    return value


def check_common(config) -> None:
    if not isinstance(config.seed, int) or isinstance(config.seed, bool) or config.seed < 0:
        raise UserError(f"seed must be an integer >= 0, got {config.seed!r}")
    for name in POSITIVE_INTS:
        value = config[name]
        if not isinstance(value, int) or value <= 0:
            raise UserError(f"{name} must be a positive integer, got {value!r}")
    check_int(config.get("num_seeds", 1), "num_seeds",
              note=" (the number of replicas trained together)")
    if config.get("seeds_mode", "vmap") not in SEEDS_MODES:
        raise UserError(f"seeds_mode must be one of {list(SEEDS_MODES)}, "
                        f"got {config.seeds_mode!r}")
    check_compute_dtype(config.get("compute_dtype", "float32"))
    budget = config.get("max_train_seconds", 0)
    if not isinstance(budget, (int, float)) or budget < 0:
        raise UserError(f"max_train_seconds must be >= 0 (0: no time budget), got {budget!r}")


def check_compute_dtype(name) -> None:
    if name not in COMPUTE_DTYPES:
        raise UserError(f"compute_dtype must be one of {list(COMPUTE_DTYPES)}, got {name!r}"
                        + (" (float16 needs loss scaling; use bfloat16)"
                           if name == "float16" else ""))


def positive_ints(value, name: str) -> tuple[int, ...]:
    """`value` as a non-empty tuple of positive integers, or a `UserError` naming the field."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                             for v in values):
        raise UserError(f"{name} must be positive: one or more integers > 0 (e.g. 16,32), "
                        f"got {value!r}")
    return values


CONFIG_FILE = "config.json"  # in every workdir: the config it was trained with


def save_config(workdir: str | Path, config) -> Path:
    """Write `config` as `<workdir>/config.json`."""
    path = Path(workdir) / CONFIG_FILE
    path.write_text(config_to_json(config))
    return path


def read_saved_config(workdir: str | Path) -> dict:
    """The config a workdir was trained with, as a dict; a `UserError` when it is missing
    or unreadable."""
    path = Path(workdir) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{workdir} has no {CONFIG_FILE}: not a genjax training workdir")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err.msg}, line {err.lineno}); "
                        "it was damaged or edited by hand") from None
    except OSError as err:
        raise UserError(f"{path} cannot be read ({type(err).__name__}); check its "
                        "permissions") from None


def config_to_json(config) -> str:
    """The resolved config as indented JSON (tuples become lists)."""
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)


def set_fields(config, **fields):
    """Set dotted `fields` in place, as `--config.a.b=value` does; returns `config`.

    A locked config refuses a field it does not have (a typo), as the flag does.
    """
    for key, value in fields.items():
        node = config
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


def saved_form(config) -> dict:
    """`config` as `save_config` writes it and `read_saved_config` reads it back (plain
    JSON types: tuples become lists), so a live config compares with a saved one."""
    return json.loads(config_to_json(config))


def with_fields(config, **fields):
    """A resolved, unlocked copy of `config` with dotted `fields` set (new ones allowed)."""
    config = config.copy_and_resolve_references()
    with config.unlocked():
        return set_fields(config, **fields)

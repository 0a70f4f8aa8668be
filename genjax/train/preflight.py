"""Checks `fit` runs before it writes anything: a failed start leaves the filesystem alone.

In order, each a one-line `UserError`:
1. the workdir: an existing file is not a workdir, and its nearest existing
   parent must be writable;
2. the workdir's saved config, when the workdir holds a checkpoint: resuming
   with another config would restore weights into a different model, so any
   difference is refused, naming the fields, except the fields that may change
   on resume (`RESUMABLE`: the step budget, the time budget, the logging,
   evaluation and checkpoint intervals, `seeds_mode`, `compute_dtype`), which are
   logged;
3. the data: the splits the run reads are loaded now (building tfds's copy of
   Fashion-MNIST from the Debian files when needed, which checks their CRCs),
   so a missing or damaged dataset is reported before the workdir is touched.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from genjax import data
from genjax.config import CONFIG_FILE, read_saved_config, saved_form
from genjax.errors import UserError

RESUMABLE = ("num_train_steps", "max_train_seconds", "log_every", "eval_every",
             "checkpoint_every", "keep_checkpoints", "seeds_mode",
             "compute_dtype")


def check_workdir(workdir: Path) -> None:
    if workdir.exists() and not workdir.is_dir():
        raise UserError(f"--workdir {workdir} is a file, not a directory; give a directory "
                        "(it is created if missing)")
    existing = workdir
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write in {existing} (permission denied); give a --workdir "
                        "you can write to")


def check_data(config) -> None:
    """Load the splits the run reads (cached in memory for the run itself)."""
    d = config.data
    if not d.get("train_arrays", ""):
        data.load_split(d.name, d.train_split)
    data.load_split(d.name, d.eval_split)


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(saved: dict, config) -> dict[str, tuple]:
    """{field: (saved value, new value)} of the fields that differ. A field the saved
    config lacks (added to genjax after that run) is not a difference."""
    old, new = _flatten(saved), _flatten(saved_form(config))
    return {k: (value, new.get(k)) for k, value in sorted(old.items()) if new.get(k) != value}


def check_resume(workdir: Path, config) -> None:
    """Refuse a config that differs from the one the workdir's checkpoints were made with."""
    checkpoints = workdir / "checkpoints"
    if not (workdir / CONFIG_FILE).is_file() or not (
            checkpoints.is_dir() and any(checkpoints.iterdir())):
        return  # nothing to resume: a fresh start writes its own config
    changes = config_changes(read_saved_config(workdir), config)
    refused = {k: v for k, v in changes.items() if k not in RESUMABLE}
    if refused:
        shown = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in refused.items())
        raise UserError(f"{workdir} was trained with another config ({shown}); rerun with the "
                        "same config to resume, or give another --workdir to start afresh")
    for key, (old, new) in changes.items():
        logging.info("resuming %s with %s changed from %r to %r", workdir, key, old, new)

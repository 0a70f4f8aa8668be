"""Orbax checkpoints of the whole training state, and a restore that survives damage.

The state pytree is saved as a nested dict (`flax.serialization.to_state_dict`)
with orbax's `StandardSave`; orbax writes each step into a temporary directory
and renames it only when complete, so a crash or SIGKILL mid-save never leaves
a half-written step where a finished one is expected. `restore_latest` walks
the saved steps newest first: a step that cannot be read (corrupt or truncated
files) is reported with a warning and the previous one is restored instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import orbax.checkpoint as ocp

from genjax.errors import UserError


def make_manager(directory: str | Path, *, max_to_keep: int = 3) -> ocp.CheckpointManager:
    """A `CheckpointManager` keeping the newest `max_to_keep` steps, saving asynchronously.

    Orbax removes the temporary directories of interrupted saves in a background
    thread started here, and `close()` does not wait for it: a process that exits
    soon after (a one-line error) would kill it mid-way, printing a traceback. So
    this waits for that clean-up before returning.
    """
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True,
        enable_async_checkpointing=True)
    manager = ocp.CheckpointManager(Path(directory).absolute(), options=options)
    # orbax-checkpoint (pinned) has no public wait for the clean-up; see the docstring.
    wait = getattr(manager, "_maybe_await_cleanup_tmp_directory", None)
    if wait is not None:
        wait()
    return manager


def open_manager(directory: str | Path) -> ocp.CheckpointManager:
    """A `CheckpointManager` for restoring: it creates, deletes and cleans nothing.

    (Orbax's own `read_only=True` logs warnings on every open, which would break the
    one-line errors of the commands.)
    """
    options = ocp.CheckpointManagerOptions(create=False, max_to_keep=None,
                                           cleanup_tmp_directories=False,
                                           enable_async_checkpointing=False)
    return ocp.CheckpointManager(Path(directory).absolute(), options=options)


def save(manager: ocp.CheckpointManager, step: int, state: Any, *,
         train_seconds: float | None = None) -> None:
    """Start saving `state` as `step` (async); `manager.wait_until_finished()` to block.

    `train_seconds` (wall time spent training so far) is stored in the step's
    metadata, so that it lands atomically with the state it describes.
    """
    state_dict = flax.serialization.to_state_dict(jax.device_get(state))
    metadata = None if train_seconds is None else {"train_seconds": float(train_seconds)}
    manager.save(step, args=ocp.args.StandardSave(state_dict), force=True,
                 custom_metadata=metadata)


def saved_train_seconds(manager: ocp.CheckpointManager, step: int) -> float:
    """The training wall time recorded with `step` (0.0 for checkpoints without it)."""
    try:
        metadata = manager.metadata(step).custom_metadata or {}
    except Exception:  # older or foreign checkpoints: no metadata is not an error
        return 0.0
    return float(metadata.get("train_seconds", 0.0))


def restore(manager: ocp.CheckpointManager, step: int, template: Any) -> Any:
    """Restore `step` into the structure (and shardings) of `template`."""
    target = flax.serialization.to_state_dict(template)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    return flax.serialization.from_state_dict(template, restored)


def restore_latest(manager: ocp.CheckpointManager, template: Any) -> tuple[Any, int | None]:
    """Restore the newest readable step; returns `(state, step)` or `(template, None)`."""
    steps = sorted(manager.all_steps(), reverse=True)
    for i, step in enumerate(steps):
        try:
            return restore(manager, step, template), step
        except Exception as err:  # orbax/tensorstore raise many kinds for damaged files
            fallback = f"trying step {steps[i + 1]}" if i + 1 < len(steps) else "none left"
            logging.warning("checkpoint step %d in %s is unreadable (%s: %s); %s",
                            step, manager.directory, type(err).__name__,
                            str(err).splitlines()[0][:200] if str(err) else "", fallback)
    if steps:
        raise UserError(f"no checkpoint in {manager.directory} (steps {steps}) can be restored: "
                        "damaged, or written by a different model config; use another workdir")
    return template, None

"""Meshes and shardings: the only module that knows about devices.

Training uses `jax.jit` with a `NamedSharding` over a 1-D mesh of all devices
(axis "data"; on one host, the local devices), the big_vision way: the batch is
split along its leading axis, the train state is replicated, and XLA inserts
the gradient all-reduce. The steps also accept an `axis_name` for users who prefer `pmap`.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from genjax.errors import UserError

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh over `devices` (default: every device of every process), Auto axes."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Split the batch axis (`axis`: 0, or 1 below a leading seed axis) over the mesh."""
    return NamedSharding(mesh, PartitionSpec(*[None] * axis, DATA_AXIS))


def check_batch_divisible(batch_size: int, mesh: Mesh, what: str = "batch_size") -> None:
    n = mesh.devices.size
    if batch_size % n:
        raise UserError(
            f"{what}={batch_size} is not divisible by the {n} devices; "
            f"choose a multiple of {n}."
        )


def shard_batch(batch, mesh: Mesh, axis: int = 0):
    """Turn this process's part of a global batch (numpy pytree) into global arrays.

    With one process this is `device_put` with the batch sharding; with several,
    each process passes its own slice (of batch axis `axis`) and the result is the
    global batch.
    """
    sharding = batch_sharded(mesh, axis)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def gather(array) -> np.ndarray:
    """A global array as numpy on every process (its shards fetched from the others)."""
    if jax.process_count() == 1 or array.is_fully_addressable:
        return np.asarray(array)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def gather_local(array: np.ndarray) -> np.ndarray:
    """Each process's own numpy rows, concatenated in process order on every process."""
    if jax.process_count() == 1:
        return np.asarray(array)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(np.asarray(array), tiled=True))


def all_processes(flag: bool) -> bool:
    """Whether `flag` holds on every process (it is this process's with one)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.all(multihost_utils.process_allgather(np.bool_(flag))))


def replicate(tree, mesh: Mesh):
    """Every leaf replicated on every device of the mesh.

    With several processes each builds its own devices' copies from its host value
    (the same on every process: a seeded init or a restored checkpoint), since JAX
    moves no array between hosts here.
    """
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(leaf):
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)

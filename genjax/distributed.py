"""JAX's multi-controller runtime: one genjax process per host (or per accelerator).

Every experiment command calls `initialize()` before it touches JAX. Where it finds
nothing to join, it does nothing and the run is one process, as before. Otherwise it
starts `jax.distributed`, and from then on `jax.devices()` lists every process's
devices, `parallel.make_mesh()` spans them all and each process feeds its slice of
every global batch.

Where the process set comes from, first match wins:
1. the flags `--coordinator_address=host:port --num_processes=N --process_id=i`
   (all three, or none);
2. the environment variables `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES` and
   `JAX_PROCESS_ID`;
3. a cluster that JAX detects by itself: SLURM (`srun`), Open MPI (`mpirun`), Cloud
   TPU VMs and pods, Kubernetes JobSets. Then `jax.distributed.initialize()` finds
   the coordinator, count and id.

On a CPU the cross-process collectives are gloo's, chosen here before the backend
starts. Bad input ends as a one-line `UserError` before JAX is started:
- a process id that is not below the process count, or only some of the three given;
- a coordinator address that is not host:port;
- a coordinator that process i > 0 cannot reach within `timeout_s` (JAX itself would
  abort the process with a C++ stack trace instead);
- process 0's coordinator port already in use on its host.

JAX ends every process with a fatal error if a peer dies or if process 0 does not see
all N within `timeout_s`: those are not caught here (JAX gives no way to).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time

import jax

from genjax.errors import UserError

DEFAULT_TIMEOUT_S = 60
ENV = {"coordinator_address": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
       "process_id": "JAX_PROCESS_ID"}


@dataclasses.dataclass(frozen=True)
class ProcessSet:
    """Where this process stands: the coordinator (host, port), the count and its id."""

    host: str
    port: int
    num_processes: int
    process_id: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be an integer, got {value!r}") from None


def resolve(coordinator_address: str | None = None, num_processes: int | None = None,
            process_id: int | None = None, environ=None) -> ProcessSet | None:
    """The process set named by the arguments, else by the environment; None if neither."""
    environ = os.environ if environ is None else environ
    given = {"coordinator_address": coordinator_address, "num_processes": num_processes,
             "process_id": process_id}
    source = "flags"
    if all(v is None for v in given.values()):
        given = {k: environ.get(v) or None for k, v in ENV.items()}
        source = "environment variables " + ", ".join(ENV.values())
    if all(v is None for v in given.values()):
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise UserError(f"multi-process {source}: {', '.join(missing)} missing; give "
                        "coordinator_address, num_processes and process_id together")
    count = _int(given["num_processes"], "num_processes")
    index = _int(given["process_id"], "process_id")
    if count < 1:
        raise UserError(f"num_processes must be at least 1, got {count}")
    if not 0 <= index < count:
        raise UserError(f"process_id={index} is not in [0, {count}): ids run from 0 to "
                        "num_processes - 1")
    host, sep, port = str(given["coordinator_address"]).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"coordinator_address must be host:port, got "
                        f"{given['coordinator_address']!r}")
    return ProcessSet(host.strip("[]"), int(port), count, index)


def _cluster_detected() -> bool:
    """Whether JAX's own cluster detection (SLURM, Open MPI, TPU, Kubernetes) would apply."""
    try:
        from jax._src import clusters  # JAX keeps its detectors private; jax is pinned
    except ImportError:
        return False
    for env in clusters.ClusterEnv._cluster_types:
        if getattr(env, "opt_in_only_method", False):
            continue
        try:
            if env.is_env_present():
                return True
        except Exception:  # a detector that cannot tell is not a cluster
            continue
    return False


def _check_port_free(spec: ProcessSet) -> None:
    with socket.socket(socket.AF_INET6 if ":" in spec.host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", spec.port))
        except OSError as err:
            raise UserError(f"process 0 cannot serve the coordinator on port {spec.port}: "
                            f"{err.strerror.lower()}; choose another port") from None


def _wait_for_coordinator(spec: ProcessSet, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((spec.host, spec.port), timeout=2.0):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise UserError(
                    f"process {spec.process_id} of {spec.num_processes} cannot reach the "
                    f"coordinator at {spec.address} within {timeout_s:g} s: start process 0 "
                    "there, or check the address and port") from None
            time.sleep(0.2)


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
               detect_cluster: bool = True) -> int:
    """Start `jax.distributed` if this run has several processes; returns the process count.

    See the module docstring for where the process set comes from. Call it once, before
    anything else uses JAX; a second call returns at once.
    """
    if jax.distributed.is_initialized():
        return jax.process_count()
    spec = resolve(coordinator_address, num_processes, process_id)
    if spec is None:
        if detect_cluster and _cluster_detected():
            logging.info("starting jax.distributed from the detected cluster")
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
            jax.distributed.initialize(initialization_timeout=int(timeout_s))
            return jax.process_count()
        return 1
    if spec.num_processes == 1:
        return 1
    if spec.process_id == 0:
        _check_port_free(spec)
    else:
        _wait_for_coordinator(spec, timeout_s)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=spec.address,
                               num_processes=spec.num_processes, process_id=spec.process_id,
                               initialization_timeout=int(timeout_s))
    logging.info("process %d of %d joined the coordinator at %s", spec.process_id,
                 spec.num_processes, spec.address)
    return spec.num_processes


def is_primary() -> bool:
    """Process 0: the one that writes logs, figures and other single-copy files."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches `name` (nothing to wait for with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)

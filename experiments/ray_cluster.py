"""Ray for the sweeps: a local instance on this machine's loopback address, or an existing cluster.

Started locally, Ray binds the machine's external interface unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is in
the environment of the process that starts it, when every Ray process (GCS, raylet, workers, object manager)
binds 127.0.0.1. Ray reads the variable when it is imported, so :func:`connect` sets it and then imports Ray,
and checks afterwards that every node is on the loopback address (refusing to run otherwise). With an address
(``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the others), it joins that cluster as
a driver and leaves its addresses to it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from types import ModuleType

LOOPBACK_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK = "127.0.0.1"
NICENESS_VARIABLE = "RAY_worker_niceness"
"""Ray runs its workers at nice 15 unless this says otherwise (read when a local instance starts)."""


class ClusterError(RuntimeError):
    """Ray cannot be started or joined as asked."""


def loopback_environment() -> None:
    """Make a Ray started by this process (and the processes it starts) bind the loopback address only."""
    os.environ[LOOPBACK_VARIABLE] = "0"


def connect(address: str | None = None, cpus: int | None = None,
            worker_niceness: int | None = None) -> tuple[ModuleType, float]:
    """Start Ray locally on the loopback address with ``cpus`` CPUs (``address`` None) or join the cluster at
    ``address``; returns the ``ray`` module and the seconds it took. ``worker_niceness`` sets the local workers'
    priority (Ray's default, 15, starves workers that do the command's main work whenever the machine is busy)."""
    if address is None:
        loopback_environment()
        if worker_niceness is not None:
            os.environ[NICENESS_VARIABLE] = str(worker_niceness)
        if "ray" in sys.modules and not _loopback_constant():
            raise ClusterError("Ray was imported before the sweep could keep it on the loopback address; start the "
                               "sweep in a fresh process")
    ray = importlib.import_module("ray")  # only now: Ray reads the loopback variable at import
    started = time.perf_counter()
    try:
        if address is None:
            # "local": always a new instance, never one another process happens to run on this machine
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterError(f"cannot {'start Ray' if address is None else f'join the Ray cluster at {address}'}: "
                           f"{error}") from error
    seconds = time.perf_counter() - started
    if address is None:
        outside = [node["NodeManagerAddress"] for node in ray.nodes() if node["NodeManagerAddress"] != LOOPBACK]
        if outside:
            ray.shutdown()
            raise ClusterError(f"the local Ray instance is on {', '.join(outside)}, not {LOOPBACK}; refusing to run")
    return ray, seconds


def _loopback_constant() -> bool:
    """Whether the Ray already imported in this process keeps a local instance on the loopback address."""
    constants = importlib.import_module("ray._private.ray_constants")
    return not getattr(constants, "ENABLE_RAY_CLUSTER", True)


def nodes_in_use(ray: ModuleType) -> list[str]:
    """The alive nodes' ids (the results table names each trial's node)."""
    return [node["NodeID"] for node in ray.nodes() if node.get("Alive")]

"""The memory one update of the gradient agent needs, checked against what the machine has before training.

An update keeps the autograd graph of every period of every sampled path until ``backward``, so its peak memory
grows with ``paths`` x ``horizon`` x the scenario's size; a configuration that does not fit would be killed by the
kernel mid-run without a word. :func:`check_update_memory` refuses it first, naming the keys and the fix; the
trainer calls it when it is built, which is before a new run's folder is created or a resumed run's is written to,
in the process that trains (a sweep trial's worker, not the sweep's driver). It sees one process: trainings started
side by side (a benchmark's or a sweep's) are each checked against what is available when they start.

The estimate per path and period is ``STEP_BYTES + SCENARIO_BYTES x`` :func:`scenario_size` ``+`` the network's
activations, plus the policy's weights with their gradients and Adam moments, plus :data:`FIXED_BYTES`. The
constants come from the peak resident memory of one update (``VmHWM`` reset through ``/proc/self/clear_refs``, in
fresh processes, after a warm-up update) at a few (paths, horizon) on echelon/Serial-v1, OWMR-v1, Network-v1 and
NetworkLarge-v1, with the ``mlp`` and ``cells`` networks: the growth is linear in paths x horizon, and each constant
is a least-squares fit rounded up until every measured update is over-estimated, so the check errs on the safe side
without refusing the configurations of ``agents/hyperparams/gradient.yaml`` on a machine with 8 GiB free.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from agents.config import ConfigError
from envs.observation import observation_size
from envs.params import EnvParams

STEP_BYTES = 1024
"""Per path and period: the transition's operations that do not grow with the scenario."""
SCENARIO_BYTES = 28
"""Per path, period and number of the scenario's size (:func:`scenario_size`)."""
MLP_UNIT_BYTES = 8
"""Per path, period and unit of an ``mlp`` network's input and hidden layers."""
CELL_UNIT_BYTES = 10
"""Per path, period, (node, product) cell and unit of the ``cells`` network (its features and hidden layers)."""
CELL_FEATURES = 16
"""Inputs of a cell of the ``cells`` network, rounded up (:mod:`agents.cell_network`)."""
WEIGHT_BYTES = 16
"""Per weight of the policy: float32 value, gradient and Adam's two moments."""
FIXED_BYTES = 256 * 2**20
"""What the process still allocates before the first update (the compiled simulator, the plan)."""
_NO_LIMIT = 2**60
"""A cgroup memory limit at or above this is no limit."""
MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")
"""Where the cgroup file systems are mounted (v2 at the root, v1's memory controller in ``memory/``)."""
PROC_CGROUP = Path("/proc/self/cgroup")
"""This process's cgroup folders below those mounts."""


class UpdateMemoryError(ConfigError):
    """One update of the gradient agent would need more memory than is available."""


def scenario_size(params: EnvParams) -> int:
    """The numbers a path's transition works on each period: pipeline (nodes x ages x products), demand streams
    (regions x speeds x products) and fulfillment arcs x products."""
    products = params.num_products
    return (params.num_nodes * params.num_ages * products + params.num_regions * params.num_speeds * products
            + len(params.arcs) * products)


def activation_units(params: EnvParams, hidden: Sequence[int], network: str) -> tuple[int, int]:
    """(mlp units, cell units) per path and period: the ``mlp``'s input and hidden widths, or the ``cells``
    network's features and widths over every (node, product) cell."""
    if network == "cells":
        return 0, params.num_nodes * params.num_products * (CELL_FEATURES + sum(hidden))
    return observation_size(params) + sum(hidden), 0


def weight_count(params: EnvParams, hidden: Sequence[int], network: str) -> int:
    """Weights of the policy network, roughly (an ``mlp``'s exactly; the ``cells`` network's are few)."""
    if network == "cells":
        widths = [CELL_FEATURES, *hidden, 1]
        return sum(4 * (a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    widths = [observation_size(params), *hidden, params.num_nodes * params.num_products]
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def update_bytes(params: EnvParams, paths: int, horizon: int, hidden: Sequence[int], network: str = "mlp") -> int:
    """Estimated peak memory (bytes) of one update with ``paths`` x ``horizon`` periods on ``params``."""
    mlp_units, cell_units = activation_units(params, hidden, network)
    per_step = (STEP_BYTES + SCENARIO_BYTES * scenario_size(params) + MLP_UNIT_BYTES * mlp_units
                + CELL_UNIT_BYTES * cell_units)
    return paths * horizon * per_step + WEIGHT_BYTES * weight_count(params, hidden, network) + FIXED_BYTES


def _read_int(path: Path, key: str | None = None) -> int | None:
    """The number in a kernel file (or on its line starting with ``key``), None when unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return None
    if key is not None:
        text = next((line.split()[1] for line in text.splitlines() if line.split()[:1] == [key]), "")
    return int(text.strip()) if text.strip().isdigit() else None


def _meminfo_available() -> int | None:
    """The kernel's estimate of memory available without swapping (MemAvailable, else free pages)."""
    kib = _read_int(MEMINFO, "MemAvailable:")
    if kib is not None:
        return kib * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


_V2_FILES = ("memory.max", "memory.current", "inactive_file")
_V1_FILES = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")


def _cgroup_folders() -> list[tuple[Path, str, str, str]]:
    """Every cgroup folder whose memory limit applies to this process: its own (``/proc/self/cgroup``) and each one
    above it, for v2 and v1's memory controller, then both mount roots (all a process in a cgroup namespace sees),
    each with the names of its limit, usage and page-cache entries."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        lines = []
    folders = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, own = parts
        if controllers == "":
            root, files = CGROUP, _V2_FILES
        elif "memory" in controllers.split(","):
            root, files = CGROUP / "memory", _V1_FILES
        else:
            continue
        folder = root / own.strip("/")
        if not folder.is_dir():
            continue
        while True:
            folders.append((folder, *files))
            if folder == root or root not in folder.parents:
                break
            folder = folder.parent
    return [*folders, (CGROUP, *_V2_FILES), (CGROUP / "memory", *_V1_FILES)]


def _cgroup_room() -> int | None:
    """Memory left under the tightest cgroup limit on this process (a container's, a batch job's or a slice's),
    None without a limit. Inactive file pages count as free: the kernel reclaims them before it kills."""
    rooms = []
    for folder, limit, usage, inactive in _cgroup_folders():
        cap, used = _read_int(folder / limit), _read_int(folder / usage)
        if cap is not None and used is not None and cap < _NO_LIMIT:
            rooms.append(max(cap - used + (_read_int(folder / "memory.stat", inactive) or 0), 0))
    return min(rooms) if rooms else None


def available_memory() -> int | None:
    """Bytes this process can still allocate (the least of the kernel's MemAvailable and the cgroup's room),
    None when neither can be read."""
    known = [room for room in (_meminfo_available(), _cgroup_room()) if room is not None]
    return min(known) if known else None


def _gib(size: float) -> str:
    return f"{size / 2**30:,.1f} GiB"


def check_update_memory(params: EnvParams, paths: int, horizon: int, hidden: Sequence[int],
                        network: str = "mlp") -> None:
    """Refuse (:class:`UpdateMemoryError`) ``paths`` x ``horizon`` when one update's estimated peak memory is above
    what is available; the message names the keys, both figures and the largest paths x horizon that fits."""
    available = available_memory()
    need = update_bytes(params, paths, horizon, hidden, network)
    if available is None or need <= available:
        return
    fixed = update_bytes(params, 0, 1, hidden, network)
    per_step = update_bytes(params, 1, 1, hidden, network) - fixed
    fits = max((available - fixed) // per_step, 0)
    hint = (f"paths x horizon <= {fits:,} fits, e.g. paths={max(fits // horizon, 1)} at horizon={horizon}"
            if fits >= horizon else f"paths x horizon <= {fits:,} fits")
    raise UpdateMemoryError(
        f"paths={paths}, horizon={horizon} on scenario {params.scenario_name!r}: one update keeps the autograd graph "
        f"of every path and period, an estimated {_gib(need)}, above the {_gib(available)} of memory available; "
        f"lower paths or horizon ({hint})")

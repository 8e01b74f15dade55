"""B replicas of one scenario behind one interface, on the compiled kernel or on the reference path.

The **reference path** is the specification: :func:`envs.actions.decode_action`, :func:`envs.noise.noise`,
:func:`envs.dynamics.transition` and :func:`envs.observation.observe` on numpy arrays. The **compiled
path** (:mod:`envs.kernel`) does the same per replica in one numba call per step, updating the state in
place, and is proven equal to the reference by the differential tests (units exactly, costs to rounding).
Both fill the same outputs: observations, rewards and the outcome matrix of :mod:`envs.info`.

Choose with the ``simulator`` argument (``"compiled"`` or ``"reference"``) or, when it is None, the
environment variable ``ECHELON_SIMULATOR``; the default is compiled. Where numba is missing or fails to
compile, the reference path runs, with one warning. The compiled path splits large batches over threads,
as many as the process has CPUs unless ``ECHELON_THREADS`` says otherwise.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from envs.actions import ACTION_MODES, decode_action, validate_action
from envs.dynamics import transition
from envs.info import InfoLayout, outcome_matrix
from envs.kernel.layout import (
    ACTION_MODE_CODES,
    DEMAND_GIVEN,
    SCRATCH_ROWS,
    ThreadBuffers,
    demand_source,
    kernel_params,
)
from envs.noise import Noise, key_words, noise
from envs.observation import observation_size, observe
from envs.params import EnvParams
from envs.sizes import check_simulable
from envs.state import State, initial_state

SIMULATORS = ("compiled", "reference")
ENVIRONMENT_VARIABLE = "ECHELON_SIMULATOR"

try:  # numba is a dependency, but the simulator must still run where it cannot be imported
    from numba.core.errors import NumbaError

    from envs.kernel import compiled as kernel
except ImportError as error:  # pragma: no cover - exercised only on machines without numba
    kernel, _KERNEL_IMPORT_ERROR = None, error
    NumbaError = RuntimeError  # never raised by the reference path
else:
    _KERNEL_IMPORT_ERROR = None

_warned = False

THREAD_MIN_ROWS = 32
"""Replicas per thread below which a batch runs in the calling thread alone."""


THREADS_VARIABLE = "ECHELON_THREADS"


@cache
def _thread_pool(process: int, workers: int) -> ThreadPoolExecutor:
    """A pool per process (a forked child cannot use its parent's threads) and size."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="echelon-kernel")


def kernel_threads() -> int:
    """Threads a compiled batch may use: the CPUs this process may run on, or fewer if ``$ECHELON_THREADS`` says so
    (e.g. 1 per worker when several processes share the machine)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    value = os.environ.get(THREADS_VARIABLE)
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"environment variable {THREADS_VARIABLE} is {value!r}; set a whole number >= 1")
        return min(int(value), cpus)
    return cpus


def row_chunks(batch_size: int, threads: int, first_rows: int | None = None) -> list[tuple[int, int]]:
    """Contiguous row ranges, one per thread, each of at least :data:`THREAD_MIN_ROWS` rows (one if too few).

    The first range (the calling thread's) has ``first_rows`` rows, clamped to leave the others their minimum
    (default: an even share); the others share the rest evenly."""
    count = max(1, min(threads, batch_size // THREAD_MIN_ROWS))
    if count == 1:
        return [(0, batch_size)]
    first = round(batch_size / count) if first_rows is None else int(first_rows)
    first = min(max(first, THREAD_MIN_ROWS), batch_size - (count - 1) * THREAD_MIN_ROWS)
    rest, workers = batch_size - first, count - 1
    bounds = [first + round(rest * i / workers) for i in range(count)]  # plain integers: called at every step
    return [(0, first), *zip(bounds[:-1], bounds[1:], strict=True)]


def resolve_simulator(simulator: str | None) -> str:
    """The path to run: the argument, else ``$ECHELON_SIMULATOR``, else compiled (reference if unavailable)."""
    choice = simulator if simulator is not None else os.environ.get(ENVIRONMENT_VARIABLE) or "compiled"
    if choice not in SIMULATORS:
        where = "simulator" if simulator is not None else f"environment variable {ENVIRONMENT_VARIABLE}"
        raise ValueError(f"{where} is {choice!r}; choose one of {SIMULATORS}")
    if choice == "compiled" and kernel is None:
        _warn_fallback(f"numba could not be imported ({_KERNEL_IMPORT_ERROR})")
        return "reference"
    return choice


def _warn_fallback(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"echelon-gym: the compiled simulator is unavailable, {reason}; running the reference "
                      "path (same results, slower)", RuntimeWarning, stacklevel=3)


def compiled_noise(keys: np.ndarray, periods: np.ndarray, params: EnvParams) -> Noise:
    """:func:`envs.noise.noise` of replicas with episode ``keys`` (B,) in ``periods`` (B,), drawn by the compiled
    kernel (tested equal to the reference; for scenarios whose demand the kernel samples itself)."""
    b, n, p = len(keys), params.num_nodes, params.num_products
    stream = (b, params.num_regions, params.num_speeds, p)
    drawn = Noise(demand=np.zeros(stream), cutoff_uniform=np.zeros(stream, np.float32),
                  spill_uniform=np.zeros(stream, np.float32), lead_time=np.zeros((b, n, p), np.int8))
    low, high = key_words(keys)
    kernel.noise_batch(np.ones(b, bool), low, high, np.asarray(periods, dtype=np.int64), drawn.demand,
                       drawn.cutoff_uniform, drawn.spill_uniform, drawn.lead_time, np.zeros(stream[1:], np.float32),
                       np.zeros((SCRATCH_ROWS, max(n, p))), *kernel_params(params).noise_args())
    return drawn


def start_state(params: EnvParams, keys: np.ndarray, warmup: int) -> State:
    """Episode start of replicas with episode ``keys`` on the reference path: the initial state, then
    ``warmup`` periods ordering each node's mean throughput so pipelines are filled."""
    state = initial_state(params, len(keys))
    order = np.broadcast_to(np.rint(params.node_flow), state.on_hand.shape)
    for _ in range(warmup):
        state, _ = transition(state, order, noise(keys, state.period, params), params)
    return state


class Simulator:
    """State, episode keys and buffers of ``batch_size`` replicas; steps and resets selected rows.

    Rows are selected by boolean masks (B,). Observations are written into a caller's (B, O) float32 array
    (:meth:`new_observations`), so a vector env can fill one array from a step and a reset. ``threads``
    (default :func:`kernel_threads`) sets the threads of the compiled path.
    """

    def __init__(self, params: EnvParams, batch_size: int, action_mode: str, warmup: int,
                 simulator: str | None = None, threads: int | None = None) -> None:
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode {action_mode!r} is not one of {ACTION_MODES}")
        check_simulable(params)
        self.params, self.batch_size = params, batch_size
        self.action_mode, self.warmup = action_mode, warmup
        self.simulator = resolve_simulator(simulator)
        self.threads = (kernel_threads() if threads is None else threads) if self.simulator == "compiled" else 1
        self.info_layout = InfoLayout.of(params)
        self.observation_size = observation_size(params)
        self.keys = np.zeros(batch_size, dtype=np.uint64)
        self.state = initial_state(params, batch_size)
        self._all = np.ones(batch_size, dtype=bool)
        if self.simulator == "compiled":
            self._allocate()
            self._compile()

    # The compiled path -----------------------------------------------------------------------------------
    def _allocate(self) -> None:
        params, b = self.params, self.batch_size
        n, p, r, s = params.num_nodes, params.num_products, params.num_regions, params.num_speeds
        self._kernel_params = kernel_params(params)
        self._batch_functions = kernel.batch_functions(p)
        self._noise_given = demand_source(params) == DEMAND_GIVEN
        self._key_low, self._key_high = key_words(self.keys)
        self._no_actions = np.zeros((b, n * p))
        self._chunks = row_chunks(b, self.threads)

        given = None
        if self._noise_given:
            stream = (b, r, s, p)
            given = (np.zeros(stream), np.zeros(stream, np.float32), np.zeros(stream, np.float32),
                     np.ones((b, n, p), np.int8))
        self._thread_buffers = [ThreadBuffers.allocate(params, given) for _ in self._chunks]

    def _compile(self) -> None:
        """Compile (or load from the cache) the kernel for these arrays now, stepping no replica, so that a
        failure to compile falls back to the reference path before anything has run."""
        nothing = np.zeros(self.batch_size, dtype=bool)
        try:
            kernel.actions_valid(self._no_actions)
            self._run_kernel(nothing, self._no_actions, -1, np.empty((self.batch_size, self.info_layout.num_columns)),
                             np.empty(self.batch_size), self.new_observations())
        except NumbaError as error:
            _warn_fallback(f"numba failed to compile it ({type(error).__name__}: {str(error).splitlines()[0]})")
            self.simulator = "reference"

    def _state_arrays(self) -> tuple:
        s = self.state
        return (s.on_hand, s.dock, s.pipeline, s.due, s.last_due, s.backlog, s.last_demand, s.received, s.period)

    def _run_kernel(self, rows: np.ndarray, actions: np.ndarray, warmup: int, matrix: np.ndarray,
                    rewards: np.ndarray, observations: np.ndarray, balance: bool = False) -> None:
        """Step or reset (``warmup >= 0``) ``rows``: the row ranges of :attr:`_chunks` in parallel threads;
        ``balance`` (a step of every row) lets the timing of this call move the split (:meth:`_balance`)."""
        calls = []
        for (start, stop), buffers in zip(self._chunks, self._thread_buffers, strict=True):
            calls.append((
                rows, start, stop, actions, ACTION_MODE_CODES[self.action_mode], self._noise_given, warmup,
                self._key_low, self._key_high, *self._state_arrays(), *buffers, matrix, rewards, observations,
                *self._kernel_params,
            ))
        first, *others = calls
        step_batch = self._batch_functions.step_batch
        futures = [_thread_pool(os.getpid(), len(others)).submit(step_batch, *call) for call in others]
        step_batch(*first)
        waited = not all(future.done() for future in futures)
        for future in futures:
            future.result()
        if futures and balance:
            self._balance(waited)

    def _balance(self, waited: bool) -> None:
        """After a step of every row, give the calling thread more rows if it ``waited`` for the workers (which
        start late: each is woken per step) and fewer if not, twice as fast one way, so that the workers are
        usually done when it looks and it is not put to sleep. Replicas are computed alone: results never change."""
        shift = max(1, self.batch_size // 256)
        first_rows = self._chunks[0][1] + (2 * shift if waited else -shift)
        self._chunks = row_chunks(self.batch_size, len(self._chunks), first_rows)

    def _given_noise(self, rows: np.ndarray) -> None:
        """Demand the kernel cannot sample itself (a trend): the reference noise into the per-replica buffers."""
        given = noise(self.keys[rows], self.state.period[rows], self.params)
        buffers = self._thread_buffers[0]
        buffers.demand[rows] = given.demand
        buffers.cutoff_uniform[rows] = given.cutoff_uniform
        buffers.spill_uniform[rows] = given.spill_uniform
        buffers.lead_time[rows] = given.lead_time

    def _given_noise_warmup(self, rows: np.ndarray, matrix: np.ndarray) -> None:
        """The warm-up of a reset with given noise: period by period, the reference noise then the kernel."""
        params, kp = self.params, self._kernel_params
        b, n, p = self.batch_size, params.num_nodes, params.num_products
        order = np.broadcast_to(np.rint(params.node_flow), (b, n, p)).copy()
        shipped, purchased, served = np.zeros((b, n, p)), np.zeros((b, p)), np.zeros((b, p))
        buffers, transition_batch = self._thread_buffers[0], self._batch_functions.transition_batch
        for _ in range(self.warmup):
            self._given_noise(rows)
            transition_batch(rows, *self._state_arrays(), order, buffers.demand, buffers.cutoff_uniform,
                             buffers.spill_uniform, buffers.lead_time, buffers.work, buffers.scratch,
                             matrix, shipped, purchased, served, *kp.transition_args())

    # Public interface --------------------------------------------------------------------------------------
    def new_observations(self) -> np.ndarray:
        return np.empty((self.batch_size, self.observation_size), dtype=np.float32)

    def reset(self, rows: np.ndarray, keys: np.ndarray, observations: np.ndarray) -> None:
        """Start a new episode (initial state and warm-up) in ``rows`` with episode ``keys`` (one per True row)."""
        if not rows.any():
            return
        self.keys[rows] = keys
        if self.simulator == "reference":
            fresh = start_state(self.params, self.keys[rows], self.warmup)
            self.state = fresh if rows.all() else self.state.put(rows, fresh)
            observations[rows] = observe(fresh, self.params)
            return
        self._key_low, self._key_high = key_words(self.keys)
        matrix, rewards = np.empty((self.batch_size, self.info_layout.num_columns)), np.empty(self.batch_size)
        if not self._noise_given:
            self._run_kernel(rows, self._no_actions, self.warmup, matrix, rewards, observations)
            return
        self._run_kernel(rows, self._no_actions, 0, matrix, rewards, observations)
        self._given_noise_warmup(rows, matrix)
        self.observe(rows, observations)

    def observe(self, rows: np.ndarray, observations: np.ndarray) -> None:
        """Write the current observations of ``rows`` into ``observations``."""
        if not rows.any():
            return
        if self.simulator == "reference":
            observations[rows] = observe(self.state.take(rows), self.params)
            return
        state = self.state
        kernel.observe_batch(rows, state.on_hand, state.dock, state.pipeline, state.backlog, state.last_demand,
                             state.received, state.period, observations, *self._kernel_params.observe_args())

    def step(self, actions: np.ndarray, observations: np.ndarray,
             rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Advance ``rows`` (default all) one period under ``actions`` (B, N * P), validated for every row.

        Returns rewards (B,) and the outcome matrix (B, K), zero outside ``rows``; writes the observations of
        ``rows``. Invalid actions raise ``ValueError`` before anything changes.
        """
        rows = self._all if rows is None else rows
        actions = np.asarray(actions, dtype=np.float64)
        validate_shape = (self.batch_size, self.params.num_nodes * self.params.num_products)
        if actions.shape != validate_shape:
            validate_action(actions, self.batch_size, self.params)  # raises with the shape message
        if self.simulator == "reference" or not rows.any():
            return self._reference_step(actions, observations, rows)
        matrix, rewards = np.empty((self.batch_size, self.info_layout.num_columns)), np.empty(self.batch_size)
        if self._noise_given:
            self._given_noise(rows)
        if not kernel.actions_valid(actions):
            validate_action(actions, self.batch_size, self.params)  # raises the reference's message
            raise AssertionError("the kernel refused actions the reference accepts")
        everything = bool(rows.all())
        self._run_kernel(rows, actions, -1, matrix, rewards, observations, balance=everything)
        if not everything:
            matrix[~rows], rewards[~rows] = 0.0, 0.0
        return rewards, matrix

    def _reference_step(self, actions: np.ndarray, observations: np.ndarray,
                        rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = decode_action(actions, self.state, self.params, self.action_mode)  # validates every row
        matrix = np.zeros((self.batch_size, self.info_layout.num_columns))
        rewards = np.zeros(self.batch_size)
        if not rows.any():
            return rewards, matrix
        everything = bool(rows.all())
        state = self.state if everything else self.state.take(rows)
        state, outcome = transition(state, order[rows], noise(self.keys[rows], state.period, self.params),
                                    self.params)
        self.state = state if everything else self.state.put(rows, state)
        matrix[rows] = outcome_matrix(outcome, self.params)
        rewards[rows] = -outcome.total_cost / self.params.cost_scale
        observations[rows] = observe(state, self.params)
        return rewards, matrix


"""``echelon sweep``: a grid or a search over algorithms, hyperparameters, env ids and seeds, on Ray Tune.

The sweep file (:mod:`experiments.sweep_config`) is checked before anything starts. Ray then starts locally on
this machine's loopback address with its CPUs, or joins a running cluster (``--address``;
:mod:`experiments.ray_cluster`), and Ray Tune runs every trial (:mod:`experiments.sweep_trial`: an ``echelon
train`` run folder, evaluated at each checkpoint) with ``cpus_per_trial`` CPUs each: a grid as Tune's grid search,
a search with Optuna's TPE sampler (seeded) and ASHA early stopping on the evaluation cost. A crashed trial is
retried ``max_failures`` times, then reported failed while the others go on.

The sweep folder holds ``sweep.yaml`` (the file, defaults filled in), ``meta.json`` (command of every session,
git revision, package versions, Ray's start-up time, start and end), ``runs/`` (one run folder per trial),
``logs/``, ``evaluations/`` (each trial's reported evaluations), ``tune/`` (Ray Tune's state), and, written at the
end (:mod:`experiments.sweep_report`), ``results.csv`` (one row per trial), ``report.md`` with the statistics
across seeds per configuration, and their figures. ``--resume SWEEP_DIR`` continues an interrupted sweep: finished
trials are not rerun, unfinished ones continue from their run's latest checkpoint.

Ray (and :mod:`experiments.sweep_callback`, which imports it) is imported only once
:func:`experiments.ray_cluster.connect` has decided where it runs.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from experiments.files import write_atomic
from experiments.provenance import base_meta, now_iso, package_versions
from experiments.ray_cluster import connect
from experiments.runs import META, RunError
from experiments.sweep_config import Sweep, load_sweep
from experiments.sweep_report import TRIALS_FILE, load_records, write_sweep_report
from experiments.sweep_trial import METRIC, run_trial

SWEEP_FILE = "sweep.yaml"
TUNE_DIR = "tune"
ASHA_MAX_EVALUATIONS = 1_000_000
"""ASHA's ``max_t`` (in evaluations): larger than any run's, so only the rungs stop trials."""
TUNE_SIGINT_VARIABLE = "TUNE_DISABLE_SIGINT_HANDLER"


@dataclass
class SweepOutcome:
    """Where the sweep's report is, and how many trials failed or are unfinished."""

    report: Path
    failed: int
    unfinished: int


def default_output(path: Path) -> Path:
    return Path("sweeps") / f"{path.stem}-{datetime.now():%Y%m%d-%H%M%S}"


def run_sweep(path: str | Path, output: str | Path | None = None, address: str | None = None,
              cpus: int | None = None, progress: bool | None = None, argv: list[str] | None = None) -> SweepOutcome:
    """Check the sweep file, create the sweep folder, run every trial and write the report."""
    sweep = load_sweep(path)
    root = Path(output) if output is not None else default_output(Path(path))
    if root.exists():
        raise RunError(f"{root} already exists; a sweep folder is never overwritten (continue it with --resume "
                       f"{root}, or choose another --output)")
    root.mkdir(parents=True)
    root = root.resolve()
    write_atomic(root / SWEEP_FILE, yaml.safe_dump(sweep.source, sort_keys=False))
    meta = {**base_meta({"env_id": sweep.env_ids, "algo": sweep.algos, "seed": sweep.seeds}), "sweep_file": str(path)}
    write_atomic(root / META, json.dumps(meta, indent=2, default=str) + "\n")
    return _run(root, sweep, address, cpus, progress, argv or sys.argv, restore=False)


def resume_sweep(root: str | Path, address: str | None = None, cpus: int | None = None,
                 progress: bool | None = None, argv: list[str] | None = None) -> SweepOutcome:
    """Continue an interrupted sweep in ``root`` (its own ``sweep.yaml``, checked again)."""
    root = Path(root).resolve()
    if not (root / SWEEP_FILE).exists() or not (root / TUNE_DIR).is_dir():
        raise RunError(f"{root} is not a sweep folder (no {SWEEP_FILE} or {TUNE_DIR}/)")
    sweep = load_sweep(root / SWEEP_FILE)
    return _run(root, sweep, address, cpus, progress, argv or sys.argv, restore=True)


def _run(root: Path, sweep: Sweep, address: str | None, cpus: int | None, progress: bool | None,
         argv: list[str], restore: bool) -> SweepOutcome:
    meta = _load_meta(root)
    session = {"command": " ".join(argv), "start_time": now_iso(), "address": address or "local (127.0.0.1)",
               "end_time": None}
    meta.setdefault("sessions", []).append(session)
    meta["packages"] = {**meta.get("packages", {}), **package_versions()}
    write_atomic(root / META, json.dumps(meta, indent=2, default=str) + "\n")
    ray, startup = connect(address, cpus)
    session.update(ray_startup_seconds=round(startup, 2), ray_cpus=ray.cluster_resources().get("CPU"),
                   ray_nodes=len(ray.nodes()))
    write_atomic(root / META, json.dumps(meta, indent=2, default=str) + "\n")
    tune = importlib.import_module("ray.tune")
    recorder = importlib.import_module("experiments.sweep_callback").TrialRecorder(str(root))
    (root / TRIALS_FILE).unlink(missing_ok=True)
    try:
        with interrupts() as interrupted:
            _tuner(tune, root, sweep, recorder, progress, restore).fit()
    finally:
        ray.shutdown()
    records = load_records(root)
    session["end_time"] = now_iso()
    meta["end_time"] = session["end_time"]
    write_atomic(root / META, json.dumps(meta, indent=2, default=str) + "\n")
    report, counts = write_sweep_report(root, sweep, records, interrupted.is_set())
    meta["result"] = {"report": str(report), "trials": len(records), **counts}
    write_atomic(root / META, json.dumps(meta, indent=2, default=str) + "\n")
    return SweepOutcome(report, counts["failed"], counts["unfinished"])


@contextlib.contextmanager
def interrupts() -> Iterator[threading.Event]:
    """The first Ctrl-C (or SIGTERM) ends the sweep the way Ray Tune ends one on SIGUSR1: its state saved with the
    running trials unfinished, to be resumed; the event records that it happened. A second Ctrl-C stops at once."""
    interrupted = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if interrupted.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        interrupted.set()
        print("\ninterrupt: stopping the sweep and saving its state (Ctrl-C again to stop now)", file=sys.stderr)
        os.kill(os.getpid(), signal.SIGUSR1)

    os.environ[TUNE_SIGINT_VARIABLE] = "1"  # Tune's own handler would end the trials as if they had completed
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interrupted
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _load_meta(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / META).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunError(f"{root / META} cannot be read ({error}); is {root} a sweep folder?") from error


def _tuner(tune: Any, root: Path, sweep: Sweep, recorder: Any, progress: bool | None, restore: bool) -> Any:
    """A new Tuner for the sweep (grid, or TPE with ASHA), or the interrupted one restored from ``root/tune``."""
    context = {"root": str(root), "fixed": sweep.fixed, "eval_episodes": sweep.eval_episodes,
               "cpus": sweep.cpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(run_trial, sweep=context), {"cpu": sweep.cpus_per_trial})
    run_config = tune.RunConfig(name=TUNE_DIR, storage_path=str(root), callbacks=[recorder],
                                failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
                                verbose=None if progress is None else int(bool(progress)))
    if restore:
        return tune.Tuner.restore(str(root / TUNE_DIR), trainable, resume_unfinished=True, resume_errored=True,
                                  param_space=_param_space(tune, sweep))
    if sweep.search is None:
        config = tune.TuneConfig(metric=METRIC, mode="min")
    else:
        optuna = importlib.import_module("ray.tune.search.optuna")
        schedulers = importlib.import_module("ray.tune.schedulers")
        config = tune.TuneConfig(  # metric and mode go to the searcher and the scheduler (Tune refuses both places)
            num_samples=sweep.search.trials,
            search_alg=optuna.OptunaSearch(space=DefineByRun(sweep), metric=METRIC, mode="min", seed=0),
            scheduler=schedulers.ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode="min",
                                               max_t=ASHA_MAX_EVALUATIONS, grace_period=sweep.search.grace_period,
                                               reduction_factor=sweep.search.reduction_factor))
    return tune.Tuner(trainable, param_space=_param_space(tune, sweep), tune_config=config, run_config=run_config)


def _param_space(tune: Any, sweep: Sweep) -> dict[str, Any]:
    """A grid's trials as one grid-search axis (the search samples its own)."""
    return {} if sweep.search is not None else {"trial": tune.grid_search([t.as_dict() for t in sweep.grid_trials()])}


class DefineByRun:
    """Optuna's define-by-run space (a picklable object: Tune saves the searcher with the sweep): env id,
    algorithm and action when several, the algorithm's hyperparameters (named ``<algo>.<key>``); trial k trains
    with the k-th seed, cycling."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep

    def __call__(self, trial: Any) -> dict[str, Any]:
        sweep = self.sweep
        constants: dict[str, Any] = {"seed": sweep.seeds[trial.number % len(sweep.seeds)]}
        chosen = {}
        for name, values in (("env_id", sweep.env_ids), ("algo", sweep.algos), ("action", sweep.actions)):
            if len(values) > 1:
                chosen[name] = trial.suggest_categorical(name, values)
            else:
                chosen[name] = constants[name] = values[0]
        for key, (kind, arguments) in sweep.search.space.get(chosen["algo"], {}).items():
            name = f"{chosen['algo']}.{key}"
            if kind == "choice":
                trial.suggest_categorical(name, arguments)
            elif kind == "randint":
                trial.suggest_int(name, int(arguments[0]), int(arguments[1]) - 1)
            else:
                trial.suggest_float(name, float(arguments[0]), float(arguments[1]), log=kind == "loguniform")
        return constants

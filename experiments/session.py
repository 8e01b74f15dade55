"""One training session in a run folder, whatever the trainer: the session, interrupt and checkpoint protocol.

A session records its start (meta.json, command.txt, status ``running``) and trains. The first Ctrl-C (or
SIGTERM) asks the trainer to stop at its next step, a second Ctrl-C stops at once; either way a checkpoint is
saved and the session ends ``interrupted`` (exit status 130), to be continued with ``echelon train --resume``.
Otherwise the final policy is saved and evaluated (``final_eval.json``) and the session ends ``finished``.
Any error ends it ``failed``, with the error in its record; an error while training (a diverging agent, an
argument the library accepts but cannot train with) is raised as a :class:`~experiments.runs.RunError` that says
where training stopped. A :class:`Trainer` supplies what differs between SB3 agents and the gradient agent.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from baselines.evaluation import Policy
from experiments.conventions import EXIT_INTERRUPTED
from experiments.evaluate import final_evaluation
from experiments.interrupts import StopFlag, graceful_interrupts
from experiments.run_config import policy_name, warmup_periods
from experiments.runs import FAILED, FINISHED, INTERRUPTED, Run, RunError


class Trainer(Protocol):
    """What a session drives: a model or policy being trained inside a run folder."""

    progress: dict[str, Any]  # the progress bar's total, initial, desc and unit

    def steps(self) -> int:
        """Env steps trained so far, over all sessions."""

    def fit(self, stop: StopFlag, bar: tqdm) -> None:
        """Train until the budget is spent or ``stop.requested``, advancing ``bar``."""

    def save_checkpoint(self) -> Path:
        """Save what a resumed session starts from; returns the file to name."""

    def save_final(self) -> tuple[Path, Policy]:
        """Save the final policy; returns its file and the policy as it will be reloaded."""

    def stopped_at(self) -> str:
        """Where training stopped (``1,024 steps``, ``iteration 3 of 10``)."""

    def summary(self, start_steps: int, seconds: float, fps: float) -> str:
        """What this session trained (``1,024 steps in 2.0 s (512 steps/s)``)."""

    def result_fields(self) -> dict[str, Any]:
        """Counts recorded in the run's result besides its env steps."""


def run_session(run: Run, config: dict, trainer: Trainer, argv: list[str], resumed: bool,
                progress: bool | None) -> int:
    """Train inside ``run``; save, evaluate and record the outcome. Returns the exit status (0 or 130)."""
    start_steps = trainer.steps()
    run.start_session(argv, start_steps, "resumed" if resumed else "started")
    stop = StopFlag()
    started = time.perf_counter()
    bar = tqdm(**trainer.progress, dynamic_ncols=True, disable=None if progress is None else not progress)
    checkpoint = None
    with failing_session(run, trainer.steps), bar, graceful_interrupts(stop):
        try:
            trainer.fit(stop, bar)
        except KeyboardInterrupt:
            stop.requested = True
        except RunError:
            raise
        except Exception as error:
            raise RunError(f"training stopped at {trainer.stopped_at()} by {type(error).__name__}: {error}; the run "
                           f"{run.path} is marked failed") from error
        if stop.requested:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the checkpoint be written
            checkpoint = trainer.save_checkpoint()
    steps, seconds = trainer.steps(), time.perf_counter() - started
    fps = round((steps - start_steps) / max(seconds, 1e-9), 1)
    if checkpoint is not None:
        run.end_session(INTERRUPTED, steps)
        print(f"interrupted at {trainer.stopped_at()}; checkpoint {checkpoint}\n"
              f"continue with: echelon train --resume {run.path}")
        return EXIT_INTERRUPTED
    result = {"timesteps": steps, **trainer.result_fields(), "session_seconds": round(seconds, 2), "session_fps": fps}

    def save_and_evaluate() -> float | None:
        model, policy = trainer.save_final()
        return final_evaluation(run, config, policy, policy_name(config), model, steps, warmup_periods(config),
                                progress)

    finish_session(run, steps, result, save_and_evaluate)
    print(f"finished {trainer.summary(start_steps, seconds, fps)}: {run.path}")
    return 0


@contextlib.contextmanager
def failing_session(run: Run, steps: Callable[[], int]) -> Iterator[None]:
    """End the session ``failed`` at ``steps()`` steps if the block raises anything (Ctrl-C included), recording the
    error, then re-raise; an error while recording the failure is dropped in favour of the original one."""
    try:
        yield
    except BaseException as error:
        cause = error.__cause__ if isinstance(error, RunError) and error.__cause__ is not None else error
        described = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        with contextlib.suppress(Exception):
            run.end_session(FAILED, steps(), error=described)
        raise


def finish_session(run: Run, steps: int, result: dict, save_and_evaluate: Callable[[], Any]) -> None:
    """Save and evaluate the final policy with ``save_and_evaluate()`` (it returns the evaluation's cost per period,
    or None when there is no evaluation), then end the session ``finished`` with ``result`` (and that cost); the
    session is ``failed`` if saving or evaluating raises."""
    with failing_session(run, lambda: steps):
        cost = save_and_evaluate()
    if cost is not None:
        result["eval_cost_per_period"] = cost
    run.end_session(FINISHED, steps, result)

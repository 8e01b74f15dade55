"""The plan a residual run corrects: ``plan.json`` in its run folder, and the action map built on it.

A residual agent's actions are log-multipliers of the analytic plan's echelon levels
(:class:`agents.residual.ResidualPolicy`). The plan's levels are saved with the run, so the agent is evaluated
on the plan it was trained on whatever the planner computes later.
"""

from __future__ import annotations

import json

import numpy as np

from agents.config import DEFAULT_MAX_LOG_MULTIPLIER
from agents.residual import ResidualPolicy
from baselines.policies import EchelonBaseStockPolicy
from envs.params import EnvParams
from experiments.files import write_atomic
from experiments.run_config import env_params
from experiments.runs import PLAN, Run, RunError, plan_fields


def save_plan(run: Run, echelon_levels: np.ndarray, method: str) -> None:
    """Record the plan a residual agent corrects."""
    write_atomic(run.file(PLAN), json.dumps(plan_fields(method, echelon_levels)) + "\n")


def load_plan_levels(run: Run) -> np.ndarray:
    """The echelon levels of the plan a residual run was trained on."""
    path = run.file(PLAN)
    try:
        return np.asarray(json.loads(path.read_text())["echelon_levels"], dtype=float)
    except FileNotFoundError as error:
        raise RunError(f"{path} is missing: the plan this residual run was trained on") from error
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunError(f"{path} is corrupted ({type(error).__name__}: {error}); the run folder was left "
                       "unchanged") from error


def residual_policy(config: dict, echelon_levels: np.ndarray, params: EnvParams | None = None) -> ResidualPolicy:
    """The plan-correcting action map of a residual run's config."""
    params = params or env_params(config["env_id"])
    bound = float(config.get("max_log_multiplier", DEFAULT_MAX_LOG_MULTIPLIER))
    return ResidualPolicy(EchelonBaseStockPolicy(echelon_levels, params), bound)

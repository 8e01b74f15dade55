"""What the command line shares with the pipeline: seeds, episode count, exit statuses, policy names, usage errors.

Kept free of heavy imports, so that ``echelon --help`` and usage errors answer at once.
"""

from __future__ import annotations

DEFAULT_EVAL_SEED = 1_000_000
"""First evaluation seed: far from the training seeds (``seed .. seed + num_envs - 1``)."""
DEFAULT_EPISODES = 100
"""Evaluation episodes per policy unless told otherwise."""
DEFAULT_TRANSFER_PERIODS = 100
"""Periods per episode of a transfer evaluation (its targets need not be registered env ids with an episode length)."""
BOUND_EPISODES = 30
"""Episodes the hindsight bound is solved on by default (at most the evaluation's episodes)."""
BOUND_EPISODES_BY_ENV = {"echelon/NetworkLarge-v1": 4}
"""Fewer where one LP takes a minute or more."""
QUICK_BOUND_EPISODES = 2
TUNING_SEED = 10_000
"""Seed of the tuning simulations of the ``tuned`` policy: fixed, and away from the evaluation seeds."""
MAX_TRAINING_SEED = 2**32 - 1
"""Largest seed of a training run (stable-baselines3 seeds numpy's global generator, which takes 32 bits)."""

EXIT_ERROR = 1
"""A command failed; its message says what is wrong."""
EXIT_USAGE = 2
"""Bad combination of options."""
EXIT_INTERRUPTED = 130
"""Training was interrupted; a checkpoint was saved and ``echelon train --resume`` continues it."""

POLICY_NAMES = ("planner", "tuned", "newsvendor", "constant", "random")
"""The policies ``--policy`` names, in this order (their factories: :data:`experiments.named_policies.POLICIES`)."""
POLICY_HELP = ("'planner' (the analytic plan's echelon base stock), 'tuned' (the plan's levels scaled by simulation "
               "on fixed tuning seeds), 'newsvendor' and 'constant' (naive references), 'random' (uniform actions)")


class UsageError(Exception):
    """A bad combination of options (exit status 2)."""

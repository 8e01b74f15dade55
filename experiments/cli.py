"""The ``echelon`` command: train, evaluate, compare, transfer and benchmark inventory policies.

    echelon train --env-id echelon/Serial-v1 --algo ppo --seed 0
    echelon train --env-id echelon/Network-v1 --algo ppo --action residual --set max_log_multiplier=0.5
    echelon train --env-id echelon/Network-v1 --algo gradient
    echelon train --resume runs/Serial-v0-ppo-seed0-20250101-120000
    echelon evaluate --run runs/Serial-v0-ppo-seed0-20250101-120000 --episodes 100
    echelon compare --run runs/A --run runs/B --policy planner --policy tuned   # paired against the plan
    echelon transfer --runs runs/A runs/B --scenario network-large --products 2000   # cells runs, other scenarios
    echelon benchmark --env-id echelon/Network-v1 --seed 0
    echelon sweep SWEEP.yaml                     # on Ray, locally (127.0.0.1) or --address HEAD:6379
    echelon plan network-large --shards 4 --output plan.json   # the analytic plan, its products in shards on Ray
    echelon catalog catalog.parquet --products 1000000 --seed 0   # a long-tailed synthetic catalog file

Run ``echelon <command> --help`` for every option. Exit status: 0 done, 1 error (the message says what is
wrong), 2 bad usage, 130 training interrupted (a checkpoint was saved). Every error is one line
``echelon <command>: error: ...`` on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from importlib import metadata
from pathlib import Path

from agents.config import ACTIONS, ALGO_NAMES, ConfigError
from envs import ENV_IDS
from envs.scenario.errors import ScenarioError
from experiments.conventions import (
    BOUND_EPISODES,
    BOUND_EPISODES_BY_ENV,
    DEFAULT_EPISODES,
    DEFAULT_EVAL_SEED,
    DEFAULT_TRANSFER_PERIODS,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MAX_TRAINING_SEED,
    POLICY_HELP,
    POLICY_NAMES,
    UsageError,
)
from experiments.files import unwritable, write_json
from experiments.runs import RunError

MAX_THREADS = 1024
"""Most torch threads (far more crash torch)."""
MAX_EPISODES = 10**8
"""Most evaluation episodes (the episodes are split into chunks of --num-envs up front)."""
MAX_NUM_ENVS = 2**16
"""Most replicas simulated at once."""
MAX_CATALOG_PRODUCTS = 10**7
"""Most products of a generated catalog (about 1 GB while it is drawn and written)."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of descriptions; shows a default unless it is unset or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default in ([], argparse.SUPPRESS)
        if "default" in text or unset or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _positive(text: str) -> int:
    try:
        value = int(float(text)) if float(text).is_integer() else None
    except (ValueError, OverflowError):
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _at_most(parse, most: int, what: str):
    """``parse`` (one of the above), refusing values above ``most``."""

    def checked(text: str) -> int:
        value = parse(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"expected at most {most:,} {what}, got {text!r}")
        return value

    return checked


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _bound_episodes(text: str) -> int:
    value = _non_negative(text)
    if value == 1:
        raise argparse.ArgumentTypeError("expected 0 (no bound) or at least 2 episodes (an interval needs two), "
                                         "got '1'")
    return value


def _episodes(text: str) -> int:
    value = _at_most(_positive, MAX_EPISODES, "episodes")(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 episodes (for a confidence interval), got {text!r}")
    return value


_threads = _at_most(_positive, MAX_THREADS, "threads")
_num_envs = _at_most(_positive, MAX_NUM_ENVS, "replicas")
_training_seed = _at_most(_non_negative, MAX_TRAINING_SEED, "(a 32-bit seed)")


class _Entry(argparse.Action):
    """Appends ``(const, value)`` to the shared list ``dest``: --run and --policy entries keep their order."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, [*getattr(namespace, self.dest, []), (self.const, values)])


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runtime")
    group.add_argument("--threads", type=_threads, default=1,
                       help="torch CPU threads; one is fastest for these small networks, especially on a shared "
                            "machine")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show progress bars (default: only when writing to a terminal)")


def _add_eval_options(parser: argparse.ArgumentParser, episodes_default: int = DEFAULT_EPISODES,
                      periods_default: int | None = None) -> None:
    """The evaluation options; ``periods_default`` None: the env id's registered episode length."""
    group = parser.add_argument_group("evaluation (common random numbers)")
    group.add_argument("--episodes", type=_episodes, default=episodes_default,
                       help="episodes per policy; episode j is seeded SEED + j for every policy")
    group.add_argument("--seed", type=_non_negative, default=DEFAULT_EVAL_SEED,
                       help="seed of the first episode; keep it away from the training seeds (seed .. seed + "
                            "num_envs - 1)")
    group.add_argument("--num-envs", type=_num_envs, default=None,
                       help="episodes simulated at once (default: min(episodes, 256)); the draws stay the same")
    group.add_argument("--periods", type=_positive, default=periods_default,
                       help="periods per episode" if periods_default is not None else
                            "periods per episode (default: the env id's registered episode length)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echelon", description=__doc__, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="{train,evaluate,compare,transfer,benchmark,sweep,plan,"
                                     "catalog}", required=True)
    _add_train_command(commands)
    _add_evaluate_command(commands)
    _add_compare_command(commands)
    _add_transfer_command(commands)
    _add_benchmark_command(commands)
    _add_sweep_command(commands)
    _add_plan_command(commands)
    _add_catalog_command(commands)
    return parser


_IDS = ", ".join(ENV_IDS)


def _add_train_command(commands: argparse._SubParsersAction) -> None:
    """``echelon train``: a new run (or ``--resume`` one)."""
    train = commands.add_parser(
        "train", formatter_class=_Formatter, help="train a PPO, SAC, TD3, A2C or gradient agent in a new run folder",
        description=(
            "Train a stable-baselines3 agent on the natively batched env, or the gradient agent through the torch\n"
            "rollout of the env's transition, and record everything in a new run folder\n"
            "RUNS_DIR/<env>-<algo>-seed<seed>-<time>/: config.yaml (resolved), command.txt, meta.json (git\n"
            "revision, package versions, seed, times), status, metrics.csv, tb/ (TensorBoard), checkpoints/,\n"
            "final_eval.json, and model.zip + vecnormalize.pkl (SB3) or policy.pt (gradient); plan.json for\n"
            "residual agents.\n\n"
            "--action residual: the agent outputs log-multipliers of the analytic plan's echelon levels (zero is\n"
            "the plan), bounded by max_log_multiplier; the plan is computed from the scenario and saved.\n\n"
            "Configuration, lowest precedence first: agents/hyperparams/<algo>.yaml ('default', then the env id's\n"
            "entry, then their 'residual' sections for residual agents), --config FILE, --set KEY=VALUE, then\n"
            "--action / --total-steps / --num-envs / --checkpoint-every (the gradient agent takes --set paths=,\n"
            "iterations=, checkpoint_every= (iterations) instead).\n\n"
            "Ctrl-C (or SIGTERM) stops at the next step, saves a checkpoint and marks the run 'interrupted'\n"
            "(exit status 130); --resume RUN_DIR continues it with the same step count. A finished run is never\n"
            "overwritten."
        ),
    )
    new = train.add_argument_group("new run")
    new.add_argument("--env-id", choices=list(ENV_IDS), metavar="ENV_ID", default=None,
                     help=f"registered env id: {_IDS} (required unless --config sets env_id)")
    new.add_argument("--algo", choices=ALGO_NAMES, default=None,
                     help="algorithm (required unless --config sets algo)")
    new.add_argument("--action", choices=ACTIONS, default=None,
                     help="'direct': the env's own action; 'residual': log-multipliers of the analytic plan's "
                          "echelon levels (default: from the hyperparameter file)")
    new.add_argument("--seed", type=_training_seed, default=None,
                     help="seed of the model and of the training env (replica i gets seed + i) (default: 0)")
    new.add_argument("--config", metavar="FILE", default=None,
                     help="YAML mapping of hyperparameters (keys as in agents/hyperparams/*.yaml entries; may also "
                          "set env_id, algo, seed): a previous run's config.yaml reproduces that run")
    new.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE", default=None,
                     help="override one hyperparameter, dotted for nested keys, value as YAML; repeatable, e.g. "
                          "--set algo_kwargs.learning_rate=1e-3 --set policy_kwargs.net_arch=[128,128]")
    new.add_argument("--num-envs", type=_num_envs, default=None,
                     help="replicas of the batched training env (default: from the hyperparameter file)")
    new.add_argument("--checkpoint-every", type=_positive, default=None, metavar="STEPS",
                     help="env steps between checkpoints (default: from the hyperparameter file)")
    new.add_argument("--runs-dir", default="runs", help="folder that holds the run folders")
    new.add_argument("--run-name", default=None,
                     help="name of the run folder (default: <env>-<algo>-seed<seed>-<YYYYmmdd-HHMMSS>); an "
                          "existing folder is refused")
    both = train.add_argument_group("new or resumed run")
    both.add_argument("--total-steps", type=_positive, default=None, metavar="STEPS",
                      help="env steps (summed over replicas) to train for in total; with --resume, changes the "
                           "budget of the unfinished run (default: from the hyperparameter file / the run)")
    both.add_argument("--resume", metavar="RUN_DIR", default=None,
                      help="continue an interrupted or failed run from its latest checkpoint (or from the "
                           "checkpoint file given instead of RUN_DIR), with the run's own config.yaml")
    both.add_argument("--verbose", action="store_true", help="print stable-baselines3's training tables")
    _add_runtime(train)


def _add_evaluate_command(commands: argparse._SubParsersAction) -> None:
    """``echelon evaluate``: a run or a named policy."""
    evaluate = commands.add_parser(
        "evaluate", formatter_class=_Formatter, help="evaluate a trained run (or a named policy) with common "
        "random numbers",
        description=(
            "Evaluate a run's final model (or a checkpoint; or the latest checkpoint of an unfinished run) with\n"
            "deterministic actions and its saved observation normalization (frozen), on EPISODES episodes seeded\n"
            "SEED, SEED + 1, ...: every policy evaluated with the same seed faces the same demand and lead-time\n"
            "draws. Prints the mean and 95% confidence interval of the cost per period and its breakdown, of the\n"
            "fill rate and lost units by delivery speed and of capacity use, and writes them (with every episode's\n"
            "cost) to RUN_DIR/eval.json (RUN_DIR/eval_<checkpoint name>.json for a checkpoint)."
        ),
    )
    which = evaluate.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", metavar="RUN_DIR", help="run folder made by 'echelon train'")
    which.add_argument("--policy", choices=POLICY_NAMES, help=f"a named policy instead of a run: {POLICY_HELP}")
    evaluate.add_argument("--env-id", choices=list(ENV_IDS), metavar="ENV_ID", default=None,
                          help=f"env id for --policy ({_IDS})")
    evaluate.add_argument("--checkpoint", metavar="FILE", default=None,
                          help="evaluate this checkpoint of the run (RUN_DIR/checkpoints/model_<steps>_steps.zip) "
                               "instead; a file outside RUN_DIR is refused")
    evaluate.add_argument("--output", metavar="FILE", default=None,
                          help="where to write the JSON results (default: RUN_DIR/eval.json, or "
                               "RUN_DIR/eval_<checkpoint name>.json with --checkpoint; none for --policy)")
    evaluate.add_argument("--json", action="store_true", help="print the JSON results instead of the table")
    _add_eval_options(evaluate)
    _add_runtime(evaluate)


def _add_compare_command(commands: argparse._SubParsersAction) -> None:
    """``echelon compare``: runs and named policies on the same episodes."""
    compare = commands.add_parser(
        "compare", formatter_class=_Formatter, help="compare runs and named policies on the same random draws",
        description=(
            "Evaluate several runs and/or named policies (in command-line order) on the same env id with the same\n"
            "episode seeds and the same env warm-up (common random numbers), and print each one's mean cost per\n"
            "period with its 95% CI, its paired difference to the baseline (episode by episode, so the interval is\n"
            "much tighter than the two separate ones) in cost and in percent of the baseline's cost, and how far it\n"
            "is above the analytic plan's dual bound and above the exact optimum (where the plan is exact).\n"
            "--runs A B C is one entry of several runs of one configuration (e.g. a sweep's seeds): every run is\n"
            "paired with the baseline, and the entry reports the mean and interquartile mean of their gaps with\n"
            "95% stratified bootstrap intervals, the probability that a run beats the baseline and the worst seed.\n"
            "The perfect-information (hindsight) bound of the first episodes (--bound-episodes) is a lower bound on\n"
            "the expected cost of every policy that does not see the future; each entry's gap to it is paired.\n\n"
            "Runs trained with different env warm-ups (warmup_periods) are refused unless --warmup-periods sets\n"
            "one warm-up for every entry."
        ),
    )
    compare.add_argument("--run", dest="entries", action=_Entry, const="run", metavar="RUN_DIR", default=[],
                         help="run folder; repeatable")
    compare.add_argument("--runs", dest="entries", action=_Entry, const="runs", nargs="+", metavar="RUN_DIR",
                         default=[], help="several runs of one configuration (training seeds) as one entry, each "
                                          "paired with the baseline and reported across seeds; repeatable")
    compare.add_argument("--policy", dest="entries", action=_Entry, const="policy", choices=POLICY_NAMES,
                         default=[], help=f"named policy; repeatable: {POLICY_HELP}")
    compare.add_argument("--baseline", metavar="NAME", default=None,
                         help="entry the differences are taken against: a label as printed (e.g. 'ppo (RUN)'), a "
                              "RUN_DIR or policy name as given, or 'planner' (added if not given) (default: "
                              "'planner' when it is an entry, else the first entry)")
    compare.add_argument("--env-id", choices=list(ENV_IDS), metavar="ENV_ID", default=None,
                         help="env id (default: the runs' env id, which must agree)")
    compare.add_argument("--warmup-periods", type=_non_negative, default=None, metavar="N",
                         help="env warm-up of every entry (default: the runs' own warm-up, which must agree with "
                              "each other and with the scenario's when named policies are compared)")
    compare.add_argument("--output", metavar="FILE", default=None, help="write the comparison as JSON")
    compare.add_argument("--bound-episodes", type=_bound_episodes, default=None, metavar="N",
                         help="solve the perfect-information (hindsight) lower bound on the first N episodes (0: "
                              "none, else at least 2 for an interval) and report every entry's paired gap to it "
                              f"(default: {BOUND_EPISODES}, "
                              + ", ".join(f"{count} on {env_id.split('/')[-1]}"
                                          for env_id, count in BOUND_EPISODES_BY_ENV.items())
                              + "; never more than the episodes evaluated)")
    _add_eval_options(compare)
    _add_runtime(compare)


def _add_transfer_command(commands: argparse._SubParsersAction) -> None:
    """``echelon transfer``: product-shared runs on scenarios they were not trained on."""
    transfer = commands.add_parser(
        "transfer", formatter_class=_Formatter, help="evaluate product-shared runs (network 'cells') on other "
        "scenarios, paired with each scenario's own plan",
        description=(
            "Rebuild runs trained with network 'cells' (product-shared weights, which fit any scenario) on each\n"
            "target scenario, around that scenario's own analytic plan, and evaluate them with the plan on the same\n"
            "episodes (common random numbers: seeds SEED, SEED + 1, ..., the scenario's warm-up, PERIODS periods\n"
            "each). Prints, per target, the plan's cost per period with its 95% CI and each run's paired gap to it,\n"
            "and across the runs (one configuration, several training seeds) the mean and interquartile mean of the\n"
            "gaps with 95% stratified bootstrap intervals and the probability that a run beats the plan. Targets:\n"
            "registered scenario names or YAML files (--scenario), and generated networks of N products (--products:\n"
            "the generator of the registered networks, 4 fulfillment centers, 2 same-day sites, 6 regions).\n"
            "'python -m experiments.transfer' runs this command."
        ),
    )
    transfer.add_argument("--runs", nargs="+", required=True, metavar="RUN_DIR",
                          help="run folders trained with network 'cells' (one configuration, several seeds)")
    transfer.add_argument("--scenario", action="append", default=[], metavar="NAME_OR_YAML",
                          help="a target scenario: a registered name (e.g. network-large) or a YAML file; repeatable")
    transfer.add_argument("--products", type=_positive, action="append", default=[], metavar="N",
                          help="a generated network of N products as a target; repeatable")
    transfer.add_argument("--generator-seed", type=_non_negative, default=1, help="seed of the generated networks")
    transfer.add_argument("--output", metavar="FILE", default=None, help="write the results as JSON")
    _add_eval_options(transfer, periods_default=DEFAULT_TRANSFER_PERIODS)
    _add_runtime(transfer)


def _add_benchmark_command(commands: argparse._SubParsersAction) -> None:
    """``echelon benchmark``: the main job."""
    benchmark = commands.add_parser(
        "benchmark", formatter_class=_Formatter, help="train the learned agents and compare them with the analytic "
        "plan and the references; write a report",
        description=(
            "The main job: on one env id, compute the analytic plan, tune its base stock by simulation, build the\n"
            "two naive references, train PPO and the gradient agent SEEDS times each (residual on the plan by\n"
            "default; one 'echelon train' process per run into OUTPUT/runs, one core each, --workers at once),\n"
            "then evaluate every policy on the same episodes (common random numbers) and write OUTPUT/report.md\n"
            "(each run's paired gap to the plan, and across seeds the mean and interquartile mean with 95%\n"
            "stratified bootstrap intervals, the probability that a seed beats the plan and the worst seed) with\n"
            "plots (PNG) and raw CSVs, and print its path. Default budgets finish in under 20 minutes on 2 cores;\n"
            "--quick in well under 2 minutes (tiny budgets, for smoke tests). The same --seed gives the same numbers."
        ),
    )
    benchmark.add_argument("--env-id", choices=list(ENV_IDS), metavar="ENV_ID", default="echelon/Network-v1",
                           help=f"registered env id: {_IDS}")
    benchmark.add_argument("--seed", type=_training_seed, default=0,
                           help="first training seed; run k of each agent is seeded SEED + 1000 k (evaluation and "
                                "tuning seeds are fixed, see the report)")
    benchmark.add_argument("--seeds", type=_positive, default=None,
                           help="training runs (seeds) per learned agent (default: 5, 2 with --quick)")
    benchmark.add_argument("--workers", type=_positive, default=None,
                           help="training runs at once, one core each (default: the CPUs this process may use)")
    benchmark.add_argument("--quick", action="store_true", help="tiny budgets (a smoke test, not a result)")
    benchmark.add_argument("--action", choices=ACTIONS, default="residual",
                           help="parameterization of both learned agents")
    benchmark.add_argument("--episodes", type=_episodes, default=None,
                           help="evaluation episodes per policy (default: 100, 16 with --quick)")
    benchmark.add_argument("--output", metavar="DIR", default=None,
                           help="report folder, which must not exist yet (default: "
                                "reports/<env>-seed<seed>[-quick]-<YYYYmmdd-HHMMSS>)")
    _add_runtime(benchmark)


def _add_sweep_command(commands: argparse._SubParsersAction) -> None:
    """``echelon sweep``: many runs on Ray Tune."""
    sweep = commands.add_parser(
        "sweep", formatter_class=_Formatter, help="run a grid or a search of training runs on Ray (local or a "
        "cluster) and report them across seeds",
        description=(
            "Run a sweep over algorithms, hyperparameters, env ids and seeds on Ray Tune: a grid, or a search\n"
            "(Optuna's TPE with ASHA early stopping on the evaluation cost). SWEEP.yaml is checked before anything\n"
            "starts (keys and values: experiments/sweep_config.py). Every trial is an 'echelon train' run folder in\n"
            "OUTPUT/runs, evaluated at every checkpoint; a crashed trial is retried (max_failures) and then\n"
            "reported failed. OUTPUT holds results.csv (one row per trial) and report.md (per configuration: each\n"
            "seed's paired gap to the plan, mean and IQM with bootstrap intervals, probability of beating the plan,\n"
            "worst seed).\n\n"
            "Without --address, Ray starts on this machine only, bound to 127.0.0.1, with its CPUs. With --address\n"
            "it joins a running cluster ('ray start --head' on one machine, 'ray start --address=HEAD:6379' on the\n"
            "others; OUTPUT must be on a file system every node shares). Ctrl-C stops the sweep (exit status 130);\n"
            "--resume OUTPUT continues it: finished trials are kept, unfinished ones continue from their latest\n"
            "checkpoint. Exit status 1 when a trial failed."
        ),
    )
    sweep.add_argument("file", nargs="?", metavar="SWEEP.yaml", help="the sweep file (not with --resume)")
    sweep.add_argument("--resume", metavar="SWEEP_DIR", default=None, help="continue an interrupted sweep")
    sweep.add_argument("--output", metavar="DIR", default=None,
                       help="sweep folder, which must not exist yet (default: sweeps/<file name>-<YYYYmmdd-HHMMSS>)")
    sweep.add_argument("--address", metavar="HOST:PORT", default=None,
                       help="join this Ray cluster (e.g. 10.0.0.5:6379, or 'auto' on a cluster node) instead of "
                            "starting Ray locally on 127.0.0.1")
    sweep.add_argument("--cpus", type=_positive, default=None,
                       help="CPUs of the local Ray instance (default: this machine's); not with --address")
    sweep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show Ray Tune's progress tables (default: only when writing to a terminal)")


def _add_plan_command(commands: argparse._SubParsersAction) -> None:
    """``echelon plan``: the analytic plan of a scenario, its products in shards."""
    planner = commands.add_parser(
        "plan", formatter_class=_Formatter, help="plan a scenario's base-stock levels and capacity prices, its "
        "products in shards (in this process or on Ray)",
        description=(
            "Plan a scenario (a registered name or a YAML file) with the analytic planner and print its cost and dual\n"
            "bound; --output writes the plan (echelon levels, prices, model use; the plan.json of a residual run).\n"
            "The products are planned in --shards contiguous slices of whole 512-product chunks: each shard keeps its\n"
            "products' data and state across the planner's rounds and reports per-node sums, which are added in a\n"
            "fixed order, so the plan is the same bit for bit however it is split. One shard runs in this process;\n"
            "several run on Ray workers, each holding its shards: Ray starts on this machine only, bound to\n"
            "127.0.0.1, unless --address joins a running cluster ('ray start --head', see 'echelon sweep --help')."
        ),
    )
    planner.add_argument("scenario", metavar="SCENARIO", help="a registered scenario name (e.g. network-large) or a "
                         "scenario YAML file")
    planner.add_argument("--shards", type=_positive, default=1,
                         help="contiguous slices of the products, each at least one 512-product chunk")
    planner.add_argument("--workers", type=_non_negative, default=None,
                         help="Ray workers holding the shards (default: one per shard, at most Ray's CPUs); 0 plans "
                              "every shard in this process, one after another")
    planner.add_argument("--address", metavar="HOST:PORT", default=None,
                         help="join this Ray cluster instead of starting Ray locally on 127.0.0.1")
    planner.add_argument("--output", metavar="FILE", default=None, help="write the plan to this JSON file")


def _add_catalog_command(commands: argparse._SubParsersAction) -> None:
    """``echelon catalog``: a synthetic catalog file."""
    catalog = commands.add_parser(
        "catalog", formatter_class=_Formatter, help="write a seeded synthetic product catalog (CSV or Parquet) with "
        "long-tailed velocity and volume",
        description=(
            "Write a seeded synthetic catalog (envs/scenario/synthetic_catalog.py): lognormal velocity (most\n"
            "products slow, a few very fast), lognormal volume, value, holding cost and penalty scale growing with\n"
            "volume. The same arguments always write the same file. A scenario YAML uses it with\n"
            "'products: {file: FILE}' (a path relative to the YAML's folder)."
        ),
    )
    catalog.add_argument("output", metavar="FILE", help="the catalog file to write: .csv or .parquet (replaced if it "
                                                        "exists)")
    catalog.add_argument("--products", type=_at_most(_positive, MAX_CATALOG_PRODUCTS, "products"), default=1000,
                         help="number of products")
    catalog.add_argument("--seed", type=_non_negative, default=0, help="seed of the generator")
    catalog.add_argument("--median-demand", type=_positive_float, default=0.5,
                         help="median mean demand per period")
    catalog.add_argument("--demand-spread", type=_non_negative_float, default=1.8,
                         help="standard deviation of log velocity (larger: a longer tail)")
    catalog.add_argument("--median-volume", type=_positive_float, default=1.0, help="median unit volume")
    catalog.add_argument("--volume-spread", type=_non_negative_float, default=1.0,
                         help="standard deviation of log volume")


def _version() -> str:
    try:
        return metadata.version("echelon-gym")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


# Commands -------------------------------------------------------------------------------------------
# Each command imports its modules when it runs, not before: torch, stable-baselines3 and scipy take seconds to
# import, and --help or a usage error should answer at once. None of these imports avoids an import cycle.
def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments import train

    progress = args.progress
    if args.resume is not None:
        clashing = [flag for flag, value in (("--env-id", args.env_id), ("--algo", args.algo), ("--seed", args.seed),
                                             ("--config", args.config), ("--set", args.sets),
                                             ("--action", args.action),
                                             ("--num-envs", args.num_envs),
                                             ("--checkpoint-every", args.checkpoint_every),
                                             ("--run-name", args.run_name)) if value is not None]
        if clashing:
            raise UsageError(f"--resume continues a run with its own config.yaml; drop {', '.join(clashing)}")
        target = Path(args.resume)
        is_file = target.suffix in (".zip", ".pt")
        run_dir, checkpoint = (target.parent.parent, target) if is_file else (target, None)
        _, code = train.resume(run_dir, checkpoint=checkpoint, total_steps=args.total_steps, progress=progress,
                               verbose=int(args.verbose), argv=argv)
        return code
    _, code = train.train(args.env_id, args.algo, args.seed, runs_dir=args.runs_dir, run_name=args.run_name,
                          config_file=args.config, sets=args.sets, total_steps=args.total_steps,
                          num_envs=args.num_envs, checkpoint_every=args.checkpoint_every, progress=progress,
                          verbose=int(args.verbose), argv=argv, action=args.action)
    return code


def cmd_evaluate(args: argparse.Namespace) -> int:
    from experiments import evaluate as ev
    from experiments.loading import load_run
    from experiments.named_policies import make_named_policy

    _check_output_file(args.output)
    if args.run is not None:
        if args.env_id is not None:
            raise UsageError("--env-id goes with --policy; a run evaluates on its own env id")
        loaded = load_run(args.run, args.checkpoint)
        name = f"eval_{Path(args.checkpoint).stem}.json" if args.checkpoint else "eval.json"
        output = Path(args.output) if args.output else loaded.run.path / name
        problem = unwritable(output)
        if problem is not None:
            raise RunError(f"cannot write the results to {output}: {problem}; give --output FILE")
        summary = ev.evaluate_loaded(loaded, args.episodes, args.seed, args.num_envs, args.periods, args.progress)
    else:
        if args.env_id is None:
            raise UsageError("--policy needs --env-id")
        if args.checkpoint is not None:
            raise UsageError("--checkpoint goes with --run")
        policy = make_named_policy(args.policy, args.env_id, args.seed)
        results = ev.run_episodes(policy, args.env_id, args.episodes, args.seed, args.num_envs, args.periods,
                                  progress=args.progress)
        summary = {"policy": args.policy, **results.summary()}
        output = Path(args.output) if args.output else None
    print(json.dumps(summary, indent=2) if args.json else ev.format_summary(summary))
    if output is not None:
        _write_results(output, summary, "printed above")
        if not args.json:
            print(f"wrote {output}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from experiments.compare import compare

    if not args.entries:
        raise UsageError("give at least one --run, --runs or --policy")
    _check_output_file(args.output)
    comparison = compare(args.entries, args.env_id, args.baseline, args.episodes, args.seed, args.num_envs,
                         args.periods, args.warmup_periods, args.progress, bound_episodes=args.bound_episodes)
    rows = comparison.rows()
    print(comparison.text(rows))
    if args.output:
        _write_results(Path(args.output), comparison.to_json(rows), "printed above")
        print(f"wrote {args.output}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from experiments.transfer import target_scenarios, transfer, transfer_json

    if not args.scenario and not args.products:
        raise UsageError("give at least one --scenario or --products")
    _check_output_file(args.output)
    scenarios = target_scenarios(args.scenario, args.products, args.generator_seed)
    results = transfer(args.runs, scenarios, args.episodes, args.seed, args.periods, args.num_envs, args.progress)
    if args.output:
        _write_results(Path(args.output), transfer_json(args.runs, results), "printed above")
        print(f"wrote {args.output}")
    return 0


def _check_output_file(output: str | None) -> None:
    """Refuse, before any evaluation, an ``--output`` file that cannot be written: a folder, a device or other file
    that is not a regular one, a missing or unwritable folder, a name too long."""
    if output is None:
        return
    problem = unwritable(output)
    if problem is not None:
        raise UsageError(f"--output {output}: {problem}")


def _write_results(path: Path, data: dict, where: str) -> None:
    """Write results after a long evaluation; a failure is a :class:`RunError` that says where the results are."""
    try:
        write_json(path, data)
    except OSError as error:
        raise RunError(f"cannot write {path} ({error.strerror or error}); the results are {where}") from error


def _check_output_folder(output: Path) -> None:
    """Refuse, before the benchmark starts, a report folder that cannot be created (an existing one is refused by
    :func:`experiments.benchmark.run_benchmark`)."""
    problem = None if output.is_dir() else unwritable(output, "folder")
    if problem is not None:
        raise UsageError(f"--output {output}: cannot create it, {problem}")


def cmd_benchmark(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.benchmark import default_output, run_benchmark

    output = Path(args.output) if args.output else default_output(args.env_id, args.seed, args.quick)
    _check_output_folder(output)
    report = run_benchmark(args.env_id, args.seed, seeds=args.seeds, quick=args.quick, action=args.action,
                           episodes=args.episodes, output=output, progress=args.progress, argv=argv,
                           workers=args.workers)
    print(f"report: {report}")
    return 0


def cmd_sweep(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.ray_cluster import ClusterError
    from experiments.sweep import resume_sweep, run_sweep

    if (args.file is None) == (args.resume is None):
        raise UsageError("give a sweep file, or --resume SWEEP_DIR")
    if args.resume is not None and args.output is not None:
        raise UsageError("--resume continues the sweep in its own folder; drop --output")
    if args.address is not None and args.cpus is not None:
        raise UsageError("--cpus sets the local Ray instance's CPUs; a cluster (--address) has its own")
    try:
        if args.resume is not None:
            outcome = resume_sweep(args.resume, args.address, args.cpus, args.progress, argv)
        else:
            outcome = run_sweep(args.file, args.output, args.address, args.cpus, args.progress, argv)
    except ClusterError as error:
        print(f"echelon sweep: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(f"report: {outcome.report}")
    if outcome.failed:
        print(f"echelon sweep: {outcome.failed} trial(s) failed; see {outcome.report}", file=sys.stderr)
        return EXIT_ERROR
    if outcome.unfinished:
        print(f"echelon sweep: {outcome.unfinished} trial(s) unfinished; continue with: echelon sweep --resume "
              f"{outcome.report.parent}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from experiments.plan_command import plan_json, run_plan, summary
    from experiments.ray_cluster import ClusterError

    _check_output_file(args.output)
    if args.workers == 0 and args.address is not None:
        raise UsageError("--workers 0 plans in this process; drop --address")
    try:
        run = run_plan(args.scenario, args.shards, args.workers, args.address)
    except ClusterError as error:
        return _fail("plan", str(error), EXIT_ERROR)
    print(summary(run, args.scenario))
    if args.output:
        _write_results(Path(args.output), plan_json(run, args.scenario), "not written (plan again)")
        print(f"wrote {args.output}")
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from envs.scenario.catalog_file import FORMATS, write_catalog
    from envs.scenario.synthetic_catalog import long_tail_catalog

    output = Path(args.output)
    if output.suffix.lower() not in FORMATS:
        raise UsageError(f"{output}: name the file .csv or .parquet")
    problem = unwritable(output)
    if problem is not None:
        raise UsageError(f"{output}: {problem}")
    catalog = long_tail_catalog(args.products, args.seed, args.median_demand, args.demand_spread,
                                args.median_volume, args.volume_spread)
    write_catalog(catalog, output)
    print(f"wrote {output}: {len(catalog):,} products, mean demand {catalog.mean_demand.sum():,.1f} units per period")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    full_argv = ["echelon", *(sys.argv[1:] if argv is None else argv)]
    if getattr(args, "threads", None):
        import torch  # heavy: only once a command is about to run

        torch.set_num_threads(args.threads)
    handlers = {"train": lambda: cmd_train(args, full_argv), "evaluate": lambda: cmd_evaluate(args),
                "compare": lambda: cmd_compare(args), "transfer": lambda: cmd_transfer(args),
                "benchmark": lambda: cmd_benchmark(args, full_argv),
                "sweep": lambda: cmd_sweep(args, full_argv), "plan": lambda: cmd_plan(args),
                "catalog": lambda: cmd_catalog(args)}
    try:
        return handlers[args.command]()
    except UsageError as error:
        return _fail(args.command, str(error), EXIT_USAGE)
    except (ConfigError, RunError, ScenarioError) as error:
        return _fail(args.command, str(error), EXIT_ERROR)
    except KeyboardInterrupt:
        print(f"echelon {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError as error:
        return _fail(args.command, f"not enough memory ({error or 'MemoryError'}); ask for less", EXIT_ERROR)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        return _fail(args.command, f"{where}{error.strerror or error}", EXIT_ERROR)
    except Exception as error:  # anything else still ends in one line, never a traceback
        return _fail(args.command, f"{type(error).__name__}: {error}", EXIT_ERROR)


def _fail(command: str, message: str, status: int) -> int:
    """Print the one error line of a failed command (its message on one line) and return its exit status."""
    one_line = " ".join(line.strip() for line in message.splitlines())
    print(f"echelon {command}: error: {one_line}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

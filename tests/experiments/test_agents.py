"""The agent factory, hyperparameter files and configuration resolution (in process, fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from agents.config import ConfigError
from agents.gradient_config import load_gradient_hyperparams
from agents.sb3_agents import ALGOS, load_hyperparams, make_model
from envs import ENV_IDS
from envs.sb3 import SB3VecEnv
from experiments import cli, evaluate, loading, run_config, train
from experiments.runs import Run

TINY = {
    "ppo": {"n_steps": 16, "batch_size": 32, "n_epochs": 1},
    "a2c": {"n_steps": 4},
    "sac": {"learning_starts": 16, "batch_size": 16, "buffer_size": 1000},
    "td3": {"learning_starts": 16, "batch_size": 16, "buffer_size": 1000},
}


@pytest.mark.parametrize("algo", list(ALGOS))
def test_every_algo_has_defaults_for_every_env_id(algo):
    for env_id in ENV_IDS:
        params = load_hyperparams(algo, env_id)
        assert params["num_envs"] >= 1 and params["total_steps"] >= 1 and params["algo_kwargs"]
        assert all(not isinstance(v, str) for v in params["algo_kwargs"].values() if v != "auto")


@pytest.mark.parametrize("algo", list(ALGOS))
def test_factory_builds_and_trains_each_algo(algo):
    hyper = load_hyperparams(algo, "echelon/Serial-v1", {"algo_kwargs": TINY[algo], "num_envs": 2})
    env = SB3VecEnv(num_envs=2, scenario="serial", max_episode_steps=20)
    model = make_model(algo, env, hyper, seed=0, tensorboard_log=None)
    model.learn(64)
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (2, 3) and np.all(np.abs(actions) <= 1)


def test_hyperparameter_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown algorithm 'dqn'"):
        load_hyperparams("dqn", "echelon/Serial-v1")
    with pytest.raises(ConfigError, match="unknown env id 'echelon/Nope-v0'"):
        load_hyperparams("ppo", "echelon/Nope-v0")
    path = tmp_path / "ppo.yaml"
    path.write_text("default: {num_envs: 4\n")
    with pytest.raises(ConfigError, match="ppo.yaml is not valid YAML"):
        load_hyperparams("ppo", "echelon/Serial-v1", path=path)
    path.write_text(yaml.safe_dump({"default": {"num_envs": 4, "total_steps": 8}, "echelon/Serial-v9": {}}))
    with pytest.raises(ConfigError, match="ppo.yaml: unknown env id 'echelon/Serial-v9'"):
        load_hyperparams("ppo", "echelon/Serial-v1", path=path)
    path.write_text(yaml.safe_dump({"default": {"num_envs": 4, "total_steps": 8},
                                    "echelon/Serial-v1": {"algo_kwargs": {"n_step": 8}}}))
    with pytest.raises(ConfigError, match=r"ppo.yaml: echelon/Serial-v1.algo_kwargs: unknown PPO argument 'n_step'"):
        load_hyperparams("ppo", "echelon/Serial-v1", path=path)
    with pytest.raises(ConfigError, match="override.num_envs: must be >= 1"):
        load_hyperparams("ppo", "echelon/Serial-v1", {"num_envs": 0})
    with pytest.raises(ConfigError, match="activation_fn: 'swish'"):
        load_hyperparams("ppo", "echelon/Serial-v1", {"policy_kwargs": {"activation_fn": "swish"}})
    with pytest.raises(ConfigError, match="unknown PPO argument 'action_noise'"):
        load_hyperparams("ppo", "echelon/Serial-v1", {"algo_kwargs": {"action_noise": {"type": "normal"}}})
    with pytest.raises(ConfigError, match="action_noise: expected"):
        load_hyperparams("td3", "echelon/Serial-v1", {"algo_kwargs": {"action_noise": {"type": "gauss"}}})


def test_config_precedence_file_then_set_then_flags(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("env_id: echelon/OWMR-v1\nalgo: a2c\nseed: 7\nnum_envs: 5\nalgo_kwargs: {learning_rate: 1e-3}\n")
    config = run_config.resolve_config(None, None, None, path, ["algo_kwargs.learning_rate=2e-3", "num_envs=6"],
                                  num_envs=9)
    assert (config["env_id"], config["algo"], config["seed"]) == ("echelon/OWMR-v1", "a2c", 7)
    assert config["algo_kwargs"]["learning_rate"] == 2e-3 and config["num_envs"] == 9
    assert config["algo_kwargs"]["n_steps"] == load_hyperparams("a2c", "echelon/OWMR-v1")["algo_kwargs"]["n_steps"]
    assert run_config.parse_sets(["policy_kwargs.net_arch=[32, 32]"]) == {"policy_kwargs": {"net_arch": [32, 32]}}
    with pytest.raises(ConfigError, match="key=value"):
        run_config.parse_sets(["num_envs"])


def test_off_policy_resume_reloads_the_replay_buffer(tmp_path, capsys):
    sets = ["algo_kwargs.learning_starts=16", "algo_kwargs.batch_size=16", "algo_kwargs.buffer_size=2000",
            "eval_episodes=0", "metrics_every=64"]
    run, code = train.train("echelon/Serial-v1", "sac", 1, runs_dir=tmp_path, run_name="sac", sets=sets,
                            total_steps=96, num_envs=2, checkpoint_every=32, progress=False, argv=["test"])
    assert code == 0
    buffers = list(run.checkpoint_dir.glob("model_replay_buffer_*_steps.pkl"))
    assert [b.name for b in buffers] == ["model_replay_buffer_96_steps.pkl"]  # only the newest is kept
    # Pretend the run stopped at its last checkpoint, then continue it.
    (run.path / "model.zip").unlink()
    run.set_status("interrupted")
    _, code = train.resume(run.path, total_steps=160, progress=False, argv=["test", "--resume"])
    assert code == 0 and "empty buffer" not in capsys.readouterr().err
    meta = json.loads((run.path / "meta.json").read_text())
    assert meta["sessions"][1]["start_timesteps"] == 96 and meta["sessions"][1]["end_timesteps"] >= 160
    assert Run(run.path).status == "finished"
    loaded = loading.load_run(run.path)
    assert loaded.timesteps == meta["sessions"][1]["end_timesteps"]


def test_cli_default_eval_seed_matches_the_library():
    assert cli.DEFAULT_EVAL_SEED == evaluate.DEFAULT_EVAL_SEED


def test_residual_sections_apply_only_to_residual_agents(tmp_path):
    path = tmp_path / "ppo.yaml"
    path.write_text(yaml.safe_dump({
        "default": {"num_envs": 4, "total_steps": 8, "action": "direct", "policy_kwargs": {"log_std_init": -1.0},
                    "residual": {"policy_kwargs": {"log_std_init": -2.0}, "total_steps": 16}},
        "echelon/Serial-v1": {"num_envs": 6, "residual": {"num_envs": 7}},
    }))
    direct = load_hyperparams("ppo", "echelon/Serial-v1", path=path)
    assert (direct["num_envs"], direct["total_steps"], direct["policy_kwargs"]["log_std_init"]) == (6, 8, -1.0)
    assert "residual" not in direct
    residual = load_hyperparams("ppo", "echelon/Serial-v1", {"action": "residual"}, path=path)
    assert (residual["num_envs"], residual["total_steps"], residual["policy_kwargs"]["log_std_init"]) == (7, 16, -2.0)
    overridden = load_hyperparams("ppo", "echelon/Serial-v1", {"action": "residual", "num_envs": 9}, path=path)
    assert overridden["num_envs"] == 9 and overridden["action"] == "residual"
    with pytest.raises(ConfigError, match="action: expected one of direct, residual"):
        load_hyperparams("ppo", "echelon/Serial-v1", {"action": "both"}, path=path)


def test_every_env_id_has_gradient_defaults():
    for env_id in ENV_IDS:
        params = load_gradient_hyperparams(env_id)
        assert params["iterations"] >= 1 and params["paths"] >= 1 and params["action"] in ("direct", "residual")
    with pytest.raises(ConfigError, match="unknown key 'hiden'"):
        load_gradient_hyperparams("echelon/Serial-v1", {"hiden": [8]})

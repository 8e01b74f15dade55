"""Registered ids: API checkers, TimeLimit, vector entry point, and the accepted ``scenario=`` forms."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import TimeLimit
from helpers import hand_scenario, small_env_scenario
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.observation import split_observation
from envs.scenario import ScenarioError, get_scenario, save_scenario_file
from envs.single import EchelonEnv
from envs.vector import EchelonVectorEnv

SCENARIO_DIR = Path(envs.__file__).resolve().parent / "scenarios"


def test_registered_ids():
    assert set(envs.ENV_IDS) == {
        "echelon/Serial-v1", "echelon/OWMR-v1", "echelon/Network-v1", "echelon/NetworkLarge-v1"
    }
    for env_id, (scenario, steps) in envs.ENV_IDS.items():
        spec = gym.spec(env_id)
        assert spec.max_episode_steps == steps
        assert spec.kwargs["scenario"] == scenario


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_env_checkers_pass_with_warnings_as_errors(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
        sb3_check_env(env.unwrapped)
    params = env.unwrapped.params
    n, p, r, a = params.num_nodes, params.num_products, params.num_regions, params.num_ages
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (n * p,), np.float32)
    assert env.observation_space.shape == (2 * n * p + n * a * p + 3 * r * p + 2 + 2 * n,)
    assert env.observation_space.dtype == np.float32


@pytest.mark.parametrize("env_id", ["echelon/Serial-v1", "echelon/OWMR-v1", "echelon/Network-v1"])
def test_time_limit_truncates_exactly_at_max_episode_steps(env_id):
    env = gym.make(env_id)
    limit = envs.ENV_IDS[env_id][1]
    wrapper = env
    while not isinstance(wrapper, TimeLimit):
        assert isinstance(wrapper, gym.Wrapper), f"no TimeLimit around {env_id}"
        wrapper = wrapper.env
    assert wrapper._max_episode_steps == limit
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    for step in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(action)
        assert not terminated
        assert truncated == (step == limit), f"truncated={truncated} at step {step} of {limit}"
    env.reset()
    assert not env.step(action)[3]


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_make_vec_uses_the_native_vector_env(env_id):
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    assert isinstance(vec, EchelonVectorEnv)
    assert vec.num_envs == 2
    assert vec.max_episode_steps == envs.ENV_IDS[env_id][1]
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2,) + vec.single_observation_space.shape
    assert vec.single_observation_space == gym.make(env_id).observation_space
    obs, rewards, terminated, truncated, _ = vec.step(np.zeros(vec.action_space.shape, dtype=np.float32))
    assert obs.dtype == np.float32 and rewards.shape == (2,)
    assert not terminated.any() and not truncated.any()


def test_make_vec_truncates_at_the_registered_limit():
    vec = gym.make_vec("echelon/OWMR-v1", num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    action = np.zeros(vec.action_space.shape, dtype=np.float32)
    for step in range(1, 201):
        truncated = vec.step(action)[3]
        np.testing.assert_array_equal(truncated, [step == 200] * 2, err_msg=f"step {step}")


def test_scenario_argument_forms_agree(tmp_path):
    """A Scenario object, a registered name and a YAML path (str or Path) give the same env."""
    by_name = gym.make("echelon/Network-v1", scenario="owmr")
    forms = [get_scenario("owmr"), str(SCENARIO_DIR / "owmr.yaml"), SCENARIO_DIR / "owmr.yaml"]
    expected = by_name.reset(seed=3)[0]
    assert by_name.unwrapped.scenario == get_scenario("owmr")
    for form in forms:
        env = gym.make("echelon/Network-v1", scenario=form)
        assert env.unwrapped.scenario == get_scenario("owmr")
        np.testing.assert_array_equal(env.reset(seed=3)[0], expected)
    # a scenario built in Python, saved to YAML and loaded by path
    path = tmp_path / "small.yaml"
    save_scenario_file(small_env_scenario(), path)
    env = gym.make("echelon/Serial-v1", scenario=path)
    assert env.unwrapped.scenario == small_env_scenario()
    np.testing.assert_array_equal(env.reset(seed=1)[0], EchelonEnv(small_env_scenario()).reset(seed=1)[0])
    vec = gym.make_vec("echelon/Serial-v1", num_envs=2, vectorization_mode="vector_entry_point", scenario=str(path))
    assert vec.scenario == small_env_scenario()


def test_unknown_scenario_and_bad_arguments_raise():
    with pytest.raises(ScenarioError, match="no-such-scenario"):
        EchelonEnv("no-such-scenario")
    with pytest.raises(ScenarioError, match="does not exist"):
        EchelonEnv("missing/scenario.yaml")
    with pytest.raises(ValueError, match="action_mode"):
        EchelonEnv(small_env_scenario(), action_mode="levels")
    with pytest.raises(ValueError, match="render_mode"):
        EchelonEnv(small_env_scenario(), render_mode="human")
    with pytest.raises(ValueError, match="warmup_periods"):
        EchelonEnv(small_env_scenario(), warmup_periods=-1)
    with pytest.raises(ValueError, match="num_envs"):
        EchelonVectorEnv(num_envs=0, scenario=small_env_scenario())
    with pytest.raises(RuntimeError, match="reset"):
        EchelonEnv(small_env_scenario()).step(np.zeros(6))


def test_observation_blocks_at_the_start_of_an_episode():
    """No warm-up: the initial state holds round(flow x (mean lead + 1)) on hand and nothing else."""
    env = EchelonEnv(hand_scenario(), render_mode="ansi")
    params = env.params
    obs, info = env.reset(seed=0)
    assert info == {}
    blocks = {k: v[0] for k, v in split_observation(obs, params).items()}
    # flows: dc 10, fc1 5, fc2 5 per period; mean leads 2, 1, 1 -> 30, 10, 10 on hand
    np.testing.assert_allclose(blocks["on_hand"][:, 0] * params.max_level[:, 0], [30, 10, 10], rtol=1e-6)
    for name in ("dock", "pipeline", "backlog", "recent_demand", "inbound_use"):
        np.testing.assert_array_equal(blocks[name], 0, err_msg=name)
    np.testing.assert_allclose(blocks["forecast"][:, 0] * params.demand_scale[:, 0], [5.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(blocks["season"], [0.0, 1.0], atol=1e-7)
    # only fc2 has a storage cap (0.25 volume): 10 units x 0.5 / 0.25 = 20
    np.testing.assert_allclose(blocks["storage_use"], [0.0, 0.0, 20.0], rtol=1e-6)
    assert "period 0" in env.render()
    assert math.isfinite(env.step(np.zeros(3, dtype=np.float32))[1])
    assert "cost" in env.render()

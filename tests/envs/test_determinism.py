"""Seeding: identical seeds reproduce rollouts, the vector env reproduces single envs replica by replica
(across autoresets), partial resets, and the stable-baselines3 adapter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from helpers import small_env_scenario

import envs
from envs.sb3 import SB3VecEnv
from envs.vector import EchelonVectorEnv

SHORT = {"echelon/NetworkLarge-v1": 4}


def flat_info(info: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out.update(flat_info(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def rollout(env, seed: int, actions: np.ndarray):
    obs, _ = env.reset(seed=seed)
    trace = [("reset", obs)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, flat_info(info)))
    return trace


def assert_same_trace(first, second):
    assert len(first) == len(second)
    for t, (a, b) in enumerate(zip(first, second)):
        np.testing.assert_array_equal(a[1] if t == 0 else a[0], b[1] if t == 0 else b[0], err_msg=f"obs at {t}")
        if t:
            assert a[1:4] == b[1:4], f"reward/terminated/truncated at step {t}"
            assert a[4] == b[4], f"info at step {t}"


def actions_for(env, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (steps,) + env.action_space.shape).astype(np.float32)


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_same_seed_same_rollout_and_different_seeds_differ(env_id):
    steps = SHORT.get(env_id, 30)
    env_a, env_b = gym.make(env_id), gym.make(env_id)
    actions = actions_for(env_a, steps)
    first = rollout(env_a, 123, actions)
    assert_same_trace(first, rollout(env_b, 123, actions))
    assert_same_trace(first, rollout(env_a, 123, actions))  # re-seeding the same env restarts the stream
    other = rollout(env_b, 124, actions)
    differs = any(not np.array_equal(x[0], y[0]) for x, y in zip(first[1:], other[1:]))
    assert differs, "seeds 123 and 124 gave identical observations"
    assert [x[1] for x in first[1:]] != [y[1] for y in other[1:]], "seeds 123 and 124 gave identical rewards"


class SingleReplicas:
    """Single envs seeded seed + i that mirror a vector env with NEXT_STEP autoreset semantics."""

    def __init__(self, scenario, num: int, seed: int, max_steps: int):
        self.envs = [gym.make("echelon/Network-v1", scenario=scenario, max_episode_steps=max_steps) for _ in range(num)]
        self.obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)])
        self.done = np.zeros(num, dtype=bool)

    def reset(self, rows, seed=None):
        for i in rows:
            self.obs[i] = self.envs[i].reset(seed=None if seed is None else seed + i)[0]
            self.done[i] = False

    def step(self, actions):
        rewards, truncated, infos = [], [], []
        for i, env in enumerate(self.envs):
            if self.done[i]:  # the vector env resets this replica now and ignores its action
                self.obs[i] = env.reset()[0]
                self.done[i] = False
                rewards.append(0.0)
                truncated.append(False)
                infos.append(None)
                continue
            obs, reward, terminated, trunc, info = env.step(actions[i])
            assert not terminated
            self.obs[i] = obs
            self.done[i] = trunc
            rewards.append(reward)
            truncated.append(trunc)
            infos.append(flat_info(info))
        return self.obs.copy(), np.array(rewards), np.array(truncated), infos


def assert_vector_matches(vec_out, single_out, step):
    obs, rewards, terminated, truncated, info = vec_out
    s_obs, s_rewards, s_truncated, s_infos = single_out
    np.testing.assert_array_equal(obs, s_obs, err_msg=f"obs at step {step}")
    np.testing.assert_array_equal(rewards, s_rewards, err_msg=f"rewards at step {step}")
    np.testing.assert_array_equal(truncated, s_truncated, err_msg=f"truncated at step {step}")
    assert not terminated.any()
    flat = flat_info(info)
    for i, s_info in enumerate(s_infos):
        if s_info is not None:
            assert {k: float(flat[k][i]) for k in s_info} == s_info, f"info of replica {i} at step {step}"


def test_make_vec_reproduces_single_envs_across_autoresets_and_partial_resets():
    scenario, num, seed, max_steps = small_env_scenario(), 3, 40, 4
    vec = gym.make_vec("echelon/Network-v1", num_envs=num, vectorization_mode="vector_entry_point",
                       scenario=scenario, max_episode_steps=max_steps)
    assert isinstance(vec, EchelonVectorEnv)
    singles = SingleReplicas(scenario, num, seed, max_steps)
    obs, _ = vec.reset(seed=seed)
    np.testing.assert_array_equal(obs, singles.obs)
    actions = actions_for(vec, 30, seed=1)
    truncations = 0
    for t, action in enumerate(actions):
        if t == 2:  # put replica 1 out of phase: its episodes now end at other steps than 0 and 2
            obs, _ = vec.reset(options={"reset_mask": np.array([False, True, False])})
            singles.reset([1])
            np.testing.assert_array_equal(obs, singles.obs)
        if t == 17:  # reseed replicas 0 and 2 only
            obs, _ = vec.reset(seed=500, options={"reset_mask": np.array([True, False, True])})
            singles.reset([0, 2], seed=500)
            np.testing.assert_array_equal(obs, singles.obs)
        out = vec.step(action)
        truncations += int(out[3].sum())
        assert_vector_matches(out, singles.step(action), t)
    assert truncations >= 8


def test_reset_mask_resets_only_the_masked_replicas():
    vec = EchelonVectorEnv(num_envs=3, scenario=small_env_scenario())
    first, _ = vec.reset(seed=7)
    action = np.zeros(vec.action_space.shape, dtype=np.float32)
    for _ in range(3):
        stepped, *_ = vec.step(action)
    obs, _ = vec.reset(seed=7, options={"reset_mask": [True, False, False]})
    np.testing.assert_array_equal(obs[0], first[0])  # reseeded with 7 + 0: back to the start
    np.testing.assert_array_equal(obs[1:], stepped[1:])  # untouched
    assert not np.array_equal(stepped[0], first[0])
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": [True, False]})


def test_same_step_autoreset_reports_final_observation():
    scenario, num, seed, max_steps = small_env_scenario(), 2, 11, 3
    vec = EchelonVectorEnv(num_envs=num, scenario=scenario, max_episode_steps=max_steps,
                           autoreset_mode=AutoresetMode.SAME_STEP)
    singles = [gym.make("echelon/Network-v1", scenario=scenario, max_episode_steps=max_steps) for _ in range(num)]
    obs, _ = vec.reset(seed=seed)
    np.testing.assert_array_equal(obs, np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]))
    actions = actions_for(vec, 7, seed=2)
    for t, action in enumerate(actions):
        obs, rewards, terminated, truncated, info = vec.step(action)
        results = [env.step(action[i]) for i, env in enumerate(singles)]
        np.testing.assert_array_equal(rewards, [r[1] for r in results])
        np.testing.assert_array_equal(truncated, [r[3] for r in results])
        assert not terminated.any()
        if (t + 1) % max_steps == 0:
            assert truncated.all()
            np.testing.assert_array_equal(info["_final_obs"], [True, True])
            np.testing.assert_array_equal(np.stack(info["final_obs"]), np.stack([r[0] for r in results]))
            final = flat_info(info["final_info"])
            for i, r in enumerate(results):
                assert float(final["cost/total"][i]) == r[4]["cost"]["total"]
            expected = np.stack([env.reset()[0] for env in singles])  # reset within the same step
        else:
            assert "final_obs" not in info
            expected = np.stack([r[0] for r in results])
        np.testing.assert_array_equal(obs, expected, err_msg=f"obs at step {t}")


def test_sb3_vec_env_learns_and_reports_terminal_observation():
    from stable_baselines3 import PPO

    scenario, num, max_steps = small_env_scenario(), 2, 5
    venv = SB3VecEnv(num_envs=num, scenario=scenario, max_episode_steps=max_steps)
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=32)
    assert model.num_timesteps >= 32
    venv.close()

    venv = SB3VecEnv(num_envs=num, scenario=scenario, max_episode_steps=max_steps)
    singles = [gym.make("echelon/Network-v1", scenario=scenario, max_episode_steps=max_steps) for _ in range(num)]
    venv.seed(21)
    obs = venv.reset()
    np.testing.assert_array_equal(obs, np.stack([env.reset(seed=21 + i)[0] for i, env in enumerate(singles)]))
    for t, action in enumerate(actions_for(singles[0], 2 * max_steps, seed=3)):
        actions = np.stack([action, -action])
        obs, rewards, dones, infos = venv.step(actions)
        results = [env.step(actions[i]) for i, env in enumerate(singles)]
        np.testing.assert_array_equal(rewards, np.array([r[1] for r in results], dtype=np.float32))
        assert [info["cost"] for info in infos] == [r[4]["cost"]["total"] for r in results]
        if (t + 1) % max_steps == 0:
            assert dones.all()
            for i, r in enumerate(results):
                np.testing.assert_array_equal(infos[i]["terminal_observation"], r[0])
                assert infos[i]["TimeLimit.truncated"] is True
            np.testing.assert_array_equal(obs, np.stack([env.reset()[0] for env in singles]))
        else:
            assert not dones.any()
            assert all("terminal_observation" not in info for info in infos)
            np.testing.assert_array_equal(obs, np.stack([r[0] for r in results]))

"""The copy-free rollout buffer and the float32 observation normalization keep SB3's meaning."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.vec_env import VecNormalize

from agents.normalize import Float32VecNormalize
from agents.rollout_buffer import ReusedRolloutBuffer
from agents.sb3_agents import load_hyperparams, make_model
from envs.sb3 import SB3VecEnv

STEPS, ENVS, WIDTH, ACTIONS = 5, 3, 4, 2


def _fill(buffer: RolloutBuffer, offset: float) -> None:
    """Transition (step t, env e) carries its own code in every field, so samples can be checked row by row."""
    for t in range(STEPS):
        code = offset + 10.0 * t + np.arange(ENVS, dtype=np.float32)  # (envs,)
        buffer.add(np.repeat(code[:, None], WIDTH, 1), np.repeat(code[:, None], ACTIONS, 1), code, np.zeros(ENVS),
                   torch.tensor(code), torch.tensor(-code))
    buffer.compute_returns_and_advantage(torch.zeros(ENVS), np.zeros(ENVS, dtype=bool))


def _buffer(cls: type[RolloutBuffer]) -> RolloutBuffer:
    return cls(STEPS, spaces.Box(-1, 1, (WIDTH,), np.float32), spaces.Box(-1, 1, (ACTIONS,), np.float32),
               "cpu", gae_lambda=0.9, gamma=0.5, n_envs=ENVS)


def _samples(buffer: RolloutBuffer, batch_size: int) -> dict[str, np.ndarray]:
    """Every field of one pass over the buffer, keyed by transition code (sorted)."""
    rows = {}
    for batch in buffer.get(batch_size):
        for i, code in enumerate(batch.observations[:, 0].numpy()):
            rows[float(code)] = (batch.observations[i].numpy(), batch.actions[i].numpy(), float(batch.old_values[i]),
                                 float(batch.old_log_prob[i]), float(batch.advantages[i]), float(batch.returns[i]))
    return dict(sorted(rows.items()))


@pytest.mark.parametrize("batch_size", [4, None])
def test_reused_buffer_samples_what_sb3_samples(batch_size):
    """Each pass yields every transition once with all its fields aligned, as SB3's buffer does; two rollouts
    reuse the same memory and the second rollout's data replaces the first's."""
    ours, theirs = _buffer(ReusedRolloutBuffer), _buffer(RolloutBuffer)
    memory = ours.observations
    for offset in (0.0, 100.0):
        if offset:
            ours.reset()
            theirs.reset()
            assert ours.observations is memory and ours.observations.shape == (STEPS, ENVS, WIDTH)
        _fill(ours, offset)
        _fill(theirs, offset)
        mine, reference = _samples(ours, batch_size), _samples(theirs, batch_size)
        assert list(mine) == list(reference) and len(mine) == STEPS * ENVS
        assert min(mine) == offset
        assert np.shares_memory(ours.observations, memory)  # flattened in place
        for code, fields in mine.items():
            for got, want in zip(fields, reference[code], strict=True):
                np.testing.assert_array_equal(got, want)


def test_reused_buffer_samples_are_not_views_of_the_buffer():
    buffer = _buffer(ReusedRolloutBuffer)
    _fill(buffer, 0.0)
    batch = next(buffer.get(STEPS * ENVS))
    batch.observations.fill_(-7.0)
    assert not (buffer.observations == -7.0).any()


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_on_policy_models_use_the_reused_buffer(algo):
    env = SB3VecEnv(num_envs=4, scenario="serial", max_episode_steps=10)
    model = make_model(algo, env, load_hyperparams(algo, "echelon/Serial-v1"), seed=0)
    assert type(model.rollout_buffer) is ReusedRolloutBuffer


def _normalizers(clip: float = 10.0):
    env = SB3VecEnv(num_envs=16, scenario="owmr", max_episode_steps=10)
    ours = Float32VecNormalize(env, clip_obs=clip)
    theirs = VecNormalize(SB3VecEnv(num_envs=16, scenario="owmr", max_episode_steps=10), clip_obs=clip)
    rng = np.random.default_rng(0)
    batch = rng.normal(3.0, 2.0, (64, env.observation_space.shape[0])).astype(np.float32)
    for normalizer in (ours, theirs):
        normalizer.obs_rms.update(batch)
    return ours, theirs, rng


def test_float32_normalization_equals_sb3_to_float32_rounding():
    ours, theirs, rng = _normalizers()
    observations = rng.normal(3.0, 2.0, (16, ours.observation_space.shape[0])).astype(np.float32)
    kept = observations.copy()
    got, want = ours.normalize_obs(observations), theirs.normalize_obs(observations)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(observations, kept)  # the input is left alone
    np.testing.assert_allclose(ours.normalize_obs(observations[3]), want[3], rtol=1e-5, atol=1e-6)  # one row


def test_float32_normalization_clips_and_switches_off_like_sb3():
    ours, theirs, _ = _normalizers(clip=0.5)
    extreme = np.full((2, ours.observation_space.shape[0]), 1e6, dtype=np.float32)
    np.testing.assert_array_equal(ours.normalize_obs(extreme), theirs.normalize_obs(extreme))
    ours.norm_obs = False
    assert ours.normalize_obs(extreme) is not extreme
    np.testing.assert_array_equal(ours.normalize_obs(extreme), extreme)

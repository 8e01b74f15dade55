"""The shared first layer of SB3 actor-critics (``policy_kwargs.shared_layer``)."""

from __future__ import annotations

import pytest
import torch

from agents.config import ConfigError
from agents.features import SharedLayer
from agents.sb3_agents import load_hyperparams, make_model
from envs.sb3 import SB3VecEnv


def test_actor_and_critic_share_one_first_layer_and_it_trains(tmp_path):
    overrides = {"num_envs": 2, "algo_kwargs": {"n_steps": 16, "batch_size": 32, "n_epochs": 1},
                 "policy_kwargs": {"shared_layer": 8, "net_arch": {"pi": [4], "vf": [4]}}}
    hyper = load_hyperparams("ppo", "echelon/Serial-v1", overrides)
    env = SB3VecEnv(num_envs=2, scenario="serial", max_episode_steps=20)
    model = make_model("ppo", env, hyper, seed=0, tensorboard_log=None)
    policy = model.policy
    assert isinstance(policy.features_extractor, SharedLayer)
    assert policy.pi_features_extractor is policy.vf_features_extractor
    first = policy.features_extractor.layer[1]
    assert first.out_features == 8 and first.in_features == env.observation_space.shape[0]
    before = first.weight.detach().clone()
    model.learn(64)
    assert not torch.equal(before, first.weight)  # the actor's and the critic's losses both reach it
    model.save(tmp_path / "model.zip")
    loaded = type(model).load(tmp_path / "model.zip", env=env)
    assert torch.equal(loaded.policy.features_extractor.layer[1].weight, first.weight)


@pytest.mark.parametrize("units", [0, -3, 2.5, True, "64"])
def test_a_bad_shared_layer_is_refused_naming_the_key(units):
    with pytest.raises(ConfigError, match="policy_kwargs.shared_layer: expected a whole number of units >= 1"):
        load_hyperparams("ppo", "echelon/Serial-v1", {"policy_kwargs": {"shared_layer": units}})

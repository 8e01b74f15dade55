"""Present :class:`~envs.vector.EchelonVectorEnv` to stable-baselines3 as a ``VecEnv``.

SB3 resets finished sub-envs within the same step and expects ``info["terminal_observation"]`` and
``info["TimeLimit.truncated"]``; the adapter runs the vector env in ``SAME_STEP`` autoreset mode and
translates. Per-env info dicts carry the step's total cost; the full batched info of the last step is
kept in :attr:`SB3VecEnv.last_info`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from envs.vector import EchelonVectorEnv


class SB3VecEnv(VecEnv):
    """stable-baselines3 view of a natively batched echelon env (one transition call per step)."""

    def __init__(self, vector_env: EchelonVectorEnv | None = None, **kwargs: Any) -> None:
        if vector_env is None:
            vector_env = EchelonVectorEnv(autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
        elif vector_env.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            raise ValueError("SB3VecEnv needs a vector env built with autoreset_mode=AutoresetMode.SAME_STEP")
        self.vector_env = vector_env
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)
        self._actions: np.ndarray | None = None
        self.last_info: dict = {}

    def reset(self) -> VecEnvObs:
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        observations, _ = self.vector_env.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        return observations

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, terminated, truncated, info = self.vector_env.step(self._actions)
        self.last_info = info
        dones = terminated | truncated
        cost = info.get("cost", {}).get("total", np.zeros(self.num_envs))
        infos: list[dict[str, Any]] = [{"cost": float(c)} for c in cost]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return observations, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.vector_env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.vector_env, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError("sub-environments of a natively batched env share their attributes; none can be set")

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        method = getattr(self.vector_env, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]

"""echelon-gym environments: scenarios, the batched transition, and Gymnasium front ends.

Importing this package registers the ids ``echelon/Serial-v1``, ``echelon/OWMR-v1``,
``echelon/Network-v1`` and ``echelon/NetworkLarge-v1`` (string entry points, so nothing heavy is
imported until an env is made).
"""

from gymnasium.envs.registration import register, registry

ENV_IDS = {
    "echelon/Serial-v1": ("serial", 200),
    "echelon/OWMR-v1": ("owmr", 200),
    "echelon/Network-v1": ("network", 100),
    "echelon/NetworkLarge-v1": ("network-large", 100),
}


def env_scenario(env_id: str) -> str:
    """The name of the scenario registered under ``env_id``; a ValueError lists the registered ids otherwise."""
    if env_id not in ENV_IDS:
        raise ValueError(f"unknown env id {env_id!r}; registered ids: {', '.join(ENV_IDS)}")
    return ENV_IDS[env_id][0]


for _env_id, (_scenario, _steps) in ENV_IDS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="envs.single:EchelonEnv",
            vector_entry_point="envs.vector:EchelonVectorEnv",
            max_episode_steps=_steps,
            kwargs={"scenario": _scenario},
        )

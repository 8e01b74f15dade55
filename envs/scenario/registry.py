"""Named scenarios, and one resolver for everything a user may pass as ``scenario=``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from envs.scenario.errors import ScenarioError
from envs.scenario.generate import network_scenario
from envs.scenario.io import load_scenario_file
from envs.scenario.types import Scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

_FACTORIES: dict[str, Callable[[], Scenario]] = {
    "serial": lambda: load_scenario_file(SCENARIO_DIR / "serial.yaml"),
    "owmr": lambda: load_scenario_file(SCENARIO_DIR / "owmr.yaml"),
    "network": lambda: network_scenario("network"),
    "network-large": lambda: network_scenario(
        "network-large", num_products=200, num_fulfillment_centers=10, num_same_day_sites=4, num_regions=12, seed=1
    ),
}


def register_scenario(name: str, factory: Callable[[], Scenario]) -> None:
    """Add a named scenario; ``factory`` is called (once) the first time the name is used."""
    if name in _FACTORIES:
        raise ValueError(f"scenario name {name!r} is already registered")
    _FACTORIES[name] = factory


def scenario_names() -> tuple[str, ...]:
    return tuple(_FACTORIES)


@functools.cache
def get_scenario(name: str) -> Scenario:
    """The named scenario (built once; scenarios are immutable)."""
    if name not in _FACTORIES:
        raise ScenarioError(f"no scenario named {name!r}; registered names are {list(_FACTORIES)}")
    return _FACTORIES[name]()


def resolve_scenario(scenario: Scenario | str | Path) -> Scenario:
    """Accept a :class:`Scenario`, a registered name, or a path to a YAML file."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str) and scenario in _FACTORIES:
        return get_scenario(scenario)
    if isinstance(scenario, (str, Path)):
        path = Path(scenario)
        if path.suffix in {".yaml", ".yml"} or path.exists():
            return load_scenario_file(path)
        raise ScenarioError(
            f"scenario {str(scenario)!r} is neither a registered name {list(_FACTORIES)} nor a YAML file"
        )
    raise ScenarioError(f"scenario must be a Scenario, a registered name or a YAML path, got {type(scenario).__name__}")

"""Plain-YAML form of a scenario: load, dump, and the dict conversion both use."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml

from envs.scenario.errors import ScenarioError
from envs.scenario.types import Demand, LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed


def _check_keys(data: Any, cls: type, where: str) -> dict:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {unknown}; known fields are {sorted(known)}")
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(data))
    if missing:
        raise ScenarioError(f"{where}: missing required field(s) {missing}")
    return dict(data)


def _number(value: Any) -> Any:
    """YAML writes infinity as .inf; accept the strings 'inf'/'infinity' too."""
    if isinstance(value, str) and value.strip().lower() in {"inf", "+inf", "infinity", ".inf"}:
        return math.inf
    return value


def lead_time_from_yaml(value: Any, where: str) -> LeadTime:
    """An int is a fixed lead time; a mapping {periods: probability} is a pmf."""
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: expected an int or a {{periods: probability}} mapping, got {value!r}")
    try:
        if isinstance(value, int):
            return LeadTime.fixed(value)
        if isinstance(value, dict):
            try:
                periods = tuple(int(k) for k in value)
            except (TypeError, ValueError):
                raise ScenarioError(f"lead-time pmf keys must be whole periods, got {list(value)}") from None
            return LeadTime(periods, tuple(value.values()))
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    raise ScenarioError(f"{where}: expected an int or a {{periods: probability}} mapping, got {value!r}")


def _build(cls: type, data: dict, where: str) -> Any:
    try:
        return cls(**data)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def scenario_from_dict(data: Any, source: str = "scenario") -> Scenario:
    """Build and validate a :class:`Scenario` from plain nested dicts and lists."""
    top = _check_keys(data, Scenario, source)
    nodes = []
    for i, raw in enumerate(top.get("nodes") or []):
        item = _check_keys(raw, Node, f"{source}: nodes[{i}]")
        if item.get("lead_time") is not None:
            item["lead_time"] = lead_time_from_yaml(item["lead_time"], f"{source}: nodes[{i}].lead_time")
        for key in ("storage_capacity", "inbound_capacity"):
            if key in item:
                item[key] = _number(item[key])
        nodes.append(_build(Node, item, f"{source}: nodes[{i}]"))
    products = [
        _build(Product, _check_keys(raw, Product, f"{source}: products[{i}]"), f"{source}: products[{i}]")
        for i, raw in enumerate(top.get("products") or [])
    ]
    regions = []
    for i, raw in enumerate(top.get("regions") or []):
        item = _check_keys(raw, Region, f"{source}: regions[{i}]")
        item["links"] = tuple(
            _build(
                ServiceLink,
                _check_keys(link, ServiceLink, f"{source}: regions[{i}].links[{j}]"),
                f"{source}: regions[{i}].links[{j}]",
            )
            for j, link in enumerate(item.get("links") or [])
        )
        regions.append(_build(Region, item, f"{source}: regions[{i}]"))
    speeds = [
        _build(Speed, _check_keys(raw, Speed, f"{source}: speeds[{i}]"), f"{source}: speeds[{i}]")
        for i, raw in enumerate(top.get("speeds") or [])
    ]
    if "demand" in top:
        top["demand"] = _build(Demand, _check_keys(top["demand"], Demand, f"{source}: demand"), f"{source}: demand")
    top.update(nodes=tuple(nodes), products=tuple(products), regions=tuple(regions), speeds=tuple(speeds))
    return _build(Scenario, top, source)


def _plain(value: Any) -> Any:
    if isinstance(value, LeadTime):
        return value.periods[0] if len(value.periods) == 1 else dict(zip(value.periods, value.probabilities))
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return math.inf
    return value


def scenario_to_dict(scenario: Scenario) -> dict:
    """The plain nested-dict form of a scenario (inverse of :func:`scenario_from_dict`)."""
    return _plain(scenario)


def load_scenario_file(path: str | Path) -> Scenario:
    """Load a scenario from a YAML file; relative trace paths resolve against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"scenario file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario file {str(path)!r} is not valid YAML: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("demand"), dict) and data["demand"].get("trace"):
        trace = Path(data["demand"]["trace"])
        if not trace.is_absolute():
            data["demand"]["trace"] = str(path.parent / trace)
    return scenario_from_dict(data, source=f"scenario file {str(path)!r}")


def save_scenario_file(scenario: Scenario, path: str | Path) -> None:
    """Write a scenario as plain YAML (loadable by :func:`load_scenario_file`)."""
    Path(path).write_text(yaml.safe_dump(scenario_to_dict(scenario), sort_keys=False))

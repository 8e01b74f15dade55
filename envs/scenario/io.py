"""Plain-YAML form of a scenario: load, dump, and the dict conversion both use.

Products are either listed in the YAML (``products: [{name: a, mean_demand: 3}, ...]``) or kept in a catalog file
(:mod:`envs.scenario.catalog_file`) that the YAML names: ``products: {file: catalog.csv}``, a path relative to the
YAML file's folder (or absolute), of a .csv or .parquet file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import yaml

from envs.scenario.catalog import DEMAND_COLUMNS, Catalog, Product
from envs.scenario.catalog_file import read_catalog, write_catalog
from envs.scenario.errors import ScenarioError
from envs.scenario.types import Demand, LeadTime, Node, Region, Scenario, ServiceLink, Speed


def _check_keys(data: Any, cls: type, where: str) -> dict:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {unknown}; known fields are {sorted(known)}")
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(data))
    if missing:
        raise ScenarioError(f"{where}: missing required field(s) {missing}; add them")
    return dict(data)


_NUMBER = re.compile(r"^[+-]?(\d[\d_]*\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INFINITY = {"inf", "infinity", ".inf"}
HOW_TO_WRITE = "write a number such as 12, 0.5 or 1.5e+3"


def parse_number(value: Any, where: str) -> float | int:
    """A value the scenario takes as a number: numbers pass; text that spells one is read (``1e3``, which YAML 1.1
    reads as text; ``inf``, ``.inf``); anything else is a :class:`ScenarioError` that says how to write it."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        sign = -1.0 if text.startswith("-") else 1.0
        if text.lstrip("+-") in _INFINITY:
            return sign * math.inf
        if _NUMBER.match(text):
            return float(text.replace("_", ""))
    what = "true/false (YAML reads yes, no, on and off so too)" if isinstance(value, bool) else repr(value)
    raise ScenarioError(f"{where}: {what} is not a number; {HOW_TO_WRITE}")


def parse_whole(value: Any, where: str) -> int | float:
    """A value the scenario takes as a whole number (``2``, ``2.0``, ``"2"``); a fraction is refused, not truncated."""
    number = parse_number(value, where)
    if isinstance(number, float):
        if not number.is_integer():
            raise ScenarioError(f"{where}: {value!r} is not a whole number; write whole periods, such as 2")
        return int(number)
    return number


def _numbers(item: dict, cls: type, prefix: str) -> dict:
    """``item`` with the fields ``cls`` declares as numbers parsed (see :func:`parse_number`, :func:`parse_whole`);
    ``prefix`` + the field's name is where a message says the value is."""
    kinds = {f.name: f.type for f in dataclasses.fields(cls)}
    for key, value in item.items():
        if kinds[key] == "float | None" and value is not None:
            item[key] = parse_number(value, f"{prefix}{key}")
        elif kinds[key] == "float":
            item[key] = parse_number(value, f"{prefix}{key}")
        elif kinds[key] == "int":
            item[key] = parse_whole(value, f"{prefix}{key}")
        elif kinds[key] == "tuple[float, ...]" and isinstance(value, list):
            item[key] = [parse_number(x, f"{prefix}{key}[{i}]") for i, x in enumerate(value)]
    return item


def _entries(data: dict, key: str, where: str) -> list:
    """The list under ``key`` (empty when absent or null)."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ScenarioError(f"{where}.{key}: expected a list (one '- ' entry per item), got {value!r}")
    return value


def lead_time_from_yaml(value: Any, where: str) -> LeadTime:
    """An int is a fixed lead time; a mapping {periods: probability} is a pmf."""
    if isinstance(value, dict):
        periods = tuple(parse_whole(key, f"{where}: period") for key in value)
        probabilities = tuple(parse_number(prob, f"{where}: probability of period {key!r}")
                              for key, prob in value.items())
        try:
            return LeadTime(periods, probabilities)
        except ScenarioError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    try:
        periods = parse_whole(value, where)
    except ScenarioError:
        raise ScenarioError(f"{where}: expected an int or a {{periods: probability}} mapping, got {value!r}; write "
                            "whole periods, such as 2 or {2: 0.5, 3: 0.5}") from None
    try:
        return LeadTime.fixed(periods)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _build(cls: type, data: dict, where: str) -> Any:
    try:
        return cls(**data)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _item(cls: type, raw: Any, where: str, prefix: str | None = None) -> dict:
    """The fields of one ``cls`` entry, checked (:func:`_check_keys`) and with its numbers parsed."""
    return _numbers(_check_keys(raw, cls, where), cls, f"{where}." if prefix is None else prefix)


def scenario_from_dict(data: Any, source: str = "scenario") -> Scenario:
    """Build and validate a :class:`Scenario` from plain nested dicts and lists."""
    top = _item(Scenario, data, source, prefix=f"{source}: ")
    nodes = []
    for i, raw in enumerate(_entries(top, "nodes", source)):
        item = _item(Node, raw, f"{source}: nodes[{i}]")
        if item.get("lead_time") is not None:
            item["lead_time"] = lead_time_from_yaml(item["lead_time"], f"{source}: nodes[{i}].lead_time")
        nodes.append(_build(Node, item, f"{source}: nodes[{i}]"))
    if isinstance(top.get("products"), dict):
        products = _catalog_file(top["products"], f"{source}: products")
    else:
        products = [
            _build(Product, _item(Product, raw, f"{source}: products[{i}]"), f"{source}: products[{i}]")
            for i, raw in enumerate(_entries(top, "products", source))
        ]
    regions = []
    for i, raw in enumerate(_entries(top, "regions", source)):
        where = f"{source}: regions[{i}]"
        item = _item(Region, raw, where)
        item["links"] = tuple(
            _build(ServiceLink, _item(ServiceLink, link, f"{where}.links[{j}]"), f"{where}.links[{j}]")
            for j, link in enumerate(_entries(item, "links", where))
        )
        regions.append(_build(Region, item, where))
    speeds = [
        _build(Speed, _item(Speed, raw, f"{source}: speeds[{i}]"), f"{source}: speeds[{i}]")
        for i, raw in enumerate(_entries(top, "speeds", source))
    ]
    if "demand" in top:
        top["demand"] = _build(Demand, _item(Demand, top["demand"], f"{source}: demand"), f"{source}: demand")
    top.update(nodes=tuple(nodes), products=products if isinstance(products, Catalog) else tuple(products),
               regions=tuple(regions), speeds=tuple(speeds))
    return _build(Scenario, top, source)


def _catalog_file(reference: dict, where: str) -> Catalog:
    """The catalog a ``products: {file: PATH}`` mapping names."""
    unknown = sorted(set(reference) - {"file"}, key=str)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {unknown}; name a catalog file as products: {{file: PATH}}")
    path = reference.get("file")
    if not isinstance(path, str) or not path:
        raise ScenarioError(f"{where}.file: expected the path of a .csv or .parquet file, got {path!r}")
    return read_catalog(path)


def _plain(value: Any) -> Any:
    if isinstance(value, Catalog):
        return [_plain(product) for product in value]
    if isinstance(value, Product):  # the per-product demand parameters only when given
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None or f.name not in DEMAND_COLUMNS}
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
    """Load a scenario from a YAML file; relative trace and catalog paths resolve against the file's folder."""
    path = Path(path)
    where = f"scenario file {str(path)!r}"
    if path.is_dir():
        raise ScenarioError(f"{where} is a folder; give the path of a YAML file")
    if not path.is_file():
        raise ScenarioError(f"{where} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{where} cannot be read ({exc}); give a readable UTF-8 YAML file") from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ScenarioError(f"{where} is not valid YAML: {exc}") from None
    demand = data.get("demand") if isinstance(data, dict) else None
    if isinstance(demand, dict) and isinstance(demand.get("trace"), str) and demand["trace"]:
        trace = Path(demand["trace"])
        if not trace.is_absolute():
            demand["trace"] = str(path.parent / trace)
    products = data.get("products") if isinstance(data, dict) else None
    if isinstance(products, dict) and isinstance(products.get("file"), str) and products["file"]:
        catalog = Path(products["file"])
        if not catalog.is_absolute():
            products["file"] = str(path.parent / catalog)
    return scenario_from_dict(data, source=where)


def save_scenario_file(scenario: Scenario, path: str | Path, catalog_file: str | Path | None = None) -> None:
    """Write a scenario as plain YAML (loadable by :func:`load_scenario_file`); with ``catalog_file`` (a .csv or
    .parquet path relative to the YAML's folder), its products go to that file and the YAML names it."""
    path = Path(path)
    if catalog_file is None:
        data = scenario_to_dict(scenario)
    else:
        write_catalog(scenario.products, path.parent / catalog_file)
        data = {f.name: {"file": str(catalog_file)} if f.name == "products" else _plain(getattr(scenario, f.name))
                for f in dataclasses.fields(scenario)}
    path.write_text(yaml.safe_dump(data, sort_keys=False))

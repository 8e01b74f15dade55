"""Replay of a demand trace from CSV (columns period, product, region, speed, quantity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from envs.scenario.errors import ScenarioError
from envs.scenario.types import Scenario

TRACE_COLUMNS = ("period", "product", "region", "speed", "quantity")


def load_trace(path: str | Path, scenario: Scenario) -> np.ndarray:
    """Read a trace into an array (periods, regions, speeds, products); missing rows mean zero demand.

    Periods must be whole numbers starting at 0; names must be the scenario's names; quantities whole
    and >= 0. The simulator replays the trace cyclically (period t uses row t mod length).
    """
    path = Path(path)
    where = f"demand trace {str(path)!r}"
    if not path.is_file():
        raise ScenarioError(f"{where}: file does not exist")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{where}: not a readable CSV ({exc})") from None
    missing = [c for c in TRACE_COLUMNS if c not in frame.columns]
    if missing:
        raise ScenarioError(f"{where}: missing column(s) {missing}; expected columns {list(TRACE_COLUMNS)}")
    if frame.empty:
        raise ScenarioError(f"{where}: has no rows")
    for column in ("period", "quantity"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values < 0) | (values != np.floor(values))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ScenarioError(
                f"{where}: row {row + 2} column {column!r} is {frame[column].iloc[row]!r}; "
                "it must be a whole number >= 0"
            )
        frame[column] = values.astype(np.int64)
    index = {}
    for column, items in (("product", scenario.products), ("region", scenario.regions), ("speed", scenario.speeds)):
        names = {item.name: i for i, item in enumerate(items)}
        unknown = sorted(set(frame[column].astype(str)) - set(names))
        if unknown:
            raise ScenarioError(f"{where}: column {column!r} has unknown name(s) {unknown}; known: {sorted(names)}")
        index[column] = frame[column].astype(str).map(names).to_numpy()
    length = int(frame["period"].max()) + 1
    trace = np.zeros((length, len(scenario.regions), len(scenario.speeds), len(scenario.products)))
    np.add.at(trace, (frame["period"].to_numpy(), index["region"], index["speed"], index["product"]), frame["quantity"])
    return trace

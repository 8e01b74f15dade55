"""Replay of a demand trace from CSV (columns period, product, region, speed, quantity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from envs.scenario.errors import ScenarioError
from envs.scenario.limits import MAX_DEMAND_TABLE, MAX_UNITS
from envs.scenario.types import Scenario

TRACE_COLUMNS = ("period", "product", "region", "speed", "quantity")


def load_trace(path: str | Path, scenario: Scenario) -> np.ndarray:
    """Read a trace into an array (periods, regions, speeds, products); missing rows mean zero demand.

    Periods must be whole numbers starting at 0; names must be the scenario's names; quantities whole
    and >= 0. Numbers may be written in any form a CSV reader takes (``12``, ``12.0``, ``1.2e1``). Limits
    (:mod:`envs.scenario.limits`): a period's quantity of one stream is at most 1e9 units (``MAX_UNITS``, rows of
    the same stream and period add up), and periods x streams at most 1e8 (``MAX_DEMAND_TABLE``). The simulator
    replays the trace cyclically (period t uses row t mod length). Every error names the file, the row (as a
    line number of the file) and the column.
    """
    path = Path(path)
    where = f"demand trace {str(path)!r}"
    if path.is_dir():
        raise ScenarioError(f"{where}: is a folder; give the path of a CSV file")
    if not path.is_file():
        raise ScenarioError(f"{where}: file does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{where}: not a readable CSV ({exc}); save it as UTF-8 text with the header "
                            f"{','.join(TRACE_COLUMNS)}") from None
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot be read ({exc})") from None
    missing = [c for c in TRACE_COLUMNS if c not in frame.columns]
    if missing:
        raise ScenarioError(f"{where}: missing column(s) {missing}; expected columns {list(TRACE_COLUMNS)}")
    if frame.empty:
        raise ScenarioError(f"{where}: has no rows")
    line = frame.index.to_numpy() + 2  # the header is line 1
    streams = len(scenario.regions) * len(scenario.speeds) * len(scenario.products)
    values = {}
    for column, limit, unit, fix in (
        ("period", MAX_DEMAND_TABLE // streams - 1, "(periods x streams must stay within "
         f"{MAX_DEMAND_TABLE:g} entries)", "shorten the trace"),
        ("quantity", MAX_UNITS, "units", "count demand in larger units (e.g. packs of 100)"),
    ):
        number = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(number) | (number < 0) | (number != np.floor(number))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ScenarioError(
                f"{where}: row {line[row]} column {column!r} is {frame[column].iloc[row]!r}; "
                "it must be a whole number >= 0"
            )
        if (number > limit).any():
            row = int(np.flatnonzero(number > limit)[0])
            raise ScenarioError(
                f"{where}: row {line[row]} column {column!r} is {frame[column].iloc[row]!r}, above the limit of "
                f"{limit:g} {unit}; {fix}"
            )
        values[column] = number.astype(np.int64)
    index = {}
    for column, items in (("product", scenario.products.name), ("region", [r.name for r in scenario.regions]),
                          ("speed", [s.name for s in scenario.speeds])):
        names = {name: i for i, name in enumerate(items)}
        known = frame[column].isin(list(names)).to_numpy()
        if not known.all():
            unknown = sorted(set(frame[column][~known].fillna("")))
            row = int(np.flatnonzero(~known)[0])
            raise ScenarioError(
                f"{where}: column {column!r} has unknown name(s) {unknown} (first in row {line[row]}); "
                f"known: {sorted(names)}"
            )
        index[column] = frame[column].map(names).to_numpy()
    length = int(values["period"].max()) + 1
    trace = np.zeros((length, len(scenario.regions), len(scenario.speeds), len(scenario.products)))
    np.add.at(trace, (values["period"], index["region"], index["speed"], index["product"]), values["quantity"])
    if trace.max() > MAX_UNITS:
        period, region, speed, product = np.unravel_index(int(np.argmax(trace)), trace.shape)
        raise ScenarioError(
            f"{where}: the rows of period {period}, product {scenario.products.name[product]!r}, region "
            f"{scenario.regions[region].name!r}, speed {scenario.speeds[speed].name!r} add up to {trace.max():g} "
            f"units, above the limit of {MAX_UNITS:g}; count demand in larger units (e.g. packs of 100)"
        )
    return trace

"""Catalog files: a scenario's products as a CSV or Parquet table, one row per product and one column per field.

The columns are those of :data:`envs.scenario.catalog.COLUMNS`: ``name`` and ``mean_demand`` always, the others when
wanted (left out, they take :class:`~envs.scenario.catalog.Product`'s defaults; ``dispersion`` and ``cv`` are the
optional per-product demand parameters). Reading is Arrow's (multi-threaded) and every check is vectorized: a million
products load in seconds. Every refused value names the file, the row and the column, and the fix. Rows are counted
as a spreadsheet shows them: in a CSV file, row n is line n of the file (the header is row 1, the first product row
2; empty lines are skipped, and counted); a Parquet file has no header line, so its rows are counted from the first
product (data row 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from envs.scenario.catalog import COLUMNS, REQUIRED, Catalog, Locate
from envs.scenario.errors import ScenarioError

FORMATS = {".csv": "CSV", ".parquet": "Parquet"}
"""File name endings of catalog files and their formats."""
HOW_TO_WRITE = "write a number such as 12, 0.5 or 1.5e+3"


def _where(path: Path) -> str:
    return f"catalog file {str(path)!r}"


def _format(path: Path, where: str) -> str:
    if path.suffix.lower() not in FORMATS:
        raise ScenarioError(f"{where}: unknown format {path.suffix!r}; name a catalog file .csv or .parquet")
    return FORMATS[path.suffix.lower()]


def _read_table(path: Path, kind: str, where: str) -> pa.Table:
    try:
        if kind == "Parquet":  # without the index pandas may have stored (DataFrame.to_parquet)
            table = pq.read_table(path)
            return table.drop_columns([c for c in table.column_names if c.startswith("__index_level_")])
        return pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types={"name": pa.string()}))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        how = ("save it as UTF-8 text with a header line such as name,mean_demand,volume" if kind == "CSV"
               else "write it with pandas or pyarrow (DataFrame.to_parquet)")
        raise ScenarioError(f"{where}: not a readable {kind} file ({exc}); {how}") from None
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot be read ({exc})") from None


def _locate(path: Path, where: str, kind: str) -> Locate:
    if kind == "Parquet":
        return lambda i, column: f"{where}: data row {i + 1} column {column!r}"
    lines: list[int] = []  # the line numbers of the non-empty lines, read once a message needs them

    def locate(i: int, column: str) -> str:
        if not lines:
            with path.open(encoding="utf-8", errors="replace", newline="") as text:
                lines.extend(n for n, line in enumerate(text, 1) if line.rstrip("\r\n"))
        return f"{where}: row {lines[i + 1] if i + 1 < len(lines) else i + 2} column {column!r}"

    return locate


def _numbers(column: pa.ChunkedArray, name: str, where: str, locate: Locate) -> np.ndarray:
    """A numeric column as float64 (missing values NaN, refused later); text that is not a number is refused here."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
        return column.to_numpy().astype(float) if not pa.types.is_null(kind) else np.full(len(column), np.nan)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise ScenarioError(f"{where}: column {name!r} holds {kind} values, not numbers; {HOW_TO_WRITE}")
    text = column.to_pandas()
    numbers = pd.to_numeric(text, errors="coerce")
    written = text.str.strip().str.lower()
    wrong = (numbers.isna() & text.notna() & ~written.isin(["", "nan"])).to_numpy()  # empty or NaN: missing
    if wrong.any():
        i = int(np.argmax(wrong))
        raise ScenarioError(f"{locate(i, name)}: {text.iloc[i]!r} is not a number; {HOW_TO_WRITE}")
    return numbers.to_numpy(dtype=float, na_value=np.nan)


def read_catalog(path: str | Path) -> Catalog:
    """Read and check a catalog file (.csv or .parquet; see the module docstring)."""
    path = Path(path)
    where = _where(path)
    kind = _format(path, where)
    if path.is_dir():
        raise ScenarioError(f"{where}: is a folder; give the path of a {kind} file")
    if not path.is_file():
        raise ScenarioError(f"{where}: file does not exist")
    table = _read_table(path, kind, where)
    header = table.column_names
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise ScenarioError(f"{where}: column(s) {repeated} appear more than once; keep one of each")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise ScenarioError(f"{where}: unknown column(s) {unknown}; known columns are {list(COLUMNS)} (check the "
                            "spelling; leave out columns you do not need)")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ScenarioError(f"{where}: missing column(s) {missing}; every catalog has the columns {list(REQUIRED)}")
    if table.num_rows == 0:
        raise ScenarioError(f"{where}: has no rows; add one row per product")
    locate = _locate(path, where, kind)
    name = table.column("name")
    if pa.types.is_dictionary(name.type) and pa.types.is_string(name.type.value_type):  # pandas categories
        name = name.cast(pa.string())
    if not (pa.types.is_string(name.type) or pa.types.is_large_string(name.type)):
        raise ScenarioError(f"{where}: column 'name' holds {name.type} values; names are text (store the column as "
                            "strings)")
    columns: dict[str, object] = {"name": name.to_numpy(zero_copy_only=False)}
    for column in header:
        if column != "name":
            columns[column] = _numbers(table.column(column), column, where, locate)
    return Catalog.from_columns(columns, locate)


def write_catalog(catalog: Catalog, path: str | Path) -> None:
    """Write a catalog as a .csv or .parquet file (every column it has; numbers written so they read back exactly),
    creating its folder if need be."""
    path = Path(path)
    kind = _format(path, _where(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({column: pa.array(values, type=pa.string() if column == "name" else pa.float64())
                      for column, values in catalog.columns.items()})
    if kind == "Parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)

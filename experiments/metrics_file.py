"""A run's ``metrics.csv``: one row per logging point, cumulative across sessions."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from experiments.files import write_atomic
from experiments.runs import RunError


def append_metrics(path: Path, row: dict) -> None:
    """Append ``row`` (the header first when the file is new)."""
    pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)


def trim_metrics(path: Path, steps: int) -> dict[str, str] | None:
    """Drop the rows past ``steps`` (written after the checkpoint a resume starts from, by a session that failed or
    was killed) and return the last row kept (None: no rows)."""
    if not path.exists():
        return None
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        kept = [row for row in rows if int(float(row["timesteps"])) <= steps]
    except (OSError, csv.Error, KeyError, TypeError, ValueError) as error:
        raise RunError(f"{path} is corrupted ({type(error).__name__}: {error}); the run folder was left "
                       "unchanged (delete the file to resume without the earlier metrics)") from error
    if len(kept) < len(rows):
        text = io.StringIO()
        writer = csv.DictWriter(text, reader.fieldnames or [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        write_atomic(path, text.getvalue())
    return kept[-1] if kept else None


def metric_value(row: dict[str, str] | None, key: str) -> float:
    """A number of a ``metrics.csv`` row (0 when there is no row or no such number)."""
    try:
        return float(row[key]) if row else 0.0
    except (KeyError, TypeError, ValueError):
        return 0.0

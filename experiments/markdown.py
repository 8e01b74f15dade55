"""Markdown tables and ``mean ± half-width`` cells for the reports (benchmark and sweep)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub table; numeric columns right-aligned, floats with three decimals, NaN empty."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:,.3f}"
    return str(value)


def plus_minus(mean: float, half: float, digits: int = 2, sign: bool = False) -> str:
    """``12.34 ± 0.56`` (``+12.34 ± 0.56`` with ``sign``)."""
    return f"{mean:{'+' if sign else ''}.{digits}f} ± {half:.{digits}f}"

"""Products as a table: the :class:`Catalog` (one numpy array per product field) and its row, the :class:`Product`.

A scenario's products are always a catalog: a tuple of :class:`Product` (from Python or a YAML list) is turned into
one, and a catalog file (:mod:`envs.scenario.catalog_file`) is read straight into its columns. The checks of every
column are vectorized, so that a catalog of a million products is checked in well under a second, and the rules of
each numeric column (:data:`RULES`) are the same for one product and for a column of them.

Columns: ``name`` (unique, non-empty text), ``mean_demand`` (units per period over all regions and speeds),
``volume``, ``unit_cost``, ``holding_cost``, ``penalty_scale``, and the optional per-product demand parameters
``dispersion`` (the negative binomial's size k) and ``cv`` (the normal's coefficient of variation), which replace
the scenario demand's single value for each product when given (for every product, or for none).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from envs.scenario import limits
from envs.scenario.errors import ScenarioError


@dataclass(frozen=True)
class ColumnRule:
    """A numeric product field: a finite number > 0 (``positive``) or >= 0, in [``least``, ``most``]."""

    positive: bool
    most: float
    unit: str
    fix: str
    least: float = 0.0
    least_fix: str = ""

    @property
    def requirement(self) -> str:
        return f"must be a finite number {'>' if self.positive else '>='} 0"

    def check(self, value: object, where: str) -> None:
        """Refuse one value (a product's field) with ``where``, the limit and the fix."""
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (is_number and math.isfinite(value) and (value > 0 if self.positive else value >= 0)):
            raise ScenarioError(f"{where}: {self.requirement}, got {value!r}")
        if value > self.most or value < self.least:
            raise ScenarioError(f"{where}: {self.reason(value)}")

    def refused(self, values: np.ndarray) -> np.ndarray:
        """(P,) True where a value of the column breaks the rule."""
        with np.errstate(invalid="ignore"):
            return ~np.isfinite(values) | (values <= 0 if self.positive else values < 0) | (values > self.most) | (
                values < self.least)

    def reason(self, value: float) -> str:
        """Why ``value`` (one that :meth:`refused` refuses) is refused, and the fix."""
        if math.isnan(value):
            return f"is missing (NaN); {self.requirement}: give a number"
        if not math.isfinite(value) or (value <= 0 if self.positive else value < 0):
            return f"{self.requirement}, got {value!r}"
        unit = f" {self.unit}" if self.unit else ""
        if value > self.most:
            return f"{value!r} is above the limit of {self.most:g}{unit}; {self.fix}"
        return f"{value!r} is below the limit of {self.least:g}{unit}; {self.least_fix}"


RULES: dict[str, ColumnRule] = {
    "mean_demand": ColumnRule(False, limits.MAX_MEAN_DEMAND, "units per period",
                              "count demand in larger units (e.g. packs of 100)"),
    "volume": ColumnRule(True, limits.MAX_VOLUME, "per unit", "measure volume in a larger unit"),
    "unit_cost": ColumnRule(False, limits.MAX_COST, "per unit", limits.COST_FIX),
    "holding_cost": ColumnRule(False, limits.MAX_COST, "per unit", limits.COST_FIX),
    "penalty_scale": ColumnRule(False, limits.MAX_COST_FACTOR, "", limits.FACTOR_FIX),
    "dispersion": ColumnRule(True, limits.MAX_DISPERSION, "",
                             "leave the product's dispersion out: above it the negative binomial is a Poisson",
                             limits.MIN_DISPERSION, "a tail that long cannot be tabulated; give a larger dispersion"),
    "cv": ColumnRule(True, limits.MAX_CV, "",
                     "use a negative binomial with a small dispersion for demand that variable"),
}
"""The rule of every numeric column (the limits are :mod:`envs.scenario.limits`)."""

COLUMNS = ("name", *RULES)
"""Every column a catalog may have, in the order files are written."""
REQUIRED = ("name", "mean_demand")
"""Columns every catalog has."""
DEFAULTS = {"volume": 1.0, "unit_cost": 0.0, "holding_cost": 1.0, "penalty_scale": 1.0}
"""The value of a column a catalog leaves out (as :class:`Product`'s defaults)."""
DEMAND_COLUMNS = ("dispersion", "cv")
"""Optional per-product demand parameters: absent, every product takes the scenario demand's value."""

Locate = Callable[[int, str], str]
"""Where row ``i``'s value in ``column`` is, for a message (e.g. "file 'x.csv': row 3 column 'volume'")."""


@dataclass(frozen=True)
class Product:
    """One product (one row of a :class:`Catalog`): mean demand per period over all regions and speeds, volume and
    costs, and optionally its own demand ``dispersion`` (negative binomial) or ``cv`` (normal).

    Limits (:mod:`envs.scenario.limits`): ``mean_demand`` at most 1e6 units per period (``MAX_MEAN_DEMAND``),
    ``volume`` at most 1e6 (``MAX_VOLUME``), costs at most 1e6 per unit (``MAX_COST``), ``penalty_scale`` at most
    1e3 (``MAX_COST_FACTOR``), ``dispersion`` in [1e-3, 1e6], ``cv`` at most 100 (as the demand's).
    """

    name: str
    mean_demand: float
    volume: float = 1.0
    unit_cost: float = 0.0
    holding_cost: float = 1.0
    penalty_scale: float = 1.0
    dispersion: float | None = None
    cv: float | None = None

    def __post_init__(self) -> None:
        for column, rule in RULES.items():
            value = getattr(self, column)
            if isinstance(value, np.generic):  # np.float32(5.5) is the number 5.5
                value = value.item()
                object.__setattr__(self, column, value)
            if value is not None or column not in DEMAND_COLUMNS:
                rule.check(value, f"product {self.name!r}.{column}")


def _numbers(values: object, column: str, locate: Locate) -> np.ndarray:
    numbers = np.asarray(values)
    if numbers.ndim != 1 or numbers.dtype.kind not in "iuf":
        raise ScenarioError(f"{locate(0, column)}: the column must be one list of numbers, got "
                            f"{numbers.dtype} values of shape {numbers.shape}")
    return np.array(numbers, dtype=float)


def check_names(names: np.ndarray, locate: Locate) -> None:
    """Refuse a name that is not non-empty text, and the second of two equal names."""
    text = np.fromiter((isinstance(x, str) and x != "" for x in names), dtype=bool, count=len(names))
    if not text.all():
        i = int(np.argmin(text))
        raise ScenarioError(f"{locate(i, 'name')}: must be a non-empty name (text; quote names that look like "
                            f"numbers), got {names[i]!r}")
    repeated = pd.Index(names).duplicated(keep="first")
    if repeated.any():
        i = int(np.argmax(repeated))
        first = int(np.argmax(names == names[i]))
        raise ScenarioError(f"{locate(i, 'name')}: duplicate name {names[i]!r} (first at {locate(first, 'name')}); "
                            "names must be unique")


def check_column(values: np.ndarray, column: str, locate: Locate) -> None:
    """Refuse the first value of a numeric column that breaks its rule, saying how many more do."""
    refused = RULES[column].refused(values)
    if refused.any():
        i, more = int(np.argmax(refused)), int(refused.sum()) - 1
        also = f" ({more:,} more row(s) of this column are refused too)" if more else ""
        raise ScenarioError(f"{locate(i, column)}: {RULES[column].reason(float(values[i]))}{also}")


def _locate_in_code(names: np.ndarray) -> Locate:
    def locate(i: int, column: str) -> str:
        name = f" ({names[i]!r})" if i < len(names) else ""
        return f"products[{i}]{name}.{column}"

    return locate


def checked_columns(columns: Mapping[str, object], locate: Locate | None = None) -> dict[str, np.ndarray | None]:
    """``columns`` (column -> values) as read-only (P,) arrays, every column of :data:`COLUMNS` (defaults filled in,
    absent demand columns None), each value checked; ``locate`` says where a refused value is (default:
    ``products[i] ('name').column``)."""
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise ScenarioError(f"catalog: unknown column(s) {unknown}; known columns are {list(COLUMNS)}")
    missing = [c for c in REQUIRED if columns.get(c) is None]
    if missing:
        raise ScenarioError(f"catalog: missing column(s) {missing}; every catalog has {list(REQUIRED)}")
    names = np.array(columns["name"], dtype=object)
    locate = locate or _locate_in_code(names.reshape(-1))
    if names.ndim != 1:
        raise ScenarioError(f"{locate(0, 'name')}: the names must be one list, got an array of shape {names.shape}")
    if len(names) == 0:
        raise ScenarioError(f"{locate(0, 'name')}: a catalog needs at least one product")
    check_names(names, locate)
    names.setflags(write=False)
    checked: dict[str, np.ndarray | None] = {"name": names}
    for column in RULES:
        values = columns.get(column)
        if values is None and column in DEMAND_COLUMNS:
            checked[column] = None
            continue
        values = np.full(len(names), DEFAULTS[column]) if values is None else _numbers(values, column, locate)
        if len(values) != len(names):
            raise ScenarioError(f"{locate(0, column)}: {len(values)} values for {len(names)} products; give one per "
                                "product")
        check_column(values, column, locate)
        values.setflags(write=False)
        checked[column] = values
    return checked


@dataclass(frozen=True, eq=False, repr=False)
class Catalog:
    """Products as columns: (P,) arrays, read-only, checked as a whole (see the module docstring).

    Columns left out take :data:`DEFAULTS`; ``dispersion`` and ``cv`` stay None unless given. Rows are
    :class:`Product` values: ``len(catalog)``, ``catalog[i]`` and iteration work as for a tuple of products.
    """

    name: np.ndarray
    mean_demand: np.ndarray
    volume: np.ndarray | None = None
    unit_cost: np.ndarray | None = None
    holding_cost: np.ndarray | None = None
    penalty_scale: np.ndarray | None = None
    dispersion: np.ndarray | None = None
    cv: np.ndarray | None = None

    def __post_init__(self) -> None:
        given = {c: getattr(self, c) for c in COLUMNS if getattr(self, c) is not None}
        for column, values in checked_columns(given).items():
            object.__setattr__(self, column, values)

    @classmethod
    def from_columns(cls, columns: Mapping[str, object], locate: Locate | None = None) -> Catalog:
        """A catalog of ``columns`` (column -> values; see :func:`checked_columns`), checked once."""
        catalog = object.__new__(cls)
        for column, values in checked_columns(columns, locate).items():
            object.__setattr__(catalog, column, values)
        return catalog

    @classmethod
    def of(cls, products: Catalog | Sequence[Product], where: str) -> Catalog:
        """``products`` as a catalog: a catalog as it is; a list or tuple of :class:`Product` by column (``where``
        names the list in messages)."""
        if isinstance(products, Catalog):
            return products
        if not isinstance(products, (tuple, list)):
            raise ScenarioError(f"{where}: expected a Catalog or a list of products, got {products!r}")
        if not products:
            raise ScenarioError(f"{where}: needs at least one entry")
        for i, product in enumerate(products):
            if not isinstance(product, Product):
                raise ScenarioError(f"{where}[{i}]: must be a Product, got {product!r}")
        names = [p.name for p in products]
        columns: dict[str, object] = {"name": names}
        columns.update({column: [getattr(p, column) for p in products] for column in RULES})
        for column in DEMAND_COLUMNS:
            given = [value is not None for value in columns[column]]
            if not any(given):
                columns[column] = None
            elif not all(given):
                i = given.index(not given[0])
                raise ScenarioError(f"{where}[{i}] ({names[i]!r}).{column}: give a {column} for every product or for "
                                    f"none ({names[0]!r} has {'one' if given[0] else 'none'})")
        return cls.from_columns(columns, lambda i, column: f"{where}[{i}].{column}")

    def __len__(self) -> int:
        return len(self.name)

    def __getitem__(self, index: int) -> Product:
        i = range(len(self))[index]
        values = {c: None if getattr(self, c) is None else float(getattr(self, c)[i]) for c in RULES}
        return Product(str(self.name[i]), **values)

    def __iter__(self) -> Iterator[Product]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        return len(self) == len(other) and all(
            (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in ((getattr(self, c), getattr(other, c)) for c in COLUMNS)
        )

    def __hash__(self) -> int:
        return hash((len(self), float(self.mean_demand.sum()), float(self.volume.sum())))

    def __repr__(self) -> str:
        shown = ", ".join(repr(n) for n in self.name[:3]) + (", ..." if len(self) > 3 else "")
        return f"Catalog({len(self):,} products: {shown})"

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """Every column the catalog has (``dispersion`` and ``cv`` only when given), in :data:`COLUMNS` order."""
        return {c: getattr(self, c) for c in COLUMNS if getattr(self, c) is not None}

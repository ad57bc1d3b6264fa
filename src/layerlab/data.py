"""Say what each column of a table looks like, and whether the first model should use it.

``profile_columns`` suggests which columns to use, and why, so the first model
a person trains does not learn from an ID or a copy of the answer. Reading the
file itself is ``layerlab.reading``'s job.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.reading import _shorten, as_category_text, as_numeric, category_text

COLUMN_KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "constant")
ROLES = ("feature", "ignore", "target")


_BOOLEAN_PAIRS = (
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
    frozenset({"0", "1"}),
)
_ID_MIN_ROWS = 20
# "customer_id", "ID", "row key", "CustomerID", "unnamed_1" (an exported index).
_ID_NAME = re.compile(
    r"(^|[^a-z])(id|uuid|guid|key|index)$|^(id|uuid|guid|index)([^a-z]|$)|^unnamed|[a-z]I[dD]$"
)
_MOSTLY_MISSING = 0.5
_MOSTLY_PARSES = 0.95
_CATEGORICAL_MIN = 20
_CATEGORICAL_SHARE = 0.05
_CATEGORICAL_MAX = 1000
_LEAK_MAX_CLASSES = 50
_PROFILE_SAMPLE = 2000
_EXAMPLE_CHARS = 30


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class ColumnProfile:
    """What one column looks like, and whether the first model should use it."""

    name: str
    kind: str
    missing: int
    distinct: int
    examples: tuple[str, ...]
    role: str
    reason: str

    @property
    def model_kind(self) -> str | None:
        """How a model would read the column, or None when it cannot use it yet."""
        return self.kind if self.kind in ("numeric", "categorical", "boolean") else None


def profile_columns(df: pd.DataFrame, target_column: str | None = None) -> list[ColumnProfile]:
    """Profile every column and suggest a role for it, with a one-sentence reason."""
    leak_check = None
    if target_column is not None and target_column in df.columns:
        target = df[target_column]
        leak_check = _LeakCheck(target, int(target.nunique(dropna=True)), len(df))
    return [
        _profile(df[name], str(name), len(df), name == target_column, leak_check)
        for name in df.columns
    ]


def profiles_frame(profiles: list[ColumnProfile]) -> pd.DataFrame:
    """A table of the profiles for display, one row per column."""
    return pd.DataFrame(
        {
            "Column": [profile.name for profile in profiles],
            "Kind": [profile.kind for profile in profiles],
            "Missing": [profile.missing for profile in profiles],
            "Distinct": [profile.distinct for profile in profiles],
            "Examples": [", ".join(profile.examples) for profile in profiles],
            "Suggestion": [profile.role for profile in profiles],
            "Reason": [profile.reason for profile in profiles],
        }
    )


class _LeakCheck:
    """Finds columns that are a copy or a one-to-one relabelling of the target."""

    def __init__(self, target: pd.Series, distinct: int, rows: int) -> None:
        self.target = target.reset_index(drop=True)
        self.distinct = distinct
        # A one-to-one match with a number that takes many values is a real relation
        # (celsius -> fahrenheit), not a leak; with a few classes it is a relabelling.
        self.few_classes = 2 <= distinct <= _LEAK_MAX_CLASSES and distinct <= rows / 2
        self._texts: np.ndarray | None = None

    def reason(self, column: pd.Series, distinct: int) -> str | None:
        if distinct != self.distinct or distinct < 2:
            return None
        column = column.reset_index(drop=True)
        both = (column.notna() & self.target.notna()).to_numpy()
        if both.sum() < 2:
            return None
        column_codes, column_uniques = pd.factorize(column[both])
        target_codes, target_uniques = pd.factorize(self.target[both])
        if len(column_uniques) != len(target_uniques):
            return None
        pairs = column_codes.astype(np.int64) * len(target_uniques) + target_codes
        if len(pd.unique(pairs)) != len(target_uniques):
            return None
        if self._texts is None:
            self._texts = as_category_text(self.target)
        if np.array_equal(as_category_text(column)[both], self._texts[both]):
            return "Copy of the target column: it would leak the answer."
        if self.few_classes:
            return "Matches the target one-to-one (a relabelling of it): it would leak the answer."
        return None


def _profile(
    column: pd.Series,
    name: str,
    rows: int,
    is_target: bool,
    leak_check: _LeakCheck | None,
) -> ColumnProfile:
    present = column.dropna()
    missing = rows - len(present)
    uniques = present.unique()
    distinct = len(uniques)
    kind = _kind(present, uniques)
    examples = tuple(_example_text(value) for value in uniques[:3])

    def profile(role: str, reason: str) -> ColumnProfile:
        return ColumnProfile(name, kind, missing, distinct, examples, role, reason)

    if is_target:
        return profile("target", "The column to predict.")
    if distinct == 0:
        return profile("ignore", "Every value is missing.")
    if leak_check is not None:
        leak = leak_check.reason(column, distinct)
        if leak:
            return profile("ignore", leak)
    if kind == "datetime":
        return profile("ignore", "Dates or times: the model cannot use them yet.")
    id_reason = _id_reason(present, name, distinct, kind)
    if id_reason:
        return profile("ignore", id_reason)
    if kind == "constant":
        if missing:
            return profile("ignore", "Only one value; the other rows are missing.")
        return profile("ignore", "Same value in every row.")
    if missing > _MOSTLY_MISSING * rows:
        return profile("ignore", f"{_percent(missing, rows)} of values are missing.")
    if kind == "text":
        return profile(
            "ignore",
            f"Free text with {distinct} different values: the model cannot use free text yet.",
        )
    if kind == "numeric":
        not_numbers = _count_not_numbers(present)
        if not_numbers == 1:
            return profile(
                "feature", "Numeric feature; 1 value is not a number and will count as missing."
            )
        if not_numbers:
            return profile(
                "feature",
                f"Numeric feature; {not_numbers} values are not numbers and will count as missing.",
            )
        return profile("feature", "Numeric feature.")
    if kind == "boolean":
        return profile("feature", "Yes/no feature.")
    return profile("feature", f"Categorical feature with {distinct} values.")


def _kind(present: pd.Series, uniques: np.ndarray) -> str:
    distinct = len(uniques)
    if distinct <= 1:
        return "constant"
    if pd.api.types.is_bool_dtype(present):
        return "boolean"
    if distinct == 2:
        labels = frozenset(category_text(value).lower() for value in uniques)
        if labels in _BOOLEAN_PAIRS:
            return "boolean"
    if pd.api.types.is_datetime64_any_dtype(present):
        return "datetime"
    if pd.api.types.is_numeric_dtype(present):
        return "numeric"
    sample = _sample(present)
    if all(isinstance(value, str) for value in sample):
        if _parses_share(sample, numbers_only=True) >= _MOSTLY_PARSES:
            return "numeric"
        if _parses_share(sample, numbers_only=False) >= 0.9:
            return "datetime"
    limit = min(_CATEGORICAL_MAX, max(_CATEGORICAL_MIN, _CATEGORICAL_SHARE * len(present)))
    if distinct <= limit:
        return "categorical"
    return "text"


def _sample(present: pd.Series) -> pd.Series:
    """Evenly spaced values, so a file sorted by some column is still seen whole."""
    step = -(-len(present) // _PROFILE_SAMPLE)
    return present.iloc[::step]


# dateutil reads "mon", "march" or "id12" as dates, so a value must first look like one:
# 2024-03-01, 1/3/24, 01.03.2024, 12:30, Mar 1 2024, 1 March 2024.
_DATE_LIKE = re.compile(
    r"^(\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?"
    r"|\d{1,2}:\d{2}"
    r"|[A-Za-z]{3,9}\.? \d{1,2}"
    r"|\d{1,2} [A-Za-z]{3,9})"
)
_DATE_SAMPLE = 200


def _parses_share(sample: pd.Series, *, numbers_only: bool) -> float:
    """Share of sampled strings that parse as numbers (or as dates)."""
    values = sample.astype(str).str.strip()
    if numbers_only:
        return float(pd.to_numeric(values, errors="coerce").notna().mean())
    values = values.iloc[:_DATE_SAMPLE]
    if values.str.match(_DATE_LIKE).mean() < 0.9:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, format="mixed", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return 0.0
    return float(parsed.notna().mean())


def _count_not_numbers(present: pd.Series) -> int:
    if pd.api.types.is_numeric_dtype(present):
        return 0
    return int(pd.to_numeric(present.astype(str).str.strip(), errors="coerce").isna().sum())


def _id_reason(present: pd.Series, name: str, distinct: int, kind: str) -> str | None:
    """An ID gives every row its own value; learning from it only memorises rows.

    Whole numbers that are all different are flagged only when the name says ID
    or they count up one by one: otherwise they may be real measurements.
    """
    if len(present) < _ID_MIN_ROWS or distinct != len(present) or kind == "boolean":
        return None
    if kind == "numeric":
        values = as_numeric(present).astype(np.float64)
        values = values[~np.isnan(values)]
        if len(values) < _ID_MIN_ROWS or not np.all(np.mod(values, 1) == 0):
            return None
        if _ID_NAME.search(name.strip()) or _ID_NAME.search(name.strip().lower()):
            return "Looks like an ID: every value is different."
        if values.max() - values.min() + 1 == len(values):
            return "Looks like a row number: every value is different and they count up by one."
        return None
    texts = _sample(present).astype(str)
    if texts.str.contains(" ").mean() > 0.5 and texts.str.len().mean() > 20:
        return None  # prose, reported as free text
    return "Looks like an ID: every value is different."


# --------------------------------------------------------------------------- wording


def _example_text(value: object) -> str:
    if isinstance(value, float | np.floating) and not float(value).is_integer():
        return f"{float(value):.6g}"
    return _shorten(category_text(value), _EXAMPLE_CHARS)


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"

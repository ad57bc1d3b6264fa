"""Date columns: which text columns hold dates, and the numbers a network learns from them.

A date column becomes its parts (``signup (year)``, ``signup (days since 1970)``),
named so that a part says which column it came from. Shipped in every bundle
(see ``bundle_reading``), so a file to score yields the same parts.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

DATE_PARTS = ("year", "month", "day of week", "day of year", "hour", "days since 1970")
_DATE_PART_NAME = re.compile(r"^(?P<source>.+) \((?P<part>" + "|".join(DATE_PARTS) + r")\)$")
# dateutil reads "mon", "march" or "id12" as dates, so a value must first look like one:
# 2024-03-01, 1/3/24, 01.03.2024, 12:30, Mar 1 2024, 1 March 2024.
DATE_LIKE = re.compile(
    r"^(\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?"
    r"|\d{1,2}:\d{2}"
    r"|[A-Za-z]{3,9}\.? \d{1,2}"
    r"|\d{1,2} [A-Za-z]{3,9})"
)
_DATES_SHARE = 0.9
_DATE_SAMPLE = 200
_DAY_FIRST = re.compile(r"^(?P<first>\d{1,2})(?P<mark>[-/.])(?P<second>\d{1,2})[-/.]\d{2,4}")


def date_part_name(column: str, part: str) -> str:
    """The name of a date column's derived part: ``signup (year)``."""
    return f"{column} ({part})"


def date_part_source(name: str) -> str | None:
    """The date column a derived part came from (``signup`` for ``signup (year)``), or None."""
    match = _DATE_PART_NAME.match(str(name))
    return match.group("source") if match else None


def _day_first(texts: pd.Series) -> bool:
    """Whether ``01/03/2024`` means 1 March here: a day over 12 says so; else dots do."""
    parts = texts.str.extract(_DAY_FIRST).dropna()
    if parts.empty:
        return False
    first, second = parts["first"].astype(int), parts["second"].astype(int)
    if (first > 12).any():
        return True
    if (second > 12).any():
        return False
    return bool((parts["mark"] == ".").mean() > 0.5)


def parse_dates(texts: pd.Series) -> pd.Series | None:
    """The column as UTC date-times when (nearly) every value is a date, else None."""
    present = texts.dropna()
    if present.empty or pd.api.types.is_numeric_dtype(present):
        return None
    present = present.astype(str)
    sample = present.iloc[:: max(1, len(present) // _DATE_SAMPLE)]
    if sample.str.match(DATE_LIKE).mean() < _DATES_SHARE:
        return None
    day_first = _day_first(present)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for options in ({"format": "ISO8601"}, {}, {"format": "mixed"}):
            try:
                parsed = pd.to_datetime(
                    texts, errors="coerce", utc=True, dayfirst=day_first, **options
                )
            except (ValueError, TypeError, OverflowError):
                continue
            if parsed[present.index].notna().mean() >= _DATES_SHARE:
                return parsed
    return None


def date_parts(column: str, moments: pd.Series) -> dict[str, np.ndarray]:
    """Numbers a network can learn from a date column: its calendar parts and its age.

    ``hour`` only when some value has a time of day.
    """
    parts = {
        "year": moments.dt.year,
        "month": moments.dt.month,
        "day of week": moments.dt.dayofweek,
        "day of year": moments.dt.dayofyear,
        "hour": moments.dt.hour + moments.dt.minute / 60,
        "days since 1970": (moments - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1),
    }
    if not (parts["hour"].fillna(0) != 0).any():
        del parts["hour"]
    return {
        date_part_name(column, part): values.to_numpy(dtype=np.float64, na_value=np.nan)
        for part, values in parts.items()
    }

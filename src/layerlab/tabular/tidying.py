"""Each text column read as what it holds: numbers, dates, or categories in one spelling.

``read_csv`` hands every table it reads to ``tidy``, so training, the CLI and a
bundle's predict.py (which ships this module, see ``bundle_reading``) see the
same columns.
"""

from __future__ import annotations

import numbers
import re

import numpy as np
import pandas as pd

from .dates import date_parts, parse_dates
from .errors import shorten
from .values import MISSING_SET, numbers_of

_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")


def tidy(frame: pd.DataFrame, *, decimal_comma: bool) -> pd.DataFrame:
    """Read each text column as what it holds: numbers, dates, or categories.

    Strips cells, lets padded markers (" NA ") count as missing, turns columns of
    (spreadsheet) numbers into numbers, adds the parts of date columns after
    them, and makes categories that differ only in letter case or spaces one.
    ``frame.attrs["reading_notes"]`` says, per column, what was done. The work is
    done once per distinct value, then spread to the rows.
    """
    notes: dict[str, str] = {}
    derived: dict[str, dict[str, np.ndarray]] = {}
    for name in frame.columns:
        column = frame[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        present = column.dropna()
        if len(present) and all(_is_big_whole_number(value) for value in present):
            frame[name] = column.astype("float64")  # beyond 64 bits, pandas keeps Python ints
            continue
        if not all(isinstance(value, str) for value in present.head(1000)):
            continue  # e.g. True/False/NaN, which pandas already read as booleans.
        codes, distinct = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=True)
        texts = pd.Series(distinct, dtype=object).str.strip()
        texts = texts.mask(texts.isin(MISSING_SET))
        counts = np.bincount(codes[codes >= 0], minlength=len(texts))

        def spread(per_distinct, missing=np.nan, codes=codes):
            return np.concatenate([np.asarray(per_distinct), [missing]])[codes]

        numbers = _plain_numbers(texts, decimal_comma)
        if numbers is not None:
            frame[name] = numbers[codes] if (codes >= 0).all() else spread(numbers)
            continue
        present = texts.notna().to_numpy()
        numbers = numbers_of(texts.to_numpy(dtype=object), decimal_comma)
        if present.any() and not np.isnan(numbers[present]).any():
            frame[name] = spread(numbers)
            # The example is a value that needed the spreadsheet rules, not a plain "195".
            plain = pd.to_numeric(texts, errors="coerce").notna().to_numpy()
            first = int(np.flatnonzero(present & ~plain)[0])
            notes[name] = (
                f'Read as numbers from spreadsheet text (e.g. "{shorten(texts[first], 20)}" '
                f"is {numbers[first]:,.10g})."
            )
            continue
        frame[name] = spread(texts.to_numpy(dtype=object))
        moments = parse_dates(texts)
        if moments is not None:
            parts = {
                part: spread(values)
                for part, values in date_parts(name, moments).items()
                if part not in frame.columns
            }
            derived[name] = parts
            notes[name] = (
                "Dates: the model uses their parts instead ("
                + ", ".join(f'"{part}"' for part in parts)
                + ")."
            )
            continue
        merged, spellings = _merge_spellings(texts, counts)
        if spellings:
            frame[name] = spread(merged.to_numpy(dtype=object), missing=np.nan)
            notes[name] = (
                "Values that differ only in letter case or spaces are one category: "
                + "; ".join(spellings)
                + "."
            )
    if derived:
        frame = _with_date_parts(frame, derived)
    frame.attrs["reading_notes"] = notes
    return frame


def _is_big_whole_number(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _plain_numbers(texts: pd.Series, decimal_comma: bool) -> np.ndarray | None:
    """The distinct values as numbers when every one is a plain number (or missing), else None."""
    # Spreadsheets set to e.g. German or French write "1,5" and separate fields with ";".
    if decimal_comma and texts.dropna().str.match(_DECIMAL_COMMA).all():
        texts = texts.str.replace(",", ".", regex=False)
    try:
        numbers = pd.to_numeric(texts).to_numpy()
    except (ValueError, TypeError):
        # Whole numbers beyond 64 bits ("100000000000000000000") are numbers too.
        if not texts.dropna().str.fullmatch(r"[+-]?\d+").all():
            return None
        return texts.astype("float64").to_numpy()
    return numbers if numbers.dtype.kind in "biuf" else numbers.astype("float64")


def _merge_spellings(texts: pd.Series, counts: np.ndarray) -> tuple[pd.Series, list[str]]:
    """Each distinct text spelled as its key's most common spelling; a few merges, as examples.

    ``counts`` says how many rows hold each distinct text.
    """
    present = texts.notna().to_numpy()
    keys = _keys(texts[present])
    if keys.nunique() == len(keys):
        return texts, []
    table = pd.DataFrame({"key": keys, "text": texts[present], "rows": counts[present]})
    table = table.groupby(["key", "text"], sort=False)["rows"].sum().reset_index()
    table = table.sort_values("rows", ascending=False, kind="stable")
    spelling = table.drop_duplicates("key").set_index("key")["text"]
    groups = table.groupby("key", sort=False)["text"].agg(list)
    examples = [
        " = ".join(f'"{shorten(text, 20)}"' for text in group[:3])
        for group in groups
        if len(group) > 1
    ][:3]
    merged = texts.copy()
    merged[present] = keys.map(spelling).to_numpy()
    return merged, examples


def _with_date_parts(
    frame: pd.DataFrame, derived: dict[str, dict[str, np.ndarray]]
) -> pd.DataFrame:
    """``frame`` with each date column's parts right after it."""
    columns: dict[str, object] = {}
    for name in frame.columns:
        columns[name] = frame[name]
        for part, values in derived.get(name, {}).items():
            columns[part] = values
    widened = pd.DataFrame(columns, index=frame.index)
    widened.attrs = dict(frame.attrs)
    return widened


def _keys(texts: pd.Series) -> pd.Series:
    return texts.astype(str).str.replace(r"\s+", " ", regex=True).str.strip().str.casefold()

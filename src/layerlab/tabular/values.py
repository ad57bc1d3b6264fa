"""What a cell holds: a number (as spreadsheets write them too), missing, or a category.

Every rule here runs when a file is read, in training, in the CLI and in a
bundle's predict.py alike: the Keras model then sees plain numbers and category
keys (``category_key``); what it does inside (imputing, scaling, one-hot) is
``layerlab.model.build``'s. Shipped in every bundle (see ``bundle_reading``).
"""

from __future__ import annotations

import numbers
import re

import numpy as np
import pandas as pd

# Cells that mean "no value". ``keep_default_na=False`` keeps pandas' longer
# list (which also turns e.g. "#N/A N/A" into missing) out of the picture, so
# this tuple is the whole rule and the exported predict script can reuse it.
MISSING_VALUES: tuple[str, ...] = (
    "",
    "NA",
    "N/A",
    "n/a",
    "na",
    "NaN",
    "nan",
    "NAN",
    "null",
    "NULL",
    "Null",
    "None",
    "none",
    "?",
    "-",
    "#N/A",
)
MISSING_SET = frozenset(MISSING_VALUES)

_CURRENCY_SYMBOLS = "$€£¥₹₽₩₺₪₫฿₴₦¢"
_CURRENCY_CODES = (
    "USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|INR|CNY|RMB|SEK|NOK|DKK|PLN|CZK|HUF|BRL|MXN|ZAR|"
    "RUB|TRY|KRW|SGD|HKD|ILS"
)
_CURRENCY = rf"(?:[{_CURRENCY_SYMBOLS}]|US\$|R\$|(?:{_CURRENCY_CODES})\b)"
_GROUP_MARKS = "'\u00a0\u202f "  # apostrophe (1'234), spaces (1 234), besides "," or "."
_SPREADSHEET_NUMBER = re.compile(
    rf"^(?P<open>\()?\s*(?P<sign>[-+\u2212])?\s*(?P<before>{_CURRENCY})?\s*"
    rf"(?P<sign_after>[-+\u2212])?\s*(?P<digits>\d(?:[\d.,{_GROUP_MARKS}]*\d)?|[.,]\d+)"
    rf"\s*(?P<after>{_CURRENCY}|%)?\s*(?P<close>\))?$"
)
_SPREADSHEET_SAMPLE = 200
_MARK_SAMPLE = 2000  # values that vote on the decimal mark


def _decimal_mark(digits: pd.Series, decimal_comma: bool | None) -> str:
    """Which of "." and "," is the decimal mark in this column, from the values themselves.

    ``1,234.5`` and ``1.234,5`` say so; ``1,5`` and ``1.234.567`` too; a lone
    ``1,000`` does not, and then ``decimal_comma`` (a ``;``-delimited file) decides.
    """
    comma_last = digits.str.contains(r"\.\d*,\d*$") | digits.str.contains(r"\..*\.")
    point_last = digits.str.contains(r",\d*\.\d*$") | digits.str.contains(r",.*,")
    comma_alone = ~digits.str.contains(r"\.") & digits.str.contains(r",(?:\d{1,2}|\d{4,})$")
    point_alone = ~digits.str.contains(",") & digits.str.contains(r"\.(?:\d{1,2}|\d{4,})$")
    comma_votes = int(comma_last.sum() + comma_alone.sum())
    point_votes = int(point_last.sum() + point_alone.sum())
    if comma_votes != point_votes:
        return "," if comma_votes > point_votes else "."
    return "," if decimal_comma else "."


def _spreadsheet_numbers(texts: pd.Series, mark: str) -> np.ndarray:
    """Numbers as spreadsheets write them: ``$10,200``, ``12%``, ``(1.234,50 €)``, ``1 000``.

    Currency symbols and codes are dropped, a percent sign is dropped (``12%`` is
    12, as shown), parentheses or a minus make a number negative, and thousands
    separators go; ``mark`` is the decimal mark. NaN where a value is not such a number.
    """
    parts = texts.str.extract(_SPREADSHEET_NUMBER)
    digits = parts["digits"]
    if digits.isna().all():
        return np.full(len(texts), np.nan)
    group = "," if mark == "." else "."
    groups = re.escape(group + _GROUP_MARKS)
    decimal = re.escape(mark)
    well_formed = digits.str.fullmatch(
        rf"\d{{1,3}}(?:[{groups}]\d{{3}})+(?:{decimal}\d*)?|\d+(?:{decimal}\d*)?|{decimal}\d+"
    )
    cleaned = digits.str.replace(rf"[{groups}]", "", regex=True).str.replace(mark, ".", regex=False)
    numbers = pd.to_numeric(cleaned.where(well_formed.fillna(False).astype(bool)), errors="coerce")
    numbers = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    balanced = parts["open"].isna() == parts["close"].isna()
    negative = (
        parts["open"].notna()
        | parts["sign"].isin(["-", "\u2212"])
        | parts["sign_after"].isin(["-", "\u2212"])
    )
    signs = np.where(negative.to_numpy(), -1.0, 1.0)
    return np.where(balanced.to_numpy(), numbers * signs, np.nan)


def per_distinct(values: pd.Series | np.ndarray, convert) -> np.ndarray:
    """``convert`` run once on the distinct values (an object array), spread back to every row.

    Columns repeat their values, so per-value Python work is done only for the
    distinct ones. Missing values get ``convert([None])``. A column that mixes
    booleans or numbers with other kinds (``True`` hashes like ``1``) is
    converted value by value instead.
    """
    objects = np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(objects, skipna=True) in ("mixed", "mixed-integer"):
        return np.asarray(convert(objects))
    codes, uniques = pd.factorize(objects, use_na_sentinel=True)
    converted = np.asarray(convert(np.asarray(uniques, dtype=object)))
    missing = np.asarray(convert(np.array([None], dtype=object)))
    return np.concatenate([converted, missing])[codes]  # code -1, missing, takes the last


def numbers_of(values: np.ndarray, decimal_comma: bool | None) -> np.ndarray:
    """Floats for an object array of raw values; see ``parse_numbers``."""
    series = pd.Series(values, dtype=object)
    is_bool = np.fromiter((isinstance(v, bool | np.bool_) for v in values), bool, len(values))
    series[is_bool] = series[is_bool].astype(float)
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = numbers.copy()  # pandas may hand back a read-only view
    is_text = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
    if not is_text.any():
        return numbers
    texts = series[is_text].str.strip()
    texts = texts.mask(texts.isin(MISSING_SET))
    unread = texts[np.isnan(numbers[is_text]) & texts.notna().to_numpy()]
    if unread.empty:
        return numbers
    present = texts.dropna()
    marks = present.iloc[:: max(1, len(present) // _MARK_SAMPLE)].str.extract(_SPREADSHEET_NUMBER)
    mark = _decimal_mark(marks["digits"].dropna(), decimal_comma)
    sample = unread.iloc[:: max(1, len(unread) // _SPREADSHEET_SAMPLE)]
    if np.isnan(_spreadsheet_numbers(sample, mark)).mean() > 0.5:
        return numbers  # text, not numbers with symbols
    spreadsheet = _spreadsheet_numbers(texts.fillna(""), mark)
    text_numbers = numbers[is_text]
    if mark == ",":
        text_numbers = spreadsheet  # "1.000" is a thousand here, whatever Python says
    else:
        text_numbers = np.where(np.isnan(text_numbers), spreadsheet, text_numbers)
    numbers[is_text] = text_numbers
    return numbers


def parse_numbers(values: pd.Series, decimal_comma: bool | None = None) -> np.ndarray:
    """Every value of a column as a float64, NaN where missing or not a number.

    Plain numbers first; text that is not one is read as a spreadsheet writes
    numbers (``_spreadsheet_numbers``), when enough of a sample of it is.
    ``decimal_comma`` settles ``1,000`` (1 or 1000?) when nothing else in the
    column does: True for a ``;``-delimited file.
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return per_distinct(values, lambda distinct: numbers_of(distinct, decimal_comma)).astype(
        np.float64
    )


def as_numeric(values: pd.Series) -> np.ndarray:
    """Numbers for a whole column as float32, NaN where missing or not a number."""
    return parse_numbers(values).astype(np.float32)


# --------------------------------------------------------------------------- categories


def category_text(value: object) -> str:
    """Return the category string for one raw value: the same rule at training and at prediction.

    Missing -> "", booleans -> "true"/"false", whole numbers -> "3" (even when
    stored as 3.0), other numbers -> repr(float), strings -> stripped.
    """
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return ""
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if number != number:
            return ""
        if number.is_integer():
            return str(int(number))
        return repr(number)
    return str(value).strip()


def as_category_text(values: pd.Series) -> np.ndarray:
    """Category strings for a whole column (object array), via ``category_text``."""
    return per_distinct(values, lambda distinct: _texts(category_text, distinct))


def class_indices(values: pd.Series, classes: tuple[str, ...] | list[str]) -> np.ndarray:
    """Each value's position in ``classes`` (by ``category_text``), as int64.

    Raises ValueError naming a value that is none of the classes: the caller
    passes rows whose labels it learned, so one that is not is a bug.
    """
    texts = as_category_text(values)
    positions = pd.Index(list(classes), dtype=object).get_indexer(texts)
    if (positions < 0).any():
        unknown = texts[positions < 0][0]
        raise ValueError(f'"{unknown}" is not one of the classes {list(classes)}.')
    return positions.astype("int64")


def _texts(rule, values: np.ndarray) -> np.ndarray:
    return np.array([rule(value) for value in values], dtype=object)


def category_key(value: object) -> str:
    """What the model's one-hot vocabulary holds for a value: ``category_text``, case-folded.

    So ``Sales``, ``sales`` and `` SALES `` are one category at prediction too,
    even in a file where the spellings come apart from the training file's.
    """
    return " ".join(category_text(value).split()).casefold()


def as_category_keys(values: pd.Series) -> np.ndarray:
    """``category_key`` for a whole column (object array)."""
    return per_distinct(values, lambda distinct: _texts(category_key, distinct))

"""Tables as a person reads them in ``st.dataframe``: numbers without e-notation and
thousands separated, years and IDs without separators, probabilities as percentages,
blanks as blanks.

Streamlit shows a missing value as a grey "None" whatever a Styler says, so a column
with blanks goes to the browser as text; a column without blanks keeps its numbers, so
it still sorts as numbers, and shows the Styler's text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from layerlab.schema.numbers import label_numbers, readable_number, readable_percent

# A data value keeps up to this many significant digits: 4,250.5 stays 4,250.5.
DATA_DIGITS = 6
# Most rows a table shows in the browser; a download carries them all. Formatting and
# sending more would keep the page waiting for rows nobody scrolls to.
SHOWN_ROWS = 1_000


def readable_frame(
    frame: pd.DataFrame, probabilities: Iterable[str] = (), digits: int | None = None
) -> Styler:
    """``frame`` for ``st.dataframe``: each column formatted by what it holds.

    ``probabilities`` name the columns shown as percentages ("< 0.1%"). Other numbers
    keep up to ``DATA_DIGITS`` significant digits, as data should, or are rounded to
    ``digits`` where they are scores.
    """
    return _readable(frame, set(probabilities), digits)[0]


def show_frame(
    frame: pd.DataFrame,
    probabilities: Iterable[str] = (),
    digits: int | None = None,
    **options,
) -> None:
    """``st.dataframe`` of ``readable_frame``, numbers sent as text (a column with blanks)
    still aligned right, as numbers are. ``options`` go to ``st.dataframe``."""
    styler, numbers_as_text = _readable(frame, set(probabilities), digits)
    aligned = {name: st.column_config.TextColumn(alignment="right") for name in numbers_as_text}
    st.dataframe(styler, column_config=aligned or None, **options)


def _readable(
    frame: pd.DataFrame, probabilities: set[str], digits: int | None
) -> tuple[Styler, list[str]]:
    """The styled frame, and the numeric columns that became text to show their blanks."""
    shown = frame.copy()
    formats: dict[str, Callable[[object], str]] = {}
    numbers_as_text: list[str] = []
    for name in shown.columns:
        column = shown[name]
        write = _writer(name, column, name in probabilities, digits)
        if write is None:
            continue
        if column.isna().any():
            shown[name] = pd.Series(
                ["" if pd.isna(value) else write(value) for value in column],
                index=column.index,
                dtype=object,
            )
            if pd.api.types.is_numeric_dtype(column):
                numbers_as_text.append(name)
        else:
            formats[name] = write
    return shown.style.format(formats), numbers_as_text


def _writer(
    name: str, column: pd.Series, probability: bool, digits: int | None
) -> Callable[[object], str] | None:
    """How one column's cells read, or None where Streamlit's own display is right
    (booleans as checkboxes, text without blanks)."""
    if pd.api.types.is_bool_dtype(column):
        return None
    if probability:
        return lambda value: readable_percent(float(value))
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.to_numpy(dtype=float, na_value=np.nan)
        finite = numbers[np.isfinite(numbers)]
        if len(finite) and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e15:
            if label_numbers(str(name), finite):
                return lambda value: str(int(value))
            return lambda value: f"{int(value):,}"
        if digits is not None:
            return lambda value: readable_number(float(value), digits)
        return lambda value: _data_number(float(value))
    if column.isna().any():
        return str
    return None


def _data_number(value: float) -> str:
    """A measured value to ``DATA_DIGITS`` significant digits, thousands separated, never
    in e-notation: 4,250.5, 0.000123."""
    if not np.isfinite(value) or abs(value) >= 1e15:
        return readable_number(value)
    text = np.format_float_positional(value, precision=DATA_DIGITS, fractional=False, trim="-")
    whole, point, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-') or 0):,}{point}{fraction}"

"""Every CSV Layerlab writes, written so that a spreadsheet shows its cells and never runs them.

Shipped in every bundle (see ``bundle_reading``): a bundle's predictions are as
safe to open as the app's downloads.
"""

from __future__ import annotations

import re

import pandas as pd

# OWASP's CSV-injection advice: a spreadsheet runs a cell that starts with one of
# these as a formula, so such a text cell gets a leading single quote. Spreadsheets
# also read the full-width forms (＝ ＋ － ＠, typed with East Asian input methods) as
# the plain ones, and skip invisible characters (zero-width space, no-break space,
# BOM) before them, so those count too.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_INVISIBLE_LEAD = "\u200b\u200c\u200d\u2060\ufeff\u00a0\u202f\u2007"
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def spreadsheet_safe_text(text: str) -> str:
    """``text`` as a spreadsheet will show it and never run it: ``=1+1`` becomes ``'=1+1``."""
    visible = text.lstrip(_INVISIBLE_LEAD)
    if visible.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot run as formulas.

    Numbers (numeric columns, and text such as ``-5`` that is a plain number) stay as they are.
    """
    safe = frame.copy()
    safe.columns = [
        spreadsheet_safe_text(name) if isinstance(name, str) else name for name in frame.columns
    ]
    for position, name in enumerate(frame.columns):
        column = frame[name]
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            safe.isetitem(
                position,
                column.map(
                    lambda value: spreadsheet_safe_text(value) if isinstance(value, str) else value
                ),
            )
    return safe


def write_csv(frame: pd.DataFrame, target=None) -> str | None:
    """Write ``frame`` as CSV (to a path or stream, or return the text), safe to open in a spreadsheet.

    Every CSV Layerlab writes goes through here.
    """
    return spreadsheet_safe(frame).to_csv(target, index=False)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``write_csv`` as UTF-8 bytes, for a download button."""
    return write_csv(frame).encode("utf-8")

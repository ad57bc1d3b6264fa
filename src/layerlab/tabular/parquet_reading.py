"""Read a Parquet file by the same column rules as a CSV file.

Big tables usually come as Parquet: typed, compressed, read column by column. The
columns a network sees must not depend on the format, so a Parquet table is brought
to what ``reading.read_csv`` makes of the same table written as CSV: names as text,
text cells tidied (``tidying.tidy``: padded markers such as " NA " missing, spreadsheet
numbers as numbers, categories that differ in letter case as one), dates as the date
text whose parts ``tidy`` adds, categories as their text, whole numbers with gaps as
floats. The header is checked (at least two columns, at most ``max_columns``, no name
twice) from the file's schema, before any row is read.

Like the other reading modules it is shipped in a bundle (``layerlab_reading``) and
needs pyarrow only when a Parquet file comes; pandas reads Parquet through it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import numpy as np
import pandas as pd

from .errors import DataError, name_list, shorten
from .tidying import tidy

PARQUET_MAGIC = b"PAR1"


def is_parquet(source: bytes | str | os.PathLike) -> bool:
    """Whether ``source`` (bytes, or a file's path) starts as a Parquet file does."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:4]) == PARQUET_MAGIC
    try:
        with open(os.fspath(source), "rb") as handle:
            return handle.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def read_parquet(
    source: bytes | str | os.PathLike,
    *,
    check_header: Callable[[list[str]], None],
    as_written: bool = False,
) -> pd.DataFrame:
    """A Parquet file (bytes or a path) as ``read_csv`` reads the same table as CSV, or a
    ``DataError`` that says why not. ``check_header(names)`` is the reader's own check of
    the column names, run on the schema before any row is read; ``as_written`` gives every
    cell as text ("" missing)."""
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError(
            "This is a Parquet file, and reading Parquet needs the pyarrow package, which is "
            "not installed here. Install it (pip install pyarrow), or save the table as CSV."
        ) from None
    in_memory = isinstance(source, bytes | bytearray | memoryview)
    opened = io.BytesIO(bytes(source)) if in_memory else source
    try:
        file = parquet.ParquetFile(opened)
        names = [str(name).strip() for name in file.schema_arrow.names]
        check_header(names)
        frame = file.read().to_pandas()
    except DataError:
        raise
    except Exception as error:  # pyarrow's own errors: a damaged or truncated file
        raise DataError(
            f"This Parquet file could not be read: {shorten(str(error), 200)}. Check that the "
            "file was written completely, or save the table as CSV."
        ) from None
    frame.columns = names
    if frame.empty:
        raise DataError(
            f"The Parquet file has columns ({name_list(names)}) but no rows. Expected at least "
            "one row of values."
        )
    frame = frame.reset_index(drop=True)
    for name in names:
        frame[name] = _as_csv_would(frame[name])
    if as_written:
        return frame.astype(object).where(frame.notna(), "").map(_written)
    return tidy(frame, decimal_comma=False)


def _as_csv_would(column: pd.Series) -> pd.Series:
    """One column as reading it from CSV would give it, before ``tidy``."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        column = column.astype(object)
        dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        text = column.dt.strftime("%Y-%m-%d %H:%M:%S")
        if (column.dropna().dt.normalize() == column.dropna()).all():
            text = column.dt.strftime("%Y-%m-%d")  # dates alone, as a spreadsheet writes them
        return text.astype(object).where(column.notna(), None)
    if pd.api.types.is_bool_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        if column.isna().any():
            return column.astype(object).where(column.notna(), None)
        return column.astype(bool)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        if column.isna().any() or pd.api.types.is_float_dtype(dtype):
            return column.astype("float64")
        return column.astype("int64")
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return column.astype(object).map(_cell_text, na_action="ignore")
    return column.astype(object).map(str, na_action="ignore")  # e.g. durations, decimals


def _cell_text(value: object) -> object:
    """A text cell as text; bytes decoded; numbers and booleans kept as they are."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str | bool | int | float | np.number | np.bool_):
        return value
    return str(value)


def _written(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)

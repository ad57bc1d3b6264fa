"""Read CSV files the same way everywhere: in training, in the CLI and in a bundle's predict.py.

This module is the one reading rule. It needs only the standard library, numpy
and pandas, so the download bundle ships this very file (as
``layerlab_reading.py``) beside its ``predict.py``: a file that trained reads
back the same way when it is scored, with no hand copy to drift.

``read_csv`` is forgiving about what spreadsheets really write (delimiters,
encodings, BOMs, stray spaces, ``NA`` markers) and strict about what cannot be
a table: every refusal is a ``DataError`` that a person can act on.

``category_text`` is the single rule that turns raw values into category
strings, so ``3``, ``3.0`` and `` 3`` are the same category on both sides.
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

try:
    from layerlab.schema.errors import BundleError, DataError, SchemaError
except ImportError:  # inside a bundle, where Layerlab is not installed

    class DataError(ValueError):
        """A file that cannot be read as a table, with a message that says why."""

    class SchemaError(DataError):
        """A table to score that lacks what the model needs."""

    class BundleError(ValueError):
        """A model file that is not what Layerlab wrote, or is damaged."""


# One upload limit for the uploader, this reader and its message. Streamlit's
# uploader takes it in MB and the browser enforces (and shows) it as MB of
# 1,000,000 bytes: ``maxUploadSizeMb`` is converted with a base of 1000 on every
# platform but Windows (``utils`` in Streamlit's frontend; the server's own check,
# in MiB, is looser). So the limit is counted the same way here.
MAX_UPLOAD_MB: int = 50
BYTES_PER_MB = 1000 * 1000
MAX_UPLOAD_BYTES: int = MAX_UPLOAD_MB * BYTES_PER_MB
# The most columns a table may have. A few kilobytes of commas can declare 400,000 columns,
# and every step after reading (profiling, leak checks, importance, one-hot inputs) grows
# with them: that one file took a shared server's process to 2.3 GB for two minutes.
MAX_COLUMNS: int = 2000

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

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50


# --------------------------------------------------------------------------- reading


def read_csv(
    source: bytes | str | os.PathLike,
    *,
    max_bytes: int | None = MAX_UPLOAD_BYTES,
    max_columns: int | None = MAX_COLUMNS,
) -> pd.DataFrame:
    """Read CSV bytes or a CSV file into a DataFrame, or raise a ``DataError`` that says why not.

    Headers and string cells are stripped, ``MISSING_VALUES`` become missing,
    and columns whose values are all numbers come out with a numeric dtype
    (see ``_tidy`` for spreadsheet numbers, dates and categories).
    ``max_bytes=None`` reads a file of any size; ``max_columns=None`` any number of
    columns (the header is counted before any row is parsed).
    """
    raw = _read_bytes(source, max_bytes)
    if not raw.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise DataError(
            "The file is empty. Expected a CSV table: a header row with column names, "
            "then one row per example. Check that you picked the right file and that it "
            "was saved completely."
        )
    _refuse_known_binary(raw)
    text = _decode(raw).lstrip("\r\n")  # blank lines before the header are nothing
    _refuse_other_formats(text)

    sample = _sample_lines(text)
    delimiter = _sniff_delimiter(sample)
    header = _header_names(sample, delimiter)
    if len(header) < 2:
        raise DataError(
            f'The table has only one column ("{_shorten(header[0] if header else "", 60)}"). '
            "Expected at least two columns: one or more features and a target to predict. "
            "If the file has more columns, it may use an unusual delimiter: save it again "
            "with commas, semicolons, tabs or | between values."
        )
    check_columns(len(header), max_columns)
    _refuse_duplicate_names(header)

    frame = _parse(text, delimiter, header)
    if frame.empty:
        raise DataError(
            f"The file has a header row ({_name_list(header)}) but no data rows. "
            "Expected at least one row of values under the header. Add data rows, or check "
            "that the export did not stop after the header."
        )
    # Only a ;-delimited file says the decimal mark is a comma (Excel in e.g. German or
    # French); tab and | files come from every locale, so their values decide alone.
    return _tidy(frame, decimal_comma=delimiter == ";")


def _read_bytes(source: bytes | str | os.PathLike, max_bytes: int | None) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source)
        check_size(len(raw), max_bytes)
        return raw
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise DataError(
            f'There is no file at "{path}". Expected the path of a CSV file. '
            "Check the spelling and the folder."
        )
    check_size(os.path.getsize(path), max_bytes)
    with open(path, "rb") as handle:
        return handle.read()


def check_size(size: int, max_bytes: int | None = MAX_UPLOAD_BYTES) -> None:
    """Raise ``DataError`` if a file of ``size`` bytes is over the upload limit."""
    if max_bytes is not None and size > max_bytes:
        limit = f"{max_bytes / BYTES_PER_MB:g} MB"
        raise DataError(
            f"The file is {size / BYTES_PER_MB:.1f} MB ({size:,} bytes), which is over the "
            f"{limit} limit ({max_bytes:,} bytes). Expected a CSV file of at most {limit}. "
            "Upload a sample of the rows, or remove columns you do not need, and try again."
        )


def check_columns(count: int, max_columns: int | None = MAX_COLUMNS) -> None:
    """Raise ``DataError`` if a header of ``count`` columns is over the column limit."""
    if max_columns is not None and count > max_columns:
        raise DataError(
            f"The table has {count:,} columns, more than the {max_columns:,} Layerlab reads. "
            f"Expected at most {max_columns:,} columns: the features and the target. Keep "
            "only the columns you need (delete the others in your spreadsheet, or with pandas: "
            "frame[['col_a', 'col_b', 'target']].to_csv('smaller.csv', index=False)) and "
            "upload that file."
        )


_EXCEL_ADVICE = (
    "Expected comma-separated text. Open it in your spreadsheet program, choose "
    "File > Save As > CSV (Comma delimited, *.csv), and upload that file."
)


def _refuse_known_binary(raw: bytes) -> None:
    """Name the formats people most often upload by mistake, instead of a parse error."""
    head = raw[:8]
    if head.startswith(b"PK\x03\x04"):
        if b"xl/" in raw or b"[Content_Types].xml" in raw[:4096]:
            raise DataError(
                "This file is an Excel workbook (.xlsx), not a CSV file, even if its name "
                "ends in .csv. " + _EXCEL_ADVICE
            )
        if b"opendocument.spreadsheet" in raw[:200]:
            raise DataError(
                "This file is an OpenDocument spreadsheet (.ods), not a CSV file. " + _EXCEL_ADVICE
            )
        raise DataError(
            "This file is a zip archive, not a CSV file. Expected comma-separated text. "
            "Unzip it and upload the CSV file inside."
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError(
            "This file is an old-style Excel workbook (.xls), not a CSV file, even if its "
            "name ends in .csv. " + _EXCEL_ADVICE
        )
    if head.startswith(b"\x1f\x8b"):
        raise DataError(
            "This file is compressed (gzip), not a CSV file. Expected comma-separated text. "
            "Decompress it and upload the CSV file inside."
        )
    if head.startswith(b"%PDF"):
        raise DataError(
            "This file is a PDF document, not a CSV file. Expected comma-separated text. "
            "Export the table from the program that made the PDF as CSV and upload that."
        )
    if head.startswith(b"PAR1"):
        raise DataError(
            "This file is a Parquet file, not a CSV file. Expected comma-separated text. "
            "Convert it with pandas: pd.read_parquet(path).to_csv('data.csv', index=False)."
        )


def _decode(raw: bytes) -> str:
    """Decode with the BOM if there is one, else UTF-8, else Windows-1252, else Latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return _decode_or_refuse(raw, "utf-8-sig")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_or_refuse(raw, "utf-16")
    utf16 = _utf16_without_bom(raw[:4096])
    if utf16:
        return _decode_or_refuse(raw, utf16)
    if b"\x00" in raw[:8192]:
        raise _binary_error()
    for encoding in ("utf-8", "cp1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        break
    else:
        text = raw.decode("latin-1")
    if _looks_binary(text[:8192]):
        raise _binary_error()
    return text


def _decode_or_refuse(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise _binary_error() from None


def _utf16_without_bom(head: bytes) -> str | None:
    """Spot UTF-16 text without a BOM: mostly-ASCII text leaves every other byte zero."""
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.8 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.8 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    controls = sum(
        1
        for char in text
        if (ord(char) < 32 and char not in "\t\n\r\x0c") or 0x7F <= ord(char) < 0xA0
    )
    return controls > max(2, len(text) // 100)


def _binary_error() -> DataError:
    return DataError(
        "The file does not look like text: it contains binary data. Expected a CSV text "
        "file with a header row and comma-separated values. If it is a spreadsheet, a "
        "database or an archive, export or unpack it as CSV first."
    )


def _refuse_other_formats(text: str) -> None:
    start = text.lstrip("\ufeff \t\r\n")
    lowered = start[:200].lower()
    if start.startswith("{") or (
        start.startswith("[") and start[1:].lstrip()[:1] in '{["]-0123456789'
    ):
        raise DataError(
            f'The file holds JSON, not CSV: it starts with "{start[0]}". Expected a table of '
            "comma-separated values with a header row. Convert the JSON to CSV first (for "
            "example with pandas.read_json(...).to_csv(...)) and upload that file."
        )
    if lowered.startswith(("<!doctype html", "<html", "<table", "<head", "<body", "<!--")):
        raise DataError(
            f'The file is a web page (HTML), not CSV: it starts with "{_shorten(start, 20)}". '
            "This often happens when a browser saves the page around a table instead of "
            "the data. Expected comma-separated text: download the raw CSV file (look for "
            'a "Raw" or "Download CSV" link) and upload that.'
        )
    if lowered.startswith("<?xml"):
        raise DataError(
            "The file is XML, not CSV. Expected comma-separated text with a header row. "
            "Export the data as CSV and upload that file."
        )


def _sample_lines(text: str) -> str:
    """The first lines of the text, cut at a line break so no record is half-seen.

    About ``_SNIFF_CHARS`` after the header line, which is always whole: a header of
    11,000 columns is longer than that, and a cut one would end in half a name.
    """
    breaks = [at for at in (text.find("\n"), text.find("\r")) if at >= 0]
    limit = _SNIFF_CHARS + (min(breaks) if breaks else len(text))
    if len(text) <= limit:
        return text
    cut = max(text.rfind("\n", 0, limit), text.rfind("\r", 0, limit))
    return text[:cut] if cut > 0 else text[:limit]


def _reader(text: str, delimiter: str) -> csv.Reader:
    """A csv reader that splits fields the way the pandas call in ``_parse`` does."""
    return csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', skipinitialspace=True
    )


def _records(sample: str, delimiter: str, limit: int) -> list[list[str]]:
    reader = _reader(sample, delimiter)
    records: list[list[str]] = []
    try:
        for record in reader:
            if record:
                records.append(record)
            if len(records) >= limit:
                break
    except csv.Error:
        pass
    return records


def _sniff_delimiter(sample: str) -> str:
    """Pick the delimiter that splits the first lines into the same, largest number of fields.

    ``csv.Sniffer`` gets the first say; it is only overruled when its choice
    gives a single column or less regular rows than another candidate.
    """
    scores: dict[str, tuple[float, int]] = {}
    for delimiter in _DELIMITERS:
        records = _records(sample, delimiter, _SNIFF_RECORDS)
        if not records:
            scores[delimiter] = (0.0, 0)
            continue
        width = len(records[0])
        regular = sum(len(record) == width for record in records) / len(records)
        scores[delimiter] = (regular if width > 1 else 0.0, width)

    best_regularity = max(regularity for regularity, _ in scores.values())
    try:
        # The sniffer's quote regexes take seconds on 64 KB of quoted values; its first
        # say needs only the lines the regularity scores above looked at.
        head = "\n".join(sample.splitlines()[: _SNIFF_RECORDS + 1])
        sniffed = csv.Sniffer().sniff(head, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in scores and scores[sniffed][1] > 1 and scores[sniffed][0] == best_regularity:
        return sniffed
    return max(_DELIMITERS, key=lambda delimiter: scores[delimiter])


def _header_names(sample: str, delimiter: str) -> list[str]:
    records = _records(sample, delimiter, 1)
    if not records:
        return []
    names = [name.strip() for name in records[0]]
    return [name or f"unnamed_{position}" for position, name in enumerate(names, start=1)]


def _refuse_duplicate_names(header: list[str]) -> None:
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(position)
    duplicates = {name: where for name, where in positions.items() if len(where) > 1}
    if duplicates:
        described = "; ".join(
            f'"{name}" (columns {", ".join(map(str, where))})' for name, where in duplicates.items()
        )
        raise DataError(
            f"The header has duplicate column names: {described}. Expected every column to "
            "have its own name. Rename the duplicates in the header row and upload again."
        )


def _parse(text: str, delimiter: str, header: list[str]) -> pd.DataFrame:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                quotechar='"',
                engine="c",
                index_col=False,
                keep_default_na=False,
                na_values=list(MISSING_VALUES),
                skipinitialspace=True,
                low_memory=False,
            )
        except pd.errors.EmptyDataError:
            raise DataError(
                "The file has no column names and no values, only empty lines or delimiters. "
                "Expected a header row with column names, then one row per example. Check "
                "that you picked the right file and that it was saved completely."
            ) from None
        except pd.errors.ParserError as error:
            raise _ragged_error(text, delimiter, header, str(error)) from None
    if any("does not match length of data" in str(warning.message) for warning in caught):
        raise _ragged_error(text, delimiter, header, "")
    if len(frame.columns) == len(header):
        frame.columns = header
    else:
        frame.columns = [str(name).strip() for name in frame.columns]
    return frame


def _ragged_error(text: str, delimiter: str, header: list[str], detail: str) -> DataError:
    """Name the first line with more values than the header, counted as an editor counts lines."""
    reader = _reader(text, delimiter)
    line, fields = None, None
    try:
        next(reader)
        for record in reader:
            if len(record) > len(header):
                line, fields = reader.line_num, len(record)
                break
    except csv.Error:
        pass
    if line is None:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
        if not match:
            first_line = detail.strip().splitlines()[-1] if detail.strip() else "unknown problem"
            return DataError(
                f"The file could not be read as a CSV table ({first_line}). Expected a header "
                "row and rows with the same number of values. Open it in a text editor and "
                "check the lines around the one named."
            )
        line, fields = int(match.group(2)), int(match.group(3))
    name = _DELIMITER_NAMES[delimiter]
    return DataError(
        f"Line {line} has {fields} values but the header has {len(header)} columns. Expected "
        "every row to have as many values as the header. This usually means a value "
        f"contains the delimiter ({name}) without quotes around it: put the value in double "
        f"quotes, or fix line {line}."
    )


# --------------------------------------------------------------------------- spreadsheet values

# Where each rule lives: every rule in this section runs when a file is read, here,
# in training, in the CLI and in the bundle's predict.py alike. The Keras model
# then sees plain numbers and category keys (see ``category_key``); what it does
# inside (imputing, scaling, one-hot) is in ``layerlab.model.build``.

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


def _numbers_of(values: np.ndarray, decimal_comma: bool | None) -> np.ndarray:
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
    texts = texts.mask(texts.isin(_MISSING_SET))
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
    return per_distinct(values, lambda distinct: _numbers_of(distinct, decimal_comma)).astype(
        np.float64
    )


def as_numeric(values: pd.Series) -> np.ndarray:
    """Numbers for a whole column as float32, NaN where missing or not a number."""
    return parse_numbers(values).astype(np.float32)


# --------------------------------------------------------------------------- dates

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


# --------------------------------------------------------------------------- tidying

_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")
_MISSING_SET = frozenset(MISSING_VALUES)


def _tidy(frame: pd.DataFrame, *, decimal_comma: bool) -> pd.DataFrame:
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
        texts = texts.mask(texts.isin(_MISSING_SET))
        counts = np.bincount(codes[codes >= 0], minlength=len(texts))

        def spread(per_distinct, missing=np.nan, codes=codes):
            return np.concatenate([np.asarray(per_distinct), [missing]])[codes]

        numbers = _plain_numbers(texts, decimal_comma)
        if numbers is not None:
            frame[name] = numbers[codes] if (codes >= 0).all() else spread(numbers)
            continue
        present = texts.notna().to_numpy()
        numbers = _numbers_of(texts.to_numpy(dtype=object), decimal_comma)
        if present.any() and not np.isnan(numbers[present]).any():
            frame[name] = spread(numbers)
            # The example is a value that needed the spreadsheet rules, not a plain "195".
            plain = pd.to_numeric(texts, errors="coerce").notna().to_numpy()
            first = int(np.flatnonzero(present & ~plain)[0])
            notes[name] = (
                f'Read as numbers from spreadsheet text (e.g. "{_shorten(texts[first], 20)}" '
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
        " = ".join(f'"{_shorten(text, 20)}"' for text in group[:3])
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


# --------------------------------------------------------------------------- values


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


def _keys(texts: pd.Series) -> pd.Series:
    return texts.astype(str).str.replace(r"\s+", " ", regex=True).str.strip().str.casefold()


def category_key(value: object) -> str:
    """What the model's one-hot vocabulary holds for a value: ``category_text``, case-folded.

    So ``Sales``, ``sales`` and `` SALES `` are one category at prediction too,
    even in a file where the spellings come apart from the training file's.
    """
    return " ".join(category_text(value).split()).casefold()


def as_category_keys(values: pd.Series) -> np.ndarray:
    """``category_key`` for a whole column (object array)."""
    return per_distinct(values, lambda distinct: _texts(category_key, distinct))


def model_inputs(frame: pd.DataFrame, features: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """A table's columns as the Keras model's inputs, each shaped (rows, 1).

    ``features`` are (name, kind) pairs, as in ``spec.json``: numeric columns
    as float32 (NaN = missing), categorical and boolean ones as category keys.
    """
    inputs = {}
    for name, kind in features:
        if kind == "numeric":
            inputs[name] = as_numeric(frame[name]).reshape(-1, 1)
        else:
            inputs[name] = as_category_keys(frame[name]).reshape(-1, 1)
    return inputs


def non_number_message(frame: pd.DataFrame, numeric_columns: list[str]) -> str | None:
    """Say which numeric columns hold values that are neither numbers nor missing, or None.

    Empty cells and the usual missing markers (``MISSING_VALUES``) are missing
    values, which the model handles. Anything else that is not a number (``abc``),
    or is too large for the model's 32-bit floats (``1e999``), would be read as
    missing without a word, so it is named here instead, with a count and up to
    three examples per column. The bundle's ``predict.py`` carries a verbatim copy,
    so it needs only numpy, pandas and ``MISSING_VALUES``.
    """
    largest = float(np.finfo(np.float32).max)

    def examples(values):
        texts = pd.unique(values.map(lambda v: " ".join(str(v).split())))[:3]
        return ", ".join(f'"{t[:29]}…"' if len(t) > 30 else f'"{t}"' for t in texts)

    problems = []
    for name in numeric_columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            numbers = values.to_numpy(dtype="float64", na_value=np.nan)
            values = values[~np.isnan(numbers)]
            numbers = numbers[~np.isnan(numbers)]
        else:  # text, or a mix: read each value as the model's input does
            values = values.astype(object)
            values = values[values.notna()]
            values = values[~values.map(lambda v: isinstance(v, str) and v.strip() in _MISSING_SET)]
            numbers = parse_numbers(values)
        not_numbers = values[np.isnan(numbers)]
        too_large = values[np.abs(np.nan_to_num(numbers)) > largest]
        if len(not_numbers):
            count = len(not_numbers)
            are = "1 value is not a number" if count == 1 else f"{count} values are not numbers"
            problems.append(f'Column "{name}" (numeric): {are}, e.g. {examples(not_numbers)}.')
        if len(too_large):
            are = "1 value is" if len(too_large) == 1 else f"{len(too_large)} values are"
            problems.append(
                f'Column "{name}" (numeric): {are} too large for the model (over 3.4e38), '
                f"e.g. {examples(too_large)}."
            )
    if not problems:
        return None
    return (
        " ".join(problems) + " The model expects a number in every cell of its numeric columns; "
        "empty cells and missing markers such as NA are fine and count as missing. Correct "
        "these values, or empty their cells to score those rows with the value missing."
    )


# --------------------------------------------------------------------------- wording


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name_list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(_shorten(name, 30) for name in names[:limit])
    if len(names) > limit:
        shown += f", … ({len(names) - limit} more)"
    return shown


# --------------------------------------------------------------------------- writing

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


# --------------------------------------------------------------------------- scoring


def missing_columns_message(frame: pd.DataFrame, feature_names: list[str]) -> str | None:
    """Say which columns the model needs that ``frame`` lacks, or None when none are missing.

    A date column's parts (``signup (year)``) are named by their date column.
    """
    missing = [name for name in feature_names if name not in frame.columns]
    if not missing:
        return None
    needed: list[str] = []
    unread_dates: list[str] = []
    for name in missing:
        source = date_part_source(name)
        if source is not None and source in frame.columns:
            unread_dates.append(source)
        needed.append(f'"{source}" (a date)' if source is not None else f'"{name}"')
    needed = list(dict.fromkeys(needed))
    trained = list(dict.fromkeys(date_part_source(name) or name for name in feature_names))
    message = (
        f"The file is missing {len(needed)} column(s) the model needs: {', '.join(needed)}. "
        f"The model was trained on: {', '.join(repr(name) for name in trained)}. Add the "
        "missing column(s) with the same names (empty cells are fine: they count as missing "
        "values)."
    )
    for source in dict.fromkeys(unread_dates):
        message += (
            f' Column "{source}" is there, but its values could not be read as dates: '
            "write them as in the training file (for example 2024-03-01)."
        )
    return message


def prediction_table(task: str, classes: list[str], outputs: np.ndarray) -> pd.DataFrame:
    """Predictions as a table: ``prediction``, plus ``probability_<class>`` for classes.

    Classification ``outputs`` hold one probability column per class, in class order.
    """
    if task == "regression":
        return pd.DataFrame({"prediction": np.asarray(outputs, dtype=float).reshape(-1)})
    table = pd.DataFrame({"prediction": [classes[i] for i in outputs.argmax(axis=1)]})
    for position, label in enumerate(classes):
        table[f"probability_{label}"] = outputs[:, position]
    return table


# --------------------------------------------------------------------------- model files


def input_name(column: str) -> str:
    """A column's name as its ``keras.Input`` has it: as it is, but Keras refuses a "/".

    The model's inputs are a dict keyed by the raw column name, so callers still
    pass the column under its own name.
    """
    return column.replace("/", "\u2215")  # DIVISION SLASH, which reads the same


_NOT_LAYERLAB = (
    "Layerlab never writes such a model, so this file was not made by Layerlab or was "
    "changed after. Use the model.keras of a bundle that Layerlab wrote: train again, or "
    "download the bundle again."
)


def load_model_file(path: str | os.PathLike, features: list[tuple[str, str]], outputs: int):
    """Load a bundle's ``model.keras`` in Keras's safe mode, or raise ``BundleError`` saying why.

    Refused: a file that is not a Keras archive (corrupt or truncated), a model
    that holds code Keras will not run in safe mode (a ``Lambda`` layer, custom
    objects), and one whose inputs or outputs do not match the bundle's spec.
    Safe mode is never turned off. Any failure of ``load_model`` is a refusal:
    the file is untrusted input, and Keras raises many kinds of errors on it.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise BundleError(
            f'"{path.name}" is not a Keras model file: it is corrupt, truncated or of another '
            "kind. Expected the model.keras that Layerlab wrote. Download or copy the bundle "
            "again."
        )
    try:  # counted before Keras builds a weight; a bundle has no Layerlab (its owner's file)
        from layerlab.tabular.keras_file_check import check_keras_file
    except ImportError:
        check_keras_file = None
    if check_keras_file is not None:
        check_keras_file(path)
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # untrusted file: every failure is a refusal, said plainly
        detail = " ".join(str(error).split())
        if "safe_mode" in detail or "Lambda" in detail or "lambda" in detail:
            raise BundleError(
                f'"{path.name}" was not loaded, for your safety: it holds code (such as a '
                "Lambda layer) that Keras runs only when safe mode is off, and it stays on. "
                + _NOT_LAYERLAB
            ) from None
        raise BundleError(
            f'"{path.name}" could not be loaded as a Layerlab model ({_shorten(detail, 160)}). '
            + _NOT_LAYERLAB
        ) from None
    expected = sorted(input_name(name) for name, _ in features)
    found = sorted(str(getattr(tensor, "name", "")) for tensor in model.inputs)
    found_outputs = int(model.outputs[0].shape[-1]) if len(model.outputs) == 1 else -1
    if found != expected or found_outputs not in (outputs, 1 if outputs == 2 else outputs):
        raise BundleError(
            f'"{path.name}" does not match the bundle\'s spec.json: the model reads '
            f"{len(found)} column(s) and gives {found_outputs} output(s), the spec names "
            f"{len(expected)} column(s) and {outputs} output(s). " + _NOT_LAYERLAB
        )
    return model


def read_bundle_json(directory: str | os.PathLike, name: str):
    """One JSON file of a bundle, or ``BundleError`` when it is missing or not JSON."""
    path = Path(directory) / name
    if not path.is_file():
        raise BundleError(
            f'"{directory}" is not a Layerlab bundle: {name} not found. Point to the folder '
            "written by `python -m layerlab train` (or an unzipped download)."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(
            f"{name} in the bundle is not valid JSON ({error}). " + _NOT_LAYERLAB
        ) from None


def model_outputs(task: str, classes: list[str]) -> int:
    """How many outputs a Layerlab model has for ``task``: 1 for numbers, one per class."""
    return 1 if task == "regression" else max(len(classes), 2)

"""Read CSV files the same way everywhere: in training, in the CLI and in a bundle's predict.py.

``read_csv`` is forgiving about what spreadsheets really write (delimiters,
encodings, BOMs, stray spaces, ``NA`` markers) and strict about what cannot be
a table: every refusal is a ``DataError`` that a person can act on. What the
cells then hold (numbers, dates, categories) is ``tidying``'s to say.

It needs only the standard library, numpy and pandas, and imports its siblings
relatively, so the download bundle ships it as it is (in ``layerlab_reading/``,
see ``bundle_reading``): a file that trained reads back the same way when it is
scored, with no hand copy to drift.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings

import pandas as pd

from .errors import DataError, name_list, shorten
from .parquet_reading import PARQUET_MAGIC, is_parquet, read_parquet
from .tidying import tidy
from .values import MISSING_VALUES

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

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50


def read_csv(
    source: bytes | str | os.PathLike,
    *,
    max_bytes: int | None = MAX_UPLOAD_BYTES,
    max_columns: int | None = MAX_COLUMNS,
    as_written: bool = False,
) -> pd.DataFrame:
    """Read CSV bytes or a CSV file into a DataFrame, or raise a ``DataError`` that says why not.

    Headers and string cells are stripped, ``MISSING_VALUES`` become missing,
    and columns whose values are all numbers come out with a numeric dtype
    (see ``tidying.tidy`` for spreadsheet numbers, dates and categories).
    ``max_bytes=None`` reads a file of any size; ``max_columns=None`` any number of
    columns (the header is counted before any row is parsed). ``as_written=True``
    gives every cell as the text the file holds ("" for an empty one), untidied:
    what scoring echoes back beside its predictions.
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
    check_header(header, max_columns, one_column_hint=_DELIMITER_HINT)

    frame = _parse(text, delimiter, header, as_written=as_written)
    if frame.empty:
        raise DataError(
            f"The file has a header row ({name_list(header)}) but no data rows. "
            "Expected at least one row of values under the header. Add data rows, or check "
            "that the export did not stop after the header."
        )
    if as_written:
        return frame
    # Only a ;-delimited file says the decimal mark is a comma (Excel in e.g. German or
    # French); tab and | files come from every locale, so their values decide alone.
    return tidy(frame, decimal_comma=delimiter == ";")


def read_table(
    source: bytes | str | os.PathLike,
    *,
    max_bytes: int | None = MAX_UPLOAD_BYTES,
    max_columns: int | None = MAX_COLUMNS,
    as_written: bool = False,
) -> pd.DataFrame:
    """A CSV or a Parquet file, told apart by its first bytes (not its name), read by the
    same column rules (``parquet_reading``); the arguments are ``read_csv``'s."""
    if not is_parquet(source):
        return read_csv(source, max_bytes=max_bytes, max_columns=max_columns, as_written=as_written)
    if isinstance(source, bytes | bytearray | memoryview):
        check_size(len(source), max_bytes)
    else:
        check_size(os.path.getsize(os.fspath(source)), max_bytes)
    return read_parquet(
        source, as_written=as_written, check_header=lambda names: check_header(names, max_columns)
    )


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


_DELIMITER_HINT = (
    " If the file has more columns, it may use an unusual delimiter: save it again "
    "with commas, semicolons, tabs or | between values."
)


def check_header(
    header: list[str], max_columns: int | None = MAX_COLUMNS, *, one_column_hint: str = ""
) -> None:
    """Raise ``DataError`` unless ``header`` names two columns or more, at most
    ``max_columns``, each once: checked before any row is read, whatever the format."""
    if len(header) < 2:
        raise DataError(
            f'The table has only one column ("{shorten(header[0] if header else "", 60)}"). '
            "Expected at least two columns: one or more features and a target to predict."
            + one_column_hint
        )
    check_columns(len(header), max_columns)
    _refuse_duplicate_names(header)


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
    if head.startswith(PARQUET_MAGIC):  # read_table reads it
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
            f'The file is a web page (HTML), not CSV: it starts with "{shorten(start, 20)}". '
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


def _parse(text: str, delimiter: str, header: list[str], as_written: bool = False) -> pd.DataFrame:
    cells = (
        {"dtype": str, "na_filter": False} if as_written else {"na_values": list(MISSING_VALUES)}
    )
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
                skipinitialspace=True,
                **cells,
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

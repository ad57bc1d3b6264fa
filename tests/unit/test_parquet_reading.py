"""Parquet files are read by the same column rules as CSV: the same table, written either way,
reads the same; a damaged one is refused plainly; the CLI trains on one and scores one."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.errors import DataError
from layerlab.tabular.reading import read_csv, read_table

IRIS = Path(__file__).resolve().parents[2] / "data" / "iris.csv"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def twice_named() -> bytes:
    """A Parquet file whose two columns share a name (pyarrow writes it; pandas would not)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["x", "x"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def messy_table() -> pd.DataFrame:
    rows = 12
    return pd.DataFrame(
        {
            " age ": [20, 31, None, 45, 52, 38, 27, 61, 33, 40, 29, 55],  # gaps: float
            "visits": np.arange(rows),  # whole numbers: int
            "plan": pd.Categorical(["basic", "pro", "Pro ", "basic"] * 3),
            "answer": [" yes", "No", "NA", None, "yes", "no"] * 2,
            "spend": ["$1,200", "$80", "", "$3", "$15", "$9"] * 2,
            "joined": pd.to_datetime(["2024-01-05", "2023-11-30", None] * 4),
            "active": [True, False, True] * 4,
        }
    )


def test_a_parquet_table_reads_as_the_same_table_written_as_csv():
    frame = messy_table()
    as_csv = frame.assign(joined=frame["joined"].dt.strftime("%Y-%m-%d"))
    from_csv = read_csv(as_csv.to_csv(index=False).encode())
    from_parquet = read_table(parquet_bytes(frame))
    assert list(from_parquet.columns) == list(from_csv.columns)  # names stripped, date parts
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False)
    assert from_parquet.attrs.get("reading_notes") == from_csv.attrs.get("reading_notes")


def test_a_csv_is_still_a_csv_and_the_upload_limit_counts_parquet_bytes():
    assert read_table(IRIS.read_bytes()).equals(read_csv(IRIS))
    data = parquet_bytes(read_csv(IRIS))
    with pytest.raises(DataError, match="over the"):
        read_table(data, max_bytes=len(data) - 1)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (lambda: parquet_bytes(pd.DataFrame({"only": [1, 2]})), "only one column"),
        (lambda: parquet_bytes(pd.DataFrame({"a": [], "b": []})), "no rows"),
        (lambda: parquet_bytes(read_csv(IRIS))[:-40], "could not be read"),
        (lambda: twice_named(), "duplicate column names"),  # the CSV reader's own check
    ],
)
def test_a_parquet_file_that_cannot_be_a_table_says_why(data, said):
    with pytest.raises(DataError, match=said):
        read_table(data())


def test_the_cli_trains_on_parquet_and_scores_parquet(tmp_path, capsys):
    from layerlab.cli.main import main

    table = tmp_path / "iris.parquet"
    table.write_bytes(parquet_bytes(read_csv(IRIS)))
    out = tmp_path / "bundle"
    argv = ["train", str(table), "--target", "species", "--epochs", "2", "--no-refit"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert main(["predict", str(out), str(table), "--out", str(tmp_path / "p.csv")]) == 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert len(predictions) == 150 and "prediction" in predictions.columns

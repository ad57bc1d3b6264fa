"""What spreadsheets really write, read as a person means it: numbers, dates and categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.errors import DataError
from layerlab.tabular.dates import date_part_source
from layerlab.tabular.model_io import missing_columns_message
from layerlab.tabular.reading import MAX_COLUMNS, read_csv
from layerlab.tabular.values import (
    as_category_keys,
    as_numeric,
    category_key,
    class_indices,
    parse_numbers,
)
from layerlab.tabular.writing import spreadsheet_safe_text, write_csv

# --------------------------------------------------------------------------- numbers


def test_currency_percent_and_thousands_are_read_as_numbers():
    df = read_csv(
        b'price,rate,quantity,loss\n"$10,200",12%,"1,000",(1234)\n$5,3.5%,20,-3\n'
        b'"USD 1,200.50",-1%,"2,500","(5)"\n\xe2\x82\xac7,0%,3,7\n'
    )
    assert df["price"].tolist() == [10200.0, 5.0, 1200.5, 7.0]
    assert df["rate"].tolist() == [12.0, 3.5, -1.0, 0.0]  # "12%" is 12, as the sheet shows it
    assert df["quantity"].tolist() == [1000.0, 20.0, 2500.0, 3.0]
    assert df["loss"].tolist() == [-1234.0, -3.0, -5.0, 7.0]  # parentheses are negative
    notes = df.attrs["reading_notes"]
    assert notes["price"] == 'Read as numbers from spreadsheet text (e.g. "$10,200" is 10,200).'


def test_decimal_comma_files_read_thousands_dots_and_comma_decimals():
    text = 'amount;city\n"1.234,5";Bonn\n"2,25";Köln\n"1.000";Bonn\n"12 345,75 €";Köln\n'
    df = read_csv(text.encode("utf-8"))
    assert df["amount"].tolist() == [1234.5, 2.25, 1000.0, 12345.75]


def test_a_lone_thousands_comma_in_a_comma_file_is_a_thousand():
    df = read_csv(b'price,city\n"1,000",Bonn\n"2,500",Paris\n')
    assert df["price"].tolist() == [1000.0, 2500.0]


@pytest.mark.parametrize(
    "values",
    [
        ["A-12", "B-7", "C-1"],  # product codes
        ["1.2.3", "2.0.1", "10.4.4"],  # versions
        ["12 apples", "3 pears", "1 fig"],  # words
        ["1-2", "3-4", "5-6"],  # ranges
    ],
)
def test_codes_and_words_that_hold_digits_stay_text(values):
    df = read_csv(("code,y\n" + "\n".join(f"{value},1" for value in values) + "\n").encode())
    assert df["code"].tolist() == values


def test_a_mostly_spreadsheet_column_keeps_its_text_but_the_model_reads_its_numbers():
    df = read_csv(b'price,y\n"$1,200",1\n$5,2\nask us,3\n')
    assert df["price"].tolist() == ["$1,200", "$5", "ask us"]
    np.testing.assert_array_equal(as_numeric(df["price"]), [1200.0, 5.0, np.nan])


def test_parse_numbers_leaves_plain_numbers_and_missing_alone():
    values = pd.Series(["1e3", " 2.5 ", None, "NA", "-4", "inf"], dtype=object)
    np.testing.assert_array_equal(
        parse_numbers(values), [1000.0, 2.5, np.nan, np.nan, -4.0, np.inf]
    )


# --------------------------------------------------------------------------- dates


def test_a_date_column_gains_its_parts_after_it():
    df = read_csv(b"signup,plan\n2024-03-01,a\n2024-03-15,b\n2025-01-01,a\n")
    assert list(df.columns) == [
        "signup",
        "signup (year)",
        "signup (month)",
        "signup (day of week)",
        "signup (day of year)",
        "signup (days since 1970)",
        "plan",
    ]
    assert df["signup (year)"].tolist() == [2024, 2024, 2025]
    assert df["signup (month)"].tolist() == [3, 3, 1]
    assert df["signup (day of week)"].tolist() == [4, 4, 2]  # Monday is 0
    assert df["signup (days since 1970)"].tolist() == [19783, 19797, 20089]
    assert date_part_source("signup (year)") == "signup"
    assert date_part_source("signup") is None
    assert "parts instead" in df.attrs["reading_notes"]["signup"]


def test_times_of_day_add_an_hour_part():
    df = read_csv(b"at,y\n2024-03-01 10:30,1\n2024-03-01T22:00:00Z,2\n2024-03-02,3\n")
    assert df["at (hour)"].tolist() == [10.5, 22.0, 0.0]


def test_a_day_over_twelve_says_the_day_comes_first():
    df = read_csv(b"d,y\n13/03/2024,1\n01/04/2024,2\n")
    assert df["d (month)"].tolist() == [3, 4]


def test_numbers_are_not_dates():
    df = read_csv(b"n,y\n20240301,1\n20240302,2\n")
    assert list(df.columns) == ["n", "y"]


# --------------------------------------------------------------------------- categories


def test_categories_that_differ_only_in_case_or_spaces_are_one():
    df = read_csv(b"dept,y\nSales,1\nsales,2\n SALES ,3\nMarketing,4\nSales,5\n")
    assert df["dept"].tolist() == ["Sales", "Sales", "Sales", "Marketing", "Sales"]
    note = df.attrs["reading_notes"]["dept"]
    assert note.startswith("Values that differ only in letter case or spaces are one category")
    assert '"Sales"' in note and '"sales"' in note


def test_the_model_reads_categories_case_blind_even_in_a_new_file():
    assert category_key("  Sales  Team ") == category_key("SALES team") == "sales team"
    assert category_key(3.0) == "3"
    keys = as_category_keys(pd.Series(["Café", "CAFÉ", None], dtype=object))
    assert keys.tolist() == ["café", "café", ""]


# --------------------------------------------------------------------------- limits


def test_a_table_wider_than_the_column_limit_is_refused_before_any_row_is_parsed():
    # 400,000 columns in under 2 MB: the header alone declares them.
    header = ",".join(f"c{i}" for i in range(400_000)).encode()
    row = b"," * 399_999
    with pytest.raises(DataError) as refused:
        read_csv(header + b"\n" + row + b"\n" + row + b"\n")
    message = str(refused.value)
    assert "400,000 columns" in message
    assert f"{MAX_COLUMNS:,}" in message
    assert "Keep only the columns you need" in message


def test_a_table_at_the_column_limit_is_read_and_the_limit_can_be_lifted():
    names = [f"c{i}" for i in range(MAX_COLUMNS)]
    text = (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode()
    assert read_csv(text).shape == (1, MAX_COLUMNS)
    wider = ",".join([*names, "extra"]) + "\n" + ",".join("1" for _ in range(MAX_COLUMNS + 1))
    with pytest.raises(DataError):
        read_csv(wider.encode())
    assert read_csv(wider.encode(), max_columns=None).shape == (1, MAX_COLUMNS + 1)


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("text", ["=1+1", "@SUM(A1)", "+cmd", "-2+3", "\tx", "\rx"])
def test_formula_text_is_written_with_a_leading_quote(text):
    assert spreadsheet_safe_text(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    [
        "\uff1d1+1",  # full-width equals sign, read as "=" by spreadsheets
        "\uff0bcmd",
        "\uff0d2+3",
        "\uff20SUM(A1)",
        "\u200b=1+1",  # a zero-width space first
        "\u00a0=1+1",  # a no-break space first
        "\ufeff@SUM(A1)",
        "\u200b\u00a0\uff1dHYPERLINK(1)",
    ],
)
def test_formula_text_behind_look_alike_or_invisible_characters_is_quoted_too(text):
    assert spreadsheet_safe_text(text) == "'" + text


@pytest.mark.parametrize(
    "text", ["-5", "+3.5", "-1e3", "plain", "a=b", "", "\u00a0plain", "x\uff1d"]
)
def test_numbers_and_harmless_text_are_written_as_they_are(text):
    assert spreadsheet_safe_text(text) == text


def test_written_csv_keeps_numbers_numbers_and_quotes_formulas():
    frame = pd.DataFrame(
        {"prediction": ["=1+1", "ok", "-5"], "probability_=1+1": [0.25, -0.5, 1.0]}
    )
    text = write_csv(frame)
    assert text.splitlines() == [
        "prediction,probability_=1+1",
        "'=1+1,0.25",
        "ok,-0.5",
        "-5,1.0",
    ]
    assert "'=" in write_csv(pd.DataFrame({"=cmd": [1]})).splitlines()[0]


# --------------------------------------------------------------------------- scoring


def test_a_missing_date_column_is_named_as_the_date_not_its_parts():
    message = missing_columns_message(
        pd.DataFrame({"plan": ["a"]}), ["signup (year)", "signup (month)", "plan"]
    )
    assert message.startswith('The file is missing 1 column(s) the model needs: "signup" (a date).')


def test_a_date_column_that_no_longer_reads_as_dates_is_explained():
    message = missing_columns_message(
        pd.DataFrame({"signup": ["soon"], "plan": ["a"]}), ["signup (year)", "plan"]
    )
    assert 'Column "signup" is there, but its values could not be read as dates' in message


def test_class_indices_read_labels_as_the_classes_were_named():
    labels = pd.Series([1.0, 2.0, np.nan, 1.0], dtype=object).iloc[[0, 1, 3]]
    assert class_indices(labels, ("1", "2")).tolist() == [0, 1, 0]
    assert class_indices(pd.Series([" yes", "no "]), ["no", "yes"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match='"maybe" is not one of the classes'):
        class_indices(pd.Series(["yes", "maybe"]), ["no", "yes"])

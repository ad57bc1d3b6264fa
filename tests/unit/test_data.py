"""Reading uploads and profiling columns, told as what a person uploads and sees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.errors import DataError, LayerlabError
from layerlab.tabular.data import (
    COLUMN_KINDS,
    ColumnProfile,
    class_balance,
    profile_columns,
    profiles_frame,
)
from layerlab.tabular.reading import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB, check_size, read_csv
from layerlab.tabular.values import as_category_text, as_numeric, category_text

# --------------------------------------------------------------------------- files people upload


def test_comma_file_reads_with_numeric_columns():
    df = read_csv(b"height,weight,name\n1.5,60,ann\n1.8,80,bob\n")
    assert list(df.columns) == ["height", "weight", "name"]
    assert df["height"].dtype == np.float64
    assert df["weight"].dtype == np.int64
    assert df["name"].tolist() == ["ann", "bob"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_sniffed(delimiter):
    text = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "x", "2.5"]) + "\n"
    df = read_csv(text.encode())
    assert list(df.columns) == ["a", "b", "c"]
    assert df.iloc[0].tolist() == [1, "x", 2.5]


def test_semicolon_file_with_decimal_commas_reads_numbers():
    df = read_csv(b"length;width\n1,5;2\n2,25;3\n")
    assert df["length"].tolist() == [1.5, 2.25]


def test_path_is_read_like_bytes(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert read_csv(path).shape == (1, 2)
    assert read_csv(str(path)).shape == (1, 2)


def test_missing_path_says_so(tmp_path):
    with pytest.raises(DataError, match="There is no file at"):
        read_csv(tmp_path / "nope.csv")


def test_utf8_bom_is_not_part_of_the_first_name():
    df = read_csv("\ufeffcity,price\ncafé,2\nbar,3\n".encode())
    assert list(df.columns) == ["city", "price"]
    assert df["city"].tolist() == ["café", "bar"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_or_without_bom(encoding):
    df = read_csv("city,price\ncafé,2\nbar,3\n".encode(encoding))
    assert list(df.columns) == ["city", "price"]
    assert df["city"].tolist() == ["café", "bar"]


def test_windows_latin_file_falls_back_to_cp1252():
    df = read_csv("city,price\ncafé,2\n€uro,3\n".encode("cp1252"))
    assert df["city"].tolist() == ["café", "€uro"]


def test_quoted_fields_keep_commas_and_line_breaks():
    df = read_csv(b'note,score\n"hello, world",1\n"two\nlines",2\n')
    assert df["note"].tolist() == ["hello, world", "two\nlines"]
    assert df["score"].tolist() == [1, 2]


def test_missing_markers_become_missing():
    markers = ["", "NA", "N/A", "null", "?", "-", "NaN", " NA "]
    text = "value,other\n" + "".join(f"{marker},{i}\n" for i, marker in enumerate(markers))
    df = read_csv(text.encode() + b"5,9\n")
    assert df["value"].isna().sum() == len(markers)
    assert df["value"].dtype == np.float64
    assert df["value"].iloc[-1] == 5


def test_whitespace_is_stripped_from_headers_and_cells():
    df = read_csv(b" colour , size \n red ,1\nred,2\n blue,3\n")
    assert list(df.columns) == ["colour", "size"]
    assert df["colour"].tolist() == ["red", "red", "blue"]


def test_true_false_column_reads_as_booleans():
    df = read_csv(b"flag,x\ntrue,1\nfalse,2\n")
    assert df["flag"].tolist() == [True, False]


def test_short_rows_are_padded_with_missing():
    df = read_csv(b"a,b,c\n1,2,3\n4,5\n")
    assert np.isnan(df["c"].iloc[1])


# --------------------------------------------------------------------------- files that are refused


def test_empty_file_is_refused():
    with pytest.raises(DataError, match="The file is empty"):
        read_csv(b"")
    with pytest.raises(DataError, match="The file is empty"):
        read_csv(b"\n \r\n")


def test_header_without_rows_is_refused():
    with pytest.raises(DataError, match=r"header row \(a, b\) but no data rows"):
        read_csv(b"a,b\n")


def test_single_column_is_refused_with_delimiter_hint():
    with pytest.raises(DataError, match="only one column") as caught:
        read_csv(b"a:b:c\n1:2:3\n")
    assert "at least two columns" in str(caught.value)
    assert "delimiter" in str(caught.value)


def test_binary_content_is_refused():
    with pytest.raises(DataError, match="does not look like text"):
        read_csv(bytes(range(256)) * 4)


@pytest.mark.parametrize(
    "head",
    [b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"],
)
def test_excel_file_named_csv_is_refused_with_export_steps(head):
    with pytest.raises(DataError, match="Excel workbook") as caught:
        read_csv(head + b"\x00" * 64)
    assert "File > Save As > CSV" in str(caught.value)


@pytest.mark.parametrize("content", [b'{"a": 1, "b": 2}', b'  [{"a": 1}, {"a": 2}]'])
def test_json_is_refused(content):
    with pytest.raises(DataError, match="JSON, not CSV"):
        read_csv(content)


def test_header_starting_with_bracket_is_not_json():
    assert list(read_csv(b"[id],name\n1,a\n").columns) == ["[id]", "name"]


@pytest.mark.parametrize(
    "content",
    [b"<!DOCTYPE html>\n<html><body></body></html>", b"<html>", b"<table><tr><td>1</td></tr>"],
)
def test_saved_web_page_is_refused(content):
    with pytest.raises(DataError, match=r"web page \(HTML\)"):
        read_csv(content)


def test_duplicate_column_names_are_named():
    with pytest.raises(DataError, match=r'duplicate column names: "age" \(columns 1, 3\)'):
        read_csv(b"age,name, age\n1,a,2\n")


def test_row_with_extra_values_names_its_line():
    with pytest.raises(DataError, match="Line 3 has 3 values but the header has 2 columns"):
        read_csv(b"a,b\n1,2\n3,4,5\n6,7\n")


def test_every_row_with_an_extra_value_is_refused_not_shifted():
    with pytest.raises(DataError, match="Line 2 has 3 values"):
        read_csv(b"a,b\n1,2,3\n4,5,6\n")


def test_file_over_the_limit_says_size_and_limit(tmp_path):
    content = b"a,b\n" + b"1,2\n" * 300_000
    message = (
        r"The file is 1\.2 MB \(1,200,004 bytes\), which is over the 1 MB limit "
        r"\(1,000,000 bytes\)\. Expected a CSV file of at most 1 MB\."
    )
    with pytest.raises(DataError, match=message):
        read_csv(content, max_bytes=1_000_000)
    path = tmp_path / "big.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_csv(path, max_bytes=1_000_000)


def test_default_limit_is_the_upload_limit_in_the_uploaders_megabytes():
    # Streamlit's browser uploader counts max_upload_size=50 as 50,000,000 bytes (on
    # every platform but Windows) and shows it as "50MB per file": the same limit here.
    assert MAX_UPLOAD_MB == 50
    assert MAX_UPLOAD_BYTES == 50_000_000


def test_a_file_of_exactly_the_upload_limit_is_accepted_and_one_byte_more_refused():
    check_size(MAX_UPLOAD_BYTES)
    check_size(int(47.5 * 1024 * 1024))  # 49.8 MB
    with pytest.raises(
        DataError,
        match=r"The file is 50\.0 MB \(50,000,001 bytes\), which is over the 50 MB limit "
        r"\(50,000,000 bytes\)",
    ):
        check_size(MAX_UPLOAD_BYTES + 1)
    # 49.5 MiB is 51.9 MB, so the uploader already refuses it: the message counts alike.
    with pytest.raises(DataError, match=r"The file is 51\.9 MB \(51,904,512 bytes\)"):
        read_csv(bytes(int(49.5 * 1024 * 1024)))


def test_upload_of_the_limit_is_read_without_a_size_error():
    row = b"1,2,3,4,5,6,7,8,9\n"
    content = b"a,b,c,d,e,f,g,h,i\n" + row * (MAX_UPLOAD_BYTES // len(row) - 1)
    assert MAX_UPLOAD_BYTES - len(row) < len(content) <= MAX_UPLOAD_BYTES
    assert len(read_csv(content)) == MAX_UPLOAD_BYTES // len(row) - 1


def test_header_longer_than_the_sniffed_sample_is_read_whole():
    # 11,000 columns make a header line of about 70 KB, more than the first 64 KiB
    # that are sniffed for the delimiter; a cut header ended in half a name ("c10950"
    # read as "c10" here), which was then called a duplicate.
    names = ["id"] + [f"c{number}" for number in range(1, 11_000)]
    header = ",".join(names).encode()
    assert len(header) > 64 * 1024
    content = header + b"\n" + b",".join([b"1"] * 11_000) + b"\n"
    frame = read_csv(content, max_columns=None)  # the app's column limit is tested elsewhere
    assert list(frame.columns) == names
    assert frame.shape == (1, 11_000)
    # Also when the rows after the header are long too, and with another delimiter.
    rows = b"\n".join(b";".join([b"2.5"] * 11_000) for _ in range(3))
    frame = read_csv(header.replace(b",", b";") + b"\n" + rows + b"\n", max_columns=None)
    assert list(frame.columns) == names and frame.shape == (3, 11_000)


def test_refusals_are_layerlab_errors():
    assert issubclass(DataError, LayerlabError)


# --------------------------------------------------------------------------- category text


def test_whole_numbers_give_one_category_whatever_their_type():
    assert category_text(3) == category_text(3.0) == category_text(np.int64(3)) == "3"
    assert category_text(np.float32(3.0)) == "3"


def test_category_text_of_other_values():
    assert category_text(2.5) == "2.5"
    assert category_text(True) == "true"
    assert category_text(np.bool_(False)) == "false"
    assert category_text(" red ") == "red"
    for missing in (None, np.nan, pd.NA, pd.NaT, float("nan")):
        assert category_text(missing) == ""


def test_float_column_with_missing_gives_same_categories_as_int_column():
    with_gap = as_category_text(pd.Series([3.0, np.nan, 4.0]))
    whole = as_category_text(pd.Series([3, 4]))
    assert with_gap.dtype == object
    assert with_gap.tolist() == ["3", "", "4"]
    assert whole.tolist() == ["3", "4"]
    assert as_category_text(pd.Series([True, None], dtype="boolean")).tolist() == ["true", ""]


def test_as_numeric_reads_bools_strings_and_missing():
    assert as_numeric(pd.Series([True, False])).tolist() == [1.0, 0.0]
    parsed = as_numeric(pd.Series(["1.5", "x", None]))
    assert parsed.dtype == np.float32
    assert parsed[0] == 1.5
    assert np.isnan(parsed[1:]).all()
    assert np.isnan(as_numeric(pd.Series([1, None], dtype="Int64"))[1])


# --------------------------------------------------------------------------- profiles


@pytest.fixture
def people() -> pd.DataFrame:
    rows = 30
    rng = np.random.default_rng(0)
    species = rng.choice(["setosa", "virginica", "versicolor"], rows)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(rows)],
            "row_number": range(1, rows + 1),
            "height": rng.normal(170, 10, rows),
            "income": rng.integers(1_000, 100_000, rows),
            "country": ["NL"] * rows,
            "notes": [None] * 20 + ["late"] * 5 + ["early"] * 5,
            "colour": rng.choice(["red", "green", "blue"], rows),
            "member": rng.choice(["yes", "no"], rows),
            "joined": pd.date_range("2020-01-01", periods=rows).astype(str),
            "species_code": pd.Series(species).map({"setosa": 0, "virginica": 1, "versicolor": 2}),
            "species_again": species,
            "species": species,
        }
    )


def by_name(profiles: list[ColumnProfile]) -> dict[str, ColumnProfile]:
    return {profile.name: profile for profile in profiles}


def test_profile_suggests_a_role_for_every_column(people):
    profiles = by_name(profile_columns(people, target_column="species"))

    assert profiles["species"].role == "target"
    assert profiles["species"].reason == "The column to predict."
    assert profiles["customer_id"].role == "ignore"
    assert "ID" in profiles["customer_id"].reason
    assert profiles["row_number"].role == "ignore"
    assert profiles["country"].kind == "constant"
    assert profiles["country"].reason == "Same value in every row."
    assert profiles["notes"].reason == "67% of values are missing."
    assert profiles["joined"].kind == "datetime"
    assert "uses their parts" in profiles["joined"].reason
    assert profiles["species_again"].reason.startswith("Copy of the target column")
    assert "relabelling" in profiles["species_code"].reason
    assert profiles["species_code"].role == "ignore"


def test_profile_keeps_useful_features(people):
    profiles = by_name(profile_columns(people, target_column="species"))

    assert (profiles["height"].kind, profiles["height"].role) == ("numeric", "feature")
    # All different whole numbers are not an ID unless named or counted like one.
    assert (profiles["income"].kind, profiles["income"].role) == ("numeric", "feature")
    assert profiles["colour"].kind == "categorical"
    assert profiles["colour"].reason == "Categorical feature with 3 values."
    assert profiles["colour"].model_kind == "categorical"
    assert profiles["member"].kind == "boolean"
    assert profiles["member"].role == "feature"
    assert profiles["joined"].model_kind is None


def test_profile_counts_and_examples(people):
    notes = by_name(profile_columns(people))["notes"]
    assert (notes.missing, notes.distinct) == (20, 2)
    assert notes.examples == ("late", "early")
    assert all(profile.kind in COLUMN_KINDS for profile in profile_columns(people))


def test_mostly_numeric_strings_are_numeric():
    df = pd.DataFrame({"amount": [f"{i % 7}.5" for i in range(40)] + ["unknown"], "y": 1})
    amount = by_name(profile_columns(df))["amount"]
    assert amount.kind == "numeric"
    assert "1 value is not a number" in amount.reason


def test_zero_one_and_true_false_columns_are_boolean():
    df = pd.DataFrame({"a": [0, 1, 1, np.nan], "b": [True, False, True, False], "c": list("TFTF")})
    assert {profile.kind for profile in profile_columns(df)} == {"boolean"}


def test_a_small_table_that_maps_one_to_one_to_a_number_is_not_a_leak():
    # The celsius sample (40 rows) is exact by design; tests/unit/test_leaks.py has larger ones.
    celsius = np.linspace(-40, 100, 40)
    df = pd.DataFrame({"celsius": celsius, "fahrenheit": celsius * 1.8 + 32})
    assert by_name(profile_columns(df, "fahrenheit"))["celsius"].role == "feature"


# --------------------------------------------------------------------------- IDs and row labels

ID_ROWS = 60


def with_column(name: str, values) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({name: values, "y": rng.normal(size=len(values))})


def reason_for(name: str, values) -> ColumnProfile:
    return by_name(profile_columns(with_column(name, values), "y"))[name]


def test_row_names_in_text_order_are_a_row_label():
    # R's row names of a table sorted as text: 1, 10, 100, 1000, 1001, ..., 2, 20, ...
    rownames = sorted(range(1, 3001), key=str)
    profile = reason_for("rownames", rownames)
    assert profile.role == "ignore"
    assert profile.reason == (
        'Looks like a row label: its name is "rownames" and every value is different.'
    )


@pytest.mark.parametrize("name", ["Unnamed: 0", "unnamed_1", "index", "row", "row.names", "obs"])
def test_names_tools_write_for_row_numbers_are_row_labels(name):
    shuffled = np.random.default_rng(1).permutation(np.arange(5, 5 + ID_ROWS * 3, 3))
    assert reason_for(name, shuffled).reason.startswith("Looks like a row label")


@pytest.mark.parametrize("name", ["customer_id", "ID", "id2", "CustomerID", "order key"])
def test_id_names_are_ids(name):
    codes = np.random.default_rng(2).choice(90_000, ID_ROWS, replace=False) + 10_000
    assert reason_for(name, codes).reason == (
        f'Looks like an ID: its name is "{name}" and every value is different.'
    )


def test_a_nearly_unique_id_with_a_few_repeats_is_still_an_id():
    ids = [f"C{i:04d}" for i in range(ID_ROWS)]
    ids[1] = ids[2] = ids[0]
    profile = reason_for("customer", ids)
    assert profile.reason == "Looks like an ID: 58 of its 60 values are different."


def test_shuffled_whole_numbers_from_one_to_n_are_row_numbers():
    numbers = np.random.default_rng(3).permutation(np.arange(1, ID_ROWS + 1))
    assert reason_for("case", numbers).reason == (
        "Looks like a row number: every value is different and they are nearly all the whole "
        "numbers from 1 to 60."
    )


def test_counting_up_by_one_is_a_row_number():
    assert reason_for("seq", range(101, 101 + ID_ROWS)).reason == (
        "Looks like a row number: every value is different and they count up by one."
    )


def test_all_different_incomes_are_a_measurement_not_an_id():
    incomes = np.random.default_rng(4).choice(200_000, ID_ROWS, replace=False) + 10_000
    assert reason_for("income", incomes).role == "feature"
    # Spread-out whole numbers under a name that says nothing are measurements too.
    assert reason_for("x7", incomes).role == "feature"


def test_quantity_names_keep_counting_numbers_as_features():
    assert reason_for("year", range(1950, 1950 + ID_ROWS)).role == "feature"
    assert reason_for("age_years", np.random.default_rng(5).permutation(ID_ROWS) + 20).role == (
        "feature"
    )


def test_numbers_with_fractions_are_never_ids_whatever_their_name():
    assert reason_for("id_score", np.random.default_rng(6).normal(size=ID_ROWS)).role == "feature"


def test_date_parts_are_never_ids():
    assert reason_for("signup (days since 1970)", range(18_000, 18_000 + ID_ROWS)).role == (
        "feature"
    )
    assert reason_for("signup (year)", range(1950, 1950 + ID_ROWS)).role == "feature"


def test_a_short_column_is_not_judged_an_id():
    assert reason_for("row", range(10)).role == "feature"


def test_a_store_number_that_repeats_is_a_feature():
    stores = np.random.default_rng(7).integers(1, 30, ID_ROWS)
    assert reason_for("store_id", stores).role == "feature"


# --------------------------------------------------------------------------- class balance


def test_a_rare_class_is_imbalanced():
    balance = class_balance(pd.Series(["no"] * 97 + ["yes"] * 3 + [None] * 5))
    assert (balance.rarest, balance.commonest) == ("yes", "no")
    assert balance.rarest_share == pytest.approx(0.03)
    assert balance.commonest_share == pytest.approx(0.97)
    assert balance.imbalanced


def test_a_fair_split_is_balanced():
    assert not class_balance(pd.Series(["a"] * 75 + ["b"] * 25)).imbalanced
    assert class_balance(pd.Series(["a"] * 81 + ["b"] * 19)).imbalanced


def test_many_even_classes_are_not_imbalanced_but_a_rare_one_among_them_is():
    even = pd.Series([f"digit {i % 10}" for i in range(1000)])
    assert not class_balance(even).imbalanced
    uneven = pd.Series([f"digit {i % 9}" for i in range(970)] + ["digit 9"] * 30)
    assert class_balance(uneven).imbalanced


def test_one_class_has_no_balance():
    assert class_balance(pd.Series(["a", "a", None])) is None


def test_profiles_frame_has_display_columns(people):
    frame = profiles_frame(profile_columns(people, "species"))
    assert list(frame.columns) == [
        "Column",
        "Kind",
        "Missing",
        "Distinct",
        "Examples",
        "Suggestion",
        "Reason",
    ]
    assert len(frame) == len(people.columns)


def test_the_profile_says_how_a_column_was_read():
    from layerlab.tabular.reading import read_csv

    rows = "".join(
        f'"${1000 + 37 * i:,}",2024-01-{1 + i % 28:02d},{"Sales" if i % 3 else "sales"},{i % 2}\n'
        for i in range(30)
    )
    frame = read_csv(("price,signup,dept,y\n" + rows).encode())
    profiles = {profile.name: profile for profile in profile_columns(frame, "y")}
    assert profiles["price"].role == "feature"
    assert profiles["price"].reason.startswith("Numeric feature. Read as numbers from spreadsheet")
    assert profiles["signup"].role == "ignore"
    assert '"signup (year)"' in profiles["signup"].reason
    assert profiles["signup (days since 1970)"].role == "feature"
    assert profiles["signup (days since 1970)"].reason.endswith(
        'A part of the date column "signup".'
    )
    assert "differ only in letter case" in profiles["dept"].reason


def test_on_and_off_is_a_yes_no_column():
    frame = pd.DataFrame({"heating": ["on", "off"] * 15, "y": [1.0, 2.0] * 15})
    assert profile_columns(frame, "y")[0].kind == "boolean"

"""Scoring a file of new rows: what is refused, by column, and what is read as missing."""

from __future__ import annotations

import pandas as pd
import pytest

from layerlab.model.scoring import score
from layerlab.model.scoring import unseen_categories as unseen_categories_of_model
from layerlab.schema.errors import SchemaError
from layerlab.tabular.model_io import (
    known_categories,
    scored_table,
    unseen_categories_messages,
)
from layerlab.tabular.predict import non_number_message, unseen_categories
from layerlab.tabular.reading import read_csv

SCORED_COLUMNS = (
    "age,region,contract,tenure_months,monthly_charges,support_calls,payment_method,"
    "paperless_billing\n"
)


def rows_to_score(*rows: str) -> pd.DataFrame:
    """A file to score as a person uploads it: the churn model's columns, then ``rows``."""
    return read_csv((SCORED_COLUMNS + "\n".join(rows) + "\n").encode())


def score_churn(churn_result, frame: pd.DataFrame) -> pd.DataFrame:
    return score(churn_result.built.model, churn_result.spec, churn_result.classes, frame)


def test_text_and_huge_numbers_in_numeric_columns_are_refused_by_column(churn_result):
    frame = rows_to_score(
        "abc,east,month-to-month,31,33.32,0,credit card,yes",
        "forty,west,one year,1e999,84.9,1,bank transfer,no",
        "abc,west,one year,12,84.9,1,bank transfer,no",
        "52,west,one year,12,84.9,twelve,bank transfer,no",
        "thirty three,west,one year,12,84.9,1,bank transfer,no",
    )
    with pytest.raises(SchemaError) as caught:
        score_churn(churn_result, frame)
    message = str(caught.value)
    assert 'Column "age" (numeric): 4 values are not numbers, e.g. "abc", "forty", ' in message
    assert '"thirty three".' in message  # three examples, each once
    assert 'Column "tenure_months" (numeric): 1 value is too large for the model' in message
    assert 'Column "support_calls" (numeric): 1 value is not a number, e.g. "twelve".' in message
    assert "monthly_charges" not in message
    assert "empty cells and missing markers such as NA are fine" in message
    assert "Correct these values, or empty their cells" in message


def test_empty_cells_and_missing_markers_still_score_as_missing(churn_result):
    frame = rows_to_score(
        ",east,month-to-month,31,33.32,0,credit card,yes",
        "NA,west,one year,?,84.9,-,bank transfer,no",
        "n/a,west,one year, NA ,null,#N/A,bank transfer,",
    )
    assert len(score_churn(churn_result, frame)) == 3


def test_numbers_written_as_text_booleans_and_gaps_are_numbers_or_missing():
    frame = pd.DataFrame(
        {
            "a": ["1", " 2.5 ", None, " NA ", "-3e2"],
            "b": [True, False, None, True, False],
            "c": [1.0, float("nan"), 3.4e38, -2.0, 0.0],
        }
    )
    assert non_number_message(frame, ["a", "b", "c"]) is None
    frame.loc[0, "c"] = float("inf")
    assert non_number_message(frame, ["a", "b", "c"]).startswith(
        'Column "c" (numeric): 1 value is too large for the model (over 3.4e38), e.g. "inf".'
    )


def test_long_values_are_shortened_in_the_message():
    frame = pd.DataFrame({"a": ["x" * 100, "1"]})
    assert f'e.g. "{"x" * 29}…".' in non_number_message(frame, ["a"])


# --------------------------------------------------------------------- what scoring tells

LOOKUPS = {
    "layers": [
        {"class_name": "InputLayer", "name": "island", "inbound_nodes": []},
        {
            "class_name": "StringLookup",
            "config": {"output_mode": "one_hot", "vocabulary": ["", "biscoe", "dream"]},
            "inbound_nodes": [{"args": [{"config": {"keras_history": ["island", 0, 0]}}]}],
        },
        {  # a yes/no column's lookup knows only its true words: never a vocabulary
            "class_name": "StringLookup",
            "config": {"output_mode": "multi_hot", "vocabulary": ["yes"]},
            "inbound_nodes": [{"args": [{"config": {"keras_history": ["member", 0, 0]}}]}],
        },
    ]
}
FEATURES = [("island", "categorical"), ("member", "boolean"), ("mass", "numeric")]


def test_known_categories_are_the_one_hot_vocabularies_by_column():
    assert known_categories(LOOKUPS, FEATURES) == {"island": frozenset({"", "biscoe", "dream"})}
    assert known_categories({}, FEATURES) == {}


def test_values_never_seen_in_training_get_one_warning_per_column_with_counts():
    frame = pd.DataFrame(
        {
            "island": ["Anvers", "Biscoe", " DREAM ", "Anvers", None, "Torgersen", "anvers"],
            "member": ["maybe"] * 7,
        }
    )
    [message] = unseen_categories_messages(frame, known_categories(LOOKUPS, FEATURES))
    assert message.startswith(
        'Column "island": 4 rows hold values the model never saw in training: '
        '"Anvers" (2 rows), "Torgersen" (1 row), "anvers" (1 row).'
    )
    assert "unknown category" in message
    seen = pd.DataFrame({"island": ["BISCOE", "dream", None]})
    assert unseen_categories_messages(seen, known_categories(LOOKUPS, FEATURES)) == []


def test_a_warning_names_a_few_values_and_counts_the_others():
    frame = pd.DataFrame({"island": [f"isle {n}" for n in range(6)]})
    [message] = unseen_categories_messages(frame, {"island": frozenset({"biscoe"})})
    assert "6 rows hold values" in message and "and 3 other values." in message


def test_predictions_come_first_then_the_kept_columns_as_written():
    written = read_csv(b"id,sex,price\n007,MALE,$10\n008,male, 3\n009,male,\n", as_written=True)
    predictions = pd.DataFrame({"prediction": ["a", "b", "a"], "probability_a": [0.9, 0.2, 0.7]})
    table = scored_table(predictions, written)
    assert list(table.columns) == ["prediction", "probability_a", "id", "sex", "price"]
    assert table["id"].tolist() == ["007", "008", "009"]
    assert table["sex"].tolist() == ["MALE", "male", "male"]  # tidied, the file says "male"
    assert table["price"].tolist() == ["$10", "3", ""]
    assert list(scored_table(predictions, written, ["id"]).columns) == [
        "prediction",
        "probability_a",
        "id",
    ]


def test_an_input_named_like_a_prediction_column_is_marked_and_a_missing_one_refused():
    written = pd.DataFrame({"x": ["1"], "prediction": ["old"]})
    predictions = pd.DataFrame({"prediction": ["new"]})
    table = scored_table(predictions, written)
    assert list(table.columns) == ["prediction", "x", "prediction (input)"]
    assert table.iloc[0].tolist() == ["new", "1", "old"]
    with pytest.raises(SchemaError, match="no column\\(s\\) 'id' to keep"):
        scored_table(predictions, written, ["id"])


def test_the_server_reads_the_same_vocabularies_from_the_model_file_as_keras(
    churn_result, tmp_path
):
    model = churn_result.built.model
    model.save(tmp_path / "model.keras")
    frame = rows_to_score(
        "40,antarctica,month-to-month,31,33.32,0,crypto,yes",
        "41,EAST,month-to-month,31,33.32,0,Credit Card,yes",
    )
    from_file = unseen_categories(frame, churn_result.spec, tmp_path / "model.keras")
    assert from_file == unseen_categories_of_model(model, churn_result.spec, frame)
    assert [message.split(":")[0] for message in from_file] == [
        'Column "region"',
        'Column "payment_method"',
    ]
    assert '"antarctica" (1 row)' in from_file[0]
    features = [(feature.name, feature.kind) for feature in churn_result.spec.features]
    assert known_categories(model.get_config(), features)["region"] >= {"east", "west"}
    assert unseen_categories(frame, churn_result.spec, tmp_path / "nothing.keras") == []

"""Scoring a file of new rows: what is refused, by column, and what is read as missing."""

from __future__ import annotations

import pandas as pd
import pytest

from layerlab.model.scoring import score
from layerlab.schema.errors import SchemaError
from layerlab.tabular.predict import non_number_message
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

"""Tables as a person reads them: blanks blank, percentages, years without separators."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from layerlab_app.frames import readable_frame


def shown(frame: pd.DataFrame, **options) -> pd.DataFrame:
    """Each cell's text as the browser gets it: the Styler's display value."""
    styler = readable_frame(frame, **options)
    styler._compute()
    texts = {
        (row, column): cell["display_value"]
        for row, cells in enumerate(styler._translate(False, False)["body"])
        for column, cell in enumerate(cell for cell in cells if cell["type"] == "td")
    }
    rows, columns = frame.shape
    return pd.DataFrame(
        [[texts[(row, column)] for column in range(columns)] for row in range(rows)],
        columns=frame.columns,
    )


def test_each_column_reads_as_what_it_holds():
    frame = pd.DataFrame(
        {
            "price": [4250.5, np.nan, 0.000123],
            "year": [2003, 2004, 2009],
            "customer_id": [100234, 100235, 100236],
            "count": [1152, 3, 1_000_000],
            "island": ["Biscoe", None, "Dream"],
            "probability_yes": [3e-11, 0.4567, 0.99996],
        }
    )
    text = shown(frame, probabilities=["probability_yes"])
    assert text["price"].tolist() == ["4,250.5", "", "0.000123"]
    assert text["year"].tolist() == ["2003", "2004", "2009"]
    assert text["customer_id"].tolist() == ["100234", "100235", "100236"]
    assert text["count"].tolist() == ["1,152", "3", "1,000,000"]
    assert text["island"].tolist() == ["Biscoe", "", "Dream"]
    assert text["probability_yes"].tolist() == ["< 0.1%", "45.7%", "> 99.9%"]


def test_columns_without_blanks_stay_numbers_so_they_sort_as_numbers():
    frame = pd.DataFrame({"count": [1152, 3], "share": [0.5, 0.25], "blank": [1.5, None]})
    data = readable_frame(frame).data
    assert data["count"].dtype.kind == "i" and data["share"].dtype.kind == "f"
    assert data["blank"].tolist() == ["1.5", ""]


def test_scores_round_to_the_digits_asked():
    frame = pd.DataFrame({"This network": [0.912345, np.nan]}, index=["Accuracy", "ROC AUC"])
    assert shown(frame, digits=3)["This network"].tolist() == ["0.912", ""]


@given(st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1))
def test_no_cell_reads_none_nan_or_e_notation(values):
    text = shown(pd.DataFrame({"value": values}))["value"]
    for cell in text:
        assert cell.lower() not in {"none", "nan"}
        assert "e+" not in cell and "e-" not in cell

"""Every CSV the app hands out opens safely in a spreadsheet: labels that look like formulas are quoted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from app_support import seed_trained, session_of, small_network, train
from streamlit.runtime.memory_media_file_storage import _calculate_file_id

from layerlab.tabular.writing import csv_bytes

FORMULAS = ["=1+1", "@SUM(A1)"]


@pytest.fixture(scope="module")
def trained_formulas():
    """Class labels a spreadsheet would run: a file's own data can hold them."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=120)})
    frame["label"] = np.where(x > 0, FORMULAS[0], FORMULAS[1])
    return train(frame, "label", layers=small_network(), epochs=3, batch_size=16)


def open_results(at, trained):
    seed_trained(at, trained)
    return at.switch_page("app_pages/results.py").run()


def starts_a_formula(csv_text: str) -> list[str]:
    cells = [cell for line in csv_text.splitlines() for cell in line.split(",")]
    return [cell for cell in cells if cell.startswith(("=", "@", "+"))]


def test_test_predictions_and_history_downloads_quote_formula_labels(app, trained_formulas):
    at = open_results(app, trained_formulas)
    assert not at.exception
    files = session_of(at).caches[session_of(at).open_run]["downloads"]
    predictions = files["predictions"].decode()
    assert "'=1+1" in predictions and "'@SUM(A1)" in predictions
    assert starts_a_formula(predictions) == []
    assert starts_a_formula(files["history"].decode()) == []


def test_scored_rows_download_quotes_formula_labels(app, trained_formulas):
    at = open_results(app, trained_formulas)
    rows = trained_formulas.frame.head(6).drop(columns=["label"])
    at.file_uploader(key="score_upload").set_value(
        ("new.csv", rows.to_csv(index=False).encode(), "text/csv")
    )
    at.run()
    assert not at.exception
    [button] = [button for button in at.get("download_button") if button.key == "download_scores"]
    [shown] = [frame.value for frame in at.dataframe if "prediction" in frame.value.columns]
    # The download holds the predictions and the input columns kept beside them.
    kept = at.multiselect(key="score_keep").value
    expected = csv_bytes(shown[[c for c in shown.columns if c not in rows.columns or c in kept]])
    assert starts_a_formula(expected.decode()) == []
    # The button serves exactly those bytes: Streamlit names a file by the hash of its content.
    file_id = _calculate_file_id(expected, "text/csv", "layerlab_label_predictions.csv")
    assert file_id in button.proto.url

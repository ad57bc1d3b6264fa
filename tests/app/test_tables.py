"""Tables and sentences for the Results page, from the core's plain results."""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.schema.spec import Feature, ModelSpec
from layerlab.tabular.evaluation import Evaluation
from layerlab_app.tables import (
    id_like_columns,
    metrics_table,
    prediction_sentence,
    verdict,
    what_if_fields,
    what_if_row,
    with_predictions,
)


def regression_evaluation(network_mae: float) -> Evaluation:
    def metrics(mae):
        return {"mae": mae, "rmse": mae * 1.2, "r2": 0.5}

    return Evaluation(
        task="regression",
        metrics=metrics(network_mae),
        baselines={"naive": metrics(10.0), "linear": metrics(4.0)},
        predictions=pd.DataFrame({"actual": [1.0], "predicted": [1.5], "residual": [-0.5]}),
    )


def test_metrics_table_puts_the_network_beside_the_baselines_in_words():
    table = metrics_table(regression_evaluation(3.0))
    assert list(table.columns) == [
        "This network",
        "Always predicting the training mean",
        "Linear regression",
    ]
    assert table.loc["Mean absolute error"].tolist() == [3.0, 10.0, 4.0]
    assert list(table.index) == [
        "Mean absolute error",
        "Root mean squared error",
        "R² (1 is perfect)",
    ]


def test_verdict_praises_a_network_that_beats_both_baselines():
    better, sentence = verdict(regression_evaluation(3.0))
    assert better
    assert "beats both baselines" in sentence


def test_verdict_names_the_baseline_that_wins_and_what_to_try():
    better, sentence = verdict(regression_evaluation(5.0))
    assert not better
    assert "not better than linear regression" in sentence
    # What to try comes from the diagnosis of its curves; never a blind "train longer".
    assert "learning curves say" in sentence and "longer" not in sentence


def test_predictions_come_first_and_an_input_named_like_one_is_marked():
    rows = pd.DataFrame({"x": ["1", "2"], "prediction": ["old", "old"]})
    predictions = pd.DataFrame({"prediction": ["a", "b"], "probability_a": [0.9, 0.2]})
    table = with_predictions(rows, predictions)
    assert list(table.columns) == ["prediction", "probability_a", "x", "prediction (input)"]
    assert table["prediction"].tolist() == ["a", "b"]
    assert list(with_predictions(rows, predictions, ["x"]).columns) == [
        "prediction",
        "probability_a",
        "x",
    ]


def test_a_download_keeps_an_id_like_column_by_default():
    rows = pd.DataFrame(
        {
            "customer_id": [f"C-{n:04d}" for n in range(60)],
            "note": ["call back" if n % 2 else "fine" for n in range(60)],
            "age": range(60),
        }
    )
    assert id_like_columns(rows, ["note", "customer_id"]) == ["customer_id"]
    assert id_like_columns(rows, ["note"]) == []  # not one value per row
    assert id_like_columns(rows.assign(customer_id=""), ["customer_id"]) == []
    assert id_like_columns(rows, []) == []


def test_what_if_fields_default_to_median_and_most_common_value():
    train = pd.DataFrame(
        {
            "age": [20, 30, 40, 50, np.nan],
            "charges": [1.5, 2.5, 3.0, 10.0, 4.0],
            "plan": ["basic", "pro", "pro", None, "basic"],
            "paperless": ["yes", "no", "yes", "yes", "no"],
        }
    )
    spec = ModelSpec(
        "y",
        "binary",
        [
            Feature("age", "numeric"),
            Feature("charges", "numeric"),
            Feature("plan", "categorical"),
            Feature("paperless", "boolean"),
        ],
    )
    age, charges, plan, paperless = what_if_fields(train, spec)
    assert (age.default, age.whole_numbers) == (35, True)
    assert (charges.default, charges.whole_numbers) == (3.0, False)
    assert set(plan.options) == {"basic", "pro"}
    assert "" not in plan.options
    assert paperless.options[0] == paperless.default == "yes"


def test_what_if_row_is_a_one_row_table():
    row = what_if_row({"age": 35, "plan": "pro"})
    assert row.shape == (1, 2)
    assert row.loc[0, "plan"] == "pro"


def test_prediction_sentences():
    assert prediction_sentence("regression", pd.DataFrame({"prediction": [98.61]})) == (
        "The model predicts 98.61."
    )
    classes = pd.DataFrame(
        {"prediction": ["yes"], "probability_no": [0.27], "probability_yes": [0.73]}
    )
    assert prediction_sentence("binary", classes) == (
        "The model predicts **yes** (probability 73.0%)."
    )
    markup = pd.DataFrame({"prediction": ["**no**"], "probability_**no**": [0.6]})
    assert prediction_sentence("multiclass", markup) == (
        r"The model predicts **\*\*no\*\*** (probability 60.0%)."
    )

"""Tables and sentences for the Results page, from the core's plain results."""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.schema.spec import Feature, ModelSpec
from layerlab.tabular.evaluation import Evaluation
from layerlab_app.tables import (
    metrics_table,
    prediction_sentence,
    summary_frame,
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


def test_predictions_are_appended_and_clashing_names_renamed():
    rows = pd.DataFrame({"x": [1, 2], "prediction": ["old", "old"]})
    predictions = pd.DataFrame({"prediction": ["a", "b"], "probability_a": [0.9, 0.2]})
    table = with_predictions(rows, predictions)
    assert list(table.columns) == ["x", "prediction", "predicted_prediction", "probability_a"]
    assert table["predicted_prediction"].tolist() == ["a", "b"]


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
        "The model predicts **yes** (probability 73%)."
    )
    markup = pd.DataFrame({"prediction": ["**no**"], "probability_**no**": [0.6]})
    assert prediction_sentence("multiclass", markup) == (
        r"The model predicts **\*\*no\*\*** (probability 60%)."
    )


def test_summary_rows_get_readable_headers():
    rows = [{"layer": "dense_1", "type": "Dense", "output_shape": "(batch, 8)", "params": 40}]
    table = summary_frame(rows)
    assert list(table.columns) == ["Layer", "Type", "Output shape", "Parameters"]
    assert table.loc[0, "Parameters"] == 40

"""Plotly figures built from plain tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab_app.figures import (
    confusion_heatmap,
    learning_curves,
    precision_recall_figure,
    predicted_vs_actual,
    residuals_figure,
    roc_figure,
)

HISTORY = [
    {"epoch": 1, "loss": 1.0, "val_loss": 1.2, "mae": 3.0, "val_mae": 3.5},
    {"epoch": 2, "loss": 0.5, "val_loss": 0.7, "mae": 2.0, "val_mae": 2.4},
]


def test_learning_curves_show_training_and_validation_loss_and_metric():
    figure = learning_curves(HISTORY, "mae", best_epoch=2)
    assert [trace.name for trace in figure.data] == ["training", "validation"] * 2
    assert list(figure.data[1].y) == [1.2, 0.7]
    assert list(figure.data[3].y) == [3.5, 2.4]
    titles = [annotation.text for annotation in figure.layout.annotations]
    # A regression network's loss is on the standardized target, its MAE in the target's units.
    assert "Loss, on the standardized target" in titles
    assert "Mean absolute error, in the target's units" in titles
    assert "best epoch 2" in titles
    assert figure.layout.yaxis.tickformat == figure.layout.yaxis2.tickformat == ",.6~r"
    classifier = learning_curves(HISTORY, "accuracy")
    assert "Loss" in [annotation.text for annotation in classifier.layout.annotations]


def test_learning_curves_without_history_or_best_epoch():
    figure = learning_curves([], "accuracy")
    assert len(figure.data) == 4
    assert not [a for a in figure.layout.annotations if "best epoch" in a.text]


def test_classification_figures():
    confusion = pd.DataFrame([[5, 1], [2, 7]], index=["no", "yes"], columns=["no", "yes"])
    heatmap = confusion_heatmap(confusion)
    assert heatmap.data[0].z.tolist() == [[5, 1], [2, 7]]
    roc = roc_figure({"yes": pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]})})
    assert [trace.name for trace in roc.data] == ["yes", "chance"]


def test_counts_in_the_confusion_matrix_are_readable_and_the_threshold_is_named():
    confusion = pd.DataFrame([[3020, 15], [7, 1]], index=["no", "yes"], columns=["no", "yes"])
    heatmap = confusion_heatmap(confusion, threshold=0.3)
    assert [list(row) for row in heatmap.data[0].text] == [["3,020", "15"], ["7", "1"]]
    assert heatmap.layout.title.text == "Confusion matrix (test set, threshold 0.30)"
    assert confusion_heatmap(confusion).layout.title.text == "Confusion matrix (test set)"


def test_precision_recall_curve_with_the_guessing_line_and_the_threshold_marked():
    curve = pd.DataFrame({"recall": [1.0, 0.5, 0.0], "precision": [0.2, 0.5, 1.0]})
    figure = precision_recall_figure({"yes": curve}, guessing=0.2, point=(0.5, 0.5, 0.4))
    assert [trace.name for trace in figure.data] == ["yes", "guessing", "threshold 0.40"]
    assert list(figure.data[1].y) == [0.2, 0.2]
    assert (figure.data[2].x, figure.data[2].y) == ((0.5,), (0.5,))
    assert figure.layout.xaxis.title.text == "recall"
    # Without a row predicted positive, precision is undefined: nothing is marked.
    bare = precision_recall_figure({"yes": curve}, point=(0.0, float("nan"), 0.99))
    assert [trace.name for trace in bare.data] == ["yes"]


def test_roc_curve_marks_the_threshold():
    roc = roc_figure(
        {"yes": pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]})}, point=(0.25, 0.6, 0.5)
    )
    assert [trace.name for trace in roc.data] == ["yes", "chance", "threshold 0.50"]


def test_regression_figures():
    predictions = pd.DataFrame(
        {"actual": [1.0, 2.0, 3.0], "predicted": [1.5, 2.0, 2.0], "residual": [-0.5, 0, 1.0]}
    )
    scatter = predicted_vs_actual(predictions)
    assert list(scatter.data[1].x) == [1.0, 3.0]
    assert list(residuals_figure(predictions).data[0].y) == [-0.5, 0, 1.0]


def test_a_large_test_set_is_drawn_thin_and_says_so():
    """10,788 test rows: the browser gets at most 2,000 points a scatter and about 400 a curve,
    and the scatter's title says how many of the rows it shows."""
    rng = np.random.default_rng(0)
    actual = rng.normal(size=10_788)
    predictions = pd.DataFrame(
        {"actual": actual, "predicted": actual * 0.9, "residual": actual * 0.1}
    )
    scatter = predicted_vs_actual(predictions)
    assert len(scatter.data[0].x) == 2_000
    assert scatter.layout.title.text == "Predicted vs actual (test set: 2,000 of its 10,788 rows)"
    assert len(residuals_figure(predictions).data[0].x) == 2_000
    recall = np.linspace(1, 0, 10_788)
    curves = {"yes": pd.DataFrame({"recall": recall, "precision": 1 - recall / 2})}
    assert len(precision_recall_figure(curves).data[0].x) <= 401
    roc = {"yes": pd.DataFrame({"fpr": recall[::-1], "tpr": np.sqrt(recall[::-1])})}
    assert len(roc_figure(roc).data[0].x) <= 401
    small = predicted_vs_actual(predictions.head(30))
    assert small.layout.title.text == "Predicted vs actual (test set)"


def test_class_labels_from_the_data_are_plain_text_in_ticks_hovers_and_legends():
    labels = ["<b>bold</b>", "<a href='http://127.0.0.1:9/'>x</a>", "a & b"]
    confusion = pd.DataFrame([[1, 0, 0], [0, 1, 0], [0, 0, 1]], index=labels, columns=labels)
    heatmap = confusion_heatmap(confusion).data[0]
    escaped = [
        "&lt;b&gt;bold&lt;/b&gt;",
        "&lt;a href='http://127.0.0.1:9/'&gt;x&lt;/a&gt;",
        "a &amp; b",
    ]
    assert list(heatmap.x) == escaped
    assert list(heatmap.y) == escaped
    roc = roc_figure({label: pd.DataFrame({"fpr": [0, 1], "tpr": [0, 1]}) for label in labels})
    assert [trace.name for trace in roc.data] == [*escaped, "chance"]
    curves = {label: pd.DataFrame({"recall": [1, 0], "precision": [0.3, 1]}) for label in labels}
    assert [trace.name for trace in precision_recall_figure(curves).data] == escaped

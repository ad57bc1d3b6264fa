"""Results page: scores beside baselines, charts, downloads, scoring new rows and "what if"."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from app_support import (
    seed_trained,
    session_of,
    shown,
    small_network,
    texts,
    train,
    workspace_of,
)
from streamlit.runtime.memory_media_file_storage import _calculate_file_id

from layerlab.model.train import split_frame
from layerlab.report.records import evaluation_from_json, evaluation_to_json
from layerlab.schema.numbers import readable_number

IMBALANCED = "The classes are imbalanced"


def open_results(at, trained):
    seed_trained(at, trained)
    return at.switch_page("app_pages/results.py").run()


def charts(at) -> dict[str, dict]:
    """The page's titled Plotly figures (the evaluation charts) by title."""
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {
        figure["layout"]["title"]["text"]: figure
        for figure in figures
        if "title" in figure["layout"]
    }


def confusion_counts(at) -> list[list[int]]:
    """The counts the confusion matrix shows (its cell texts)."""
    [figure] = [figure for title, figure in charts(at).items() if title.startswith("Confusion")]
    return [[int(text.replace(",", "")) for text in row] for row in figure["data"][0]["text"]]


@pytest.fixture(scope="module")
def trained_rare():
    """A binary target with 5% "yes" (20 of 400 rows), trained briefly."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    label = np.where(np.argsort(np.argsort(-x - rng.normal(size=400))) < 20, "yes", "no")
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=400), "label": label})
    return train(frame, "label", layers=small_network(), epochs=5, batch_size=16)


def test_results_page_asks_for_a_trained_model_first(app):
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert "Train a model on the Train page first" in texts(at.info)


def test_classification_scores_charts_summary_and_downloads(app, trained_iris):
    at = open_results(app, trained_iris)
    assert not at.exception
    assert at.subheader[0].value == "Test-set scores"
    assert "The network's accuracy on the test set is" in texts(at.markdown)
    assert "logistic regression gives" in texts(at.markdown)
    assert "gradient boosting gives" in texts(at.markdown)
    learned = trained_iris.result.rows["train"] + trained_iris.result.rows["validation"]
    assert trained_iris.result.refitted  # a new table's default
    assert f"a fresh network trained on all {learned:,} training and validation rows" in texts(
        at.caption
    )
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "This network",
        "Always guessing the most common class",
        "Logistic regression",
        "Gradient boosting",
    ]
    assert "Accuracy" in table.index
    assert list(charts(at))[:3] == [
        "Confusion matrix (test set)",
        "ROC curve (test set)",
        "Precision-recall curve (test set)",
    ]
    # Three classes of 50 rows each: nothing to warn about, and no threshold for three classes.
    assert IMBALANCED not in texts(at.info)
    assert not at.slider
    assert "Output (Dense)" in set(network_table(at)["Layer"])
    downloads = {button.key for button in at.get("download_button")}
    assert {
        "download_bundle",
        "download_model",
        "download_history",
        "download_predictions",
    } <= downloads
    files = session_of(at).caches[session_of(at).open_run]["downloads"]
    # The model files are read from the run's folder when clicked, not held in memory.
    assert "predict.py" in zipfile.ZipFile(io.BytesIO(files["bundle"]())).namelist()
    assert files["model"]().startswith(b"PK")
    assert (
        files["history"]
        .decode()
        .startswith("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate")
    )
    assert "Test accuracy" in texts(at.sidebar.markdown)


def network_table(at) -> pd.DataFrame:
    """The Results page's table of the network (the one with a Notes column)."""
    [table] = [frame.value for frame in at.dataframe if "Notes" in frame.value.columns]
    return table


KERAS_WORDS = ("StringLookup", "nan_to_num", "isfinite", "Normalization", "InputLayer")


def test_the_network_table_speaks_the_analysts_words(app, trained_iris):
    at = open_results(app, trained_iris)
    assert not at.exception
    table = network_table(at)
    # 4 measurements -> Dense 8 relu -> 3 classes: 4 x 8 + 8, then 8 x 3 + 3; a new table's
    # ensemble of 4 such networks (spec.DEFAULT_RECIPE) holds four times that.
    assert list(table["Layer"]) == [
        "Inputs: 4 numeric columns, standardized",
        "Dense",
        "Output (Dense)",
        "Total",
    ]
    assert list(table["Units"]) == ["4", "8", "3", ""]
    assert list(table["Activation"]) == ["", "relu", "softmax", ""]
    assert list(table["Parameters"]) == ["", "40", "27", "268"]
    assert table["Notes"].iloc[2] == "one unit per class; loss: categorical cross-entropy"
    assert "4 networks of this shape, averaged: 67 each" in table["Notes"].iloc[3]
    assert trained_iris.result.summary.params == 268  # what Keras counted when it trained
    assert "**Inputs:** 4 numeric columns, standardized: 4 inputs" in texts(at.markdown)
    assert "268 parameters" in texts(at.caption)
    shown_words = "\n".join(
        [texts(at.markdown), texts(at.caption), *(f.value.to_csv() for f in at.dataframe)]
    )
    assert not [word for word in KERAS_WORDS if word in shown_words]
    [folded] = [e for e in at.expander if e.label.startswith("Keras's own summary")]
    assert not folded.proto.expanded
    assert "Total params: 268 " in folded.code[0].value


def open_with_baselines(at, trained, change):
    """The Results page of ``trained`` after ``change`` (baselines -> baselines) rewrote the
    baselines its run folder keeps, as an older or another run would have them."""
    run_id = seed_trained(at, trained)
    path = workspace_of(at).run_folder(run_id) / "evaluation.json"
    kept = evaluation_from_json(path.read_text())
    metrics = {**kept.metrics, "accuracy": 0.8}
    path.write_text(evaluation_to_json(replace(kept, metrics=metrics, baselines=change(kept))))
    return at.switch_page("app_pages/results.py").run()


def test_the_model_card_is_sent_to_the_browser_only_while_its_expander_is_open(app, trained_iris):
    at = open_results(app, trained_iris)
    assert [block for block in at.expander if block.label.startswith("Model card")]
    assert not [block for block in at.markdown if "Model card: predicting" in block.value]
    assert "download_model_card" not in [button.key for button in at.get("download_button")]
    at.session_state["model_card_open"] = True  # what a click on the expander sets
    at.run()
    # Rendered as a document, its headings two levels down, below the page's own title.
    [card] = [block for block in at.markdown if "Model card: predicting" in block.value]
    assert card.value.startswith("### Model card: predicting `species`")
    assert "\n#### Test scores\n" in card.value
    [download] = [
        button for button in at.get("download_button") if button.key == "download_model_card"
    ]
    assert download.proto.label == "Download the model card (Markdown)"
    # The file as written, headings and all: Streamlit names a file by the hash of its content.
    written = trained_iris.result.model_card().encode()
    assert _calculate_file_id(written, "text/markdown", "MODEL_CARD.md") in download.proto.url


def test_a_card_written_before_data_text_was_escaped_shows_as_its_source(app, trained_iris):
    run_id = seed_trained(app, trained_iris)
    card = workspace_of(app).run_folder(run_id) / "MODEL_CARD.md"
    card.write_text("# Model card: predicting `species`\n\n- `**total**`: ![p](http://x/p.png)\n")
    at = app.switch_page("app_pages/results.py").run()
    at.session_state["model_card_open"] = True
    at.run()
    assert not [block for block in at.markdown if "Model card: predicting" in block.value]
    [source] = [block for block in at.code if block.value.startswith("# Model card")]
    assert source.language == "markdown" and "![p]" in source.value


def test_gradient_boosting_that_does_better_is_named_the_strongest_simple_model(app, trained_iris):
    def boosting_ahead(kept):
        return {
            "naive": {**kept.baselines["naive"], "accuracy": 0.333},
            "linear": {**kept.baselines["linear"], "accuracy": 0.7},
            "boosting": {**kept.baselines["boosting"], "accuracy": 0.9},
        }

    at = open_with_baselines(app, trained_iris, boosting_ahead)
    assert not at.exception
    [warning] = at.warning
    said = shown(warning.value)
    assert said.startswith(
        "The network beats always guessing the most common class and logistic regression, "
        "but gradient boosting (the strongest simple model) does better: accuracy 0.9 "
        "against the network's 0.8. The gap is "  # real, or noise (test_gap_noise.py)
    )
    assert said.endswith("Try the Search on the Model page, or use gradient boosting.")
    assert at.dataframe[0].value.loc["Accuracy", "Gradient boosting"] == 0.9


def test_a_run_kept_before_gradient_boosting_existed_shows_without_it(app, trained_iris):
    def without_boosting(kept):
        return {
            "naive": {**kept.baselines["naive"], "accuracy": 0.333},
            "linear": {**kept.baselines["linear"], "accuracy": 0.7},
        }

    at = open_with_baselines(app, trained_iris, without_boosting)
    assert not at.exception
    assert "gradient boosting" not in texts(at.markdown).lower()
    assert "The network beats both baselines on rows it never saw." in texts(at.success)
    assert list(at.dataframe[0].value.columns) == [
        "This network",
        "Always guessing the most common class",
        "Logistic regression",
    ]


def test_regression_shows_predicted_vs_actual_and_residuals(app, trained_regression):
    at = open_results(app, trained_regression)
    assert not at.exception
    assert "mean absolute error on the test set" in texts(at.markdown)
    keys = [chart.key for chart in at.get("plotly_chart")]
    assert keys[:2] == ["chart_scatter", "chart_residuals"]
    assert "Mean absolute error" in at.dataframe[0].value.index


def test_scoring_a_file_ignores_extra_columns_and_says_so(app, trained_iris):
    at = open_results(app, trained_iris)
    rows = trained_iris.frame.head(5).assign(note="x")
    at.file_uploader(key="score_upload").set_value(
        ("new.csv", rows.to_csv(index=False).encode(), "text/csv")
    )
    at.run()
    assert not at.exception
    assert "ignored: `note`" in texts(at.info)
    scored = at.dataframe[2].value
    assert len(scored) == 5
    assert {"prediction", "probability_setosa"} <= set(scored.columns)
    assert {button.key for button in at.get("download_button")} >= {"download_scores"}


def test_scoring_a_file_with_missing_columns_explains_which(app, trained_iris):
    at = open_results(app, trained_iris)
    rows = trained_iris.frame.head(5).drop(columns="petal_width_cm")
    at.file_uploader(key="score_upload").set_value(
        ("short.csv", rows.to_csv(index=False).encode(), "text/csv")
    )
    at.run()
    assert not at.exception
    [error] = at.error
    assert shown(error.value).startswith(
        "Could not score short.csv: The file is missing 1 column(s)"
    )
    assert "'petal_width_cm'" in shown(error.value)


def test_scoring_a_file_that_is_not_a_table(app, trained_iris):
    at = open_results(app, trained_iris)
    at.file_uploader(key="score_upload").set_value(("empty.csv", b"", "text/csv"))
    at.run()
    assert not at.exception
    assert "The file is empty" in texts(at.error)


def test_what_if_predicts_one_row_from_the_form(app, trained_iris):
    at = open_results(app, trained_iris)
    petal = at.number_input(key="what_if_petal_length_cm")
    spec = trained_iris.result.spec
    training_rows = split_frame(trained_iris.frame, spec).train
    assert petal.value == training_rows["petal_length_cm"].median()
    petal.set_value(1.2)
    at.button(key="what_if_submit").click().run()
    assert not at.exception
    sentence = texts(at.markdown)
    assert "The model predicts **" in sentence
    # The prediction stays on the page until the model changes.
    at.run()
    assert "The model predicts **" in texts(at.markdown)


def test_a_rare_class_is_named_with_what_to_look_at_instead_of_accuracy(app, trained_rare):
    at = open_results(app, trained_rare)
    assert not at.exception
    [sentence] = [text for text in texts(at.info).splitlines() if IMBALANCED in text]
    assert "`yes` is only 5% of the rows" in sentence
    assert "balanced accuracy and the precision-recall curve" in sentence
    naive = at.dataframe[0].value["Always guessing the most common class"]
    assert naive["Accuracy"] == pytest.approx(0.95, abs=0.02)
    assert "Precision-recall curve (test set)" in charts(at)


def test_the_decision_threshold_redraws_the_confusion_matrix_and_the_scores(app, trained_rare):
    at = open_results(app, trained_rare)
    evaluation = trained_rare.result.evaluation
    threshold = at.slider(key="decision_threshold")
    assert threshold.value == 0.5
    assert confusion_counts(at) == evaluation.confusion.to_numpy().tolist()
    assert "the downloaded model still predicts the likelier class" in texts(at.caption)
    at_half = evaluation.at_threshold(0.5).metrics
    assert {metric.label: metric.value for metric in at.metric} == {
        "Accuracy": readable_number(at_half["accuracy"]),
        "Balanced accuracy": readable_number(at_half["balanced_accuracy"]),
        "Precision": readable_number(at_half["precision"]),
        "Recall": readable_number(at_half["recall"]),
        "F1 score": readable_number(at_half["f1"]),
    }

    threshold.set_value(0.05).run()
    assert not at.exception
    low = evaluation.at_threshold(0.05)
    assert confusion_counts(at) == low.confusion.to_numpy().tolist()
    assert confusion_counts(at) != evaluation.confusion.to_numpy().tolist()
    assert "Confusion matrix (test set, threshold 0.05)" in charts(at)
    recall = next(metric for metric in at.metric if metric.label == "Recall")
    assert recall.value == readable_number(low.metrics["recall"])
    marked = charts(at)["Precision-recall curve (test set)"]["data"][-1]
    assert marked["name"] == "threshold 0.05"


@pytest.fixture(scope="module")
def trained_customers(make_table):
    """A binary model with a category (city) and an ID the model leaves out, trained briefly."""
    frame = make_table(200)
    frame.insert(0, "customer_id", [f"C-{n:04d}" for n in range(len(frame))])
    return train(frame, "bought", layers=small_network(), epochs=2, batch_size=32)


def test_scoring_shows_predictions_first_inputs_as_written_and_unseen_values(
    app, trained_customers
):
    at = open_results(app, trained_customers)
    rows = trained_customers.frame.head(6).drop(columns="bought").astype(object)
    rows.loc[0, "city"] = "Marseille"  # never seen in training
    rows.loc[1, "city"] = "PARIS"  # seen, as "paris"
    rows.loc[2, "city"] = "Marseille"
    at.file_uploader(key="score_upload").set_value(
        ("new.csv", rows.to_csv(index=False).encode(), "text/csv")
    )
    at.run()
    assert not at.exception
    [warning] = [shown(warning.value) for warning in at.warning if "never saw" in warning.value]
    assert warning.startswith(
        'Column "city": 2 rows hold values the model never saw in training: "Marseille" (2 rows).'
    )
    [scored] = [frame.value for frame in at.dataframe if "prediction" in frame.value.columns]
    assert list(scored.columns) == [
        "prediction",
        "probability_no",
        "probability_yes",
        *rows.columns,
    ]
    assert scored["city"].tolist()[:3] == ["Marseille", "PARIS", "Marseille"]
    assert scored["customer_id"].tolist() == rows["customer_id"].tolist()
    # The download keeps the ID beside the predictions by default; the person may pick more.
    keep = at.multiselect(key="score_keep")
    assert keep.value == ["customer_id"]
    assert keep.options == list(rows.columns)
    keep.set_value(["customer_id", "city"]).run()
    assert not at.exception


def test_a_stopped_run_kept_at_once_says_what_follows_and_shows_it_once_complete(app, trained_iris):
    """Stop keeps a run at once; its baselines, importance and model card follow from a job
    of their own (``RunManager``), and the page draws them when they are there."""
    run_id = seed_trained(app, trained_iris)
    store = workspace_of(app)
    path = store.run_folder(run_id) / "evaluation.json"
    complete = path.read_text()
    kept = evaluation_from_json(complete)
    path.write_text(evaluation_to_json(replace(kept, baselines={"naive": kept.baselines["naive"]})))
    store.update_run(run_id, completing=True)
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert "Its baselines, importance and model card are being worked out" in texts(at.info)
    assert "Logistic regression" not in list(at.dataframe[0].value.columns)

    path.write_text(complete)  # what the completion writes, and then its record says so
    store.update_run(run_id, completing=False)
    at = at.run()
    assert not at.exception
    assert "being worked out" not in texts(at.info)
    assert "Logistic regression" in list(at.dataframe[0].value.columns)

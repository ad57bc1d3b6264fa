"""Data page: load a table, choose the target and the features; bad files never crash it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from app_support import (
    opened_result,
    seed_trained,
    session_of,
    shown,
    start_app,
    texts,
    tiny_csv,
    tiny_regression_frame,
)
from markdown_it import MarkdownIt

from layerlab.tabular.reading import MAX_UPLOAD_MB


def load_sample(at, name: str):
    at.selectbox(key="sample_dataset").set_value(name)
    return at.button(key="load_sample").click().run()


def test_first_visit_offers_an_upload_with_its_limit_and_the_samples(app):
    assert not app.exception
    assert app.title[0].value == "Data"
    assert app.file_uploader(key="upload_csv")
    samples = app.selectbox(key="sample_dataset").options
    assert "Customer churn: 1,500 customers, predict churned (yes/no)" in samples
    assert f"Up to {MAX_UPLOAD_MB} MB" in texts(app.caption)
    assert "Load a CSV file" in texts(app.sidebar.markdown)


def test_a_sample_comes_with_its_target_task_and_suggested_features(app):
    at = load_sample(app, "customer_churn.csv")
    assert not at.exception
    assert at.selectbox(key="target_column").value == "churned"
    task = at.selectbox(key="task_override")
    assert task.value == "binary"
    assert task.format_func(task.value) == "Predicting one of two classes (binary classification)"
    features = at.multiselect(key="feature_columns").value
    assert "customer_id" not in features
    assert {"age", "contract", "paperless_billing"} <= set(features)
    assert "`customer_id`: Looks like an ID" in texts(at.markdown)
    assert "customer_churn.csv · 1,500 rows × 10 columns" in texts(at.sidebar.markdown)
    assert session_of(at).spec.feature_names == features


def test_uploaded_csv_becomes_the_dataset_and_the_task_is_inferred(app):
    app.file_uploader(key="upload_csv").set_value(("tiny.csv", tiny_csv(), "text/csv"))
    at = app.run()
    assert not at.exception
    assert shown(at.subheader[0].value) == "tiny.csv"
    assert at.selectbox(key="target_column").value is None
    at.selectbox(key="target_column").set_value("y").run()
    assert at.selectbox(key="task_override").value == "regression"
    assert at.multiselect(key="feature_columns").value == ["x", "colour"]
    assert "Standardized" in texts(at.caption) or "standardized" in texts(at.caption)
    assert session_of(at).spec.task == "regression"


def test_a_broken_file_is_explained_and_the_app_stays_usable(app):
    app.file_uploader(key="upload_csv").set_value(("notes.csv", b"a,b\n1,2\n3,4,5,6\n", "text/csv"))
    at = app.run()
    assert not at.exception
    [error] = at.error
    assert shown(error.value).startswith("Could not use notes.csv: Line 3 has 4 values")
    at = load_sample(at, "iris.csv")
    assert not at.error
    assert at.selectbox(key="target_column").value == "species"


def test_a_file_wider_than_the_column_limit_is_explained_and_nothing_is_kept(app):
    header = ",".join(f"c{i}" for i in range(5_000)).encode()
    app.file_uploader(key="upload_csv").set_value(
        ("wide.csv", header + b"\n" + b"," * 4_999 + b"\n", "text/csv")
    )
    at = app.run()
    assert not at.exception
    [error] = at.error
    assert shown(error.value).startswith(
        "Could not use wide.csv: The table has 5,000 columns, more than the 2,000 Layerlab reads."
    )
    assert session_of(at).store.tables() == []
    at = load_sample(at, "iris.csv")
    assert not at.error


def test_an_impossible_task_override_says_why(app):
    at = load_sample(app, "customer_churn.csv")
    at.selectbox(key="task_override").set_value("regression").run()
    assert not at.exception
    assert "cannot be predicted as a number" in texts(at.error)
    assert session_of(at).spec is None
    assert "Fix the target" in texts(at.sidebar.markdown)


def test_leaving_out_every_feature_is_flagged(app):
    at = load_sample(app, "iris.csv")
    at.multiselect(key="feature_columns").set_value([]).run()
    assert "Choose at least one feature column" in texts(at.warning)
    assert "Choose at least one feature column." in texts(at.sidebar.markdown)


def test_a_flagged_column_is_left_out_but_can_be_included_with_its_reason(app):
    frame = tiny_regression_frame()
    frame.insert(0, "row_id", range(1001, 1001 + len(frame)))
    app.file_uploader(key="upload_csv").set_value(
        ("ids.csv", frame.to_csv(index=False).encode(), "text/csv")
    )
    at = app.run()
    at.selectbox(key="target_column").set_value("y").run()
    features = at.multiselect(key="feature_columns")
    assert "row_id (numeric)" in features.options
    assert "row_id" not in features.value
    assert "`row_id`: Looks like an ID" in texts(at.markdown)
    features.set_value([*features.value, "row_id"]).run()
    assert not at.exception
    assert "You included flagged columns. `row_id`: Looks like an ID" in texts(at.warning)
    assert "row_id" in session_of(at).spec.feature_names


def test_changing_the_target_keeps_the_run_in_the_workspace(app, trained_iris):
    seed_trained(app, trained_iris)
    at = app.run()
    assert "Your runs stay in this workspace" in texts(at.caption)
    at.selectbox(key="target_column").set_value("sepal_length_cm").run()
    assert not at.exception
    assert opened_result(at) is not None  # the run is still there, and still open
    assert len(session_of(at).store.runs()) == 1
    assert at.selectbox(key="task_override").value == "regression"
    # The network chosen for the old target is kept for the new one.
    assert session_of(at).spec.layers == trained_iris.result.spec.layers
    assert "The settings changed since the last run" in texts(at.sidebar.markdown)


def test_loading_other_data_keeps_the_runs_of_the_first_table(app, trained_iris):
    seed_trained(app, trained_iris)
    at = load_sample(app.run(), "wine.csv")
    assert not at.exception
    assert len(session_of(at).store.tables()) == 2
    assert [run.table_id for run in session_of(at).store.runs()] == [
        session_of(at).store.tables()[0].id
    ]
    assert at.selectbox(key="target_column").value == "cultivar"


TRACKER = "![p](http://127.0.0.1:9/track.png)"
HTML_IMAGE = "<img src=http://127.0.0.1:9/x.png>"


def test_names_and_labels_from_the_file_are_shown_as_text_not_markup(app):
    rows = 40
    frame = pd.DataFrame(
        {
            "**bold**": [i * 0.5 for i in range(rows)],
            "<b>html</b>": [":material/home:", ":red[x]"] * (rows // 2),
            "![c](http://127.0.0.1:9/c.png)": [""] * rows,
            "a`b": [TRACKER, HTML_IMAGE] * (rows // 2),
        }
    )
    upload = ("**report** $x$.csv", frame.to_csv(index=False).encode(), "text/csv")
    app.file_uploader(key="upload_csv").set_value(upload)
    at = app.run()
    at.selectbox(key="target_column").set_value("a`b").run()
    assert not at.exception
    markdown = [
        str(element.value)
        for elements in (at.markdown, at.caption, at.subheader, at.warning, at.error)
        for element in elements
    ] + [str(element.value) for element in at.sidebar.markdown]
    rendered = MarkdownIt("commonmark").render("\n\n".join(markdown))
    for tag in ("<img", "<a ", "<em>", "<strong>report", "<strong>bold", "<b>", "<span"):
        assert tag not in rendered
    for literal in ("**report** $x$.csv", "![c](http://127.0.0.1:9/c.png)", "a`b"):
        assert literal in texts(at.subheader) + texts(at.markdown) + texts(at.sidebar.markdown)
    assert f"2 classes: {TRACKER}, {HTML_IMAGE}" in texts(at.caption)
    assert "Inferred from the values of ``a`b``." in texts(at.caption)


def upload(app, name: str, frame: pd.DataFrame):
    app.file_uploader(key="upload_csv").set_value(
        (name, frame.to_csv(index=False).encode(), "text/csv")
    )
    return app.run()


def test_a_column_derived_from_the_target_is_left_out_and_warned_about_when_included(app):
    rng = np.random.default_rng(0)
    rows = 300
    experience = rng.uniform(0, 40, rows)
    wage = np.exp(1.5 + 0.03 * experience + rng.normal(0, 0.3, rows))
    frame = pd.DataFrame({"experience": experience, "logwage": np.log(wage), "wage": wage})
    at = upload(app, "wages.csv", frame)
    at.selectbox(key="target_column").set_value("wage").run()
    assert not at.exception
    features = at.multiselect(key="feature_columns")
    assert features.value == ["experience"]
    assert "logwage (numeric)" in features.options
    reason = '"logwage" predicts "wage" almost exactly on its own (R² 1.00)'
    assert f"`logwage`: {reason}" in texts(at.markdown)
    assert not at.warning
    features.set_value(["experience", "logwage"]).run()
    assert f"You included flagged columns. `logwage`: {reason}" in texts(at.warning)
    assert session_of(at).spec.feature_names == ["experience", "logwage"]


def test_a_rare_class_is_explained_beside_the_target(app):
    rows = 400
    frame = pd.DataFrame(
        {
            "amount": np.random.default_rng(1).exponential(50, rows),
            "fraud": ["yes" if i % 25 == 0 else "no" for i in range(rows)],
        }
    )
    at = upload(app, "fraud.csv", frame)
    at.selectbox(key="target_column").set_value("fraud").run()
    assert not at.exception
    assert (
        "Only 4% of rows are `yes`, so always guessing `no` is right 96% of the time: accuracy "
        "can look good while the rare class is missed."
    ) in texts(at.warning)
    assert "balanced accuracy and the precision-recall curve" in texts(at.warning)
    assert "class weights can be set to balanced" in texts(at.warning)


def test_balanced_classes_and_numbers_get_no_imbalance_warning(app):
    at = load_sample(app, "iris.csv")
    assert not at.warning
    at.selectbox(key="target_column").set_value("sepal_length_cm").run()
    assert "rare class" not in texts(at.warning)


def test_the_upload_limit_is_streamlits_own_setting_and_the_reader_follows_it(app):
    """A local install raises the shared server's 50 MB with Streamlit's own
    server.maxUploadSize; the caption and the reader follow it (the browser enforces it)."""
    from streamlit import config

    rows = 100_000
    frame = pd.DataFrame({"x": np.linspace(0, 1, rows).round(6), "y": np.arange(rows) % 7})
    size = len(frame.to_csv(index=False).encode())
    assert 1_000_000 < size < 2_000_000
    before = config.get_option("server.maxUploadSize")
    try:
        config.set_option("server.maxUploadSize", 1)
        at = app.run()
        assert "Up to 1 MB" in texts(at.caption)
        at = upload(at, "big.csv", frame)
        assert not at.exception
        assert "over the 1 MB limit" in texts(at.error)
        config.set_option("server.maxUploadSize", 2)
        at = upload(at.run(), "big.csv", frame)
        assert not at.exception and not at.error
        assert at.selectbox(key="target_column")  # the table loaded
    finally:
        config.set_option("server.maxUploadSize", before)


def test_a_parquet_upload_loads_like_its_csv(app):
    import io

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=60), "colour": ["red", "Blue ", "blue"] * 20, "y": [1, 0] * 30}
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    app.file_uploader(key="upload_csv").set_value(
        ("table.parquet", buffer.getvalue(), "application/octet-stream")
    )
    at = app.run()
    assert not at.exception and not at.error
    at.selectbox(key="target_column").set_value("y").run()
    assert not at.exception
    csv = upload(start_app(), "table.csv", frame)
    csv.selectbox(key="target_column").set_value("y").run()
    assert at.multiselect(key="feature_columns").value == ["x", "colour"]
    assert csv.multiselect(key="feature_columns").value == ["x", "colour"]

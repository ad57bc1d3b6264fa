"""The download bundle and scoring new data: what a person takes away and uses without Layerlab."""

from __future__ import annotations

import io
import json
import re
import runpy
import zipfile

import numpy as np
import pandas as pd
import pytest

from layerlab.model.export import (
    BUNDLE_FILES,
    BUNDLE_MEMBERS,
    bundle_zip,
    load_bundle,
    write_bundle,
)
from layerlab.model.scoring import score, unseen_categories
from layerlab.schema.errors import LayerlabError, SchemaError
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.predict import check_columns
from layerlab.tabular.reading import read_csv

# `python BUNDLE/predict.py new.csv`, in an interpreter where Layerlab cannot be imported.
RUN_PREDICT_SCRIPT = """
import runpy
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
assert sys.modules["layerlab"] is None
"""


@pytest.fixture(scope="module")
def bundle(churn_result, churn_evaluation, tmp_path_factory):
    return write_bundle(churn_result, churn_evaluation, tmp_path_factory.mktemp("bundle"))


def new_customers(churn_frame) -> pd.DataFrame:
    """Rows to score, with the gaps and surprises of real new data."""
    rows = churn_frame.head(8).drop(columns=["churned"]).copy()
    rows.loc[0, "age"] = np.nan
    rows.loc[1, "region"] = np.nan
    rows.loc[2, "region"] = "antarctica"  # never seen in training
    rows.loc[3, "payment_method"] = "crypto"  # never seen in training
    rows.loc[4, "paperless_billing"] = np.nan
    rows.loc[5, "monthly_charges"] = np.nan
    return rows


def test_bundle_has_every_file(bundle):
    assert sorted(path.name for path in bundle.iterdir()) == sorted(BUNDLE_FILES)


def test_bundle_files_describe_the_run(bundle, churn_result):
    assert ModelSpec.from_json((bundle / "spec.json").read_text()) == churn_result.spec
    assert json.loads((bundle / "classes.json").read_text()) == ["no", "yes"]
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["task"] == "binary"
    assert set(metrics["baselines"]) == {"naive", "linear", "boosting"}
    assert set(metrics["baselines"]["boosting"]) == set(metrics["test"])
    assert metrics["training"]["epochs_run"] == len(churn_result.history)
    history = pd.read_csv(bundle / "history.csv")
    assert list(history.columns) == [
        "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"
    ]  # fmt: skip
    assert len(history) == len(churn_result.history)
    assert "Total params" in (bundle / "summary.txt").read_text()


def test_bundle_predict_script_gives_the_same_predictions_without_layerlab(
    bundle, churn_result, churn_frame, run_without_layerlab, tmp_path
):
    new_customers(churn_frame).to_csv(tmp_path / "new.csv", index=False)
    done = run_without_layerlab(
        RUN_PREDICT_SCRIPT, str(bundle / "predict.py"), "new.csv", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    standalone = pd.read_csv(io.StringIO(done.stdout))
    # The values the model never saw in training, said on stderr as the CLI and the app say them.
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: {message}"
        for message in unseen_categories(
            churn_result.built.model, churn_result.spec, read_csv(tmp_path / "new.csv")
        )
    ]
    assert [line.split(":")[1] for line in warnings] == [
        ' Column "region"',
        ' Column "payment_method"',
    ]
    assert '"antarctica" (1 row)' in warnings[0] and '"crypto" (1 row)' in warnings[1]

    expected = score(
        churn_result.built.model,
        churn_result.spec,
        churn_result.classes,
        read_csv(tmp_path / "new.csv"),
    )
    assert list(standalone.columns) == ["prediction", "probability_no", "probability_yes"]
    assert standalone["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(
        standalone[["probability_no", "probability_yes"]],
        expected[["probability_no", "probability_yes"]],
        rtol=1e-5,
        atol=1e-6,
    )


def test_bundle_predict_script_scores_a_parquet_file_as_its_csv(
    bundle, churn_frame, run_without_layerlab, tmp_path
):
    rows = new_customers(churn_frame)
    rows.to_csv(tmp_path / "new.csv", index=False)
    rows.to_parquet(tmp_path / "new.parquet", index=False)
    outputs = [
        run_without_layerlab(RUN_PREDICT_SCRIPT, str(bundle / "predict.py"), name, cwd=tmp_path)
        for name in ("new.csv", "new.parquet")
    ]
    assert all(done.returncode == 0 for done in outputs), outputs[-1].stderr[-3000:]
    assert outputs[0].stdout == outputs[1].stdout  # the same rows, the same predictions
    assert outputs[0].stderr == outputs[1].stderr  # and the same warnings


def test_loaded_bundle_scores_like_the_trained_model(bundle, churn_result, churn_frame):
    loaded = load_bundle(bundle)
    assert loaded.spec == churn_result.spec
    assert loaded.classes == ("no", "yes")
    rows = new_customers(churn_frame)
    pd.testing.assert_frame_equal(
        score(loaded.model, loaded.spec, loaded.classes, rows),
        score(churn_result.built.model, churn_result.spec, churn_result.classes, rows),
        rtol=1e-5,
    )


def test_zip_holds_the_bundle_files(churn_result, churn_evaluation):
    with zipfile.ZipFile(io.BytesIO(bundle_zip(churn_result, churn_evaluation))) as archive:
        assert sorted(archive.namelist()) == sorted(BUNDLE_MEMBERS)
        spec = ModelSpec.from_json(archive.read("spec.json").decode())
    assert spec == churn_result.spec


def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LayerlabError, match=r"is not a Layerlab bundle: model\.keras, spec\.json"):
        load_bundle(tmp_path)


def test_missing_columns_are_named_and_extra_ones_returned(churn_result, churn_frame):
    spec = churn_result.spec
    rows = churn_frame.head(3).drop(columns=["age", "region"]).assign(notes="x")
    with pytest.raises(SchemaError) as caught:
        check_columns(rows, spec)
    message = str(caught.value)
    assert "missing 2 column(s)" in message and "'age', 'region'" in message
    # The target and the ID column are not features; only non-target extras are reported.
    extra = check_columns(churn_frame.head(3).assign(notes="x"), spec)
    assert extra == ["customer_id", "notes"]


def test_scoring_an_empty_table_is_refused(churn_result, churn_frame):
    with pytest.raises(SchemaError, match="no rows"):
        score(
            churn_result.built.model, churn_result.spec, churn_result.classes, churn_frame.head(0)
        )


def test_score_gives_one_row_per_input_with_a_label_and_probabilities(churn_result, churn_frame):
    table = score(
        churn_result.built.model,
        churn_result.spec,
        churn_result.classes,
        new_customers(churn_frame),
    )
    assert len(table) == 8
    assert set(table["prediction"]) <= {"no", "yes"}
    np.testing.assert_allclose(table["probability_no"] + table["probability_yes"], 1.0, rtol=1e-5)


def test_bundle_predict_script_reads_decimal_commas_like_the_app(
    bundle, churn_result, churn_frame, monkeypatch, capsys, tmp_path
):
    # Spreadsheets set to e.g. German write ';' between fields and ',' as the decimal mark.
    rows = new_customers(churn_frame).head(3)
    rows.to_csv(tmp_path / "new.csv", index=False, sep=";", decimal=",")
    assert re.search(r";\d+,\d+;", (tmp_path / "new.csv").read_text())  # e.g. ;33,32;
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["predict.py", "new.csv"])
    # In this process: the point is reading the file, and the script is already proven
    # to run without Layerlab above.
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(bundle / "predict.py"), run_name="__main__")
    assert exited.value.code == 0
    standalone = pd.read_csv(io.StringIO(capsys.readouterr().out))
    expected = score(
        churn_result.built.model, churn_result.spec, churn_result.classes, read_csv("new.csv")
    )
    np.testing.assert_allclose(
        standalone["probability_yes"], expected["probability_yes"], rtol=1e-5, atol=1e-6
    )


def test_bundle_predict_script_refuses_non_numbers_with_the_apps_message(
    bundle, churn_result, churn_frame, monkeypatch, capsys, tmp_path
):
    rows = new_customers(churn_frame).head(3).astype({"age": object, "tenure_months": object})
    rows.loc[0, "age"] = "abc"
    rows.loc[1, "tenure_months"] = "1e999"
    rows.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(SchemaError) as caught:
        score(
            churn_result.built.model,
            churn_result.spec,
            churn_result.classes,
            read_csv(tmp_path / "new.csv"),
        )
    assert 'Column "age" (numeric): 1 value is not a number, e.g. "abc".' in str(caught.value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["predict.py", "new.csv"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(bundle / "predict.py"), run_name="__main__")
    assert exited.value.code == 1
    assert capsys.readouterr().err == f"error: {caught.value}\n"

"""Workspace records: plain JSON there and back, NaN and all, and nothing that runs code."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from layerlab.report.records import (
    RunRecord,
    TableRecord,
    decode_json,
    encode_json,
    evaluation_from_json,
    evaluation_to_json,
    leak_suspect_from_dict,
    leak_suspect_to_dict,
)
from layerlab.tabular.data import ClassBalance
from layerlab.tabular.evaluation import Evaluation
from layerlab.tabular.leaks import SingleColumnScore


def a_run(spec, **changes) -> RunRecord:
    values = {"id": "run-1", "name": "First try", "created": 1_700_000_000.5, "spec": spec}
    return RunRecord(**{**values, **changes})


def test_non_finite_floats_survive_strict_json():
    value = {"loss": math.nan, "high": math.inf, "low": -math.inf, "fine": 0.5, "n": np.int64(3)}
    text = encode_json(value)
    json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    back = decode_json(text)
    assert math.isnan(back["loss"]) and back["high"] == math.inf and back["low"] == -math.inf
    assert back["fine"] == 0.5 and back["n"] == 3


def test_a_run_goes_to_json_and_back_with_its_diverged_epochs(table_spec):
    run = a_run(
        table_spec(),
        status="diverged",
        history=[{"epoch": 1, "loss": 0.7}, {"epoch": 2, "loss": math.nan, "val_loss": math.inf}],
        classes=("no", "yes"),
        metrics={"test": {"accuracy": 0.8, "roc_auc": math.nan}},
        rows={"train": 60, "validation": 20, "test": 20},
        files={"model": "runs/run-1/model.keras"},
        seconds=1.5,
        chosen=True,
    )
    text = json.dumps(run.to_dict(), allow_nan=False)
    back = RunRecord.from_dict(json.loads(text))
    assert back.to_dict() == run.to_dict()
    assert back.spec == run.spec and back.classes == ("no", "yes")
    assert math.isnan(back.history[1]["loss"]) and back.history[1]["val_loss"] == math.inf
    assert math.isnan(back.metrics["test"]["roc_auc"])


def test_a_run_record_ignores_fields_it_does_not_know(table_spec):
    config = {**a_run(table_spec()).to_dict(), "added_by_a_later_version": 1}
    assert RunRecord.from_dict(config) == a_run(table_spec())


def test_a_run_record_of_the_wrong_shape_says_which_field(table_spec):
    with pytest.raises(ValueError, match="'history' must be list"):
        RunRecord.from_dict({**a_run(table_spec()).to_dict(), "history": "lots"})
    with pytest.raises(ValueError, match="status must be one of"):
        RunRecord.from_dict({**a_run(table_spec()).to_dict(), "status": "dancing"})
    with pytest.raises(ValueError, match="needs the field"):
        RunRecord.from_dict({"id": "x"})


def test_only_queued_and_training_runs_are_active(table_spec):
    assert a_run(table_spec()).active
    assert a_run(table_spec(), status="training").active
    assert not a_run(table_spec(), status="finished").active


def test_a_table_record_round_trips():
    table = TableRecord("t1", "churn.csv", "ab" * 32, 100, 5, 4096, 1_700_000_000.0)
    assert TableRecord.from_dict(json.loads(json.dumps(table.to_dict()))) == table
    with pytest.raises(ValueError, match="'rows' must be int"):
        TableRecord.from_dict({**table.to_dict(), "rows": "many"})


def assert_same_evaluation(back: Evaluation, original: Evaluation) -> None:
    assert back.task == original.task
    assert encode_json(back.metrics) == encode_json(original.metrics)
    assert encode_json(back.baselines) == encode_json(original.baselines)
    assert back.class_shares == original.class_shares
    assert back.class_balance == original.class_balance
    pd.testing.assert_frame_equal(back.predictions, original.predictions)
    if original.confusion is None:
        assert back.confusion is None
    else:
        pd.testing.assert_frame_equal(back.confusion, original.confusion)
    for name in ("roc", "precision_recall"):
        curves, expected = getattr(back, name), getattr(original, name)
        assert list(curves) == list(expected)
        for label in expected:
            pd.testing.assert_frame_equal(curves[label], expected[label])


def test_a_trained_binary_evaluation_round_trips(churn_evaluation):
    # The evaluation the other tests share: trained once per session.
    original = churn_evaluation
    back = evaluation_from_json(evaluation_to_json(original))
    assert_same_evaluation(back, original)
    assert back.headline() == original.headline()
    assert original.boosting_gap is not None and back.boosting_gap == original.boosting_gap
    assert back.comparison() == original.comparison()
    assert back.at_threshold(0.3).metrics == pytest.approx(original.at_threshold(0.3).metrics)


def test_a_regression_evaluation_round_trips_with_a_nan_metric():
    actual = np.array([1.0, 2.5, 4.0])
    predicted = np.array([1.5, 2.0, 4.0], dtype="float32")
    original = Evaluation(
        task="regression",
        metrics={"mae": 0.33, "rmse": 0.4, "r2": math.nan},
        baselines={"naive": {"mae": 1.0, "rmse": 1.2, "r2": 0.0}},
        predictions=pd.DataFrame(
            {"actual": actual, "predicted": predicted, "residual": actual - predicted},
            index=[4, 17, 9],
        ),
    )
    back = evaluation_from_json(evaluation_to_json(original))
    assert_same_evaluation(back, original)
    assert back.predictions["predicted"].dtype == np.float32


def test_a_multiclass_evaluation_keeps_its_labels_and_curves():
    classes = ["1", "2", "10"]  # labels that look like numbers stay text
    predictions = pd.DataFrame({"actual": ["1", "10", "2"], "predicted": ["1", "2", "2"]})
    for label, column in zip(classes, np.eye(3), strict=True):
        predictions[f"probability_{label}"] = column.astype("float32")
    curve = pd.DataFrame({"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 1.0, 1.0]})
    original = Evaluation(
        task="multiclass",
        metrics={"accuracy": 2 / 3, "roc_auc": math.nan},
        baselines={"naive": {"accuracy": 1 / 3}},
        predictions=predictions,
        confusion=pd.DataFrame(np.eye(3, dtype="int64"), index=classes, columns=classes),
        roc={label: curve for label in classes},
        precision_recall={"10": curve.rename(columns={"fpr": "recall", "tpr": "precision"})},
        class_shares={"1": 0.5, "2": 0.3, "10": 0.2},
        class_balance=ClassBalance("10", 0.2, "1", 0.5, 3),
    )
    back = evaluation_from_json(evaluation_to_json(original))
    assert_same_evaluation(back, original)
    assert back.classes == ("1", "2", "10")


def test_an_evaluation_file_with_an_unknown_column_type_is_refused():
    original = Evaluation("regression", {}, {}, pd.DataFrame({"actual": [1.0]}))
    content = json.loads(evaluation_to_json(original))
    content["predictions"]["dtypes"] = ["builtins.eval"]
    with pytest.raises(ValueError, match="column type"):
        evaluation_from_json(json.dumps(content))
    with pytest.raises(ValueError, match="format_version"):
        evaluation_from_json(json.dumps({**content, "format_version": 99}))


def test_a_leak_suspect_round_trips():
    score = SingleColumnScore("code", "churned", "accuracy", 0.999, 0.998, 0.6)
    assert leak_suspect_from_dict(json.loads(json.dumps(leak_suspect_to_dict(score)))) == score

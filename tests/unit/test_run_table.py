"""The runs table as a person reads it: readable numbers, who beat whom, only what differs."""

from __future__ import annotations

from layerlab.report.records import RunRecord
from layerlab.report.run_table import (
    beat_earlier,
    best_validation,
    network_line,
    run_line,
    runs_frame,
    spec_differences,
)
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec


def spec(**changes) -> ModelSpec:
    base = ModelSpec(
        target="y",
        task="regression",
        features=[Feature("x", "numeric")],
        layers=[LayerSpec.dense(16, "relu")],
    )
    return base.replace(**changes)


def record(run_id: str, created: float, mae: float | None, **spec_changes) -> RunRecord:
    history = [
        {"epoch": 1, "loss": 2.0, "val_loss": 1.5, "mae": 3.0, "val_mae": 2.5},
        {"epoch": 2, "loss": 1.0, "val_loss": 1.25, "mae": 2.0, "val_mae": 2.25},
    ]
    metrics = {} if mae is None else {"test": {"mae": mae, "rmse": mae * 1.2}}
    return RunRecord(
        id=run_id,
        name=f"Run {run_id}",
        created=created,
        spec=spec(**spec_changes),
        data_fingerprint="abc",
        status="finished" if mae is not None else "failed",
        history=history,
        metrics=metrics,
        seconds=83.0,
    )


def test_network_line_reads_like_the_layers():
    layers = [LayerSpec.dense(64, "relu"), LayerSpec.dropout(0.2), LayerSpec.batch_norm()]
    assert network_line(spec(layers=layers)) == "64 relu → dropout 0.2 → batch norm"
    assert network_line(spec(layers=[])) == "no hidden layer"


def test_a_run_beats_earlier_runs_only_when_its_test_error_is_lower_than_all_of_them():
    runs = [record("a", 1, 3.0), record("b", 2, 2.0), record("c", 3, 2.5), record("d", 4, None)]
    assert beat_earlier(runs) == {"a": None, "b": True, "c": False, "d": None}


def test_runs_on_another_table_are_not_compared():
    other = record("b", 2, 9.0)
    other.data_fingerprint = "another table"
    assert beat_earlier([record("a", 1, 3.0), other]) == {"a": None, "b": None}


def test_runs_scored_on_other_rows_are_not_compared():
    # A search trial trains and is scored on a seeded sample; another seed splits other rows.
    trial = record("b", 2, 1.0)
    trial.rows = {"train": 60, "validation": 20, "test": 20}
    reseeded = record("c", 3, 0.5, seed=7)
    later = record("d", 4, 2.0)
    runs = [record("a", 1, 3.0), trial, reseeded, later]
    for run in runs[:1] + runs[2:]:
        run.rows = run.rows or {"train": 600, "validation": 200, "test": 200}
    assert beat_earlier(runs) == {"a": None, "b": None, "c": None, "d": True}


def test_the_table_lists_newest_first_with_readable_values():
    table = runs_frame([record("a", 1, 3021.5), record("b", 2, None)])
    assert list(table["Name"]) == ["Run b", "Run a"]
    first = table.iloc[1]
    assert first["Test score"] == "3,022 mean absolute error"
    assert first["Epochs run"] == "2 of 200"
    assert first["Duration"] == "1 min 23 s"
    assert first["Best validation loss"] == "1.25"
    assert "e+" not in table.to_string()


def test_only_the_settings_that_differ_are_compared():
    runs = [record("a", 1, 3.0), record("b", 2, 2.0, learning_rate=0.01, seed=7)]
    differences = spec_differences(runs)
    assert list(differences["Setting"]) == ["Learning rate", "Seed"]
    assert list(differences.iloc[0][1:]) == ["0.001", "0.01"]
    searched = [record("a", 1, 3.0), record("b", 2, 2.0, learning_rate=0.000411555)]
    assert list(spec_differences(searched).iloc[0][1:]) == ["0.001", "0.000412"]
    assert runs_frame(searched).iloc[0]["Learning rate"] == "0.000412"
    assert spec_differences([record("a", 1, 3.0), record("b", 2, 2.0)]).empty


def test_best_validation_and_the_run_line():
    run = record("a", 1, 3.0)
    assert best_validation(run) == 1.25
    line = run_line(run)
    assert line.startswith("finished · 2 of 200 epochs · test mean absolute error 3")

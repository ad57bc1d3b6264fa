"""The sidebar's words: the next step, and a finished run in one line."""

from __future__ import annotations

from layerlab_app.journey import describe_run, next_step

READY = {
    "has_data": True,
    "target": "y",
    "target_ok": True,
    "n_features": 3,
    "spec_problems": 0,
    "has_result": True,
    "result_current": True,
}


def step(**changes):
    return next_step(**{**READY, **changes})


def test_a_new_visitor_is_sent_to_load_data():
    first = step(has_data=False, target=None, target_ok=False, n_features=0, has_result=False)
    assert first.page == "app_pages/data.py"
    assert "Load a CSV file" in first.sentence


def test_each_missing_piece_points_to_its_page():
    assert step(target=None).sentence == "Choose the column to predict."
    assert step(target_ok=False).page == "app_pages/data.py"
    assert step(n_features=0).sentence == "Choose at least one feature column."
    assert step(spec_problems=2).sentence == "Fix the model settings (2 problems)."
    assert step(spec_problems=2).page == "app_pages/model.py"
    assert step(has_result=False).page == "app_pages/train.py"
    assert "train again" in step(result_current=False).sentence
    assert step().page == "app_pages/results.py"


HISTORY = [
    {"epoch": 1, "loss": 1.0, "val_loss": 1.1, "accuracy": 0.5, "val_accuracy": 0.55},
    {"epoch": 2, "loss": 0.8, "val_loss": 0.9, "accuracy": 0.7, "val_accuracy": 0.8125},
    {"epoch": 3, "loss": 0.7, "val_loss": 0.95, "accuracy": 0.75, "val_accuracy": 0.8},
]


def test_describe_an_early_stop_with_the_kept_epoch_and_its_score():
    text = describe_run(HISTORY, 2, "early_stopping", 200, "accuracy")
    assert text == (
        "Stopped early after 3 of 200 epochs; epoch 2 kept (validation accuracy 0.812)."
    )


def test_describe_a_completed_regression_run():
    history = [{"epoch": 1, "loss": 1.0, "val_loss": 1.0, "mae": 3.0, "val_mae": 2.5}]
    assert describe_run(history, 1, "completed", 1, "mae") == (
        "Ran its one epoch; epoch 1 kept (validation mean absolute error 2.5)."
    )


def test_describe_a_long_run_in_readable_numbers():
    history = [{"epoch": n, "loss": 1.0, "val_loss": 1.0, "val_mae": 3021.7} for n in (1, 2)]
    assert describe_run(history, 2, "completed", 2_000, "mae") == (
        "Ran all 2,000 epochs; epoch 2 kept (validation mean absolute error 3,022)."
    )


def test_describe_a_run_where_no_epoch_finished():
    assert describe_run([], None, "diverged", 10, "mae").endswith("no epoch finished.")

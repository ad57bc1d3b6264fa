"""Every row used: after validation chose the epochs, a fresh network trains on the training and
validation rows together for that many epochs and becomes the model (``spec.refit``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.model.build import predict_frame
from layerlab.model.evaluate import evaluate
from layerlab.model.train import TrainingRun, train
from layerlab.schema.run_events import EpochEnd, RefitProgress


@pytest.fixture(scope="module")
def runs(make_table, table_spec):
    frame = make_table(300, task="regression")
    spec = table_spec("regression", epochs=12, patience=3, lr_plateau_factor=0.5)
    events: list = []
    return {
        "frame": frame,
        "spec": spec,
        "plain": train(frame, spec),
        "refit": train(frame, spec.replace(refit=True), on_event=events.append),
        "events": events,
    }


def test_the_refit_trains_on_training_and_validation_rows_for_the_kept_epochs(runs):
    plain, refitted = runs["plain"], runs["refit"]
    assert not plain.refitted and refitted.refitted
    assert refitted.history == plain.history  # the curves that chose the epochs, unchanged
    assert refitted.kept_epoch == plain.kept_epoch
    fitted = refitted.fitted_rows
    pd.testing.assert_frame_equal(fitted, pd.concat([plain.splits.train, plain.splits.validation]))
    assert len(fitted) + len(refitted.splits.test) == len(runs["frame"])  # the test rows unseen
    refits = [event for event in runs["events"] if isinstance(event, RefitProgress)]
    assert refits[-1].epoch == refits[-1].epochs == plain.kept_epoch
    assert refits[-1].fraction == 1.0 and refits[-1].rows == len(fitted)
    last_epoch = max(i for i, event in enumerate(runs["events"]) if isinstance(event, EpochEnd))
    assert runs["events"].index(refits[0]) > last_epoch  # after the first network's epochs
    assert f"all {len(fitted):,} training and validation rows" in refitted.message


def test_the_refitted_model_is_another_network_and_the_same_every_time(runs):
    test = runs["plain"].splits.test
    first = predict_frame(runs["refit"].built, test)
    assert not np.allclose(first, predict_frame(runs["plain"].built, test))
    again = train(runs["frame"], runs["spec"].replace(refit=True))
    np.testing.assert_array_equal(predict_frame(again.built, test), first)


def test_the_baselines_learn_from_the_rows_the_model_learned_from(runs, monkeypatch):
    seen: list[int] = []
    import layerlab.model.evaluate as evaluation

    real = evaluation.LinearRegression

    class Counting(real):
        def fit(self, x, y, *args, **kwargs):
            seen.append(len(x))
            return super().fit(x, y, *args, **kwargs)

    monkeypatch.setattr(evaluation, "LinearRegression", Counting)
    scores = evaluate(runs["refit"])
    assert seen == [len(runs["refit"].fitted_rows)]
    naive = np.full(len(runs["refit"].splits.test), runs["refit"].fitted_rows["spend"].mean())
    actual = runs["refit"].splits.test["spend"].to_numpy()
    assert scores.baselines["naive"]["rmse"] == pytest.approx(
        float(np.sqrt(np.mean((actual - naive) ** 2)))
    )


def test_stop_during_the_refit_keeps_the_first_network(runs):
    frame, spec = runs["frame"], runs["spec"].replace(refit=True)
    pressed = {"stop": False}

    def on_event(event):
        if isinstance(event, RefitProgress):
            pressed["stop"] = True

    run = TrainingRun(frame, spec)
    result = run.run(on_event=on_event, should_stop=lambda: pressed["stop"])
    assert not result.refitted
    assert "but Stop was pressed: the network trained on the training rows alone" in result.message
    test = result.splits.test
    np.testing.assert_array_equal(
        predict_frame(result.built, test), predict_frame(runs["plain"].built, test)
    )


def test_a_run_ended_by_stop_is_not_refitted(runs):
    frame, spec = runs["frame"], runs["spec"].replace(refit=True)
    ends: list = []
    result = TrainingRun(frame, spec).run(
        on_event=ends.append, should_stop=lambda: any(isinstance(e, EpochEnd) for e in ends)
    )
    assert result.stop_reason == "stopped" and not result.refitted
    assert not any(isinstance(event, RefitProgress) for event in ends)
    assert isinstance(result.fitted_rows, pd.DataFrame)
    assert len(result.fitted_rows) == len(result.splits.train)


def test_a_refitted_runs_files_are_made_again_from_its_model(make_table, table_spec, tmp_path):
    """An uploaded (or completed) run is rebuilt from its model.keras: a refitted one on the
    network the training and validation rows shaped (a category seen only among the
    validation rows widens its one-hot input), with the same scores."""
    from layerlab.model import jobs
    from layerlab.model.jobs import JobContext, train_model

    frame = make_table(300, task="regression")
    frame.loc[frame.index[-40:], "city"] = "brest"  # mostly beyond the training rows
    spec = table_spec("regression", epochs=6, patience=2, refit=True)
    trained = train_model(JobContext(), frame, spec, tmp_path)
    assert trained.refitted
    facts = {
        "history": trained.history,
        "best_epoch": trained.best_epoch,
        "kept_epoch": trained.kept_epoch,
        "stop_reason": trained.stop_reason,
        "message": trained.message,
        "seconds": trained.seconds,
        "engine": trained.engine,
        "refitted": True,
    }
    rebuilt = jobs.rebuild_files(JobContext(), frame, spec, facts, tmp_path)
    assert rebuilt.evaluation.metrics == pytest.approx(trained.evaluation.metrics)
    assert rebuilt.refitted

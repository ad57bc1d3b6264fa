"""Stop reaches every phase of a training job, and what was trained is kept.

After the epochs a job scores the test split and fits the baselines, works out
importance and the model card, and writes the bundle: each of those hears Stop
within a fraction of a second (checked between the parts and inside their loops),
and a run stopped there still keeps its model, its test scores and its bundle.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from layerlab.model import evaluate as evaluate_module
from layerlab.model import importance, insights, jobs
from layerlab.model.boosting import fit_stoppably
from layerlab.model.evaluate import evaluate
from layerlab.model.jobs import JobContext, skipped_sentence, train_model
from layerlab.model.train import EpochEnd, train
from layerlab.report.model_card import bootstrap_intervals
from layerlab.report.records import evaluation_from_json
from layerlab.report.run_files import RUN_FILES
from layerlab.report.run_messages import COMPLETING_SENTENCE
from layerlab.schema.run_events import CheckpointSaved
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab.tabular.importance_report import importance_sentence
from layerlab_app.tables import metrics_table, verdict


def _wide_table(rows: int = 300, columns: int = 40, seed: int = 0) -> pd.DataFrame:
    """``columns`` numbers of which the first three give the class away."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns)).round(3)
    frame = pd.DataFrame(values, columns=[f"x{i}" for i in range(columns)])
    frame["label"] = np.where(values[:, :3].sum(axis=1) > 0, "yes", "no")
    return frame


def _wide_spec(columns: int = 40, **changes) -> ModelSpec:
    spec = ModelSpec(
        target="label",
        task="binary",
        features=[Feature(f"x{i}", "numeric") for i in range(columns)],
        layers=[LayerSpec.dense(8)],
        epochs=2,
        patience=0,
        seed=3,
    )
    return spec.replace(**changes)


@pytest.fixture(scope="module", autouse=True)
def _tensorflow_imported():
    """As in a worker, TensorFlow is imported before a run starts, so the boosting baseline
    is fitted after training (``boosting.start_boosting_baseline``), where Stop can reach it."""
    import tensorflow  # noqa: F401


@pytest.fixture(scope="module")
def wide_result():
    return train(_wide_table(), _wide_spec())


class StopAfterTheEpochs:
    """A job's ``stop_requested`` that turns true once training is over and the run is being
    kept (its last epoch's weights are saved as its checkpoint then), counting how often it
    was asked after that."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.pressed = False
        self.asked_after = 0

    def emit(self, event) -> None:
        if isinstance(event, CheckpointSaved) and event.epoch == self.epochs:
            self.pressed = True

    def __call__(self) -> bool:
        self.asked_after += self.pressed
        return self.pressed


def test_stop_after_the_epochs_keeps_the_model_scores_and_bundle_and_skips_the_rest(
    tmp_path, monkeypatch
):
    def never(*args, **kwargs):
        raise AssertionError("a slow part ran after Stop")

    monkeypatch.setattr(insights, "permutation_importances", never)
    monkeypatch.setattr(evaluate_module, "boosting_probabilities", never)
    monkeypatch.setattr(jobs, "run_insights", never)
    stop = StopAfterTheEpochs(epochs=2)
    trained = train_model(
        JobContext(emit=stop.emit, stop_requested=stop),
        _wide_table(),
        _wide_spec(),
        tmp_path,
    )
    assert trained.kept_epoch == 2 and stop.asked_after >= 1
    for role in ("model", "bundle", "evaluation", "summary", "train_script"):
        assert (tmp_path / RUN_FILES[role]).is_file(), role
    for role in ("importance", "card", "network", "effects"):
        assert not (tmp_path / RUN_FILES[role]).exists(), role
    evaluation = evaluation_from_json((tmp_path / RUN_FILES["evaluation"]).read_text())
    assert list(evaluation.baselines) == ["naive"]
    assert 0.0 <= evaluation.metrics["accuracy"] <= 1.0
    with zipfile.ZipFile(tmp_path / RUN_FILES["bundle"]) as bundle:
        assert {"model.keras", "metrics.json", "predict.py"} <= set(bundle.namelist())
        assert "importance.csv" not in bundle.namelist()
    assert trained.message.endswith(
        "Stop was pressed while the run was being kept, so logistic regression, gradient "
        "boosting, importance, the model card and the picture of the network and its first "
        "predictions were skipped; the model, its test scores and its bundle are kept."
    )


def test_a_run_stopped_after_its_epochs_still_reads_on_the_results_page(tmp_path):
    stop = StopAfterTheEpochs(epochs=2)
    trained = train_model(
        JobContext(emit=stop.emit, stop_requested=stop), _wide_table(), _wide_spec(), tmp_path
    )
    evaluation = trained.evaluation
    assert list(metrics_table(evaluation).columns) == [
        "This network",
        "Always guessing the most common class",
    ]
    _, sentence = verdict(evaluation)
    assert sentence.startswith(
        (
            "The network beats always guessing the most common class on rows it never saw "
            "(the other baselines were not fitted).",
            "The network's accuracy is not better than always guessing the most common class.",
        )
    )
    assert trained.importance() is None and trained.model_card() is None
    assert "Gradient boosting" not in metrics_table(evaluation).columns


def test_a_job_not_stopped_keeps_every_part(tmp_path):
    trained = train_model(JobContext(), _wide_table(), _wide_spec(), tmp_path)
    assert list(trained.evaluation.baselines) == ["naive", "linear", "boosting"]
    for role in ("importance", "card", "effects", "train_script", "bundle"):
        assert (tmp_path / RUN_FILES[role]).is_file(), role
    assert "Stop was pressed" not in trained.message
    assert set(trained.importance()["rows"]) == {len(trained.evaluation.predictions)}


def test_stop_inside_importance_makes_no_further_model_call(wide_result, monkeypatch):
    calls = []
    outputs = importance.network_outputs

    def counting(built, features):
        calls.append(len(features))
        return outputs(built, features)

    monkeypatch.setattr(importance, "network_outputs", counting)
    monkeypatch.setattr(importance, "CHUNK_CELLS", 1)  # one shuffled copy per call
    table = importance.permutation_importances(
        wide_result, seconds=float("inf"), should_stop=lambda: len(calls) >= 4
    )
    # The unshuffled rows, then three copies; all of 40 columns x 5 shuffles needed 201.
    assert len(calls) == 4
    assert table["importance"].isna().sum() == 40
    assert len(table) == 40 and table["column"].is_unique


def test_importance_stops_at_its_time_budget_and_says_what_it_left(wide_result):
    table = importance.permutation_importances(wide_result, seconds=0.0)
    assert table["importance"].isna().all() and table["spread"].isna().all()
    assert importance_sentence(table).startswith("No column was measured on 60 test")


def test_stopped_evaluation_keeps_the_test_scores_and_the_naive_baseline(wide_result):
    evaluation = evaluate(wide_result, should_stop=lambda: True)
    assert list(evaluation.baselines) == ["naive"]
    assert evaluation.metrics == evaluate(wide_result).metrics
    assert evaluation.baselines["naive"] == evaluate(wide_result).baselines["naive"]


def test_boosting_hears_stop_between_its_steps_of_trees():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    y = (x["a"] + rng.normal(0, 0.5, 400) > 0).astype(int).to_numpy()
    asked = []
    model = HistGradientBoostingClassifier(random_state=0)
    assert not fit_stoppably(model, x, y, lambda: asked.append(1) or len(asked) > 2)
    assert len(asked) == 3 and 0 < model.n_iter_ < model.max_iter


@pytest.mark.parametrize(
    "estimator", [HistGradientBoostingClassifier, HistGradientBoostingRegressor]
)
def test_boosting_fitted_in_steps_is_the_model_one_fit_gives(estimator):
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.normal(size=(600, 4)), columns=list("abcd"))
    y = (x["a"] - x["b"] + rng.normal(0, 0.5, 600) > 0).astype(int).to_numpy()
    whole = estimator(random_state=2).fit(x, y)
    stepped = estimator(random_state=2)
    assert fit_stoppably(stepped, x, y, lambda: False)
    assert stepped.n_iter_ == whole.n_iter_
    np.testing.assert_array_equal(stepped.predict(x), whole.predict(x))


def test_the_bootstrap_gives_no_intervals_once_stopped(wide_result):
    predictions = evaluate(wide_result).predictions
    assert (
        bootstrap_intervals(predictions, "binary", wide_result.classes, should_stop=lambda: True)
        == {}
    )
    assert bootstrap_intervals(predictions, "binary", wide_result.classes)


def test_insights_stopped_midway_are_none(wide_result):
    evaluation = evaluate(wide_result)
    asked = []
    assert (
        insights.run_insights(
            wide_result, evaluation, should_stop=lambda: bool(asked.append(1)) or len(asked) > 3
        )
        is None
    )
    assert insights.run_insights(wide_result, evaluation) is not None


def test_the_message_names_what_was_skipped():
    assert skipped_sentence([]) == ""
    assert skipped_sentence(["importance"]) == (
        " Stop was pressed while the run was being kept, so importance was skipped; the "
        "model, its test scores and its bundle are kept."
    )


class StopDuringTraining:
    """Stop pressed once the first epoch has been reported, long before the last."""

    def __init__(self) -> None:
        self.pressed = False

    def emit(self, event) -> None:
        self.pressed = self.pressed or isinstance(event, EpochEnd)

    def __call__(self) -> bool:
        return self.pressed


def test_stop_during_training_keeps_the_run_at_once_and_its_completion_adds_the_rest(
    tmp_path, monkeypatch
):
    """Stop answers within a second: the model, its test scores and its bundle are kept at
    once; the baselines, importance, model card and picture follow in a job of their own
    (``jobs.rebuild_files``), which the run's message announces until they are there."""
    slow_parts = []
    monkeypatch.setattr(jobs, "run_insights", _noting(jobs.run_insights, slow_parts))
    stop, spec = StopDuringTraining(), _wide_spec(epochs=1_000)
    trained = train_model(
        JobContext(emit=stop.emit, stop_requested=stop), _wide_table(), spec, tmp_path
    )
    assert trained.stop_reason == "stopped" and trained.completes_later and not slow_parts
    assert trained.message.endswith(COMPLETING_SENTENCE)
    assert "Stop was pressed" not in trained.message
    assert list(trained.evaluation.baselines) == ["naive"]
    for role in ("model", "bundle", "evaluation", "summary", "train_script"):
        assert (tmp_path / RUN_FILES[role]).is_file(), role
    assert not (tmp_path / RUN_FILES["importance"]).exists()

    facts = {
        "history": trained.history,
        "best_epoch": trained.best_epoch,
        "kept_epoch": trained.kept_epoch,
        "stop_reason": trained.stop_reason,
        "message": trained.message.removesuffix(COMPLETING_SENTENCE),
        "seconds": trained.seconds,
        "engine": trained.engine,
    }
    complete = jobs.rebuild_files(JobContext(), _wide_table(), spec, facts, tmp_path)
    assert slow_parts and not complete.completes_later
    assert list(complete.evaluation.baselines) == ["naive", "linear", "boosting"]
    assert complete.evaluation.metrics == trained.evaluation.metrics  # the same weights
    assert complete.message == facts["message"]
    for role in ("importance", "card", "effects", "bundle"):
        assert (tmp_path / RUN_FILES[role]).is_file(), role
    with zipfile.ZipFile(tmp_path / RUN_FILES["bundle"]) as bundle:
        assert {"MODEL_CARD.md", "importance.csv"} <= set(bundle.namelist())


def _noting(function, calls: list):
    def noted(*args, **kwargs):
        calls.append(function.__name__)
        return function(*args, **kwargs)

    return noted

"""Gradient boosting on the raw columns: the strongest simple model, and an honest verdict."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.cli.common import comparison_line
from layerlab.model.boosting import (
    MAX_CATEGORIES,
    boosting_frames,
    boosting_predictions,
    boosting_probabilities,
)
from layerlab.model.evaluate import evaluate
from layerlab.model.train import train
from layerlab.report.model_card import CardFacts, Interval, card_markdown
from layerlab.report.records import evaluation_from_json, evaluation_to_json
from layerlab.schema.spec import Feature, ModelSpec, default_spec
from layerlab.tabular.data import profile_columns
from layerlab.tabular.evaluation import AHEAD, BEHIND, BEHIND_STRONGEST, Evaluation
from layerlab.tabular.reading import read_csv
from layerlab_app.tables import metrics_table, verdict

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def a_spec(task: str = "regression", **kinds: str) -> ModelSpec:
    return ModelSpec(
        target="y",
        task=task,
        features=[Feature(name, kind) for name, kind in kinds.items()],
        layers=[],
        epochs=1,
    )


# ------------------------------------------------------------------ in every evaluation


def test_gradient_boosting_sits_beside_the_other_baselines_for_numbers(make_table, table_spec):
    evaluation = evaluate(train(make_table(300, "regression"), table_spec("regression", epochs=2)))
    boosting = evaluation.baselines["boosting"]
    assert list(evaluation.baselines) == ["naive", "linear", "boosting"]
    assert set(boosting) == set(evaluation.metrics)
    assert boosting["mae"] < 0.5 * evaluation.baselines["naive"]["mae"]
    assert boosting["r2"] > 0.5


def test_gradient_boosting_sits_beside_the_other_baselines_for_two_classes(churn_evaluation):
    boosting = churn_evaluation.baselines["boosting"]
    naive = churn_evaluation.baselines["naive"]
    assert set(boosting) == set(churn_evaluation.metrics)
    assert boosting["accuracy"] > naive["accuracy"]
    assert boosting["roc_auc"] > 0.6
    assert churn_evaluation.to_dict()["baselines"]["boosting"] == boosting  # metrics.json


def test_gradient_boosting_sits_beside_the_other_baselines_for_several_classes():
    frame = read_csv(DATA_DIR / "iris.csv")
    spec = default_spec("species", "multiclass", profile_columns(frame, "species"))
    evaluation = evaluate(train(frame, spec.replace(epochs=2)))
    boosting = evaluation.baselines["boosting"]
    assert set(boosting) == set(evaluation.metrics)
    assert boosting["accuracy"] >= 0.8
    assert boosting["log_loss"] < evaluation.baselines["naive"]["log_loss"]


# ------------------------------------------------------------------ the raw columns


def test_missing_numbers_stay_missing_and_boosting_learns_what_they_mean():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 400)
    y = np.where(np.arange(400) % 4 == 0, 10.0, x)  # a missing x means y is 10
    train_rows = pd.DataFrame({"x": np.where(np.arange(400) % 4 == 0, np.nan, x), "y": y})
    test_rows = pd.DataFrame({"x": [np.nan, "n/a", 0.5]})
    spec = a_spec(x="numeric")
    x_train, x_test = boosting_frames(spec, train_rows, test_rows)
    assert x_train["x"].isna().sum() == 100 and x_test["x"].isna().tolist() == [True, True, False]
    predicted = boosting_predictions(spec, train_rows, y, test_rows)
    assert predicted[:2] == pytest.approx([10.0, 10.0], abs=0.5)
    assert predicted[2] == pytest.approx(0.5, abs=0.2)


def test_a_column_with_no_number_in_training_is_no_error():
    train_rows = pd.DataFrame({"x": [np.nan] * 30, "z": np.arange(30.0)})
    spec = a_spec(x="numeric", z="numeric")
    predicted = boosting_predictions(spec, train_rows, np.arange(30.0), train_rows.assign(x=1.0))
    assert np.isfinite(predicted).all()


def test_an_unseen_category_predicts_as_a_missing_one_without_error():
    rng = np.random.default_rng(1)
    city = rng.choice(["paris", "lyon", "nice", None], 300)
    y = np.select([city == "paris", city == "lyon"], [1.0, 2.0], 3.0)
    train_rows = pd.DataFrame({"city": city, "y": y})
    test_rows = pd.DataFrame({"city": ["Paris ", "lyon", "oslo", None]})
    spec = a_spec(city="categorical")
    _, x_test = boosting_frames(spec, train_rows, test_rows)
    assert list(x_test["city"].cat.categories) == ["lyon", "nice", "paris"]
    assert x_test["city"].isna().tolist() == [False, False, True, True]  # "Paris " is paris
    predicted = boosting_predictions(spec, train_rows, y, test_rows)
    assert predicted[:2] == pytest.approx([1.0, 2.0], abs=0.1)
    assert predicted[2] == predicted[3]


def test_more_categories_than_boosting_takes_keeps_the_commonest():
    codes = [f"c{number}" for number in range(300)]
    values = codes + codes[:MAX_CATEGORIES]  # the first 255 twice, the last 45 once
    flags = np.resize(["yes", "no"], len(values))
    train_rows = pd.DataFrame({"code": values, "flag": flags})
    train_rows["y"] = np.arange(len(values), dtype=float)
    spec = a_spec(code="categorical", flag="boolean")
    x_train, _ = boosting_frames(spec, train_rows, train_rows)
    assert len(x_train["code"].cat.categories) == MAX_CATEGORIES
    assert x_train["code"].isna().sum() == 300 - MAX_CATEGORIES
    assert list(x_train["flag"].cat.categories) == ["no", "yes"]
    predicted = boosting_predictions(spec, train_rows, train_rows["y"].to_numpy(), train_rows)
    assert np.isfinite(predicted).all()


def test_class_probabilities_follow_the_class_order_and_the_class_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    frame = pd.DataFrame(x, columns=["a", "b"])
    labels = (x[:, 0] + rng.normal(size=600) > 2.0).astype(int)  # about 7% are class 1
    spec = a_spec("binary", a="numeric", b="numeric")
    plain = boosting_probabilities(spec, frame, labels, frame, 3)
    assert plain.shape == (600, 3) and (plain[:, 2] == 0).all()  # no row of class 2
    np.testing.assert_allclose(plain.sum(axis=1), 1.0)
    balanced = boosting_probabilities(spec, frame, labels, frame, 3, balanced=True)
    # Weighted, the rare class is predicted more often.
    assert (balanced.argmax(axis=1) == 1).sum() > (plain.argmax(axis=1) == 1).sum()


def test_the_same_seed_gives_the_same_boosting():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(size=300)})
    y = frame["a"].to_numpy() ** 2 + rng.normal(0, 0.1, 300)
    spec = a_spec(a="numeric")
    first = boosting_predictions(spec, frame, y, frame)
    np.testing.assert_array_equal(first, boosting_predictions(spec, frame, y, frame))


# ------------------------------------------------------------------ saved before it existed


def test_an_evaluation_saved_before_gradient_boosting_still_loads_and_shows(churn_evaluation):
    saved = json.loads(evaluation_to_json(churn_evaluation))
    del saved["baselines"]["boosting"]
    old = evaluation_from_json(json.dumps(saved))
    assert list(old.baselines) == ["naive", "linear"]
    assert "Gradient boosting" not in metrics_table(old).columns
    assert "gradient boosting" not in old.headline()
    outcome, sentence = old.comparison()
    assert "gradient boosting" not in sentence
    if outcome == AHEAD:
        assert sentence == "The network beats both baselines on rows it never saw."


# ------------------------------------------------------------------ the verdict


def scored(network: float, naive: float, linear: float, boosting: float | None) -> Evaluation:
    """A binary evaluation judged by accuracy (``boosting`` None: saved before it existed)."""

    def metrics(accuracy):
        return {"accuracy": accuracy, "balanced_accuracy": accuracy, "log_loss": 1 - accuracy}

    baselines = {"naive": metrics(naive), "linear": metrics(linear)}
    if boosting is not None:
        baselines["boosting"] = metrics(boosting)
    return Evaluation("binary", metrics(network), baselines, pd.DataFrame())


def test_a_network_that_beats_gradient_boosting_is_told_so():
    evaluation = scored(0.86, 0.6, 0.8, 0.84)
    sentence = (
        "The network beats every baseline on rows it never saw, gradient boosting "
        "(the strongest simple model) included."
    )
    assert evaluation.comparison() == (AHEAD, sentence)
    assert verdict(evaluation) == (True, sentence)
    assert comparison_line(evaluation) == sentence


def test_a_network_behind_gradient_boosting_hears_it_with_both_scores():
    evaluation = scored(0.823, 0.6, 0.8, 0.871)
    sentence = (
        "The network beats always guessing the most common class and logistic regression, "
        "but gradient boosting (the strongest simple model) does better: accuracy 0.871 "
        "against the network's 0.823."
    )
    assert evaluation.comparison() == (BEHIND_STRONGEST, sentence)
    assert verdict(evaluation) == (
        False,
        sentence + " Try the Search on the Model page, or use gradient boosting.",
    )
    assert comparison_line(evaluation) == (
        sentence + " Try `python -m layerlab search`, or use gradient boosting."
    )
    assert comparison_line(evaluation, searched=True).endswith(
        "Search longer, or use gradient boosting."
    )


def test_close_scores_get_the_digits_that_tell_them_apart():
    _, sentence = scored(0.8231, 0.6, 0.8, 0.8234).comparison()
    assert "accuracy 0.8234 against the network's 0.8231" in sentence
    _, tied = scored(0.9, 0.6, 0.8, 0.9).comparison()
    assert tied.endswith("does as well: accuracy 0.9, the same as the network's.")


def test_a_network_behind_a_simpler_baseline_names_each_one_it_does_not_beat():
    evaluation = scored(0.78, 0.6, 0.8, 0.85)
    outcome, sentence = evaluation.comparison()
    assert (outcome, sentence) == (
        BEHIND,
        "The network's accuracy is not better than logistic regression or gradient boosting.",
    )
    better, shown = verdict(evaluation)
    assert not better and shown.endswith(
        "What its learning curves say, and a change to try, is below."
    )


def test_a_score_too_good_to_be_true_is_questioned_before_any_comparison():
    better, sentence = verdict(scored(1.0, 0.6, 0.8, 0.9))
    assert not better and "close to perfect" in sentence and "gradient boosting" not in sentence


def test_the_metrics_table_and_the_model_card_name_gradient_boosting():
    assert list(metrics_table(scored(0.86, 0.6, 0.8, 0.84)).columns)[-1] == "Gradient boosting"
    facts = CardFacts(
        target="price",
        task="regression",
        network="64 relu",
        rows={"train": 80, "validation": 10, "test": 10},
        used=[("area", "numeric")],
        left_out={},
        intervals={"mae": Interval(2_000.0, 1_900.0, 2_100.0)},
        baselines={"naive": {"mae": 5_000.0}, "boosting": {"mae": 2_345.6}},
        importance=None,
        diagnoses=[],
        warnings=[],
    )
    card = card_markdown(facts)
    assert "gradient boosting (the strongest simple model) 2,346" in card


# ------------------------------------------------------------------ fitted while the network trains

_EARLY_BOOSTING = """
import dataclasses, json, sys
from layerlab.tabular.data import profile_columns
from layerlab.model.evaluate import evaluate
from layerlab.tabular.reading import read_csv
from layerlab.schema.spec import default_spec
from layerlab.tabular.task import infer_task
from layerlab.model.train import TrainingRun

frame, target = read_csv(sys.argv[1]), sys.argv[2]
task = infer_task(frame[target])
spec = default_spec(target, task, profile_columns(frame, target)).replace(epochs=2)
assert "tensorflow" not in sys.modules
result = TrainingRun(frame, spec).run()
early = result.boosting is not None
together = evaluate(result).baselines["boosting"]
after = evaluate(dataclasses.replace(result, boosting=None)).baselines["boosting"]
print(json.dumps({"early": early, "together": together, "after": after}))
"""


@pytest.mark.parametrize(
    ("table", "target"), [("iris.csv", "species"), ("diabetes.csv", "disease_progression")]
)
def test_boosting_fitted_while_tensorflow_imports_scores_as_if_fitted_after(table, target):
    """The command line's first run fits the baseline on a thread during TensorFlow's import;
    it is the same baseline, with the same scores, as one fitted after training."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _EARLY_BOOSTING, str(DATA_DIR / table), target],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["early"] is True
    assert seen["together"] == pytest.approx(seen["after"], rel=1e-9)


def test_a_process_that_has_tensorflow_fits_the_baseline_after_training(make_table, table_spec):
    import pickle

    import tensorflow  # noqa: F401 (a worker's case: TensorFlow is there before the run)

    from layerlab.model.train import TrainingRun

    result = TrainingRun(make_table(200, "binary"), table_spec("binary", epochs=1)).run()
    assert result.boosting is None
    evaluation = evaluate(result)
    assert set(evaluation.baselines["boosting"]) == set(evaluation.metrics)
    # A result that travels to another process leaves a pending fit behind, and is refitted.
    pending = dataclasses.replace(result, built=None, boosting=Future())
    assert pickle.loads(pickle.dumps(pending)).boosting is None

"""Permutation importance: which raw columns a trained network leans on, and by how much."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from layerlab.model import importance
from layerlab.model.importance import permutation_importances
from layerlab.model.train import train
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab.tabular.importance_report import importance_csv, importance_sentence

COLOUR_EFFECT = {"red": -2.0, "green": 0.0, "blue": 2.0}


def _signal_table(task: str, n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The target follows ``size`` and ``colour`` strongly and ``noise`` not at all."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(-2, 2, n)
    colour = rng.choice(list(COLOUR_EFFECT), n)
    noise = rng.normal(0, 1, n)
    signal = size + pd.Series(colour).map(COLOUR_EFFECT).to_numpy()
    frame = pd.DataFrame({"size": size, "colour": colour, "noise": noise})
    if task == "regression":
        frame["price"] = 100 + 25 * signal + rng.normal(0, 2, n)
    else:
        frame["bought"] = np.where(signal + rng.normal(0, 0.3, n) > 0, "yes", "no")
    return frame


def _signal_spec(task: str) -> ModelSpec:
    return ModelSpec(
        target="price" if task == "regression" else "bought",
        task=task,
        features=[
            Feature("size", "numeric"),
            Feature("colour", "categorical"),
            Feature("noise", "numeric"),
        ],
        layers=[LayerSpec.dense(16, "relu")],
        learning_rate=0.02,
        epochs=15,
        patience=0,
    )


@pytest.fixture(scope="module", params=["regression", "binary"])
def trained(request):
    task = request.param
    return train(_signal_table(task), _signal_spec(task))


@pytest.fixture(scope="module")
def table(trained) -> pd.DataFrame:
    return permutation_importances(trained)


def test_informative_columns_rank_above_the_noise_column(table):
    assert set(table["column"].iloc[:2]) == {"size", "colour"}
    assert table["column"].iloc[-1] == "noise"
    assert (table["importance"].iloc[:2] > 10 * table["spread"].iloc[:2]).all()


def test_the_noise_column_barely_matters(table):
    noise = table.set_index("column").loc["noise"]
    top = table["importance"].max()
    assert abs(noise["importance"]) <= 2 * noise["spread"] + 0.02 * top


def test_a_categorical_column_is_judged_once_not_per_category(trained, table):
    assert sorted(table["column"]) == sorted(trained.spec.feature_names)
    assert (table["column"] == "colour").sum() == 1


def test_the_table_is_sorted_most_important_first(table):
    assert list(table.columns) == ["column", "importance", "spread", "score", "rows"]
    assert table["importance"].is_monotonic_decreasing
    assert (table["spread"] >= 0).all()


def test_the_score_is_the_loss_in_the_users_terms(trained, table):
    expected = "mean absolute error" if trained.spec.task == "regression" else "log loss"
    assert set(table["score"]) == {expected}


def test_the_same_seed_gives_the_same_table(trained, table):
    pd.testing.assert_frame_equal(permutation_importances(trained, seed=trained.spec.seed), table)
    again = permutation_importances(trained, seed=7, repeats=2)
    pd.testing.assert_frame_equal(permutation_importances(trained, seed=7, repeats=2), again)


def test_a_large_test_split_is_judged_on_a_seeded_sample(trained, monkeypatch):
    sizes: list[int] = []
    outputs = importance.network_outputs

    def counting(built, features):
        sizes.append(len(features))
        return outputs(built, features)

    monkeypatch.setattr(importance, "network_outputs", counting)
    sampled = permutation_importances(trained, max_rows=50, repeats=2)
    assert len(trained.splits.test) > 50
    assert sizes and all(size % 50 == 0 for size in sizes)
    assert sum(sizes) == 50 * (1 + 2 * len(trained.spec.features))
    assert set(sampled["rows"]) == {50}
    pd.testing.assert_frame_equal(permutation_importances(trained, max_rows=50, repeats=2), sampled)


def test_shuffling_a_columns_inputs_predicts_as_the_whole_model_does(trained):
    """Importance shuffles a column's block of model inputs (made once) instead of the raw
    column; the network from those inputs must predict what the model predicts."""
    from layerlab.model.build import predict_frame
    from layerlab.model.train import preprocess

    test = trained.splits.test
    np.testing.assert_allclose(
        importance.network_outputs(trained.built, preprocess(trained.built, test)),
        predict_frame(trained.built, test),
        rtol=1e-5,
        atol=1e-5,
    )


def test_an_ensemble_with_dropout_and_batch_norm_predicts_the_same_from_its_inputs():
    from layerlab.model.build import predict_frame
    from layerlab.model.train import preprocess

    spec = _signal_spec("binary").replace(
        layers=[LayerSpec.dense(8), LayerSpec.batch_norm(), LayerSpec.dropout(0.3)],
        ensemble=2,
        epochs=2,
    )
    result = train(_signal_table("binary", n=300), spec)
    test = result.splits.test
    np.testing.assert_allclose(
        importance.network_outputs(result.built, preprocess(result.built, test)),
        predict_frame(result.built, test),
        atol=1e-5,
    )


def test_the_columns_likeliest_to_matter_are_measured_first(trained):
    """With time for only some columns, the screen puts the informative ones first: the
    noise column is the one left unmeasured."""
    from layerlab.model.train import preprocess

    built = trained.built
    features = preprocess(built, trained.splits.test)
    order = importance.screen_order(built, features, importance._blocks(built))
    names = [trained.spec.features[position].name for position in order]
    assert names[-1] == "noise"


def test_columns_not_measured_in_time_come_last_and_the_sentence_says_so():
    table = _hand_table([0.5, 0.2, np.nan, np.nan], [0.1, 0.05, np.nan, np.nan]).assign(rows=2000)
    sentence = importance_sentence(table)
    assert sentence == (
        "Shuffling c0 makes the test MAE worse by 0.5 (± 0.1), c1 by 0.2 (± 0.05). Measured "
        "on 2,000 test rows for the 2 columns likeliest to matter; the other 2 were not "
        "measured within the 25% of the training time that importance may take."
    )
    everything = _hand_table([0.5], [0.1]).assign(rows=80)
    assert importance_sentence(everything).endswith("(± 0.1). Measured on 80 test rows.")


def test_the_time_allowed_is_a_share_of_the_training_with_a_floor():
    assert importance.importance_seconds(0.5) == importance.MIN_SECONDS
    assert importance.importance_seconds(400) == 400 * importance.TIME_SHARE


def test_the_csv_round_trips_with_pandas(table):
    read = pd.read_csv(io.BytesIO(importance_csv(table)), encoding="utf-8")
    pd.testing.assert_frame_equal(read, table)


def test_the_sentence_names_the_top_column_in_readable_numbers(table):
    sentence = importance_sentence(table)
    score = table["score"].iloc[0]
    assert sentence.startswith(
        f"Shuffling {table['column'].iloc[0]} makes the test {score} worse by "
    )
    assert "±" in sentence and "\n" not in sentence
    assert not re.search(r"\d[eE][+-]?\d", sentence)


def _hand_table(importances: list[float], spreads: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "column": [f"c{i}" for i in range(len(importances))],
            "importance": importances,
            "spread": spreads,
            "score": "MAE",
        }
    )


def test_the_sentence_counts_the_columns_it_leaves_out():
    sentence = importance_sentence(
        _hand_table([1234.5, 0.5, 0.000012, -0.001, -0.002], [56.0, 0.1, 0.00001, 0.01, 0.01])
    )
    assert sentence == (
        "Shuffling c0 makes the test MAE worse by 1,234 (± 56), c1 by 0.5 (± 0.1), "
        "c2 by 0.000012 (± 0.00001); the other 2 columns matter less."
    )


def test_the_sentence_says_when_no_column_matters():
    sentence = importance_sentence(_hand_table([-0.001, -0.002], [0.01, 0.01]))
    assert sentence.startswith("Shuffling no single column makes the test MAE worse")
    assert importance_sentence(_hand_table([], [])) == "There is no feature column to judge."


def test_a_repeat_count_below_one_is_refused(trained):
    with pytest.raises(ValueError, match="'repeats' must be >= 1; got 0"):
        permutation_importances(trained, repeats=0)


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_the_losses_of_stacked_copies_are_scikit_learns(task):
    """``_losses`` works out every copy at once; each must be the loss scikit-learn gives."""
    from sklearn.metrics import log_loss, mean_absolute_error

    rng = np.random.default_rng(3)
    rows, copies, n_classes = 50, 4, 1 if task == "regression" else (2 if task == "binary" else 4)
    if task == "regression":
        actual = rng.normal(100, 20, rows)
        outputs = rng.normal(100, 20, rows * copies)
        expected = [
            mean_absolute_error(actual, outputs[i * rows : (i + 1) * rows]) for i in range(copies)
        ]
    else:
        actual = rng.integers(0, n_classes, rows)
        outputs = rng.dirichlet(np.full(n_classes, 0.3), rows * copies).astype("float32")
        outputs[0] = 0.0  # a sure miss or hit: the clipping must match too
        outputs[0, actual[0]] = 1.0
        outputs[1] = 0.0
        outputs[1, (actual[1] + 1) % n_classes] = 1.0
        outputs *= rng.uniform(0.5, 1.5, (rows * copies, 1))  # rows that do not sum to 1
        expected = []
        for i in range(copies):
            part = np.clip(outputs[i * rows : (i + 1) * rows], 1e-7, 1.0)
            part = part / part.sum(axis=1, keepdims=True)
            expected.append(log_loss(actual, part, labels=list(range(n_classes))))
    assert importance._losses(task, actual, outputs) == pytest.approx(expected, rel=1e-6)

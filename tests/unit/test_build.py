"""The built model: preprocessing inside, statistics from training rows only, loads without Layerlab."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from layerlab.model.build import (
    MIN_ROWS_PER_CALL,
    PREDICT_CALL_CELLS,
    build_model,
    encode_target,
    predict_frame,
    rows_per_call,
)
from layerlab.model.train import preprocess
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec

# Raw values as a person's table holds them: NaN for a missing number, "" for a missing
# category, a city never seen in training, and a flag spelled in a new way.
NEW_ROWS = {
    "age": [30.0, float("nan"), 70.0, 45.0],
    "income": [40.0, 55.5, float("nan"), 61.0],
    "city": ["paris", "lyon", "", "atlantis"],
    "member": ["yes", "no", "", "maybe"],
}


@pytest.fixture(scope="module")
def regression_model(make_table, table_spec):
    frame = make_table(120, "regression")
    spec = table_spec("regression")
    built = build_model(spec, frame)
    # Nudge the weights away from their initial values so the output depends on every input.
    for weight in built.network.trainable_weights:
        weight.assign(weight.numpy() + 0.05)
    return built


def test_model_predicts_from_raw_values_with_gaps_and_unseen_categories(regression_model):
    predictions = predict_frame(regression_model, pd.DataFrame(NEW_ROWS))
    assert predictions.shape == (4,)
    assert np.isfinite(predictions).all()


def test_saved_model_predicts_the_same_without_layerlab(
    regression_model, tmp_path, run_without_layerlab
):
    regression_model.model.save(tmp_path / "model.keras")
    rows = {
        name: [None if isinstance(value, float) and np.isnan(value) else value for value in values]
        for name, values in NEW_ROWS.items()
    }
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    code = """
import json
import keras
import numpy as np
import tensorflow as tf

rows = json.load(open("rows.json"))
inputs = {}
for name, values in rows.items():
    if name in ("age", "income"):
        array = np.array([np.nan if v is None else v for v in values], dtype="float32")
    else:
        array = np.array(values, dtype=object)
    inputs[name] = tf.constant(array.reshape(-1, 1))
model = keras.saving.load_model("model.keras")  # safe_mode=True, no custom_objects
np.save("predictions.npy", model.predict(inputs, verbose=0))
assert sys.modules["layerlab"] is None
assert not [name for name in sys.modules if name.startswith("layerlab.")]
"""
    done = run_without_layerlab(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    standalone = np.load(tmp_path / "predictions.npy").reshape(-1)
    expected = predict_frame(regression_model, pd.DataFrame(NEW_ROWS))
    np.testing.assert_allclose(standalone, expected, rtol=1e-5, atol=1e-5)


def test_regression_predictions_come_back_in_the_targets_own_units(make_table, table_spec):
    frame = make_table(120, "regression")
    built = build_model(table_spec("regression", layers=[]), frame)
    network_output = built.network.predict(preprocess(built, frame), verbose=0).reshape(-1)
    scaling = built.target_scaling
    assert scaling.mean == pytest.approx(frame["spend"].mean(), rel=1e-6)
    assert scaling.std == pytest.approx(frame["spend"].std(ddof=0), rel=1e-5)
    np.testing.assert_allclose(
        predict_frame(built, frame), network_output * scaling.std + scaling.mean, rtol=1e-4
    )


def two_column_spec() -> ModelSpec:
    return ModelSpec(
        target="y",
        task="regression",
        features=[Feature("x", "numeric"), Feature("colour", "categorical")],
        layers=[LayerSpec.dense(8, "relu")],
    )


def test_preprocessing_statistics_come_from_the_training_rows_only():
    train = pd.DataFrame(
        {"x": [8.0, 12.0, np.nan, 10.0], "colour": ["red", "blue", "red", None], "y": [1, 2, 3, 4]}
    )
    built = build_model(two_column_spec(), train)
    normalization = built.model.get_layer("x_standardized")
    assert float(np.asarray(normalization.mean).reshape(-1)[0]) == pytest.approx(10.0)
    assert float(np.asarray(normalization.variance).reshape(-1)[0]) == pytest.approx(8 / 3)

    # Later rows are scaled with the training statistics, whatever their own mean is.
    later = pd.DataFrame({"x": [100.0, 10.0, np.nan], "colour": ["red", "green", "blue"]})
    features = preprocess(built, later)
    # x standardized, x-was-missing, then one-hot over [unseen, "" (missing), blue, red].
    np.testing.assert_allclose(
        features,
        [
            [90 / np.sqrt(8 / 3), 0, 0, 0, 0, 1],
            [0, 0, 1, 0, 0, 0],
            [0, 1, 0, 0, 1, 0],
        ],
        rtol=1e-5,
        atol=1e-6,
    )


def test_gap_indicator_is_added_only_when_training_had_gaps():
    complete = pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": ["a", "b", "a"], "y": [1, 2, 3]})
    built = build_model(two_column_spec(), complete)
    assert built.n_features == 1 + 3  # x, then one-hot [unseen, a, b]
    later = pd.DataFrame({"x": [np.nan], "colour": [""]})
    np.testing.assert_allclose(preprocess(built, later), [[0, 1, 0, 0]], atol=1e-6)


def test_category_codes_read_as_floats_later_still_match():
    # A code column of whole numbers comes back as floats once a cell is empty (3 -> 3.0).
    spec = ModelSpec(target="y", task="regression", features=[Feature("zone", "categorical")])
    built = build_model(spec, pd.DataFrame({"zone": [1, 2, 3, 2], "y": [1, 2, 3, 4]}))
    later = preprocess(built, pd.DataFrame({"zone": [3.0, 1.0, np.nan]}))
    np.testing.assert_allclose(later, [[0, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0]], atol=1e-6)


def test_true_like_flags_become_one_and_everything_else_zero():
    spec = ModelSpec(target="y", task="regression", features=[Feature("member", "boolean")])
    built = build_model(spec, pd.DataFrame({"member": ["Yes", "No", "Yes"], "y": [1, 2, 3]}))
    later = pd.DataFrame({"member": ["Yes", "No", "", "maybe"]})
    np.testing.assert_allclose(preprocess(built, later).reshape(-1), [1, 0, 0, 0])


def test_parameter_count_matches_the_network_drawn():
    built = build_model(
        two_column_spec(), pd.DataFrame({"x": [1.0, 2.0], "colour": ["a", "b"], "y": [1, 2]})
    )
    # 4 features (x, one-hot of 2 colours + unseen) -> Dense 8 (4*8+8) -> output (8+1).
    assert built.n_features == 4
    assert built.count_params() == 4 * 8 + 8 + 8 + 1
    assert built.network.count_params() == built.count_params()


def test_same_seed_gives_the_same_initial_weights(make_table, table_spec):
    frame = make_table(60)
    first = build_model(table_spec(), frame, ("no", "yes"))
    second = build_model(table_spec(), frame, ("no", "yes"))
    for a, b in zip(first.network.weights, second.network.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_classification_outputs_one_probability_per_class(make_table, table_spec):
    frame = make_table(60)
    sigmoid = build_model(table_spec(), frame, ("no", "yes"))
    softmax = build_model(table_spec(output_activation="softmax"), frame, ("no", "yes"))
    for built in (sigmoid, softmax):
        probabilities = predict_frame(built, frame)
        assert probabilities.shape == (60, 2)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_targets_are_encoded_as_the_network_trains_on_them(make_table, table_spec):
    frame = make_table(60)
    sigmoid = build_model(table_spec(), frame, ("no", "yes"))
    labels = encode_target(frame["bought"], sigmoid)
    assert labels.dtype == np.float32 and labels.shape == (60, 1)
    np.testing.assert_array_equal(labels.reshape(-1), (frame["bought"] == "yes").to_numpy())
    softmax = build_model(table_spec(output_activation="softmax"), frame, ("no", "yes"))
    assert encode_target(frame["bought"], softmax).shape == (60,)


def test_predictions_go_in_as_few_calls_as_the_widest_layer_allows(make_table, table_spec):
    frame = make_table(120, "regression")
    narrow = build_model(table_spec("regression"), frame)
    wide_spec = table_spec("regression", layers=[LayerSpec.dense(4000, "relu")])
    wide = build_model(wide_spec, frame)
    assert rows_per_call(narrow.model) >= PREDICT_CALL_CELLS // 64  # 16 units, a few inputs
    assert rows_per_call(wide.model) == max(MIN_ROWS_PER_CALL, PREDICT_CALL_CELLS // 4000)
    rows = pd.concat([frame] * 50, ignore_index=True)  # 6,000 rows: two calls for the wide one
    assert np.allclose(predict_frame(wide, rows)[:120], predict_frame(wide, frame), atol=1e-5)

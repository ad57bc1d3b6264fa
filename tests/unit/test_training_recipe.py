"""The "better by default" pieces: robust scaling with smooth clipping, piecewise-linear bins,
AdamW's beta_2 and weight decay, the cosine schedule, label smoothing; and old specs."""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd
import pytest

from layerlab.model.build import SMOOTH_CLIP, build_model, predict_outputs
from layerlab.model.engine import learning_rate_schedule, make_optimizer, per_sample_loss
from layerlab.model.train import TrainingRun, preprocess
from layerlab.schema.encoding import PIECEWISE_BINS, piecewise_bins, piecewise_edges
from layerlab.schema.errors import SpecError
from layerlab.schema.spec import LEGACY_TRAINING, SPEC_VERSION, Feature, ModelSpec


def skewed_table(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    income = rng.lognormal(10, 1, n)
    income[:3] = [1e9, np.nan, -1e9]  # an outlier each way and a gap
    age = rng.integers(18, 90, n).astype(float)
    return pd.DataFrame({"income": income, "age": age, "y": np.where(age > 50, "old", "young")})


def table_spec(**changes) -> ModelSpec:
    """A spec with every piece of the recipe at its legacy value, whatever the defaults are."""
    spec = ModelSpec(
        target="y",
        task="binary",
        features=[Feature("income", "numeric"), Feature("age", "numeric")],
        epochs=3,
    ).replace(optimizer="adam", **LEGACY_TRAINING)
    return spec.replace(**changes).validate()


def features_of(spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray:
    built = build_model(spec, frame, ("old", "young"))
    return np.asarray(built.preprocessor.predict(_inputs(spec, frame), verbose=0)), built


def _inputs(spec, frame):
    from layerlab.model.build import as_tensors, model_inputs

    return as_tensors(model_inputs(frame, spec))


def test_robust_scaling_centres_on_the_median_and_clips_smoothly():
    frame = skewed_table()
    x, built = features_of(table_spec(scaling="robust"), frame)
    income = x[:, 0]
    finite = frame["income"].to_numpy()[np.isfinite(frame["income"].to_numpy())]
    low, median, high = np.quantile(finite, [0.25, 0.5, 0.75])
    z = (frame["income"].to_numpy()[3:] - median) / (high - low)
    np.testing.assert_allclose(income[3:], z / np.sqrt(1 + (z / SMOOTH_CLIP) ** 2), rtol=1e-4)
    assert income[0] == pytest.approx(SMOOTH_CLIP, rel=1e-3)  # a billion, clipped near +3
    assert income[2] == pytest.approx(-SMOOTH_CLIP, rel=1e-3)
    assert income[1] == pytest.approx(0.0)  # a gap is imputed at the median...
    assert x[1, 1] == 1.0 and x[0, 1] == 0.0  # ...and flagged
    assert built.input_widths == (2, 1)


def test_standard_scaling_lets_one_outlier_squeeze_the_rest():
    """Why robust scaling: standardized, 99% of the incomes share a sliver near 0."""
    frame = skewed_table()
    standard, _ = features_of(table_spec(scaling="standard"), frame)
    robust, _ = features_of(table_spec(scaling="robust"), frame)
    assert np.std(standard[3:, 0]) < 0.01
    assert np.std(robust[3:, 0]) > 0.5


def test_piecewise_bins_count_how_far_along_each_quantile_bin_a_value_is():
    frame = skewed_table()
    spec = table_spec(numeric_embedding="piecewise")
    x, built = features_of(spec, frame)
    age = frame["age"].to_numpy()
    edges = piecewise_edges(age)
    assert len(edges) == PIECEWISE_BINS + 1
    # income: scaled value, 16 bins, the missing flag; age: scaled value, 16 bins.
    assert built.input_widths == (1 + PIECEWISE_BINS + 1, 1 + PIECEWISE_BINS)
    bins = x[:, -PIECEWISE_BINS:]
    expected = np.clip((age[:, None] - edges[:-1]) / np.diff(edges), 0, 1)
    np.testing.assert_allclose(bins, expected, atol=1e-5)
    assert set(np.round(bins.sum(axis=1) % 1, 4)) != {0.0}  # partial bins carry the position


def test_a_column_with_few_values_gets_no_bins():
    assert piecewise_bins(2) == 0 and piecewise_bins(3) == 2 and piecewise_bins(500) == 16
    frame = skewed_table().assign(age=lambda f: (f["age"] > 50).astype(float))
    _, built = features_of(table_spec(numeric_embedding="piecewise"), frame)
    assert built.input_widths[1] == 1


def test_the_new_encodings_load_in_safe_mode_without_layerlab(tmp_path):
    frame = skewed_table()
    spec = table_spec(scaling="robust", numeric_embedding="piecewise", label_smoothing=0.1)
    result = TrainingRun(frame, spec).run()
    path = tmp_path / "model.keras"
    result.built.model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        predict_outputs(loaded, spec, frame), predict_outputs(result.built.model, spec, frame)
    )


def test_adamw_takes_the_specs_beta_2_and_weight_decay():
    optimizer = make_optimizer(table_spec(optimizer="adamw", beta_2=0.95, weight_decay=0.02))
    assert type(optimizer).__name__ == "AdamW"
    assert optimizer.beta_2 == pytest.approx(0.95)
    assert optimizer.weight_decay == pytest.approx(0.02)
    plain = make_optimizer(table_spec(optimizer="adamw", weight_decay=0.0))
    assert plain.weight_decay == 0.0  # not Keras's own 0.004
    sgd = make_optimizer(table_spec(optimizer="sgd", beta_2=0.95))
    assert not hasattr(sgd, "beta_2")


def test_the_cosine_schedule_warms_up_then_decays_to_zero_at_the_last_epoch():
    spec = table_spec(lr_schedule="cosine", learning_rate=0.01, epochs=20)
    schedule = learning_rate_schedule(spec, steps_per_epoch=50)
    rates = [float(schedule(step)) for step in (0, 25, 50, 500, 999, 1000)]
    assert rates[0] == pytest.approx(0.0)
    assert rates[1] == pytest.approx(0.005, rel=1e-3)  # half way up the 50-step warm-up
    assert rates[2] == pytest.approx(0.01, rel=1e-3)  # the peak
    assert 0.004 < rates[3] < 0.006  # about half way down
    assert rates[4] < 1e-6 and rates[5] == pytest.approx(0.0, abs=1e-9)
    assert learning_rate_schedule(spec.replace(lr_schedule="constant")) == 0.01


def test_a_cosine_run_reports_its_decayed_rate_to_the_optimizer():
    frame = skewed_table()
    spec = table_spec(lr_schedule="cosine", learning_rate=0.01, epochs=4, patience=0)
    run = TrainingRun(frame, spec)
    run.run()
    optimizer = run._engine._loop.optimizer
    assert int(optimizer.iterations) > 0
    assert float(optimizer.learning_rate) < 1e-6  # the schedule ended at zero


@pytest.mark.parametrize(
    "task, output, classes", [("binary", "sigmoid", 2), ("multiclass", "softmax", 3)]
)
def test_label_smoothing_is_cross_entropy_against_softened_labels(task, output, classes):
    spec = ModelSpec(
        target="y",
        task=task,
        features=[Feature("x", "numeric")],
        output_activation=output,
        label_smoothing=0.1,
    )
    rng = np.random.default_rng(0)
    if classes == 2:
        p = rng.uniform(0.05, 0.95, (6, 1)).astype("float32")
        y = rng.integers(0, 2, (6, 1)).astype("float32")
        soft = y * 0.9 + 0.05
        expected = -(soft * np.log(p) + (1 - soft) * np.log(1 - p)).reshape(-1)
    else:
        p = rng.dirichlet(np.ones(classes), 6).astype("float32")
        y = rng.integers(0, classes, 6)
        soft = np.eye(classes)[y] * 0.9 + 0.1 / classes
        expected = -(soft * np.log(p)).sum(axis=1)
    smoothed = np.asarray(per_sample_loss(spec, training=True)(y, p)).reshape(-1)
    plain = np.asarray(per_sample_loss(spec)(y, p)).reshape(-1)
    np.testing.assert_allclose(smoothed, expected, rtol=1e-4)
    assert not np.allclose(plain, smoothed)


def test_label_smoothing_trains_on_soft_labels_but_reports_the_plain_loss():
    frame = skewed_table()
    spec = table_spec(label_smoothing=0.2, epochs=2, patience=0, restore_best_weights=False)
    run = TrainingRun(frame, spec)
    result = run.run()
    built = result.built
    x = preprocess(built, run.splits.validation)
    from layerlab.model.build import encode_target

    y = encode_target(run.splits.validation[spec.target], built)
    p = built.network.predict(x, verbose=0)
    plain = float(np.mean(keras.losses.binary_crossentropy(y, p)))
    assert result.history[-1]["val_loss"] == pytest.approx(plain, rel=1e-4)


def test_a_regression_with_label_smoothing_is_refused_with_a_reason():
    spec = ModelSpec(target="y", task="regression", features=[Feature("x", "numeric")])
    with pytest.raises(SpecError, match="label_smoothing' applies only when predicting classes"):
        spec.replace(label_smoothing=0.1).validate()


@pytest.mark.parametrize(
    "field, value", [("scaling", "minmax"), ("numeric_embedding", "fourier"), ("lr_schedule", 1)]
)
def test_unknown_choices_are_refused_by_name(field, value):
    with pytest.raises(SpecError, match=f"'{field}' must be one of"):
        table_spec().replace(**{field: value}).validate()


def test_a_version_2_spec_loads_as_it_trained():
    old = table_spec().to_dict()
    for name in LEGACY_TRAINING:
        del old[name]
    old["spec_version"] = 2
    loaded = ModelSpec.from_dict(old)
    assert {name: getattr(loaded, name) for name in LEGACY_TRAINING} == LEGACY_TRAINING
    adamw = ModelSpec.from_dict({**old, "optimizer": "adamw"})
    assert adamw.weight_decay == pytest.approx(0.004)  # what Keras's AdamW did by default
    assert loaded.to_dict()["spec_version"] == SPEC_VERSION


def test_a_spec_round_trips_its_new_fields():
    spec = table_spec(
        scaling="robust",
        numeric_embedding="piecewise",
        beta_2=0.95,
        weight_decay=0.02,
        lr_schedule="cosine",
        label_smoothing=0.1,
    )
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert math.isclose(ModelSpec.from_dict({**spec.to_dict(), "beta_2": 1}).beta_2, 1.0)


# ------------------------------------------------------------------ ensemble
def test_an_ensemble_averages_members_that_start_apart(tmp_path):
    frame = skewed_table()
    single = TrainingRun(frame, table_spec(epochs=3, patience=0)).run()
    spec = table_spec(epochs=3, patience=0, ensemble=3)
    result = TrainingRun(frame, spec).run()
    built = result.built
    assert len(built.members) == 3 and built.stack is built.members[0]
    assert built.count_params() == 3 * single.built.count_params()
    # Member 1 starts as the single network does; the others from their own seeds.
    fresh = build_model(spec, frame, ("old", "young"))
    first = [np.asarray(w) for w in fresh.members[0][0].get_weights()]
    single_fresh = build_model(table_spec(), frame, ("old", "young"))
    np.testing.assert_array_equal(first[0], single_fresh.stack[0].get_weights()[0])
    assert not np.allclose(fresh.members[1][0].get_weights()[0], first[0])
    # The model predicts the members' average, and loads in safe mode without Layerlab.
    x = preprocess(built, frame)
    each = [np.asarray(keras.Sequential(stack)(x)) for stack in built.members]
    outputs = predict_outputs(built.model, spec, frame)[:, 1]
    np.testing.assert_allclose(outputs, np.mean(each, axis=0).reshape(-1), rtol=1e-5, atol=1e-6)
    path = tmp_path / "model.keras"
    built.model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(predict_outputs(loaded, spec, frame)[:, 1], outputs, rtol=1e-6)


def test_an_ensembles_reported_loss_is_the_loss_of_its_average():
    frame = skewed_table()
    spec = table_spec(epochs=2, patience=0, restore_best_weights=False, ensemble=2)
    run = TrainingRun(frame, spec)
    result = run.run()
    from layerlab.model.build import encode_target

    x = preprocess(result.built, run.splits.validation)
    y = encode_target(run.splits.validation[spec.target], result.built)
    average = np.asarray(
        result.built.model.predict(_inputs(spec, run.splits.validation), verbose=0)
    )
    plain = float(np.mean(keras.losses.binary_crossentropy(y, average)))
    assert result.history[-1]["val_loss"] == pytest.approx(plain, rel=1e-4)
    assert x.shape[0] == len(y)


def test_an_ensemble_is_named_in_the_networks_one_line_description():
    assert table_spec(ensemble=5).describe().endswith(", 5 averaged")
    assert "averaged" not in table_spec().describe()
    with pytest.raises(SpecError, match="'ensemble' must be a whole number from 1 to 16"):
        table_spec().replace(ensemble=0).validate()


def test_the_memory_estimate_counts_every_member_and_every_bin():
    from layerlab.tabular.memory import estimate_training_memory

    frame = skewed_table(20_000)
    base = estimate_training_memory(table_spec(), frame)
    members = estimate_training_memory(table_spec(ensemble=4), frame)
    bins = estimate_training_memory(table_spec(numeric_embedding="piecewise"), frame)
    assert members.total > base.total and bins.total > base.total

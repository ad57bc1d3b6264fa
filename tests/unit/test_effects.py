"""How the prediction moves: ICE lines, partial dependence and decision surfaces.

Known predict functions stand in for the model, so each picture's shape is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.errors import DataError, SchemaError, SpecError
from layerlab.schema.spec import Feature, ModelSpec
from layerlab.tabular.effects import (
    MAX_ICE_ROWS,
    ice_curves,
    ice_rows,
    prediction_label,
    predictions_from_scored,
    surface_rows,
    surface_values,
)
from layerlab.tabular.model_io import prediction_table
from layerlab.tabular.values import as_numeric

CLASSES = ("no", "yes")


def twice_x(rows: pd.DataFrame) -> np.ndarray:
    """A regression that only looks at x: y = 2x, plus a shift per row from ``other``."""
    return 2 * as_numeric(rows["x"]).astype(float) + as_numeric(rows["other"]).astype(float)


def yes_above_50_age(rows: pd.DataFrame) -> np.ndarray:
    """A classifier that only looks at age: "yes" becomes likely past 50."""
    positive = 1 / (1 + np.exp(-(as_numeric(rows["age"]).astype(float) - 50) / 5))
    return np.column_stack([1 - positive, positive])


def by_city(rows: pd.DataFrame) -> np.ndarray:
    """Three classes, one per city: the row's city gets most of the probability."""
    cities = ("lyon", "nice", "paris")
    chosen = np.array([[city == name for name in cities] for city in rows["city"]], dtype=float)
    return chosen * 0.7 + 0.1


@pytest.fixture
def numbers() -> tuple[pd.DataFrame, ModelSpec]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.uniform(0, 10, 300), "other": rng.normal(0, 3, 300), "y": 0.0})
    spec = ModelSpec(
        target="y",
        task="regression",
        features=[Feature("x", "numeric"), Feature("other", "numeric")],
    )
    return frame, spec


def test_regression_ice_lines_are_parallel_and_the_partial_dependence_slope_is_two(numbers):
    frame, spec = numbers
    grid = ice_rows(frame, spec, "x")
    curves = ice_curves(grid, twice_x(grid.rows), ())

    assert len(grid.values) == 20
    values = np.array(grid.values)
    assert values.min() >= np.quantile(frame["x"], 0.05) - 1e-9
    assert values.max() <= np.quantile(frame["x"], 0.95) + 1e-9
    for _, line in curves[~curves["mean"]].groupby("line"):
        assert np.allclose(np.diff(line["prediction"]) / np.diff(line["value"]), 2)
    average = curves[curves["mean"]]
    assert np.allclose(np.polyfit(average["value"], average["prediction"], 1)[0], 2)
    assert curves.attrs["target_class"] is None
    assert prediction_label(spec, ()) == "y"


def test_each_ice_line_is_one_real_row_with_only_the_column_changed(numbers):
    frame, spec = numbers
    grid = ice_rows(frame, spec, "x", grid=5, lines=3)
    assert len(grid.rows) == 15
    assert list(grid.rows.columns) == ["x", "other"]
    for block, label in enumerate(grid.sampled):
        part = grid.rows.iloc[block * 5 : (block + 1) * 5]
        assert (part["other"] == frame.loc[label, "other"]).all()
        assert part["x"].tolist() == list(grid.values)


def test_the_number_of_rows_to_predict_stays_bounded(numbers):
    frame, spec = numbers
    grid = ice_rows(frame, spec, "x", grid=100, lines=300)
    assert len(grid.rows) <= MAX_ICE_ROWS
    assert len(grid.rows) == len(grid.sampled) * len(grid.values)
    assert len(ice_rows(frame.head(7), spec, "x", lines=50).sampled) == 7


def test_the_same_seed_samples_the_same_rows_and_another_seed_others(numbers):
    frame, spec = numbers
    first = ice_rows(frame, spec, "x", seed=3)
    again = ice_rows(frame, spec, "x", seed=3)
    other = ice_rows(frame, spec, "x", seed=4)
    assert first.sampled == again.sampled
    pd.testing.assert_frame_equal(first.rows, again.rows)
    assert first.sampled != other.sampled


def test_missing_values_in_the_column_are_left_out_of_the_grid(make_table, table_spec):
    frame = make_table(200, "regression")
    assert frame["age"].isna().any()
    grid = ice_rows(frame, table_spec("regression"), "age", lines=200)
    assert not np.isnan(grid.values).any()
    assert not grid.rows["age"].isna().any()  # the sampled rows' gaps are filled by the grid


def test_a_column_with_few_numbers_uses_those_numbers(numbers):
    frame, spec = numbers
    frame = frame.assign(x=np.resize([1.0, 2.0, 3.0, np.nan], len(frame)))
    assert ice_rows(frame, spec, "x").values == (1.0, 2.0, 3.0)


def test_numbers_written_as_text_are_read_like_the_model_reads_them(numbers):
    frame, spec = numbers
    frame = frame.assign(x=np.resize(["1", "2", " 3 ", "NA"], len(frame)).astype(object))
    assert ice_rows(frame, spec, "x").values == (1.0, 2.0, 3.0)


def test_categorical_grid_is_the_most_frequent_categories(make_table, table_spec):
    frame = make_table(200, "binary")
    frame.loc[:60, "city"] = "paris"
    spec = table_spec("binary")
    grid = ice_rows(frame, spec, "city")
    assert grid.values[0] == "paris"
    assert set(grid.values) == {"paris", "lyon", "nice"}  # missing is not a category here
    assert len(grid.rows) == 3 * 50
    curves = ice_curves(grid, by_city_probabilities(grid.rows), CLASSES, target_class="yes")
    average = curves[curves["mean"]].set_index("value")["prediction"]
    assert average["paris"] == pytest.approx(0.8)
    assert average["lyon"] == pytest.approx(0.1)


def by_city_probabilities(rows: pd.DataFrame) -> np.ndarray:
    positive = np.where(rows["city"] == "paris", 0.8, 0.1)
    return np.column_stack([1 - positive, positive])


def test_at_most_twenty_categories_and_spellings_of_one_category_merge():
    names = [f"shop {number:02d}" for number in range(30)]
    frame = pd.DataFrame({"shop": names * 3 + ["Shop 29", " shop 29"] * 5, "y": 1.0})
    spec = ModelSpec(target="y", task="regression", features=[Feature("shop", "categorical")])
    grid = ice_rows(frame, spec, "shop")
    assert len(grid.values) == 20
    assert grid.values[0] in {"shop 29", "Shop 29"}  # 13 rows of one category, three spellings
    assert sum(value.casefold() == "shop 29" for value in grid.values) == 1


def test_boolean_column_varies_over_its_two_values(make_table, table_spec):
    frame = make_table(100, "binary")
    grid = ice_rows(frame, table_spec("binary"), "member", lines=10)
    assert sorted(grid.values) == ["no", "yes"]
    assert len(grid.rows) == 20


def test_binary_ice_shows_the_positive_class_by_default(make_table, table_spec):
    frame = make_table(200, "binary")
    spec = table_spec("binary")
    grid = ice_rows(frame, spec, "age")
    curves = ice_curves(grid, yes_above_50_age(grid.rows), CLASSES)
    assert curves.attrs["target_class"] == "yes"
    average = curves[curves["mean"]]["prediction"].to_numpy()
    assert (np.diff(average) > 0).all()
    shown_no = ice_curves(grid, yes_above_50_age(grid.rows), CLASSES, target_class="no")
    assert np.allclose(shown_no["prediction"], 1 - curves["prediction"])
    assert prediction_label(spec, CLASSES) == "probability of yes"
    with pytest.raises(SpecError, match="maybe"):
        ice_curves(grid, yes_above_50_age(grid.rows), CLASSES, target_class="maybe")


def test_unusable_columns_are_refused_with_the_reason(numbers):
    frame, spec = numbers
    with pytest.raises(SpecError, match='"y" is not one of the model'):
        ice_rows(frame, spec, "y")
    with pytest.raises(DataError, match="every value is 4"):
        ice_rows(frame.assign(x=4.0), spec, "x")
    with pytest.raises(DataError, match="no value is a number"):
        ice_rows(frame.assign(x=np.nan), spec, "x")
    with pytest.raises(SchemaError, match='"other"'):
        ice_rows(frame.drop(columns="other"), spec, "x")


def test_predictions_of_the_wrong_size_are_a_bug_said_plainly(numbers):
    frame, spec = numbers
    grid = ice_rows(frame, spec, "x", grid=4, lines=2)
    with pytest.raises(ValueError, match="Expected 8 predictions; got 3"):
        ice_curves(grid, np.zeros(3), ())


def test_the_surface_changes_only_along_the_column_the_classifier_reads(make_table, table_spec):
    frame = make_table(200, "binary")
    spec = table_spec("binary")
    grid = surface_rows(frame, spec, "age", "income", steps=30)
    assert len(grid.rows) == 900
    assert list(grid.rows.columns) == spec.feature_names
    surface = surface_values(grid, yes_above_50_age(grid.rows), CLASSES)

    assert surface.probability.shape == (30, 30)
    assert surface.shown_class == "yes"
    assert np.allclose(surface.probability, surface.probability[0])  # same in every y row
    assert (np.diff(surface.probability[0]) > 0).all()
    assert set(surface.predicted[0, :5]) == {"no"} and set(surface.predicted[0, -5:]) == {"yes"}
    assert grid.x[0] < np.nanmin(frame["age"]) and grid.x[-1] > np.nanmax(frame["age"])


def test_the_other_columns_hold_typical_values(make_table, table_spec):
    frame = make_table(200, "binary")
    frame.loc[:120, "city"] = "nice"
    grid = surface_rows(frame, table_spec("binary"), "age", "income", steps=4)
    assert grid.typical["city"] == "nice"
    assert grid.typical["member"] == frame["member"].mode()[0]
    assert (grid.rows["city"] == "nice").all()
    assert grid.rows["age"].tolist()[:4] == grid.x.tolist()
    assert grid.rows["income"].tolist()[::4] == grid.y.tolist()

    numeric = surface_rows(
        frame,
        table_spec("binary", features=[Feature(n, "numeric") for n in ("age", "income")]),
        "income",
        "age",
        steps=3,
    )
    assert numeric.typical == {}


def test_multiclass_surface_gives_the_predicted_class_and_its_probability(make_table, table_spec):
    frame = make_table(200, "binary")
    spec = table_spec("multiclass")
    grid = surface_rows(frame, spec, "age", "income", steps=5)
    classes = ("lyon", "nice", "paris")
    surface = surface_values(grid, by_city(grid.rows), classes)
    assert surface.shown_class is None
    assert (surface.predicted == grid.typical["city"]).all()
    assert np.allclose(surface.probability, 0.8)


def test_a_binary_surface_follows_the_chosen_threshold(make_table, table_spec):
    frame = make_table(200, "binary")
    grid = surface_rows(frame, table_spec("binary"), "age", "income", steps=20)
    probabilities = yes_above_50_age(grid.rows)
    usual = surface_values(grid, probabilities, CLASSES)
    eager = surface_values(grid, probabilities, CLASSES, threshold=0.1)
    assert (eager.predicted == "yes").sum() > (usual.predicted == "yes").sum()


def test_a_surface_needs_two_different_numeric_columns_of_a_classifier(
    make_table, table_spec, numbers
):
    frame = make_table(100, "binary")
    spec = table_spec("binary")
    with pytest.raises(SpecError, match="not numeric"):
        surface_rows(frame, spec, "age", "city")
    with pytest.raises(SpecError, match="two different columns"):
        surface_rows(frame, spec, "age", "age")
    with pytest.raises(SpecError, match="regression"):
        surface_rows(*numbers, "x", "other")


def test_scored_frames_become_values_and_probabilities(numbers):
    _, spec = numbers
    scored = prediction_table("regression", [], np.array([1.5, 2.5]))
    assert predictions_from_scored(scored, spec, ()).tolist() == [1.5, 2.5]

    classifier = spec.replace(task="multiclass")
    classes = ("b", "a", "<c>")
    outputs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    scored = prediction_table("multiclass", list(classes), outputs)
    assert np.allclose(predictions_from_scored(scored, classifier, classes), outputs)
    with pytest.raises(ValueError, match="probability_d"):
        predictions_from_scored(scored, classifier, ("b", "a", "d"))


def test_ice_with_a_trained_model_end_to_end(make_table, table_spec):
    pytest.importorskip("tensorflow")
    from layerlab.model.build import predict_frame
    from layerlab.model.train import train

    frame = make_table(120, "binary")
    result = train(frame, table_spec("binary", epochs=2))
    grid = ice_rows(frame, result.built.spec, "income", grid=8, lines=10)
    predictions = predict_frame(result.built, grid.rows)
    curves = ice_curves(grid, predictions, result.built.classes)
    assert len(curves) == 8 * 10 + 8
    assert curves["prediction"].between(0, 1).all()
    assert curves.attrs["target_class"] == result.built.classes[1]

    surface_grid = surface_rows(frame, result.built.spec, "age", "income", steps=6)
    probabilities = predict_frame(result.built, surface_grid.rows)
    surface = surface_values(surface_grid, probabilities, result.built.classes)
    assert surface.probability.shape == (6, 6)

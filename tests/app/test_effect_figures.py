"""Pictures of how the prediction moves: ICE lines, decision surfaces, two runs side by side."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from layerlab.schema.spec import Feature, ModelSpec
from layerlab.tabular.effects import ice_curves, ice_rows, surface_rows, surface_values
from layerlab.tabular.values import as_numeric
from layerlab_app.effect_figures import ice_figure, side_by_side, surface_figure

MARKUP_X = "<b>x</b> & co"
MARKUP_Y = "**y**<br>"
MARKUP_CLASSES = ("<i>no</i>", "yes & more")


def numbers_frame(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            MARKUP_X: rng.uniform(0, 10, rows),
            MARKUP_Y: rng.uniform(-5, 5, rows),
            "shop": rng.choice(["<a href='x'>north</a>", "south"], rows),
            "label": rng.choice(list(MARKUP_CLASSES), rows),
        }
    )


def classifier_spec(task: str = "binary") -> ModelSpec:
    return ModelSpec(
        target="label",
        task=task,
        features=[
            Feature(MARKUP_X, "numeric"),
            Feature(MARKUP_Y, "numeric"),
            Feature("shop", "categorical"),
        ],
    )


def probabilities_along_x(rows: pd.DataFrame, classes: int = 2) -> np.ndarray:
    positive = 1 / (1 + np.exp(-(as_numeric(rows[MARKUP_X]).astype(float) - 5)))
    if classes == 2:
        return np.column_stack([1 - positive, positive])
    return np.column_stack([1 - positive, positive * 0.5, positive * 0.5])


def regression_curves() -> pd.DataFrame:
    frame = numbers_frame()
    spec = ModelSpec(target="price", task="regression", features=[Feature(MARKUP_X, "numeric")])
    grid = ice_rows(frame, spec, MARKUP_X, grid=10, lines=12)
    return ice_curves(grid, 1000 * as_numeric(grid.rows[MARKUP_X]).astype(float), ())


def binary_surface_figure() -> go.Figure:
    frame = numbers_frame()
    grid = surface_rows(frame, classifier_spec(), MARKUP_X, MARKUP_Y, steps=12)
    surface = surface_values(grid, probabilities_along_x(grid.rows), MARKUP_CLASSES)
    return surface_figure(surface, frame, MARKUP_X, MARKUP_Y, "label", MARKUP_CLASSES)


def shown_text(figure: go.Figure) -> str:
    return json.dumps(figure.to_plotly_json(), default=str)


def test_ice_figure_draws_grey_lines_and_a_bold_average():
    figure = ice_figure(regression_curves(), MARKUP_X, "price")
    lines, average = figure.data
    assert lines.name == "one row each (12 rows)"
    assert lines.line.width < average.line.width
    assert sum(value is None for value in lines.x) == 12  # one gap after each row's line
    assert len(average.x) == 10
    assert figure.layout.xaxis.title.text == "&lt;b&gt;x&lt;/b&gt; &amp; co"
    assert figure.layout.yaxis.title.text == "price"
    assert figure.layout.yaxis.tickformat == ",.6~r"
    assert "e" not in figure.layout.xaxis.tickformat


def test_a_year_axis_reads_2004_not_2_000():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"year": rng.integers(2003, 2010, 80), "wage": rng.uniform(50, 150, 80)})
    spec = ModelSpec(target="wage", task="regression", features=[Feature("year", "numeric")])
    grid = ice_rows(frame, spec, "year", grid=7, lines=5)
    figure = ice_figure(ice_curves(grid, as_numeric(grid.rows["year"]), ()), "year", "wage")
    assert figure.layout.xaxis.tickformat == "d"
    assert "%{x}" in figure.data[0].hovertemplate
    amounts = ice_figure(regression_curves(), MARKUP_X, "price")
    assert amounts.layout.xaxis.tickformat == ",.6~r"


def test_classification_ice_is_a_probability_of_the_class():
    frame = numbers_frame()
    spec = classifier_spec()
    grid = ice_rows(frame, spec, "shop", lines=8)
    curves = ice_curves(grid, probabilities_along_x(grid.rows), MARKUP_CLASSES)
    figure = ice_figure(curves, "shop", "probability of yes & more")
    assert figure.layout.xaxis.type == "category"
    assert list(figure.layout.yaxis.range) == [0, 1]
    assert figure.layout.yaxis.title.text == "probability of yes &amp; more"
    assert "&lt;a href='x'&gt;north&lt;/a&gt;" in figure.data[1].x
    assert "<a href" not in shown_text(figure)


def test_binary_surface_shows_the_probability_the_boundary_and_the_test_rows():
    figure = binary_surface_figure()
    kinds = [type(trace).__name__ for trace in figure.data]
    assert kinds == ["Heatmap", "Contour", "Scatter", "Scatter"]
    heatmap = figure.data[0]
    assert (heatmap.zmin, heatmap.zmax) == (0, 1)
    assert heatmap.colorbar.title.text == "probability of yes &amp; more"
    names = [trace.name for trace in figure.data[2:]]
    assert names == ["test rows: &lt;i&gt;no&lt;/i&gt;", "test rows: yes &amp; more"]
    assert sum(len(trace.x) for trace in figure.data[2:]) == 120
    assert figure.layout.xaxis.title.text == "&lt;b&gt;x&lt;/b&gt; &amp; co"
    assert figure.layout.yaxis.title.text == "**y**&lt;br&gt;"


def test_markup_in_names_and_labels_never_reaches_plotly_as_markup():
    text = shown_text(binary_surface_figure()) + shown_text(
        ice_figure(regression_curves(), MARKUP_X, "price")
    )
    for markup in ("<b>x</b>", "<i>no</i>", "**y**<br>", "x</b> & co", "yes & more"):
        assert markup not in text


def test_multiclass_surface_shows_the_predicted_class():
    frame = numbers_frame()
    classes = ("<i>no</i>", "yes & more", "third")
    frame["label"] = np.resize(list(classes), len(frame))
    grid = surface_rows(frame, classifier_spec("multiclass"), MARKUP_X, MARKUP_Y, steps=10)
    surface = surface_values(grid, probabilities_along_x(grid.rows, 3), classes)
    figure = surface_figure(surface, frame, MARKUP_X, MARKUP_Y, "label", classes)
    heatmap = figure.data[0]
    assert type(heatmap).__name__ == "Heatmap"
    assert set(np.asarray(heatmap.z).ravel()) == {0.0, 1.0}
    assert list(heatmap.colorbar.ticktext) == ["&lt;i&gt;no&lt;/i&gt;", "yes &amp; more", "third"]
    assert "predicted &lt;i&gt;no&lt;/i&gt;" in heatmap.text[0][0]
    assert len(figure.data) == 1 + 3


def test_two_runs_side_by_side_share_their_axes_and_one_legend():
    first = ice_figure(regression_curves(), MARKUP_X, "price")
    second = ice_figure(regression_curves(), MARKUP_X, "price")
    combined = side_by_side([first, second], ["relu", "<b>tanh</b>"])
    assert len(combined.data) == 4
    assert {trace.xaxis for trace in combined.data} == {"x", "x2"}
    assert combined.layout.xaxis2.matches == "x" and combined.layout.yaxis2.matches == "y"
    assert [a.text for a in combined.layout.annotations] == ["relu", "&lt;b&gt;tanh&lt;/b&gt;"]
    assert [trace.showlegend for trace in combined.data] == [None, None, False, False]
    assert combined.layout.yaxis.tickformat == ",.6~r"

    surfaces = side_by_side([binary_surface_figure(), binary_surface_figure()], ["a", "b"])
    assert [trace.showscale for trace in surfaces.data if trace.type == "heatmap"] == [None, False]

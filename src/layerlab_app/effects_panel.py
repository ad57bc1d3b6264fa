"""How the prediction moves with a column (partial dependence with ICE lines) and, for
classes, the decision surface over two numeric columns, on the Results page.

The rows to predict are made here, the model scores them in a worker, and the
pictures are kept per run and choice, so a rerun draws them again without predicting.
"""

from __future__ import annotations

import streamlit as st

from layerlab.schema.errors import LayerlabError
from layerlab.schema.vocabulary import FeatureKind, Task
from layerlab.tabular.effects import (
    ice_curves,
    prediction_label,
    surface_values,
    view_grid,
)
from layerlab.tabular.evaluation import SCATTER_POINTS, sample_rows
from layerlab_app import run_view
from layerlab_app.effect_figures import ice_figure, side_by_side, surface_figure
from layerlab_app.text import md


def render(result) -> None:
    spec = result.spec
    st.subheader("How the prediction moves")
    st.caption(
        "Each grey line is one row of the table with only the chosen column changed; the red "
        "line is their average, the column's partial dependence. Straight lines mean the "
        "network treats the column simply; bends and crossings show what its activations "
        "learned."
    )
    names = [feature.name for feature in spec.features]
    column = st.selectbox("Column", names, key="effect_column")
    try:
        figure = run_view.for_result(("ice", column), lambda: _ice(result, column))
    except LayerlabError as error:
        st.info(md(str(error)))
    else:
        st.plotly_chart(figure, key="ice_chart")
    numeric = [feature.name for feature in spec.features if feature.kind == FeatureKind.NUMERIC]
    if spec.task == Task.REGRESSION or len(numeric) < 2:
        return
    st.markdown("**Decision surface**")
    st.caption(
        "What the network predicts over two numeric columns, the others at typical values, "
        "with the test rows on top: where the colours change is where its decision changes."
        + _sampled_words(len(run_view.test_rows()))
    )
    left, right = st.columns(2)
    x_column = left.selectbox("Across", numeric, index=0, key="surface_x")
    y_column = right.selectbox("Up", numeric, index=1, key="surface_y")
    if x_column == y_column:
        st.info("Choose two different columns.")
        return
    try:
        figure = run_view.for_result(
            ("surface", x_column, y_column), lambda: _surface(result, x_column, y_column)
        )
    except LayerlabError as error:
        st.info(md(str(error)))
    else:
        st.plotly_chart(figure, key="surface_chart")


def _sampled_words(rows: int) -> str:
    """Says how many test rows the surface draws, when it draws a sample of them."""
    if rows <= SCATTER_POINTS:
        return ""
    return f" It draws {SCATTER_POINTS:,} of the {rows:,} test rows, chosen at random."


def _ice(result, column: str):
    spec, classes = result.spec, result.classes
    view = ("ice", column)
    grid = view_grid(run_view.test_rows(), spec, view)
    predictions = run_view.view_predictions(result, view, grid.rows)
    curves = ice_curves(grid, predictions, classes)
    return ice_figure(curves, column, prediction_label(spec, classes))


def _surface(result, x_column: str, y_column: str):
    spec, classes = result.spec, result.classes
    test = run_view.test_rows()
    view = ("surface", x_column, y_column)
    grid = view_grid(test, spec, view)
    predictions = run_view.view_predictions(result, view, grid.rows)
    surface = surface_values(grid, predictions, classes)
    shown = sample_rows(test)  # the test rows drawn on top: enough to see, not 10,000 points
    return surface_figure(surface, shown, x_column, y_column, spec.target, classes)


def render_pair(records: list) -> None:
    """The same ICE picture for two runs of one table side by side (e.g. relu against tanh)."""
    if len(records) != 2:
        return
    first, second = records
    same = (
        first.table_id == second.table_id
        and first.spec.target == second.spec.target
        and [f.name for f in first.spec.features] == [f.name for f in second.spec.features]
    )
    trained = [run_view.kept_model(record.id) for record in records]
    if not same or None in trained:
        return
    st.markdown("**How the prediction moves, side by side**")
    st.caption(
        "The same rows, each with only the chosen column changed, through both networks: "
        "different activations or depths bend the lines differently."
    )
    names = [feature.name for feature in first.spec.features]
    column = st.selectbox("Column", names, key="pair_effect_column")
    key = ("ice pair", first.id, second.id, column)
    try:
        figure = run_view.for_result(
            key, lambda: _ice_pair(trained, [r.name for r in records], first.id, column)
        )
    except LayerlabError as error:
        st.info(md(str(error)))
    else:
        st.plotly_chart(figure, key="pair_ice_chart")


def _ice_pair(trained: list, titles: list[str], run_id: str, column: str):
    spec = trained[0].spec
    test = run_view.run_splits(run_id, spec).test
    view = ("ice", column)
    grid = view_grid(test, spec, view)
    figures = []
    for model in trained:
        predictions = run_view.view_predictions(model, view, grid.rows)
        curves = ice_curves(grid, predictions, model.classes)
        figures.append(ice_figure(curves, column, prediction_label(model.spec, model.classes)))
    return side_by_side(figures, titles)

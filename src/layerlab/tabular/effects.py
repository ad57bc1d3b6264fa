"""How the prediction moves: ICE lines, partial dependence and decision surfaces.

The trained model lives in a worker process, so each picture is made in two steps:
``ice_rows`` / ``surface_rows`` write ONE raw frame of rows to predict (the model reads
it as it reads any table to score), and ``ice_curves`` / ``surface_values`` turn the
predictions for those rows back into lines and grids. ``predictions_from_scored`` reads
the scored frame that ``layerlab.model.scoring.score`` returns (what the worker sends back)
as the plain array the second step takes.

ICE (individual conditional expectation): a few real rows, each predicted again with one
column set to every value of a grid, so each row draws a line; their mean is the partial
dependence. Parallel lines say the column acts the same way for everyone; lines that
cross say its effect depends on the other columns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.schema.errors import DataError, SchemaError, SpecError
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FeatureKind, Task
from layerlab.tabular.model_io import missing_columns_message
from layerlab.tabular.values import as_category_keys, as_category_text, parse_numbers

# At most this many rows go to the model for one ICE picture: quick in a worker, and
# more lines than this are a grey smear anyway.
MAX_ICE_ROWS = 2_000
MAX_CATEGORIES = 20
# The numeric grid spans the middle 90% of the values: the tails are a handful of rows,
# where the model has seen too little to say much.
GRID_QUANTILES = (0.05, 0.95)
MAX_SURFACE_STEPS = 100
# The surface reaches a little past the data on each side, so no point sits on its edge.
SURFACE_MARGIN = 0.05


@dataclass(frozen=True)
class IceGrid:
    """The rows to predict for one column's ICE lines, and how to read them back.

    ``rows`` holds ``len(sampled)`` blocks of ``len(values)`` rows: block ``i`` is the
    sampled row ``i`` with ``column`` set to each of ``values`` in turn. ``sampled`` are
    the sampled rows' index labels in the user's frame.
    """

    column: str
    kind: str
    values: tuple
    sampled: tuple
    rows: pd.DataFrame
    task: str


@dataclass(frozen=True)
class SurfaceGrid:
    """The rows to predict for a decision surface: every (x, y) of a ``steps`` x ``steps``
    grid, with the other columns at their typical values (``typical``).

    Row ``j * len(x) + i`` of ``rows`` is the cell at ``x[i]``, ``y[j]``.
    """

    x_column: str
    y_column: str
    x: np.ndarray
    y: np.ndarray
    typical: dict[str, object]
    rows: pd.DataFrame
    task: str


@dataclass(frozen=True)
class Surface:
    """What the model predicts in each cell, as (len(y), len(x)) arrays, ready for a heatmap.

    ``predicted`` holds class labels; ``probability`` the probability of ``shown_class``
    for a binary model, of the predicted class otherwise (``shown_class`` is None).
    """

    x_column: str
    y_column: str
    x: np.ndarray
    y: np.ndarray
    predicted: np.ndarray
    probability: np.ndarray
    classes: tuple[str, ...]
    shown_class: str | None


# --------------------------------------------------------------------------- ICE


def ice_rows(
    frame: pd.DataFrame,
    spec: ModelSpec,
    column: str,
    *,
    grid: int = 20,
    lines: int = 50,
    seed: int = 0,
) -> IceGrid:
    """The rows to predict for ICE lines of ``column``: a seeded sample of ``lines`` rows of
    ``frame``, each repeated once per grid value with ``column`` set to it.

    A numeric column's grid is ``grid`` quantile-spaced values between its 5th and 95th
    percentile (its own values when it has that few); a categorical or boolean column's
    is its most frequent categories, at most ``min(grid, MAX_CATEGORIES)``. Fewer lines
    are drawn when ``lines`` x the grid would pass ``MAX_ICE_ROWS``.
    """
    if not 2 <= grid <= MAX_ICE_ROWS:
        raise ValueError(f"The 'grid' must be between 2 and {MAX_ICE_ROWS}; got {grid!r}.")
    if lines < 1:
        raise ValueError(f"The 'lines' must be at least 1; got {lines!r}.")
    kind = _feature_kind(spec, column)
    features = _feature_columns(frame, spec)
    if kind == FeatureKind.NUMERIC:
        values = tuple(float(value) for value in _numeric_grid(frame[column], column, grid))
    else:
        values = tuple(_frequent_categories(frame[column], column, kind, min(grid, MAX_CATEGORIES)))
    lines = min(lines, len(frame), MAX_ICE_ROWS // len(values))
    positions = np.sort(np.random.default_rng(seed).choice(len(frame), size=lines, replace=False))
    sample = features.iloc[positions]
    rows = sample.iloc[np.repeat(np.arange(lines), len(values))].reset_index(drop=True)
    grid_values = np.tile(
        np.array(values, dtype=float if kind == FeatureKind.NUMERIC else object), lines
    )
    rows[column] = grid_values
    return IceGrid(column, kind, values, tuple(sample.index), rows, spec.task)


def ice_curves(
    grid: IceGrid,
    predictions: np.ndarray,
    classes: tuple[str, ...],
    *,
    target_class: str | None = None,
) -> pd.DataFrame:
    """ICE lines and their mean (the partial dependence) from the predictions for ``grid.rows``.

    ``predictions``: values for regression, one probability column per class (in
    ``classes`` order) for classification, where the lines show the probability of
    ``target_class`` (by default the positive, second class of a binary model, the first
    of a multiclass one). One row per point: ``line`` (the sampled row's position, <NA>
    on the mean), ``row`` (its index label in the user's frame), ``value`` (the column's
    value), ``prediction``, and ``mean`` (True on the partial dependence's points).
    ``attrs["target_class"]`` names the class shown (None for regression).
    """
    shown = shown_class(grid.task, classes, target_class)
    predicted = _one_quantity(grid.task, predictions, classes, shown, len(grid.rows))
    n_lines, n_values = len(grid.sampled), len(grid.values)
    per_line = predicted.reshape(n_lines, n_values)
    values = list(grid.values)
    lines = pd.DataFrame(
        {
            "line": pd.array(np.repeat(np.arange(n_lines), n_values), dtype="Int64"),
            "row": np.repeat(np.array(grid.sampled, dtype=object), n_values),
            "value": values * n_lines,
            "prediction": per_line.reshape(-1),
            "mean": False,
        }
    )
    average = pd.DataFrame(
        {
            "line": pd.array([pd.NA] * n_values, dtype="Int64"),
            "row": np.array([None] * n_values, dtype=object),
            "value": values,
            "prediction": per_line.mean(axis=0),
            "mean": True,
        }
    )
    curves = pd.concat([lines, average], ignore_index=True)
    curves.attrs = {"column": grid.column, "kind": grid.kind, "target_class": shown}
    return curves


# --------------------------------------------------------------------------- surface


def surface_rows(
    frame: pd.DataFrame, spec: ModelSpec, x_column: str, y_column: str, *, steps: int = 60
) -> SurfaceGrid:
    """The rows to predict for a decision surface over two numeric columns.

    Each axis spans the column's values (and ``SURFACE_MARGIN`` of their range beyond)
    in ``steps`` even steps; the other features hold their typical values: the median
    of a number, the most frequent category otherwise (missing when a column has none).
    """
    if spec.task == Task.REGRESSION:
        raise SpecError(
            [
                "A decision surface shows classes; this model predicts numbers (regression). "
                "Look at the ICE lines of a column instead."
            ]
        )
    if not 2 <= steps <= MAX_SURFACE_STEPS:
        raise ValueError(f"The 'steps' must be between 2 and {MAX_SURFACE_STEPS}; got {steps!r}.")
    if x_column == y_column:
        raise SpecError([f'Choose two different columns for the surface; got "{x_column}" twice.'])
    for column in (x_column, y_column):
        if _feature_kind(spec, column) != FeatureKind.NUMERIC:
            raise SpecError(
                [f'Column "{column}" is not numeric; a surface needs two numeric feature columns.']
            )
    _feature_columns(frame, spec)
    x = _surface_axis(frame[x_column], x_column, steps)
    y = _surface_axis(frame[y_column], y_column, steps)
    typical = {
        feature.name: _typical_value(frame[feature.name], feature.kind)
        for feature in spec.features
        if feature.name not in (x_column, y_column)
    }
    cells = steps * steps
    columns = {}
    for feature in spec.features:
        if feature.name == x_column:
            columns[feature.name] = np.tile(x, steps)
        elif feature.name == y_column:
            columns[feature.name] = np.repeat(y, steps)
        else:
            dtype = float if feature.kind == FeatureKind.NUMERIC else object
            columns[feature.name] = np.full(cells, typical[feature.name], dtype=dtype)
    rows = pd.DataFrame(columns)
    return SurfaceGrid(x_column, y_column, x, y, typical, rows, spec.task)


def surface_values(
    grid: SurfaceGrid,
    probabilities: np.ndarray,
    classes: tuple[str, ...],
    *,
    threshold: float = 0.5,
) -> Surface:
    """The predicted class and its probability in each cell of ``grid``.

    ``probabilities``: one column per class, for ``grid.rows``. A binary model predicts
    the positive (second) class where its probability is above ``threshold``, and the
    surface shows that probability.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    expected = (len(grid.rows), len(classes))
    if probabilities.shape != expected:
        raise ValueError(
            f"Expected class probabilities of shape {expected} (rows, classes); "
            f"got {probabilities.shape}."
        )
    shape = (len(grid.y), len(grid.x))
    labels = np.array(classes, dtype=object)
    if len(classes) == 2:
        positive = probabilities[:, 1]
        predicted = labels[(positive > threshold).astype(int)]
        probability = positive
        shown = classes[1]
    else:
        index = probabilities.argmax(axis=1)
        predicted = labels[index]
        probability = probabilities[np.arange(len(index)), index]
        shown = None
    return Surface(
        grid.x_column,
        grid.y_column,
        grid.x,
        grid.y,
        predicted.reshape(shape),
        probability.reshape(shape),
        tuple(classes),
        shown,
    )


# --------------------------------------------------------------------------- predictions


def predictions_from_scored(
    scored: pd.DataFrame, spec: ModelSpec, classes: tuple[str, ...]
) -> np.ndarray:
    """The values (regression) or class probabilities (one column per class, in ``classes``
    order) in a frame scored by ``layerlab.model.scoring.score``: its ``prediction`` column, or its
    ``probability_<class>`` columns."""
    if spec.task == Task.REGRESSION:
        names = ["prediction"]
    else:
        names = [f"probability_{label}" for label in classes]
    missing = [name for name in names if name not in scored.columns]
    if missing:
        raise ValueError(
            f"The scored frame lacks the column(s) {missing}; it has {list(scored.columns)}."
        )
    if spec.task == Task.REGRESSION:
        return scored["prediction"].to_numpy(dtype=float)
    return scored[names].to_numpy(dtype=float)


def shown_class(task: str, classes: tuple[str, ...], target_class: str | None = None) -> str | None:
    """The class whose probability a picture shows: ``target_class``, or by default the
    positive (second) class of a binary model and the first of a multiclass one; None for
    regression."""
    if task == Task.REGRESSION:
        return None
    if target_class is None:
        return classes[1] if len(classes) == 2 else classes[0]
    if target_class not in classes:
        raise SpecError(
            [f'"{target_class}" is not one of the classes: {", ".join(map(str, classes))}.']
        )
    return target_class


def prediction_label(
    spec: ModelSpec, classes: tuple[str, ...], target_class: str | None = None
) -> str:
    """What a picture's prediction axis shows: the target (in its units) for regression,
    ``probability of <class>`` for classification."""
    shown = shown_class(spec.task, classes, target_class)
    return spec.target if shown is None else f"probability of {shown}"


# --------------------------------------------------------------------------- helpers


def _feature_kind(spec: ModelSpec, column: str) -> str:
    for feature in spec.features:
        if feature.name == column:
            return feature.kind
    raise SpecError(
        [f'Column "{column}" is not one of the model\'s features: {", ".join(spec.feature_names)}.']
    )


def _feature_columns(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    message = missing_columns_message(frame, spec.feature_names)
    if message is not None:
        raise SchemaError(message)
    if len(frame) == 0:
        raise DataError(
            "The table has no rows, so there is nothing to predict from. Load a table with rows."
        )
    return frame[spec.feature_names]


def _numbers(values: pd.Series, column: str) -> np.ndarray:
    numbers = parse_numbers(values)
    numbers = numbers[np.isfinite(numbers)]
    if len(numbers) == 0:
        raise DataError(
            f'Column "{column}" (numeric): no value is a number, so there is nothing to vary. '
            "Choose another column."
        )
    if numbers.min() == numbers.max():
        raise DataError(
            f'Column "{column}" (numeric): every value is {numbers[0]:g}, so there is nothing '
            "to vary. Choose a column whose values differ."
        )
    return numbers


def _numeric_grid(values: pd.Series, column: str, grid: int) -> np.ndarray:
    numbers = _numbers(values, column)
    quantiles = np.linspace(*GRID_QUANTILES, grid)
    low, high = np.quantile(numbers, GRID_QUANTILES)
    if low == high:  # most rows share one value: span all of them instead
        quantiles = np.linspace(0.0, 1.0, grid)
        low, high = numbers.min(), numbers.max()
    inside = np.unique(numbers[(numbers >= low) & (numbers <= high)])
    if len(inside) <= grid:  # few distinct values: those, not points between them
        return inside
    return np.unique(np.quantile(numbers, quantiles))


def _frequent_categories(values: pd.Series, column: str, kind: str, limit: int) -> list[str]:
    """The most frequent categories, most frequent first, one spelling per model category."""
    texts = pd.Series(as_category_text(values))
    keys = pd.Series(as_category_keys(values))
    present = keys != ""
    if not present.any():
        raise DataError(
            f'Column "{column}" ({kind}): every value is missing, so there is nothing to vary. '
            "Choose another column."
        )
    counts = pd.DataFrame({"key": keys[present], "text": texts[present]})
    per_key = counts.groupby("key", sort=False)
    table = pd.DataFrame(
        {"count": per_key.size(), "text": per_key["text"].agg(lambda t: t.value_counts().index[0])}
    )
    table = table.sort_values(["count", "text"], ascending=[False, True], kind="stable")
    return table["text"].head(limit).tolist()


def _surface_axis(values: pd.Series, column: str, steps: int) -> np.ndarray:
    numbers = _numbers(values, column)
    low, high = float(numbers.min()), float(numbers.max())
    margin = (high - low) * SURFACE_MARGIN
    return np.linspace(low - margin, high + margin, steps)


def _typical_value(values: pd.Series, kind: str) -> object:
    if kind == FeatureKind.NUMERIC:
        numbers = parse_numbers(values)
        numbers = numbers[np.isfinite(numbers)]
        return float(np.median(numbers)) if len(numbers) else np.nan
    keys = as_category_keys(values)
    if not (keys != "").any():
        return None
    return _frequent_categories(values, "", kind, 1)[0]


def _one_quantity(
    task: str, predictions: np.ndarray, classes: tuple[str, ...], shown: str | None, rows: int
) -> np.ndarray:
    predictions = np.asarray(predictions, dtype=float)
    if task == Task.REGRESSION:
        predictions = predictions.reshape(-1)
        if len(predictions) != rows:
            raise ValueError(f"Expected {rows} predictions; got {len(predictions)}.")
        return predictions
    if predictions.shape != (rows, len(classes)):
        raise ValueError(
            f"Expected class probabilities of shape {(rows, len(classes))} (rows, classes); "
            f"got {predictions.shape}."
        )
    return predictions[:, classes.index(shown)]


# --------------------------------------------------------------------------- kept with the run


def opening_views(spec: ModelSpec) -> list[tuple[str, ...]]:
    """The pictures the Results page opens on: the ICE lines of the first feature and, for
    classes, the surface over the first two numeric ones (its select boxes' first choices)."""
    if not spec.features:
        return []
    views: list[tuple[str, ...]] = [("ice", spec.features[0].name)]
    numeric = [feature.name for feature in spec.features if feature.kind == FeatureKind.NUMERIC]
    if spec.task != Task.REGRESSION and len(numeric) >= 2:
        views.append(("surface", numeric[0], numeric[1]))
    return views


def view_grid(test: pd.DataFrame, spec: ModelSpec, view: tuple[str, ...]) -> IceGrid | SurfaceGrid:
    """The grid of a picture of the Results page: ``("ice", column)`` or ``("surface", x, y)``.

    The page and the run that keeps predictions for it both make their rows here, so
    the kept predictions' fingerprint matches the rows the page asks about.
    """
    if view[0] == "ice":
        return ice_rows(test, spec, view[1], seed=spec.seed or 0)
    return surface_rows(test, spec, view[1], view[2])


def view_rows(test: pd.DataFrame, spec: ModelSpec, view: tuple[str, ...]) -> pd.DataFrame:
    """The rows to predict for ``view`` (a key of ``opening_views``), as the page makes them."""
    return view_grid(test, spec, view).rows


def opening_predictions_json(
    test: pd.DataFrame, spec: ModelSpec, predict, should_stop=None
) -> bytes | None:
    """The predictions for each of ``opening_views``' rows, as JSON for the run's folder.

    Worked out where the model already is, when its run is kept, so the Results page
    draws its first pictures from a file instead of waiting for a worker to load the
    model (seconds, on a busy server). ``predict(rows)`` gives values or one
    probability column per class. A view whose rows cannot be made (a column with one
    value) is left out: the page says why when it is chosen. None when ``should_stop()``
    turns true between views (each is one call of the model: seconds on a wide table).
    """
    kept = []
    for view in opening_views(spec):
        if should_stop is not None and should_stop():
            return None
        try:
            rows = view_rows(test, spec, view)
        except (DataError, SchemaError, SpecError):
            continue
        kept.append(
            {
                "view": list(view),
                "rows": rows_fingerprint(rows),
                "predictions": np.asarray(predict(rows)).tolist(),
            }
        )
    return json.dumps({"views": kept}).encode()


def read_opening_predictions(text: str) -> dict[tuple[str, ...], tuple[str, np.ndarray]]:
    """``opening_predictions_json``'s content: by view, the rows' fingerprint and predictions."""
    return {
        tuple(kept["view"]): (kept["rows"], np.asarray(kept["predictions"], dtype=float))
        for kept in json.loads(text)["views"]
    }


def rows_fingerprint(rows: pd.DataFrame) -> str:
    """A digest of a frame's column names and values: kept predictions are used only for the
    very rows they were made for (another run of the table may split it another way)."""
    digest = hashlib.sha256("\x1f".join(map(str, rows.columns)).encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()

"""Which raw columns the trained network leans on: permutation importance on the test split.

Each feature column of the test rows is shuffled in turn, breaking its link to
the target while keeping its values, and the model's test loss is measured
again: the importance of a column is how much worse that loss gets, averaged
over a few shuffles, with its spread (standard deviation) over them. Zero means
the model does not use the column; a slightly negative value is noise.

The column is the raw one the user chose, not a model input: the network
one-hot encodes categories inside itself, so a categorical column is shuffled,
and reported, as one. The measure is scikit-learn's ``permutation_importance``;
only the bookkeeping differs (see ``permutation_importances``).

The loss is the one a person reads: log loss for classes, mean absolute error in
the target's own units for numbers.

The work is bounded, so that it never costs more than a share of the training:
at most ``MAX_ROWS`` test rows, and columns measured, the likeliest to matter
first, until ``importance_seconds`` are spent; the columns left are reported as
not measured (no importance), and each row says how many test rows it was judged on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from layerlab.model.train import TrainingResult, preprocess
from layerlab.schema.vocabulary import Task
from layerlab.tabular.importance_report import (
    MIN_SECONDS,
    SCORE_NAMES,
    TIME_SHARE,
)
from layerlab.tabular.values import as_numeric, class_indices

__all__ = ["importance_seconds", "permutation_importances"]

# Shuffled copies of the feature matrix are predicted together, up to about this many cells
# (rows x model inputs) at a time: few calls keep Keras's fixed cost per call small, the cap
# keeps memory so (8 MB of float32).
CHUNK_CELLS = 2_000_000
# A test split larger than this is judged on a seeded sample: a few thousand rows rank
# columns about as well as a million, and every shuffle is one more pass over them.
MAX_ROWS = 2_000


def importance_seconds(training_seconds: float) -> float:
    """The seconds permutation importance may take after a training of ``training_seconds``."""
    return max(MIN_SECONDS, TIME_SHARE * max(float(training_seconds), 0.0))


def _losses(task: str, actual: np.ndarray, outputs: np.ndarray) -> list[float]:
    """The test loss in the user's terms of each copy in ``outputs`` (the copies' outputs one
    under another): MAE in the target's units, or log loss over every class.

    The same numbers as scikit-learn's ``mean_absolute_error`` and ``log_loss`` (a test
    checks it), worked out for every copy in one array operation: those check their
    inputs on every call, 2.4 ms each, half a second for 20 columns and 5 shuffles.
    """
    copies = len(outputs) // len(actual)
    if task == Task.REGRESSION:
        errors = np.abs(outputs.reshape(copies, len(actual)) - actual)
        return errors.mean(axis=1).tolist()
    # Clipped as in ``evaluate``, so one sure miss does not make the loss infinite.
    probabilities = np.clip(outputs, 1e-7, 1.0).reshape(copies, len(actual), -1)
    probabilities = probabilities / probabilities.sum(axis=2, keepdims=True)
    # log_loss clips again at the float's epsilon before the log.
    eps = np.finfo(probabilities.dtype).eps
    chosen = probabilities[:, np.arange(len(actual)), actual]
    return (-np.log(np.clip(chosen, eps, 1 - eps))).mean(axis=1).tolist()


def _targets(result: TrainingResult, test: pd.DataFrame) -> np.ndarray:
    """The test rows' targets as the loss reads them: numbers, or class indices."""
    target = test[result.spec.target]
    if result.spec.task == Task.REGRESSION:
        return as_numeric(target).astype(float)
    return class_indices(target, result.classes)


def _blocks(built) -> list[slice]:
    """The model inputs each feature column becomes, in the spec's order (``build`` records
    their widths as it concatenates each column's encoding)."""
    widths = tuple(built.input_widths)
    if len(widths) != len(built.spec.features) or sum(widths) != built.n_features:
        raise ValueError(
            f"The model records {len(widths)} input widths summing to {sum(widths)}; its spec "
            f"has {len(built.spec.features)} features and {built.n_features} inputs."
        )
    ends = np.cumsum(widths)
    return [slice(int(end - width), int(end)) for end, width in zip(ends, widths, strict=True)]


def network_outputs(built, features: np.ndarray) -> np.ndarray:
    """What ``build.predict_frame`` gives for the rows whose model inputs are ``features``
    (``train.preprocess``): each member's stack, their average, the target's units for
    regression, one probability column per class otherwise (a test checks they agree)."""
    import keras  # not at the top: TensorFlow is first imported by runtime.configure_tensorflow

    members = built.members or (built.stack,)
    x = keras.ops.convert_to_tensor(features)
    outputs = []
    for stack in members:
        y = x
        for layer in stack:
            y = layer(y, training=False)
        outputs.append(np.asarray(y, dtype="float64"))
    output = np.mean(outputs, axis=0)
    if built.spec.task == Task.REGRESSION:
        scaling = built.target_scaling
        return output.reshape(-1) * scaling.std + scaling.mean
    if output.shape[-1] == 1:
        positive = output.reshape(-1)
        return np.stack([1.0 - positive, positive], axis=1)
    return output


def screen_order(built, features: np.ndarray, blocks: list[slice]) -> list[int]:
    """The feature columns, the likeliest to matter first: by how much what each adds to the
    first Dense layer varies over the rows (summed over its units and the members).

    Shuffling a column only moves the rows' values of that sum among the rows, so a
    column whose sum barely varies cannot change a prediction much. The screen costs
    one pass of the first layer; it orders the work, it never replaces a measurement.
    """
    centred = features - features.mean(axis=0, keepdims=True)
    scores = np.zeros(len(blocks))
    for stack in built.members or (built.stack,):
        dense = next(layer for layer in stack if hasattr(layer, "kernel"))
        kernel = np.asarray(dense.kernel, dtype="float64")
        for position, block in enumerate(blocks):
            added = centred[:, block] @ kernel[block]
            scores[position] += float((added**2).sum())
    return sorted(range(len(blocks)), key=lambda position: -scores[position])


def permutation_importances(
    result: TrainingResult,
    *,
    repeats: int = 5,
    seed: int | None = None,
    max_rows: int = MAX_ROWS,
    seconds: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """How much worse the test loss gets when each feature column is shuffled.

    Returns one row per feature column of the spec (a categorical column once,
    not per category), most important first: ``column``, ``importance`` (the
    mean increase of the loss over ``repeats`` shuffles), ``spread`` (its
    standard deviation over them), ``score`` (the loss's name: "log loss" or
    "MAE") and ``rows`` (the test rows it was judged on).

    A test split of more than ``max_rows`` rows is judged on a seeded sample of
    that many. Columns are measured in ``screen_order`` until ``seconds`` are
    spent (default: ``importance_seconds`` of the run's training time) or
    ``should_stop()`` says so; a column not measured by then has no importance
    or spread (NaN) and comes last. ``seed`` (default: the spec's seed) fixes the
    sample and each column's shuffles, so the same seed gives the same table
    whenever every column is measured.

    The test rows' model inputs are made once (``train.preprocess``) and a column
    is shuffled as the rows of its block of inputs: the model encodes each column
    of a row on its own, so that is the raw column shuffled, without encoding
    every column again for every copy. The copies are stacked and predicted
    ``CHUNK_CELLS`` at a time. scikit-learn's ``permutation_importance`` makes one
    call per column and shuffle through the whole model, whose fixed cost grows
    with the columns: 22 hours projected for 2,000 columns.
    """
    if repeats < 1:
        raise ValueError(f"The 'repeats' must be >= 1; got {repeats}.")
    if max_rows < 1:
        raise ValueError(f"The 'max_rows' must be >= 1; got {max_rows}.")
    started = time.perf_counter()
    stop = should_stop or (lambda: False)
    budget = importance_seconds(result.seconds) if seconds is None else seconds
    spec, built = result.spec, result.built
    test = result.splits.test
    if len(test) == 0:
        raise ValueError("The test split is empty; the trainer guarantees at least one row.")
    seed = spec.seed if seed is None else seed
    if len(test) > max_rows:
        test = test.sample(n=max_rows, random_state=seed)
    columns = [feature.name for feature in spec.features]
    actual = _targets(result, test)
    n_rows = len(test)
    features = preprocess(built, test.reset_index(drop=True))
    blocks = _blocks(built)
    baseline = _losses(spec.task, actual, network_outputs(built, features))[0]

    increases: dict[int, list[float]] = {}
    work = [
        (position, repeat)
        for position in screen_order(built, features, blocks)
        for repeat in range(repeats)
    ]
    generators: dict[int, np.random.Generator] = {}
    per_call = max(1, CHUNK_CELLS // (n_rows * max(features.shape[1], 1)))
    for start in range(0, len(work), per_call):
        if stop() or time.perf_counter() - started >= budget:
            break
        chunk = work[start : start + per_call]
        copies = np.empty((len(chunk), *features.shape), dtype=features.dtype)
        for copy, (position, _) in zip(copies, chunk, strict=True):
            # Each column's shuffles come from its own seeded stream: the same whatever the
            # order the columns are measured in, or how many are.
            rng = generators.setdefault(position, np.random.default_rng([seed or 0, position]))
            copy[:] = features
            block = blocks[position]
            copy[:, block] = features[rng.permutation(n_rows), block]
        outputs = network_outputs(built, copies.reshape(-1, features.shape[1]))
        for (position, _), loss in zip(chunk, _losses(spec.task, actual, outputs), strict=True):
            increases.setdefault(position, []).append(loss - baseline)
    measured = {
        position: values for position, values in increases.items() if len(values) == repeats
    }
    table = pd.DataFrame(
        {
            "column": columns,
            "importance": [
                np.mean(measured[p]) if p in measured else np.nan for p in range(len(columns))
            ],
            "spread": [
                np.std(measured[p]) if p in measured else np.nan for p in range(len(columns))
            ],
            "score": SCORE_NAMES[spec.task],
            "rows": n_rows,
        }
    )
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)

"""Which raw columns the trained network leans on: permutation importance on the test split.

Each feature column of the test rows is shuffled in turn, breaking its link to
the target while keeping its values, and the model's test loss is measured
again: the importance of a column is how much worse that loss gets, averaged
over a few shuffles, with its spread (standard deviation) over them. Zero means
the model does not use the column; a slightly negative value is noise.

The column is the raw one the user chose, not a model input: the network
one-hot encodes categories inside itself, so a categorical column is shuffled,
and reported, as one. The measure is scikit-learn's ``permutation_importance``;
only the bookkeeping differs, so that the model predicts many shuffled copies
in one call (see ``permutation_importances``).

The loss is the one a person reads: log loss for classes, mean absolute error in
the target's own units for numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.build import predict_frame
from layerlab.numbers import readable_number
from layerlab.reading import as_numeric, class_indices
from layerlab.train import TrainingResult

__all__ = ["importance_csv", "importance_sentence", "permutation_importances"]

SCORE_NAMES = {"regression": "MAE", "binary": "log loss", "multiclass": "log loss"}
COLUMNS = ["column", "importance", "spread", "score"]
# The sentence names this many columns; the rest are summed up in a few words.
SENTENCE_COLUMNS = 3
# Shuffled copies are predicted together, up to about this many cells (rows x columns)
# at a time: few calls keep Keras's fixed cost per ``predict`` small, the cap keeps memory so.
CHUNK_CELLS = 2_000_000


def _losses(task: str, actual: np.ndarray, outputs: np.ndarray) -> list[float]:
    """The test loss in the user's terms of each copy in ``outputs`` (the copies' outputs one
    under another): MAE in the target's units, or log loss over every class.

    The same numbers as scikit-learn's ``mean_absolute_error`` and ``log_loss`` (a test
    checks it), worked out for every copy in one array operation: those check their
    inputs on every call, 2.4 ms each, half a second for 20 columns and 5 shuffles.
    """
    copies = len(outputs) // len(actual)
    if task == "regression":
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
    if result.spec.task == "regression":
        return as_numeric(target).astype(float)
    return class_indices(target, result.classes)


def _stacked(frame: pd.DataFrame, copies: list[tuple[str | None, np.ndarray]]) -> pd.DataFrame:
    """The copies of ``frame`` one under another, in each its ``column`` in ``order``.

    A copy whose column is None is the frame itself. Every column is taken once,
    with one index, so its dtype stays what it was.
    """
    identity = np.arange(len(frame))

    def rows(name: str) -> np.ndarray:
        return np.concatenate([order if column == name else identity for column, order in copies])

    return pd.DataFrame(
        {name: frame[name].iloc[rows(name)].reset_index(drop=True) for name in frame.columns}
    )


def permutation_importances(
    result: TrainingResult,
    *,
    repeats: int = 5,
    seed: int | None = None,
    max_rows: int = 2000,
) -> pd.DataFrame:
    """How much worse the test loss gets when each feature column is shuffled.

    Returns one row per feature column of the spec (a categorical column once,
    not per category), most important first: ``column``, ``importance`` (the
    mean increase of the loss over ``repeats`` shuffles), ``spread`` (its
    standard deviation over them) and ``score`` (the loss's name: "log loss"
    or "MAE").

    A test split of more than ``max_rows`` rows is judged on a seeded sample of
    that many, for speed: every shuffle of every column is one more pass of the
    model over all those rows, and a few thousand rows rank columns about as
    well as a million. ``seed`` (default: the spec's seed) fixes the sample and
    the shuffles, so the same seed gives the same table.

    The same measure as scikit-learn's ``permutation_importance``, computed
    here because that makes one ``predict`` call per column and shuffle, and
    each Keras ``predict`` has a fixed cost of about 0.15 s on CPU: 20 columns
    and 5 shuffles took 14 s. Here the shuffled copies are stacked and
    predicted a few at a time, so the same table takes about a second.
    """
    if repeats < 1:
        raise ValueError(f"The 'repeats' must be >= 1; got {repeats}.")
    if max_rows < 1:
        raise ValueError(f"The 'max_rows' must be >= 1; got {max_rows}.")
    spec = result.spec
    test = result.splits.test
    if len(test) == 0:
        raise ValueError("The test split is empty; the trainer guarantees at least one row.")
    seed = spec.seed if seed is None else seed
    if len(test) > max_rows:
        test = test.sample(n=max_rows, random_state=seed)
    columns = [feature.name for feature in spec.features]
    frame = test[columns].reset_index(drop=True)
    actual = _targets(result, test)
    n_rows = len(frame)

    rng = np.random.default_rng(seed)
    copies: list[tuple[str | None, np.ndarray]] = [(None, np.arange(n_rows))]
    copies += [(name, rng.permutation(n_rows)) for name in columns for _ in range(repeats)]
    per_call = max(1, CHUNK_CELLS // (n_rows * len(columns)))
    losses: list[float] = []
    for start in range(0, len(copies), per_call):
        chunk = copies[start : start + per_call]
        losses += _losses(spec.task, actual, predict_frame(result.built, _stacked(frame, chunk)))
    increases = (np.array(losses[1:]) - losses[0]).reshape(len(columns), repeats)
    table = pd.DataFrame(
        {
            "column": columns,
            "importance": increases.mean(axis=1),
            "spread": increases.std(axis=1),
            "score": SCORE_NAMES[spec.task],
        }
    )
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def importance_csv(table: pd.DataFrame) -> bytes:
    """The importance table as UTF-8 CSV, for the bundle's ``importance.csv``."""
    from layerlab.reading import csv_bytes

    return csv_bytes(table[COLUMNS])  # column names that look like formulas are quoted


def importance_sentence(table: pd.DataFrame) -> str:
    """One sentence for people: the columns whose shuffling hurts the test score most."""
    if table.empty:
        return "There is no feature column to judge."
    score = table["score"].iloc[0]
    if not table["importance"].iloc[0] > 0:
        return (
            f"Shuffling no single column makes the test {score} worse: "
            "the model does not lean on any one of them."
        )
    parts = []
    for position, row in enumerate(table.head(SENTENCE_COLUMNS).itertuples(index=False)):
        importance, spread = readable_number(row.importance), readable_number(row.spread)
        verb = f" makes the test {score} worse" if position == 0 else ""
        if row.importance > 0:
            parts.append(f"{row.column}{verb} by {importance} (± {spread})")
        else:
            parts.append(f"{row.column} not at all ({importance} ± {spread})")
    sentence = "Shuffling " + ", ".join(parts)
    rest = len(table) - len(parts)
    if rest == 1:
        sentence += "; the other column matters less"
    elif rest > 1:
        sentence += f"; the other {rest} columns matter less"
    return sentence + "."

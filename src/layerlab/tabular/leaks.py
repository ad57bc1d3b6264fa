"""Columns that give the answer away: each one predicts the target almost exactly on its own.

A column computed from the target (``logwage`` beside ``wage``, a length in
inches beside the same length in centimetres, a class code beside the class)
makes a model look perfect on its own test rows and useless on new ones, where
that column is not known before the answer is.

The test is a one-feature model per column, fitted on part of a row sample (at
most ``SAMPLE_ROWS``) and scored on rows it did not see: R² for a number,
accuracy for classes. Fitting scikit-learn's ``HistGradientBoosting*`` on every
column of a wide table is too slow for a page that profiles on load (about 60
ms a column on 2 cores, 12 s for 200 columns), so each column is first scored
by a cheap model with one numpy pass: straight lines between the fitting rows'
values (a number predicting a number), else the target's mean or commonest class
per category or value bin (what a one-feature tree can learn at best). Only the
columns it finds nearly but not quite perfect are fitted with
``HistGradientBoosting``, and the better held-out score of the two is the one
reported. A number target also gets
Spearman's rank correlation, which catches monotone transforms (log, units,
scaling) however skewed the values are. On a 5,000-row, 200-column table the
whole check costs about 0.4 s of one core.

A near-perfect held-out score is itself the evidence, so the other columns'
scores are not needed to judge it: a real input that explains the target
exactly (a unit conversion) is flagged too, and a person can put it back. What
this cannot see is a leak spread over several columns (the parts of a total);
the Results page asks about those when the network's score is close to perfect.

A close-to-perfect test score is questioned only when it is unusual for the table:
when the strongest column alone, or the strongest two together, predict the target
almost exactly on rows their model did not see (``strongest_feature``), or when a
straight line through the features fits a number target exactly (the parts of a
total, however many). A table that is simply easy (penguins: several measurements,
each predicting the species moderately, together almost perfectly) raises no
question: no one or two columns explain its score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FeatureKind, Task
from layerlab.tabular.dates import date_part_source
from layerlab.tabular.values import as_category_text, as_numeric

if TYPE_CHECKING:  # a type name only: evaluation imports data, which imports this module
    pass

# Held-out scores that count as "almost exactly".
NEAR_PERFECT_R2 = 0.98
NEAR_PERFECT_ACCURACY = 0.99
NEAR_PERFECT_BALANCED_ACCURACY = 0.95
NEAR_PERFECT_RANK_CORRELATION = 0.995
# A leak must also make far fewer mistakes than always guessing the common class.
_BASELINE_ERROR_SHARE = 0.2
# A network's test score this close to perfect is rare on real data.
SUSPICIOUS_R2 = 0.99
SUSPICIOUS_ACCURACY = 0.99
SUSPICIOUS_MAE_SHARE = 0.05  # of the naive baseline's mean absolute error
# A linear baseline this close to a number target fits a formula, not measurements.
EXACT_LINEAR_R2 = 0.999

# Below this many rows with a target the held-out part is too small to call a column a
# leak (toy tables such as celsius -> fahrenheit are exact by design).
MIN_ROWS = 100
SAMPLE_ROWS = 2000
_HELD_OUT = 0.3
_ONE_SPLIT_ROWS = 1000
_FOLDS = 5
_MIN_SUSPECT_ROWS = 20
# The lookup screen passes a column on to the full model when its error is at most this
# many times a leak's.
_SCREEN_SLACK = 5
_MAX_BINS = 255
_ROWS_PER_BIN = 5
_SEED = 0
_COPY_MAX_CLASSES = 50

# Date parts derived by ``layerlab.tabular.reading`` ("signup (year)") are the date, not a leak.


@dataclass(frozen=True)
class SingleColumnScore:
    """How well one column predicts the target on its own, on rows its model did not see.

    ``metric`` is ``"r2"``, ``"accuracy"`` or ``"rank_correlation"`` (Spearman's,
    on all sampled rows: a correlation fits nothing, so nothing is held out).
    """

    column: str
    target: str
    metric: str
    score: float
    balanced_accuracy: float | None = None
    baseline_accuracy: float | None = None
    # Set by ``strongest_feature`` when this column alone is not near perfect: the
    # runner-up, the held-out score of the two together (same metric), and whether that
    # is near perfect (True/False; None: not checked, as in a run saved before the check).
    partner: str | None = None
    together: float | None = None
    together_near_perfect: bool | None = None

    @property
    def near_perfect(self) -> bool:
        if self.metric == "r2":
            return self.score >= NEAR_PERFECT_R2
        if self.metric == "rank_correlation":
            return abs(self.score) >= NEAR_PERFECT_RANK_CORRELATION
        error = 1.0 - self.score
        baseline_error = 1.0 - (self.baseline_accuracy or 0.0)
        return (
            self.score >= NEAR_PERFECT_ACCURACY
            and (self.balanced_accuracy or 0.0) >= NEAR_PERFECT_BALANCED_ACCURACY
            and error <= _BASELINE_ERROR_SHARE * baseline_error
        )

    @property
    def explains_score(self) -> bool | None:
        """Whether this column, alone or with ``partner``, predicts the target almost exactly.

        None when the pair was not checked (a run saved before the check).
        """
        if self.near_perfect:
            return True
        return self.together_near_perfect

    def words(self, score: float | None = None) -> str:
        """The score (or ``score`` in the same metric) as a reader sees it: ``R² 1.00``."""
        score = self.score if score is None else score
        if self.metric == "r2":
            return f"R² {score:.2f}"
        if self.metric == "rank_correlation":
            return f"rank correlation {score:.2f}".replace("-", "−")
        return f"accuracy {score:.1%}"


def leak_reason(score: SingleColumnScore) -> str:
    """Why a column is left out, in one sentence a person understands."""
    column, target = score.column, score.target
    if score.metric == "rank_correlation":
        direction = "rises" if score.score > 0 else "falls"
        return (
            f'"{column}" {direction} as "{target}" rises, almost exactly ({score.words()}); '
            "it is probably derived from it."
        )
    return (
        f'"{column}" predicts "{target}" almost exactly on its own ({score.words()}); '
        "it is probably derived from it."
    )


def find_leaks(
    frame: pd.DataFrame, target_column: str, kinds: dict[str, str], *, classes: bool
) -> dict[str, SingleColumnScore]:
    """The columns of ``kinds`` (name -> numeric/categorical/boolean) that leak the target.

    ``classes`` says whether the target is predicted as classes or as a number.
    Tables with fewer than ``MIN_ROWS`` rows with a target are not judged.
    """
    sample = _Sample.of(frame, target_column, classes)
    if sample is None or sample.rows < MIN_ROWS:
        return {}
    encoded = {
        name: sample.encode(frame[name], kind)
        for name, kind in kinds.items()
        if date_part_source(name) is None
    }
    ranks = sample.rank_correlations(encoded)
    found = {}
    for name, (values, categorical) in encoded.items():
        rank = ranks.get(name)
        screened = sample.quick(name, values, categorical)
        if sample.passes_screen(screened) or (rank is not None and rank.near_perfect):
            score = sample.judge(screened, values, categorical, rank)
            if score.near_perfect:
                found[name] = score
    return found


def strongest_feature(frame: pd.DataFrame, spec: ModelSpec) -> SingleColumnScore | None:
    """The feature of ``spec`` that alone predicts its target best, with its held-out score.

    For the Results page, when a network (or its linear baseline) scores close to
    perfect: the column most likely to leak the answer. When it is not near perfect
    on its own, it is also scored together with the runner-up (``partner``,
    ``together``): two columns that explain the target between them (the parts of
    a total, a weight and a height beside a BMI). None when the table is too small
    to say.
    """
    sample = _Sample.of(frame, spec.target, spec.task != Task.REGRESSION)
    features = [feature for feature in spec.features if feature.name in frame.columns]
    if sample is None or sample.rows < _MIN_SUSPECT_ROWS or not features:
        return None
    encoded = {
        feature.name: sample.encode(frame[feature.name], feature.kind) for feature in features
    }
    ranks = sample.rank_correlations(encoded)
    quick = [sample.quick(name, *encoded[name]) for name in encoded]
    # The full model only for the three best by the quick one: the ranking rarely differs.
    best = sorted(quick, key=lambda score: score.score, reverse=True)[:3]
    judged = [
        sample.judge(score, *encoded[score.column], ranks.get(score.column)) for score in best
    ]
    judged.sort(key=lambda score: (score.near_perfect, score.score), reverse=True)
    strongest = judged[0]
    if strongest.near_perfect:
        return strongest
    if len(judged) == 1:  # one feature: no pair to explain more than it does
        return dataclasses.replace(strongest, together_near_perfect=False)
    partner = judged[1].column
    pair = sample.pair([strongest.column, partner], [encoded[strongest.column], encoded[partner]])
    return dataclasses.replace(
        strongest,
        partner=partner,
        together=pair.score,
        together_near_perfect=pair.near_perfect,
    )


class CopyCheck:
    """Finds columns that are a copy of the target, or a one-to-one relabelling of its classes.

    Exact and cheap, so it judges tables of any size; ``find_leaks`` needs
    ``MIN_ROWS``. A one-to-one match with a number that takes many values is a
    real relation (celsius -> fahrenheit) as far as this check goes; with a few
    classes it is a relabelling.
    """

    def __init__(self, target: pd.Series) -> None:
        self.target = target
        self.distinct = int(target.nunique(dropna=True))
        self.few_classes = (
            2 <= self.distinct <= _COPY_MAX_CLASSES and self.distinct <= len(target) / 2
        )
        self._present = target.notna().to_numpy()
        self._numbers = target.to_numpy(dtype=np.float64) if _is_number(target) else None
        self._texts: np.ndarray | None = None

    def reason(self, column: pd.Series, distinct: int) -> str | None:
        """Why ``column`` (with ``distinct`` values) leaks the answer, or None."""
        if distinct != self.distinct or distinct < 2:
            return None
        both = column.notna().to_numpy() & self._present
        if both.sum() < 2:
            return None
        if self._same_values(column, both):
            return "Copy of the target column: it would leak the answer."
        if not self.few_classes:
            return None
        column_codes, column_uniques = pd.factorize(column.to_numpy()[both])
        target_codes, target_uniques = pd.factorize(self.target.to_numpy()[both])
        if len(column_uniques) != len(target_uniques):
            return None
        pairs = column_codes.astype(np.int64) * len(target_uniques) + target_codes
        if len(pd.unique(pairs)) != len(target_uniques):
            return None
        return "Matches the target one-to-one (a relabelling of it): it would leak the answer."

    def _same_values(self, column: pd.Series, both: np.ndarray) -> bool:
        if self._numbers is not None and _is_number(column):
            values = column.to_numpy(dtype=np.float64)
            return bool(np.array_equal(values[both], self._numbers[both]))
        if self._texts is None:
            self._texts = as_category_text(self.target)
        return bool(np.array_equal(as_category_text(column)[both], self._texts[both]))


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


# --------------------------------------------------------------------------- the models


class _Sample:
    """A seeded row sample with a target, and the held-out parts its models are scored on.

    Every model is fitted without the rows it is scored on. A sample of
    ``_ONE_SPLIT_ROWS`` rows or more holds out one part (``_HELD_OUT``); a smaller
    one is cut in ``_FOLDS`` folds, each held out once, so that every row is scored
    and one unlucky row does not decide (one wrong row in 57 is already 98%).
    """

    def __init__(
        self, target_column: str, rows: np.ndarray, target: np.ndarray, classes: bool
    ) -> None:
        self.target_column = target_column
        self.rows = len(rows)
        self.index = rows
        self.target = target
        self.classes = classes
        order = np.random.default_rng(_SEED).permutation(len(rows))
        if len(rows) >= _ONE_SPLIT_ROWS:
            parts = [order[: round(_HELD_OUT * len(rows))]]
        else:
            parts = np.array_split(order, _FOLDS)
        self.folds = []
        for part in parts:
            held_out = np.zeros(len(rows), dtype=bool)
            held_out[part] = True
            self.folds.append(held_out)
        self.scored = np.logical_or.reduce(self.folds)
        fitted_rows = len(rows) - max(int(fold.sum()) for fold in self.folds)
        self.bins = int(np.clip(fitted_rows // _ROWS_PER_BIN, 2, _MAX_BINS))
        if classes:
            self.n_classes = int(target.max()) + 1
            self.majority = self._each_fold(lambda fit, _: self._majority(fit))
            self.baseline_accuracy = float(
                np.mean(self.majority[self.scored] == target[self.scored])
            )

    @classmethod
    def of(cls, frame: pd.DataFrame, target_column: str, classes: bool) -> _Sample | None:
        if target_column not in frame.columns:
            return None
        column = frame[target_column]
        if classes:
            texts = as_category_text(column)
            present = np.flatnonzero(texts != "")
        else:
            numbers = as_numeric(column).astype(np.float64)
            present = np.flatnonzero(np.isfinite(numbers))
        if len(present) > SAMPLE_ROWS:
            chosen = np.random.default_rng(_SEED).choice(len(present), SAMPLE_ROWS, replace=False)
            present = present[np.sort(chosen)]
        if len(present) < _FOLDS:
            return None
        if classes:
            target, _ = pd.factorize(texts[present])
            if target.max() < 1:
                return None
        else:
            target = numbers[present]
            if np.ptp(target) == 0:
                return None
        return cls(target_column, present, target, classes)

    def encode(self, column: pd.Series, kind: str) -> tuple[np.ndarray, bool]:
        """The sampled values as floats (NaN = missing), and whether they are category codes."""
        values = column.iloc[self.index]
        if kind == FeatureKind.NUMERIC:
            return as_numeric(values).astype(np.float64), False
        # Raw values, not category text: the same codes for any one column, and much faster.
        codes, _ = pd.factorize(values.to_numpy())
        return np.where(codes < 0, np.nan, codes).astype(np.float64), True

    def _each_fold(self, predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """Predictions for the held-out rows of every fold, by ``predict(fit_rows, held_out)``."""
        predicted = np.zeros(self.rows, dtype=np.int64 if self.classes else np.float64)
        for held_out in self.folds:
            predicted[held_out] = predict(~held_out, held_out)
        return predicted

    def _majority(self, fit: np.ndarray) -> int:
        return int(np.bincount(self.target[fit], minlength=self.n_classes).argmax())

    def _score(self, name: str, predicted: np.ndarray) -> SingleColumnScore:
        actual, predicted = self.target[self.scored], predicted[self.scored]
        if not self.classes:
            return SingleColumnScore(name, self.target_column, "r2", _r2(actual, predicted))
        return SingleColumnScore(
            name,
            self.target_column,
            "accuracy",
            float(np.mean(predicted == actual)),
            balanced_accuracy=_balanced_accuracy(actual, predicted),
            baseline_accuracy=self.baseline_accuracy,
        )

    # ---------------------------------------------------------------- the lookup screen

    def _codes(self, values: np.ndarray, fit: np.ndarray, categorical: bool) -> np.ndarray:
        """A bin per value (per category, or per quantile of the fitting rows); missing last."""
        missing = np.isnan(values)
        known = np.unique(values[fit & ~missing])
        if categorical or len(known) <= self.bins:
            codes = np.searchsorted(known, values)
            # A value the fitting rows never had gets a bin of its own, with no rows to learn.
            codes = np.where(np.isin(values, known), codes, len(known))
            size = len(known)
        else:
            edges = np.unique(np.quantile(known, np.linspace(0, 1, self.bins + 1)[1:-1]))
            codes = np.searchsorted(edges, values, side="right")
            size = len(edges)
        return np.where(missing, size + 1, codes).astype(np.int64)

    def lookup(self, name: str, values: np.ndarray, categorical: bool) -> SingleColumnScore:
        """The lookup model's held-out score: the target's mean or commonest class per bin."""

        def predict(fit: np.ndarray, held_out: np.ndarray) -> np.ndarray:
            codes = self._codes(values, fit, categorical)
            size = int(codes.max()) + 1
            y = self.target
            if self.classes:
                table = np.bincount(
                    codes[fit] * self.n_classes + y[fit], minlength=size * self.n_classes
                ).reshape(size, self.n_classes)
                best = np.where(table.sum(axis=1) > 0, table.argmax(axis=1), self._majority(fit))
                return best[codes[held_out]]
            counts = np.bincount(codes[fit], minlength=size)
            sums = np.bincount(codes[fit], weights=y[fit], minlength=size)
            means = np.where(counts > 0, sums / np.maximum(counts, 1), y[fit].mean())
            return means[codes[held_out]]

        return self._score(name, self._each_fold(predict))

    def interpolation(self, name: str, values: np.ndarray) -> SingleColumnScore:
        """Straight lines between the fitting rows' values: a smooth relation's best guess.

        A tree model's steps are coarse where values are sparse (the top wages), so
        an exact relation scores only about 0.97 there; lines between neighbours
        follow it.
        """

        def predict(fit: np.ndarray, held_out: np.ndarray) -> np.ndarray:
            y = self.target
            known = fit & ~np.isnan(values)
            if not known.any():
                return np.full(int(held_out.sum()), y[fit].mean())
            points, where = np.unique(values[known], return_inverse=True)
            means = np.bincount(where, weights=y[known]) / np.bincount(where)
            predicted = np.interp(values[held_out], points, means)
            unknown = fit & np.isnan(values)
            fallback = y[unknown].mean() if unknown.any() else y[fit].mean()
            return np.where(np.isnan(values[held_out]), fallback, predicted)

        return self._score(name, self._each_fold(predict))

    def quick(self, name: str, values: np.ndarray, categorical: bool) -> SingleColumnScore:
        """The cheap one-feature model's score: lines for a number between numbers, else lookup."""
        if self.classes or categorical:
            return self.lookup(name, values, categorical)
        return self.interpolation(name, values)

    def passes_screen(self, score: SingleColumnScore) -> bool:
        """Whether the cheap model comes close enough to perfect to fit the full model."""
        if self.classes:
            return 1.0 - score.score <= _SCREEN_SLACK * (1.0 - NEAR_PERFECT_ACCURACY)
        return 1.0 - score.score <= _SCREEN_SLACK * (1.0 - NEAR_PERFECT_R2)

    def judge(
        self,
        quick: SingleColumnScore,
        values: np.ndarray,
        categorical: bool,
        rank: SingleColumnScore | None,
    ) -> SingleColumnScore:
        """The best evidence on one column: the better one-feature model, else its ranks.

        The full model is fitted only when the cheap one falls short: it could only
        raise a score that already counts as near perfect (and importing
        scikit-learn costs a cold server seconds).
        """
        best = quick
        if not quick.near_perfect:
            best = max(quick, self.fit(quick.column, values, categorical), key=_score_value)
        if not best.near_perfect and rank is not None and rank.near_perfect:
            return rank
        return best

    def rank_correlations(
        self, encoded: dict[str, tuple[np.ndarray, bool]]
    ) -> dict[str, SingleColumnScore]:
        """Spearman's correlation of each number column with a number target, on all rows."""
        numbers = {
            name: values for name, (values, categorical) in encoded.items() if not categorical
        }
        if self.classes or not numbers:
            return {}
        names = list(numbers)
        table = np.column_stack([numbers[name] for name in names])
        complete = ~np.isnan(table).any(axis=0)
        rho = np.full(len(names), np.nan)
        if complete.any():
            ranks = pd.DataFrame(table[:, complete]).rank().to_numpy()
            rho[complete] = _correlations(ranks, pd.Series(self.target).rank().to_numpy())
        for position in np.flatnonzero(~complete):
            known = ~np.isnan(table[:, position])
            if known.sum() >= MIN_ROWS:
                ranks = pd.Series(table[known, position]).rank().to_numpy()[:, None]
                target = pd.Series(self.target[known]).rank().to_numpy()
                rho[position] = _correlations(ranks, target)[0]
        return {
            name: SingleColumnScore(name, self.target_column, "rank_correlation", float(value))
            for name, value in zip(names, rho, strict=True)
            if np.isfinite(value)
        }

    # ---------------------------------------------------------------- the full model

    def pair(self, names: list[str], columns: list[tuple[np.ndarray, bool]]) -> SingleColumnScore:
        """Two columns together, scored on the held-out rows (named by the first).

        ``HistGradientBoosting`` on both; for a number target also a straight line
        through them (the parts of a total) and, where every value is positive, through
        their logarithms (a ratio or a product: a BMI, a price per unit), the best of them.
        """
        x = np.column_stack([values for values, _ in columns])
        # A category code with more values than the model's bins is read as a number.
        categorical = [
            bool(kind and np.nanmax(values, initial=0) < _MAX_BINS - 1) for values, kind in columns
        ]
        scores = [self._boost(names[0], x, categorical)]
        if not self.classes and not any(kind for _, kind in columns):
            scores.append(self.straight(names[0], x))
            known = x[~np.isnan(x).any(axis=1)]
            if known.size and known.min() > 0 and self.target.min() > 0:
                scores.append(self.straight(names[0], x, logarithms=True))
        return max(scores, key=_score_value)

    def straight(self, name: str, x: np.ndarray, logarithms: bool = False) -> SingleColumnScore:
        """Least squares through the columns of ``x`` (missing: the fitting rows' mean)."""
        y = np.log(self.target) if logarithms else self.target
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.log(x) if logarithms else x

        def predict(fit: np.ndarray, held_out: np.ndarray) -> np.ndarray:
            means = np.nan_to_num(np.nanmean(x[fit], axis=0))
            filled = np.where(np.isnan(x), means, x)
            design = np.column_stack([np.ones(len(x)), filled])
            coefficients = np.linalg.lstsq(design[fit], y[fit], rcond=None)[0]
            predicted = design[held_out] @ coefficients
            return np.exp(predicted) if logarithms else predicted

        return self._score(name, self._each_fold(predict))

    def fit(self, name: str, values: np.ndarray, categorical: bool) -> SingleColumnScore:
        """``HistGradientBoosting`` on this column alone, scored on the held-out rows."""
        if categorical and np.nanmax(values, initial=0) >= _MAX_BINS - 1:
            # More categories than the model reads as categories: the lookup, which keeps
            # every category apart, is the better one-feature model.
            return self.lookup(name, values, categorical)
        return self._boost(name, values.reshape(-1, 1), [categorical])

    def _boost(self, name: str, x: np.ndarray, categorical: list[bool]) -> SingleColumnScore:
        """``HistGradientBoosting`` on the columns of ``x``, scored on the held-out rows."""
        # Here: scikit-learn takes about 1.5 s to import, and the server imports this module
        # at start-up (profiling) but fits only when a table is checked.
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        settings = {
            # Classes need only the right class on top, which a few rounds give.
            "max_iter": 20 if not self.classes or self.n_classes == 2 else 10,
            "learning_rate": 0.5,
            "min_samples_leaf": 5,
            "early_stopping": False,
            "categorical_features": categorical,
            "random_state": _SEED,
        }
        model = HistGradientBoostingClassifier if self.classes else HistGradientBoostingRegressor

        def predict(fit: np.ndarray, held_out: np.ndarray) -> np.ndarray:
            if self.classes and len(np.unique(self.target[fit])) < 2:
                return np.full(int(held_out.sum()), self._majority(fit))
            return model(**settings).fit(x[fit], self.target[fit]).predict(x[held_out])

        # One thread: a one-column model is too small to share, and threads would compete
        # with the server's (or the worker's) for the machine's cores.
        with threadpool_limits(limits=1, user_api="openmp"):
            return self._score(name, self._each_fold(predict))


def _score_value(score: SingleColumnScore) -> float:
    return score.score


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    total = float(np.sum((actual - actual.mean()) ** 2))
    if total == 0:
        return 0.0
    return 1.0 - float(np.sum((actual - predicted) ** 2)) / total


def _correlations(columns: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each column with ``target``; NaN for a constant column."""
    columns = columns - columns.mean(axis=0)
    target = target - target.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        return (target @ columns) / (np.linalg.norm(columns, axis=0) * np.linalg.norm(target))


def _balanced_accuracy(actual: np.ndarray, predicted: np.ndarray) -> float:
    """The mean over the classes present of the share of their rows predicted right."""
    recalls = [np.mean(predicted[actual == label] == label) for label in np.unique(actual)]
    return float(np.mean(recalls))

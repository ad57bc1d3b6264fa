"""A run's test-set evaluation as plain values: its scores, its baselines' and how they compare.

The record ``evaluate.evaluate`` fills in a worker, which the app reads back (from
``evaluation.json``) to show a run without importing Keras: so it lives apart from the
scoring, which needs the trained network.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import METRIC_WORDS, Task
from layerlab.tabular.data import ClassBalance
from layerlab.tabular.gap_noise import GapInterval

# scikit-learn takes about 1.5 s to import, so the metrics below import it where they are
# worked out: the Streamlit server imports this module at start-up, for ``Evaluation``.

# For each task: the headline metric, whether higher is better, and its plain name.
HEADLINE = {
    Task.REGRESSION: ("mae", False, METRIC_WORDS["mae"]),
    Task.BINARY: ("accuracy", True, METRIC_WORDS["accuracy"]),
    Task.MULTICLASS: ("accuracy", True, METRIC_WORDS["accuracy"]),
}
THRESHOLD_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
BASELINE_NAMES = {
    Task.REGRESSION: {
        "naive": "always predicting the training mean",
        "linear": "linear regression",
        "boosting": "gradient boosting",
    },
    Task.BINARY: {
        "naive": "always guessing the most common class",
        "linear": "logistic regression",
        "boosting": "gradient boosting",
    },
    Task.MULTICLASS: {
        "naive": "always guessing the most common class",
        "linear": "logistic regression",
        "boosting": "gradient boosting",
    },
}
# The baseline that is hardest to beat; evaluations saved before it existed lack it.
STRONGEST_BASELINE = "boosting"
STRONGEST_WORDS = "the strongest simple model"
# How the network compares with its baselines (``Evaluation.comparison``).
AHEAD = "ahead"  # better than every baseline
BEHIND_STRONGEST = "behind the strongest"  # better than every baseline but the strongest
BEHIND = "behind"  # not better than a simpler baseline


# A curve is drawn from at most this many points: the picture cannot show more on a chart
# a few hundred pixels wide, and a multiclass precision-recall curve of 10,788 test rows is
# 1.5 MB of numbers for the browser to parse and draw.
CURVE_POINTS = 400
# A scatter of test rows shows at most this many, drawn at random with a fixed seed.
SCATTER_POINTS = 2_000


def thin_curve(curve: pd.DataFrame, x: str, y: str, points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most about ``points`` rows of ``curve`` (a line through (``x``, ``y``)), spaced
    evenly along its length, so every turn a reader could see stays; the ends are kept."""
    if len(curve) <= points:
        return curve
    steps = np.hypot(np.diff(curve[x].to_numpy(float)), np.diff(curve[y].to_numpy(float)))
    along = np.concatenate([[0.0], np.cumsum(np.nan_to_num(steps))])
    length = along[-1] if along[-1] > 0 else 1.0
    buckets = np.floor(along / length * (points - 1))
    keep = np.flatnonzero(np.diff(buckets, prepend=-1.0) != 0)
    keep = np.union1d(keep, [0, len(curve) - 1])
    return curve.iloc[keep]


def sample_rows(frame: pd.DataFrame, points: int = SCATTER_POINTS) -> pd.DataFrame:
    """At most ``points`` rows of ``frame``, the same ones on every visit."""
    return frame if len(frame) <= points else frame.sample(points, random_state=0)


@dataclass(frozen=True)
class ThresholdScores:
    """A binary model's test-set scores when a row counts as positive above ``threshold``.

    ``metrics`` holds ``THRESHOLD_METRICS``; precision, recall and F1 are those of
    the positive class (the second class), NaN where undefined (no row predicted
    positive, or no positive row).
    """

    threshold: float
    confusion: pd.DataFrame  # rows: actual class, columns: predicted class
    metrics: dict[str, float]

    @property
    def false_positive_rate(self) -> float:
        """The share of negative rows predicted positive (the ROC curve's x)."""
        true_negatives, false_positives = self.confusion.to_numpy()[0]
        negatives = true_negatives + false_positives
        return float(false_positives / negatives) if negatives else float("nan")


@dataclass
class Evaluation:
    task: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    predictions: pd.DataFrame  # test rows: actual, predicted (+ probabilities for classes)
    confusion: pd.DataFrame | None = None  # rows: actual class, columns: predicted class
    roc: dict[str, pd.DataFrame] = field(default_factory=dict)  # class -> fpr/tpr curve
    # class -> recall/precision curve (test set), for the positive class or each class
    precision_recall: dict[str, pd.DataFrame] = field(default_factory=dict)
    # class -> its share of the rows with a target (training, validation and test)
    class_shares: dict[str, float] = field(default_factory=dict)
    # the rarest and the commonest class among those rows (None for regression)
    class_balance: ClassBalance | None = None
    # How far the gap to gradient boosting moves when the test rows are drawn again
    # (``gap_noise``); None without the boosting baseline.
    boosting_gap: GapInterval | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain values for metrics.json."""
        out: dict[str, object] = {"task": self.task, "test": self.metrics}
        out["baselines"] = self.baselines
        if self.confusion is not None:
            out["confusion_matrix"] = {
                "labels": [str(label) for label in self.confusion.index],
                "matrix": self.confusion.to_numpy().tolist(),
            }
        if self.class_shares:
            out["class_shares"] = self.class_shares
        if self.boosting_gap is not None:
            out["boosting_gap"] = self.boosting_gap.to_dict()
        return out

    @property
    def classes(self) -> tuple[str, ...]:
        """Class labels in output order (empty for regression)."""
        return () if self.confusion is None else tuple(self.confusion.index)

    def imbalance(self) -> ClassBalance | None:
        """The class balance when its rarest class is rare enough that accuracy flatters."""
        balance = self.class_balance
        return balance if balance is not None and balance.imbalanced else None

    def at_threshold(self, threshold: float) -> ThresholdScores:
        """The test-set scores of a binary model at another decision threshold."""
        if self.task != Task.BINARY:
            raise ValueError(f"A decision threshold needs a binary task; got {self.task!r}.")
        negative, positive = self.classes
        return threshold_scores(
            (self.predictions["actual"] == positive).to_numpy(),
            self.predictions[f"probability_{positive}"].to_numpy(),
            threshold,
            (negative, positive),
        )

    def headline_metric(self) -> tuple[str, bool, str]:
        """The metric the network is judged by: its name, whether higher is better, its words.

        Balanced accuracy where a class is rare, since plain accuracy there rewards
        never predicting it; the baselines are judged by the same metric.
        """
        if self.imbalance() is not None and "balanced_accuracy" in self.metrics:
            return ("balanced_accuracy", True, "balanced accuracy")
        return HEADLINE[self.task]

    def headline(self) -> str:
        """One plain sentence comparing the network with its baselines."""
        name, higher, label = self.headline_metric()
        names = BASELINE_NAMES[self.task]
        text = f"The network's {label} on the test set is {readable_number(self.metrics[name])}"
        parts = [
            f"{names[key]} gives {readable_number(values[name])}"
            for key, values in self.baselines.items()
            if name in values
        ]
        if parts:
            text += "; " + "; ".join(parts)
        better = "higher" if higher else "lower"
        return text + f" ({better} is better)."

    def imbalance_headline(self) -> str | None:
        """For a rare class, one sentence with the scores that do not flatter; else None."""
        rare = self.imbalance()
        if rare is None:
            return None
        names = BASELINE_NAMES[self.task]
        scores = ", ".join(
            f"{names[key]} {readable_number(values['balanced_accuracy'])}"
            for key, values in self.baselines.items()
            if "balanced_accuracy" in values
        )
        guessing = readable_number(1 / max(rare.classes, 2))
        return (
            f'The classes are imbalanced: "{rare.rarest}" is only {rare.rarest_share:.1%} of the '
            f"rows, so accuracy flatters. Balanced accuracy ({guessing} is guessing) is "
            f"{readable_number(self.metrics['balanced_accuracy'])} for the network ({scores})."
        )

    def beats_baselines(self) -> dict[str, bool]:
        name, higher, _ = self.headline_metric()
        mine = self.metrics[name]
        return {
            key: (mine > values[name]) if higher else (mine < values[name])
            for key, values in self.baselines.items()
        }

    def comparison(self) -> tuple[str, str]:
        """How the network compares with its baselines: ``AHEAD``, ``BEHIND_STRONGEST`` or
        ``BEHIND``, and one plain sentence saying so with the headline metric.

        Callers add what to do next, since that differs between the app and the CLI.
        """
        names = BASELINE_NAMES[self.task]
        beats = self.beats_baselines()
        losing = [key for key, won in beats.items() if not won]
        strongest = STRONGEST_BASELINE in beats
        strongest_words = f"{names[STRONGEST_BASELINE]} ({STRONGEST_WORDS})"
        if not losing:
            if len(beats) == 1:  # the run was stopped before the other baselines were fitted
                (only,) = beats
                return AHEAD, (
                    f"The network beats {names.get(only, only)} on rows it never saw (the "
                    "other baselines were not fitted)."
                )
            if not strongest:
                count = "both baselines" if len(beats) == 2 else "every baseline"
                return AHEAD, f"The network beats {count} on rows it never saw."
            return AHEAD, (
                f"The network beats every baseline on rows it never saw, {strongest_words} "
                f"included.{self._gap_sentence()}"
            )
        name, _, label = self.headline_metric()
        if losing == [STRONGEST_BASELINE] and len(beats) > 1:
            simpler = " and ".join(names.get(key, key) for key, won in beats.items() if won)
            mine, theirs = _told_apart(self.metrics[name], self.baselines[STRONGEST_BASELINE][name])
            than = (
                f"does as well: {label} {theirs}, the same as the network's"
                if mine == theirs
                else f"does better: {label} {theirs} against the network's {mine}"
            )
            return BEHIND_STRONGEST, (
                f"The network beats {simpler}, but {strongest_words} {than}."
                + ("" if mine == theirs else self._gap_sentence())
            )
        behind = " or ".join(names.get(key, key) for key in losing)
        return BEHIND, f"The network's {label} is not better than {behind}."

    def _gap_sentence(self) -> str:
        """Whether the gap to gradient boosting is beyond what drawing the test rows again
        moves it, in one sentence with a leading space ("" when not worked out)."""
        gap = self.boosting_gap
        name, _, label = self.headline_metric()
        if gap is None or gap.metric != name:
            return ""
        between = f"between {readable_number(gap.low)} and {readable_number(gap.high)}"
        if gap.real:
            return (
                f" The gap is real: drawing the test rows again, 95 draws in 100 put the "
                f"network's {label} minus gradient boosting's {between}, all on one side of zero."
            )
        return (
            f" The gap may be noise: drawing the {len(self.predictions):,} test rows again, 95 "
            f"draws in 100 put the network's {label} minus gradient boosting's {between}, on "
            "both sides of zero."
        )


def _told_apart(mine: float, theirs: float) -> tuple[str, str]:
    """Two scores in words, with as few digits (3 to 6) as tell them apart."""
    for digits in range(3, 7):
        words = readable_number(mine, digits), readable_number(theirs, digits)
        if words[0] != words[1]:
            return words
    return words


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "r2": float(r2_score(actual, predicted)) if len(actual) > 1 else float("nan"),
    }


def classification_metrics(
    actual: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> dict[str, float]:
    """Metrics from true class indices and per-class probabilities.

    Balanced accuracy is the mean recall over the classes in the test set, so
    always guessing the common class scores 1 / (number of classes). Average
    precision summarises the precision-recall curve of the positive class
    (binary) or, averaged, of each class against the rest; guessing scores the
    class's share of the rows.
    """
    from sklearn.metrics import (
        accuracy_score,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    labels = list(range(len(classes)))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(
        actual, predicted, labels=labels, average="macro", zero_division=0
    )
    balanced = _balanced_accuracy(actual, predicted)
    average_precision = _average_precision(actual, probabilities, len(classes))
    probabilities = np.clip(probabilities, 1e-7, 1.0)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    metrics = {
        "accuracy": float(accuracy_score(actual, predicted)),
        "balanced_accuracy": balanced,
        "average_precision": average_precision,
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "log_loss": float(log_loss(actual, probabilities, labels=labels)),
    }
    present = np.unique(actual)
    if len(present) < 2:
        metrics["roc_auc"] = float("nan")
    elif len(classes) == 2:
        metrics["roc_auc"] = float(roc_auc_score(actual, probabilities[:, 1]))
    elif len(present) == len(classes):
        metrics["roc_auc"] = float(
            roc_auc_score(actual, probabilities, multi_class="ovr", labels=labels)
        )
    else:
        metrics["roc_auc"] = float("nan")  # one-vs-rest needs every class in the test set
    return metrics


def _balanced_accuracy(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes in ``actual``; quiet when the test set lacks a class."""
    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        # sklearn warns that a class predicted but absent from the test set has no recall,
        # and that one class alone gives a 1x1 confusion matrix; both are expected here.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", message="A single label was found")
        return float(balanced_accuracy_score(actual, predicted))


def _average_precision(actual: np.ndarray, probabilities: np.ndarray, n_classes: int) -> float:
    """Of the positive class (binary), or the mean over the classes in the test set (more)."""
    from sklearn.metrics import average_precision_score

    targets = [1] if n_classes == 2 else range(n_classes)
    scores = [
        average_precision_score(actual == position, probabilities[:, position])
        for position in targets
        if (actual == position).any()
    ]
    return float(np.mean(scores)) if scores else float("nan")


def threshold_scores(
    is_positive: np.ndarray,
    probability: np.ndarray,
    threshold: float,
    classes: tuple[str, str],
) -> ThresholdScores:
    """Confusion matrix and ``THRESHOLD_METRICS`` when rows above ``threshold`` are positive.

    ``is_positive``: whether each test row is of the positive class (``classes[1]``);
    ``probability``: the model's probability of that class. "Above", not "at or
    above", so 0.5 gives the model's own predictions (the likelier class).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
    )

    actual = np.asarray(is_positive, dtype=bool).astype(int)
    predicted = (np.asarray(probability) > threshold).astype(int)
    balanced = _balanced_accuracy(actual, predicted)
    undefined = {"zero_division": np.nan}
    metrics = {
        "accuracy": float(accuracy_score(actual, predicted)),
        "balanced_accuracy": balanced,
        "precision": float(precision_score(actual, predicted, **undefined)),
        "recall": float(recall_score(actual, predicted, **undefined)),
        "f1": float(f1_score(actual, predicted, **undefined)),
    }
    matrix = confusion_matrix(actual, predicted, labels=[0, 1])
    confusion = pd.DataFrame(matrix, index=list(classes), columns=list(classes))
    return ThresholdScores(float(threshold), confusion, metrics)

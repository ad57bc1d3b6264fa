"""Test-set metrics, and baselines on the same split, so a user sees whether the network earns its keep.

The naive baseline predicts the training mean (numbers) or the most common
training class; the linear baseline is scikit-learn's linear or logistic
regression fitted on the model's own preprocessing of the training split (with
the spec's class weights, so it is held to the same objective); the boosting
baseline is gradient boosting on the raw columns (``layerlab.model.boosting``, with the
same class weights), the strongest simple model, which a network on a table often
does not beat. Every model is judged by the same metrics; for classes these
include balanced accuracy and average precision, which, unlike accuracy, do not
reward ignoring a rare class.

A run stopped after its epochs is still scored: the test scores and the naive
baseline take milliseconds, while the linear and boosting baselines, seconds on
a wide table, are left out once Stop is heard (``evaluate``'s ``should_stop``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from layerlab.model.boosting import boosting_predictions, boosting_probabilities
from layerlab.model.build import predict_frame
from layerlab.model.train import TrainingResult, preprocess
from layerlab.schema.vocabulary import Task
from layerlab.tabular.data import class_balance
from layerlab.tabular.evaluation import (  # the record and its words live there, plain
    Evaluation,
    classification_metrics,
    regression_metrics,
)
from layerlab.tabular.gap_noise import gap_interval
from layerlab.tabular.values import as_category_text, as_numeric, class_indices

# How often a baseline's fit, which has no callback, is asked whether Stop was pressed.
POLL_SECONDS = 0.05

_Value = TypeVar("_Value")


def evaluate(
    result: TrainingResult, *, should_stop: Callable[[], bool] | None = None
) -> Evaluation:
    """Score the trained model and its baselines on the held-out test split.

    Once ``should_stop()`` is true, the linear and boosting baselines still to fit
    are left out of ``Evaluation.baselines`` (the test scores and the naive
    baseline are always there); a fit under way is dropped within ``POLL_SECONDS``
    (boosting) or left to end on its own thread (one linear fit).
    """
    spec, built = result.spec, result.built
    # The baselines learn from the rows the model learned from (all of them after a refit).
    train, test = result.fitted_rows, result.splits.test
    if len(test) == 0:
        raise ValueError("The test split is empty; the trainer guarantees at least one row.")
    outputs = predict_frame(built, test)

    def inputs() -> tuple[np.ndarray, np.ndarray]:
        if result.train_inputs is not None:
            return np.asarray(result.train_inputs), preprocess(built, test)
        return preprocess(built, train), preprocess(built, test)

    if spec.task == Task.REGRESSION:
        actual = as_numeric(test[spec.target]).astype(float)
        y_train = as_numeric(train[spec.target]).astype(float)

        def linear_fit(cancelled: Callable[[], bool] | None) -> np.ndarray:
            x_train, x_test = inputs()
            return LinearRegression().fit(x_train, y_train).predict(x_test)

        fitted = {
            "naive": np.full_like(actual, y_train.mean()),
            "linear": _unless_stopped(linear_fit, should_stop),
            "boosting": _boosting(
                result,
                should_stop,
                lambda cancelled: boosting_predictions(
                    spec, train, y_train, test, should_stop=cancelled
                ),
            ),
        }
        predictions = pd.DataFrame(
            {"actual": actual, "predicted": outputs, "residual": actual - outputs}
        )
        evaluation = Evaluation(
            task=spec.task,
            metrics=regression_metrics(actual, outputs),
            baselines={
                key: regression_metrics(actual, values)
                for key, values in fitted.items()
                if values is not None
            },
            predictions=predictions,
        )
        return _with_boosting_gap(evaluation, actual, outputs, fitted["boosting"])

    classes = built.classes
    splits = (result.splits.train, result.splits.validation, test)
    labels = pd.Series(np.concatenate([as_category_text(part[spec.target]) for part in splits]))
    shares = labels.value_counts(normalize=True)
    actual = class_indices(test[spec.target], classes)
    y_train = class_indices(train[spec.target], classes)
    naive = np.zeros((len(test), len(classes)))
    naive[:, np.bincount(y_train, minlength=len(classes)).argmax()] = 1.0
    balanced = result.class_weights is not None

    def logistic_fit(cancelled: Callable[[], bool] | None) -> np.ndarray:
        x_train, x_test = inputs()
        return _logistic_probabilities(x_train, y_train, x_test, len(classes), balanced=balanced)

    fitted = {
        "naive": naive,
        "linear": _unless_stopped(logistic_fit, should_stop),
        "boosting": _boosting(
            result,
            should_stop,
            lambda cancelled: boosting_probabilities(
                spec, train, y_train, test, len(classes), balanced=balanced, should_stop=cancelled
            ),
        ),
    }
    predictions = pd.DataFrame(
        {
            "actual": [classes[i] for i in actual],
            "predicted": [classes[i] for i in outputs.argmax(axis=1)],
        }
    )
    for position, label in enumerate(classes):
        predictions[f"probability_{label}"] = outputs[:, position]
    evaluation = Evaluation(
        task=spec.task,
        metrics=classification_metrics(actual, outputs, classes),
        baselines={
            key: classification_metrics(actual, values, classes)
            for key, values in fitted.items()
            if values is not None
        },
        predictions=predictions,
        confusion=_confusion(actual, outputs.argmax(axis=1), classes),
        roc=_roc_curves(actual, outputs, classes),
        precision_recall=_precision_recall_curves(actual, outputs, classes),
        class_shares={label: float(shares.get(label, 0.0)) for label in classes},
        class_balance=class_balance(labels),
    )
    boosting = fitted["boosting"]
    return _with_boosting_gap(
        evaluation,
        actual,
        outputs.argmax(axis=1),
        None if boosting is None else boosting.argmax(axis=1),
    )


def _with_boosting_gap(
    evaluation: Evaluation, actual: np.ndarray, mine: np.ndarray, boosting: np.ndarray | None
) -> Evaluation:
    """``evaluation`` with how far its headline gap to gradient boosting moves when the test
    rows are drawn again (``gap_noise``): predicted numbers, or predicted class indices."""
    if boosting is None:
        return evaluation
    name = evaluation.headline_metric()[0]
    gap = gap_interval(name, np.asarray(actual), np.asarray(mine), np.asarray(boosting))
    return dataclasses.replace(evaluation, boosting_gap=gap)


def _boosting(
    result: TrainingResult,
    should_stop: Callable[[], bool] | None,
    fit: Callable[[Callable[[], bool] | None], np.ndarray | None],
) -> np.ndarray | None:
    """The boosting baseline: the one fitted while the network trained, if it was, else
    ``fit``'s (see ``_unless_stopped``); None once ``should_stop()`` is true."""
    early = _early_boosting(result, should_stop)
    if early is not None:
        return early
    return _unless_stopped(fit, should_stop)


def _early_boosting(
    result: TrainingResult, should_stop: Callable[[], bool] | None = None
) -> np.ndarray | None:
    """The boosting baseline fitted while the network trained, if it was (and for these
    classes) and ``should_stop()`` did not turn true while it was awaited; else None."""
    if result.boosting is None:
        return None
    stopped, predictions = _wait(result.boosting, should_stop)
    if stopped:
        return None
    if result.spec.task != Task.REGRESSION and predictions.shape[1] != len(result.classes):
        return None
    return predictions


def _unless_stopped(
    fit: Callable[[Callable[[], bool] | None], _Value | None],
    should_stop: Callable[[], bool] | None,
) -> _Value | None:
    """``fit(cancelled)``'s value, or None if ``should_stop()`` is true before it is done
    (without ``should_stop``: ``fit(None)``, here).

    scikit-learn's fits have no callback, so with ``should_stop`` the fit runs on a
    thread of its own, asked about every ``POLL_SECONDS``: Stop is heard at once. A
    stopped fit is left to end there; ``cancelled()`` turns true for it, so a fit that
    works in steps (``boosting.fit_stoppably``) ends after its current step, and its
    value is dropped. (A job's own ``should_stop`` cannot tell it: a worker forgets
    that a job was stopped once the job is over.)
    """
    if should_stop is None:
        return fit(None)  # nothing to hear: one plain fit
    if should_stop():
        return None
    cancel = threading.Event()
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fit(cancel.is_set))
        except BaseException as error:  # handed to whoever asks for the result
            future.set_exception(error)

    threading.Thread(target=run, name="layerlab-baseline", daemon=True).start()
    stopped, value = _wait(future, should_stop)
    if stopped:
        cancel.set()
        return None
    return value


def _wait(future: Future, should_stop: Callable[[], bool] | None) -> tuple[bool, object]:
    """(True, None) if ``should_stop()`` turns true first, else (False, the future's value)."""
    while True:
        try:
            return False, future.result(timeout=None if should_stop is None else POLL_SECONDS)
        except FutureTimeout:
            if should_stop():
                return True, None


def _logistic_probabilities(
    x_train, y_train, x_test, n_classes: int, *, balanced: bool = False
) -> np.ndarray:
    weights = "balanced" if balanced else None
    model = LogisticRegression(max_iter=1000, class_weight=weights).fit(x_train, y_train)
    probabilities = np.zeros((len(x_test), n_classes))
    probabilities[:, model.classes_] = model.predict_proba(x_test)
    return probabilities


def _confusion(actual, predicted, classes) -> pd.DataFrame:
    matrix = confusion_matrix(actual, predicted, labels=list(range(len(classes))))
    return pd.DataFrame(matrix, index=list(classes), columns=list(classes))


def _roc_curves(actual, probabilities, classes) -> dict[str, pd.DataFrame]:
    """ROC curve of the positive class (binary) or each class against the rest."""
    curves = {}
    targets = [1] if len(classes) == 2 else range(len(classes))
    for position in targets:
        is_class = actual == position
        if is_class.all() or not is_class.any():
            continue
        fpr, tpr, _ = roc_curve(is_class, probabilities[:, position])
        curves[classes[position]] = pd.DataFrame({"fpr": fpr, "tpr": tpr})
    return curves


def _precision_recall_curves(actual, probabilities, classes) -> dict[str, pd.DataFrame]:
    """Precision against recall for the positive class (binary) or each class against the rest."""
    curves = {}
    targets = [1] if len(classes) == 2 else range(len(classes))
    for position in targets:
        is_class = actual == position
        if not is_class.any():
            continue
        precision, recall, _ = precision_recall_curve(is_class, probabilities[:, position])
        curves[classes[position]] = pd.DataFrame({"recall": recall, "precision": precision})
    return curves

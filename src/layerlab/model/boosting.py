"""Gradient boosting on the raw columns: the strongest simple model a network is held to.

scikit-learn's histogram gradient boosting, with its defaults, reads the columns
the spec uses as they are: numbers with their gaps left in (it learns where a
missing value should go), categories and yes/no columns as categories (no
one-hot). On most tables it is the model to beat, so the Results page, the CLI
and ``metrics.json`` put it beside the network.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FeatureKind, Task
from layerlab.tabular.values import as_category_keys, as_category_text, as_numeric

# scikit-learn refuses a categorical column with more distinct values than its bins
# (255 by default); the rarer training categories beyond that count as missing.
MAX_CATEGORIES = 255
# Below this many training rows one thread does the work: OpenMP threads that wait for a
# core another process holds (a training worker, a search trial) made 900 rows of five
# classes take 20 s on two cores instead of 0.7 s; above it, the threads pay their way.
THREADED_ROWS = 50_000
# A fit that may be stopped grows its trees in this many warm-started steps, and hears Stop
# between them (scikit-learn's boosting has no callback). Each step bins the columns again
# (1 s for 3,600 x 1,000 on a busy core, where a tree took 0.1 s): four steps cost three
# binnings more than one fit, and a stopped fit ends within a quarter of its work.
STEPS = 4


def boosting_frames(
    spec: ModelSpec, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The spec's columns of both splits as gradient boosting reads them.

    Numbers as floats (NaN where missing or not finite; a column with no number in
    training is a constant, as it says nothing); categorical and boolean
    columns as pandas categories whose list comes from the training split alone
    (its ``MAX_CATEGORIES`` commonest), so a value unseen in training, or too
    rare to keep, is missing on the test rows rather than an error.
    """
    x_train, x_test = {}, {}
    for feature in spec.features:
        name = feature.name
        if feature.kind == FeatureKind.NUMERIC:
            x_train[name] = _finite(as_numeric(train[name]))
            x_test[name] = _finite(as_numeric(test[name]))
            if np.isnan(x_train[name]).all():  # nothing to learn, and scikit-learn refuses it
                x_train[name][:], x_test[name][:] = 0.0, 0.0
            continue
        keys = pd.Series(as_category_keys(train[name]))
        counts = keys[keys != ""].value_counts()
        kept = sorted(str(key) for key in counts.index[:MAX_CATEGORIES])
        x_train[name] = _categories(keys.to_numpy(), kept)
        x_test[name] = _categories(as_category_keys(test[name]), kept)
    return pd.DataFrame(x_train), pd.DataFrame(x_test)


def _categories(keys: np.ndarray, kept: list[str]) -> pd.Categorical:
    """``keys`` as categories of ``kept``; any other key (and "", missing) is missing."""
    codes = pd.Index(kept, dtype=object).get_indexer(keys)  # -1 where not kept
    return pd.Categorical.from_codes(codes, categories=pd.Index(kept, dtype=object))


def _finite(numbers: np.ndarray) -> np.ndarray:
    numbers = numbers.astype(np.float64)
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers


def boosting_predictions(
    spec: ModelSpec,
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """Fit gradient boosting on the training split; its predictions for the test rows, or
    None when ``should_stop()`` said so before the fit was done (see ``fit_stoppably``)."""
    # Not at the top: scikit-learn takes 0.7 s to import, and `predict` imports this module.
    from sklearn.ensemble import HistGradientBoostingRegressor

    x_train, x_test = boosting_frames(spec, train, test)
    model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=spec.seed)
    with _threads(len(train)):
        if not fit_stoppably(model, x_train, y_train, should_stop):
            return None
        return model.predict(x_test)


def boosting_probabilities(
    spec: ModelSpec,
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    n_classes: int,
    *,
    balanced: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """Fit gradient boosting on class indices ``y_train``; test-row probabilities per class,
    or None when ``should_stop()`` said so before the fit was done.

    ``balanced`` weighs the classes as the network's balanced class weights do.
    """
    # Not at the top: scikit-learn takes 0.7 s to import, and `predict` imports this module.
    from sklearn.ensemble import HistGradientBoostingClassifier

    x_train, x_test = boosting_frames(spec, train, test)
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype",
        class_weight="balanced" if balanced else None,
        random_state=spec.seed,
    )
    with _threads(len(train)):
        if not fit_stoppably(model, x_train, y_train, should_stop):
            return None
        predicted = model.predict_proba(x_test)
    probabilities = np.zeros((len(test), n_classes))
    probabilities[:, model.classes_] = predicted
    return probabilities


def fit_stoppably(
    model, x_train: pd.DataFrame, y_train: np.ndarray, should_stop: Callable[[], bool] | None
) -> bool:
    """Fit ``model`` (a histogram gradient boosting estimator); False if stopped first.

    Without ``should_stop`` it is one ``fit``. With it, the trees are added in
    ``STEPS`` warm-started steps and ``should_stop()`` is asked between them. The
    model is the one a single fit gives (a test checks it): the same seed splits off
    the same early-stopping rows and bins the same way on every step, and early
    stopping ends the steps as it would end the fit. ``evaluate`` runs this on a
    thread of its own, so Stop is heard at once; the steps only bound the work a
    stopped fit still does there.
    """
    if should_stop is None:
        model.fit(x_train, y_train)
        return True
    total = model.max_iter
    step = -(-total // STEPS)
    model.set_params(warm_start=True)
    try:
        for target in range(step, total + step, step):
            if should_stop():
                return False
            model.set_params(max_iter=min(target, total)).fit(x_train, y_train)
            if model.n_iter_ < min(target, total):  # early stopping ended it
                break
    finally:
        model.set_params(warm_start=False, max_iter=total)
    return True


def boosting_baseline(
    spec: ModelSpec, train: pd.DataFrame, test: pd.DataFrame, classes: tuple[str, ...]
) -> np.ndarray:
    """The boosting baseline's test predictions as ``evaluate`` needs them: values for
    regression, one probability column per class (in ``classes`` order) otherwise.

    Reads only the splits and the spec, not the network, so it can run while the
    network is built and trained (see ``start_boosting_baseline``).
    """
    if spec.task == Task.REGRESSION:
        return boosting_predictions(spec, train, as_numeric(train[spec.target]), test)
    index = pd.Index(list(classes), dtype=object)
    y_train = index.get_indexer(as_category_text(train[spec.target]))
    balanced = spec.class_weight == "balanced"
    return boosting_probabilities(spec, train, y_train, test, len(classes), balanced=balanced)


def start_boosting_baseline(
    spec: ModelSpec, train: pd.DataFrame, test: pd.DataFrame, classes: tuple[str, ...]
) -> Future | None:
    """Fit the boosting baseline on a thread of its own, now, if TensorFlow is still to be
    imported in this process; else None (``evaluate`` then fits it itself).

    Importing TensorFlow keeps one core busy for seconds with the other idle (the
    command line's case); gradient boosting fits on that idle core, in compiled code
    that lets the import go on, and is done before the first epoch: 1.4 s of a
    100,000-row ``layerlab train`` that no longer adds to its time. A worker process
    has imported TensorFlow already and its cores go to training, so it fits the
    baseline after training, as before. One OpenMP thread, so it never competes
    with the import for the busy core.
    """
    if "tensorflow" in sys.modules:
        return None
    # Imported here, on this thread: two threads importing scikit-learn's modules at once
    # could find one half-initialised.
    import sklearn.ensemble  # noqa: F401

    future: Future = Future()

    def fit() -> None:
        try:
            with _threads(len(train), single=True):
                future.set_result(boosting_baseline(spec, train, test, classes))
        except BaseException as error:  # handed to whoever asks for the result
            future.set_exception(error)

    threading.Thread(target=fit, name="layerlab-boosting-baseline", daemon=True).start()
    return future


def _threads(rows: int, *, single: bool = False) -> contextlib.AbstractContextManager:
    if rows >= THREADED_ROWS and not single:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="openmp")

"""Is a near-perfect test score unusual for its table, and the sentence that asks about it.

A score close to perfect is worth a question only when one or two columns explain it (the
strongest column, or the strongest two, reach it on held-out rows: ``leaks.strongest_feature``)
or a straight line fits a number exactly; on a table that is simply easy it is no news. The
Results page, the model card, the CLI and a search's verdict all ask here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import Task
from layerlab.tabular.leaks import (
    _BASELINE_ERROR_SHARE,
    EXACT_LINEAR_R2,
    NEAR_PERFECT_BALANCED_ACCURACY,
    SUSPICIOUS_ACCURACY,
    SUSPICIOUS_MAE_SHARE,
    SUSPICIOUS_R2,
    SingleColumnScore,
)

if TYPE_CHECKING:  # a type name only: evaluation imports data, which imports leaks
    from layerlab.tabular.evaluation import Evaluation


def close_to_perfect(evaluation: Evaluation) -> bool:
    """Whether the network or its linear baseline scores close to perfect on the test rows.

    Then ``strongest_feature`` is worth its seconds: it says whether one or two
    columns explain the score.
    """
    return suspiciously_good(evaluation) or _linear_suspiciously_good(evaluation)


def _linear_suspiciously_good(evaluation: Evaluation) -> bool:
    linear = evaluation.baselines.get("linear")
    return bool(linear) and suspiciously_good(dataclasses.replace(evaluation, metrics=linear))


def _exact_linear(evaluation: Evaluation) -> bool:
    """Whether a straight line through the features fits a number target (almost) exactly."""
    linear = evaluation.baselines.get("linear") or {}
    return evaluation.task == Task.REGRESSION and linear.get("r2", 0.0) >= EXACT_LINEAR_R2


def _unusual(evaluation: Evaluation, suspect: SingleColumnScore | None) -> bool:
    """Whether a close-to-perfect score is unusual for this table (see the module's words).

    Unknown evidence (no suspect, or one saved before the pair was checked) counts as
    unusual, as it did before the check existed.
    """
    if suspect is None or suspect.explains_score is not False:
        return True
    return _exact_linear(evaluation)


def suspiciously_good(evaluation: Evaluation, suspect: SingleColumnScore | None = None) -> bool:
    """Whether a network's test score is so close to perfect that a leak is the likelier story.

    Numbers: R² of at least 0.99, or a mean absolute error under 5% of always
    predicting the mean. Classes: accuracy of at least 0.99 that also gets the
    rare classes right (balanced accuracy of at least 0.95) and makes far fewer
    mistakes than always guessing the common class. ``suspect``
    (``strongest_feature``, when known) clears a score that no one or two columns
    explain: the table is simply easy.
    """
    return _near_perfect_metrics(evaluation) and _unusual(evaluation, suspect)


def _near_perfect_metrics(evaluation: Evaluation) -> bool:
    metrics = evaluation.metrics
    if evaluation.task == Task.REGRESSION:
        naive = evaluation.baselines.get("naive", {}).get("mae", float("nan"))
        return metrics.get("r2", 0.0) >= SUSPICIOUS_R2 or bool(
            naive > 0 and metrics.get("mae", float("inf")) <= SUSPICIOUS_MAE_SHARE * naive
        )
    accuracy = metrics.get("accuracy", 0.0)
    balanced = metrics.get("balanced_accuracy", metrics.get("recall_macro", 0.0))
    naive = evaluation.baselines.get("naive", {}).get("accuracy", 0.0)
    return (
        accuracy >= SUSPICIOUS_ACCURACY
        and balanced >= NEAR_PERFECT_BALANCED_ACCURACY
        and 1.0 - accuracy <= _BASELINE_ERROR_SHARE * (1.0 - naive)
    )


def too_good_sentence(evaluation: Evaluation, suspect: SingleColumnScore | None) -> str:
    """Why a near-perfect test score is questioned, naming the likeliest leaking column.

    ``suspect`` is ``strongest_feature`` of the training rows, when known.
    """
    text = (
        f"The network's {_near_perfect_score(evaluation)}: close to perfect, which is rare on "
        "real data, where it more often means a column gives the answer away."
    )
    if suspect is None:
        return text + " Check that no feature is computed from the target or known only after it."
    named = _culprits(suspect)
    if named is not None:
        return text + f" The most likely {named}"
    if _exact_linear(evaluation):
        return text + (
            " No one or two features explain it, but a straight line through the features "
            "fits the test rows exactly: look for features that add up to the target, such "
            "as the parts of a total."
        )
    return text + (
        f' No single feature explains it (the best on its own, "{suspect.column}", reaches '
        f"{suspect.words()}), so look for features that give it away together, such as the "
        "parts of a total."
    )


def _near_perfect_score(evaluation: Evaluation) -> str:
    metrics = evaluation.metrics
    if evaluation.task != Task.REGRESSION:
        return f"test accuracy is {metrics['accuracy']:.1%}"
    if metrics.get("r2", 0.0) >= SUSPICIOUS_R2:
        return f"test R² is {metrics['r2']:.3f}"
    naive = evaluation.baselines["naive"]["mae"]
    return (
        f"test mean absolute error ({readable_number(metrics['mae'])}) is under {SUSPICIOUS_MAE_SHARE:.0%} "
        f"of that of always predicting the training mean ({readable_number(naive)})"
    )


def _culprits(suspect: SingleColumnScore) -> str | None:
    """The end of "The most likely ...": the column, or the two, that explain the target."""
    column, target = suspect.column, suspect.target
    if suspect.near_perfect:
        return (
            f'one is "{column}": on its own it predicts "{target}" almost exactly '
            f"({suspect.words()}). Check that it is not computed from the target or known only "
            "after it; if the relation is exact by nature (a unit conversion, a formula), the "
            "score is real."
        )
    if suspect.together_near_perfect and suspect.partner is not None:
        return (
            f'ones are "{column}" and "{suspect.partner}": together they predict "{target}" '
            f"almost exactly ({suspect.words(suspect.together)}), though neither does alone. "
            "Check that they are not parts of the target or computed from it; if the relation "
            "is exact by nature (a formula), the score is real."
        )
    return None


def baseline_too_good_sentence(
    evaluation: Evaluation, suspect: SingleColumnScore | None = None
) -> str | None:
    """When the linear baseline (not the network) is near perfect, one sentence saying so; else None.

    Several columns that add up to the target (the parts of a total) are no single
    column's leak, but a linear model finds them at once. ``suspect``
    (``strongest_feature``, when known) clears a score that no one or two columns
    explain and that is not an exact fit: the table is simply easy.
    """
    if _near_perfect_metrics(evaluation):
        return None  # the network's own question says it, or the same evidence clears both
    if not _linear_suspiciously_good(evaluation) or not _unusual(evaluation, suspect):
        return None
    name = "Linear regression" if evaluation.task == Task.REGRESSION else "Logistic regression"
    text = (
        f"{name} predicts the test rows almost exactly: rare on real data, where it usually "
        "means some features together give the answer away, such as the parts of a total or "
        "a score computed from others."
    )
    named = None if suspect is None else _culprits(suspect)
    if named is not None:
        return text + f" The most likely {named}"
    return text + " Check the features before trusting either model."

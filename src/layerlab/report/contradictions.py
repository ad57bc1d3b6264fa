"""Advice that a better run contradicts is withdrawn.

A diagnosis reads one run's curves. When another run on the same rows already did
better with the opposite change (a higher learning rate where this run is told to
lower it, less dropout where it is told to add some), the advice would send the person
away from what works: its fix is withdrawn and the sentence says which run and why.
Runs compare by their lowest validation loss, on the same validation rows
(``run_table.test_rows_key``, which counts the rows a run used: a run still training has
not counted them yet, so its advice is checked once it is kept).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from layerlab.report.diagnosis import Diagnosis
from layerlab.report.fixes import apply_fix
from layerlab.report.records import RunRecord
from layerlab.report.run_table import best_validation, test_rows_key
from layerlab.schema.errors import LayerlabError
from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FixAction, LayerKind

# What each fix changes, measured on a spec, and that measure in words.
_Measure = Callable[[ModelSpec], float]


def _learning_rate(spec: ModelSpec) -> float:
    return spec.learning_rate


def _dropout(spec: ModelSpec) -> float:
    return sum(layer.rate for layer in spec.layers if layer.kind == LayerKind.DROPOUT)


def _units(spec: ModelSpec) -> float:
    return sum(layer.units for layer in spec.layers if layer.kind == LayerKind.DENSE)


def _dense_layers(spec: ModelSpec) -> float:
    return sum(layer.kind == LayerKind.DENSE for layer in spec.layers)


def _regularisation(spec: ModelSpec) -> float:
    """Dropout rates and L2 factors together: enough to tell more from less between two
    specs, since the fix that eases them lowers both."""
    return _dropout(spec) + sum(layer.l2 or 0.0 for layer in spec.layers)


_RATE = (_learning_rate, "a higher learning rate", "a lower learning rate")
_MEASURES: dict[FixAction, tuple[_Measure, str, str]] = {
    FixAction.HALVE_LEARNING_RATE: _RATE,
    FixAction.DIVIDE_LEARNING_RATE: _RATE,
    FixAction.DOUBLE_LEARNING_RATE: _RATE,
    FixAction.MULTIPLY_LEARNING_RATE: _RATE,
    FixAction.ADD_DROPOUT: (_dropout, "more dropout", "less dropout"),
    FixAction.RAISE_DROPOUT: (_dropout, "more dropout", "less dropout"),
    FixAction.NARROWER: (_units, "more units", "fewer units"),
    FixAction.WIDER: (_units, "more units", "fewer units"),
    FixAction.DEEPER: (_dense_layers, "more Dense layers", "fewer Dense layers"),
    FixAction.EASE_REGULARISATION: (_regularisation, "more regularisation", "less regularisation"),
}


def withdraw_contradicted(
    findings: Sequence[Diagnosis], record: RunRecord, records: Sequence[RunRecord]
) -> list[Diagnosis]:
    """``findings`` of ``record``, each fix that a better run among ``records`` contradicts
    withdrawn (no button), its sentence saying which run did better with what."""
    own = best_validation(record)
    if own is None:
        return list(findings)
    rows = test_rows_key(record)
    better = [
        (score, other)
        for other in records
        if other.id != record.id
        and test_rows_key(other) == rows
        and (score := best_validation(other)) is not None
        and score < own
    ]
    return [_checked(finding, record, better) for finding in findings]


def _checked(
    finding: Diagnosis, record: RunRecord, better: list[tuple[float, RunRecord]]
) -> Diagnosis:
    if finding.action is None or finding.action not in _MEASURES:
        return finding
    measure, more, less = _MEASURES[finding.action]
    try:
        fixed = apply_fix(record.spec, finding.action)
    except (LayerlabError, ValueError):
        return finding
    suggested = measure(fixed) - measure(record.spec)
    for score, other in sorted(better, key=lambda pair: pair[0]):
        if measure is _learning_rate and other.spec.optimizer != record.spec.optimizer:
            continue  # a learning rate means something else to another optimizer
        taken = measure(other.spec) - measure(record.spec)
        if taken * suggested < 0:
            return replace(
                finding,
                action=None,
                sentence=(
                    f"{finding.sentence} {other.name} did better on the same validation rows "
                    f"(lowest validation loss {readable_number(score)}, against "
                    f"{readable_number(best_validation(record))}) with "
                    f"{more if taken > 0 else less}, so that change is not suggested; compare "
                    "the two on the Runs page."
                ),
            )
    return finding

"""Advice a better run contradicts is withdrawn, and the sentence says which run did better."""

from __future__ import annotations

from layerlab.report.contradictions import withdraw_contradicted
from layerlab.report.diagnosis import Diagnosis
from layerlab.report.records import RunRecord
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab.schema.vocabulary import DiagnosisKind, FixAction

TOO_HIGH = Diagnosis(
    DiagnosisKind.LEARNING_RATE_TOO_HIGH, "Learning rate too high.", FixAction.HALVE_LEARNING_RATE
)
OVERFITTING = Diagnosis(DiagnosisKind.OVERFITTING, "Overfitting.", FixAction.ADD_DROPOUT)
EARLY = Diagnosis(DiagnosisKind.EARLY_STOPPING, "Stopped early.", None)


def run(run_id: str, best_loss: float, *, seed: int = 0, **changes) -> RunRecord:
    spec = ModelSpec(
        target="y",
        task="regression",
        features=[Feature("x", "numeric")],
        layers=[LayerSpec.dense(16, "relu")],
        optimizer="adam",
        learning_rate=0.01,
        seed=seed,
    ).replace(**changes)
    return RunRecord(
        id=run_id,
        name=f"Run {run_id}",
        created=float(run_id),
        spec=spec,
        data_fingerprint="abc",
        status="finished",
        history=[
            {"epoch": 1, "loss": 1.0, "val_loss": best_loss + 0.1},
            {"epoch": 2, "loss": 0.5, "val_loss": best_loss},
        ],
        rows={"train": 60, "validation": 20, "test": 20},
    )


def test_a_better_run_with_a_higher_rate_withdraws_lowering_it():
    this = run("1", 0.5)
    better = run("2", 0.3, learning_rate=0.02)
    [finding] = withdraw_contradicted([TOO_HIGH], this, [this, better])
    assert finding.action is None
    assert finding.sentence.startswith("Learning rate too high. Run 2 did better")
    assert "a higher learning rate" in finding.sentence
    assert "0.3, against 0.5" in finding.sentence


def test_advice_stands_when_the_better_run_agrees_or_nothing_did_better():
    this = run("1", 0.5)
    agrees = run("2", 0.3, learning_rate=0.005)
    worse = run("3", 0.7, learning_rate=0.02)
    assert withdraw_contradicted([TOO_HIGH, EARLY], this, [this, agrees, worse]) == [
        TOO_HIGH,
        EARLY,
    ]


def test_only_runs_on_the_same_rows_and_optimizer_count():
    this = run("1", 0.5)
    other_split = run("2", 0.3, seed=7, learning_rate=0.02)
    other_optimizer = run("3", 0.3, optimizer="sgd", learning_rate=0.02)
    assert withdraw_contradicted([TOO_HIGH], this, [other_split, other_optimizer]) == [TOO_HIGH]


def test_dropout_advice_is_withdrawn_only_by_a_better_run_with_less():
    this = run("1", 0.5, layers=[LayerSpec.dense(16, "relu"), LayerSpec.dense(8, "relu")])
    regularised = run("2", 0.3, layers=[LayerSpec.dense(16, "relu"), LayerSpec.dropout(0.2)])
    assert withdraw_contradicted([OVERFITTING], this, [regularised]) == [OVERFITTING]
    this = run("3", 0.5, layers=[LayerSpec.dense(16, "relu"), LayerSpec.dropout(0.3)])
    less = run("4", 0.3, layers=[LayerSpec.dense(16, "relu"), LayerSpec.dropout(0.1)])
    raise_dropout = Diagnosis(DiagnosisKind.OVERFITTING, "Overfitting.", FixAction.RAISE_DROPOUT)
    [finding] = withdraw_contradicted([raise_dropout], this, [less])
    assert finding.action is None and "with less dropout" in finding.sentence


def test_a_run_without_a_validation_loss_is_left_as_it_is():
    this = run("1", 0.5)
    this.history.clear()
    assert withdraw_contradicted([TOO_HIGH], this, [run("2", 0.1, learning_rate=0.1)]) == [TOO_HIGH]

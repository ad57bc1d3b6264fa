"""The diagnosis on real runs of the churn table, not only on constructed curves."""

from __future__ import annotations

import pytest

from layerlab.model.train import TrainingRun
from layerlab.report.diagnosis import apply_action, diagnose
from layerlab.schema.spec import LayerSpec, default_spec
from layerlab.schema.vocabulary import FixAction
from layerlab.tabular.data import profile_columns

ADVICE_TO_TRAIN_LONGER = ("train longer", "more epochs")


@pytest.fixture(scope="module")
def churn_spec(churn_frame):
    """One network without refit or plateau: the curves a plain Keras loop draws (a new
    table's ensemble of 4 averages its members, which smooths what these tests read)."""
    return default_spec("churned", "binary", profile_columns(churn_frame, "churned")).replace(
        ensemble=1, refit=False, lr_plateau_factor=1.0
    )


def findings_of(result):
    return diagnose(
        result.history,
        naive_val_loss=result.naive_val_loss,
        stop_reason=result.stop_reason,
        spec=result.spec,
    )


def test_sgd_at_learning_rate_10_is_told_to_lower_it_and_never_to_train_longer(
    churn_frame, churn_spec
):
    spec = churn_spec.replace(optimizer="sgd", learning_rate=10.0, epochs=20, patience=0)
    result = TrainingRun(churn_frame, spec).run()
    findings = findings_of(result)
    assert findings, result.history
    assert findings[0].kind == "learning_rate_too_high"
    assert all(
        phrase not in finding.sentence.lower()
        for finding in findings
        for phrase in ADVICE_TO_TRAIN_LONGER
    )
    lowered = apply_action(spec, findings[0])
    assert lowered.learning_rate < spec.learning_rate


def test_a_wide_network_on_few_rows_for_many_epochs_is_called_overfitting(churn_frame, churn_spec):
    few = churn_frame.sample(300, random_state=0)
    spec = churn_spec.replace(
        layers=[LayerSpec.dense(256, "relu"), LayerSpec.dense(256, "relu")],
        learning_rate=0.003,
        epochs=120,
        patience=0,
        restore_best_weights=True,
    )
    result = TrainingRun(few, spec).run()
    kinds = [finding.kind for finding in findings_of(result)]
    assert "overfitting" in kinds, result.history[-5:]
    overfitting = next(f for f in findings_of(result) if f.kind == "overfitting")
    assert overfitting.began_epoch is not None and overfitting.began_epoch < 120
    assert overfitting.action in (FixAction.ADD_DROPOUT, FixAction.RAISE_DROPOUT)


def test_the_default_network_on_churn_gets_no_warning(churn_frame, churn_spec):
    result = TrainingRun(churn_frame, churn_spec.replace(epochs=60)).run()
    problems = [f.kind for f in findings_of(result) if f.kind != "early_stopping"]
    assert problems == [], [f.sentence for f in findings_of(result)]


def test_sgd_at_a_tiny_learning_rate_is_told_to_raise_it_not_to_grow_the_network(
    churn_frame, churn_spec
):
    # It falls about 0.2% an epoch in a straight line, still near the naive answer.
    spec = churn_spec.replace(optimizer="sgd", learning_rate=1e-4, epochs=30, patience=0)
    result = TrainingRun(churn_frame, spec).run()
    findings = findings_of(result)
    assert [f.kind for f in findings] == ["learning_rate_too_low"], result.history[-5:]
    raised = apply_action(spec, findings[0])
    assert raised.learning_rate == pytest.approx(1e-3)  # ten times: 0.0001 is SGD's floor
    assert raised.layers == spec.layers


def test_a_learning_rate_too_small_to_move_the_loss_is_a_plateau(churn_frame, churn_spec):
    spec = churn_spec.replace(optimizer="sgd", learning_rate=1e-7, epochs=8, patience=0)
    result = TrainingRun(churn_frame, spec).run()
    findings = findings_of(result)
    assert [f.kind for f in findings] == ["plateau"], result.history
    assert findings[0].began_epoch == 1
    assert apply_action(spec, findings[0]).learning_rate > spec.learning_rate


def test_a_network_smothered_by_l2_underfits_and_is_told_to_ease_it(churn_frame, churn_spec):
    spec = churn_spec.replace(
        layers=[LayerSpec.dense(64, "relu", l2=1.0), LayerSpec.dense(32, "relu", l2=1.0)],
        epochs=40,  # the weight penalty takes some 25 epochs to squeeze the weights flat
    )
    result = TrainingRun(churn_frame, spec).run()
    findings = findings_of(result)
    assert "underfitting" in [f.kind for f in findings], result.history[-5:]
    underfit = next(f for f in findings if f.kind == "underfitting")
    assert "L2 1" in underfit.sentence
    eased = apply_action(spec, underfit)
    assert [layer.l2 for layer in eased.layers] == [pytest.approx(0.1)] * 2
    assert all(p not in underfit.sentence.lower() for p in ADVICE_TO_TRAIN_LONGER)


def test_early_stopping_on_a_real_run_names_the_kept_epoch(churn_frame, churn_spec):
    spec = churn_spec.replace(epochs=300, patience=3)
    result = TrainingRun(churn_frame, spec).run()
    assert result.stop_reason == "early_stopping", len(result.history)
    [finding] = [f for f in findings_of(result) if f.kind == "early_stopping"]
    assert finding.began_epoch == result.best_epoch
    assert f"epoch {result.best_epoch}, its best" in finding.sentence
    assert finding.action is None

"""diagnose() on learning curves built from small formulas; apply_action() on specs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab.report.diagnosis import (
    KINDS,
    MIN_EPOCHS,
    Diagnosis,
    apply_action,
    diagnose,
)
from layerlab.report.fixes import FIX_LABELS, FIXES
from layerlab.report.run_messages import STOP_REASONS
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab.schema.vocabulary import DiagnosisKind, FixAction

NAIVE = 1.0
TRAIN_LONGER = re.compile(r"more epochs|longer|train for", re.IGNORECASE)
SCIENTIFIC = re.compile(r"\d[eE][-+]?\d")


def make_history(train, val, metric: str = "accuracy") -> list[dict[str, float]]:
    """Rows as ``TrainingRun`` records them; the metric is filler, diagnose reads the losses."""
    return [
        {"epoch": epoch, "loss": float(t), metric: 0.5, "val_loss": float(v), f"val_{metric}": 0.5}
        for epoch, (t, v) in enumerate(zip(train, val, strict=True), start=1)
    ]


def epochs(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype="float64")


def noise(n: int, size: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, size, n)


def healthy(n: int = 30) -> list[dict[str, float]]:
    t = epochs(n)
    return make_history(0.3 + 0.7 * np.exp(-t / 4), 0.35 + 0.7 * np.exp(-t / 4) + noise(n, 0.003))


def overfitting(n: int = 30) -> list[dict[str, float]]:
    t = epochs(n)
    return make_history(0.1 + 0.9 * np.exp(-t / 5), 0.4 + 0.002 * (t - 10) ** 2 + noise(n, 0.005))


def plateau(n: int = 12) -> list[dict[str, float]]:
    return make_history(1.0 + noise(n, 0.002, 1), 1.01 + noise(n, 0.002, 2))


def underfitting(n: int = 25, val_offset: float = 0.93) -> list[dict[str, float]]:
    t = epochs(n)
    return make_history(0.9 + 0.1 * np.exp(-t / 2), val_offset + 0.1 * np.exp(-t / 2))


def zigzag(n: int = 20) -> list[dict[str, float]]:
    t = epochs(n)
    train = 0.5 + 0.1 * np.exp(-t / 5) + 0.08 * (-1) ** t
    return make_history(train, train + 0.05)


def slow_line(n: int = 40) -> list[dict[str, float]]:
    t = epochs(n)
    return make_history(1.0 - 0.01 * t, 1.02 - 0.01 * t)


def kinds(found: list[Diagnosis]) -> list[str]:
    return [item.kind for item in found]


def a_spec(layers=None, **changes) -> ModelSpec:
    spec = ModelSpec(target="churned", task="binary", features=[Feature("age", "numeric")])
    if layers is not None:
        spec = spec.replace(layers=layers)
    return spec.replace(**changes)


# ------------------------------------------------------------------- healthy
def test_a_healthy_run_gets_no_problem():
    assert diagnose(healthy(), naive_val_loss=NAIVE, stop_reason="completed") == []


def test_a_healthy_run_cut_short_by_early_stopping_hears_only_that():
    found = diagnose(healthy(), naive_val_loss=NAIVE, stop_reason="early_stopping", patience=5)
    assert kinds(found) == ["early_stopping"]


def test_a_model_that_converged_inside_epoch_one_is_not_a_plateau():
    flat_and_good = make_history(0.3 + noise(15, 0.001), 0.32 + noise(15, 0.001, 3))
    assert diagnose(flat_and_good, naive_val_loss=NAIVE, stop_reason="completed") == []


def test_a_fast_start_then_flat_curve_is_converged_not_stuck():
    t = epochs(20)
    converged = make_history(0.2 + 0.8 * np.exp(-t), 0.25 + 0.8 * np.exp(-t))
    assert diagnose(converged, naive_val_loss=NAIVE, stop_reason="completed") == []


# --------------------------------------------------------------- overfitting
def test_overfitting_names_the_best_validation_epoch_and_suggests_dropout():
    history = overfitting()
    found = diagnose(history, naive_val_loss=NAIVE)
    assert kinds(found) == ["overfitting"]
    best = min(history, key=lambda row: row["val_loss"])["epoch"]
    assert found[0].began_epoch == best and 8 <= best <= 12
    assert f"epoch {best}" in found[0].sentence
    assert found[0].action == FixAction.ADD_DROPOUT


def test_overfitting_with_dropout_already_suggests_more_of_it_then_fewer_units():
    with_dropout = a_spec([LayerSpec.dense(64), LayerSpec.dropout(0.2), LayerSpec.dense(32)])
    strong_dropout = a_spec([LayerSpec.dense(64), LayerSpec.dropout(0.5)])
    assert diagnose(overfitting(), spec=with_dropout)[0].action == FixAction.RAISE_DROPOUT
    assert diagnose(overfitting(), spec=strong_dropout)[0].action == FixAction.NARROWER


@pytest.mark.parametrize("seed", range(20))
def test_noisy_but_flat_validation_loss_is_not_overfitting(seed):
    t = epochs(30)
    train = 0.1 + 0.9 * np.exp(-t / 5)
    val = 0.4 + noise(30, 0.01, seed)
    assert "overfitting" not in kinds(diagnose(make_history(train, val), naive_val_loss=NAIVE))


# -------------------------------------------------------------- underfitting
def test_underfitting_when_both_losses_stay_near_the_naive_answer():
    found = diagnose(underfitting(), naive_val_loss=NAIVE, stop_reason="completed")
    assert kinds(found) == ["underfitting"]
    assert found[0].action == FixAction.WIDER
    assert "7% better than the 1.00" in found[0].sentence


def test_a_network_at_the_width_cap_is_made_deeper_instead():
    wide = a_spec([LayerSpec.dense(4096)])
    found = diagnose(underfitting(), naive_val_loss=NAIVE, spec=wide)
    assert found[0].action == FixAction.DEEPER


def test_an_underfit_network_under_heavy_regularisation_is_told_to_ease_it():
    held = a_spec([LayerSpec.dense(64, "relu", l2=1.0), LayerSpec.dropout(0.6)])
    found = diagnose(underfitting(), naive_val_loss=NAIVE, spec=held)
    assert found[0].action == FixAction.EASE_REGULARISATION
    assert "regularisation (L2 1 and dropout 0.6) holds it back" in found[0].sentence
    eased = apply_action(held, found[0])
    assert [(layer.l2, layer.rate) for layer in eased.layers] == [(0.1, None), (0.0, 0.3)]


def test_ease_the_regularisation_leaves_light_regularisation_alone():
    light = a_spec([LayerSpec.dense(64, "relu", l2=0.001), LayerSpec.dropout(0.2)])
    assert make_change(light, FixAction.EASE_REGULARISATION).to_dict() == light.to_dict()


def test_a_run_a_hair_better_than_the_naive_answer_is_hardly_better():
    found = diagnose(underfitting(), naive_val_loss=0.935, stop_reason="completed")
    assert "hardly better than the 0.94" in found[0].sentence


def test_a_run_worse_than_the_naive_answer_is_said_to_be_no_better():
    found = diagnose(underfitting(val_offset=1.05), naive_val_loss=NAIVE, stop_reason="completed")
    assert kinds(found) == ["underfitting"]
    assert "no better than" in found[0].sentence


def test_without_the_naive_loss_nothing_is_called_poor():
    assert diagnose(underfitting(), stop_reason="completed") == []
    assert diagnose(plateau(), stop_reason="completed") == []


# ------------------------------------------------------------------- plateau
def test_a_plateau_from_the_first_epoch_is_stuck_not_converged():
    found = diagnose(plateau(), naive_val_loss=NAIVE)
    assert kinds(found) == ["plateau"]
    assert found[0].began_epoch == 1
    assert found[0].action == FixAction.DOUBLE_LEARNING_RATE


def test_a_plateau_at_a_tiny_learning_rate_suggests_ten_times_it():
    found = diagnose(plateau(), naive_val_loss=NAIVE, spec=a_spec(learning_rate=1e-6))
    assert found[0].action == FixAction.MULTIPLY_LEARNING_RATE


def test_a_plateau_at_an_already_high_learning_rate_suggests_lowering_it():
    found = diagnose(plateau(), naive_val_loss=NAIVE, spec=a_spec(learning_rate=0.05))
    assert found[0].action == FixAction.HALVE_LEARNING_RATE


# ---------------------------------------------------- learning rate too high
def test_a_zigzag_training_loss_means_the_learning_rate_is_too_high():
    found = diagnose(zigzag(), naive_val_loss=NAIVE)
    assert kinds(found)[0] == "learning_rate_too_high"
    assert found[0].action == FixAction.HALVE_LEARNING_RATE


def test_a_spike_in_the_training_loss_names_its_epoch():
    t = epochs(25)
    train = 0.2 + 0.8 * np.exp(-t / 4)
    train[14:] += 0.4 * np.exp(-(t[14:] - 15))
    found = diagnose(make_history(train, train + 0.05), naive_val_loss=NAIVE)
    assert (found[0].kind, found[0].began_epoch) == ("learning_rate_too_high", 15)
    assert "epoch 15" in found[0].sentence


def test_an_exploding_loss_suggests_a_learning_rate_ten_times_smaller():
    train = [1.0, 0.8, 0.7, 0.65, 7.0, 70.0, 2_000_000.0]
    found = diagnose(make_history(train, train))
    assert kinds(found) == ["learning_rate_too_high"]
    assert (found[0].began_epoch, found[0].action) == (5, FixAction.DIVIDE_LEARNING_RATE)
    assert "2,000,000" in found[0].sentence


def test_a_loss_that_became_nan_is_named_even_on_the_second_epoch():
    found = diagnose(make_history([1.0, float("nan")], [1.0, float("inf")]))
    assert (kinds(found), found[0].began_epoch) == (["learning_rate_too_high"], 2)


def test_a_diverged_run_hears_only_about_its_divergence():
    found = diagnose(overfitting(), naive_val_loss=NAIVE, stop_reason="diverged")
    assert kinds(found) == ["learning_rate_too_high"]
    assert (found[0].began_epoch, found[0].action) == (31, FixAction.DIVIDE_LEARNING_RATE)
    assert diagnose([], stop_reason="diverged")[0].began_epoch == 1


# ----------------------------------------------------- learning rate too low
def test_a_slow_straight_decline_that_ran_out_of_epochs_wants_a_higher_learning_rate():
    found = diagnose(slow_line(), naive_val_loss=1.2, stop_reason="completed")
    assert kinds(found) == ["learning_rate_too_low"]
    assert found[0].action == FixAction.DOUBLE_LEARNING_RATE
    assert "more epochs" in found[0].sentence


def test_a_shallow_straight_decline_near_the_naive_answer_is_too_low_not_underfitting():
    # As SGD at 0.0001 draws it on the churn table: 0.2% an epoch, never levelling off.
    t = epochs(30)
    history = make_history(0.694 * 0.998**t, 0.685 * 0.998**t)
    found = diagnose(history, naive_val_loss=0.66, stop_reason="completed")
    assert kinds(found) == ["learning_rate_too_low"]


def test_a_slow_decline_is_not_called_slow_while_epochs_remain():
    assert diagnose(slow_line(), naive_val_loss=1.2, planned_epochs=100) == []
    assert "learning_rate_too_low" in kinds(
        diagnose(slow_line(), naive_val_loss=1.2, planned_epochs=40)
    )


# ------------------------------------------------------- never train longer
@pytest.mark.parametrize(
    "history, naive, stop_reason",
    [
        (slow_line(), 0.5, "completed"),  # falling, but still worse than the naive answer
        (underfitting(val_offset=1.05), NAIVE, "completed"),
        (healthy(), NAIVE, "diverged"),
        (slow_line(), 1.2, "diverged"),
        (make_history([1.0, 0.9, 0.8, 0.7, 50.0], [1.0, 0.9, 0.8, 0.7, 50.0]), NAIVE, None),
    ],
)
def test_a_diverged_or_worse_than_naive_run_is_never_told_to_train_longer(
    history, naive, stop_reason
):
    found = diagnose(history, naive_val_loss=naive, stop_reason=stop_reason, planned_epochs=40)
    assert found
    for item in found:
        assert not TRAIN_LONGER.search(item.sentence)
        assert "epoch" not in (item.action_label or "").lower()


# ------------------------------------------------------------ early stopping
def test_early_stopping_is_good_news_with_the_kept_epoch_and_no_button():
    t = epochs(30)
    val = 0.3 + 0.001 * (t - 20) ** 2
    history = make_history(0.1 + 0.9 * np.exp(-t / 8), val)
    found = diagnose(history, naive_val_loss=NAIVE, stop_reason="early_stopping", patience=10)
    stop = found[-1]
    assert (stop.kind, stop.action, stop.began_epoch) == ("early_stopping", None, 20)
    assert "epoch 20" in stop.sentence and "10 epochs" in stop.sentence


# ---------------------------------------------------------- partial history
@pytest.mark.parametrize("make", [overfitting, plateau, underfitting, zigzag, slow_line, healthy])
def test_a_few_epochs_are_too_few_for_any_verdict(make):
    for n in range(MIN_EPOCHS):
        assert diagnose(make()[:n], naive_val_loss=NAIVE) == []


def test_the_verdict_arrives_as_the_run_goes_on():
    history = overfitting()
    seen = [kinds(diagnose(history[:n], naive_val_loss=NAIVE)) for n in range(1, 31)]
    first = next(n for n, found in enumerate(seen, start=1) if "overfitting" in found)
    assert 14 <= first <= 20


# ----------------------------------------------------------------- actions
def test_add_dropout_puts_one_after_each_dense_block_without_one():
    spec = a_spec(
        [LayerSpec.dense(8), LayerSpec.batch_norm(), LayerSpec.dense(4), LayerSpec.dropout(0.3)]
    )
    before = spec.to_dict()
    changed = apply_action(spec, Diagnosis("overfitting", "...", FixAction.ADD_DROPOUT))
    assert changed.describe().split(" → ")[:-1] == [
        "Dense 8 relu",
        "BatchNorm",
        "Dropout 0.2",
        "Dense 4 relu",
        "Dropout 0.3",
    ]
    assert spec.to_dict() == before


def make_change(spec: ModelSpec, action: FixAction) -> ModelSpec:
    before = spec.to_dict()
    changed = apply_action(spec, Diagnosis("any", "...", action))
    assert changed.validate() is changed
    assert spec.to_dict() == before  # the input is untouched
    return changed


def test_the_default_network_gets_dropout_after_both_layers():
    changed = make_change(a_spec(), FixAction.ADD_DROPOUT)
    assert [layer.describe() for layer in changed.layers] == [
        "Dense 64 relu",
        "Dropout 0.2",
        "Dense 32 relu",
        "Dropout 0.2",
    ]


def test_raise_dropout_adds_a_tenth_up_to_one_half():
    spec = a_spec([LayerSpec.dropout(0.2), LayerSpec.dropout(0.45), LayerSpec.dropout(0.6)])
    assert [layer.rate for layer in make_change(spec, FixAction.RAISE_DROPOUT).layers] == [
        0.3,
        0.5,
        0.6,
    ]


def test_wider_doubles_units_up_to_the_cap_and_narrower_halves_them_down_to_one():
    spec = a_spec([LayerSpec.dense(64, "tanh", 0.01), LayerSpec.dense(3000), LayerSpec.dense(1)])
    wider = make_change(spec, FixAction.WIDER)
    assert [layer.units for layer in wider.layers] == [128, 4096, 2]
    assert (wider.layers[0].activation, wider.layers[0].l2) == ("tanh", 0.01)
    assert [layer.units for layer in make_change(spec, FixAction.NARROWER).layers] == [32, 1500, 1]


def test_deeper_adds_a_layer_as_wide_as_the_last():
    assert [layer.describe() for layer in make_change(a_spec(), FixAction.DEEPER).layers][-1] == (
        "Dense 32 relu"
    )
    assert make_change(a_spec([]), FixAction.DEEPER).layers == [LayerSpec.dense(32)]


@pytest.mark.parametrize(
    "action, rate, expected",
    [
        (FixAction.HALVE_LEARNING_RATE, 0.001, 0.0005),
        (FixAction.DIVIDE_LEARNING_RATE, 0.001, 0.0001),
        (FixAction.DOUBLE_LEARNING_RATE, 0.001, 0.002),
        (FixAction.DOUBLE_LEARNING_RATE, 8.0, 10.0),  # clamped to the spec's limit
        (FixAction.MULTIPLY_LEARNING_RATE, 0.00001, 0.0001),
    ],
)
def test_learning_rate_actions_scale_it_within_the_allowed_range(action, rate, expected):
    changed = make_change(a_spec(learning_rate=rate), action)
    assert changed.learning_rate == pytest.approx(expected)
    assert changed.replace(learning_rate=rate).to_dict() == a_spec(learning_rate=rate).to_dict()


def test_every_fix_has_a_change_and_the_words_of_its_button():
    assert set(FIXES) == set(FixAction) == set(FIX_LABELS)
    assert len(set(FIX_LABELS.values())) == len(FIX_LABELS)


def test_a_fix_is_found_by_its_action_whatever_its_button_says():
    finding = Diagnosis(DiagnosisKind.OVERFITTING, "...", FixAction.WIDER)
    assert finding.action_label == "Make it wider"
    assert Diagnosis("overfitting", "...", "wider") == finding  # strings read as members
    assert [layer.units for layer in apply_action(a_spec(), finding).layers] == [128, 64]


def test_a_diagnosis_without_a_button_has_no_action_to_apply():
    with pytest.raises(ValueError, match="early_stopping"):
        apply_action(a_spec(), Diagnosis("early_stopping", "...", None))


# ---------------------------------------------------------------- property
losses = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(losses, losses), max_size=40),
    naive=st.none() | losses,
    stop_reason=st.sampled_from([None, *STOP_REASONS]),
    planned=st.none() | st.integers(1, 60),
    patience=st.none() | st.integers(0, 20),
    with_spec=st.booleans(),
)
def test_any_finite_history_gets_plain_sentences(
    rows, naive, stop_reason, planned, patience, with_spec
):
    history = make_history([row[0] for row in rows], [row[1] for row in rows])
    found = diagnose(
        history,
        naive_val_loss=naive,
        stop_reason=stop_reason,
        planned_epochs=planned,
        patience=patience,
        spec=a_spec() if with_spec else None,
    )
    assert len(set(kinds(found))) == len(found) and set(kinds(found)) <= set(KINDS)
    for item in found:
        assert isinstance(item.sentence, str) and item.sentence.strip()
        assert "e+" not in item.sentence and "e-" not in item.sentence
        assert not SCIENTIFIC.search(item.sentence)
        assert item.action is None or item.action in FIXES
        if item.action is not None:
            apply_action(a_spec(), item).validate()


# ------------------------------------------------- what moves by chance is not a finding
def penguins_at_100_percent(n: int = 40) -> list[dict[str, float]]:
    """The issue's run: 100% validation accuracy, the training loss from 1 to near 0 with a
    wobble (0.0055 to 0.015), the validation loss from almost 0 to 0.00001."""
    t = epochs(n)
    train = 0.005 + np.exp(-t / 3) + np.where(t == 30, 0.01, 0.0)
    val = 1e-6 + 0.5 * np.exp(-t / 2) + np.where(t > 25, 9e-6 * (t - 25) / 15, 0.0)
    history = make_history(train, val)
    for row in history:
        row["val_accuracy"] = 1.0
    return history


def test_a_run_at_100_percent_validation_accuracy_gets_no_advice():
    history = penguins_at_100_percent()
    spec = a_spec(optimizer="rmsprop", learning_rate=0.003, batch_size=16, patience=15)
    assert diagnose(history, naive_val_loss=1.1, stop_reason="completed", spec=spec) == []
    stopped = diagnose(history, naive_val_loss=1.1, stop_reason="early_stopping", spec=spec)
    assert [finding.action for finding in stopped] == [None]


def test_a_tiny_validation_loss_is_a_ceiling_even_without_accuracy():
    t = epochs(40)
    val = 0.001 + 0.5 * np.exp(-t / 2) + np.where(t > 20, 0.0005 * (t - 20), 0.0)
    history = make_history(0.0005 + np.exp(-t / 3), val, metric="mae")
    assert diagnose(history, naive_val_loss=1.0, stop_reason="completed") == []


def test_a_jump_near_zero_after_a_long_fall_is_not_a_learning_rate_too_high():
    t = epochs(30)
    train = 0.005 + np.exp(-t / 3) + np.where(t == 20, 0.01, 0.0)
    history = make_history(train, 0.3 + 0.7 * np.exp(-t / 3) + noise(30, 0.003))
    kinds = [finding.kind for finding in diagnose(history, naive_val_loss=NAIVE)]
    assert DiagnosisKind.LEARNING_RATE_TOO_HIGH not in kinds


def test_a_training_loss_that_gives_back_its_progress_is_a_learning_rate_too_high():
    t = epochs(30)
    train = np.where(t < 15, 1.0 - 0.04 * t, 0.44 + 0.02 * (t - 15)) + noise(30, 0.005)
    history = make_history(train, 0.6 + noise(30, 0.01))
    [finding] = diagnose(history, naive_val_loss=NAIVE)
    assert finding.kind == DiagnosisKind.LEARNING_RATE_TOO_HIGH
    assert "climbed back" in finding.sentence
    assert finding.action == FixAction.HALVE_LEARNING_RATE


def test_a_slow_straight_fall_is_a_learning_rate_too_low_not_a_plateau():
    t = epochs(30)
    history = make_history(0.695 - 0.0003 * t, 0.687 - 0.00025 * t)
    findings = diagnose(
        history,
        naive_val_loss=0.66,
        stop_reason="completed",
        spec=a_spec(optimizer="sgd", learning_rate=1e-5),
    )
    assert [finding.kind for finding in findings] == [DiagnosisKind.LEARNING_RATE_TOO_LOW]
    # While it trains the same curve says nothing: too early to tell slow from stuck.
    assert diagnose(history[:20], naive_val_loss=0.66, stop_reason=None, planned_epochs=30) == []


def test_metrics_json_records_a_finding_as_plain_values():
    finding = Diagnosis(DiagnosisKind.OVERFITTING, "Overfitting: ...", FixAction.ADD_DROPOUT, 3)
    assert finding.to_dict() == {
        "kind": "overfitting",
        "sentence": "Overfitting: ...",
        "action": "add_dropout",
    }
    note = Diagnosis(DiagnosisKind.EARLY_STOPPING, "Early stopping: ...", None)
    assert note.to_dict()["action"] is None

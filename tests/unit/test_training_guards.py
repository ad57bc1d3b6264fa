"""The checks at an epoch's close, on numbers made up for the purpose: no network trains here."""

from __future__ import annotations

import math

import pytest

from layerlab.model.training_guards import (
    DIVERGENCE_FACTOR,
    BestWeights,
    Divergence,
    DivergenceGuard,
    EarlyStopping,
    NaiveLosses,
    Plateau,
)
from layerlab.report.run_messages import lowering_sentence, run_message
from layerlab.schema.spec import Feature, ModelSpec

# --------------------------------------------------------------------------- early stopping


def test_early_stopping_waits_patience_epochs_after_the_best():
    stopping = EarlyStopping(patience=3)
    assert [stopping.should_stop(epoch, best_epoch=2) for epoch in (2, 3, 4, 5)] == [
        False,
        False,
        False,
        True,
    ]


def test_a_new_best_epoch_starts_the_wait_again():
    stopping = EarlyStopping(patience=2)
    assert stopping.should_stop(4, best_epoch=2)
    assert not stopping.should_stop(4, best_epoch=4)


def test_patience_zero_never_stops():
    assert not EarlyStopping(patience=0).should_stop(100, best_epoch=1)


# --------------------------------------------------------------------------- plateau


def test_the_rate_is_lowered_after_patience_epochs_from_the_best_or_the_last_lowering():
    plateau = Plateau(factor=0.5, patience=2)
    lowered = [epoch for epoch in range(1, 12) if plateau.should_lower(epoch, best_epoch=3)]
    assert lowered == [5, 7, 9, 11]  # as Keras's ReduceLROnPlateau: the wait starts again
    assert plateau.last_lowered == 11
    assert not plateau.should_lower(12, best_epoch=12)  # a new best: the wait starts again


@pytest.mark.parametrize(
    ("changes", "patience"),
    [
        ({"lr_plateau_factor": 0.3, "patience": 10}, 5),
        ({"lr_plateau_factor": 0.3, "patience": 1}, 1),
        ({"lr_plateau_factor": 0.3, "patience": 0}, 0),  # no early stopping, no plateau
        ({"lr_plateau_factor": 0.3, "lr_schedule": "cosine"}, 0),  # the schedule decides
        ({"lr_plateau_factor": 1.0, "patience": 10}, 5),
    ],
)
def test_the_plateau_waits_half_the_patience_and_only_for_a_constant_rate(changes, patience):
    spec = ModelSpec("y", "regression", [Feature("x", "numeric")]).replace(**changes)
    plateau = Plateau.for_spec(spec)
    assert plateau.patience == patience
    assert plateau.active == (patience > 0 and spec.lr_plateau_factor < 1)
    if not plateau.active:
        assert not any(plateau.should_lower(epoch, best_epoch=1) for epoch in range(1, 50))


def test_the_message_says_where_the_learning_rate_was_lowered():
    rates = [0.001] * 6 + [0.0003] * 4 + [0.00009] * 2
    history = [{"epoch": n, "val_loss": 1.0, "learning_rate": r} for n, r in enumerate(rates, 1)]
    assert lowering_sentence(history) == (
        " The validation loss stalled, so the learning rate was lowered from epoch 7 to 0.0003, "
        "then from epoch 11 to 0.00009."
    )
    assert lowering_sentence(history[:6]) == ""
    assert lowering_sentence([{"epoch": 1, "val_loss": 1.0}] * 3) == ""


# --------------------------------------------------------------------------- divergence


def guard(train: float = 1.0, validation: float = 1.0) -> DivergenceGuard:
    return DivergenceGuard(NaiveLosses(train=train, validation=validation, predicts="mean"))


@pytest.mark.parametrize("val_loss", [math.nan, math.inf, -math.inf])
def test_a_nan_or_infinite_validation_loss_is_divergence(val_loss):
    assert guard().check(val_loss, 0.5, 0.5) == Divergence()


def test_a_loss_far_past_the_naive_answers_on_both_sides_is_divergence():
    far = DIVERGENCE_FACTOR * 1.0 + 1
    divergence = guard().check(far, train_data_loss=far, val_data_loss=far)
    assert divergence.exploded_to == far
    assert divergence.naive.validation == 1.0
    assert divergence.factor == DIVERGENCE_FACTOR


def test_one_side_exploding_is_not_enough():
    far = DIVERGENCE_FACTOR * 2.0
    assert guard().check(far, train_data_loss=far, val_data_loss=1.0) is None
    assert guard().check(far, train_data_loss=1.0, val_data_loss=far) is None


def test_the_yardstick_is_the_naive_loss_but_never_less_than_one():
    # A naive loss of 0.01 (a near-constant target) still needs a loss over 1000 units.
    assert guard(0.01, 0.01).check(500.0, 500.0, 500.0) is None
    # A naive loss of 5 needs over 5000.
    assert guard(5.0, 5.0).check(4000.0, 4000.0, 4000.0) is None
    assert guard(5.0, 5.0).check(6000.0, 6000.0, 6000.0) is not None


def test_the_penalty_alone_does_not_count_as_divergence():
    # val_loss includes the L2 penalty; the rule reads the data losses only.
    assert guard().check(1e9, train_data_loss=0.5, val_data_loss=0.5) is None


# --------------------------------------------------------------------------- best weights


def keeper_after(val_losses: list[float], restore_best_weights: bool = True) -> BestWeights[str]:
    keeper: BestWeights[str] = BestWeights(restore_best_weights)
    for epoch, loss in enumerate(val_losses, start=1):
        keeper.update(epoch, loss, f"weights of epoch {epoch}")
    return keeper


def test_the_best_epoch_is_the_lowest_validation_loss_and_a_tie_keeps_the_first():
    keeper = keeper_after([0.9, 0.5, 0.7, 0.5, 0.6])
    assert (keeper.best_epoch, keeper.best_loss) == (2, 0.5)
    assert keeper.kept() == (2, "weights of epoch 2")


def test_without_restore_best_weights_the_last_epoch_is_kept():
    keeper = keeper_after([0.9, 0.5, 0.7], restore_best_weights=False)
    assert keeper.kept() == (3, "weights of epoch 3")
    assert keeper.kept("completed") == keeper.kept("early_stopping") == (3, "weights of epoch 3")


@pytest.mark.parametrize("reason", ["stopped", "diverged"])
def test_a_stopped_or_diverged_run_keeps_the_best_even_without_restore_best_weights(reason):
    keeper = keeper_after([0.9, 0.5, 0.7], restore_best_weights=False)
    assert keeper.kept(reason) == (2, "weights of epoch 2")


@pytest.mark.parametrize("restore_best_weights", [True, False])
def test_before_any_epoch_nothing_is_kept(restore_best_weights):
    assert keeper_after([], restore_best_weights).kept("diverged") == (None, None)


# --------------------------------------------------------------------------- messages


def message(reason: str, **changes) -> str:
    facts = {
        "epochs": 30,
        "patience": 5,
        "optimizer": "adam",
        "learning_rate": 0.1,
        "kept_epoch": 4,
    }
    return run_message(reason, **{**facts, **changes})


def test_each_stop_reason_says_why_and_which_weights_are_kept():
    assert message("completed") == "Training ran all 30 epochs. The weights of epoch 4 are kept."
    assert message("early_stopping").startswith("Validation loss has not improved for 5 epochs")
    assert message("stopped", kept_epoch=None) == (
        "Training was stopped on request. No epoch finished, so the model is untrained."
    )


def test_divergence_suggests_a_tenth_of_the_rate_at_most_the_default():
    assert "learning rate 0.1 is probably too high for adam; try 0.001." in message("diverged")
    assert "try 0.0001." in message("diverged", learning_rate=0.001)


def test_an_exploded_loss_is_told_against_the_naive_answer():
    naive = NaiveLosses(train=1.0, validation=1.04, predicts="mean")
    text = message("diverged", divergence=Divergence(9.75e14, naive, DIVERGENCE_FACTOR))
    assert text.startswith(
        "Training stopped because the loss exploded: the validation loss reached 975 trillion, "
        "over 1,000 times the 1.04 of always predicting the training mean."
    )
    assert "became NaN" in message("diverged", divergence=Divergence())


def test_the_slower_graph_path_is_mentioned_only_when_xla_failed():
    assert "XLA could not compile" in message("completed", xla_failed=True)
    assert "XLA" not in message("completed")

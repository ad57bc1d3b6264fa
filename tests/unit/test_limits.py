"""The limits the widgets offer are exactly the limits validate() accepts."""

from __future__ import annotations

import math

import pytest

from layerlab.schema import limits
from layerlab.schema.errors import SpecError
from layerlab.schema.limits import Limit
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec


def base_spec() -> ModelSpec:
    return ModelSpec(target="price", task="regression", features=[Feature("rooms", "numeric")])


def with_training(field: str):
    return lambda value: base_spec().replace(**{field: value})


# Per limit: the name a message gives the setting, and a spec that holds ``value`` there.
SETTINGS = {
    "UNITS": (
        "'units' of layer 1",
        lambda value: base_spec().replace(layers=[LayerSpec.dense(value)]),
    ),
    "DROPOUT_RATE": (
        "'rate' of layer 1",
        lambda value: base_spec().replace(layers=[LayerSpec.dropout(value)]),
    ),
    "L2": (
        "'l2' of layer 1",
        lambda value: base_spec().replace(layers=[LayerSpec.dense(8, "relu", value)]),
    ),
    "LEARNING_RATE": ("'learning_rate'", with_training("learning_rate")),
    "MOMENTUM": ("'momentum'", with_training("momentum")),
    "BETA_2": ("'beta_2'", with_training("beta_2")),
    "WEIGHT_DECAY": ("'weight_decay'", with_training("weight_decay")),
    "ENSEMBLE": ("'ensemble'", with_training("ensemble")),
    # Label smoothing is for classes; a regression would add a second problem.
    "LABEL_SMOOTHING": (
        "'label_smoothing'",
        lambda value: base_spec().replace(task="binary", label_smoothing=value),
    ),
    "BATCH_SIZE": ("'batch_size'", with_training("batch_size")),
    "EPOCHS": ("'epochs'", with_training("epochs")),
    "PATIENCE": ("'patience'", with_training("patience")),
    "LR_PLATEAU_FACTOR": ("'lr_plateau_factor'", with_training("lr_plateau_factor")),
    "SEED": ("'seed'", with_training("seed")),
    "VALIDATION_SPLIT": ("'validation_split'", with_training("validation_split")),
    "TEST_SPLIT": ("'test_split'", with_training("test_split")),
}


def problems_of(spec: ModelSpec) -> list[str]:
    try:
        spec.validate()
    except SpecError as error:
        return error.problems
    return []


def just_below(limit: Limit, value: float) -> float:
    return value - 1 if limit.whole else math.nextafter(value, -math.inf)


def just_above(limit: Limit, value: float) -> float:
    return value + 1 if limit.whole else math.nextafter(value, math.inf)


def test_every_limit_is_checked_here():
    declared = {name for name, value in vars(limits).items() if isinstance(value, Limit)}
    # LAYERS counts layers rather than holding a value; it has its own test below.
    assert declared == set(SETTINGS) | {"LAYERS"}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_value_at_each_widget_bound_is_accepted_and_one_just_beyond_is_refused(name):
    limit = getattr(limits, name)
    field, spec_with = SETTINGS[name]
    lowest = limit.low if limit.low_inclusive else just_above(limit, limit.low)
    for value in (lowest, limit.high):
        assert problems_of(spec_with(value)) == [], f"{name} refused {value!r}"
    for value in (just_below(limit, lowest), just_above(limit, limit.high)):
        problems = problems_of(spec_with(value))
        assert len(problems) == 1, f"{name} accepted {value!r}"
        assert field in problems[0] and f"got {value!r}" in problems[0]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_widget_bounds_share_one_number_type(name):
    # Streamlit refuses a number input whose min, max and step mix int and float.
    limit = getattr(limits, name)
    kind = int if limit.whole else float
    assert {type(limit.low), type(limit.high), type(limit.step)} == {kind}
    assert limit.low < limit.high and 0 < limit.step <= limit.high - limit.low


def test_a_learning_rate_of_zero_is_refused_although_the_widget_starts_there():
    assert limits.LEARNING_RATE.low == 0.0 and not limits.LEARNING_RATE.low_inclusive
    (problem,) = problems_of(base_spec().replace(learning_rate=0.0))
    assert problem == "The 'learning_rate' must be > 0 and at most 10; got 0.0. Try 0.001."


def test_the_number_of_layers_is_limited():
    dense = LayerSpec.dense(4)
    assert problems_of(base_spec().replace(layers=[])) == []
    assert problems_of(base_spec().replace(layers=[dense] * limits.LAYERS.high)) == []
    (problem,) = problems_of(base_spec().replace(layers=[dense] * (limits.LAYERS.high + 1)))
    assert problem == "The network may have at most 32 hidden layers; got 33."


def test_messages_name_the_field_what_is_allowed_and_what_it_got():
    spec = base_spec().replace(layers=[LayerSpec.dropout(0.99)], batch_size=0, seed=-1)
    assert problems_of(spec) == [
        "The 'rate' of layer 1 (Dropout) must be a number from 0 to 0.95 (the fraction of units "
        "dropped); got 0.99.",
        "The 'batch_size' must be a whole number from 1 to 65536; got 0.",
        "The 'seed' must be a whole number from 0 to 2147483647; got -1.",
    ]


@pytest.mark.parametrize("value", [True, "3", None, 2.0, float("nan")])
def test_a_whole_number_setting_refuses_anything_but_an_integer(value):
    assert not limits.EPOCHS.allows(value)


@pytest.mark.parametrize("value", [True, "0.1", None, float("nan"), float("inf")])
def test_a_number_setting_refuses_anything_but_a_finite_number(value):
    assert not limits.MOMENTUM.allows(value)


def test_the_splits_at_their_largest_still_leave_rows_to_train_on_or_say_so():
    spec = base_spec().replace(
        validation_split=limits.VALIDATION_SPLIT.high, test_split=limits.TEST_SPLIT.high
    )
    (problem,) = problems_of(spec)
    assert "leave at least 20% of the rows for training; got 0.5 + 0.5" in problem


def test_the_widgets_offer_the_choices_validate_accepts():
    assert problems_of(base_spec().replace(optimizer=limits.OPTIMIZERS[-1])) == []
    for activation in limits.ACTIVATIONS:
        spec = base_spec().replace(layers=[LayerSpec.dense(4, activation)])
        assert problems_of(spec) == [], activation

"""Warnings for model choices that usually hurt: one plain sentence each."""

from __future__ import annotations

import pytest

from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab_app.advice import advise, estimated_training_rows


def make_spec(**changes) -> ModelSpec:
    spec = ModelSpec(target="y", task="regression", features=[Feature("x", "numeric")])
    return spec.replace(**changes)


def test_default_spec_gets_no_warning():
    assert advise(make_spec(), training_rows=500) == []


def test_softmax_is_not_offered_for_hidden_layers_and_an_old_file_is_told_why():
    from layerlab.schema import limits
    from layerlab.schema.errors import SpecError

    assert "softmax" not in limits.ACTIVATIONS
    old = make_spec(layers=[LayerSpec.dense(16, "relu"), LayerSpec.dense(8, "softmax")])
    loaded = ModelSpec.from_dict(old.to_dict())  # a file written when softmax was offered
    assert loaded.layers[1].activation == "softmax"
    with pytest.raises(SpecError) as refused:
        loaded.validate()
    assert str(refused.value).startswith(
        "The 'activation' of layer 2 (Dense) cannot be 'softmax': softmax makes a hidden "
        "layer's outputs add up to 1"
    )
    assert "use relu" in str(refused.value)
    assert advise(loaded) == []  # said once, by validation


def test_deep_sigmoid_and_tanh_stack_warns_about_vanishing_gradients():
    layers = [
        LayerSpec.dense(32, "sigmoid"),
        LayerSpec.dropout(0.1),
        LayerSpec.dense(32, "tanh"),
        LayerSpec.dense(32, "sigmoid"),
    ]
    [warning] = advise(make_spec(layers=layers))
    assert "vanishing gradients" in warning
    assert "3 sigmoid and tanh layers" in warning


def test_two_tanh_layers_are_not_deep_enough_to_warn():
    layers = [LayerSpec.dense(32, "tanh"), LayerSpec.dense(32, "tanh")]
    assert advise(make_spec(layers=layers)) == []


@pytest.mark.parametrize(
    ("optimizer", "learning_rate", "words"),
    [
        ("adam", 0.5, "above the usual range for adam (1e-05 to 0.01)"),
        ("adam", 1e-7, "below the usual range for adam"),
        ("sgd", 2.0, "above the usual range for sgd"),
    ],
)
def test_learning_rate_outside_the_usual_range_suggests_the_default(
    optimizer, learning_rate, words
):
    [warning] = advise(make_spec(optimizer=optimizer, learning_rate=learning_rate))
    assert words in warning
    default = {"adam": "0.001", "sgd": "0.01"}[optimizer]
    assert warning.endswith(f"try {default}.")


def test_invalid_learning_rate_is_left_to_validate():
    assert advise(make_spec(learning_rate=0)) == []
    assert advise(make_spec(learning_rate="fast")) == []


def test_batch_larger_than_the_training_set_suggests_a_smaller_one():
    [warning] = advise(make_spec(batch_size=64), training_rows=24)
    assert "larger than the training set (about 24 rows)" in warning
    assert warning.endswith("try 4.")


def test_batch_size_check_needs_the_number_of_training_rows():
    assert advise(make_spec(batch_size=64)) == []
    assert advise(make_spec(batch_size=24), training_rows=24) == []


def test_estimated_training_rows_matches_the_trainer_split():
    # 40 rows: ceil(8) test, then ceil(32 * 0.25) = 8 validation, 24 for training.
    assert estimated_training_rows(40, 0.2, 0.2) == 24
    assert estimated_training_rows(150, 0.2, 0.2) == 90

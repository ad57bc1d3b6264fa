"""The layer editor's operations and presets, on plain lists of LayerSpec."""

from __future__ import annotations

import pytest

from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab_app.layers import (
    PRESETS,
    add_layer,
    layer_from_row,
    move_layer,
    output_choices,
    output_units,
    remove_layer,
)

STACK = [LayerSpec.dense(64, "relu"), LayerSpec.dropout(0.2), LayerSpec.batch_norm()]


def test_every_preset_builds_a_valid_network():
    for name, preset in PRESETS.items():
        spec = ModelSpec("y", "binary", [Feature("x", "numeric")], layers=preset.make())
        spec.validate()
        assert preset.sentence, name


def test_presets_follow_the_capacity_workflow():
    assert list(PRESETS) == ["linear", "small", "wider", "deeper", "regularized"]
    small, wider, deeper = (PRESETS[name].make() for name in ("small", "wider", "deeper"))
    assert wider[0].units > small[0].units
    assert len(deeper) > len(wider)
    assert PRESETS["linear"].make() == []


def test_presets_return_fresh_lists():
    first = PRESETS["deeper"].make()
    first[0].units = 1
    assert PRESETS["deeper"].make()[0].units == 64


def test_added_dense_layer_copies_the_last_dense_width():
    layers = add_layer([LayerSpec.dense(48, "tanh"), LayerSpec.dropout(0.1)], "dense")
    assert layers[-1] == LayerSpec.dense(48, "relu")
    assert add_layer([], "dense")[-1].units == 32


def test_added_dropout_and_batch_norm_layers():
    assert add_layer([], "dropout") == [LayerSpec.dropout(0.2)]
    assert add_layer([], "batch_norm") == [LayerSpec.batch_norm()]
    with pytest.raises(ValueError, match="Unknown layer kind"):
        add_layer([], "conv")


def test_remove_and_move_return_new_lists():
    assert remove_layer(STACK, 1) == [STACK[0], STACK[2]]
    assert move_layer(STACK, 2, -1) == [STACK[0], STACK[2], STACK[1]]
    assert move_layer(STACK, 0, 1) == [STACK[1], STACK[0], STACK[2]]
    assert len(STACK) == 3 and STACK[1].kind == "dropout"


def test_moves_past_either_end_do_nothing():
    assert move_layer(STACK, 0, -1) == STACK
    assert move_layer(STACK, 2, 1) == STACK


def test_widget_rows_become_layer_specs():
    assert layer_from_row("dense", 16.0, "elu") == LayerSpec.dense(16, "elu")
    assert layer_from_row("dense", 8, "relu", l2=0.01).l2 == 0.01
    assert layer_from_row("dropout", rate=0.25) == LayerSpec.dropout(0.25)
    assert layer_from_row("batch_norm") == LayerSpec.batch_norm()


def test_empty_units_stay_empty_so_validate_can_name_them():
    layer = layer_from_row("dense", None, "relu")
    spec = ModelSpec("y", "regression", [Feature("x", "numeric")], layers=[layer])
    with pytest.raises(Exception, match="units"):
        spec.validate()


def test_output_choices_start_with_the_derived_default():
    for task in ("regression", "binary", "multiclass"):
        spec = ModelSpec("y", task, [Feature("x", "numeric")])
        assert output_choices(task)[0] == spec.resolved_output()
    assert len(output_choices("regression")) == 3
    assert output_choices("multiclass") == [("softmax", "categorical_crossentropy")]


def test_output_units():
    assert output_units("softmax", 3) == 3
    assert output_units("softmax", 2) == 2
    assert output_units("sigmoid", 2) == 1
    assert output_units("linear", 0) == 1

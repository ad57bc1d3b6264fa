"""ModelSpec: what a person chooses, saved, reloaded and checked with every problem named at once."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from layerlab.schema.errors import LayerlabError, SpecError
from layerlab.schema.spec import (
    PLAIN_RECIPE,
    SPEC_VERSION,
    Feature,
    LayerSpec,
    ModelSpec,
    default_spec,
    format_layers,
    parse_layers,
)
from layerlab.tabular.data import profile_columns


def full_spec() -> ModelSpec:
    """A spec with every field away from its default, so a round trip that drops one shows.

    Except ``class_weight``, which only classification has: see ``classification_spec``.
    """
    return ModelSpec(
        target="price",
        task="regression",
        features=[Feature("rooms", "numeric"), Feature("city", "categorical")],
        layers=[
            LayerSpec.dense(64, "relu", l2=0.001),
            LayerSpec.dropout(0.2),
            LayerSpec.batch_norm(),
            LayerSpec.dense(8, "tanh"),
        ],
        output_activation="linear",
        loss="huber",
        optimizer="sgd",
        learning_rate=0.05,
        momentum=0.8,
        batch_size=64,
        epochs=50,
        validation_split=0.25,
        test_split=0.15,
        patience=3,
        restore_best_weights=False,
        seed=7,
    )


def classification_spec(**changes) -> ModelSpec:
    spec = ModelSpec(
        target="churned",
        task="binary",
        features=[Feature("tenure", "numeric")],
        class_weight="balanced",
    )
    return spec.replace(**changes)


def test_spec_round_trips_through_dict_and_json():
    for spec in (full_spec(), classification_spec()):
        assert ModelSpec.from_dict(spec.to_dict()) == spec
        assert ModelSpec.from_json(spec.to_json()) == spec
        assert json.loads(spec.to_json())["spec_version"] == SPEC_VERSION
    assert json.loads(classification_spec().to_json())["class_weight"] == "balanced"


def test_a_spec_file_from_before_class_weights_loads_with_none():
    config = classification_spec().to_dict()
    del config["class_weight"]
    config["spec_version"] = 1
    spec = ModelSpec.from_dict(config)
    assert spec.class_weight == "none"
    assert spec.spec_version == SPEC_VERSION
    assert spec.validate() is spec


def test_balanced_class_weights_validate_for_every_classification_task():
    assert classification_spec().validate()
    assert classification_spec(task="multiclass").validate()


def test_an_unknown_class_weight_is_refused_with_the_choices():
    with pytest.raises(SpecError) as caught:
        classification_spec(class_weight="auto").validate()
    assert caught.value.problems == [
        "The 'class_weight' must be one of none, balanced; got 'auto'."
    ]


def test_balanced_class_weights_are_refused_for_regression():
    with pytest.raises(SpecError) as caught:
        full_spec().replace(class_weight="balanced").validate()
    [problem] = caught.value.problems
    assert "only when predicting classes" in problem
    assert "regression" in problem and "Set it to none." in problem


def test_spec_json_is_plain_readable_data():
    config = json.loads(full_spec().to_json())
    assert config["layers"][1] == {"kind": "dropout", "rate": 0.2}
    assert config["features"][0] == {"name": "rooms", "kind": "numeric"}


def test_missing_fields_take_their_defaults():
    spec = ModelSpec.from_dict(
        {"target": "y", "task": "binary", "features": [{"name": "x", "kind": "numeric"}]}
    )
    assert spec == ModelSpec(target="y", task="binary", features=[Feature("x", "numeric")])


def test_spec_from_a_newer_layerlab_is_refused():
    config = full_spec().to_dict()
    config["spec_version"] = SPEC_VERSION + 1
    with pytest.raises(SpecError, match=f"spec_version {SPEC_VERSION + 1}"):
        ModelSpec.from_dict(config)


def test_unknown_fields_are_refused_by_name():
    config = full_spec().to_dict()
    config["learning_rat"] = 0.1
    config["colour"] = "blue"
    with pytest.raises(SpecError) as caught:
        ModelSpec.from_dict(config)
    assert "learning_rat" in str(caught.value)
    assert "colour" in str(caught.value)


def test_unknown_layer_setting_is_refused_by_name():
    config = full_spec().to_dict()
    config["layers"][0]["unitz"] = 3
    with pytest.raises(SpecError, match="unitz"):
        ModelSpec.from_dict(config)


def test_broken_json_says_where():
    with pytest.raises(SpecError, match=r"not valid JSON.*line 1"):
        ModelSpec.from_json('{"target": ')


def test_a_spec_error_is_a_layerlab_error():
    # The app and the CLI catch LayerlabError at their edge; SpecError must be one.
    assert issubclass(SpecError, LayerlabError)


def test_validate_reports_every_problem_at_once():
    spec = full_spec().replace(
        layers=[LayerSpec.dense(0, "relu"), LayerSpec.dropout(1.5)], learning_rate=-1
    )
    with pytest.raises(SpecError) as caught:
        spec.validate()
    problems = caught.value.problems
    assert len(problems) == 3
    units, rate, learning_rate = problems
    assert "'units' of layer 1" in units and "got 0" in units
    assert "'rate' of layer 2" in rate and "got 1.5" in rate
    assert "'learning_rate'" in learning_rate and "got -1" in learning_rate
    assert str(caught.value).startswith("The model settings have 3 problems")


def test_valid_spec_validates_and_returns_itself():
    spec = full_spec()
    assert spec.validate() is spec


def test_target_listed_as_a_feature_is_refused():
    spec = full_spec().replace(features=[Feature("rooms", "numeric"), Feature("price", "numeric")])
    with pytest.raises(SpecError, match="'price' is also listed as a feature"):
        spec.validate()


def test_sigmoid_output_with_categorical_crossentropy_is_refused():
    spec = ModelSpec(
        target="churned",
        task="binary",
        features=[Feature("age", "numeric")],
        output_activation="sigmoid",
        loss="categorical_crossentropy",
    )
    with pytest.raises(SpecError) as caught:
        spec.validate()
    assert caught.value.problems == [
        "A sigmoid output needs binary cross-entropy as its loss; got "
        "'categorical_crossentropy'. Use sigmoid with binary_crossentropy or softmax with "
        "categorical_crossentropy."
    ]


def test_softmax_binary_output_derives_categorical_crossentropy():
    spec = ModelSpec(
        target="churned",
        task="binary",
        features=[Feature("age", "numeric")],
        output_activation="softmax",
    )
    assert spec.validate().resolved_output() == ("softmax", "categorical_crossentropy")


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("regression", ("linear", "mse")),
        ("binary", ("sigmoid", "binary_crossentropy")),
        ("multiclass", ("softmax", "categorical_crossentropy")),
    ],
)
def test_output_and_loss_follow_the_task(task, expected):
    spec = ModelSpec(target="y", task=task, features=[Feature("x", "numeric")])
    assert spec.resolved_output() == expected


def test_splits_that_leave_too_little_training_data_are_refused():
    spec = full_spec().replace(validation_split=0.5, test_split=0.4)
    with pytest.raises(SpecError, match="at least 20% of the rows for training"):
        spec.validate()


def test_boolean_is_not_a_whole_number():
    with pytest.raises(SpecError, match=r"'epochs'.*got True"):
        full_spec().replace(epochs=True).validate()


def test_whole_numbers_in_real_valued_fields_are_read_as_floats():
    spec = ModelSpec(
        target="y",
        task="regression",
        features=[Feature("x", "numeric")],
        layers=[LayerSpec.dense(8, l2=0), LayerSpec.dropout(0)],
        learning_rate=1,
        momentum=0,
    )
    values = (spec.learning_rate, spec.momentum, spec.layers[0].l2, spec.layers[1].rate)
    assert values == (1.0, 0.0, 0.0, 0.0)
    assert all(type(value) is float for value in values)
    assert type(spec.replace(learning_rate=2).learning_rate) is float
    with pytest.raises(SpecError, match=r"'learning_rate'.*got True"):
        spec.replace(learning_rate=True).validate()
    with pytest.raises(SpecError, match=r"'momentum'.*got False"):
        spec.replace(momentum=False).validate()


def test_spec_json_with_integer_learning_rate_and_momentum_trains(make_table, table_spec):
    from layerlab.model.train import train

    config = table_spec(epochs=3).to_dict()
    config.update(optimizer="sgd", learning_rate=1, momentum=0)
    config["layers"] = [
        {"kind": "dense", "units": 8, "activation": "relu", "l2": 0},
        {"kind": "dropout", "rate": 0},
    ]
    text = json.dumps(config)
    assert '"learning_rate": 1,' in text and '"momentum": 0,' in text
    result = train(make_table(150), ModelSpec.from_json(text))
    assert len(result.history) == 3
    assert result.spec.to_dict()["learning_rate"] == 1.0


def test_layer_text_parses_into_layers():
    layers = parse_layers("dense:64:relu,dropout:0.2,dense:32:tanh,batchnorm")
    assert layers == [
        LayerSpec.dense(64, "relu"),
        LayerSpec.dropout(0.2),
        LayerSpec.dense(32, "tanh"),
        LayerSpec.batch_norm(),
    ]


def test_format_layers_is_the_inverse_of_parse_layers():
    text = "dense:64:relu,dropout:0.2,dense:32:tanh,batchnorm"
    assert format_layers(parse_layers(text)) == text
    layers = full_spec().layers
    assert [
        (layer.kind, layer.units, layer.rate) for layer in parse_layers(format_layers(layers))
    ] == [(layer.kind, layer.units, layer.rate) for layer in layers]


def test_layer_text_is_forgiving_about_case_spaces_and_default_activation():
    assert parse_layers(" Dense:16 , BATCH_NORM,") == [
        LayerSpec.dense(16, "relu"),
        LayerSpec.batch_norm(),
    ]


def test_bad_layer_text_names_every_bad_item():
    with pytest.raises(SpecError) as caught:
        parse_layers("dense:64,dense:abc,conv:3,dropout")
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("Layer 2 'dense:abc' is not understood")
    assert problems[1].startswith("Layer 3 'conv:3'")
    assert problems[2].startswith("Layer 4 'dropout'")
    assert "dense:UNITS[:ACTIVATION]" in problems[0]


def test_parsed_layers_with_bad_values_fail_validation_not_parsing():
    layers = parse_layers("dense:64:wiggly")
    with pytest.raises(SpecError, match=r"'activation' of layer 1.*got 'wiggly'"):
        full_spec().replace(layers=layers).validate()


def test_default_spec_uses_suggested_columns_and_validates():
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(40)],
            "age": [20 + (i * 7) % 30 for i in range(40)],
            "plan": ["basic", "pro"] * 20,
            "churned": ["yes", "no", "no", "no"] * 10,
        }
    )
    spec = default_spec("churned", "binary", profile_columns(frame, "churned"))
    assert spec.validate() is spec
    assert spec.feature_names == ["age", "plan"]  # the ID column and the target are left out
    assert spec.resolved_output() == ("sigmoid", "binary_crossentropy")
    assert spec.early_stopping and spec.restore_best_weights
    assert spec.describe() == "Dense 64 relu → Dense 32 relu → output sigmoid, 4 averaged"
    # A new table's recipe (spec.DEFAULT_RECIPE), beyond ModelSpec's plain-loop defaults.
    assert (spec.ensemble, spec.refit, spec.lr_plateau_factor) == (4, True, 0.3)
    plain = ModelSpec("churned", "binary", spec.features)
    assert {name: getattr(plain, name) for name in PLAIN_RECIPE} == PLAIN_RECIPE
    assert spec.replace(**PLAIN_RECIPE) == plain

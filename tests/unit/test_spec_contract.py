"""One contract over every layer kind and every spec field, like scikit-learn's
``check_estimator``: each goes through validate -> to_dict -> from_dict -> JSON -> build.

A new ``ModelSpec`` field fails ``test_every_spec_field_has_a_case`` until it has a value
here; a new ``LayerKind`` fails the kind tests until it has a definition, a Keras layer,
an editor row and a branch in the exported ``train.py``.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

from layerlab.model.build import KERAS_LAYERS, build_model, predict_frame
from layerlab.model.code_export import TEMPLATE_PATH, train_script
from layerlab.schema.layers import LAYER_KINDS, LayerSpec, format_layers, parse_layers
from layerlab.schema.spec import SPEC_VERSION, Feature, ModelSpec
from layerlab.schema.vocabulary import FeatureKind, LayerKind, Task
from layerlab_app.layers import add_layer, layer_from_widgets

ROWS = 40
CLASSES = {Task.BINARY: ("no", "yes"), Task.MULTICLASS: ("a", "b", "c"), Task.REGRESSION: ()}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """A column of each feature kind (with gaps), and a target for each task."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, ROWS).round(2),
            "colour": rng.choice(["red", "blue", "green"], ROWS),
            "member": rng.choice(["yes", "no"], ROWS),
            "bought": rng.choice(CLASSES[Task.BINARY], ROWS),
            "grade": rng.choice(CLASSES[Task.MULTICLASS], ROWS),
            "spend": rng.normal(100, 20, ROWS).round(1),
        }
    )
    frame.loc[::7, "size"] = np.nan
    frame.loc[::9, "colour"] = None
    return frame


def base_spec() -> ModelSpec:
    return ModelSpec(
        target="bought",
        task=Task.BINARY,
        features=[
            Feature("size", FeatureKind.NUMERIC),
            Feature("colour", FeatureKind.CATEGORICAL),
            Feature("member", FeatureKind.BOOLEAN),
        ],
        layers=[LayerSpec.dense(4)],
    )


# Per spec field, a valid change away from the default (with the changes it needs to be valid).
FIELD_CASES: dict[str, dict] = {
    "target": {"target": "grade", "task": Task.MULTICLASS},
    "task": {"task": Task.REGRESSION, "target": "spend"},
    "features": {"features": [Feature("member", FeatureKind.BOOLEAN)]},
    "layers": {"layers": []},
    "output_activation": {"output_activation": "softmax", "loss": "categorical_crossentropy"},
    "loss": {"loss": "binary_crossentropy"},
    "class_weight": {"class_weight": "balanced"},
    "optimizer": {"optimizer": "sgd"},
    "learning_rate": {"learning_rate": 0.01},
    "momentum": {"momentum": 0.5},
    "beta_2": {"beta_2": 0.99},
    "weight_decay": {"weight_decay": 0.01},
    "lr_schedule": {"lr_schedule": "cosine"},
    "label_smoothing": {"label_smoothing": 0.1},
    "scaling": {"scaling": "robust"},
    "numeric_embedding": {"numeric_embedding": "piecewise"},
    "ensemble": {"ensemble": 2},
    "batch_size": {"batch_size": 8},
    "epochs": {"epochs": 3},
    "validation_split": {"validation_split": 0.3},
    "test_split": {"test_split": 0.1},
    "patience": {"patience": 0},
    "lr_plateau_factor": {"lr_plateau_factor": 0.5},
    "refit": {"refit": True},
    "restore_best_weights": {"restore_best_weights": False},
    "seed": {"seed": 7},
    # Only the current version round trips; older ones: test_an_old_file_loads_as_it_trained.
    "spec_version": {"spec_version": SPEC_VERSION},
}


def round_trip_and_build(spec: ModelSpec, table: pd.DataFrame):
    """validate -> to_dict -> from_dict (equal) -> JSON (equal) -> a Keras model that predicts."""
    assert spec.validate() is spec
    config = spec.to_dict()
    assert json.loads(json.dumps(config)) == config  # plain JSON data, enums as their strings
    assert ModelSpec.from_dict(config) == spec
    assert ModelSpec.from_json(spec.to_json()) == spec
    built = build_model(spec, table, CLASSES[spec.task])
    predictions = predict_frame(built, table.head(3))
    assert len(predictions) == 3 and np.isfinite(predictions).all()
    return built


def test_every_spec_field_has_a_case():
    assert set(FIELD_CASES) == {field.name for field in dataclasses.fields(ModelSpec)}


@pytest.mark.parametrize("field", sorted(FIELD_CASES))
def test_every_spec_field_round_trips_and_builds(field, table):
    spec = base_spec().replace(**FIELD_CASES[field])
    if field != "spec_version":
        assert getattr(spec, field) != getattr(base_spec(), field), "the case changes nothing"
    round_trip_and_build(spec, table)


@pytest.mark.parametrize("kind", list(LayerKind))
def test_every_layer_kind_round_trips_and_builds(kind, table):
    definition = LAYER_KINDS[kind]
    layers = add_layer([LayerSpec.dense(4)], kind)
    spec = base_spec().replace(layers=layers)
    built = round_trip_and_build(spec, table)
    keras_layer = built.model.get_layer(f"{kind}_1" if kind != LayerKind.DENSE else "dense_2")
    assert type(keras_layer).__name__ == definition.keras_name
    assert parse_layers(format_layers(layers)) == layers
    assert spec.describe().startswith(f"Dense 4 relu → {definition.name}")
    # The kind's own count of its weights is what Keras holds, and its one-line name reads.
    trainable, frozen, _ = layers[1].weights(4)
    assert keras_layer.count_params() == trainable + frozen
    assert layers[1].brief() and "{" not in layers[1].brief()


def test_every_layer_kind_has_a_keras_layer_and_an_editor_row():
    assert set(KERAS_LAYERS) == set(LayerKind) == set(LAYER_KINDS)
    layer_fields = {field.name for field in dataclasses.fields(LayerSpec)}
    for kind, definition in LAYER_KINDS.items():
        assert definition.kind == kind
        assert definition.name and definition.keras_name and definition.description
        assert definition.cli_names
        assert set(definition.setting_names) <= layer_fields - {"kind"}
        # The editor's row has room for two widgets, each a number or a choice.
        assert len([setting for setting in definition.settings if setting.widget]) <= 2
        for setting in definition.settings:
            assert (setting.limit is None) != (not setting.choices), setting.name
            assert setting.label
        widgets = {setting.name: setting.new_value for setting in definition.settings}
        assert layer_from_widgets(kind, widgets) == add_layer([], kind)[0]


def test_every_layer_kind_has_a_branch_in_the_exported_train_script(table):
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    branches = set(re.findall(r'spec\["kind"\] == "(\w+)"', template))
    assert branches == set(LayerKind)
    every_kind = base_spec().replace(layers=[add_layer([], kind)[0] for kind in LayerKind])
    script = train_script(every_kind)
    for kind in LayerKind:
        assert f'"kind": "{kind}"' in script


def test_records_hold_members_that_equal_their_strings():
    spec = ModelSpec.from_dict(base_spec().to_dict())
    assert spec.task is Task.BINARY and spec.task == "binary"
    assert spec.features[0].kind is FeatureKind.NUMERIC
    assert spec.layers[0].kind is LayerKind.DENSE
    assert '"task": "binary"' in spec.to_json()  # files keep the plain words


def test_an_unknown_word_is_kept_for_validate_to_name():
    spec = base_spec().replace(task="ranking")
    assert spec.task == "ranking" and not isinstance(spec.task, Task)
    with pytest.raises(Exception, match="ranking"):
        spec.validate()


def test_an_old_file_loads_as_it_trained():
    config = base_spec().to_dict()
    for name in ("spec_version", "scaling", "numeric_embedding", "beta_2", "weight_decay"):
        config.pop(name)
    config["spec_version"] = 2
    spec = ModelSpec.from_dict(config)
    assert spec.spec_version == SPEC_VERSION
    assert (spec.scaling, spec.numeric_embedding) == ("standard", "none")


def test_a_spec_written_before_the_plateau_never_lowers_the_learning_rate():
    config = base_spec().replace(lr_plateau_factor=0.5).to_dict()
    config.pop("lr_plateau_factor")
    config["spec_version"] = 3
    assert ModelSpec.from_dict(config).lr_plateau_factor == 1.0


def test_a_spec_written_before_the_refit_does_not_refit():
    config = base_spec().replace(refit=True).to_dict()
    config.pop("refit")
    config["spec_version"] = 3
    assert ModelSpec.from_dict(config).refit is False

"""Model page: edit the hidden layers, see the output and loss, set training, get warnings."""

from __future__ import annotations

import pytest
from app_support import iris, seed_dataset, session_of, texts, tiny_regression_frame

from layerlab.runs.service import carry_settings
from layerlab.schema.spec import LayerSpec


@pytest.fixture
def model_page(app):
    seed_dataset(app, tiny_regression_frame(), "y")
    return app.switch_page("app_pages/model.py").run()


def layers(at) -> list[LayerSpec]:
    return session_of(at).spec.layers


def test_model_page_asks_for_data_first(app):
    at = app.switch_page("app_pages/model.py").run()
    assert not at.exception
    assert "First load data" in texts(at.info)


def test_the_default_network_is_shown_as_rows_of_widgets(model_page):
    at = model_page
    assert not at.exception
    assert at.title[0].value == "Model"
    assert at.number_input(key="layer_0_units").value == 64
    assert at.selectbox(key="layer_1_activation").value == "relu"
    assert (
        "**Output layer:** Dense, 1 unit, linear activation · **Loss:** mean squared error"
        in texts(at.markdown)
    )
    assert any("mean squared error (MSE)" in caption for caption in texts(at.caption).splitlines())


def test_presets_add_remove_and_move_layers(model_page):
    at = model_page
    at.button(key="preset_deeper").click().run()
    assert [layer.units for layer in layers(at)] == [64, 64, 64]
    at.button(key="add_dropout").click().run()
    assert at.number_input(key="layer_3_rate").value == 0.2
    at.button(key="layer_3_up").click().run()
    assert [layer.kind for layer in layers(at)] == ["dense", "dense", "dropout", "dense"]
    # The widgets follow the layers: position 2 is now the dropout, position 3 a dense layer.
    assert at.number_input(key="layer_2_rate").value == 0.2
    assert at.number_input(key="layer_3_units").value == 64
    at.button(key="layer_0_remove").click().run()
    at.button(key="add_batch_norm").click().run()
    assert [layer.kind for layer in layers(at)] == ["dense", "dropout", "dense", "batch_norm"]
    at.button(key="layer_1_down").click().run()
    assert [layer.kind for layer in layers(at)] == ["dense", "dense", "dropout", "batch_norm"]
    assert at.button(key="layer_0_up").disabled
    assert at.button(key="layer_3_down").disabled
    assert not at.exception


def test_editing_a_layer_updates_the_spec_and_survives_a_page_switch(model_page):
    at = model_page
    at.number_input(key="layer_0_units").set_value(12).run()
    at.selectbox(key="layer_1_activation").set_value("tanh").run()
    assert layers(at) == [LayerSpec.dense(12, "relu"), LayerSpec.dense(32, "tanh")]
    at.switch_page("app_pages/data.py").run()
    at.switch_page("app_pages/model.py").run()
    assert at.number_input(key="layer_0_units").value == 12
    assert at.selectbox(key="layer_1_activation").value == "tanh"


def test_no_hidden_layer_is_a_linear_model(model_page):
    at = model_page.button(key="preset_linear").click().run()
    assert layers(at) == []
    assert "linear (or logistic) model" in texts(at.caption)


def test_an_invalid_learning_rate_is_explained_and_blocks_the_next_step(model_page):
    at = model_page
    at.number_input(key="learning_rate").set_value(0.0).run()
    assert not at.exception
    assert "The 'learning_rate' must be > 0 and at most 10; got 0.0" in texts(at.error)
    assert at.button(key="show_summary").disabled
    assert "Fix the model settings (1 problem)." in texts(at.sidebar.markdown)


def test_risky_choices_get_one_plain_sentence_each(model_page):
    at = model_page
    assert "softmax" not in at.selectbox(key="layer_0_activation").options
    at.number_input(key="learning_rate").set_value(0.5).run()
    at.number_input(key="batch_size").set_value(64).run()
    warnings = [warning.value for warning in at.warning]
    assert "above the usual range for adam" in warnings[0]
    assert "larger than the training set (about 24 rows)" in warnings[1]


def test_choosing_sgd_moves_the_learning_rate_to_its_default_and_shows_momentum(model_page):
    at = model_page
    at.selectbox(key="optimizer").set_value("sgd").run()
    assert at.number_input(key="learning_rate").value == 0.01
    assert at.number_input(key="momentum").value == 0.9
    spec = session_of(at).spec
    assert (spec.optimizer, spec.learning_rate) == ("sgd", 0.01)


def test_training_settings_reach_the_spec(model_page):
    at = model_page
    at.number_input(key="epochs").set_value(7).run()
    at.number_input(key="patience").set_value(0).run()
    at.slider(key="validation_split").set_value(0.3).run()
    at.checkbox(key="restore_best_weights").uncheck().run()
    at.number_input(key="seed").set_value(7).run()
    spec = session_of(at).spec
    assert (spec.epochs, spec.patience, spec.validation_split, spec.seed) == (7, 0, 0.3, 7)
    assert spec.restore_best_weights is False
    assert not spec.early_stopping


def test_the_plateau_factor_is_offered_beside_early_stopping_with_a_constant_rate(model_page):
    at = model_page
    at.number_input(key="lr_plateau_factor").set_value(0.5).run()
    assert session_of(at).spec.lr_plateau_factor == 0.5
    at.number_input(key="patience").set_value(0).run()  # no early stopping: nothing to wait for
    assert "lr_plateau_factor" not in [box.key for box in at.number_input]
    at.number_input(key="patience").set_value(10).run()
    at.selectbox(key="lr_schedule").set_value("cosine").run()  # the schedule sets the rate
    assert "lr_plateau_factor" not in [box.key for box in at.number_input]
    assert not at.exception and not at.error


def test_the_training_recipe_reaches_the_spec(model_page):
    at = model_page
    at.selectbox(key="optimizer").set_value("adamw").run()
    at.selectbox(key="lr_schedule").set_value("cosine").run()
    at.selectbox(key="scaling").set_value("robust").run()
    at.selectbox(key="numeric_embedding").set_value("piecewise").run()
    at.number_input(key="beta_2").set_value(0.95).run()
    at.number_input(key="weight_decay").set_value(0.02).run()
    assert not at.exception and not at.error
    spec = session_of(at).spec
    assert (spec.optimizer, spec.lr_schedule, spec.scaling, spec.numeric_embedding) == (
        "adamw",
        "cosine",
        "robust",
        "piecewise",
    )
    assert (spec.beta_2, spec.weight_decay) == (0.95, 0.02)
    at.number_input(key="ensemble").set_value(3).run()
    assert session_of(at).spec.ensemble == 3
    assert "3 averaged" in texts(at.sidebar.markdown)
    # A regression has no labels to smooth; SGD has no beta 2.
    assert "label_smoothing" not in [box.key for box in at.number_input]
    at.selectbox(key="optimizer").set_value("sgd").run()
    assert "beta_2" not in [box.key for box in at.number_input]


def test_label_smoothing_is_offered_for_classes(app):
    seed_dataset(app, iris(), "species")
    at = app.switch_page("app_pages/model.py").run()
    at.number_input(key="label_smoothing").set_value(0.1).run()
    assert not at.exception
    assert session_of(at).spec.label_smoothing == 0.1
    assert "over-confident" in at.number_input(key="label_smoothing").help


def test_advanced_override_of_the_loss(model_page):
    at = model_page
    at.selectbox(key="output_loss").set_value("linear output with mean absolute error loss").run()
    spec = session_of(at).spec
    assert (spec.output_activation, spec.loss) == ("linear", "mae")
    assert "**Loss:** mean absolute error" in texts(at.markdown)


# Keras's names for the preprocessing and layers it builds: only its own summary shows them.
KERAS_WORDS = ("StringLookup", "nan_to_num", "isfinite", "Cast", "InputLayer", "dense_1")


def outside_keras_summary(at) -> str:
    """Every text the page shows outside code blocks: the words an analyst reads."""
    tables = [element.value.to_csv() for element in at.dataframe]
    return "\n".join([texts(at.markdown), texts(at.caption), texts(at.metric), *tables])


def keras_summary(at):
    """The folded expander holding Keras's own summary, or None."""
    found = [e for e in at.expander if e.label.startswith("Keras's own summary")]
    return found[0] if found else None


def one_network(at):
    """A new table's spec averages 4 networks (spec.DEFAULT_RECIPE); these tests count one."""
    return at.number_input(key="ensemble").set_value(1).run()


def test_the_network_is_summarised_in_words_at_once(model_page):
    at = one_network(model_page.button(key="preset_small").click().run())
    at.number_input(key="layer_0_units").set_value(512).run()
    assert not at.exception
    # x (standardized) + colour (3 seen categories + 1 unseen) = 5 inputs -> 512 -> 1, shown
    # without building anything.
    memory, parameters = at.metric
    assert memory.label == "Memory to train (estimate)" and memory.value.endswith(" MB")
    assert parameters.value == f"{5 * 512 + 512 + 512 + 1:,}" == "3,585"
    assert (
        "**Inputs:** 1 numeric column, standardized; 1 category column, one-hot: 5 inputs"
        in texts(at.markdown)
    )
    table = at.dataframe[0].value
    assert list(table["Layer"]) == [
        "Inputs: 1 numeric column, standardized",
        "Inputs: 1 category column, one-hot",
        "Dense",
        "Output (Dense)",
        "Total",
    ]
    assert list(table["Units"]) == ["1", "4", "512", "1", ""]
    assert list(table["Activation"]) == ["", "", "relu", "linear", ""]
    assert list(table["Parameters"]) == ["", "", "3,072", "513", "3,585"]
    assert table["Notes"].iloc[3] == "loss: mean squared error"
    words = outside_keras_summary(at)
    assert not [word for word in KERAS_WORDS if word in words]
    assert keras_summary(at) is None


def test_the_table_is_split_again_only_when_the_inputs_can_change(model_page, monkeypatch):
    from layerlab_app import spec_view

    splits = []
    real = spec_view.training_split
    monkeypatch.setattr(spec_view, "training_split", lambda *args: splits.append(1) or real(*args))
    at = one_network(model_page.button(key="preset_small").click().run())
    at.number_input(key="layer_0_units").set_value(24).run()
    assert splits == [] and at.metric[1].value == f"{5 * 24 + 24 + 24 + 1:,}"
    at.number_input(key="seed").set_value(7).run()
    assert splits == [1]
    assert not at.exception


def test_keras_own_summary_stays_available_folded(model_page):
    at = one_network(model_page.button(key="preset_small").click().run())
    at.button(key="show_summary").click().run()
    assert not at.exception
    folded = keras_summary(at)
    assert folded is not None and not folded.proto.expanded
    assert "StringLookup" in folded.code[0].value and "dense_1" in folded.code[0].value
    # Keras's names appear only there.
    assert [code.value for code in at.code if "StringLookup" in code.value] == [
        folded.code[0].value
    ]
    assert not [word for word in KERAS_WORDS if word in outside_keras_summary(at)]
    # The words and Keras's own count agree, and Keras's summary is kept for this spec.
    assert at.metric[1].value == "113"
    assert "Total params: 113 " in folded.code[0].value
    at.run()
    assert keras_summary(at) is not None


def test_a_new_tables_ensemble_of_four_counts_four_networks(model_page):
    at = model_page.button(key="preset_small").click().run()
    assert session_of(at).spec.ensemble == 4
    assert at.metric[1].value == f"{4 * 113:,}"  # four networks of the small preset's shape
    table = at.dataframe[0].value
    assert "4 networks of this shape, averaged: 113 each" in table["Notes"].iloc[-1]


def test_a_network_too_big_for_the_memory_budget_is_refused_with_a_smaller_one(
    model_page, monkeypatch
):
    monkeypatch.setenv("LAYERLAB_MEMORY_BUDGET_MB", "40")
    at = model_page.button(key="preset_small").click().run()
    at.number_input(key="layer_0_units").set_value(4096).run()
    assert not at.exception
    refusal = texts(at.error)
    assert "more than the 40 MB one run may use here" in refusal
    assert "Try " in refusal
    assert at.button(key="show_summary").disabled


def test_balanced_class_weights_are_one_choice_beside_the_loss(app):
    seed_dataset(app, iris(), "species")
    at = app.switch_page("app_pages/model.py").run()
    choice = at.selectbox(key="class_weight")
    assert choice.value == "none"
    assert choice.options == [
        "None: every row counts the same",
        "Balanced: every class counts the same",
    ]
    assert "balanced weights make each class count the same in the loss" in choice.help
    choice.set_value("balanced").run()
    assert not at.exception
    assert session_of(at).spec.class_weight == "balanced"
    assert not at.error


def test_regression_has_no_class_weights_even_when_carried_from_a_classifier(app):
    # Settings carry over when the target changes; numbers have no classes to weigh.
    seed_dataset(app, tiny_regression_frame(), "y", class_weight="balanced")
    at = app.switch_page("app_pages/model.py").run()
    assert not at.exception
    assert "class_weight" not in [box.key for box in at.selectbox]
    assert session_of(at).spec.class_weight == "none"
    assert not at.error


def test_a_new_number_target_starts_unweighted_when_settings_are_carried():
    from layerlab.schema.spec import Feature, ModelSpec

    classifier = ModelSpec("label", "binary", [Feature("x", "numeric")], class_weight="balanced")
    fresh = ModelSpec("y", "regression", [Feature("x", "numeric")])
    assert carry_settings(classifier, fresh).class_weight == "none"
    smoothed = classifier.replace(label_smoothing=0.1)
    assert carry_settings(smoothed, fresh).label_smoothing == 0.0
    assert carry_settings(classifier, fresh).learning_rate == classifier.learning_rate


def _network_picture(at) -> str:
    [picture] = [
        chart.proto.spec for chart in at.get("plotly_chart") if "units" in chart.proto.spec
    ]
    return picture


def test_the_picture_of_the_network_follows_the_layers(model_page):
    at = model_page
    before = _network_picture(at)
    assert "64 units" in before and "dropout" not in before
    at.button(key="add_dropout").click().run()
    after = _network_picture(at)
    assert "dropout 0.2" in after
    assert not at.exception


def test_settings_chosen_for_another_table_are_said_and_can_be_reset(app):
    seed_dataset(app, tiny_regression_frame(), "y", epochs=5_000, patience=4_000)
    at = app.switch_page("app_pages/data.py").run()
    at.selectbox(key="sample_dataset").set_value("iris.csv")
    at = at.button(key="load_sample").click().run()
    at = at.switch_page("app_pages/model.py").run()
    assert not at.exception
    spec = session_of(at).spec
    assert (spec.target, spec.epochs, spec.patience) == ("species", 5_000, 4_000)
    note = texts(at.info)
    assert "Carried from the table you used before: epochs 5,000, patience 4,000." in note
    defaults = {name: default for name, _, default in session_of(at).carried}
    assert set(defaults) == {"epochs", "patience"}
    assert f"this table's defaults are epochs {defaults['epochs']:,}, patience" in note
    at = at.button(key="reset_carried").click().run()
    assert not at.exception
    spec = session_of(at).spec
    assert (spec.epochs, spec.patience) == (defaults["epochs"], defaults["patience"])
    assert spec.epochs < 5_000 and spec.patience < 4_000
    assert "Carried from the table" not in texts(at.info)
    assert at.number_input(key="epochs").value == spec.epochs


def test_the_picture_counts_the_inputs_the_model_gets(model_page, monkeypatch):
    """The drawing's inputs are the summary's (x, and colour's 3 categories + the unseen slot),
    not the estimate from the whole table's profiles, which the build never sees."""
    from layerlab_app import network_figure

    def estimate(spec, profiles=None):
        return [network_figure.InputGroup(feature.name, 7) for feature in spec.features]

    monkeypatch.setattr(network_figure, "input_groups_from_spec", estimate)
    at = model_page.button(key="preset_small").click().run()
    assert not at.exception
    drawn = _network_picture(at)
    assert "5 inputs" in drawn and "14 inputs" not in drawn


def test_an_old_spec_with_a_softmax_hidden_layer_is_told_why_not_changed_silently(app):
    old = [LayerSpec.dense(8, "softmax")]
    seed_dataset(app, tiny_regression_frame(), "y", layers=old)
    at = app.switch_page("app_pages/model.py").run()
    assert not at.exception
    assert at.selectbox(key="layer_0_activation").value == "softmax"
    assert "cannot be 'softmax'" in texts(at.error)
    at.selectbox(key="layer_0_activation").set_value("relu").run()
    at.run()
    assert "cannot be 'softmax'" not in texts(at.error)
    assert at.selectbox(key="layer_0_activation").value == "relu"
    assert "softmax" not in at.selectbox(key="layer_0_activation").options
    assert session_of(at).spec.layers[0].activation == "relu"

"""A search space: plain JSON, checked against the same limits as a spec, and every network drawn
from it is a valid spec."""

from __future__ import annotations

import json
import math

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab.runs.search_space import Range, SearchSpace, SearchSpaceError, default_space
from layerlab.schema import limits
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def base_spec(**changes) -> ModelSpec:
    spec = ModelSpec(
        target="price",
        task="regression",
        features=[Feature("rooms", "numeric"), Feature("town", "categorical")],
    )
    return spec.replace(**changes)


def a_trial(seed: int = 0) -> optuna.trial.Trial:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed)).ask()


def test_the_default_space_round_trips_through_json_and_varies_every_setting():
    space = default_space()
    assert SearchSpace.from_json(space.to_json()) == space
    assert json.loads(space.to_json()) == space.to_dict()
    assert space.varied() == list(space.to_dict())
    assert space.validate() is space


def test_a_space_file_names_only_what_it_varies_and_the_rest_keeps_the_specs_values():
    space = SearchSpace.from_dict({"learning_rate": {"low": 0.001, "high": 0.1}})
    spec = space.sample(a_trial(), base_spec(optimizer="sgd", batch_size=8))
    assert spec.layers == base_spec().layers
    assert (spec.optimizer, spec.batch_size) == ("sgd", 8)
    assert 0.001 <= spec.learning_rate <= 0.1
    assert space.to_dict() == {"learning_rate": {"low": 0.001, "high": 0.1}}


def test_a_drawn_learning_rate_has_three_significant_figures_and_stays_in_its_range():
    space = SearchSpace.from_dict({"learning_rate": {"low": 0.0001, "high": 0.01}})
    for seed in range(20):
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
        rate = space.sample(trial, base_spec()).learning_rate
        assert 0.0001 <= rate <= 0.01
        assert rate == float(f"{rate:.3g}")


def test_every_problem_is_reported_at_once_naming_what_is_allowed_and_what_it_got():
    with pytest.raises(SearchSpaceError) as raised:
        SearchSpace.from_dict(
            {
                "units": [0, 64, 5000],
                "activations": ["relu", "swishy"],
                "hidden_layers": [1, 3],
                "learning_rate": {"low": 0, "high": 0.1},
                "dropout_rate": {"low": 0.0, "high": 0.3, "step": 0.2},
                "batch_sizes": [],
                "epochs": 10,
            }
        )
    problems = raised.value.problems
    assert len(problems) == 7
    text = str(raised.value)
    assert text.startswith("The search space has 7 problems:")
    assert "Unknown search setting(s) 'epochs'" in text
    assert "Each of the 'units' must be a whole number from 1 to 4096; got 0, 5000." in text
    assert "one of relu, leaky_relu" in text and "got 'swishy'" in text
    assert (
        'The \'hidden_layers\' must be a range such as {"low": 1, "high": 3}; got [1, 3].' in text
    )
    assert "The 'learning_rate' low must be > 0 and at most 10; got 0." in text
    assert "a whole number of steps; got a step of 0.2" in text
    assert "The 'batch_sizes' must list at least one choice; got an empty list." in text


def test_a_range_upside_down_a_space_that_varies_nothing_and_bad_json_are_plain_messages():
    with pytest.raises(SearchSpaceError, match="low must be at most its high; got low 3"):
        SearchSpace.from_dict({"hidden_layers": {"low": 3, "high": 1}})
    with pytest.raises(SearchSpaceError, match="varies nothing"):
        SearchSpace.from_dict({"optimizers": ["adam"], "batch_sizes": [32, 32]})
    with pytest.raises(SearchSpaceError, match="not valid JSON"):
        SearchSpace.from_json("{units: [1, 2]")
    with pytest.raises(SearchSpaceError, match="must be a JSON object"):
        SearchSpace.from_json("[16, 32]")
    with pytest.raises(SearchSpaceError, match="range takes high, low; got high, lo"):
        SearchSpace.from_dict({"units": {"lo": 8, "high": 64}})


def test_deep_networks_with_dropout_after_each_layer_must_fit_the_layer_limit():
    too_deep = limits.LAYERS.high // 2 + 1
    with pytest.raises(SearchSpaceError, match=f"'hidden_layers' may reach at most {too_deep - 1}"):
        SearchSpace(hidden_layers=Range(1, too_deep), dropout_rate=Range(0.0, 0.2)).validate()
    with pytest.raises(SearchSpaceError, match="For deeper networks"):
        SearchSpace(hidden_layers=Range(1, too_deep)).validate()  # its dropout would follow
    SearchSpace(hidden_layers=Range(1, too_deep), dropout_rate=Range(0.0, 0.0)).validate()


def test_parameters_have_the_same_names_every_time_and_a_single_choice_is_not_asked():
    space = default_space().replace(optimizers=("adam",))
    names = set()
    for seed in range(20):
        trial = a_trial(seed)
        spec = space.sample(trial, base_spec())
        names |= set(trial.params)
        assert spec.optimizer == "adam"
        depth = trial.params["hidden_layers"]
        assert [name for name in trial.params if name.startswith("units_")] == [
            f"units_{position}" for position in range(1, depth + 1)
        ]
    assert names == {
        "hidden_layers",
        "activation",
        "dropout_rate",
        "units_1",
        "units_2",
        "units_3",
        "learning_rate",
        "batch_size",
    }


def test_a_dropout_rate_of_zero_adds_no_dropout_layer_and_others_follow_every_dense_layer():
    space = SearchSpace(hidden_layers=Range(2, 2), dropout_rate=Range(0.0, 0.1, 0.1))
    kinds = set()
    for seed in range(12):
        trial = a_trial(seed)
        layers = space.sample(trial, base_spec()).layers
        if trial.params["dropout_rate"] == 0:
            assert [layer.kind for layer in layers] == ["dense", "dense"]
        else:
            assert [layer.kind for layer in layers] == ["dense", "dropout", "dense", "dropout"]
            assert {layer.rate for layer in layers if layer.kind == "dropout"} == {0.1}
        kinds.add(len(layers))
    assert kinds == {2, 4}


def test_a_log_range_of_units_draws_whole_numbers_within_it():
    space = SearchSpace(units=Range(8, 512))
    widths = [
        layer.units
        for seed in range(30)
        for layer in space.sample(a_trial(seed), base_spec()).layers
    ]
    assert all(isinstance(units, int) and 8 <= units <= 512 for units in widths)
    assert min(widths) < 32 and max(widths) > 128  # log scale: small widths are as likely


# ------------------------------------------------------------------ the property
def _ints(limit, low=None):
    return st.integers(int(low if low is not None else limit.low), int(min(limit.high, 4096)))


@st.composite
def valid_spaces(draw) -> SearchSpace:
    def maybe(strategy):
        return draw(st.one_of(st.none(), strategy))

    def range_of(low, high):
        a, b = draw(low), draw(high)
        return Range(min(a, b), max(a, b))

    with_dropout = draw(st.booleans())
    deepest = limits.LAYERS.high // 2
    hidden = maybe(
        st.just(None).map(lambda _: range_of(st.integers(0, 4), st.integers(0, deepest)))
    )
    units = maybe(
        st.one_of(
            st.lists(_ints(limits.UNITS), min_size=1, max_size=5).map(tuple),
            st.just(None).map(lambda _: range_of(_ints(limits.UNITS), _ints(limits.UNITS))),
        )
    )
    dropout = None
    if with_dropout:
        step = draw(st.sampled_from([0.05, 0.1, 0.25]))
        spans = draw(st.integers(0, math.floor(limits.DROPOUT_RATE.high / step + 1e-9)))
        low = draw(st.integers(0, spans))
        dropout = Range(round(low * step, 10), round(spans * step, 10), step)
    learning_rate = maybe(
        st.just(None).map(
            lambda _: range_of(
                st.floats(1e-6, limits.LEARNING_RATE.high),
                st.floats(1e-6, limits.LEARNING_RATE.high),
            )
        )
    )
    space = SearchSpace(
        hidden_layers=hidden,
        units=units,
        activations=maybe(st.lists(st.sampled_from(limits.ACTIVATIONS), min_size=1).map(tuple)),
        dropout_rate=dropout,
        optimizers=maybe(st.lists(st.sampled_from(limits.OPTIMIZERS), min_size=1).map(tuple)),
        learning_rate=learning_rate,
        batch_sizes=maybe(st.lists(_ints(limits.BATCH_SIZE), min_size=1, max_size=4).map(tuple)),
    )
    if not space.varied():
        space = space.replace(optimizers=("adam", "sgd"))
    return space


@st.composite
def base_specs(draw) -> ModelSpec:
    layers = draw(
        st.lists(
            st.one_of(
                st.builds(
                    LayerSpec.dense, _ints(limits.UNITS), st.sampled_from(limits.ACTIVATIONS)
                ),
                st.builds(LayerSpec.dropout, st.sampled_from([0.0, 0.2, 0.5])),
                st.just(LayerSpec.batch_norm()),
            ),
            max_size=4,
        )
    )
    return base_spec(layers=layers)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=valid_spaces(), base=base_specs(), seed=st.integers(0, 2**31 - 1))
def test_every_network_drawn_from_a_valid_space_is_a_valid_spec(space, base, seed):
    space.validate()
    assert SearchSpace.from_dict(json.loads(space.to_json())) == space
    spec = space.sample(a_trial(seed), base)
    assert spec.validate() is spec
    assert (spec.target, spec.features, spec.seed) == (base.target, base.features, base.seed)


# --------------------------------------------------------------------------- the starting network


def test_the_parameters_of_a_network_draw_that_network_again():
    base = ModelSpec("y", "regression", [Feature("x", "numeric")]).replace(
        layers=[
            LayerSpec.dense(64, "tanh"),
            LayerSpec.dropout(0.2),
            LayerSpec.dense(32, "tanh"),
            LayerSpec.dropout(0.2),
        ],
        optimizer="rmsprop",
        learning_rate=0.003,
        batch_size=16,
    )
    space = default_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(space.params_of(base))
    drawn = space.sample(study.ask(), base.replace(layers=[LayerSpec.dense(8)], batch_size=64))
    assert drawn.to_dict() == base.to_dict()


def test_settings_the_space_cannot_draw_are_left_to_the_draw():
    base = ModelSpec("y", "regression", [Feature("x", "numeric")]).replace(
        layers=[LayerSpec.dense(48, "relu")], learning_rate=0.5, batch_size=32
    )
    params = default_space().params_of(base)
    assert "units_1" not in params  # 48 is not one of the space's widths
    assert "learning_rate" not in params  # above the space's range
    assert params["hidden_layers"] == 1 and params["batch_size"] == 32

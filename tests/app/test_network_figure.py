"""The network diagram: one circle per unit while it fits, a bounded picture when it does not."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab_app.network_columns import MAX_DRAWN_UNITS, MAX_INPUT_SLOTS
from layerlab_app.network_figure import (
    GREY_EDGE,
    MAX_EDGES,
    MAX_WIDTH,
    InputGroup,
    input_groups_from_spec,
    network_figure,
)


def small_spec(**changes) -> ModelSpec:
    spec = ModelSpec(
        target="price",
        task="regression",
        features=[
            Feature("age", "numeric"),
            Feature("rooms", "numeric"),
            Feature("garden", "boolean"),
        ],
        layers=[LayerSpec.dense(4, "relu"), LayerSpec.dense(3, "tanh")],
    )
    return spec.replace(**changes)


def big_spec() -> ModelSpec:
    return ModelSpec(
        target="y",
        task="regression",
        features=[Feature(f"column {number}", "numeric") for number in range(10)],
        layers=[LayerSpec.dense(1000) for _ in range(20)],
    )


def trace(figure, name: str):
    (found,) = [item for item in figure.data if item.name == name]
    return found


def circles(figure, name: str = "units") -> int:
    return len(trace(figure, name).x)


def segments(figure) -> int:
    return sum(int(np.isnan(np.asarray(item.x, dtype=float)).sum()) for item in lines(figure))


def lines(figure) -> list:
    return [item for item in figure.data if item.mode == "lines"]


def edge_colors(figure) -> set[str]:
    return {item.line.color for item in lines(figure)}


def texts(figure, name: str) -> list[str]:
    return list(trace(figure, name).text)


def kernels(spec: ModelSpec, n_inputs: int, outputs: int = 1, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    widths = [n_inputs] + [layer.units for layer in spec.layers if layer.kind == "dense"]
    return [rng.normal(size=shape) for shape in zip(widths, [*widths[1:], outputs], strict=True)]


def test_small_network_draws_one_circle_per_unit_with_its_layer_labels():
    figure = network_figure(small_spec())
    assert circles(figure, "inputs") == 3
    assert circles(figure) == 4 + 3 + 1
    assert list(trace(figure, "elided").x) == []
    assert segments(figure) == 3 * 4 + 4 * 3 + 3 * 1
    assert texts(figure, "layer titles") == [
        "<b>Inputs</b>",
        "<b>Dense 1</b>",
        "<b>Dense 2</b>",
        "<b>Output</b>",
    ]
    assert texts(figure, "layer captions") == [
        "3 inputs<br>from 3 columns",
        "4 units<br>relu",
        "3 units<br>tanh",
        "1 unit<br>linear",
    ]
    assert texts(figure, "input names") == ["age", "rooms", "garden"]
    assert texts(figure, "output names") == ["price (predicted)"]


def test_hovering_a_unit_names_its_layer_width_and_activation():
    hovers = list(trace(network_figure(small_spec()), "units").hovertext)
    assert hovers[0] == "Dense 1: unit 1 of 4 units<br>activation relu"
    assert hovers[-1] == "Output: unit 1 of 1 unit<br>activation linear<br>price (predicted)"


def test_a_missing_indicator_is_its_own_input_beside_the_column():
    figure = network_figure(small_spec(), input_groups=[("age", 2), ("rooms", 1), ("garden", 1)])
    assert circles(figure, "inputs") == 4
    assert texts(figure, "input names") == ["age", "age missing", "rooms", "garden"]
    assert "1 where the value is missing" in trace(figure, "inputs").hovertext[1]


def test_twenty_layers_of_a_thousand_units_stay_bounded_readable_and_fast():
    spec = big_spec()
    weights = kernels(spec, n_inputs=10)
    network_figure(spec)  # the first call pays for Plotly's imports
    started = time.perf_counter()
    plain = network_figure(spec)
    coloured = network_figure(spec, weights=weights)
    assert (time.perf_counter() - started) / 2 < 0.5

    for figure in (plain, coloured):
        assert circles(figure) == 20 * MAX_DRAWN_UNITS + 1
        assert len(trace(figure, "elided").x) == 20
        assert 0 < segments(figure) <= MAX_EDGES
        assert len(lines(figure)) <= 8  # one trace per colour, not one per line
        assert figure.layout.width <= MAX_WIDTH
    captions = texts(plain, "layer captions")
    assert captions[1:-1] == ["1,000 units<br>relu"] * 20
    assert "992 more units" in trace(plain, "elided").hovertext[0]


def test_edges_are_shared_out_when_there_are_too_many_to_draw():
    spec = big_spec().replace(layers=[LayerSpec.dense(1000) for _ in range(32)])
    figure = network_figure(spec)
    assert MAX_EDGES - 40 <= segments(figure) <= MAX_EDGES


def test_dropout_and_batch_norm_are_marked_on_the_layer_they_follow():
    layers = [
        LayerSpec.batch_norm(),
        LayerSpec.dense(4),
        LayerSpec.dropout(0.2),
        LayerSpec.dense(3),
        LayerSpec.batch_norm(),
        LayerSpec.dropout(0.5),
    ]
    figure = network_figure(small_spec(layers=layers))
    assert texts(figure, "layer titles") == [
        "batch norm<br><b>Inputs</b>",
        "dropout 0.2<br><b>Dense 1</b>",
        "batch norm<br>dropout 0.5<br><b>Dense 2</b>",
        "<b>Output</b>",
    ]
    assert len(figure.layout.shapes) == 3


def test_a_three_class_output_has_one_unit_per_class():
    spec = small_spec(task="multiclass", target="species")
    figure = network_figure(spec, classes=("setosa", "versicolor", "virginica"))
    assert circles(figure) == 4 + 3 + 3
    assert texts(figure, "output names") == ["setosa", "versicolor", "virginica"]
    assert texts(figure, "layer captions")[-1] == "3 units<br>softmax"


def test_a_sigmoid_output_is_one_unit_for_the_positive_class():
    figure = network_figure(small_spec(task="binary", target="churn"), classes=("no", "yes"))
    assert circles(figure) == 4 + 3 + 1
    assert texts(figure, "output names") == ["P(yes)"]
    assert texts(figure, "layer captions")[-1] == "1 unit<br>sigmoid"


def test_an_output_with_classes_not_known_yet_says_one_unit_per_class():
    figure = network_figure(small_spec(task="multiclass"))
    assert texts(figure, "layer captions")[-1] == "one unit per class<br>softmax"


def test_weights_colour_the_lines_by_sign_and_size():
    spec = small_spec()
    groups = [("age", 1), ("rooms", 1), ("garden", 1)]
    weights = kernels(spec, n_inputs=3)
    plain = network_figure(spec, input_groups=groups)
    coloured = network_figure(spec, input_groups=groups, weights=weights)
    assert edge_colors(plain) == {GREY_EDGE}
    assert GREY_EDGE not in edge_colors(coloured)
    assert len(edge_colors(coloured)) > 2
    assert segments(coloured) == segments(plain)
    strongest = [item for item in lines(coloured) if "75–100%" in item.name]
    assert strongest, "each layer's largest weight is in the strongest bin"


def test_lines_from_guessed_inputs_stay_grey_where_rows_cannot_be_matched():
    spec = small_spec(features=[Feature("city", "categorical"), Feature("age", "numeric")])
    # The spec alone does not say how many categories "city" has: its lines stay grey.
    figure = network_figure(spec, weights=kernels(spec, n_inputs=9))
    assert GREY_EDGE in edge_colors(figure)
    assert len(edge_colors(figure)) > 1


def test_weights_of_the_wrong_shape_say_what_was_expected():
    spec = small_spec()
    with pytest.raises(ValueError, match="one kernel per Dense layer and one for the output, 3"):
        network_figure(spec, weights=kernels(spec, n_inputs=3)[:2])
    wrong = kernels(spec, n_inputs=3)
    wrong[1] = np.zeros((4, 5))
    with pytest.raises(ValueError, match=r"Dense 2 must have shape \(4, 3\); got \(4, 5\)"):
        network_figure(spec, weights=wrong)


def test_a_wide_one_hot_group_shows_its_first_inputs_an_ellipsis_and_the_last():
    spec = small_spec(features=[Feature("city", "categorical")])
    figure = network_figure(spec, input_groups=[("city", 12)])
    assert circles(figure, "inputs") == 3
    assert texts(figure, "input names") == ["city<br>one-hot, 12 inputs"]
    assert "9 more one-hot inputs" in trace(figure, "elided").hovertext[0]
    unknown = network_figure(spec)
    assert texts(unknown, "input names") == ["city<br>one-hot, size set when built"]


def test_many_columns_fold_into_a_count_of_the_rest():
    spec = small_spec(features=[Feature(f"c{number}", "numeric") for number in range(60)])
    figure = network_figure(spec)
    drawn = circles(figure, "inputs")
    assert drawn <= MAX_INPUT_SLOTS
    assert texts(figure, "input names")[-1] == f"{60 - drawn} more columns"
    assert texts(figure, "layer captions")[0] == "60 inputs<br>from 60 columns"


def test_input_groups_from_the_spec_guess_and_profiles_sharpen():
    spec = small_spec(
        features=[
            Feature("age", "numeric"),
            Feature("city", "categorical"),
            Feature("ok", "boolean"),
        ]
    )
    assert input_groups_from_spec(spec) == [("age", 1), ("city", None), ("ok", 1)]
    profiles = [
        SimpleNamespace(name="age", missing=3, distinct=40),
        SimpleNamespace(name="city", missing=0, distinct=7),
        SimpleNamespace(name="ok", missing=1, distinct=2),
    ]
    assert input_groups_from_spec(spec, profiles) == [
        InputGroup("age", 2),
        InputGroup("city", 8),  # seven categories and the slot for unseen ones
        InputGroup("ok", 1),
    ]
    many = [SimpleNamespace(name="city", missing=0, distinct=5000)]
    assert input_groups_from_spec(spec, many)[1] == ("city", 101)


def test_names_from_the_data_are_shown_as_typed():
    spec = small_spec(
        target="<a href='x'>y</a>",
        features=[Feature("<b>city</b>", "categorical"), Feature("**x**", "numeric")],
    )
    figure = network_figure(spec, input_groups=[("<b>city</b>", 3), ("**x**", 1)])
    assert texts(figure, "input names") == ["&lt;b&gt;city&lt;/b&gt;<br>one-hot, 3 inputs", "**x**"]
    assert texts(figure, "output names") == ["&lt;a href='x'&gt;y&lt;/a&gt; (predicted)"]
    assert all(hover.startswith("&lt;b&gt;city") for hover in trace(figure, "inputs").hovertext[:3])
    shown = figure.to_json()
    assert "<b>city" not in shown
    assert "<a href" not in shown

    labels = ("<b>bold</b>", "a & b", "<br>")
    classified = network_figure(small_spec(task="multiclass"), classes=labels)
    assert texts(classified, "output names") == [
        "&lt;b&gt;bold&lt;/b&gt;",
        "a &amp; b",
        "&lt;br&gt;",
    ]


def test_long_names_are_cut_in_the_label_and_whole_in_the_hover():
    name = "a very long column name that goes on and on"
    figure = network_figure(small_spec(features=[Feature(name, "numeric")]))
    (label,) = texts(figure, "input names")
    assert label.endswith("…") and len(label) <= 22
    assert trace(figure, "inputs").hovertext[0].startswith(name)

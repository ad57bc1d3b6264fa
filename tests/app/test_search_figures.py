"""The Search panel's figures speak the app's words: trials from 1 on whole-number ticks,
settings named as on the Model page, "validation loss" for the objective."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.runs.study import TrialRow
from layerlab.schema.spec import default_spec
from layerlab.tabular.data import profile_columns
from layerlab_app.search_figures import history_figure, importance_figure, settings_figure


def trial(number: int, loss: float | None, status: str = "finished", spec=None, **params):
    return TrialRow(number, status, loss, 5, 4, 1.0, spec, params)


def test_the_history_numbers_trials_from_1_on_whole_number_ticks():
    rows = [trial(0, 0.5), trial(1, 0.7), trial(2, 0.3), trial(3, None, "running")]
    figure = history_figure(rows)
    each, best = figure.data
    assert list(each.x) == [1, 2, 3] and list(best.x) == [1, 2, 3]
    assert list(best.y) == [0.5, 0.5, 0.3]  # the best so far
    assert best.name == "best so far"
    axis = figure.layout.xaxis
    assert axis.title.text == "Trial"
    assert (axis.tickmode, axis.tick0, axis.dtick, axis.tickformat) == ("linear", 1, 1, "d")
    assert tuple(axis.range) == (0.5, 4.5)  # the running trial 4 has its place
    assert figure.layout.yaxis.title.text == "Validation loss"
    assert "Objective" not in figure.to_json()
    many = history_figure([trial(number, 1.0 / (number + 1)) for number in range(40)])
    assert many.layout.xaxis.dtick == 4 and many.layout.xaxis.tick0 == 1  # 1, 5, 9 ...


def test_a_regression_searchs_loss_says_it_is_on_the_standardized_target():
    frame = pd.DataFrame({"x": np.arange(10.0), "y": np.arange(10.0)})
    spec = default_spec("y", "regression", profile_columns(frame, "y"))
    figure = history_figure([trial(0, 0.2, spec=spec)])
    assert figure.layout.yaxis.title.text == "Validation loss, on the standardized target"


def test_the_settings_figure_names_each_setting_as_the_model_page_does():
    rows = [
        trial(0, 0.5, hidden_layers=1, units_1=16, activation="relu", learning_rate=0.001),
        trial(
            1, 0.4, hidden_layers=2, units_1=32, units_2=8, activation="tanh", learning_rate=0.01
        ),
        trial(2, 0.6, hidden_layers=1, units_1=16, activation="relu", learning_rate=0.003),
        trial(3, None, "failed", hidden_layers=3, units_1=64),
    ]
    figure = settings_figure(rows)
    dimensions = {dimension.label: dimension for dimension in figure.data[0].dimensions}
    assert list(dimensions) == [
        "Hidden layers",
        "Units in layer 1",
        "Units in layer 2",
        "Activation",
        "Learning rate",
        "Validation loss",
    ]
    layer_2 = dimensions["Units in layer 2"]
    assert list(layer_2.ticktext) == ["none", "8"] and list(layer_2.values) == [0, 8, 0]
    assert list(dimensions["Activation"].ticktext) == ["relu", "tanh"]
    rate = dimensions["Learning rate"]  # on a log scale, its ticks in plain numbers
    assert list(rate.ticktext) == ["0.001", "0.003", "0.01"]
    assert list(rate.values) == pytest.approx([-3, -2, np.log10(0.003)])
    assert figure.data[0].line.colorbar.title.text == "Validation loss"
    assert settings_figure([trial(0, 0.5, units_1=16), trial(1, 0.4, units_1=16)]) is None


def test_the_importance_figure_ranks_the_settings_by_their_model_page_names():
    figure = importance_figure({"learning_rate": 0.7, "units_1": 0.2, "batch_size": 0.1})
    bars = figure.data[0]
    assert list(bars.y) == ["Batch size", "Units in layer 1", "Learning rate"]  # largest on top
    assert list(bars.x) == [0.1, 0.2, 0.7]
    assert figure.layout.xaxis.tickformat == ".0%"
    assert "validation loss" in figure.layout.xaxis.title.text

"""The network in the analyst's words (``report.network_summary``): its inputs per kind of
column, its layers, output and totals, and counts equal to what Keras builds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.report.network_summary import COLUMNS, summarize_network
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab.tabular.input_widths import (
    ColumnInputs,
    column_inputs,
    from_widths,
    training_split,
)
from layerlab.tabular.task import check_target


def _wide_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """8 numbers (one with gaps), 3 category columns (one spelled two ways, one with 130
    values: more than the model keeps), a yes/no column and a 3-class target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n).round(2) for i in range(8)})
    frame.loc[::11, "x3"] = np.nan
    frame["island"] = rng.choice(["Biscoe", "Dream", "Torgersen"], n)
    frame["sex"] = rng.choice(["MALE", "male", "female"], n)  # MALE and male are one category
    frame["code"] = [f"c{i % 130}" for i in range(n)]
    frame["member"] = rng.choice(["yes", "no"], n)
    frame["species"] = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n)
    return frame


def _wide_spec(**changes) -> ModelSpec:
    features = [Feature(f"x{i}", "numeric") for i in range(8)]
    features += [Feature(name, "categorical") for name in ("island", "sex", "code")]
    features.append(Feature("member", "boolean"))
    spec = ModelSpec(target="species", task="multiclass", features=features)
    return spec.replace(**changes)


SPECS = {
    "default layers, 3 classes": (_wide_spec(), "wide"),
    "dropout and batch norm": (
        _wide_spec(
            layers=[
                LayerSpec.dense(32, "relu", l2=0.001),
                LayerSpec.batch_norm(),
                LayerSpec.dropout(0.25),
                LayerSpec.dense(8, "tanh"),
            ]
        ),
        "wide",
    ),
    "piecewise bins, robust scaling, an ensemble": (
        _wide_spec(numeric_embedding="piecewise", scaling="robust", ensemble=3),
        "wide",
    ),
    "binary with gaps": (None, "binary"),
    "regression, batch norm first": (None, "regression"),
}


def _case(name: str, table_spec, make_table):
    spec, table = SPECS[name]
    if table == "wide":
        return spec, _wide_table()
    frame = make_table(task=table)
    if table == "binary":
        return table_spec(
            "binary", layers=[LayerSpec.dense(24, "relu"), LayerSpec.dropout(0.1)]
        ), frame
    return table_spec("regression", layers=[LayerSpec.batch_norm(), LayerSpec.dense(16)]), frame


@pytest.mark.parametrize("name", list(SPECS))
def test_the_counts_are_those_of_the_model_keras_builds(name, table_spec, make_table):
    from layerlab.model.build import build_model

    spec, frame = _case(name, table_spec, make_table)
    classes = check_target(frame, spec.target, spec.task).classes
    train = training_split(frame, spec)
    columns = column_inputs(spec, train)
    summary = summarize_network(spec, columns, len(classes))

    built = build_model(spec, train, classes)
    assert [column.inputs for column in columns] == list(built.input_widths)
    assert summary.n_inputs == built.n_features
    assert summary.params == built.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in built.model.trainable_weights)
    assert summary.trainable == trainable
    assert summary.rows[-1].layer == "Total"
    assert summary.rows[-1].as_dict()["Parameters"] == f"{built.count_params():,}"


def test_inputs_are_said_as_the_person_chose_them():
    spec, frame = _wide_spec(), _wide_table()
    train = training_split(frame, spec)
    columns = column_inputs(spec, train)
    by_name = {column.column: column for column in columns}
    assert by_name["x3"].missing_flag and by_name["x3"].inputs == 2
    assert by_name["sex"].categories == 2  # MALE and male: one category, as the model reads it
    assert by_name["code"].categories == 100  # the most common 100
    summary = summarize_network(spec, columns, 3)
    n = 8 + 1 + (3 + 1) + (2 + 1) + (100 + 1) + 1
    assert summary.inputs_sentence() == (
        "8 numeric columns, standardized; 3 category columns, one-hot; "
        f"1 yes/no column, as 1 or 0: {n} inputs"
    )
    table = summary.table()
    assert list(table[0]) == list(COLUMNS)
    assert [row["Layer"] for row in table] == [
        "Inputs: 8 numeric columns, standardized",
        "Inputs: 3 category columns, one-hot",
        "Inputs: 1 yes/no column, as 1 or 0",
        "Dense",
        "Dense",
        "Output (Dense)",
        "Total",
    ]
    assert table[0]["Notes"].endswith("1 flag for blanks (columns with gaps in the training rows)")
    assert "at most the 100 most common categories" in table[1]["Notes"]
    first = table[3]
    # Thousands separated: 118 inputs x 64 units + 64 biases.
    assert (first["Units"], first["Activation"], first["Parameters"]) == ("64", "relu", "7,616")
    output = table[5]
    assert (output["Units"], output["Activation"]) == ("3", "softmax")
    assert output["Notes"] == "one unit per class; loss: categorical cross-entropy"
    assert table[-1]["Notes"] == f"{n} inputs → 3 outputs"


def test_dropout_batch_norm_and_an_ensemble_are_said_in_words():
    spec = _wide_spec(
        layers=[LayerSpec.dense(16), LayerSpec.batch_norm(), LayerSpec.dropout(0.2)], ensemble=2
    )
    columns = [ColumnInputs("x", "numeric", 4)]
    rows = summarize_network(spec, columns, 3).table()
    assert rows[2] == {
        "Layer": "BatchNorm",
        "Units": "16",
        "Activation": "",
        "Parameters": "64",
        "Notes": "32 learned, 32 running statistics",
    }
    assert rows[3]["Notes"] == "switches off 20% of the units at random while training"
    each = (4 * 16 + 16) + 64 + (16 * 3 + 3)
    assert rows[-1]["Parameters"] == f"{2 * each:,}"
    assert "2 networks of this shape, averaged: 195 each" in rows[-1]["Notes"]


def test_recorded_widths_give_the_same_inputs_without_the_table():
    spec = _wide_spec(features=[Feature("a", "numeric"), Feature("b", "categorical")])
    columns = from_widths(spec, [("a", 2), ("b", 5)])
    assert [(c.inputs, c.missing_flag, c.categories) for c in columns] == [
        (2, True, None),
        (5, False, 4),
    ]
    assert from_widths(spec, [("a", 2)]) is None
    assert from_widths(spec, [("a", 2), ("b", None)]) is None

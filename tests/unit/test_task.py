"""Choosing a target: what Layerlab infers, and what it refuses and why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.errors import TargetError
from layerlab.tabular.task import (
    MAX_CLASSES,
    TASKS,
    TargetInfo,
    check_target,
    describe_task,
    drop_missing_target,
    infer_task,
)


def table(target: list, **features: list) -> pd.DataFrame:
    columns = {"x": list(range(len(target))), **features, "target": target}
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------- inferring the task


def test_many_different_numbers_are_regression():
    assert infer_task(pd.Series(np.linspace(0, 1, 30))) == "regression"
    assert infer_task(pd.Series(range(30))) == "regression"


def test_two_values_are_binary_whatever_their_type():
    assert infer_task(pd.Series(["yes", "no", "yes"])) == "binary"
    assert infer_task(pd.Series([0, 1, 1, 0])) == "binary"
    assert infer_task(pd.Series([True, False])) == "binary"


def test_few_labels_or_few_whole_numbers_are_multiclass():
    assert infer_task(pd.Series(["a", "b", "c", "a"])) == "multiclass"
    assert infer_task(pd.Series([1, 2, 3, 4, 5] * 4)) == "multiclass"
    assert infer_task(pd.Series([1.0, 2.0, 3.0, np.nan])) == "multiclass"


def test_few_fractional_numbers_are_regression():
    assert infer_task(pd.Series([0.5, 1.5, 2.5] * 4)) == "regression"


def test_describe_task_in_plain_words():
    assert describe_task("regression") == "Predicting a number (regression)"
    assert describe_task("binary") == "Predicting one of two classes (binary classification)"
    assert describe_task("multiclass") == (
        "Predicting one of several classes (multiclass classification)"
    )
    assert TASKS == ("regression", "binary", "multiclass")


# --------------------------------------------------------------------------- usable targets


def test_binary_target_lists_sorted_classes_and_dropped_rows():
    df = table(["yes", "no"] * 6 + [None, " "])
    info = check_target(df, "target")
    assert info == TargetInfo(
        column="target", task="binary", classes=("no", "yes"), dropped_rows=2, rows=12
    )


def test_numeric_classes_are_category_text_in_number_order():
    df = table([1.0, 2.0, 10.0] * 4 + [np.nan])
    info = check_target(df, "target")
    assert info.task == "multiclass"
    assert info.classes == ("1", "2", "10")


def test_regression_target_has_no_classes():
    info = check_target(table(list(np.linspace(0, 10, 12))), "target")
    assert (info.task, info.classes, info.rows) == ("regression", (), 12)


def test_asked_task_overrides_inference():
    assert check_target(table([1, 2, 3] * 4), "target", task="regression").task == "regression"


def test_drop_missing_target_renumbers_rows():
    df = table([1.0, np.nan, 2.0, None])
    kept = drop_missing_target(df, "target")
    assert kept["target"].tolist() == [1.0, 2.0]
    assert kept.index.tolist() == [0, 1]


# --------------------------------------------------------------------------- refused targets


def test_unknown_column_lists_available_names():
    df = table([1] * 12, Species=["a"] * 12)
    with pytest.raises(TargetError, match=r'no column "species".*Did you mean "Species"') as caught:
        check_target(df, "species")
    assert '"x", "Species", "target"' in str(caught.value)


def test_all_missing_target_is_refused():
    with pytest.raises(TargetError, match='Every value of column "target" is missing'):
        check_target(table([None] * 12), "target")


def test_too_few_rows_is_refused():
    with pytest.raises(TargetError, match=r"only 6 rows \(2 more have no value\).*at least 10"):
        check_target(table(["a", "b"] * 3 + [None, None]), "target")


def test_regression_on_words_names_the_values():
    values = [str(i) for i in range(10)] + ["unknown", "n.a."]
    with pytest.raises(TargetError, match=r'2 of its 12 values are not numbers, such as "unknown"'):
        check_target(table(values), "target", task="regression")


def test_mostly_numeric_target_is_inferred_as_regression_and_names_the_stray_value():
    values = [str(i) for i in range(60)] + ["oops"]
    with pytest.raises(TargetError, match='1 of its 61 values is not a number, such as "oops"'):
        check_target(table(values), "target")


def test_regression_on_true_false_suggests_binary():
    with pytest.raises(TargetError, match="Choose binary classification"):
        check_target(table([True, False] * 6), "target", task="regression")


def test_single_class_is_refused_with_its_value():
    with pytest.raises(TargetError, match=r'same value \("yes"\).*at least two classes'):
        check_target(table(["yes"] * 12), "target")


def test_binary_with_three_classes_suggests_multiclass():
    with pytest.raises(TargetError, match=r"has 3: .*Choose multiclass"):
        check_target(table(["a", "b", "c"] * 4), "target", task="binary")


def test_too_many_numeric_classes_suggests_regression():
    df = table(list(range(MAX_CLASSES + 10)) * 2)
    with pytest.raises(TargetError, match=r"has 60 different values.*\(regression\) instead"):
        check_target(df, "target", task="multiclass")


def test_too_many_text_classes_suggests_another_column():
    df = table([f"city {i}" for i in range(MAX_CLASSES + 1)] * 2)
    with pytest.raises(TargetError, match=r"51 different values.*fewer different values"):
        check_target(df, "target")


def test_class_with_one_row_is_named():
    df = table(["a", "b"] * 6 + ["rare"])
    with pytest.raises(TargetError, match=r'Class "rare" has only 1 row.*Remove those rows'):
        check_target(df, "target")


def test_unknown_task_lists_the_tasks():
    with pytest.raises(TargetError, match="Available tasks are: regression, binary, multiclass"):
        check_target(table([1] * 12), "target", task="clustering")

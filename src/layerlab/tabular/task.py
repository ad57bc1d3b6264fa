"""Choose what to predict: check the target column and name the task.

Every problem with a target is found here, before any training starts, and
reported as a ``TargetError`` that names the column and the values at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches

import numpy as np
import pandas as pd

from layerlab.schema.errors import TargetError
from layerlab.schema.vocabulary import Task
from layerlab.tabular.values import as_category_text, per_distinct

TASKS = tuple(Task)
MAX_CLASSES = 50
MIN_ROWS = 10

_TASK_WORDS = {
    Task.REGRESSION: "Predicting a number (regression)",
    Task.BINARY: "Predicting one of two classes (binary classification)",
    Task.MULTICLASS: "Predicting one of several classes (multiclass classification)",
}
# Whole numbers with this many values or fewer read as classes (ratings, grades, counts of
# rooms); with more they read as a quantity.
_MAX_INTEGER_CLASSES = 10
_MOSTLY_NUMBERS = 0.9


@dataclass(frozen=True)
class TargetInfo:
    """A checked target: what to predict, how, and how many rows can be used."""

    column: str
    task: str
    classes: tuple[str, ...]
    dropped_rows: int
    rows: int


def describe_task(task: str) -> str:
    """The task in words a person who has never trained a model can read."""
    _check_task_name(task)
    return _TASK_WORDS[task]


def infer_task(target: pd.Series) -> str:
    """Guess the task from the target's values; ``check_target`` confirms the guess is usable."""
    present = target[~_missing_mask(target)]
    if present.empty:
        raise TargetError(
            f'Column "{target.name}" has no values, so there is nothing to predict. '
            "Expected a column with a value in most rows. Choose another target column."
        )
    distinct = len(pd.unique(as_category_text(present)))
    if distinct <= 2:
        return Task.BINARY
    numbers = _numbers(present)
    if numbers is None:
        return Task.MULTICLASS
    known = numbers[~np.isnan(numbers)]
    if distinct <= _MAX_INTEGER_CLASSES and np.all(np.mod(known, 1) == 0):
        return Task.MULTICLASS
    return Task.REGRESSION


def check_target(df: pd.DataFrame, target_column: str, task: str | None = None) -> TargetInfo:
    """Check that ``target_column`` can be predicted as ``task`` (inferred when None)."""
    _check_column(df, target_column)
    if task is not None:
        _check_task_name(task)
    target = df[target_column]
    missing = _missing_mask(target)
    present = target[~missing]
    if present.empty:
        raise TargetError(
            f'Every value of column "{target_column}" is missing, so there is nothing to '
            "learn from. Expected a column with a value in most rows. Choose another target "
            "column."
        )
    rows, dropped = len(present), int(missing.sum())
    if rows < MIN_ROWS:
        skipped = f" ({dropped} more have no value)" if dropped else ""
        raise TargetError(
            f'Column "{target_column}" has a value in only {rows} rows{skipped}. '
            f"Expected at least {MIN_ROWS} rows, so that a model can be trained and then "
            "checked on rows it has not seen. Add more rows to the file."
        )
    task = task or infer_task(present)
    if task == Task.REGRESSION:
        _check_regression(present, target_column)
        classes: tuple[str, ...] = ()
    else:
        classes = _check_classes(present, target_column, task)
    return TargetInfo(target_column, task, classes, dropped, rows)


def drop_missing_target(df: pd.DataFrame, target_column: str) -> pd.DataFrame:
    """The rows that have a target value, renumbered from 0."""
    _check_column(df, target_column)
    return df[~_missing_mask(df[target_column])].reset_index(drop=True)


def _check_task_name(task: str) -> None:
    if task not in TASKS:
        raise TargetError(
            f'Unknown task "{task}". Available tasks are: {", ".join(TASKS)}. '
            "Pick one of these, or leave the task empty to infer it from the target."
        )


def _check_column(df: pd.DataFrame, target_column: str) -> None:
    if target_column in df.columns:
        return
    names = [str(name) for name in df.columns]
    close = get_close_matches(str(target_column), names, n=1)
    if not close:
        close = [name for name in names if name.lower() == str(target_column).lower()]
    hint = f' Did you mean "{close[0]}"?' if close else ""
    shown = ", ".join(f'"{name}"' for name in names[:8])
    if len(names) > 8:
        shown += f" and {len(names) - 8} more"
    raise TargetError(
        f'There is no column "{target_column}" in the data.{hint} Available columns are: '
        f"{shown or '(none)'}. Choose one of these as the target."
    )


def _missing_mask(values: pd.Series) -> pd.Series:
    """Missing, or text that is only spaces: neither can be a label to learn."""
    mask = values.isna()
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        blank = per_distinct(values, _is_blank_text).astype(bool)
        mask = mask | blank
    return mask


def _is_blank_text(values: np.ndarray) -> np.ndarray:
    return np.array([isinstance(value, str) and not value.strip() for value in values], dtype=bool)


def _numbers(present: pd.Series) -> np.ndarray | None:
    """The values as floats when they are (mostly) numbers, else None."""
    if pd.api.types.is_bool_dtype(present):
        return None
    if pd.api.types.is_numeric_dtype(present):
        return present.to_numpy(dtype=np.float64, na_value=np.nan)
    if any(isinstance(value, bool) for value in present.head(100)):
        return None
    numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    if numbers.notna().mean() < _MOSTLY_NUMBERS:
        return None
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_regression(present: pd.Series, target_column: str) -> None:
    if pd.api.types.is_bool_dtype(present) or (
        not pd.api.types.is_numeric_dtype(present)
        and any(isinstance(value, bool) for value in present.head(100))
    ):
        raise TargetError(
            f'Column "{target_column}" holds true/false values, not numbers, so it cannot be '
            "predicted as a number (regression). Choose binary classification instead."
        )
    if pd.api.types.is_numeric_dtype(present):
        numbers = present.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
        bad = present[parsed.isna().to_numpy()]
        if len(bad):
            examples = ", ".join(f'"{value}"' for value in pd.unique(as_category_text(bad))[:3])
            raise TargetError(
                f'Column "{target_column}" cannot be predicted as a number (regression): '
                f"{len(bad)} of its {len(present)} values {_are_not_numbers(len(bad))}, "
                f"such as {examples}. "
                "Expected numbers only. Fix or remove those values, or choose classification "
                "to predict the values as classes."
            )
        numbers = parsed.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(numbers)):
        raise TargetError(
            f'Column "{target_column}" contains infinite values. Expected finite numbers. '
            "Remove or fix the rows with inf or -inf."
        )
    if np.nanmin(numbers) == np.nanmax(numbers):
        raise TargetError(
            f'Every row of column "{target_column}" has the same value '
            f'("{as_category_text(present.head(1))[0]}"), so there is nothing to learn. '
            "Expected at least two different values. Choose another target column."
        )


def _check_classes(present: pd.Series, target_column: str, task: str) -> tuple[str, ...]:
    labels = pd.Series(as_category_text(present))
    counts = labels.value_counts()
    classes = _sorted_labels(counts.index.tolist())
    if len(classes) < 2:
        raise TargetError(
            f'Every row of column "{target_column}" has the same value ("{classes[0]}"), so '
            "there is only one class and nothing to tell apart. Expected at least two classes. "
            "Choose another target column, or add rows of the other classes."
        )
    if task == Task.BINARY and len(classes) > 2:
        raise TargetError(
            f'Binary classification needs exactly two classes, but column "{target_column}" '
            f"has {len(classes)}: {_label_list(classes)}. Choose multiclass classification "
            "instead."
        )
    if len(classes) > MAX_CLASSES:
        if _numbers(present) is not None:
            advice = "Its values are numbers: predict it as a number (regression) instead."
        else:
            advice = "Choose a column with fewer different values, or group rare values first."
        raise TargetError(
            f'Column "{target_column}" has {len(classes)} different values, more than the '
            f"{MAX_CLASSES} classes Layerlab can predict. {advice}"
        )
    rare = [label for label in classes if counts[label] < 2]
    if rare:
        which = _label_list(rare)
        subject = f"Class {which} has" if len(rare) == 1 else f"Classes {which} have"
        raise TargetError(
            f'{subject} only 1 row in column "{target_column}". Expected at least 2 rows per '
            "class, so that the training and the validation rows can both include it. Remove "
            "those rows, or collect more examples of that class."
        )
    return tuple(classes)


def _are_not_numbers(count: int) -> str:
    return "is not a number" if count == 1 else "are not numbers"


def _sorted_labels(labels: list[str]) -> list[str]:
    """Labels in a stable order: by value when all are numbers (2 before 10), else by text."""
    try:
        return sorted(labels, key=lambda label: (float(label), label))
    except ValueError:
        return sorted(labels)


def _label_list(labels: list[str], limit: int = 5) -> str:
    shown = ", ".join(f'"{label}"' for label in labels[:limit])
    if len(labels) > limit:
        shown += f" and {len(labels) - limit} more"
    return shown

"""How many inputs each feature column becomes in the built model, exactly, without Keras.

``layerlab.model.build`` encodes each column from the training split: a number becomes its
scaled value, a missing-value flag where the training rows have gaps, and with piecewise
bins one input per bin; a category column one input per kept category plus one for
categories never seen; a yes/no column one input. This follows the same rules on the same
rows (``training_split``), so the server can say the model's input width, and its
parameter count, at once; a test compares both with a real build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.schema.encoding import MAX_CATEGORIES, piecewise_edges
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import FeatureKind
from layerlab.tabular.splits import split_frame
from layerlab.tabular.task import drop_missing_target
from layerlab.tabular.values import as_category_keys, as_numeric


@dataclass(frozen=True)
class ColumnInputs:
    """One feature column and the inputs the network gets from it.

    ``missing_flag`` and ``bins`` (numbers) and ``categories`` (one-hot: the kept categories,
    without the slot for unseen ones) say where the inputs come from; None where only the
    width is known (a run's recorded input groups).
    """

    column: str
    kind: FeatureKind
    inputs: int
    missing_flag: bool | None = False
    bins: int | None = 0
    categories: int | None = None


def training_split(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The rows training fits the encodings on: those with a target, split as the trainer
    splits them (seeded). ``ValueError`` where there are too few rows to split."""
    return split_frame(drop_missing_target(frame, spec.target), spec).train


def column_inputs(spec: ModelSpec, train: pd.DataFrame) -> list[ColumnInputs]:
    """The inputs of each of ``spec``'s features, in order, from the training split ``train``."""
    return [
        _column(spec, feature.name, feature.kind, train[feature.name]) for feature in spec.features
    ]


def _column(spec: ModelSpec, name: str, kind: FeatureKind, values: pd.Series) -> ColumnInputs:
    if kind == FeatureKind.NUMERIC:
        numbers = as_numeric(values)
        finite = np.isfinite(numbers)
        flag = not finite.all()
        bins = 0
        if spec.numeric_embedding == "piecewise":
            edges = piecewise_edges(numbers[finite])
            bins = len(edges) - 1 if len(edges) >= 3 else 0
        return ColumnInputs(name, kind, 1 + int(flag) + bins, missing_flag=flag, bins=bins)
    if kind == FeatureKind.CATEGORICAL:
        kept = min(int(pd.Series(as_category_keys(values)).nunique()), MAX_CATEGORIES)
        return ColumnInputs(name, kind, kept + 1, categories=kept)
    return ColumnInputs(name, kind, 1)


def from_widths(spec: ModelSpec, widths: list[tuple[str, int | None]]) -> list[ColumnInputs] | None:
    """Inputs per column from recorded (column, width) pairs (a run's ``network.npz`` groups),
    or None where they do not match ``spec``'s features or a width is unknown."""
    if [name for name, _ in widths] != spec.feature_names or any(
        width is None for _, width in widths
    ):
        return None
    known = []
    for feature, (_, width) in zip(spec.features, widths, strict=True):
        if feature.kind == FeatureKind.NUMERIC and spec.numeric_embedding != "piecewise":
            known.append(ColumnInputs(feature.name, feature.kind, width, missing_flag=width > 1))
        elif feature.kind == FeatureKind.NUMERIC:
            known.append(ColumnInputs(feature.name, feature.kind, width, None, None))
        elif feature.kind == FeatureKind.CATEGORICAL:
            known.append(ColumnInputs(feature.name, feature.kind, width, categories=width - 1))
        else:
            known.append(ColumnInputs(feature.name, feature.kind, width))
    return known

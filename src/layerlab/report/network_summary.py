"""The network in the analyst's words: its inputs as the person chose them, the layers they
built, the output and the totals, from the spec and the training rows alone.

Keras's own summary lists every preprocessing step (``isfinite``, ``nan_to_num``,
``StringLookup``) under names nobody chose; this one says "8 numeric columns,
standardized; 3 category columns, one-hot: 17 inputs", then one row per layer with its
units, activation and parameters. It is arithmetic, so the server shows it at once; the
inputs come from ``layerlab.tabular.input_widths``, which follows ``build.py`` on the same
rows, and a test checks both counts against a real build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from layerlab.schema.encoding import MAX_CATEGORIES
from layerlab.schema.spec import LOSS_NAMES, ModelSpec
from layerlab.schema.vocabulary import FeatureKind, LayerKind
from layerlab.tabular.input_widths import ColumnInputs

COLUMNS = ("Layer", "Units", "Activation", "Parameters", "Notes")
SCALING_WORDS = {"standard": "standardized", "robust": "scaled robustly"}
KIND_ORDER = (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN)


@dataclass(frozen=True)
class SummaryRow:
    """One row of the summary, as the table shows it; blanks where a value means nothing."""

    layer: str
    units: int | None = None
    activation: str = ""
    params: int | None = None
    notes: str = ""

    def as_dict(self) -> dict[str, str]:
        """The row's cells as text, counts with thousands separators (``1,152``)."""
        return dict(
            zip(
                COLUMNS,
                (
                    self.layer,
                    "" if self.units is None else f"{self.units:,}",
                    self.activation,
                    "" if self.params is None else f"{self.params:,}",
                    self.notes,
                ),
                strict=True,
            )
        )


@dataclass(frozen=True)
class NetworkSummary:
    """The inputs per column, the rows of the table, and the counts.

    ``params`` is what Keras's ``count_params`` gives for the whole model: every weight of
    every ensemble member, Batch normalization's running statistics included; ``trainable``
    leaves those statistics out.
    """

    columns: tuple[ColumnInputs, ...]
    rows: tuple[SummaryRow, ...]
    n_inputs: int
    n_outputs: int
    params: int
    trainable: int

    def inputs_sentence(self) -> str:
        """``8 numeric columns, standardized; 3 category columns, one-hot: 17 inputs``."""
        groups = "; ".join(row.layer.removeprefix("Inputs: ") for row in self._input_rows())
        return f"{groups}: {_count(self.n_inputs, 'input')}"

    def table(self) -> list[dict[str, str]]:
        """The rows as the app's table shows them (``COLUMNS``, all text)."""
        return [row.as_dict() for row in self.rows]

    def _input_rows(self) -> list[SummaryRow]:
        return [row for row in self.rows if row.layer.startswith("Inputs: ")]


def summarize_network(
    spec: ModelSpec, columns: Sequence[ColumnInputs], n_classes: int
) -> NetworkSummary:
    """The summary of ``spec`` with the inputs ``columns`` (``input_widths.column_inputs``)
    and, for classification, ``n_classes`` classes. ``spec`` must be valid."""
    rows = [_inputs_row(spec, kind, group) for kind, group in _by_kind(columns)]
    n_inputs = sum(column.inputs for column in columns)
    width, trainable, frozen = n_inputs, 0, 0
    for layer in spec.layers:
        held, fixed, width = layer.weights(width)
        trainable, frozen = trainable + held, frozen + fixed
        rows.append(_layer_row(layer, width, held, fixed))
    activation, loss = spec.resolved_output()
    n_outputs = max(n_classes, 2) if activation == "softmax" else 1
    output = width * n_outputs + n_outputs
    trainable += output
    notes = f"loss: {LOSS_NAMES.get(loss, loss)}"
    if activation == "softmax":
        notes = f"one unit per class; {notes}"
    rows.append(SummaryRow("Output (Dense)", n_outputs, activation, output, notes))
    each = trainable + frozen
    total_notes = f"{_count(n_inputs, 'input')} → {_count(n_outputs, 'output')}"
    if spec.ensemble > 1:
        total_notes += f"; {spec.ensemble} networks of this shape, averaged: {each:,} each"
    if frozen:
        total_notes += (
            f"; {frozen * spec.ensemble:,} of the parameters are running statistics, not learned"
        )
    rows.append(SummaryRow("Total", params=each * spec.ensemble, notes=total_notes))
    return NetworkSummary(
        columns=tuple(columns),
        rows=tuple(rows),
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        params=each * spec.ensemble,
        trainable=trainable * spec.ensemble,
    )


def _by_kind(columns: Sequence[ColumnInputs]) -> list[tuple[FeatureKind, list[ColumnInputs]]]:
    groups = [(kind, [c for c in columns if c.kind == kind]) for kind in KIND_ORDER]
    return [(kind, group) for kind, group in groups if group]


def _inputs_row(spec: ModelSpec, kind: FeatureKind, group: list[ColumnInputs]) -> SummaryRow:
    inputs = sum(column.inputs for column in group)
    if kind == FeatureKind.NUMERIC:
        scaling = SCALING_WORDS.get(spec.scaling, spec.scaling)
        words = f"{_count(len(group), 'numeric column')}, {scaling}"
        if spec.numeric_embedding == "piecewise":
            words += ", with piecewise-linear bins"
        return SummaryRow(f"Inputs: {words}", inputs, notes=_numeric_notes(group))
    if kind == FeatureKind.CATEGORICAL:
        notes = "one input per category seen in the training rows, and one per column for new ones"
        if any(column.categories == MAX_CATEGORIES for column in group):
            notes += f" (at most the {MAX_CATEGORIES} most common categories of a column are kept)"
        words = f"{_count(len(group), 'category column')}, one-hot"
        return SummaryRow(f"Inputs: {words}", inputs, notes=notes)
    words = f"{_count(len(group), 'yes/no column')}, as 1 or 0"
    return SummaryRow(f"Inputs: {words}", inputs, notes="1 for yes, 0 for no or a blank")


def _numeric_notes(group: list[ColumnInputs]) -> str:
    if any(column.missing_flag is None or column.bins is None for column in group):
        return "each column's scaled value, its bins, and a flag for blanks where it has any"
    parts = ["the scaled value of each column"]
    flags = sum(bool(column.missing_flag) for column in group)
    if flags:
        parts.append(f"{_count(flags, 'flag')} for blanks (columns with gaps in the training rows)")
    bins = sum(column.bins for column in group)
    if bins:
        parts.append(f"{_count(bins, 'bin')} of the values' range")
    return "; ".join(parts)


def _layer_row(layer, width: int, held: int, fixed: int) -> SummaryRow:
    name = layer.definition.name if layer.definition is not None else str(layer.kind)
    if layer.kind == LayerKind.DENSE:
        notes = f"L2 penalty {layer.l2:g}" if layer.l2 else ""
        return SummaryRow(name, width, layer.activation or "", held + fixed, notes)
    if layer.kind == LayerKind.DROPOUT:
        notes = f"switches off {layer.rate * 100:g}% of the units at random while training"
        return SummaryRow(name, width, "", held + fixed, notes)
    notes = f"{held:,} learned, {fixed:,} running statistics" if fixed else ""
    return SummaryRow(name, width, "", held + fixed, notes)


def _count(n: int, noun: str) -> str:
    """``1 input``, ``17 inputs``, ``1,024 inputs``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"

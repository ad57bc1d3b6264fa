"""Runs as a person reads them: the table of runs, one-line descriptions, what differs.

Shared by the app's Runs page and ``python -m layerlab runs DIR``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from layerlab.report.records import RunRecord
from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.evaluation import HEADLINE

STATUS_WORDS = {
    "queued": "queued",
    "training": "training",
    "finished": "finished",
    "stopped": "stopped",
    "diverged": "diverged",
    "failed": "failed",
    "interrupted": "interrupted",
}
# The spec fields a person compares, in the order they read them, with their labels.
COMPARED_FIELDS = {
    "layers": "Network",
    "optimizer": "Optimizer",
    "learning_rate": "Learning rate",
    "momentum": "Momentum",
    "batch_size": "Batch size",
    "epochs": "Epochs (most)",
    "patience": "Early-stopping patience",
    "restore_best_weights": "Restore best weights",
    "validation_split": "Validation split",
    "test_split": "Test split",
    "class_weight": "Class weights",
    "seed": "Seed",
    "features": "Features",
    "target": "Target",
    "task": "Task",
    "output_activation": "Output activation",
    "loss": "Loss",
}


def network_line(spec: ModelSpec) -> str:
    """The hidden layers in one short line: ``64 relu → dropout 0.2 → 32 relu``."""
    return " → ".join(layer.brief() for layer in spec.layers) or "no hidden layer"


def test_metric(record: RunRecord) -> tuple[str, bool, str]:
    """The metric runs of this task are compared by: name, higher is better, words."""
    return HEADLINE[record.spec.task]


def test_score(record: RunRecord) -> float | None:
    name, _, _ = test_metric(record)
    value = (record.metrics.get("test") or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def best_validation(record: RunRecord) -> float | None:
    """The lowest validation loss of the run's epochs (what early stopping and the best epoch
    follow)."""
    losses = [row.get("val_loss") for row in record.history]
    finite = [value for value in losses if isinstance(value, float) and math.isfinite(value)]
    return min(finite) if finite else None


def test_rows_key(record: RunRecord) -> tuple:
    """What decides which rows a run was scored on: its table, target and task, how many rows
    it used (a search trial uses a seeded sample), and the seeded split. Runs with the same
    key were scored on the same test rows, so only their scores compare."""
    spec = record.spec
    used = sum(record.rows.values()) if record.rows else None
    return (
        record.data_fingerprint,
        spec.target,
        spec.task,
        used,
        spec.seed,
        spec.validation_split,
        spec.test_split,
    )


def beat_earlier(records: Sequence[RunRecord]) -> dict[str, bool | None]:
    """For each run, whether its test score beat every earlier run's on the same test rows
    (``test_rows_key``; None when it has no score, or nothing earlier to beat): a search
    trial scored on a sample, or a run of another table or seed, is no yardstick."""
    out: dict[str, bool | None] = {}
    best: dict[tuple, float] = {}
    for record in sorted(records, key=lambda r: r.created):
        score = test_score(record)
        _, higher, _ = test_metric(record)
        group = test_rows_key(record)
        if score is None:
            out[record.id] = None
            continue
        previous = best.get(group)
        if previous is None:
            out[record.id] = None
        else:
            out[record.id] = score > previous if higher else score < previous
        if previous is None or (score > previous if higher else score < previous):
            best[group] = score
    return out


def _when(stamp: float | None) -> str:
    if stamp is None:
        return ""
    moment = datetime.fromtimestamp(stamp)
    today = datetime.fromtimestamp(time.time()).date()
    return moment.strftime("%H:%M" if moment.date() == today else "%d %b %H:%M")


def _duration(record: RunRecord) -> str:
    seconds = record.seconds
    if seconds is None and record.started is not None and record.active:
        seconds = time.time() - record.started
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _number(value: float | None) -> str:
    return "" if value is None else readable_number(value)


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run, newest first, every value as a person reads it."""
    beat = beat_earlier(records)
    rows = []
    for record in sorted(records, key=lambda r: r.created, reverse=True):
        _, _, words = test_metric(record)
        verdict = beat.get(record.id)
        rows.append(
            {
                "Chosen": "★" if record.chosen else "",
                "Name": record.name,
                "Started": _when(record.created),
                "Network": network_line(record.spec),
                "Optimizer": record.spec.optimizer,
                "Learning rate": readable_number(record.spec.learning_rate),
                "Batch size": f"{record.spec.batch_size:,}",
                "Epochs run": f"{len(record.history):,} of {record.spec.epochs:,}",
                "Best validation loss": _number(best_validation(record)),
                "Test score": (
                    f"{_number(test_score(record))} {words}"
                    if test_score(record) is not None
                    else ""
                ),
                "Duration": _duration(record),
                "Status": STATUS_WORDS.get(record.status, record.status),
                "Beat earlier runs": {True: "yes", False: "no", None: ""}[verdict],
            }
        )
    return pd.DataFrame(rows, columns=_COLUMNS)


_COLUMNS = [
    "Chosen",
    "Name",
    "Started",
    "Network",
    "Optimizer",
    "Learning rate",
    "Batch size",
    "Epochs run",
    "Best validation loss",
    "Test score",
    "Duration",
    "Status",
    "Beat earlier runs",
]


def run_line(record: RunRecord) -> str:
    """A run in one line: status, epochs, test score, when."""
    parts = [STATUS_WORDS.get(record.status, record.status)]
    parts.append(f"{len(record.history):,} of {record.spec.epochs:,} epochs")
    score = test_score(record)
    if score is not None:
        _, _, words = test_metric(record)
        parts.append(f"test {words} {readable_number(score)}")
    parts.append(f"started {_when(record.created)}")
    return " · ".join(parts)


def _field_text(spec: ModelSpec, name: str) -> str:
    value = getattr(spec, name)
    if name == "layers":
        return network_line(spec)
    if name == "features":
        return ", ".join(feature.name for feature in value)
    if isinstance(value, float):
        return readable_number(value)
    if value is None:
        return "default"
    return str(value)


def spec_differences(records: Sequence[RunRecord]) -> pd.DataFrame:
    """The settings that differ between ``records``, one row per setting, one column per run.

    Settings every run shares are left out, so the table says only what changed.
    """
    columns = {record.name: record for record in records}
    rows = []
    for name, label in COMPARED_FIELDS.items():
        values = [_field_text(record.spec, name) for record in columns.values()]
        if len(set(values)) > 1:
            rows.append({"Setting": label, **dict(zip(columns, values, strict=True))})
    return pd.DataFrame(rows, columns=["Setting", *columns])

"""A kept run as plain values: the files a training job writes into its run's folder, and
what the app reads back from them (``TrainedModel``) without importing Keras.

The jobs that write these files run in worker processes (``jobs.py``); the Streamlit
server reads them here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from layerlab.report.records import RunRecord, evaluation_from_json, leak_suspect_from_dict
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.effects import read_opening_predictions
from layerlab.tabular.evaluation import Evaluation
from layerlab.tabular.importance_report import COLUMNS
from layerlab.tabular.leaks import SingleColumnScore
from layerlab.tabular.network_weights import read_network

# The files a training job writes into its run's folder, by role.
RUN_FILES = {
    "model": "model.keras",
    "bundle": "bundle.zip",
    "evaluation": "evaluation.json",
    "summary": "summary.json",
    "checkpoint": "checkpoint.keras",
    "importance": "importance.json",  # as importance.csv in the bundle, exact for the page
    "card": "MODEL_CARD.md",
    "network": "network.npz",
    "effects": "effects.json",  # predictions for the Results page's first pictures
    "train_script": "train.py",  # kernels and input groups, for the picture of the network
}


@dataclass(frozen=True)
class ModelSummary:
    """The network as Keras builds it for this data: parameter count and layers."""

    params: int
    rows: list[dict[str, object]]
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"params": self.params, "rows": self.rows, "text": self.text}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSummary:
        return cls(int(values["params"]), list(values["rows"]), str(values["text"]))


@dataclass(frozen=True)
class TrainedModel:
    """A finished training run, as plain values, with its files in ``folder``.

    ``evaluation`` is ``None`` when no epoch finished (then there is no model
    worth keeping and the model and bundle files are not written).
    ``leak_suspect`` is set only when the test score is suspiciously close to
    perfect: the feature that alone predicts the target best, with its own
    held-out score.
    """

    spec: ModelSpec
    classes: tuple[str, ...]
    history: list[dict[str, float]]
    best_epoch: int | None
    kept_epoch: int | None
    stop_reason: str
    message: str
    seconds: float
    engine: str
    rows: dict[str, int]  # train / validation / test
    summary: ModelSummary
    evaluation: Evaluation | None
    folder: str
    leak_suspect: SingleColumnScore | None = None
    naive_val_loss: float | None = None  # see ``train.EpochEnd``
    # Stopped, and kept at once without its baselines, importance and model card, which a
    # job of their own adds (``jobs.rebuild_files``).
    completes_later: bool = False
    # The model is a fresh network trained on the training and validation rows (``refit``).
    refitted: bool = False

    @classmethod
    def from_record(cls, record: RunRecord, workspace_folder: str | Path) -> TrainedModel | None:
        """A kept run read back from its workspace, or None when it has no model to open."""
        folder = Path(workspace_folder)
        files = {role: folder / path for role, path in record.files.items()}
        needed = ("model", "evaluation", "summary")
        if record.kept_epoch is None or not all(
            role in files and files[role].is_file() for role in needed
        ):
            return None
        suspect = record.metrics.get("leak_suspect")
        return cls(
            spec=record.spec,
            classes=tuple(record.classes),
            history=list(record.history),
            best_epoch=record.best_epoch,
            kept_epoch=record.kept_epoch,
            stop_reason=record.stop_reason or "stopped",
            message=record.message or "",
            seconds=record.seconds or 0.0,
            engine=record.engine or "",
            rows=dict(record.rows),
            summary=ModelSummary.from_dict(json.loads(files["summary"].read_text())),
            evaluation=evaluation_from_json(files["evaluation"].read_text()),
            folder=str(files["model"].parent),
            leak_suspect=None if suspect is None else leak_suspect_from_dict(suspect),
            naive_val_loss=record.metrics.get("naive_val_loss"),
            completes_later=record.completing,
            refitted=record.refitted,
        )

    @property
    def model_file(self) -> Path:
        return Path(self.folder) / RUN_FILES["model"]

    @property
    def bundle_file(self) -> Path:
        return Path(self.folder) / RUN_FILES["bundle"]

    def importance(self) -> pd.DataFrame | None:
        """Permutation importance per column (``importance.csv``), or None for an older run."""
        path = Path(self.folder) / RUN_FILES["importance"]
        if not path.is_file():
            return None
        return pd.DataFrame(json.loads(path.read_text()), columns=COLUMNS)

    def network(self):
        """The trained network's input groups and kernels (``network_weights.read_network``),
        or None where they were not kept (an older run, or a very large network)."""
        return read_network(Path(self.folder) / RUN_FILES["network"])

    def opening_predictions(self) -> dict[tuple[str, ...], tuple[str, object]]:
        """Predictions kept for the Results page's first pictures (``effects.opening_views``):
        by view, the fingerprint of the rows they are for and the predictions; empty for an
        older run."""
        path = Path(self.folder) / RUN_FILES["effects"]
        return read_opening_predictions(path.read_text()) if path.is_file() else {}

    def model_card(self) -> str | None:
        """The model card's Markdown (``MODEL_CARD.md``), or None for an older run."""
        path = Path(self.folder) / RUN_FILES["card"]
        return path.read_text(encoding="utf-8") if path.is_file() else None

    @property
    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    @property
    def usable(self) -> bool:
        return self.kept_epoch is not None


_SCALARS = (str, int, float, bool, type(None))


def check_run_json(role: str, text: bytes) -> None:
    """Read one of a run's JSON files (``evaluation``, ``summary``, ``importance``,
    ``effects``) as the app will, or raise ``ValueError`` saying what is wrong: an
    uploaded workspace's files are not trusted."""
    if role == "evaluation":
        evaluation_from_json(text)
        return
    values = json.loads(text)
    if role == "summary":
        if not (
            isinstance(values, dict)
            and isinstance(values.get("rows"), list)
            and all(isinstance(row, dict) for row in values["rows"])
            and isinstance(values.get("text"), str)
        ):
            raise ValueError("it lacks the network's rows and text.")
        ModelSummary.from_dict(values)
    elif role == "importance":
        if not isinstance(values, list) or not all(
            isinstance(row, dict)
            and set(row) <= set(COLUMNS)
            and all(isinstance(value, _SCALARS) for value in row.values())
            for row in values
        ):
            raise ValueError(f"expected a list of rows with {', '.join(COLUMNS)}.")
    elif role == "effects":
        for view, (rows, predictions) in read_opening_predictions(text.decode()).items():
            if not all(isinstance(name, str) for name in view) or not isinstance(rows, str):
                raise ValueError("expected views of column names, each with its predictions.")
            if predictions.dtype.kind != "f":
                raise ValueError("its predictions are not numbers.")
    else:
        raise ValueError(f"a run has no JSON file for {role!r}.")

"""What a workspace remembers, as plain records that go to JSON and back.

A workspace is kept on disk and can be downloaded and uploaded again, so
everything here reads and writes plain JSON only: loading a record never runs
code (no pickle, no Keras), whoever wrote the file. JSON has no NaN or
infinity, which losses and metrics do reach, so non-finite floats are written
as ``{"$float": "nan"}`` (or ``"inf"``, ``"-inf"``) and read back as floats.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import ACTIVE_RUN_STATUSES, RunStatus
from layerlab.tabular.data import ClassBalance
from layerlab.tabular.evaluation import Evaluation
from layerlab.tabular.gap_noise import GapInterval
from layerlab.tabular.leaks import SingleColumnScore

RUN_STATUSES = tuple(RunStatus)
ACTIVE_STATUSES = ACTIVE_RUN_STATUSES
EVALUATION_FORMAT_VERSION = 1

_FLOAT_TAG = "$float"
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
# The column types an evaluation's tables hold; anything else is not read back.
_FRAME_DTYPES = frozenset(
    {"bool", "object", "str", "string"}
    | {f"{kind}{bits}" for kind in ("int", "uint", "float") for bits in (8, 16, 32, 64)}
)


# ------------------------------------------------------------------ plain JSON
def to_json_safe(value: Any) -> Any:
    """A copy of ``value`` made of JSON's own types, non-finite floats tagged.

    NumPy scalars become Python numbers; tuples become lists; dict keys become text.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        name = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return {_FLOAT_TAG: name}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        return {str(key): to_json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_safe(item) for item in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return to_json_safe(value.item())
    raise TypeError(f"Only JSON values can be stored; got {type(value).__name__}: {value!r}.")


def from_json_safe(value: Any) -> Any:
    """The inverse of ``to_json_safe``: tagged non-finite floats become floats again."""
    if isinstance(value, dict):
        if len(value) == 1 and value.get(_FLOAT_TAG) in _NON_FINITE:
            return _NON_FINITE[value[_FLOAT_TAG]]
        return {key: from_json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json_safe(item) for item in value]
    return value


def encode_json(value: Any) -> str:
    """Strict JSON text for ``value`` (non-finite floats tagged, never bare NaN)."""
    return json.dumps(to_json_safe(value), allow_nan=False, ensure_ascii=False)


def decode_json(text: str | bytes) -> Any:
    """What ``encode_json`` wrote; ``ValueError`` for text that is not JSON."""
    return from_json_safe(json.loads(text))


# ------------------------------------------------------------------ records
# Per field, the JSON types it may hold; a record read from an uploaded file is checked
# against these so the app never meets a list where it expects a number.
_TEXT = (str,)
_NUMBER = (int, float)
_OPTIONAL_TEXT = (str, type(None))
_OPTIONAL_NUMBER = (int, float, type(None))
_OPTIONAL_WHOLE = (int, type(None))

_TABLE_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": _TEXT,
    "name": _TEXT,
    "fingerprint": _TEXT,
    "rows": (int,),
    "columns": (int,),
    "size_bytes": (int,),
    "created": _NUMBER,
}
_RUN_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": _TEXT,
    "name": _TEXT,
    "created": _NUMBER,
    "spec": (dict,),
    "table_id": _OPTIONAL_TEXT,
    "data_fingerprint": _TEXT,
    "status": _TEXT,
    "history": (list,),
    "best_epoch": _OPTIONAL_WHOLE,
    "kept_epoch": _OPTIONAL_WHOLE,
    "checkpoint_epoch": _OPTIONAL_WHOLE,
    "stop_reason": _OPTIONAL_TEXT,
    "message": _OPTIONAL_TEXT,
    "error": _OPTIONAL_TEXT,
    "started": _OPTIONAL_NUMBER,
    "finished": _OPTIONAL_NUMBER,
    "seconds": _OPTIONAL_NUMBER,
    "engine": _OPTIONAL_TEXT,
    "rows": (dict,),
    "classes": (list, tuple),
    "metrics": (dict,),
    "params": _OPTIONAL_WHOLE,
    "owner": _OPTIONAL_TEXT,
    "chosen": (bool,),
    "files": (dict,),
    "completing": (bool,),
    "refitted": (bool,),
}


def _checked(
    config: Any, types: dict[str, tuple[type, ...]], required: tuple[str, ...], what: str
) -> dict[str, Any]:
    """The known fields of ``config``, each checked against ``types``; unknown keys dropped."""
    if not isinstance(config, dict):
        raise ValueError(f"A {what} must be a JSON object; got {type(config).__name__}.")
    missing = [name for name in required if name not in config]
    if missing:
        raise ValueError(f"A {what} needs the field(s) {', '.join(missing)}.")
    values = {}
    for name, allowed in types.items():
        if name not in config:
            continue
        value = config[name]
        # bool is an int to Python, never a count or a time to us.
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            expected = " or ".join(
                "null" if kind is type(None) else kind.__name__ for kind in allowed
            )
            raise ValueError(
                f"The {what} field {name!r} must be {expected}; got {type(value).__name__}."
            )
        values[name] = value
    return values


@dataclass(frozen=True)
class TableRecord:
    """An uploaded table: its bytes live in the workspace, identified by their sha256."""

    id: str
    name: str
    fingerprint: str  # sha256 hex of the uploaded bytes
    rows: int
    columns: int
    size_bytes: int
    created: float  # time.time()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> TableRecord:
        """Rebuild a record; unknown keys are ignored, wrong types are a ``ValueError``."""
        values = from_json_safe(
            _checked(config, _TABLE_FIELD_TYPES, tuple(_TABLE_FIELD_TYPES), "table record")
        )
        values["created"] = float(values["created"])
        return cls(**values)


@dataclass
class RunRecord:
    """One training run, from queued to its outcome: what it trained, how it went, its files."""

    id: str
    name: str
    created: float
    spec: ModelSpec
    table_id: str | None = None
    data_fingerprint: str = ""  # sha256 of the table bytes it trained on
    status: str = "queued"
    # one entry per epoch: {"epoch": 1, "loss": ..., "val_loss": ..., ...}
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    kept_epoch: int | None = None
    checkpoint_epoch: int | None = None  # the epoch whose weights are in the checkpoint file
    stop_reason: str | None = None
    message: str | None = None  # the run's outcome in a sentence
    error: str | None = None  # why it failed (status "failed")
    started: float | None = None
    finished: float | None = None
    seconds: float | None = None
    engine: str | None = None
    rows: dict[str, int] = field(default_factory=dict)  # train / validation / test
    classes: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)  # Evaluation.to_dict() and more
    params: int | None = None  # parameter count
    owner: str | None = None  # "host:pid" of the process training it
    chosen: bool = False
    files: dict[str, str] = field(default_factory=dict)  # role -> path in the workspace folder
    # Kept at once when Stop was pressed: its baselines, importance and model card are still
    # being worked out by a job of their own (``RunManager`` starts it).
    completing: bool = False
    # Its model trained on the training and validation rows together (``spec.refit``).
    refitted: bool = False

    @property
    def active(self) -> bool:
        """Whether the run is still waiting or training (its outcome is not known yet)."""
        return self.status in ACTIVE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (non-finite floats tagged); ``from_dict`` reads them back."""
        values = {name: getattr(self, name) for name in _RUN_FIELD_TYPES}
        values["spec"] = self.spec.to_dict()
        return to_json_safe(values)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> RunRecord:
        """Rebuild a record; unknown keys are ignored, wrong types are a ``ValueError``.

        A spec that cannot be read raises ``SpecError``.
        """
        values = from_json_safe(
            _checked(config, _RUN_FIELD_TYPES, ("id", "name", "created", "spec"), "run record")
        )
        status = values.get("status", "queued")
        if status not in RUN_STATUSES:
            raise ValueError(
                f"A run's status must be one of {', '.join(RUN_STATUSES)}; got {status!r}."
            )
        if not all(
            isinstance(entry, dict) and "epoch" in entry for entry in values.get("history", [])
        ):
            raise ValueError('A run\'s history must be a list of objects with an "epoch".')
        if not all(isinstance(label, str) for label in values.get("classes", ())):
            raise ValueError("A run's classes must be a list of text labels.")
        if not all(isinstance(path, str) for path in values.get("files", {}).values()):
            raise ValueError("A run's files must map each role to a path (text).")
        values["spec"] = ModelSpec.from_dict(values["spec"])
        values["classes"] = tuple(values.get("classes", ()))
        values["created"] = float(values["created"])
        return cls(**values)


# ------------------------------------------------------------------ evaluations
def _frame_to_dict(frame: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as pandas' "split" layout, plus the dtypes needed to read it back the same."""
    return {
        "columns": frame.columns.tolist(),
        "columns_dtype": str(frame.columns.dtype),
        "index": frame.index.tolist(),
        "index_dtype": str(frame.index.dtype),
        "data": [list(row) for row in frame.itertuples(index=False, name=None)],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
    }


def _checked_dtype(name: Any) -> str:
    if not isinstance(name, str) or name not in _FRAME_DTYPES:
        raise ValueError(
            f"A table in an evaluation has the column type {name!r}; expected one of "
            f"{', '.join(sorted(_FRAME_DTYPES))}."
        )
    return name


def _frame_from_dict(config: Any) -> pd.DataFrame:
    if not isinstance(config, dict):
        raise ValueError(
            f"A table in an evaluation must be a JSON object; got {type(config).__name__}."
        )
    try:
        columns, index, data, dtypes = (
            config["columns"],
            config["index"],
            config["data"],
            config["dtypes"],
        )
    except KeyError as missing:
        raise ValueError(f"A table in an evaluation lacks its {missing} field.") from None
    if not all(isinstance(part, list) for part in (columns, index, data, dtypes)):
        raise ValueError("A table in an evaluation must hold lists of columns, index and data.")
    if len(dtypes) != len(columns) or len(data) != len(index):
        raise ValueError("A table in an evaluation has as many types as columns and rows as index.")
    if not all(isinstance(row, list) and len(row) == len(columns) for row in data):
        raise ValueError("Every row of a table in an evaluation has one value per column.")
    frame = pd.DataFrame(
        data,
        index=pd.Index(index, dtype=_checked_dtype(config.get("index_dtype", "object"))),
        columns=pd.Index(columns, dtype=_checked_dtype(config.get("columns_dtype", "object"))),
    )
    for position, dtype in enumerate(dtypes):
        frame.isetitem(position, frame.iloc[:, position].astype(_checked_dtype(dtype)))
    return frame


def evaluation_to_json(evaluation: Evaluation) -> str:
    """An evaluation as plain JSON text, tables and all; ``evaluation_from_json`` reads it."""
    balance = evaluation.class_balance
    confusion = evaluation.confusion
    return encode_json(
        {
            "format_version": EVALUATION_FORMAT_VERSION,
            "task": evaluation.task,
            "metrics": evaluation.metrics,
            "baselines": evaluation.baselines,
            "predictions": _frame_to_dict(evaluation.predictions),
            "confusion": None if confusion is None else _frame_to_dict(confusion),
            "roc": {label: _frame_to_dict(curve) for label, curve in evaluation.roc.items()},
            "precision_recall": {
                label: _frame_to_dict(curve) for label, curve in evaluation.precision_recall.items()
            },
            "class_shares": evaluation.class_shares,
            "class_balance": None if balance is None else dataclasses.asdict(balance),
            "boosting_gap": None
            if evaluation.boosting_gap is None
            else evaluation.boosting_gap.to_dict(),
        }
    )


def evaluation_from_json(text: str | bytes) -> Evaluation:
    """Read what ``evaluation_to_json`` wrote; ``ValueError`` saying what is wrong otherwise."""
    content = decode_json(text)
    if not isinstance(content, dict):
        raise ValueError("An evaluation file must hold a JSON object.")
    version = content.get("format_version")
    if version != EVALUATION_FORMAT_VERSION:
        raise ValueError(
            f"This evaluation file has format_version {version!r}; this Layerlab reads "
            f"version {EVALUATION_FORMAT_VERSION}."
        )
    for name, kind in (
        ("metrics", dict),
        ("baselines", dict),
        ("roc", dict),
        ("class_shares", dict),
    ):
        if not isinstance(content.get(name, {}), kind):
            raise ValueError(f"An evaluation's {name!r} must be a JSON object.")
    curves = {
        name: {
            str(label): _frame_from_dict(curve) for label, curve in content.get(name, {}).items()
        }
        for name in ("roc", "precision_recall")
    }
    balance = content.get("class_balance")
    confusion = content.get("confusion")
    gap = content.get("boosting_gap")  # absent from files written before it was worked out
    try:
        return Evaluation(
            task=str(content["task"]),
            metrics=dict(content["metrics"]),
            baselines=dict(content["baselines"]),
            predictions=_frame_from_dict(content["predictions"]),
            confusion=None if confusion is None else _frame_from_dict(confusion),
            roc=curves["roc"],
            precision_recall=curves["precision_recall"],
            class_shares=dict(content.get("class_shares", {})),
            class_balance=None if balance is None else ClassBalance(**balance),
            boosting_gap=None if gap is None else GapInterval.from_dict(gap),
        )
    except (KeyError, TypeError, ValueError) as problem:
        raise ValueError(
            f"An evaluation file lacks a part or has one of the wrong kind: {problem}."
        ) from None


def leak_suspect_to_dict(score: SingleColumnScore) -> dict[str, Any]:
    """A leak check's score of one column as plain JSON values."""
    return to_json_safe(dataclasses.asdict(score))


def leak_suspect_from_dict(config: dict[str, Any]) -> SingleColumnScore:
    """Read what ``leak_suspect_to_dict`` wrote; unknown keys are ignored."""
    if not isinstance(config, dict):
        raise ValueError(f"A leak suspect must be a JSON object; got {type(config).__name__}.")
    known = {item.name for item in dataclasses.fields(SingleColumnScore)}
    try:
        return SingleColumnScore(**from_json_safe({k: v for k, v in config.items() if k in known}))
    except TypeError as problem:
        raise ValueError(f"A leak suspect lacks a field: {problem}.") from None

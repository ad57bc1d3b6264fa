"""Per-user state: the canonical values every page reads and writes, in ``st.session_state``.

Streamlit drops a widget's value when its page is not shown, so the values that
must survive a page switch live under the plain keys below, and widgets are
seeded from them (``seed``). Nothing per-user is cached anywhere else.

Changing the dataset, the target or the task clears what depends on it. A
trained model is never cleared silently: a notice says so (``pop_notices``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from layerlab.spec import ModelSpec, default_spec

if TYPE_CHECKING:
    import pandas as pd

    from layerlab.data import ColumnProfile
    from layerlab.task import TargetInfo
    from layerlab.train import TrainingResult, TrainingRun

DATASET = "dataset"
DATASET_NAME = "dataset_name"
DATASET_TOKEN = "dataset_token"
UPLOAD_ERROR = "upload_error"
TARGET = "target"
TASK = "task"
TARGET_INFO = "target_info"
PROFILES = "profiles"
SPEC = "spec"
SETTINGS_TEMPLATE = "settings_template"
MODEL_SUMMARY = "model_summary"
TRAINING_RUN = "training_run"
TRAIN_REQUESTED = "train_requested"
STOP_REQUESTED = "stop_requested"
TRAIN_MESSAGE = "train_message"
RESULT = "result"
RESULT_CACHE = "result_cache"
NOTICES = "notices"

# Widgets whose options depend on the dataset or the target: forgotten when those change.
DATA_WIDGETS = ("target_column", "task_override", "feature_columns")

# Network and training settings carried over when only the target or task changes.
CARRIED_SETTINGS = tuple(
    field.name
    for field in dataclasses.fields(ModelSpec)
    if field.name not in ("target", "task", "features", "output_activation", "loss")
)

# How long a new script run waits for an interrupted training run to keep its best weights.
# With runner.fastReruns off (our config) the interrupted run has always finished; with it
# on, Streamlit starts the new run beside the old one, which stops at its next st call.
ADOPT_WAIT_SECONDS = 30.0

_MESSAGE_LEVELS = {
    "completed": "success",
    "early_stopping": "info",
    "stopped": "info",
    "diverged": "error",
}


# --------------------------------------------------------------------------- widgets


def seed(key: str, value: Any) -> None:
    """Give a widget its canonical value unless it already holds one of its own."""
    if key not in st.session_state:
        st.session_state[key] = value


def forget(*keys: str, prefix: str | None = None) -> None:
    """Drop widget values, so the widgets are seeded again from the canonical state."""
    names = set(keys)
    if prefix is not None:
        names |= {key for key in st.session_state if str(key).startswith(prefix)}
    for key in names:
        if key in st.session_state:
            del st.session_state[key]


def notify(text: str) -> None:
    st.session_state.setdefault(NOTICES, []).append(text)


def pop_notices() -> list[str]:
    return st.session_state.pop(NOTICES, None) or []


# --------------------------------------------------------------------------- dataset


def frame() -> pd.DataFrame | None:
    return st.session_state.get(DATASET)


def dataset_name() -> str | None:
    return st.session_state.get(DATASET_NAME)


def load_dataset(data: pd.DataFrame, name: str, target: str | None = None) -> None:
    """Make ``data`` the dataset; everything that depended on the previous one starts over."""
    _clear_model(f"a new dataset ({name}) was loaded")
    session = st.session_state
    session[DATASET] = data
    session[DATASET_NAME] = name
    session[DATASET_TOKEN] = session.get(DATASET_TOKEN, 0) + 1
    session[UPLOAD_ERROR] = None
    session[TARGET] = target if target in data.columns else None
    for key in (TASK, TARGET_INFO, PROFILES, SPEC, SETTINGS_TEMPLATE, MODEL_SUMMARY):
        session[key] = None
    forget(*DATA_WIDGETS)


def set_upload_error(message: str | None) -> None:
    st.session_state[UPLOAD_ERROR] = message


def upload_error() -> str | None:
    return st.session_state.get(UPLOAD_ERROR)


# --------------------------------------------------------------------------- target and task


def target() -> str | None:
    return st.session_state.get(TARGET)


def task() -> str | None:
    """The task the user chose, or None to use the inferred one."""
    return st.session_state.get(TASK)


def choose_target(column: str | None) -> None:
    if column == target():
        return
    _clear_model(f'the target changed to "{column}"' if column else "the target was cleared")
    _start_over_roles()
    st.session_state[TARGET] = column
    st.session_state[TASK] = None
    forget("task_override", "feature_columns")


def choose_task(new_task: str) -> None:
    _clear_model(f"the task changed to {new_task}")
    _start_over_roles()
    st.session_state[TASK] = new_task
    forget("feature_columns")


def _start_over_roles() -> None:
    session = st.session_state
    if session.get(SPEC) is not None:
        session[SETTINGS_TEMPLATE] = session[SPEC]
    session[SPEC] = None
    session[TARGET_INFO] = None
    session[MODEL_SUMMARY] = None


def set_target_info(info: TargetInfo | None) -> None:
    st.session_state[TARGET_INFO] = info


def target_info() -> TargetInfo | None:
    return st.session_state.get(TARGET_INFO)


def profiles(target_column: str) -> list[ColumnProfile]:
    """Column profiles for the current dataset and target, computed once per pair."""
    from layerlab.data import profile_columns

    key = (st.session_state.get(DATASET_TOKEN), target_column)
    cached = st.session_state.get(PROFILES)
    if cached is None or cached[0] != key:
        cached = (key, profile_columns(frame(), target_column))
        st.session_state[PROFILES] = cached
    return cached[1]


# --------------------------------------------------------------------------- spec


def spec() -> ModelSpec | None:
    return st.session_state.get(SPEC)


def set_spec(new_spec: ModelSpec) -> None:
    st.session_state[SPEC] = new_spec


def ensure_spec(target_column: str, task_name: str, column_profiles: list) -> ModelSpec:
    """The spec for this target and task: the current one, or a fresh default one that keeps
    the network and training settings the user already chose."""
    current = spec()
    if current is not None and (current.target, current.task) == (target_column, task_name):
        return current
    fresh = default_spec(target_column, task_name, column_profiles)
    template = st.session_state.get(SETTINGS_TEMPLATE)
    if template is not None:
        fresh = carry_settings(template, fresh)
    set_spec(fresh)
    return fresh


def carry_settings(template: ModelSpec, fresh: ModelSpec) -> ModelSpec:
    """``fresh`` with the network and training settings of ``template``."""
    return fresh.replace(**{name: getattr(template, name) for name in CARRIED_SETTINGS})


def spec_problems(candidate: ModelSpec | None) -> list[str]:
    from layerlab.errors import SpecError

    if candidate is None:
        return []
    try:
        candidate.validate()
    except SpecError as error:
        return error.problems
    return []


@dataclass(frozen=True)
class ModelSummary:
    params: int
    rows: list[dict[str, object]]
    text: str


def _summary_key(candidate: ModelSpec) -> tuple:
    return (st.session_state.get(DATASET_TOKEN), candidate.to_json())


def model_summary(candidate: ModelSpec) -> ModelSummary | None:
    """The summary built earlier for exactly this data and spec, if any."""
    cached = st.session_state.get(MODEL_SUMMARY)
    if cached is not None and cached[0] == _summary_key(candidate):
        return cached[1]
    return None


def build_model_summary(candidate: ModelSpec) -> ModelSummary:
    """Build the network as training would (this imports TensorFlow) and keep its summary."""
    from layerlab.build import summarize, summary_text
    from layerlab.train import TrainingRun

    built = TrainingRun(frame(), candidate).built
    summary = ModelSummary(built.count_params(), summarize(built), summary_text(built))
    st.session_state[MODEL_SUMMARY] = (_summary_key(candidate), summary)
    return summary


# --------------------------------------------------------------------------- training


def request_training() -> None:
    st.session_state[TRAIN_REQUESTED] = True
    st.session_state[STOP_REQUESTED] = False
    st.session_state[TRAIN_MESSAGE] = None


def take_training_request() -> bool:
    return bool(st.session_state.pop(TRAIN_REQUESTED, False))


def request_stop() -> None:
    st.session_state[STOP_REQUESTED] = True


def stop_requested() -> bool:
    return bool(st.session_state.get(STOP_REQUESTED, False))


@dataclass
class ActiveRun:
    """A training run and whether its script has let go of it (finished or interrupted)."""

    run: TrainingRun
    ended: threading.Event = field(default_factory=threading.Event)


@contextmanager
def running(run: TrainingRun) -> Iterator[None]:
    """Keep the run in the state while it trains. A click during training interrupts the
    script at its next st call; the run still writes its best weights back, and the next
    script run adopts it (``adopt_interrupted_run``, called by app.py)."""
    active = ActiveRun(run)
    st.session_state[TRAINING_RUN] = active
    try:
        yield
    finally:
        active.ended.set()


def finish_run(run: TrainingRun) -> None:
    """Adopt a finished or interrupted run's model, and say how the run ended."""
    st.session_state[TRAINING_RUN] = None
    result = run.result
    if result is None:
        return
    level = _MESSAGE_LEVELS.get(result.stop_reason, "info")
    set_train_message(level, result.message)
    if result.kept_epoch is None:
        return  # no epoch finished: there is no model worth keeping
    st.session_state[RESULT] = result
    st.session_state[RESULT_CACHE] = {}


def adopt_interrupted_run() -> None:
    active = st.session_state.get(TRAINING_RUN)
    if active is None:
        return
    if active.ended.wait(timeout=ADOPT_WAIT_SECONDS):
        finish_run(active.run)
    # Otherwise it is still training in another thread: a later script run adopts it.


def set_train_message(level: str, text: str) -> None:
    st.session_state[TRAIN_MESSAGE] = (level, text)


def train_message() -> tuple[str, str] | None:
    return st.session_state.get(TRAIN_MESSAGE)


def result() -> TrainingResult | None:
    return st.session_state.get(RESULT)


def result_is_current() -> bool:
    """Whether the trained model used exactly the settings now chosen."""
    trained = result()
    return trained is not None and trained.spec == spec()


def result_cache() -> dict:
    """A dict that lives exactly as long as the current trained model (evaluation, downloads)."""
    return st.session_state.setdefault(RESULT_CACHE, {})


def for_result(key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per trained model and ``key``; errors are not kept."""
    cache = result_cache()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _clear_model(reason: str) -> None:
    session = st.session_state
    if session.get(RESULT) is not None:
        notify(
            f"The trained model was cleared because {reason}. Train again on the Train page "
            "to get a model for the new settings."
        )
    session[RESULT] = None
    session[RESULT_CACHE] = {}
    session[TRAIN_MESSAGE] = None

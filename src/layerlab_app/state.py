"""Per-user state: the canonical values every page reads and writes, in ``st.session_state``.

Streamlit drops a widget's value when its page is not shown, so the values that
must survive a page switch live under the plain keys below, and widgets are
seeded from them (``seed``). Nothing per-user is cached anywhere else.

Changing the dataset, the target or the task clears what depends on it. A
trained model is never cleared silently: a notice says so (``pop_notices``).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import streamlit as st

from layerlab.errors import LayerlabError
from layerlab.jobs import ModelSummary, TrainedModel
from layerlab.spec import ModelSpec, default_spec
from layerlab.workers import Job, shared_pool

if TYPE_CHECKING:
    import pandas as pd

    from layerlab.data import ColumnProfile
    from layerlab.memory import MemoryEstimate
    from layerlab.task import TargetInfo

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
MEMORY = "memory"
TRAINING_JOB = "training_job"
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
    for key in (TASK, TARGET_INFO, PROFILES, SPEC, SETTINGS_TEMPLATE, MODEL_SUMMARY, MEMORY):
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
    session[MEMORY] = None


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
    """``fresh`` with the network and training settings of ``template``.

    Class weights mean nothing for a number, so a regression target starts unweighted.
    """
    carried = {name: getattr(template, name) for name in CARRIED_SETTINGS}
    if fresh.task == "regression" and "class_weight" in carried:
        carried["class_weight"] = "none"
    return fresh.replace(**carried)


def spec_problems(candidate: ModelSpec | None) -> list[str]:
    from layerlab.errors import SpecError

    if candidate is None:
        return []
    try:
        candidate.validate()
    except SpecError as error:
        return error.problems
    return []


def _summary_key(candidate: ModelSpec) -> tuple:
    return (st.session_state.get(DATASET_TOKEN), candidate.to_json())


def model_summary(candidate: ModelSpec) -> ModelSummary | None:
    """The summary built earlier for exactly this data and spec, if any."""
    cached = st.session_state.get(MODEL_SUMMARY)
    if cached is not None and cached[0] == _summary_key(candidate):
        return cached[1]
    return None


def memory_verdict(candidate: ModelSpec) -> tuple[MemoryEstimate, str | None]:
    """The memory a run of ``candidate`` needs on this data, and the refusal if it does not fit.

    The same check runs again in the worker before training; this one is for the Model
    page, so the person sees it while choosing. Cached per data and spec (it reads every
    column's distinct values).
    """
    from layerlab.errors import TrainingError
    from layerlab.memory import check_memory, estimate_training_memory

    cached = st.session_state.get(MEMORY)
    if cached is not None and cached[0] == _summary_key(candidate):
        return cached[1]
    try:
        verdict = (check_memory(candidate, frame()), None)
    except TrainingError as refusal:
        verdict = (estimate_training_memory(candidate, frame()), str(refusal))
    st.session_state[MEMORY] = (_summary_key(candidate), verdict)
    return verdict


def build_model_summary(candidate: ModelSpec) -> ModelSummary:
    """Build the network as training would, in a worker process, and keep its summary."""
    summary = shared_pool().run("summary", frame(), candidate)
    st.session_state[MODEL_SUMMARY] = (_summary_key(candidate), summary)
    return summary


# --------------------------------------------------------------------------- training


def start_training() -> None:
    """Queue a training run of the current spec on the current data in the worker pool.

    The run trains in a worker process, not in this script run: page switches,
    clicks and reloads of the script do not stop it; only ``request_stop`` does.
    """
    if is_training():
        return
    st.session_state[TRAIN_MESSAGE] = None
    st.session_state[TRAINING_JOB] = RunHandle(shared_pool().submit("train", frame(), spec()))


class RunHandle:
    """The session's hold on its training job: when the session's state goes (the person
    closed the tab and Streamlit let the session go), the run is stopped, so nobody's
    abandoned run keeps a worker busy for hours."""

    def __init__(self, job: Job) -> None:
        self.job = job
        weakref.finalize(self, job.stop)


def training_job() -> Job | None:
    handle = st.session_state.get(TRAINING_JOB)
    return handle.job if handle is not None else None


def is_training() -> bool:
    job = training_job()
    return job is not None and not job.finished


def request_stop() -> None:
    job = training_job()
    if job is not None:
        job.stop()


def adopt_finished_run() -> None:
    """Take a finished run's model and message into the state (called on every script run)."""
    job = training_job()
    if job is None or not job.finished:
        return
    st.session_state[TRAINING_JOB] = None
    if job.status == "cancelled":
        set_train_message("info", "Training was stopped before it started.")
        return
    try:
        trained = job.outcome()
    except LayerlabError as error:
        set_train_message("error", str(error))
        return
    set_train_message(_MESSAGE_LEVELS.get(trained.stop_reason, "info"), trained.message)
    if not trained.usable:
        return  # no epoch finished: there is no model worth keeping
    st.session_state[RESULT] = trained
    st.session_state[RESULT_CACHE] = {}


def set_train_message(level: str, text: str) -> None:
    st.session_state[TRAIN_MESSAGE] = (level, text)


def train_message() -> tuple[str, str] | None:
    return st.session_state.get(TRAIN_MESSAGE)


def result() -> TrainedModel | None:
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


def training_rows() -> pd.DataFrame:
    """The training split of the current model, recomputed from the data (it is seeded)."""
    from layerlab.task import drop_missing_target
    from layerlab.train import split_frame

    trained = result()
    return split_frame(drop_missing_target(frame(), trained.spec.target), trained.spec).train


def predict(rows: pd.DataFrame) -> pd.DataFrame:
    """The current model's predictions for ``rows``, computed in a worker process."""
    trained = result()
    return shared_pool().run("predict", trained.model_file, trained.spec, trained.classes, rows)


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

"""What the Data and Model pages derive from the table and spec a tab looks at: column
profiles, the spec's problems, its parameter count and summary, and its memory verdict.

Each is cached on the tab's session per table version and spec, so a script run that
changes neither pays nothing; the focus itself lives in ``state``.
"""

from __future__ import annotations

from layerlab.report.run_files import ModelSummary
from layerlab.runs.profiling import profile_table
from layerlab.runs.workers import quick_pool
from layerlab.schema.errors import SpecError, TrainingError
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.data import ColumnProfile
from layerlab.tabular.memory import MemoryEstimate, check_memory, estimate_training_memory
from layerlab_app.state import session


def profiles(target_column: str) -> list[ColumnProfile]:
    """Column profiles for the current dataset and target, computed once per pair (in a
    worker for a large table, see ``layerlab.runs.profiling``)."""
    current = session()
    key = (current.data_version, target_column)
    if current.profiles is None or current.profiles[0] != key:
        current.profiles = (key, profile_table(current.frame, target_column))
    return current.profiles[1]


def spec_problems(candidate: ModelSpec | None) -> list[str]:
    if candidate is None:
        return []
    try:
        candidate.validate()
    except SpecError as error:
        return error.problems
    return []


def _summary_key(candidate: ModelSpec) -> tuple:
    return (session().data_version, candidate.to_json())


def model_summary(candidate: ModelSpec) -> ModelSummary | None:
    """The summary built earlier for exactly this data and spec, if any."""
    cached = session().summary
    if cached is not None and cached[0] == _summary_key(candidate):
        return cached[1]
    return None


def memory_verdict(candidate: ModelSpec) -> tuple[MemoryEstimate, str | None]:
    """The memory a run of ``candidate`` needs on this data, and the refusal if it does not fit.

    The same check runs again in the worker before training; this one is for the Model
    page, so the person sees it while choosing. Cached per data and spec (it reads every
    column's distinct values).
    """
    current = session()
    if current.memory is not None and current.memory[0] == _summary_key(candidate):
        return current.memory[1]
    try:
        verdict = (check_memory(candidate, session().frame), None)
    except TrainingError as refusal:
        verdict = (estimate_training_memory(candidate, session().frame), str(refusal))
    current.memory = (_summary_key(candidate), verdict)
    return verdict


def build_model_summary(candidate: ModelSpec) -> ModelSummary:
    """Build the network as training would, in a worker process, and keep its summary."""
    summary = quick_pool().run("summary", session().frame, candidate)
    session().summary = (_summary_key(candidate), summary)
    return summary

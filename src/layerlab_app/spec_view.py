"""What the Data and Model pages derive from the table and spec a tab looks at: column
profiles, the spec's problems, its summary (in words, and Keras's own), and its memory
verdict; and the summary in words of the run the Results page shows.

Each is cached on the tab's session per table version and spec, so a script run that
changes neither pays nothing; the focus itself lives in ``state``.
"""

from __future__ import annotations

from layerlab.report.network_summary import NetworkSummary, summarize_network
from layerlab.report.run_files import ModelSummary, TrainedModel
from layerlab.runs.profiling import profile_table
from layerlab.runs.workers import quick_pool
from layerlab.schema.errors import LayerlabError, SpecError, TrainingError
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.data import ColumnProfile
from layerlab.tabular.input_widths import (
    ColumnInputs,
    column_inputs,
    from_widths,
    training_split,
)
from layerlab.tabular.memory import MemoryEstimate, check_memory, estimate_training_memory
from layerlab_app import run_view
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


def _cached_summaries(candidate: ModelSpec) -> tuple[ModelSummary | None, NetworkSummary | None]:
    """Keras's summary and the one in words kept for exactly this data and spec, if any."""
    cached = session().summary
    if cached is not None and cached[0] == _summary_key(candidate):
        return cached[1], cached[2]
    return None, None


def _inputs_key(candidate: ModelSpec) -> tuple:
    """What the inputs per column depend on: the table, its split and the encodings."""
    return (
        session().data_version,
        candidate.target,
        candidate.task,
        candidate.seed,
        candidate.validation_split,
        candidate.test_split,
        tuple((feature.name, feature.kind) for feature in candidate.features),
        candidate.numeric_embedding,
    )


def _column_inputs(candidate: ModelSpec) -> list[ColumnInputs]:
    """The inputs per column on this table's training split, split again only when what they
    depend on changes (a table of 100,000 rows takes half a second), not for a new layer."""
    current, key = session(), _inputs_key(candidate)
    if current.inputs is None or current.inputs[0] != key:
        columns = column_inputs(candidate, training_split(current.frame, candidate))
        current.inputs = (key, columns)
    return current.inputs[1]


def model_summary(candidate: ModelSpec) -> ModelSummary | None:
    """Keras's summary, built earlier for exactly this data and spec, if any."""
    return _cached_summaries(candidate)[0]


def network_summary(candidate: ModelSpec, n_classes: int) -> NetworkSummary | None:
    """``candidate`` on this table in words (``report.network_summary``): its inputs, as the
    training split gives them, its layers and counts; None where the rows are too few to
    split. Arithmetic, without Keras: cached per data and spec."""
    keras_summary, summary = _cached_summaries(candidate)
    if summary is None:
        try:
            columns = _column_inputs(candidate)
        except (LayerlabError, ValueError, KeyError):
            return None
        summary = summarize_network(candidate, columns, n_classes)
        session().summary = (_summary_key(candidate), keras_summary, summary)
    return summary


def run_network_summary(result: TrainedModel) -> NetworkSummary | None:
    """The open run's network in words: its inputs from the training split of its table,
    else as the run recorded them (``network.npz``); None where neither is there."""

    def summary() -> NetworkSummary | None:
        try:
            columns = column_inputs(result.spec, run_view.training_rows())
        except (LayerlabError, ValueError, KeyError):
            kept = result.network()
            columns = None if kept is None else from_widths(result.spec, list(kept[0]))
        if columns is None:
            return None
        return summarize_network(result.spec, columns, len(result.classes))

    return run_view.for_result("network_summary", summary)


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
    """Build the network as training would, in a worker process, and keep Keras's summary."""
    summary = quick_pool().run("summary", session().frame, candidate)
    session().summary = (_summary_key(candidate), summary, _cached_summaries(candidate)[1])
    return summary

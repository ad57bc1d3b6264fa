"""Random hyperparameter search on Optuna: trials side by side, on one machine or many.

The lessons Layerlab is built on say how to tune a network: search the settings
that are not learned, at random rather than on a grid, with few epochs and a
sample of the rows per trial; then train the winner on all the data. This
module is that search, on Optuna (its ``RandomSampler`` by default, TPE when
asked) through its ask-and-tell interface, so that up to ``parallel`` trials
train at once:

- ``Search`` draws each trial's spec from a ``SearchSpace``, hands it to a
  *trial runner*, and tells Optuna the trial's best validation loss. Its budget is
  a number of trials and/or minutes; ``stop()`` ends it, keeping every finished
  trial, and a trial still running is stopped and kept as *stopped* with the best
  validation loss it had reached (Optuna: pruned, with that value).
- A trial runner trains one spec on given rows and says how it went. ``PoolTrials``
  runs trials in a ``WorkerPool`` with their files in a folder (the CLI);
  ``WorkspaceTrials`` makes each trial a run in a workspace, started by the
  ``RunManager``, so it shows live in the Runs table (the app).
- The study lives in an Optuna storage. With a shared database
  (``postgresql+psycopg://...``), the same search started in several processes,
  on several machines, works on one study: the budget of trials is laid out as
  *waiting* trials when the study is created, and each process claims one at a
  time with the database's row lock, so each trial is run once. Trial *k*'s
  settings are drawn from a generator seeded by (seed, *k*), so the same data,
  space and seed give the same settings in the same order, however many
  processes share the work and whichever finishes first.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from layerlab.schema import limits
from layerlab.schema.errors import LayerlabError, SpecError
from layerlab.runs.search_space import SearchSpace
from layerlab.schema.spec import ModelSpec, format_layers

if TYPE_CHECKING:
    import optuna

    from layerlab.runs.background import RunManager
    from layerlab.report.run_files import TrainedModel
    from layerlab.runs.store import WorkspaceStore
    from layerlab.runs.workers import Job, WorkerPool

# Each trial sees at least this many rows (all of a smaller table), so that its
# validation split (a fifth of them by default) is large enough to rank trials by.
MIN_SEARCH_ROWS = 500
SAMPLERS = ("random", "tpe")
# The study's own record of what it searches, and that it is ready to be joined.
IDENTITY_KEY = "layerlab_search"
READY_KEY = "layerlab_ready"
JOIN_SECONDS = 60.0
POLL_SECONDS = 0.1
TRIAL_STATUSES = ("running", "finished", "stopped", "diverged", "failed")
# Trials train with the plain graph loop, not XLA: XLA keeps every network it has
# compiled for the life of the process (about 18 MB each; 50 trials grew a worker by
# 900 MB, see bench/SEARCH.md), and on a search's sample of rows and few epochs its
# compile time outweighs the faster epochs. The winner trained on all the data uses XLA
# (``PoolTrials(final=True)``, or a run started by hand in the app).
TRIAL_JIT = False
# Trials are compared by their validation loss alone: their importance, model card and
# train.py (seconds on a large table) are worked out for the winner retrained on all the data.
TRIAL_INSIGHTS = False


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SearchSettings:
    """How a search runs: its budget and what each trial trains on.

    ``trials`` and ``minutes`` are the budget (either or both; with neither, 12
    trials). Each trial trains on a seeded ``sample`` share of the rows (never
    fewer than ``MIN_SEARCH_ROWS``) for at most ``epochs`` epochs, with early
    stopping after ``patience`` epochs without improvement: the lessons' few
    epochs on part of the data. ``seed`` seeds the row sample and the sampler;
    each trial's network keeps the seed of the spec the search starts from, so
    every trial is scored on the same validation rows.
    """

    trials: int | None = None
    minutes: float | None = None
    sample: float = 0.3
    epochs: int = 30
    patience: int = 5
    seed: int = 0
    sampler: str = "random"

    def __post_init__(self) -> None:
        if self.trials is None and self.minutes is None:
            object.__setattr__(self, "trials", 12)

    def validate(self) -> SearchSettings:
        problems = []
        if self.trials is not None and not _whole(self.trials, 1):
            problems.append(f"The 'trials' must be a whole number, 1 or more; got {self.trials!r}.")
        if self.minutes is not None and not (_number(self.minutes) and self.minutes > 0):
            problems.append(f"The 'minutes' must be a number above 0; got {self.minutes!r}.")
        if not (_number(self.sample) and 0 < self.sample <= 1):
            problems.append(
                "The 'sample' (the share of rows each trial trains on) must be above 0 and at "
                f"most 1; got {self.sample!r}."
            )
        for name, limit in (("epochs", limits.EPOCHS), ("patience", limits.PATIENCE)):
            if not limit.allows(getattr(self, name)):
                problems.append(
                    f"The '{name}' must be {limit.describe()}; got {getattr(self, name)!r}."
                )
        if not limits.SEED.allows(self.seed):
            problems.append(f"The 'seed' must be {limits.SEED.describe()}; got {self.seed!r}.")
        if self.sampler not in SAMPLERS:
            problems.append(
                f"The 'sampler' must be one of {', '.join(SAMPLERS)}; got {self.sampler!r}."
            )
        if problems:
            raise SpecError(problems, settings="search settings")
        return self


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def search_rows(frame: pd.DataFrame, spec: ModelSpec, share: float, seed: int) -> pd.DataFrame:
    """The rows every trial trains on: a seeded ``share`` of those with a target, stratified by
    class where each class has two rows or more, and never fewer than ``MIN_SEARCH_ROWS``."""
    from sklearn.model_selection import train_test_split

    from layerlab.tabular.reading import as_category_text
    from layerlab.tabular.task import drop_missing_target

    rows = drop_missing_target(frame, spec.target)
    wanted = max(math.ceil(share * len(rows)), MIN_SEARCH_ROWS)
    if wanted >= len(rows):
        return rows
    stratify = None
    if spec.task != "regression":
        labels = pd.Series(as_category_text(rows[spec.target]))
        if labels.value_counts().min() >= 2:
            stratify = labels
    try:
        sample, _ = train_test_split(rows, train_size=wanted, random_state=seed, stratify=stratify)
    except ValueError:  # too few rows of some class for a stratified draw of this size
        sample = rows.sample(n=wanted, random_state=seed)
    return sample.reset_index(drop=True)


def trial_spec(base_spec: ModelSpec, settings: SearchSettings) -> ModelSpec:
    """The spec a trial starts from: the base spec with the search's epochs and patience."""
    return base_spec.replace(epochs=settings.epochs, patience=settings.patience)


def full_training_spec(spec: ModelSpec, base_spec: ModelSpec) -> ModelSpec:
    """A trial's spec made ready to train on all the data: the base spec's epochs and patience."""
    return spec.replace(epochs=base_spec.epochs, patience=base_spec.patience)


# --------------------------------------------------------------------------- trial runners
@dataclass(frozen=True)
class TrialOutcome:
    """How one trial went, as plain values.

    ``status`` is finished, stopped, diverged or failed; ``validation_loss`` is the
    best validation loss it reached (None when no epoch finished); ``trained`` is
    the run itself when it produced a model (its files are in ``trained.folder``).
    """

    status: str
    validation_loss: float | None
    epochs: int
    best_epoch: int | None
    seconds: float
    parameters: int | None
    message: str
    run_id: str | None = None
    trained: TrainedModel | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON values, as a study keeps it (without the trained model)."""
        return {
            "status": self.status,
            "validation_loss": self.validation_loss,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 3),
            "parameters": self.parameters,
            "message": self.message,
        }


class TrialHandle(Protocol):
    """One trial that trains now: wait for it, stop it, read how it went."""

    run_id: str | None

    def wait(self, timeout: float | None = None) -> bool: ...
    def stop(self) -> None: ...
    def outcome(self) -> TrialOutcome: ...


class TrialRunner(Protocol):
    """Trains trials; ``slots`` is how many it runs at once."""

    slots: int

    def start_trial(self, spec: ModelSpec, name: str, rows: pd.DataFrame) -> TrialHandle: ...


class JobTrial:
    """A trial that is a training job of the worker pool."""

    def __init__(self, job: Job, run_id: str | None = None) -> None:
        self.job = job
        self.run_id = run_id

    def wait(self, timeout: float | None = None) -> bool:
        return self.job.wait(timeout)

    def stop(self) -> None:
        self.job.stop()

    def outcome(self) -> TrialOutcome:
        return job_outcome(self.job, self.run_id)


def job_outcome(job: Job, run_id: str | None = None) -> TrialOutcome:
    """A training job's outcome (it has ended) as a trial's."""
    from layerlab.runs.background import outcome_status
    from layerlab.runs.workers import WorkerBug

    def failed(message: str) -> TrialOutcome:
        return TrialOutcome("failed", None, 0, None, 0.0, None, message, run_id)

    if job.status == "cancelled":
        return TrialOutcome(
            "stopped", None, 0, None, 0.0, None, "Stopped before it started.", run_id
        )
    try:
        trained = job.outcome(0)
    except WorkerBug as bug:
        last = str(bug).strip().splitlines()[-1:] or ["unknown error"]
        return failed(
            f"Training failed because of a bug in Layerlab ({last[0]}). Please report it."
        )
    except LayerlabError as error:
        return failed(str(error))
    losses = [row["val_loss"] for row in trained.history if math.isfinite(row["val_loss"])]
    return TrialOutcome(
        status=outcome_status(trained.stop_reason),
        validation_loss=float(min(losses)) if losses else None,
        epochs=len(trained.history),
        best_epoch=trained.best_epoch,
        seconds=float(trained.seconds),
        parameters=trained.summary.params,
        message=trained.message,
        run_id=run_id,
        trained=trained,
    )


class PoolTrials:
    """Trials as jobs of a ``WorkerPool``, each writing its files (model, bundle, evaluation)
    into a folder of its own under ``folder``; as many at once as the pool has workers.

    ``final``: these are not search trials but the winner trained on all the rows, with
    XLA and its insights, as a run trained by hand (``TRIAL_JIT``, ``TRIAL_INSIGHTS``).
    """

    def __init__(self, pool: WorkerPool, folder: str | Path, *, final: bool = False) -> None:
        self.pool = pool
        self.folder = Path(folder)
        self.slots = pool.size
        self.final = final

    def start_trial(self, spec: ModelSpec, name: str, rows: pd.DataFrame) -> JobTrial:
        folder = self.folder / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "trial")
        jit, insights = (True, True) if self.final else (TRIAL_JIT, TRIAL_INSIGHTS)
        return JobTrial(self.pool.submit("train", rows, spec, str(folder), jit, insights))


class WorkspaceTrials:
    """Trials as runs of a workspace: each is a ``RunRecord`` started by the ``RunManager``, so
    it shows (queued, training, its epochs, its outcome) in the Runs table as it trains.

    ``table_id`` and ``fingerprint`` name the workspace table the search is on (a
    trial trains on a sample of its rows); ``label`` starts each run's name, e.g.
    "Search 2 · trial 7: 64 relu → 32 relu". ``slots``: how many trials at once
    (they still wait their turn in the manager's pool behind other runs); by default
    as many as the pool lets one workspace train at once.
    """

    def __init__(
        self,
        manager: RunManager,
        store: WorkspaceStore,
        table_id: str,
        fingerprint: str,
        *,
        label: str = "Search",
        slots: int | None = None,
    ) -> None:
        self.manager, self.store = manager, store
        self.table_id, self.fingerprint, self.label = table_id, fingerprint, label
        pool = manager.pool
        self.slots = slots or min(pool.size, pool.per_owner or pool.size)

    def start_trial(self, spec: ModelSpec, name: str, rows: pd.DataFrame) -> JobTrial:
        from layerlab.report.records import RunRecord
        from layerlab.report.run_table import network_line

        record = RunRecord(
            id=self.store.new_run_id(),
            name=f"{self.label} · {name}: {network_line(spec)}",
            created=time.time(),
            spec=spec,
            table_id=self.table_id,
            data_fingerprint=self.fingerprint,
        )
        job = self.manager.start(self.store, record, rows, jit=TRIAL_JIT, insights=TRIAL_INSIGHTS)
        return JobTrial(job, record.id)


# --------------------------------------------------------------------------- Optuna
def _numbered_random_sampler(seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    class NumberedRandomSampler(optuna.samplers.RandomSampler):
        """Optuna's ``RandomSampler``, drawing trial *k*'s settings from a generator of its own,
        seeded by (seed, *k*): the same for trial *k* in every process and every order."""

        def __init__(self, seed: int) -> None:
            super().__init__(seed)
            self._base_seed = seed
            self._per_trial: dict[int, optuna.samplers.RandomSampler] = {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            sampler = self._per_trial.get(trial.number)
            if sampler is None:
                entropy = np.random.SeedSequence([self._base_seed, trial.number])
                sampler = optuna.samplers.RandomSampler(int(entropy.generate_state(1)[0]))
                self._per_trial[trial.number] = sampler
            return sampler.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values) -> None:
            self._per_trial.pop(trial.number, None)

    return NumberedRandomSampler(seed)


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """``random`` (the default: the lessons' choice) or ``tpe`` (Optuna's TPE, which learns
    from finished trials; with trials side by side it assumes the running ones scored badly,
    ``constant_liar``, so it does not draw the same point twice)."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return _numbered_random_sampler(seed or 0)


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """An Optuna storage: in memory (``None``), or the database at ``url`` (SQLAlchemy's form:
    ``sqlite:///path/study.db``, ``postgresql+psycopg://user:password@host/database``).

    Several processes that open a fresh database at once race to create its tables (an
    Optuna issue, optuna/optuna#1092); the loser waits a moment and opens it again.
    """
    import optuna
    import sqlalchemy.exc

    if url is None:
        return optuna.storages.InMemoryStorage()
    for attempt in range(5):
        try:
            return _database(url)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 + random.random())  # another process is creating the tables
    return _database(url)


def _database(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage in the database at ``url``; what a person can fix is said plainly."""
    import optuna
    import sqlalchemy.exc

    shown = shown_url(url)
    try:
        return optuna.storages.RDBStorage(url)
    except ModuleNotFoundError as missing:
        raise LayerlabError(
            f"The storage '{shown}' needs the Python package '{missing.name}', which is not "
            "installed. For PostgreSQL: pip install 'psycopg[binary]' and write the URL as "
            "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE."
        ) from None
    except sqlalchemy.exc.ArgumentError as error:
        raise LayerlabError(
            f"'{shown}' is not a database URL ({error}). Write it as "
            "sqlite:///PATH/study.db or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE."
        ) from None
    except sqlalchemy.exc.OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        raise LayerlabError(
            f"Cannot open the storage '{shown}': {reason}. Check the address, the user and "
            "the password, and that the database server runs."
        ) from None


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:  # not a URL: as given, minus anything like a password
        return re.sub(r":[^:@/]*@", ":***@", url)


# --------------------------------------------------------------------------- trials as rows
@dataclass(frozen=True)
class TrialRow:
    """One trial of a study as a person reads it (the CLI's trials.csv, the app's table)."""

    number: int
    status: str  # running, finished, stopped, diverged, failed
    validation_loss: float | None
    epochs: int | None
    best_epoch: int | None
    seconds: float | None
    spec: ModelSpec | None
    params: dict[str, Any] = field(default_factory=dict)
    parameters: int | None = None
    worker: str = ""
    run_id: str | None = None
    message: str = ""

    @classmethod
    def from_trial(cls, trial: optuna.trial.FrozenTrial) -> TrialRow:
        attrs = trial.user_attrs
        outcome = attrs.get("outcome", {})
        status = "running" if trial.state.name == "RUNNING" else outcome.get("status", "failed")
        spec = ModelSpec.from_dict(attrs["spec"]) if "spec" in attrs else None
        return cls(
            number=trial.number,
            status=status,
            validation_loss=outcome.get("validation_loss"),
            epochs=outcome.get("epochs"),
            best_epoch=outcome.get("best_epoch"),
            seconds=outcome.get("seconds"),
            spec=spec,
            params=dict(trial.params),
            parameters=outcome.get("parameters"),
            worker=attrs.get("worker", ""),
            run_id=attrs.get("run_id"),
            message=outcome.get("message", ""),
        )


def trial_rows(study: optuna.Study) -> list[TrialRow]:
    """Every trial that has started (not those still waiting for a process), by number."""
    from optuna.trial import TrialState

    started = [
        trial for trial in study.get_trials(deepcopy=False) if trial.state != TrialState.WAITING
    ]
    return [TrialRow.from_trial(trial) for trial in sorted(started, key=lambda t: t.number)]


def trials_frame(rows: list[TrialRow]) -> pd.DataFrame:
    """One row per trial: its settings, validation loss, epochs, seconds and status."""
    return pd.DataFrame(
        [
            {
                "trial": row.number,
                "status": row.status,
                "validation_loss": row.validation_loss,
                "epochs": row.epochs,
                "best_epoch": row.best_epoch,
                "seconds": row.seconds,
                "layers": format_layers(row.spec.layers) if row.spec else "",
                "optimizer": row.spec.optimizer if row.spec else "",
                "learning_rate": row.spec.learning_rate if row.spec else None,
                "batch_size": row.spec.batch_size if row.spec else None,
                "parameters": row.parameters,
                "worker": row.worker,
                "run_id": row.run_id or "",
                "message": row.message,
            }
            for row in rows
        ],
        columns=[
            "trial",
            "status",
            "validation_loss",
            "epochs",
            "best_epoch",
            "seconds",
            "layers",
            "optimizer",
            "learning_rate",
            "batch_size",
            "parameters",
            "worker",
            "run_id",
            "message",
        ],
    )


def best_row(study: optuna.Study) -> TrialRow | None:
    """The finished trial with the lowest validation loss (None before any has finished)."""
    from optuna.trial import TrialState

    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not finished:
        return None
    return TrialRow.from_trial(min(finished, key=lambda trial: (trial.value, trial.number)))


def figures(study: optuna.Study) -> dict[str, Any]:
    """Optuna's own Plotly figures of a study, by name, for those its trials can draw so far:
    ``history`` (the best score so far, trial by trial), ``parallel_coordinate``, and
    ``importance`` (which settings mattered; from two finished trials that differ)."""
    from optuna import visualization
    from optuna.trial import TrialState

    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    drawn: dict[str, Any] = {}
    if not finished:
        return drawn
    drawn["history"] = visualization.plot_optimization_history(study)
    if any(trial.params for trial in finished):
        drawn["parallel_coordinate"] = visualization.plot_parallel_coordinate(study)
    varied = {name for trial in finished for name in trial.params}
    if len(finished) >= 2 and any(
        len({trial.params.get(name) for trial in finished}) > 1 for name in varied
    ):
        drawn["importance"] = visualization.plot_param_importances(study)
    return drawn


# --------------------------------------------------------------------------- in the background
class BackgroundTask:
    """Something that runs until it is done or stopped, here or on a thread of its own.

    Subclasses implement ``run(listener)``; ``start(listener)`` runs it on a thread
    (the app), keeping a ``LayerlabError`` it raises in ``error`` for the page to
    show; ``stop()`` asks it to end.
    """

    def __init__(self) -> None:
        self.error: LayerlabError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, listener: Callable[[Any], None] | None = None) -> Any:
        raise NotImplementedError

    def start(self, listener: Callable[[Any], None] | None = None) -> threading.Thread:
        def work() -> None:
            try:
                self.run(listener)
            except LayerlabError as error:
                self.error = error

        self._thread = threading.Thread(target=work, name=f"layerlab-{type(self).__name__}")
        self._thread.daemon = True
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """End it: nothing new starts; what runs is stopped and kept as stopped."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        """Whether a task started with ``start()`` is still going."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a task started with ``start()``; True once it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


# --------------------------------------------------------------------------- the search
@dataclass
class _Running:
    trial: optuna.Trial
    handle: TrialHandle


class Search(BackgroundTask):
    """A search over ``space`` from ``base_spec`` on ``frame``, its trials run by ``runner``.

    The study is created in ``storage`` (an Optuna storage or a URL; None keeps it
    in memory) under ``study_name``, or joined when it exists: then it must search
    the same thing (space, spec, data, sample, epochs, seed, budget), or
    ``LayerlabError`` says what differs. ``data_fingerprint`` names the data (a
    hash of the file) for that check.

    ``run()`` searches until the budget is spent or ``stop()`` is called and
    returns the trials; ``start()`` does the same on a thread of its own (the app),
    whose error, if any, is kept in ``error`` (see ``BackgroundTask``).
    """

    def __init__(
        self,
        runner: TrialRunner,
        frame: pd.DataFrame,
        space: SearchSpace,
        base_spec: ModelSpec,
        settings: SearchSettings | None = None,
        *,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str = "layerlab-search",
        data_fingerprint: str = "",
        parallel: int | None = None,
    ) -> None:
        super().__init__()
        self.runner = runner
        self.space = space.validate()
        self.base_spec = base_spec.validate()
        self.settings = (settings or SearchSettings()).validate()
        self.parallel = max(1, parallel or runner.slots)
        missing = [name for name in base_spec.feature_names if name not in frame.columns]
        if missing:
            raise LayerlabError(
                f"The spec uses column(s) {missing} that are not in the table. Search on the "
                "table the spec was made for."
            )
        self.training_rows = search_rows(frame, base_spec, self.settings.sample, self.settings.seed)
        self.data_fingerprint = data_fingerprint
        self._trial_base = trial_spec(self.base_spec, self.settings)
        self._running: dict[int, _Running] = {}
        self._exhausted = False
        self._storage = storage if not isinstance(storage, str | None) else open_storage(storage)
        self.study = self._open_study(study_name)
        self._study_id = self._storage.get_study_id_from_name(study_name)

    # ------------------------------------------------------------ the study
    def identity(self) -> dict[str, Any]:
        """What this search searches, as the study records it for processes that join it."""
        return {
            "space": self.space.to_dict(),
            "base_spec": self.base_spec.to_dict(),
            "data": self.data_fingerprint,
            "rows": len(self.training_rows),
            "sample": self.settings.sample,
            "epochs": self.settings.epochs,
            "patience": self.settings.patience,
            "seed": self.settings.seed,
            "sampler": self.settings.sampler,
            "trials": self.settings.trials,
        }

    def _open_study(self, name: str) -> optuna.Study:
        import optuna

        sampler = make_sampler(self.settings.sampler, self.settings.seed)
        try:
            study = optuna.create_study(
                storage=self._storage, study_name=name, direction="minimize", sampler=sampler
            )
        except optuna.exceptions.DuplicatedStudyError:
            return self._join(optuna.load_study(study_name=name, storage=self._storage))
        study.set_user_attr(IDENTITY_KEY, self.identity())
        for _ in range(self.settings.trials or 0):
            study.enqueue_trial({})
        study.set_user_attr(READY_KEY, True)
        return study

    def _join(self, study: optuna.Study) -> optuna.Study:
        """Join a study another process created, once it is set up, if it searches the same."""
        deadline = time.monotonic() + JOIN_SECONDS
        while not study.user_attrs.get(READY_KEY):
            if time.monotonic() > deadline:
                raise LayerlabError(
                    f"The study '{study.study_name}' exists but was never finished being set up "
                    "(the process creating it may have stopped). Name a new study."
                )
            time.sleep(0.2)
        recorded = study.user_attrs.get(IDENTITY_KEY, {})
        wanted = self.identity()
        differs = [key for key in wanted if recorded.get(key) != wanted[key]]
        if differs:
            shown = [
                f"{key} ({_short(recorded.get(key))} there, {_short(wanted[key])} here)"
                for key in differs
            ]
            raise LayerlabError(
                f"The study '{study.study_name}' in this storage searches something else: "
                f"{'; '.join(shown)}. Use the same data and settings to join it, or name a new "
                "study."
            )
        if self.settings.sampler == "tpe":
            # Not the creator's seed: two processes with one seed would draw the same points.
            study.sampler = make_sampler("tpe", None)
        else:
            study.sampler = make_sampler("random", self.settings.seed)
        return study

    def _claim(self) -> optuna.Trial | None:
        """The next trial for this process: a waiting one of the budget, taken under the
        database's row lock so no other process takes it too (None when none is left); with
        a budget of minutes only, a new one."""
        import optuna
        from optuna.trial import TrialState

        if self.settings.trials is None:
            return self.study.ask()
        for waiting in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = self._storage.get_trial_id_from_study_id_trial_number(
                self._study_id, waiting.number
            )
            try:
                if self._storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return optuna.trial.Trial(self.study, trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
        return None

    # ------------------------------------------------------------ running
    def run(self, on_trial: Callable[[TrialRow], None] | None = None) -> list[TrialRow]:
        """Search until the budget is spent or ``stop()``; return every trial of the study.

        ``on_trial`` hears each trial this process finishes, as it finishes.
        """
        from layerlab.runs.background import this_process

        deadline = None
        if self.settings.minutes is not None:
            deadline = time.monotonic() + 60 * self.settings.minutes
        self._fail_abandoned()
        worker = this_process()
        try:
            while True:
                out_of_time = deadline is not None and time.monotonic() >= deadline
                if self._stop.is_set() or out_of_time or self.error is not None:
                    for running in self._running.values():
                        running.handle.stop()
                else:
                    while len(self._running) < self.parallel and not self._exhausted:
                        if not self._start_next(worker):
                            break
                for number, running in list(self._running.items()):
                    if running.handle.wait(0):
                        del self._running[number]
                        row = self._record(running)
                        if on_trial is not None:
                            on_trial(row)
                idle = self._exhausted or self._stop.is_set() or out_of_time
                if not self._running and (idle or self.error is not None):
                    break
                time.sleep(POLL_SECONDS)
        except BaseException:
            self._stop_running()
            raise
        if self.error is not None:
            raise self.error
        return self.rows_so_far()

    def _start_next(self, worker: str) -> bool:
        """Claim a trial, draw its spec and start it; False when the budget has none left."""
        from optuna.trial import TrialState

        trial = self._claim()
        if trial is None:
            self._exhausted = True
            return False
        trial.set_user_attr("worker", worker)
        spec = self.space.sample(trial, self._trial_base)
        trial.set_user_attr("spec", spec.to_dict())
        try:
            handle = self.runner.start_trial(spec, f"trial {trial.number}", self.training_rows)
        except LayerlabError as error:  # e.g. a full workspace: the next trial would fail too
            outcome = TrialOutcome("failed", None, 0, None, 0.0, None, str(error))
            trial.set_user_attr("outcome", outcome.to_dict())
            self.study.tell(trial, state=TrialState.FAIL)
            self.error = error
            return False
        if handle.run_id is not None:
            trial.set_user_attr("run_id", handle.run_id)
        self._running[trial.number] = _Running(trial, handle)
        return True

    def _record(self, running: _Running) -> TrialRow:
        """Tell the study how a trial ended; a stopped one keeps its best loss as pruned."""
        from optuna.trial import TrialState

        outcome = running.handle.outcome()
        trial = running.trial
        trial.set_user_attr("outcome", outcome.to_dict())
        if outcome.validation_loss is not None:
            trial.report(outcome.validation_loss, step=outcome.best_epoch or outcome.epochs)
        if outcome.status in ("finished", "diverged") and outcome.validation_loss is not None:
            frozen = self.study.tell(trial, outcome.validation_loss)
        elif outcome.status == "stopped":
            frozen = self.study.tell(trial, state=TrialState.PRUNED)
        else:
            frozen = self.study.tell(trial, state=TrialState.FAIL)
        return TrialRow.from_trial(frozen)

    def _stop_running(self) -> None:
        """Stop the trials this process runs and record each as it ends."""
        for running in self._running.values():
            running.handle.stop()
        for number, running in list(self._running.items()):
            running.handle.wait(60)
            del self._running[number]
            self._record(running)

    def _fail_abandoned(self) -> None:
        """Trials left running by a process of this machine that is gone are marked failed
        (a process on another machine cannot be checked from here)."""
        from optuna.trial import TrialState

        from layerlab.runs.background import owner_alive

        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            if worker and not owner_alive(worker):
                outcome = TrialOutcome(
                    "failed", None, 0, None, 0.0, None, "The process running it went away."
                )
                trial_id = self._storage.get_trial_id_from_study_id_trial_number(
                    self._study_id, trial.number
                )
                self._storage.set_trial_user_attr(trial_id, "outcome", outcome.to_dict())
                self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)

    # ------------------------------------------------------------ reading
    def rows_so_far(self) -> list[TrialRow]:
        return trial_rows(self.study)

    def best(self) -> TrialRow | None:
        return best_row(self.study)

    def others_running(self) -> list[int]:
        """Trials of the study that other processes are running now."""
        from optuna.trial import TrialState

        return [
            trial.number
            for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if trial.number not in self._running
        ]

    def wait_for_others(self, timeout: float) -> list[int]:
        """Wait up to ``timeout`` seconds for the trials other processes run; return those still
        running then (so every process reports the same best once all have finished)."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.others_running()
            if not left or time.monotonic() >= deadline or self._stop.is_set():
                return left
            time.sleep(1.0)


def retrain_best(
    runner: TrialRunner,
    frame: pd.DataFrame,
    spec: ModelSpec,
    base_spec: ModelSpec,
    name: str = "best on all rows",
) -> TrialHandle:
    """ "Train the best one on all the data": ``spec`` (a trial's) on every row of ``frame``,
    with the base spec's epochs and patience."""
    return runner.start_trial(full_training_spec(spec, base_spec), name, frame)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "different"
    return repr(value)

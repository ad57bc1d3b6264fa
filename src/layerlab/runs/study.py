"""A search's Optuna study: its sampler, its storage, and its trials as rows a person reads.

Optuna and SQLAlchemy are imported where they are used, not at the top: the
Streamlit server imports the search modules on every page, and most pages never
touch a study.

A search's budget of trials is laid out as *waiting* trials when its study is
made, and each process takes the next with Optuna's public ``Study.ask``, which
claims a waiting trial under the storage's lock. ``Study.ask`` makes a new trial
when none is waiting; ``TrialBudget`` is the storage a search works through, which
refuses that for a study whose budget is a number of trials, so no process runs
a trial past the budget, however the processes race.
"""

from __future__ import annotations

import abc
import random
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import ModelSpec, format_layers

if TYPE_CHECKING:
    import optuna

# The message of a trial whose process stopped without saying how it ended.
GONE_MESSAGE = "The process running it went away."


class BudgetSpent(Exception):
    """``Study.ask`` found no waiting trial in a study whose budget is a number of trials."""


def trial_budget(
    storage: optuna.storages.BaseStorage, *, closed: bool
) -> optuna.storages.BaseStorage:
    """``storage`` as one search sees it: with ``closed``, asking for a trial when none of the
    budget is waiting raises ``BudgetSpent`` instead of making one (``enqueue_trial`` still
    lays out waiting trials). Everything else goes to ``storage`` unchanged.

    It implements ``BaseStorage``, the interface Optuna documents for storages, rather than
    copying ``Study``'s private claim of a waiting trial. (A database storage so wrapped
    goes without Optuna's private read cache; a search's few dozen trials do not miss it.)
    """
    import optuna

    class TrialBudget(optuna.storages.BaseStorage):
        def create_new_trial(self, study_id: int, template_trial=None) -> int:
            if closed and template_trial is None:
                raise BudgetSpent
            return storage.create_new_trial(study_id, template_trial)

    def forward(name: str):
        return lambda self, *args, **kwargs: getattr(storage, name)(*args, **kwargs)

    for name, member in vars(optuna.storages.BaseStorage).items():
        if callable(member) and not name.startswith("_") and name not in vars(TrialBudget):
            setattr(TrialBudget, name, forward(name))
    abc.update_abstractmethods(TrialBudget)  # its abstract methods are now all forwarded
    return TrialBudget()


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
        if trial.state.name == "FAIL" and not outcome:  # its process went away (``Search``)
            outcome = {"status": "failed", "message": GONE_MESSAGE}
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

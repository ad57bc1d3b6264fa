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

from layerlab.report.run_table import COMPARED_FIELDS
from layerlab.schema.errors import LayerlabError
from layerlab.schema.layers import DENSE, DROPOUT
from layerlab.schema.spec import ModelSpec, format_layers

if TYPE_CHECKING:
    import optuna

# The message of a trial whose process stopped without saying how it ended.
GONE_MESSAGE = "The process running it went away."
# "Which settings mattered" is shown from this many finished trials, and from two for each
# setting varied where that is more: with fewer, a random forest ranks the settings by chance.
IMPORTANCE_MIN_TRIALS = 10
IMPORTANCE_TRIALS_PER_SETTING = 2
# The search parameters (``search_space.py``) as the Model page labels them; ``units_N`` reads
# "Units in layer N". The words come from where the Model page takes them.
_SETTING_WORDS = {
    "hidden_layers": "Hidden layers",
    "activation": next(s.label for s in DENSE.settings if s.name == "activation"),
    "dropout_rate": next(s.label for s in DROPOUT.settings if s.name == "rate"),
    "optimizer": COMPARED_FIELDS["optimizer"],
    "learning_rate": COMPARED_FIELDS["learning_rate"],
    "batch_size": COMPARED_FIELDS["batch_size"],
}
_UNITS_WORD = next(s.label for s in DENSE.settings if s.name == "units")
# The order a person reads the settings in, as the Model page lays them out.
_SETTING_ORDER = (
    "hidden_layers",
    "units",
    "activation",
    "dropout_rate",
    "optimizer",
    "learning_rate",
    "batch_size",
)


def setting_label(name: str) -> str:
    """A search parameter as the Model page names it: ``units_2`` is "Units in layer 2",
    ``learning_rate`` "Learning rate"; an unknown name is given back as it is."""
    if name.startswith("units_") and name[len("units_") :].isdigit():
        return f"{_UNITS_WORD} in layer {int(name[len('units_') :])}"
    return _SETTING_WORDS.get(name, name)


def _setting_order(name: str) -> tuple[int, int, str]:
    base, _, position = name.partition("_") if name.startswith("units_") else (name, "", "0")
    rank = _SETTING_ORDER.index(base) if base in _SETTING_ORDER else len(_SETTING_ORDER)
    return rank, int(position) if position.isdigit() else 0, name


def trial_name(number: int) -> str:
    """A trial as a person reads it, numbered from 1 (``trial 1``); Optuna numbers it from 0."""
    return f"trial {number + 1}"


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

    @property
    def shown_number(self) -> int:
        """The trial's number as a person reads it: from 1 (``number`` is Optuna's, from 0)."""
        return self.number + 1

    @property
    def name(self) -> str:
        return trial_name(self.number)

    @property
    def scored(self) -> bool:
        """Finished with a validation loss: Optuna counts it (its state is COMPLETE)."""
        return self.status in ("finished", "diverged") and self.validation_loss is not None

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
    """One row per trial, numbered from 1: its settings, validation loss, epochs, seconds and
    status."""
    return pd.DataFrame(
        [
            {
                "trial": row.shown_number,
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


def scored(rows: list[TrialRow]) -> list[TrialRow]:
    """The trials that finished with a validation loss, the ones a study learns from."""
    return [row for row in rows if row.scored]


def varied_settings(rows: list[TrialRow]) -> list[str]:
    """The search parameters that took more than one value among the scored trials, in the
    Model page's order (``hidden_layers``, ``units_1``, ``units_2`` ... ``batch_size``)."""
    done = scored(rows)
    names = {name for row in done for name in row.params}
    # A setting some trials lack (the units of a layer only deeper networks have) varies too.
    varied = [name for name in names if len({row.params.get(name) for row in done}) > 1]
    return sorted(varied, key=_setting_order)


def importance_needs(rows: list[TrialRow]) -> int:
    """How many scored trials "which settings mattered" waits for: ``IMPORTANCE_MIN_TRIALS``,
    or ``IMPORTANCE_TRIALS_PER_SETTING`` for each setting varied where that is more."""
    return max(IMPORTANCE_MIN_TRIALS, IMPORTANCE_TRIALS_PER_SETTING * len(varied_settings(rows)))


def setting_importances(study: optuna.Study) -> dict[str, float]:
    """Which settings mattered: each varied setting's share of how the validation loss moved
    (Optuna's fANOVA importances, summing to 1), largest first, under its search parameter's
    name; empty until ``importance_needs`` finished trials are in."""
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    rows = trial_rows(study)
    if not varied_settings(rows) or len(scored(rows)) < importance_needs(rows):
        return {}
    return dict(get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0)))


def importance_note(rows: list[TrialRow]) -> str | None:
    """Why "which settings mattered" is not shown yet, with how many more trials it needs;
    None once enough trials finished to say (or when nothing varied)."""
    varied, finished = varied_settings(rows), len(scored(rows))
    if not varied:
        return None
    needed = importance_needs(rows)
    if finished >= needed:
        return None
    why = (
        f": {IMPORTANCE_TRIALS_PER_SETTING} for each of the {len(varied)} settings varied"
        if IMPORTANCE_TRIALS_PER_SETTING * len(varied) > IMPORTANCE_MIN_TRIALS
        else ""
    )
    done = "1 trial has" if finished == 1 else f"{finished:,} trials have"
    return (
        f"{done} finished; which settings mattered needs {needed - finished:,} more "
        f"({needed:,} in all{why}), as fewer rank the settings mostly by chance."
    )

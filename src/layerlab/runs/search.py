"""Random hyperparameter search on Optuna: trials side by side, on one machine or many.

``Search`` draws each trial's spec from a ``SearchSpace`` (Optuna's
``RandomSampler`` by default, TPE when asked), hands it to a trial runner
(``trials.py``), and tells Optuna the trial's best validation loss, through
Optuna's ask-and-tell interface, so that up to ``parallel`` trials train at once.
Its budget is a number of trials and/or minutes (``search_settings.py``);
``stop()`` ends it, keeping every finished trial, and a trial still running is
stopped and kept as *stopped* with the best validation loss it had reached
(Optuna: pruned, with that value).

The study lives in an Optuna storage (``study.py``). With a shared database
(``postgresql+psycopg://...``), the same search started in several processes, on
several machines, works on one study: the budget of trials is laid out as
*waiting* trials when the study is created, and each process asks for one at a
time, so each trial is run once, and a search stopped part way is resumed by
starting it again. Trial *k*'s settings are drawn from a generator seeded by
(seed, *k*), so the same data, space and seed give the same settings in the same
order, however many processes share the work and whichever finishes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

# ``X as X``: re-exported for the app's search panel, which imports them from here.
from layerlab.runs.background import owner_alive, this_process
from layerlab.runs.search_settings import SearchSettings, search_rows, trial_spec
from layerlab.runs.search_space import SearchSpace
from layerlab.runs.study import (
    BudgetSpent,
    TrialRow,
    best_row,
    make_sampler,
    open_storage,
    trial_budget,
    trial_name,
    trial_rows,
)
from layerlab.runs.tasks import POLL_SECONDS, BackgroundTask
from layerlab.runs.trials import TrialHandle, TrialOutcome, TrialRunner
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import ModelSpec

if TYPE_CHECKING:  # Optuna itself is imported in the methods that use it (see study.py)
    import optuna

# The study's own record of what it searches, and that it is ready to be joined.
IDENTITY_KEY = "layerlab_search"
READY_KEY = "layerlab_ready"
JOIN_SECONDS = 60.0


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
    hash of the file) for that check. ``start_from_base``: the first trial is
    ``base_spec``'s own network (as near as the space can draw it), so the search's best
    is never worse than where it started, by the search's own measure.

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
        start_from_base: bool = False,
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
        self.start_from_base = start_from_base
        self._trial_base = trial_spec(self.base_spec, self.settings)
        self._running: dict[int, _Running] = {}
        self._exhausted = False
        if isinstance(storage, str | None):
            storage = open_storage(storage)
        self._storage = trial_budget(storage, closed=self.settings.trials is not None)
        self.study = self._open_study(study_name)

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
            "start_from_base": self.start_from_base,
        }

    def _open_study(self, name: str) -> optuna.Study:
        import optuna  # see study.py: not loaded until a search runs

        sampler = make_sampler(self.settings.sampler, self.settings.seed)
        try:
            study = optuna.create_study(
                storage=self._storage, study_name=name, direction="minimize", sampler=sampler
            )
        except optuna.exceptions.DuplicatedStudyError:
            return self._join(optuna.load_study(study_name=name, storage=self._storage))
        study.set_user_attr(IDENTITY_KEY, self.identity())
        waiting = [{} for _ in range(self.settings.trials or 0)]
        if self.start_from_base:  # the first trial is the starting network itself
            waiting[:1] = [self.space.params_of(self._trial_base)]
        for params in waiting:
            study.enqueue_trial(params)
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
        """The next trial for this process (``Study.ask``): a waiting one of the budget, which
        no other process takes too, or None when none is left; with a budget of minutes only,
        a new one."""
        try:
            return self.study.ask()
        except BudgetSpent:
            return None

    # ------------------------------------------------------------ running
    def run(self, on_trial: Callable[[TrialRow], None] | None = None) -> list[TrialRow]:
        """Search until the budget is spent or ``stop()``; return every trial of the study.

        ``on_trial`` hears each trial this process finishes, as it finishes.
        """
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
            handle = self.runner.start_trial(spec, trial_name(trial.number), self.training_rows)
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
        """Trials left running by a process of this machine that is gone are marked failed,
        without an outcome (``TrialRow`` says the process went away); a process on another
        machine cannot be checked from here."""
        from optuna.trial import TrialState

        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            if worker and not owner_alive(worker):
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


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "different"
    return repr(value)

"""Trial runners: what trains one trial of a search and says how it went, as plain values.

``PoolTrials`` runs trials in a ``WorkerPool`` with their files in a folder (the
CLI); ``WorkspaceTrials`` makes each trial a run in a workspace, started by the
``RunManager``, so it shows live in the Runs table (the app). A search needs only
the ``TrialRunner`` protocol, so tests drive it with a fake one.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from layerlab.report.records import RunRecord
from layerlab.report.run_files import TrainedModel
from layerlab.report.run_table import network_line
from layerlab.runs.background import RunManager, outcome_status
from layerlab.runs.pool_job import Job, WorkerBug
from layerlab.runs.search_settings import full_training_spec
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.workers import WorkerPool
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import ModelSpec

# Trials train with the plain graph loop, not XLA: XLA keeps every network it has
# compiled for the life of the process (about 18 MB each; 50 trials grew a worker by
# 900 MB, see bench/SEARCH.md), and on a search's sample of rows and few epochs its
# compile time outweighs the faster epochs. The winner trained on all the data uses XLA
# (``PoolTrials(final=True)``, or a run started by hand in the app).
TRIAL_JIT = False
# Trials are compared by their validation loss alone: their importance, model card and
# train.py (seconds on a large table) are worked out for the winner retrained on all the data.
TRIAL_INSIGHTS = False


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

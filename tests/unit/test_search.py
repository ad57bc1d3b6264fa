"""The search: trials side by side on Optuna, reproducible, stoppable, shared by processes; on a
real table it beats the default network; the CLI writes its trials, the best bundle and the study."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from layerlab.cli.main import main
from layerlab.model.export import BUNDLE_FILES
from layerlab.report.run_table import COMPARED_FIELDS
from layerlab.runs.background import RunManager
from layerlab.runs.search import Search
from layerlab.runs.search_settings import (
    MIN_SEARCH_ROWS,
    SearchSettings,
    full_training_spec,
    search_rows,
    trial_spec,
)
from layerlab.runs.search_space import Range, SearchSpace, default_space
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.study import (
    IMPORTANCE_MIN_TRIALS,
    IMPORTANCE_TRIALS_PER_SETTING,
    importance_needs,
    importance_note,
    open_storage,
    scored,
    setting_importances,
    setting_label,
    trials_frame,
    varied_settings,
)
from layerlab.runs.trials import PoolTrials, TrialOutcome, WorkspaceTrials
from layerlab.runs.workers import WorkerPool
from layerlab.schema.errors import LayerlabError, SpecError, WorkspaceFull
from layerlab.schema.spec import Feature, ModelSpec, default_spec
from layerlab.tabular.data import profile_columns
from layerlab.tabular.reading import read_csv

optuna.logging.set_verbosity(optuna.logging.WARNING)
DATA = Path(__file__).resolve().parents[2] / "data"


def table(name: str, target: str) -> tuple[pd.DataFrame, ModelSpec]:
    frame = read_csv(DATA / name)
    task = "regression" if name == "diabetes.csv" else None
    from layerlab.tabular.task import check_target

    info = check_target(frame, target, task)
    return frame, default_spec(target, info.task, profile_columns(frame, target))


# --------------------------------------------------------------------------- a runner of our own
class FakeTrial:
    """A trial that "trains" for ``seconds`` and scores by its learning rate and depth."""

    def __init__(self, spec: ModelSpec, seconds: float, fail: bool) -> None:
        self.spec, self.seconds, self.fail = spec, seconds, fail
        self.run_id = None
        self.started = time.monotonic()
        self.stopped = False

    @property
    def loss(self) -> float:
        return abs(math.log10(self.spec.learning_rate) + 2.5) + 0.01 * len(self.spec.layers)

    def wait(self, timeout: float | None = None) -> bool:
        left = self.started + self.seconds - time.monotonic()
        if self.stopped or left <= 0:
            return True
        time.sleep(min(left, timeout or 0))
        return self.stopped or time.monotonic() >= self.started + self.seconds

    def stop(self) -> None:
        self.stopped = True

    def outcome(self) -> TrialOutcome:
        if self.fail:
            return TrialOutcome("failed", None, 0, None, 0.0, None, "It went wrong.")
        status = "stopped" if self.stopped else "finished"
        return TrialOutcome(status, self.loss + (1 if self.stopped else 0), 3, 2, 0.1, 99, "")


class FakeRunner:
    """Runs fake trials: ``seconds`` each (or as ``durations`` says by name), failing those in
    ``fail``."""

    def __init__(self, slots=2, seconds=0.0, fail=frozenset(), durations=None) -> None:
        self.slots, self.seconds, self.fail = slots, seconds, fail
        self.durations = durations or {}
        self.started: list[tuple[str, ModelSpec]] = []

    def start_trial(self, spec: ModelSpec, name: str, rows: pd.DataFrame) -> FakeTrial:
        self.started.append((name, spec))
        return FakeTrial(spec, self.durations.get(name, self.seconds), name in self.fail)


def tiny_table(rows: int = 60) -> tuple[pd.DataFrame, ModelSpec]:
    x = np.linspace(0.0, 3.0, rows)
    frame = pd.DataFrame({"x": x, "colour": ["red", "green", "blue"] * (rows // 3), "y": 2 * x})
    return frame, default_spec("y", "regression", profile_columns(frame, "y"))


def fake_search(runner=None, trials=6, seed=0, minutes=None, **options) -> Search:
    frame, spec = tiny_table()
    settings = SearchSettings(trials=trials, minutes=minutes, seed=seed)
    return Search(runner or FakeRunner(), frame, default_space(), spec, settings, **options)


def settings_in_order(search: Search) -> list[dict]:
    return [
        {"number": row.number, **row.params}
        for row in sorted(search.rows_so_far(), key=lambda row: row.number)
    ]


# --------------------------------------------------------------------------- the driver
def test_the_same_data_space_and_seed_give_the_same_trials_in_the_same_order():
    alone = fake_search(FakeRunner(slots=1), seed=3)
    alone.run()
    side_by_side = fake_search(FakeRunner(slots=3, seconds=0.05), seed=3)
    side_by_side.run()
    assert settings_in_order(alone) == settings_in_order(side_by_side)
    other_seed = fake_search(seed=4)
    other_seed.run()
    assert settings_in_order(other_seed) != settings_in_order(alone)


def test_the_budget_of_trials_is_run_once_each_and_the_best_has_the_lowest_loss():
    runner = FakeRunner(slots=2)
    search = fake_search(runner, trials=5)
    heard = []
    rows = search.run(heard.append)
    assert [row.number for row in rows] == [0, 1, 2, 3, 4]
    assert sorted(row.number for row in heard) == [0, 1, 2, 3, 4]
    assert [name for name, _ in runner.started] == [f"trial {n}" for n in range(1, 6)]
    assert {row.status for row in rows} == {"finished"}
    best = search.best()
    assert best.validation_loss == min(row.validation_loss for row in rows)
    # Each trial trains for the search's few epochs, with early stopping.
    assert {(spec.epochs, spec.patience) for _, spec in runner.started} == {(30, 5)}
    assert best.spec == runner.started[best.number][1]


def test_stop_mid_search_keeps_the_finished_trials_and_the_running_ones_as_stopped():
    runner = FakeRunner(slots=2, seconds=0.2, durations={"trial 2": 30.0})
    search = fake_search(runner, trials=8)
    search.run(lambda row: search.stop())  # Stop as the first trial finishes
    rows = search.rows_so_far()
    assert [(row.number, row.status) for row in rows] == [(0, "finished"), (1, "stopped")]
    stopped = search.study.trials[1]  # Optuna: pruned, its value the best it had reached
    assert stopped.state.name == "PRUNED"
    assert stopped.value == pytest.approx(rows[1].validation_loss)
    waiting = search.study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 6  # the rest of the budget waits in the study, for a later run


def test_a_budget_of_minutes_stops_the_search_in_time():
    search = fake_search(FakeRunner(slots=2, seconds=5.0), trials=None, minutes=0.01)
    started = time.monotonic()
    rows = search.run()
    assert time.monotonic() - started < 3
    assert [row.status for row in rows] == ["stopped", "stopped"]


def test_a_failed_trial_is_kept_with_its_reason_and_the_search_goes_on():
    search = fake_search(FakeRunner(fail={"trial 2"}), trials=3)
    rows = search.run()
    assert [row.status for row in rows] == ["finished", "failed", "finished"]
    assert rows[1].message == "It went wrong."
    assert search.study.trials[1].state.name == "FAIL"


def test_a_trial_that_cannot_start_ends_the_search_with_the_reason():
    class FullRunner(FakeRunner):
        def start_trial(self, spec, name, rows):
            if name == "trial 3":
                raise WorkspaceFull("The workspace is full. Delete some runs.")
            return super().start_trial(spec, name, rows)

    search = fake_search(FullRunner(slots=1), trials=5)
    with pytest.raises(WorkspaceFull):
        search.run()
    assert [row.status for row in search.rows_so_far()] == ["finished", "finished", "failed"]
    # In the background, the error is kept for the page to show.
    background = fake_search(FullRunner(slots=1), trials=5)
    background.start()
    assert background.wait(10)
    assert isinstance(background.error, WorkspaceFull)


def test_two_searches_on_one_study_split_its_trials_run_each_once_and_agree_on_the_best():
    storage = open_storage(None)
    runners = [FakeRunner(slots=1, seconds=0.05), FakeRunner(slots=1, seconds=0.05)]
    searches = [fake_search(runner, trials=10, storage=storage) for runner in runners]
    threads = [threading.Thread(target=search.run) for search in searches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    names = [[name for name, _ in runner.started] for runner in runners]
    assert all(names), "both processes took trials"
    assert sorted(names[0] + names[1]) == sorted(f"trial {n}" for n in range(1, 11))
    assert searches[0].best() == searches[1].best()
    # The settings of trial k are the same as a search alone would draw.
    alone = fake_search(FakeRunner(slots=1), trials=10)
    alone.run()
    assert settings_in_order(alone) == settings_in_order(searches[0])


def test_searches_racing_for_the_last_trials_never_make_one_past_the_budget():
    storage = open_storage(None)
    runners = [FakeRunner(slots=2) for _ in range(4)]
    searches = [fake_search(runner, trials=12, storage=storage) for runner in runners]
    threads = [threading.Thread(target=search.run) for search in searches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    names = [name for runner in runners for name, _ in runner.started]
    assert sorted(names) == sorted(f"trial {n}" for n in range(1, 13))
    assert [trial.number for trial in searches[0].study.trials] == list(range(12))
    assert {trial.state.name for trial in searches[0].study.trials} == {"COMPLETE"}


def test_a_stopped_search_started_again_runs_the_rest_of_its_budget():
    storage = open_storage(None)
    runner = FakeRunner(slots=1)
    first = fake_search(runner, trials=5, storage=storage)
    first.run(lambda row: first.stop() if row.number == 1 else None)
    again = fake_search(FakeRunner(slots=2), trials=5, storage=storage)
    rows = again.run()
    assert [row.number for row in rows] == [0, 1, 2, 3, 4]
    assert {row.status for row in rows} == {"finished"}
    assert [name for name, _ in runner.started] == ["trial 1", "trial 2"]


def test_joining_a_study_that_searches_something_else_says_what_differs():
    storage = open_storage(None)
    fake_search(trials=4, storage=storage)
    with pytest.raises(LayerlabError) as raised:
        fake_search(trials=6, seed=1, storage=storage)
    message = str(raised.value)
    assert "searches something else" in message
    assert "seed (0 there, 1 here)" in message and "trials (4 there, 6 here)" in message
    assert "name a new study" in message


def test_a_trial_left_running_by_a_process_that_is_gone_is_marked_failed():
    storage = open_storage(None)
    first = fake_search(trials=3, storage=storage)
    trial = first._claim()
    trial.set_user_attr("worker", "somewhere:0:0")  # on another host: left alone
    gone = first._claim()
    import socket

    gone.set_user_attr("worker", f"{socket.gethostname()}:999999999:1")
    again = fake_search(trials=3, storage=storage)
    again.run()
    states = {row.number: row.status for row in again.rows_so_far()}
    assert states[gone.number] == "failed"
    assert states[trial.number] == "running"
    assert "went away" in again.rows_so_far()[gone.number].message


def test_bad_settings_are_reported_all_at_once():
    with pytest.raises(SpecError) as raised:
        SearchSettings(trials=0, minutes=-1, sample=0, epochs=0, seed=-1, sampler="grid").validate()
    assert len(raised.value.problems) == 6
    assert "The 'sampler' must be one of random, tpe; got 'grid'." in raised.value.problems
    assert SearchSettings().trials == 12  # no budget given: the lessons' dozen


def test_each_trial_trains_on_a_seeded_sample_of_the_rows_but_never_too_few():
    frame, spec = table("customer_churn.csv", "churned")
    sample = search_rows(frame, spec, 0.3, seed=1)
    assert len(sample) == max(math.ceil(0.3 * len(frame)), MIN_SEARCH_ROWS)
    assert sample.equals(search_rows(frame, spec, 0.3, seed=1))
    assert not sample.equals(search_rows(frame, spec, 0.3, seed=2))
    shares = frame["churned"].value_counts(normalize=True)
    assert sample["churned"].value_counts(normalize=True).round(2).equals(shares.round(2))
    small, small_spec = tiny_table()
    assert len(search_rows(small, small_spec, 0.1, seed=0)) == len(small)


def test_the_trials_table_numbers_trials_from_1():
    search = fake_search(trials=4)
    rows = search.run()
    table_ = trials_frame(rows)
    assert list(table_.columns[:6]) == [
        "trial",
        "status",
        "validation_loss",
        "epochs",
        "best_epoch",
        "seconds",
    ]
    assert list(table_["trial"]) == [1, 2, 3, 4]  # Optuna's own numbers stay 0 to 3
    assert [row.number for row in rows] == [0, 1, 2, 3]
    assert [row.name for row in rows] == ["trial 1", "trial 2", "trial 3", "trial 4"]
    assert table_["layers"].str.startswith("dense:").all()


def test_settings_are_named_as_on_the_model_page():
    assert setting_label("units_1") == "Units in layer 1"
    assert setting_label("units_12") == "Units in layer 12"
    assert setting_label("learning_rate") == COMPARED_FIELDS["learning_rate"] == "Learning rate"
    assert setting_label("batch_size") == "Batch size"
    assert setting_label("dropout_rate") == "Dropout rate"
    assert setting_label("optimizer") == "Optimizer"
    assert setting_label("activation") == "Activation"
    assert setting_label("hidden_layers") == "Hidden layers"
    assert setting_label("something_new") == "something_new"


def test_which_settings_mattered_waits_for_enough_finished_trials():
    few = fake_search(trials=4)
    rows = few.run()
    varied = varied_settings(rows)
    in_page_order = [
        name for name in ("hidden_layers", "units_1", "learning_rate") if name in varied
    ]
    assert len(in_page_order) > 1 and in_page_order == [n for n in varied if n in in_page_order]
    needed = importance_needs(rows)
    assert needed == max(IMPORTANCE_MIN_TRIALS, IMPORTANCE_TRIALS_PER_SETTING * len(varied))
    assert setting_importances(few.study) == {}
    note = importance_note(rows)
    assert note.startswith(
        f"4 trials have finished; which settings mattered needs {needed - 4} more"
    )
    assert f"({needed} in all: 2 for each of the {len(varied)} settings varied)" in note
    # One setting varied: ten trials at least.
    frame, spec = tiny_table()
    one = Search(
        FakeRunner(),
        frame,
        SearchSpace(learning_rate=Range(0.001, 0.1)),
        spec,
        SearchSettings(trials=3, seed=0),
    )
    rows = one.run()
    assert importance_needs(rows) == IMPORTANCE_MIN_TRIALS
    assert "needs 7 more (10 in all), as fewer" in importance_note(rows)
    assert importance_note([]) is None  # nothing varied yet: nothing to wait for
    # Enough trials: the shares, under the search's names, and no note.
    many = fake_search(trials=needed + 4)
    rows = many.run()
    needed = importance_needs(rows)
    assert len(scored(rows)) >= needed and importance_note(rows) is None
    shares = setting_importances(many.study)
    assert "learning_rate" in shares and sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=shares.get) == "learning_rate"  # the fake trials score by it


def test_tpe_is_an_option_and_a_joiner_does_not_repeat_the_creators_draws():
    storage = open_storage(None)
    frame, spec = tiny_table()
    settings = SearchSettings(trials=4, sampler="tpe", seed=5)
    first = Search(FakeRunner(slots=1), frame, default_space(), spec, settings, storage=storage)
    second = Search(FakeRunner(slots=1), frame, default_space(), spec, settings, storage=storage)
    assert type(first.study.sampler).__name__ == "TPESampler"
    a, b = first._claim(), second._claim()
    assert default_space().sample(a, spec) != default_space().sample(b, spec)


# --------------------------------------------------------------------------- real training
@pytest.fixture(scope="module")
def pool():
    pool = WorkerPool(2)
    yield pool
    pool.close()


def test_a_search_of_a_few_trials_on_a_real_table_beats_the_default_network(pool, tmp_path):
    frame, spec = table("diabetes.csv", "disease_progression")
    settings = SearchSettings(trials=4, epochs=20, seed=0)
    runner = PoolTrials(pool, tmp_path)
    search = Search(runner, frame, default_space(), spec, settings)
    default = runner.start_trial(trial_spec(spec, settings), "default", search.training_rows)
    rows = search.run()
    default.wait()
    default_loss = default.outcome().validation_loss
    assert {row.status for row in rows} == {"finished"}
    assert search.best().validation_loss < default_loss
    assert (tmp_path / "trial-1" / "bundle.zip").is_file()  # every trial keeps its files


def test_stopping_a_real_search_keeps_each_running_trials_best_loss_so_far(pool, tmp_path):
    frame, spec = tiny_table()
    space = SearchSpace(learning_rate=Range(0.001, 0.01))
    settings = SearchSettings(trials=2, epochs=5000, patience=0)

    class Watched(PoolTrials):
        def __init__(self, pool, folder):
            super().__init__(pool, folder)
            self.handles = []

        def start_trial(self, spec, name, rows):
            handle = super().start_trial(spec, name, rows)
            self.handles.append(handle)
            return handle

    runner = Watched(pool, tmp_path)
    search = Search(runner, frame, space, spec, settings)
    search.start()
    deadline = time.monotonic() + 120
    while not (
        len(runner.handles) == 2
        and all(any(type(e).__name__ == "EpochEnd" for e in h.job.events) for h in runner.handles)
    ):
        assert time.monotonic() < deadline, "the trials did not start training"
        time.sleep(0.1)
    search.stop()
    assert search.wait(60)
    rows = search.rows_so_far()
    assert [row.status for row in rows] == ["stopped", "stopped"]
    assert all(row.validation_loss is not None and 0 < row.epochs < 5000 for row in rows)


def test_each_trial_of_a_search_in_a_workspace_is_a_run_there(pool, tmp_path):
    store = WorkspaceStore(tmp_path / "workspace")
    frame, spec = tiny_table()
    data = frame.to_csv(index=False).encode()
    saved = store.add_table("tiny.csv", data, rows=len(frame), columns=frame.shape[1])
    runner = WorkspaceTrials(RunManager(pool), store, saved.id, saved.fingerprint, label="Search 1")
    space = SearchSpace(units=(4, 8), learning_rate=Range(0.001, 0.01))
    search = Search(
        runner,
        frame,
        space,
        spec,
        SearchSettings(trials=2, epochs=3),
        storage=f"sqlite:///{tmp_path / 'searches.db'}",
        study_name="search-1",
    )
    search.start()
    assert search.wait(180) and search.error is None
    rows = search.rows_so_far()
    runs = {record.id: record for record in store.runs()}
    assert sorted(runs) == sorted(row.run_id for row in rows)
    for row in rows:
        record = runs[row.run_id]
        assert record.name.startswith(f"Search 1 · trial {row.number + 1}: ")
        assert record.spec == row.spec and record.table_id == saved.id
    deadline = time.monotonic() + 30  # the manager keeps each outcome as the job ends
    while any(record.active for record in store.runs()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert {record.status for record in store.runs()} == {"finished"}
    # Trials skip XLA, which would keep each compiled network for the life of the worker.
    assert {record.engine for record in store.runs()} == {"compiled loop (graph, no XLA)"}
    # ... and are compared by their validation loss alone: no importance or card is worked out.
    assert all("card" not in record.files and "model" in record.files for record in store.runs()), [
        r.files for r in store.runs()
    ]


# --------------------------------------------------------------------------- the command line
def test_search_command_writes_the_trials_the_best_bundle_and_the_study(tmp_path, capsys):
    out = tmp_path / "search"
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"units": [4, 8], "learning_rate": {"low": 0.001, "high": 0.1}}))
    code = main(
        [
            "search",
            str(DATA / "iris.csv"),
            "--target",
            "species",
            "--trials",
            "2",
            "--epochs",
            "3",
            "--space",
            str(space),
            "--workers",
            "1",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials["trial"]) == [
        1,
        2,
    ]  # numbered from 1 and set(trials["status"]) == {"finished"}
    assert sorted(path.name for path in (out / "best").iterdir()) == sorted(BUNDLE_FILES)
    best = ModelSpec.from_json((out / "best" / "spec.json").read_text())
    assert best.epochs == 200  # trained again with the full epochs, on all the rows
    assert (out / "study.db").is_file() and (out / "trials" / "trial-2").is_dir()
    assert "Best: trial" in err and "Bundle written to" in err
    study = optuna.load_study(study_name="layerlab-search", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--sample", "0"],
            "The 'sample' (the share of rows each trial trains on) must be above 0",
        ),
        (["--workers", "0"], "--workers must be 1 or more; got 0."),
        (
            ["--capacity", "--trials", "3"],
            "--capacity runs the capacity ladder, which takes no --trials",
        ),
        (["--space", "missing.json"], "Cannot read the search space file 'missing.json'"),
        (["--storage", "nonsense"], "'nonsense' is not a database URL"),
    ],
)
def test_bad_flags_get_a_plain_message_and_exit_2(tmp_path, capsys, flags, message):
    args = ["search", str(DATA / "iris.csv"), "--target", "species", "--out", str(tmp_path)]
    assert main([*args, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_a_bad_space_file_lists_its_problems_and_exits_2(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"units": [0], "optimizers": ["adamw", "lion"], "depth": 3}))
    args = ["search", str(DATA / "iris.csv"), "--target", "species", "--space", str(space)]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "error: The search space has 3 problems:" in err
    assert "got 'lion'" in err and "'depth'" in err and "got 0" in err


def test_trials_are_one_network_never_refit_and_the_winner_trains_as_the_base_spec_says():
    base = ModelSpec("y", "regression", [Feature("x", "numeric")], refit=True, ensemble=4)
    trial = trial_spec(base, SearchSettings())
    assert (trial.refit, trial.ensemble) == (False, 1)  # judged on validation rows, quickly
    winner = full_training_spec(trial, base)
    assert (winner.refit, winner.ensemble) == (True, 4)
    plain = full_training_spec(trial, base.replace(refit=False, ensemble=1))
    assert (plain.refit, plain.ensemble) == (False, 1)

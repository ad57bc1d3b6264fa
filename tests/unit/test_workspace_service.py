"""The workspace service's operations: numbering, choosing, deleting, and the one path by
which opening, editing a copy and fixing a run make its table the one looked at."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from layerlab.report.diagnosis import diagnose
from layerlab.report.records import RunRecord
from layerlab.runs.service import Focus, WorkspaceService
from layerlab.runs.store import WorkspaceStore
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import Feature, ModelSpec

PENGUINS = pd.DataFrame(
    {"bill": [39.1, 39.5, 40.3, 46.5], "island": ["a", "b", "a", "b"], "species": list("xyxy")}
)
WAGES = pd.DataFrame({"age": [20, 30, 40, 50], "wage": [1.0, 2.0, 3.0, 4.0]})


def penguin_spec(**changes) -> ModelSpec:
    spec = ModelSpec(
        target="species",
        task="binary",
        features=[Feature("bill", "numeric"), Feature("island", "categorical")],
    )
    return spec.replace(**changes)


def wage_spec(**changes) -> ModelSpec:
    return ModelSpec(
        target="wage", task="regression", features=[Feature("age", "numeric")]
    ).replace(**changes)


class QueueOnly:
    """A run manager that records a started run as queued and trains nothing."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def start(self, store, record, frame, *, prepared: bool = False) -> None:
        store.add_run(record)

    def stop(self, store, run_id) -> None:
        self.stopped.append(run_id)

    def live(self, store, run_id):
        return None

    def active_ids(self, store) -> list[str]:
        return []


@pytest.fixture
def service(tmp_path) -> WorkspaceService:
    return WorkspaceService(WorkspaceStore(tmp_path / "ws"), QueueOnly())


def add(service: WorkspaceService, focus: Focus, data: pd.DataFrame, name: str) -> Focus:
    return service.add_table(focus, data, name, data.to_csv(index=False).encode())


def kept_run(service: WorkspaceService, spec: ModelSpec, table_id: str, **fields) -> RunRecord:
    """A finished run with a model file, as a worker would leave it."""
    record = service.new_run(spec, table_id, status="finished", files={"model": "m.keras"})
    for name, value in fields.items():
        setattr(record, name, value)
    service.store.add_run(record)
    return record


def two_tables(service: WorkspaceService) -> tuple[Focus, RunRecord]:
    """A penguins run kept, then Wage loaded: the situation of a fix on another table."""
    focus = add(service, Focus(), PENGUINS, "penguins.csv")
    focus = service.ensure_spec(focus, "species", "binary", [])
    run = kept_run(service, penguin_spec(), focus.table_id)
    focus = add(service, focus, WAGES, "wages.csv")
    return focus.replace(target="wage", task="regression", spec=wage_spec()), run


def test_two_writers_never_give_two_runs_the_same_name(tmp_path):
    WorkspaceStore(tmp_path / "ws").rename("shared")  # made on disk before both open it
    names: list[str] = []

    def start_runs() -> None:
        writer = WorkspaceService(WorkspaceStore(tmp_path / "ws"), QueueOnly())
        names.extend(writer.run_name(penguin_spec()) for _ in range(10))

    threads = [threading.Thread(target=start_runs) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(int(name.split(":")[0].removeprefix("Run ")) for name in names)
    assert numbers == list(range(1, 21))


def test_a_started_run_is_named_recorded_and_followed(service):
    focus = add(service, Focus(), PENGUINS, "penguins.csv").replace(spec=penguin_spec())
    focus, record = service.start_run(focus, PENGUINS)
    assert focus.following == record.id
    assert record.name.startswith("Run 1: ")
    kept = service.store.run(record.id)
    assert (kept.status, kept.table_id) == ("queued", focus.table_id)
    assert kept.data_fingerprint == service.table(focus.table_id).fingerprint


def test_choosing_a_run_unchooses_every_other(service):
    focus = add(service, Focus(), PENGUINS, "penguins.csv")
    first, second = (kept_run(service, penguin_spec(), focus.table_id) for _ in range(2))
    service.choose(first.id)
    service.choose(second.id)
    assert {record.id: record.chosen for record in service.store.runs()} == {
        first.id: False,
        second.id: True,
    }


def test_choosing_a_deleted_run_says_so_and_changes_nothing(service):
    focus = add(service, Focus(), PENGUINS, "penguins.csv")
    run = kept_run(service, penguin_spec(), focus.table_id)
    service.choose(run.id)
    with pytest.raises(LayerlabError, match="no run"):
        service.choose("gone")
    assert service.store.run(run.id).chosen


def test_a_fix_to_a_run_of_another_table_moves_to_that_table(service):
    focus, run = two_tables(service)
    train = [1.0, 0.8, 0.7, 0.65, 7.0, 70.0, 2_000_000.0]
    history = [{"epoch": i, "loss": v, "val_loss": v} for i, v in enumerate(train, start=1)]
    finding = next(found for found in diagnose(history) if found.action_label)
    fixed = service.apply_fix(focus, run.id, run.spec, finding)
    assert fixed.table_id == run.table_id
    assert (fixed.target, fixed.task) == ("species", "binary")
    assert fixed.spec.target == "species"
    assert fixed.spec.learning_rate < run.spec.learning_rate
    assert fixed.template == wage_spec()  # what was shaped on Wage carries to its next spec


def test_opening_and_editing_a_copy_take_the_same_path_to_the_runs_table(service):
    focus, run = two_tables(service)
    opened = service.open_run(focus, run.id)
    edited = service.edit_copy(focus, run.id)
    assert opened.open_run == run.id
    for moved in (opened, edited):
        assert (moved.table_id, moved.target, moved.spec) == (run.table_id, "species", run.spec)


def test_a_run_whose_table_is_gone_opens_where_the_tab_is_but_cannot_be_edited(service):
    focus, run = two_tables(service)
    service.store.delete_table(run.table_id)
    assert service.open_run(focus, run.id).table_id == focus.table_id
    with pytest.raises(LayerlabError, match="no longer in the workspace"):
        service.edit_copy(focus, run.id)


def test_a_new_table_opens_its_newest_kept_run_and_carries_the_settings(service):
    focus = add(service, Focus(), PENGUINS, "penguins.csv")
    older = kept_run(service, penguin_spec(), focus.table_id, created=1.0)
    newer = kept_run(service, penguin_spec(), focus.table_id, created=2.0)
    shaped = focus.replace(spec=penguin_spec(epochs=5000, patience=5000))
    on_wages = add(service, shaped, WAGES, "wages.csv")
    assert on_wages.open_run is None and on_wages.spec is None
    again = add(service, on_wages, PENGUINS, "penguins.csv")
    assert again.open_run == newer.id != older.id
    carried = service.ensure_spec(on_wages, "wage", "regression", [])
    assert {name for name, _, _ in carried.carried_now()} == {"epochs", "patience"}
    assert service.reset_carried(carried).spec.epochs != 5000


def test_a_finished_run_of_another_table_waits_on_the_runs_page(service):
    focus, run = two_tables(service)
    following = focus.replace(following=run.id)
    adopted, record = service.adopt_finished(following)
    assert record.id == run.id
    assert (adopted.following, adopted.open_run) == (None, None)
    same_table = service.open_run(focus, run.id).replace(open_run=None, following=run.id)
    assert service.adopt_finished(same_table)[0].open_run == run.id


def test_deleting_the_runs_looked_at_forgets_them(service):
    focus, run = two_tables(service)
    focus = focus.replace(open_run=run.id, following=run.id)
    after = service.delete_runs(focus, [run.id])
    assert (after.open_run, after.following) == (None, None)
    assert service.store.run(run.id) is None
    assert service.manager.stopped == [run.id]


def test_the_focus_comes_back_after_a_restart(service):
    focus, run = two_tables(service)
    focus = service.open_run(focus, run.id)
    service.save_focus(focus)
    again = WorkspaceService(WorkspaceStore(service.store.folder), QueueOnly())
    restored, data = again.restore_focus()
    assert restored == focus.replace(carried=())
    assert list(data.columns) == list(PENGUINS.columns)


def test_a_restored_target_the_table_lacks_is_left_out(service):
    focus = add(service, Focus(), WAGES, "wages.csv").replace(target="species", task="regression")
    service.save_focus(focus)
    restored, _ = service.restore_focus()
    assert (restored.table_id, restored.target, restored.task) == (focus.table_id, None, None)

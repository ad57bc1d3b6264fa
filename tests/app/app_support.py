"""What the AppTest tests share: the app's path, tiny tables, and seeding the app's state.

Imported by name from the tests (``conftest`` is ambiguous when several test folders
have one).
"""

from __future__ import annotations

import atexit
import dataclasses
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from layerlab.model.jobs import JobContext, train_model
from layerlab.report.records import RunRecord
from layerlab.report.run_files import TrainedModel
from layerlab.runs import workspaces
from layerlab.runs.background import keep_run, outcome_status, shared_manager
from layerlab.schema.spec import LayerSpec, ModelSpec, default_spec
from layerlab.tabular.data import profile_columns
from layerlab.tabular.reading import read_csv
from layerlab.tabular.task import check_target
from layerlab_app import state
from layerlab_app.text import WORD_JOINER

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
# Room for importing TensorFlow and compiling the training loop on a cold, 2-core machine.
TIMEOUT = 120


def start_app() -> AppTest:
    """The app on its first page (Data), already run once."""
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def tiny_regression_frame(rows: int = 40) -> pd.DataFrame:
    """A small table where y = 2x + 1, plus a category, for quick training runs."""
    x = [i * 0.5 for i in range(rows)]
    return pd.DataFrame(
        {
            "x": x,
            "colour": ["red", "green", "blue", "red"] * (rows // 4),
            "y": [2 * value + 1 for value in x],
        }
    )


def tiny_csv(rows: int = 40) -> bytes:
    return tiny_regression_frame(rows).to_csv(index=False).encode()


def seed_dataset(
    at: AppTest,
    frame: pd.DataFrame,
    target: str,
    *,
    name: str = "tiny.csv",
    spec: ModelSpec | None = None,
    **spec_changes,
) -> ModelSpec:
    """A workspace holding ``frame``, its target and a spec, as the Data page leaves one; the
    app opens it from its address (``?ws=``), as after a reload. Returns the spec."""
    info = check_target(frame, target)
    if spec is None:
        spec = default_spec(target, info.task, profile_columns(frame, target))
    spec = spec.replace(**spec_changes)
    token, store = workspaces.create_workspace()
    data = frame.to_csv(index=False).encode()
    table = store.add_table(name, data, rows=len(frame), columns=frame.shape[1])
    store.set_setting(
        "session", {"table_id": table.id, "target": target, "task": None, "spec": spec.to_dict()}
    )
    at.query_params[state.TOKEN_PARAM] = token
    return spec


@dataclass(frozen=True)
class Trained:
    frame: pd.DataFrame
    target: str
    result: TrainedModel


def seed_trained(at: AppTest, trained: Trained) -> str:
    """A workspace as ``seed_dataset`` makes it, plus ``trained`` as its one finished run,
    open on the Results page. Returns the run's id."""
    seed_dataset(at, trained.frame, trained.target, spec=trained.result.spec)
    store = workspaces.open_workspace(at.query_params[state.TOKEN_PARAM])
    run_id = add_run(store, trained, "Run 1: seeded")
    settings = store.get_setting("session")
    store.set_setting("session", {**settings, "open_run": run_id})
    return run_id


def add_run(store, trained: Trained, name: str) -> str:
    """``trained`` as a finished run of ``store``, on its first table, as training keeps one."""
    table = store.tables()[0]
    run_id = store.new_run_id()
    store.add_run(
        RunRecord(
            id=run_id,
            name=name,
            created=time.time(),
            spec=trained.result.spec,
            table_id=table.id,
            data_fingerprint=table.fingerprint,
        )
    )
    shutil.copytree(trained.result.folder, store.run_folder(run_id), dirs_exist_ok=True)
    kept = dataclasses.replace(trained.result, folder=str(store.run_folder(run_id)))
    keep_run(store, run_id, kept, outcome_status(kept.stop_reason))
    return run_id


def workspace_of(at: AppTest):
    """The workspace the app has open, from its address."""
    return workspaces.open_workspace(at.query_params[state.TOKEN_PARAM])


_TRAINED = Path(tempfile.mkdtemp(prefix="layerlab-test-runs-"))
atexit.register(shutil.rmtree, _TRAINED, ignore_errors=True)


def train(frame: pd.DataFrame, target: str, **spec_changes) -> Trained:
    spec = default_spec(target, check_target(frame, target).task, profile_columns(frame, target))
    # In this test process, not in a worker: the pages only ever see the run's files.
    folder = tempfile.mkdtemp(dir=_TRAINED)
    result = train_model(JobContext(), frame, spec.replace(**spec_changes), folder)
    return Trained(frame, target, result)


def session_of(at: AppTest) -> state.Session:
    """The app's session object (read only: tests change the app through its widgets)."""
    return at.session_state[state.SESSION_KEY]


def opened_result(at: AppTest) -> TrainedModel | None:
    """The run open on the Results page, read back from its workspace."""
    session = session_of(at)
    if session.open_run is None:
        return None
    record = session.store.run(session.open_run)
    return TrainedModel.from_record(record, session.store.folder)


def shown(markdown: str) -> str:
    """What a reader sees of Markdown the page escaped with ``md``: the text, no backslashes."""
    return re.sub(r"\\([!-/:-@\[-`{-~\n])", r"\1", markdown).replace(WORD_JOINER, "")


def texts(elements) -> str:
    """The elements' texts as a reader sees them, one per line."""
    return "\n".join(shown(str(element.value)) for element in elements)


def followed_job(at: AppTest):
    """The live job of the run the Train button started."""
    session = session_of(at)
    assert session.following is not None, "no training run was started"
    return shared_manager().live(session.store, session.following)


def wait_for_training(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Let the run started by the Train button finish and be kept, then run the app again."""
    session = session_of(at)
    run_id = session.following
    if run_id is None:  # already kept and adopted
        return at.run()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = session.store.run(run_id)
        if record is not None and not record.active:
            return at.run()
        time.sleep(0.1)
    raise AssertionError(f"training did not finish within {timeout} s")


def iris() -> pd.DataFrame:
    return read_csv(ROOT / "data" / "iris.csv")


def small_network() -> list[LayerSpec]:
    return [LayerSpec.dense(8, "relu")]

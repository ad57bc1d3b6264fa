"""The workspace in the sidebar: its address, name, size, and moving, starting or deleting one."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from app_support import (
    APP,
    TIMEOUT,
    seed_dataset,
    seed_trained,
    session_of,
    shown,
    texts,
    tiny_csv,
    tiny_regression_frame,
    workspace_of,
)
from streamlit.testing.v1 import AppTest

from layerlab.runs import workspaces
from layerlab.runs.archive import export_archive

BUNDLE_PREDICT = (
    Path(__file__).resolve().parents[2] / "src" / "layerlab" / "model" / "bundle_predict.py"
)


def fresh_tab(token: str | None = None) -> AppTest:
    tab = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if token is not None:
        tab.query_params["ws"] = token
    return tab.run()


def test_visits_make_no_workspace_until_a_table_is_loaded(app):
    root = workspaces.root_folder()
    before = set(workspaces.workspace_folders(root))
    for page in ("model", "train", "results", "runs", "data"):
        app = app.switch_page(f"app_pages/{page}.py").run()
        assert not app.exception
    reloaded = fresh_tab()  # a reload: the address holds no token, as nothing was saved
    assert not reloaded.exception and not texts(reloaded.warning)
    assert set(workspaces.workspace_folders(root)) == before
    assert "ws" not in app.query_params
    assert "Nothing is saved yet" in texts(app.sidebar.caption)

    app.file_uploader(key="upload_csv").set_value(("tiny.csv", tiny_csv(), "text/csv")).run()
    assert not app.exception
    token = app.query_params["ws"]
    assert workspaces.is_token(token) and len(token) >= 24
    assert [table.name for table in workspaces.open_workspace(token).tables()] == ["tiny.csv"]
    assert set(workspaces.workspace_folders(root)) - before == {workspaces.folder_for(token)}
    assert fresh_tab().query_params.get("ws") != token  # another visitor, another workspace


def test_an_unknown_address_gets_a_plain_message_and_a_fresh_workspace():
    at = fresh_tab("x" * 32)
    assert not at.exception
    assert "No workspace has the address you opened" in texts(at.warning)
    assert at.query_params.get("ws") is None  # until something is saved in the new one


def test_renaming_the_workspace_is_kept(app):
    app.sidebar.text_input(key="workspace_name").set_value("Churn study").run()
    assert workspace_of(app).name == "Churn study"
    assert fresh_tab(app.query_params["ws"]).sidebar.text_input(key="workspace_name").value == (
        "Churn study"
    )


def test_a_new_workspace_starts_empty_and_the_old_one_stays(app, trained_iris):
    seed_trained(app, trained_iris)
    at = app.run()
    old = at.query_params["ws"]
    at.sidebar.button(key="workspace_new").click().run()
    assert not at.exception
    assert at.query_params.get("ws") is None  # the new one gets its address when saved
    assert session_of(at).store.runs() == []
    assert len(workspaces.open_workspace(old).runs()) == 1


def test_a_downloaded_workspace_uploads_again_with_its_runs(app, trained_iris):
    seed_trained(app, trained_iris)
    at = app.run()
    archive = export_archive(session_of(at).store)
    other = fresh_tab()
    other.sidebar.file_uploader(key="workspace_upload").set_value(
        ("study.layerlab.zip", archive, "application/zip")
    ).run()
    assert not other.exception
    assert "Opened the workspace from study.layerlab.zip" in texts(other.warning)
    assert other.query_params["ws"] != at.query_params["ws"]
    store = session_of(other).store
    [run] = store.runs()
    # The trained model, its checkpoint and what the Results page reads pass every check;
    # the bundle, train.py and the model card are never taken from an upload ...
    assert run.status == "finished" and run.files["model"] and run.files["network"]
    with zipfile.ZipFile(io.BytesIO(archive)) as uploaded:
        assert any(name.endswith("/bundle.zip") for name in uploaded.namelist())
    # ... but made again by a worker, from the run's table, spec and weights.
    deadline = time.monotonic() + 180
    while "bundle" not in (run := store.run(run.id)).files and time.monotonic() < deadline:
        assert not run.error, run.error
        time.sleep(0.5)
    assert {"bundle", "train_script", "card"} <= set(run.files), run.error
    original = session_of(at).store.runs()[0].metrics
    assert run.status == "finished"
    assert run.metrics["test"]["accuracy"] == pytest.approx(original["test"]["accuracy"])
    with zipfile.ZipFile(store.run_file(run.id, "bundle")) as bundle:
        assert bundle.read("predict.py") == BUNDLE_PREDICT.read_bytes()
    results = other.switch_page("app_pages/results.py").run()
    assert not results.exception
    labels = [button.label for button in results.get("download_button")]
    assert labels[:2] == ["Everything (zip)", "model.keras"]


def rewritten(archive: bytes, **settings) -> bytes:
    """The archive with ``settings`` added to its workspace.json."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "workspace.json":
                manifest = json.loads(content)
                manifest["settings"].update(settings)
                content = json.dumps(manifest).encode()
            target.writestr(name, content)
    return buffer.getvalue()


def saved_workspace():
    """A workspace on disk, with one table: (its token, its store)."""
    token, store = workspaces.create_workspace()
    store.add_table("tiny.csv", tiny_csv(8), rows=8, columns=3)
    return token, store


def test_an_uploaded_workspace_with_a_wrong_setting_is_refused_plainly(app):
    archive = rewritten(export_archive(saved_workspace()[1]), session={"following": 5})
    before = sorted(workspaces.root_folder().iterdir())
    app.sidebar.file_uploader(key="workspace_upload").set_value(
        ("evil.zip", archive, "application/zip")
    ).run()
    assert not app.exception
    assert 'has "following" of the wrong type' in texts(app.warning)
    assert sorted(workspaces.root_folder().iterdir()) == before


def test_a_search_label_from_an_upload_shows_as_text_not_markup(app):
    seed_dataset(app, tiny_regression_frame(60), "y")
    label = "![x](http://example.com/track.png) **bold**"
    search = {
        "id": "s1",
        "kind": "capacity",
        "label": label,
        "created": 1.0,
        "base_spec": {},
        "settings": {},
        "status": "finished",
    }
    archive = rewritten(export_archive(workspace_of(app.run())), searches=[search])
    other = fresh_tab()
    other.sidebar.file_uploader(key="workspace_upload").set_value(
        ("study.zip", archive, "application/zip")
    ).run()
    at = other.switch_page("app_pages/model.py").run()
    assert not at.exception
    [line] = [element.value for element in at.markdown if "steps so far" in element.value]
    assert "![" not in line and "**bold**" not in line  # escaped: no image, no bold
    assert label in shown(line)


def test_a_workspace_whose_session_setting_is_damaged_still_opens(app):
    token, store = saved_workspace()
    store.set_setting("session", {"following": 5, "open_run": ["x"], "table_id": 7})
    at = fresh_tab(token)
    assert not at.exception
    assert session_of(at).following is None and session_of(at).open_run is None
    store.set_setting("session", "not a dict")
    assert not fresh_tab(token).exception


def test_a_file_that_is_not_a_workspace_is_refused_plainly(app):
    app.sidebar.file_uploader(key="workspace_upload").set_value(
        ("notes.zip", b"not a zip at all", "application/zip")
    ).run()
    assert not app.exception
    assert "Could not open notes.zip as a workspace" in texts(app.warning)


def test_deleting_the_workspace_removes_its_files(app, trained_iris):
    seed_trained(app, trained_iris)
    at = app.run()
    old_token = at.query_params["ws"]
    folder = session_of(at).store.folder
    at.sidebar.button(key="workspace_delete").click().run()
    assert not at.exception
    assert not folder.exists()
    assert workspaces.open_workspace(old_token) is None
    assert "The workspace was deleted" in texts(at.warning)
    assert at.query_params.get("ws") is None


def test_a_full_workspace_refuses_a_table_with_what_to_do(app, monkeypatch):
    monkeypatch.setenv(workspaces.QUOTA_ENV, "1")
    at = fresh_tab()
    big = tiny_csv(40) + b"\n".join([b"0.5,red,2.0"] * 120_000)  # 1.4 MB
    at.file_uploader(key="upload_csv").set_value(("big.csv", big, "text/csv")).run()
    assert not at.exception
    assert "Could not use big.csv" in texts(at.error)
    assert "Delete runs or tables you no longer need" in texts(at.error)


def test_the_app_says_when_the_disk_does_not_last(monkeypatch):
    monkeypatch.setenv(workspaces.EPHEMERAL_ENV, "1")
    at = fresh_tab()
    assert "wiped when the app restarts" in texts(at.sidebar.warning)


def test_a_workspace_deleted_in_another_tab_starts_this_tab_afresh(app, trained_iris):
    seed_trained(app, trained_iris)
    at = app.run()
    token = at.query_params["ws"]
    workspaces.open_workspace(token).delete()  # as the other tab's Delete does
    at.run()
    assert not at.exception
    assert "No workspace has the address you opened" in texts(at.warning)
    assert at.query_params.get("ws") is None
    assert session_of(at).store.runs() == []

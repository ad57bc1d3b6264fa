"""The workspace in the sidebar: its address, name, size, and moving, starting or deleting one."""

from __future__ import annotations

from app_support import APP, TIMEOUT, seed_trained, session_of, texts, workspace_of
from streamlit.testing.v1 import AppTest

from layerlab import workspaces


def fresh_tab(token: str | None = None) -> AppTest:
    tab = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if token is not None:
        tab.query_params["ws"] = token
    return tab.run()


def test_a_first_visit_gets_its_own_workspace_at_an_unguessable_address(app):
    token = app.query_params["ws"]
    assert workspaces.is_token(token) and len(token) >= 24
    assert workspaces.open_workspace(token) is not None
    assert fresh_tab().query_params["ws"] != token  # another visitor, another workspace


def test_an_unknown_address_gets_a_plain_message_and_a_fresh_workspace():
    at = fresh_tab("x" * 32)
    assert not at.exception
    assert "No workspace has the address you opened" in texts(at.warning)
    assert at.query_params["ws"] != "x" * 32


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
    assert at.query_params["ws"] != old
    assert session_of(at).store.runs() == []
    assert len(workspaces.open_workspace(old).runs()) == 1


def test_a_downloaded_workspace_uploads_again_with_its_runs(app, trained_iris):
    seed_trained(app, trained_iris)
    at = app.run()
    archive = session_of(at).store.export_archive()
    other = fresh_tab()
    other.sidebar.file_uploader(key="workspace_upload").set_value(
        ("study.layerlab.zip", archive, "application/zip")
    ).run()
    assert not other.exception
    assert "Opened the workspace from study.layerlab.zip" in texts(other.warning)
    assert other.query_params["ws"] != at.query_params["ws"]
    [run] = session_of(other).store.runs()
    assert run.status == "finished" and run.files["model"]


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
    assert at.query_params["ws"] != old_token


def test_a_full_workspace_refuses_a_table_with_what_to_do(app, monkeypatch):
    from app_support import tiny_csv

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
    assert at.query_params["ws"] != token
    assert session_of(at).store.runs() == []

"""Workspaces by token: where they live, what a token opens, how much each may hold."""

from __future__ import annotations

import hashlib
import io

import pytest

from layerlab.runs import workspaces
from layerlab.runs.archive import export_archive
from layerlab.runs.workspaces import (
    EPHEMERAL_ENV,
    QUOTA_ENV,
    ROOT_ENV,
    create_workspace,
    disk_is_ephemeral,
    folder_for,
    import_workspace,
    is_token,
    new_token,
    open_workspace,
    quota_bytes,
    root_folder,
)
from layerlab.schema.errors import LayerlabError, WorkspaceError


@pytest.fixture(autouse=True)
def storage(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "workspaces"))
    monkeypatch.delenv(QUOTA_ENV, raising=False)
    monkeypatch.delenv(EPHEMERAL_ENV, raising=False)
    return tmp_path / "workspaces"


def test_the_storage_folder_defaults_to_beside_the_app(monkeypatch, storage):
    assert root_folder() == storage
    monkeypatch.delenv(ROOT_ENV)
    assert root_folder() == workspaces.APP_FOLDER / "workspaces"
    assert (workspaces.APP_FOLDER / "app.py").is_file()


def test_the_quota_is_500_mb_unless_set(monkeypatch):
    assert quota_bytes() == 500_000_000
    monkeypatch.setenv(QUOTA_ENV, "20")
    assert quota_bytes() == 20_000_000
    for bad in ("lots", "0", "-5", "nan"):
        monkeypatch.setenv(QUOTA_ENV, bad)
        with pytest.raises(LayerlabError, match=QUOTA_ENV):
            quota_bytes()


def test_a_token_is_long_random_and_url_safe():
    token = new_token()
    assert is_token(token) and token != new_token()
    assert not is_token("short")
    assert not is_token("../../etc/passwd/and/more/")
    assert not is_token("x" * 65)


def test_the_folder_is_named_after_the_token_hash_not_the_token(storage):
    token, store = create_workspace("Churn study")
    assert (
        store.folder
        == folder_for(token)
        == storage / hashlib.sha256(token.encode()).hexdigest()[:40]
    )
    assert token not in str(store.folder)
    assert all(
        token.encode() not in path.read_bytes()
        for path in store.folder.rglob("*")
        if path.is_file()
    )
    assert store.name == "Churn study"
    assert store.quota_bytes == quota_bytes()


def test_a_token_opens_its_workspace_and_nothing_else():
    token, store = create_workspace()
    store.set_setting("target", "churned")
    assert open_workspace(token).get_setting("target") == "churned"
    assert open_workspace(new_token()) is None
    assert open_workspace("not a token") is None
    assert not any(folder_for(new_token()).exists() for _ in range(3))


def test_an_imported_workspace_gets_a_fresh_token(monkeypatch):
    token, store = create_workspace("Original")
    store.add_table("a.csv", b"a,b\n1,2\n", rows=1, columns=2)
    new, copy = import_workspace(io.BytesIO(export_archive(store)))
    assert new != token and copy.folder == folder_for(new)
    assert copy.name == "Original" and len(copy.tables()) == 1
    monkeypatch.setenv(QUOTA_ENV, "0.0001")
    with pytest.raises(WorkspaceError, match=r"unpacks to more than the 0\.0 MB"):
        import_workspace(io.BytesIO(export_archive(store)))
    folders = [path.name for path in root_folder().iterdir() if path.is_dir()]
    assert sorted(folders) == sorted([store.folder.name, copy.folder.name])  # no .importing-*


def test_the_disk_is_ephemeral_when_told_or_on_community_cloud(monkeypatch, tmp_path):
    assert not disk_is_ephemeral()
    monkeypatch.setenv(EPHEMERAL_ENV, "1")
    assert disk_is_ephemeral()
    monkeypatch.setenv(EPHEMERAL_ENV, "maybe")
    with pytest.raises(LayerlabError, match=EPHEMERAL_ENV):
        disk_is_ephemeral()
    monkeypatch.delenv(EPHEMERAL_ENV)
    monkeypatch.setattr(workspaces, "COMMUNITY_CLOUD_FOLDER", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert disk_is_ephemeral()
    monkeypatch.setenv(EPHEMERAL_ENV, "0")
    assert not disk_is_ephemeral()


def test_a_shared_server_is_declared_or_follows_the_disk_and_sets_the_limits(monkeypatch):
    from layerlab.runs import job_limits

    monkeypatch.delenv(workspaces.SHARED_ENV, raising=False)
    monkeypatch.setenv(EPHEMERAL_ENV, "0")
    assert not workspaces.shared_server()
    assert workspaces.disk_budget_bytes() is None and job_limits.job_seconds() == 0
    # A server many people share on a disk that lasts says so, and gets the shared limits.
    monkeypatch.setenv(workspaces.SHARED_ENV, "1")
    assert workspaces.shared_server() and not disk_is_ephemeral()
    assert workspaces.disk_budget_bytes() == workspaces.SHARED_DISK_MB * 1_000_000
    assert job_limits.job_seconds() == 30 * 60
    # Unset, a disk that does not last (Community Cloud) means a shared server...
    monkeypatch.delenv(workspaces.SHARED_ENV)
    monkeypatch.setenv(EPHEMERAL_ENV, "1")
    assert workspaces.shared_server()
    # ... unless the one who runs it says otherwise.
    monkeypatch.setenv(workspaces.SHARED_ENV, "0")
    assert not workspaces.shared_server() and workspaces.idle_days() is None
    monkeypatch.setenv(workspaces.SHARED_ENV, "yes")
    with pytest.raises(LayerlabError, match=workspaces.SHARED_ENV):
        workspaces.shared_server()

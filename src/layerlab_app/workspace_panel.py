"""The workspace in the sidebar: its name, where it lives, and moving, starting or deleting one."""

from __future__ import annotations

import functools

import streamlit as st

from layerlab.runs import archive, workspaces
from layerlab.runs.store import WorkspaceStore
from layerlab.schema.errors import LayerlabError
from layerlab.tabular.memory import format_bytes
from layerlab_app import state
from layerlab_app.text import md

ARCHIVE_SUFFIX = ".layerlab.zip"


def _renamed() -> None:
    try:
        state.rename_workspace(st.session_state["workspace_name"])
    except LayerlabError as error:
        state.notify(str(error))
        state.forget("workspace_name")


def _uploaded() -> None:
    uploaded = st.session_state.get("workspace_upload")
    if uploaded is None:
        return
    try:
        state.import_workspace(uploaded)  # read from the upload itself, never copied whole
    except LayerlabError as error:
        state.notify(f"Could not open {uploaded.name} as a workspace: {error}")
        return
    state.notify(
        f"Opened the workspace from {uploaded.name}. It has a new address, now in the address "
        f"bar: bookmark it. {archive.LEFT_OUT}"
    )


def _file_name() -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in state.workspace_name())
    return (stem.strip("-") or "workspace") + ARCHIVE_SUFFIX


def _usage(store: WorkspaceStore) -> str:
    """Where the workspace is kept, for how long, and how much of its room it uses."""
    days = workspaces.idle_days()
    kept = f" It is removed after {days:g} days without a visit." if days else ""
    if store.is_pending:
        return (
            "Nothing is saved yet. Once you load a table, your tables, settings and runs are "
            f"kept on the server under this page's address (the ws= part).{kept}"
        )
    return (
        "Your tables, settings and runs are kept on the server under this page's address "
        f"(the ws= part): bookmark it to come back.{kept} Using "
        f"{format_bytes(store.used_bytes())} of {format_bytes(workspaces.quota_bytes())}."
    )


def render() -> None:
    with st.sidebar, st.expander("Workspace", icon=":material/folder:"):
        state.seed("workspace_name", state.workspace_name())
        st.text_input("Name", key="workspace_name", on_change=_renamed, max_chars=80)
        st.caption(_usage(state.store()))
        if workspaces.disk_is_ephemeral():
            st.warning(
                "This server's disk is wiped when the app restarts, and your workspace with "
                "it. Download the workspace to keep it, and upload it again later."
            )
        st.download_button(
            "Download the workspace",
            # Built when clicked, in another thread: bound to this workspace's store now.
            data=functools.partial(archive.export_archive, state.store()),
            file_name=_file_name(),
            mime="application/zip",
            key="workspace_download",
            icon=":material/download:",
            on_click="ignore",
            help="One file with every table, run and model in it.",
        )
        st.file_uploader(
            "Open a downloaded workspace",
            type=["zip"],
            key="workspace_upload",
            on_change=_uploaded,
        )
        left, right = st.columns(2)
        left.button(
            "New workspace",
            key="workspace_new",
            on_click=state.new_workspace,
            help="Starts empty at a new address; this one stays at its own.",
        )
        with right.popover("Delete…"):
            st.markdown(
                f"Delete **{md(state.workspace_name())}** with all its tables, runs and "
                "model files? This cannot be undone."
            )
            st.button(
                "Delete the workspace",
                key="workspace_delete",
                type="primary",
                on_click=state.delete_workspace,
            )

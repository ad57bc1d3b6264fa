"""Runs: every run of this workspace, compared side by side; open, copy, choose or delete them."""

import streamlit as st

from layerlab.report.run_table import runs_frame, spec_differences
from layerlab.schema.errors import LayerlabError
from layerlab.schema.run_events import main_metric
from layerlab_app import effects_panel, state, ui
from layerlab_app.figures import compared_curves
from layerlab_app.text import md

# While a run trains, the table refreshes this often (each epoch is on the Train page's chart
# sooner; this page only needs the status and the epochs run).
REFRESH_SECONDS = 2.0


def _selected(records) -> list:
    """The runs picked to act on or compare, newest first, as the table lists them."""
    newest_first = sorted(records, key=lambda record: record.created, reverse=True)
    by_id = {record.id: record for record in newest_first}
    picked = st.multiselect(
        "Runs to open, copy, compare or delete",
        list(by_id),
        format_func=lambda run_id: by_id[run_id].name,
        key="runs_selected",
        placeholder="Pick one run, or two or more to compare",
    )
    return [by_id[run_id] for run_id in picked if run_id in by_id]


def _open(run_id: str) -> None:
    state.open_run(run_id)
    st.switch_page("app_pages/results.py")


def _edit_copy(run_id: str) -> None:
    try:
        state.edit_copy(run_id)
    except LayerlabError as error:
        st.error(md(error))
        return
    st.switch_page("app_pages/model.py")


def _delete(run_ids: list[str]) -> None:
    state.delete_runs(run_ids)
    state.forget("runs_selected")


def _stop(run_ids: list[str]) -> None:
    for run_id in run_ids:
        state.stop_run(run_id)


def _actions(chosen: list) -> None:
    if not chosen:
        st.caption(
            "Pick a run to open it, edit a copy of it or mark it as the chosen model; pick two "
            "or more to overlay their learning curves and see which settings differ."
        )
        return
    one = chosen[0] if len(chosen) == 1 else None
    columns = st.columns(5)
    if columns[0].button(
        "Open results",
        key="runs_open",
        disabled=one is None or not one.files.get("model"),
        help="Scores, charts, downloads, scoring new rows and what-if for this run.",
    ):
        _open(one.id)
    if columns[1].button(
        "Edit a copy",
        key="runs_edit_copy",
        disabled=one is None,
        help="Loads this run's settings on the Model page; the run itself stays as it is.",
    ):
        _edit_copy(one.id)
    columns[2].button(
        "Mark as chosen",
        key="runs_choose",
        disabled=one is None or not one.files.get("model"),
        on_click=state.choose_run if one is not None else None,
        args=(one.id,) if one is not None else None,
        help="The run you would use: marked ★ in the table.",
    )
    active = [record.id for record in chosen if record.active]
    columns[3].button(
        "Stop",
        key="runs_stop",
        disabled=not active,
        on_click=_stop,
        args=(active,),
        help="Ends training within a moment and keeps the best weights so far.",
    )
    with columns[4].popover(f"Delete {len(chosen)}…"):
        st.markdown(f"Delete {_runs(len(chosen))} with the model files? This cannot be undone.")
        st.button(
            "Delete",
            key="runs_delete",
            type="primary",
            on_click=_delete,
            args=([record.id for record in chosen],),
        )


def _runs(count: int) -> str:
    return "this run" if count == 1 else f"these {count:,} runs"


def _one_table(chosen: list) -> list:
    """The chosen runs of one table (the one with the most of them; on a tie, the newest
    run's): curves of other rows, or of another target, do not compare. Says so when the
    choice spans tables."""
    order = [record.table_id for record in chosen]
    tables = sorted(
        dict.fromkeys(order), key=lambda table: (-order.count(table), order.index(table))
    )
    if len(tables) < 2:
        return chosen
    same = [record for record in chosen if record.table_id == tables[0]]
    names = [_table_name(table_id) for table_id in tables]
    st.info(
        md(
            f"These runs trained on {len(tables)} different tables ({', '.join(names)}): runs "
            "compare only on the same rows and target. "
            + (
                f"Comparing the {len(same)} runs of {names[0]}; pick runs of one table to "
                "compare others."
                if len(same) > 1
                else "Pick two or more runs of one table to compare them."
            )
        )
    )
    return same


def _table_name(table_id: str | None) -> str:
    table = state.store().table(table_id) if table_id else None
    return f'"{table.name}"' if table is not None else "a table no longer here"


def _compare(chosen: list) -> None:
    if len(chosen) < 2:
        return
    st.subheader("Compare")
    chosen = _one_table(chosen)
    if len(chosen) < 2:
        return
    labels = [(record.name, record.history) for record in chosen]
    tasks = {record.spec.task for record in chosen}
    left, right = st.columns(2)
    left.plotly_chart(compared_curves(labels, "loss"), key="compare_loss")
    if len(tasks) == 1:
        metric = main_metric(tasks.pop())
        right.plotly_chart(compared_curves(labels, metric), key="compare_metric")
    else:
        right.caption("The runs predict different kinds of target, so only their losses compare.")
    st.caption(
        "Solid lines are validation, dotted lines training. The run whose validation curve "
        "ends lowest generalises best; a wide gap under its training curve means it memorises."
    )
    effects_panel.render_pair(chosen)
    differences = spec_differences(chosen)
    if differences.empty:
        st.caption("These runs have exactly the same settings.")
    else:
        st.markdown("**Settings that differ**")
        st.dataframe(differences, hide_index=True)


def _queue_notes(records) -> None:
    for record in records:
        job = state.live_job(record.id)
        reason = job.wait_reason() if job is not None and job.status == "queued" else None
        if reason is not None:
            st.caption(f"{md(record.name)}: {reason.text()}")


def _table() -> None:
    records = state.runs()
    if not records:
        st.info("No runs yet: train a network on the Train page, and every run appears here.")
        return
    st.dataframe(runs_frame(records), hide_index=True, key="runs_table")
    _queue_notes(records)
    chosen = _selected(records)
    _actions(chosen)
    _compare(chosen)


def main() -> None:
    ui.page_header(
        "Runs", "Every run in this workspace: compare them, open one, or start from a copy."
    )
    st.caption(
        "Start small, then add units or layers while the best validation loss keeps falling; "
        "keep the seed fixed when you compare two settings, so only the setting differs."
    )
    # A run being rebuilt from its checkpoint after an interruption is no longer "active",
    # but its files still arrive, so the table keeps refreshing until its job ends.
    any_active = any(
        record.active or state.live_job(record.id) is not None for record in state.runs()
    )
    st.fragment(_table, run_every=REFRESH_SECONDS if any_active else None)()


main()

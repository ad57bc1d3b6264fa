"""Data: load a table, choose the column to predict and the columns to learn from."""

import streamlit as st

from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import Feature
from layerlab.schema.vocabulary import Task
from layerlab.tabular.data import class_balance, profiles_frame
from layerlab.tabular.reading import read_table
from layerlab.tabular.task import TASKS, check_target, describe_task, infer_task
from layerlab_app import samples, spec_view, state, teaching, ui
from layerlab_app.frames import show_frame
from layerlab_app.text import code_name, md, percent

UPLOAD_TYPES = ["csv", "tsv", "txt", "parquet"]
PREVIEW_ROWS = 10


def read_upload(name: str, content: bytes) -> None:
    """Make an uploaded file the dataset, or keep the error to show beside the uploader."""
    try:
        data = read_table(content, max_bytes=ui.upload_limit_bytes())
        state.load_dataset(data, name, raw=content)
    except LayerlabError as error:
        state.set_upload_error(f"Could not use {name}: {error}")


def _upload_changed() -> None:
    uploaded = st.session_state.get("upload_csv")
    if uploaded is not None:
        read_upload(uploaded.name, uploaded.getvalue())


def _load_sample() -> None:
    name = st.session_state["sample_dataset"]
    try:
        state.load_dataset(
            samples.read_sample(name),
            name,
            target=samples.default_target(name),
            raw=samples.sample_bytes(name),
        )
    except LayerlabError as error:
        state.set_upload_error(f"Could not load the sample {name}: {error}")


def _source() -> None:
    upload, sample = st.columns(2)
    upload.file_uploader(
        "Upload a CSV or Parquet file",
        type=UPLOAD_TYPES,
        key="upload_csv",
        on_change=_upload_changed,
        max_upload_size=ui.upload_limit_mb(),
        help="Drag and drop a file here, or click to choose one.",
    )
    upload.caption(
        f"Up to {ui.upload_limit_mb():,} MB. A header row, then one row per example; commas, "
        "semicolons, tabs or | between values. Parquet files are read by the same rules."
    )
    sample.selectbox(
        "Or try a sample dataset",
        samples.available(),
        format_func=samples.describe,
        key="sample_dataset",
    )
    sample.button("Load sample", key="load_sample", on_click=_load_sample)
    if state.upload_error():
        st.error(md(state.upload_error()))
    if state.store().run_count():
        st.caption(
            "Your runs stay in this workspace when you load other data or change the target: "
            "find them on the Runs page."
        )


def _preview(data) -> None:
    st.subheader(md(state.dataset_name()))
    st.caption(f"{len(data):,} rows × {data.shape[1]} columns. The first {PREVIEW_ROWS} rows:")
    show_frame(data.head(PREVIEW_ROWS), hide_index=True)


def _target(data):
    state.seed("target_column", state.target())
    return st.selectbox(
        "Column to predict (the target)",
        [str(name) for name in data.columns],
        index=None,
        placeholder="Choose a column",
        key="target_column",
        on_change=lambda: state.choose_target(st.session_state["target_column"]),
    )


def _task(data, target):
    """The checked target (``TargetInfo``), or None after showing what is wrong with it."""
    try:
        inferred = infer_task(data[target])
    except LayerlabError as error:
        st.error(md(error))
        return None
    state.seed("task_override", state.task() or inferred)
    task = st.selectbox(
        "Task",
        TASKS,
        format_func=describe_task,
        key="task_override",
        on_change=lambda: state.choose_task(st.session_state["task_override"]),
        help="Inferred from the target's values; change it if the guess is wrong.",
    )
    if task == inferred:
        st.caption(f"Inferred from the values of {code_name(target)}.")
    else:
        st.caption(f"You changed this from the inferred task: {describe_task(inferred)}.")
    try:
        info = check_target(data, target, task)
    except LayerlabError as error:
        st.error(md(error))
        state.set_target_info(None)
        return None
    state.set_target_info(info)
    facts = [f"{info.rows:,} rows have a value to learn from"]
    if info.dropped_rows:
        facts.append(f"{info.dropped_rows:,} rows have no value and are left out")
    if info.classes:
        labels = ", ".join(md(label) for label in info.classes[:10])
        facts.append(f"{len(info.classes)} classes: {labels}")
    st.caption("; ".join(facts) + ".")
    return info


def _imbalance(data, info) -> None:
    """Say when the rarest class is rare enough that accuracy flatters a model."""
    if info.task == Task.REGRESSION:
        return
    balance = class_balance(data[info.column])
    if balance is None or not balance.imbalanced:
        return
    st.warning(
        f"Only {percent(balance.rarest_share)} of rows are {code_name(balance.rarest)}, so always "
        f"guessing {code_name(balance.commonest)} is right {percent(balance.commonest_share)} of "
        "the time: accuracy can look good while the rare class is missed. On the Results page, "
        "judge the model by balanced accuracy and the precision-recall curve; on the Model "
        "page, class weights can be set to balanced."
    )


def _features(info) -> bool:
    profiles = spec_view.profiles(info.column)
    spec = state.ensure_spec(info.column, info.task, profiles)
    by_name = {profile.name: profile for profile in profiles}
    usable = [p.name for p in profiles if p.model_kind and p.name != info.column]

    st.subheader("Columns")
    show_frame(profiles_frame(profiles), hide_index=True)
    state.seed("feature_columns", [name for name in spec.feature_names if name in usable])
    chosen = st.multiselect(
        "Features: the columns the model learns from",
        usable,
        format_func=lambda name: f"{name} ({by_name[name].kind})",
        key="feature_columns",
    )
    st.caption(teaching.STANDARDIZE)
    st.caption(teaching.ONE_HOT)
    left_out = [p for p in profiles if p.role == "ignore"]
    if left_out:
        lines = "\n".join(f"- {code_name(p.name)}: {md(p.reason)}" for p in left_out)
        st.markdown(f"**Left out by default:**\n{lines}")
    flagged = [name for name in chosen if by_name[name].role == "ignore"]
    if flagged:
        reasons = " ".join(f"{code_name(name)}: {md(by_name[name].reason)}" for name in flagged)
        st.warning(f"You included flagged columns. {reasons}")
    features = [Feature(name, by_name[name].model_kind) for name in chosen]
    state.set_spec(spec.replace(features=features))
    if not features:
        st.warning("Choose at least one feature column for the model to learn from.")
    return bool(features)


def main() -> bool:
    ui.page_header("Data", "Load a table, choose the column to predict and the columns to use.")
    _source()
    data = state.frame()
    if data is None:
        st.info("Upload a CSV file or load a sample to begin.")
        return False
    _preview(data)
    target = _target(data)
    if target is None:
        st.info("Choose the column you want the model to predict.")
        return False
    info = _task(data, target)
    if info is None:
        return False
    _imbalance(data, info)
    return _features(info)


ready = main()
ui.next_page("model", "Next: design the network on the Model page", ready)

"""Train: start a run in the background, follow its learning curves live, stop it."""

import streamlit as st

from layerlab.runs.workers import quick_pool, warm_start
from layerlab.schema.numbers import readable_number
from layerlab.schema.run_events import main_metric
from layerlab_app import diagnosis_panel, live, run_view, spec_view, state, ui
from layerlab_app.figures import learning_curves
from layerlab_app.journey import describe_run
from layerlab_app.text import code_name, md


def _follow(metric: str, every: float) -> None:
    """Redraw the live view from the worker's events every ``every`` s; rerun the whole app
    once the run is kept, or when it should be looked at more or less often."""
    job = state.training_job()
    record = state.following()
    if record is None or not record.active:
        st.rerun()  # app.py adopts the finished run, and the page is drawn from it
    if job is not None:
        live.render(job, metric, record)  # events in memory: no wait for the database
        if live.follow_seconds(job) != every:
            st.rerun()  # drawn first: the first point is on the chart before the page reruns
    else:
        live.render_record(record, metric)  # trained by another process (the CLI)


def _last_run() -> None:
    message = state.train_message()
    if message is not None:
        level, text = message
        getattr(st, level)(md(text))
    trained = run_view.result()
    if trained is None:
        return
    metric = main_metric(trained.spec.task)
    st.plotly_chart(
        learning_curves(trained.history, metric, trained.best_epoch), key="final_curves"
    )
    diagnosis_panel.render(
        trained.history,
        spec=trained.spec,
        naive_val_loss=trained.naive_val_loss,
        stop_reason=trained.stop_reason,
        run_id=state.open_run_id(),
        key="final",
    )
    rows = trained.rows
    st.caption(
        describe_run(
            trained.history, trained.kept_epoch, trained.stop_reason, trained.spec.epochs, metric
        )
        + f" Trained on {rows['train']:,} rows and validated on {rows['validation']:,};"
        f" {rows['test']:,} test rows are kept for the Results page."
        f" Took {trained.seconds:.1f} s."
    )
    if not run_view.result_is_current():
        st.info(
            f"This is the last run, with the network {trained.spec.describe()}. The settings "
            "changed since: train again to use them."
        )


def main() -> bool:
    ui.page_header("Train", "Train the network and watch it learn, epoch by epoch.")
    data, spec = state.frame(), state.spec()
    if data is None or spec is None or state.target_info() is None:
        st.info("First load data and choose the target on the Data page.")
        return False
    problems = spec_view.spec_problems(spec)
    if problems:
        st.error(
            "The model settings need fixing on the Model page first:\n- "
            + "\n- ".join(md(problem) for problem in problems)
        )
        return False
    st.markdown(f"**Network:** {spec.describe()}")
    st.caption(
        f"{len(spec.features):,} features → {code_name(spec.target)} · {spec.optimizer}, "
        f"learning rate {readable_number(spec.learning_rate)}, batch size {spec.batch_size:,}, "
        f"up to {spec.epochs:,} epochs"
        + (
            f", early stopping after {spec.patience:,} epochs without progress."
            if spec.early_stopping
            else "."
        )
    )
    training = state.is_training()
    job = state.training_job() if training else None
    stopping = job is not None and job.stop_requested
    if not training:
        st.caption(
            "Every run is kept in this workspace, with its curves, scores and model: compare "
            "them on the Runs page."
        )
    train, stop, _ = st.columns([1, 1, 4])
    train.button(
        "Train",
        key="train_button",
        type="primary",
        icon=":material/play_arrow:",
        on_click=state.start_training,
        disabled=training,
    )
    stop.button(
        "Stopping…" if stopping else "Stop",
        key="stop_button",
        icon=":material/stop:",
        on_click=state.request_stop,
        disabled=not training or stopping,
        help="Ends training within a moment and keeps the best weights so far; an unfinished "
        "epoch is not counted.",
    )
    if training:
        # The run's model will be scored and asked "what if?" in the quick pool's worker: it
        # imports TensorFlow while the run trains, not when Score is clicked.
        warm_start(quick_pool())
        st.caption(
            "Training runs on the server: switch pages or look around meanwhile; only Stop "
            "ends it early."
        )
        every = live.follow_seconds(job) if job is not None else live.FOLLOW_SECONDS
        st.fragment(_follow, run_every=every)(main_metric(spec.task), every)
    else:
        # While the person looks at the network, an idle worker compiles it: Train then
        # starts stepping at once.
        state.prepare_training()
        _last_run()
    return run_view.result() is not None


ready = main()
ui.next_page("results", "Next: see the results on the Results page", ready)

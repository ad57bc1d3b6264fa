"""Train: run training with live learning curves, a progress bar and a Stop button."""

import streamlit as st

from layerlab.errors import LayerlabError
from layerlab.train import TrainingRun, main_metric
from layerlab_app import state, ui
from layerlab_app.figures import learning_curves
from layerlab_app.journey import describe_run
from layerlab_app.live import LiveView


def _train(data, spec) -> None:
    """Train, adopt the model, then rerun so the page is drawn from the new state."""
    live = LiveView(main_metric(spec.task), spec.early_stopping)
    live.preparing()
    try:
        run = TrainingRun(data, spec)
    except LayerlabError as error:
        state.set_train_message("error", str(error))
        st.rerun()
    with state.running(run):
        run.run(
            on_event=lambda event: live.update(event, run.history),
            should_stop=state.stop_requested,
        )
    state.finish_run(run)
    st.rerun()


def _last_run() -> None:
    message = state.train_message()
    if message is not None:
        level, text = message
        getattr(st, level)(text)
    trained = state.result()
    if trained is None:
        return
    metric = main_metric(trained.spec.task)
    st.plotly_chart(
        learning_curves(trained.history, metric, trained.best_epoch), key="final_curves"
    )
    splits = trained.splits
    st.caption(
        describe_run(
            trained.history, trained.kept_epoch, trained.stop_reason, trained.spec.epochs, metric
        )
        + f" Trained on {len(splits.train):,} rows and validated on {len(splits.validation):,};"
        f" {len(splits.test):,} test rows are kept for the Results page."
        f" Took {trained.seconds:.1f} s."
    )
    if not state.result_is_current():
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
    problems = state.spec_problems(spec)
    if problems:
        st.error(
            "The model settings need fixing on the Model page first:\n- " + "\n- ".join(problems)
        )
        return False
    st.markdown(f"**Network:** {spec.describe()}")
    st.caption(
        f"{len(spec.features)} features → `{spec.target}` · {spec.optimizer}, learning rate "
        f"{spec.learning_rate:g}, batch size {spec.batch_size}, up to {spec.epochs} epochs"
        + (
            f", early stopping after {spec.patience} epochs without progress."
            if spec.early_stopping
            else "."
        )
    )
    training = state.take_training_request()
    train, stop, _ = st.columns([1, 1, 4])
    train.button(
        "Train",
        key="train_button",
        type="primary",
        icon=":material/play_arrow:",
        on_click=state.request_training,
        disabled=training,
    )
    stop.button(
        "Stop",
        key="stop_button",
        icon=":material/stop:",
        on_click=state.request_stop,
        disabled=not training,
        help="Ends training within a moment and keeps the best weights so far; an unfinished "
        "epoch is not counted.",
    )
    st.caption(
        "While training runs, clicking anything else in the app also stops it; the best "
        "weights so far are kept."
    )
    if training:
        _train(data, spec)
    _last_run()
    return state.result() is not None


ready = main()
ui.next_page("results", "Next: see the results on the Results page", ready)

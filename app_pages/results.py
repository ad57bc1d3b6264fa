"""Results: test-set scores beside the baselines, charts, downloads and predictions on new rows."""

import re

import streamlit as st

from layerlab.report.model_card import ESCAPED_MARK
from layerlab.report.run_table import run_line
from layerlab.runs.workers import quick_pool, warm_start
from layerlab.schema.errors import LayerlabError
from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import FeatureKind, Task
from layerlab.tabular.importance_report import importance_sentence
from layerlab.tabular.predict import check_columns, unseen_categories
from layerlab.tabular.reading import read_table
from layerlab.tabular.writing import csv_bytes
from layerlab_app import diagnosis_panel, effects_panel, figures, run_view, spec_view, state, ui
from layerlab_app.frames import SHOWN_ROWS, show_frame
from layerlab_app.network_figure import network_figure
from layerlab_app.tables import (
    id_like_columns,
    metrics_table,
    prediction_sentence,
    verdict,
    what_if_fields,
    what_if_row,
    with_predictions,
)
from layerlab_app.text import code_name, md, percent

UPLOAD_TYPES = ["csv", "tsv", "txt", "parquet"]
MODEL_CARD_KEY = "model_card_open"
COMPLETING_REFRESH_SECONDS = 1.0


THRESHOLD_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1 score",
}


def _scores(evaluation, leak_suspect=None) -> None:
    st.subheader("Test-set scores")
    st.markdown(evaluation.headline())
    better, sentence = verdict(evaluation, leak_suspect)
    (st.success if better else st.warning)(md(sentence))
    rare = evaluation.imbalance()
    if rare is not None:
        st.info(
            f"The classes are imbalanced: {code_name(rare.rarest)} is only "
            f"{percent(rare.rarest_share)} of the rows, so accuracy looks good even for a "
            "model that never predicts it. Judge the model by balanced accuracy and the "
            "precision-recall curve instead."
        )
    show_frame(metrics_table(evaluation), digits=3)


def _threshold(evaluation):
    """The decision-threshold slider and the scores at it; returns those scores."""
    positive = evaluation.classes[1]
    threshold = st.slider(
        md(f'Decision threshold: predict "{positive}" when its probability is above'),
        min_value=0.01,
        max_value=0.99,
        value=0.5,
        step=0.01,
        key="decision_threshold",
    )
    scores = evaluation.at_threshold(threshold)
    st.caption(
        "The threshold changes only what this page shows; the downloaded model still "
        "predicts the likelier class (threshold 0.5)."
    )
    columns = st.columns(2)
    for position, (name, label) in enumerate(THRESHOLD_LABELS.items()):
        columns[position % 2].metric(label, readable_number(scores.metrics[name]))
    st.caption(md(f'Precision, recall and F1 are those of "{positive}" on the test rows.'))
    return scores


def _charts(evaluation) -> None:
    left, right = st.columns(2)
    if evaluation.task == Task.REGRESSION:
        left.plotly_chart(figures.predicted_vs_actual(evaluation.predictions), key="chart_scatter")
        right.plotly_chart(figures.residuals_figure(evaluation.predictions), key="chart_residuals")
        return
    scores = roc_point = pr_point = guessing = None
    if evaluation.task == Task.BINARY:
        with left:
            scores = _threshold(evaluation)
        confusion = figures.confusion_heatmap(scores.confusion, scores.threshold)
        metrics = scores.metrics
        roc_point = (scores.false_positive_rate, metrics["recall"], scores.threshold)
        pr_point = (metrics["recall"], metrics["precision"], scores.threshold)
        guessing = evaluation.baselines["naive"]["average_precision"]
        right.plotly_chart(confusion, key="chart_confusion")
    else:
        left.plotly_chart(figures.confusion_heatmap(evaluation.confusion), key="chart_confusion")
    left, right = st.columns(2)
    if evaluation.roc:
        left.plotly_chart(figures.roc_figure(evaluation.roc, roc_point), key="chart_roc")
    else:
        left.caption("No ROC curve: the test set holds only one class.")
    if evaluation.precision_recall:
        right.plotly_chart(
            figures.precision_recall_figure(evaluation.precision_recall, guessing, pr_point),
            key="chart_precision_recall",
        )
    else:
        right.caption("No precision-recall curve: the test set holds no row of the class.")


def _file_stem(target: str) -> str:
    return "layerlab_" + (re.sub(r"[^0-9A-Za-z_-]+", "_", target).strip("_") or "model")


def _downloads(result, evaluation) -> None:
    st.subheader("Downloads")
    files = run_view.for_result(
        "downloads",
        lambda: {
            # Read from the run's folder when clicked: a model is not held in the server's memory.
            "bundle": result.bundle_file.read_bytes,
            "model": result.model_file.read_bytes,
            "history": csv_bytes(result.history_frame),
            "predictions": csv_bytes(evaluation.predictions),
        },
    )
    stem = _file_stem(result.spec.target)
    buttons = [
        (
            "Everything (zip)",
            "bundle",
            f"{stem}.zip",
            "application/zip",
            "model.keras, spec.json, metrics, history, summary and a standalone predict.py",
        ),
        (
            "model.keras",
            "model",
            "model.keras",
            "application/octet-stream",
            "The trained Keras model with its preprocessing; loads with keras.saving.load_model",
        ),
        (
            "Training history (CSV)",
            "history",
            f"{stem}_history.csv",
            "text/csv",
            "Loss and metrics per epoch",
        ),
        (
            "Test predictions (CSV)",
            "predictions",
            f"{stem}_test_predictions.csv",
            "text/csv",
            "Actual and predicted values for every test row",
        ),
    ]
    if not result.bundle_file.is_file():  # an uploaded workspace's run: see layerlab.runs.archive
        buttons = [button for button in buttons if button[1] != "bundle"]
        if state.live_job(state.open_run_id()) is not None:
            st.caption(
                "This run came from an uploaded workspace, whose bundle (predict.py, train.py, "
                "the model card) is never taken as it was uploaded: Layerlab is making it again "
                "from the run's table and weights. Open this page again in a moment for it."
            )
        else:
            st.caption(
                "This run came from an uploaded workspace, and a bundle (predict.py, train.py, "
                "the model card) is never taken from an upload; it could not be made again "
                "here (the run's table or weights are missing or do not fit): train the run "
                "again to download one."
            )
    for column, (label, name, file_name, mime, help_text) in zip(
        st.columns(len(buttons)), buttons, strict=True
    ):
        column.download_button(
            label,
            files[name],
            file_name=file_name,
            mime=mime,
            key=f"download_{name}",
            help=help_text,
            on_click="ignore",
            icon=":material/download:",
        )


def _score_new_data(result) -> None:
    st.subheader("Score new data")
    names = ", ".join(code_name(name) for name in result.spec.feature_names)
    st.caption(
        f"Upload a CSV file with the columns the model was trained on: {names}. Other columns "
        "are ignored; empty cells count as missing."
    )
    uploaded = st.file_uploader(
        "Rows to score",
        type=UPLOAD_TYPES,
        key="score_upload",
        max_upload_size=ui.upload_limit_mb(),
    )
    if uploaded is None:
        return

    def scored():
        rows = read_table(uploaded.getvalue(), max_bytes=ui.upload_limit_bytes())
        ignored = check_columns(rows, result.spec)
        predictions = run_view.predict(rows)
        unseen = unseen_categories(rows, result.spec, result.model_file)
        written = read_table(uploaded.getvalue(), max_bytes=None, as_written=True)  # read above
        return predictions, written, ignored, unseen, id_like_columns(written, ignored)

    try:
        with st.spinner(f"Scoring {md(uploaded.name)}…"):
            predictions, written, ignored, unseen, ids = run_view.for_result(
                ("scores", uploaded.file_id), scored
            )
    except LayerlabError as error:
        st.error(md(f"Could not score {uploaded.name}: {error}"))
        return
    for warning in unseen:
        st.warning(md(warning))
    if ignored:
        st.info(
            "These columns are not used by the model and were ignored: "
            + ", ".join(code_name(name) for name in ignored)
            + "."
        )
    scored_rows = with_predictions(written, predictions)
    if len(scored_rows) > SHOWN_ROWS:
        st.caption(
            f"The first {SHOWN_ROWS:,} of {len(scored_rows):,} rows; the download below has "
            "them all."
        )
    probability_columns = [name for name in predictions.columns if name != "prediction"]
    show_frame(scored_rows.head(SHOWN_ROWS), probabilities=probability_columns, hide_index=True)
    keep = st.multiselect(
        "Columns to keep beside the predictions in the download",
        list(written.columns),
        default=ids or list(written.columns),
        key="score_keep",
        help="As written in your file: an ID column lets you join the predictions back.",
    )
    st.download_button(
        "Download these predictions (CSV)",
        csv_bytes(with_predictions(written, predictions, keep)),
        file_name=f"{_file_stem(result.spec.target)}_predictions.csv",
        mime="text/csv",
        key="download_scores",
        on_click="ignore",
        icon=":material/download:",
    )


def _what_if(result) -> None:
    st.subheader("What if?")
    st.caption("Change the values of one example and see what the model predicts.")
    fields = run_view.for_result(
        "what_if_fields", lambda: what_if_fields(run_view.training_rows(), result.spec)
    )
    with st.form("what_if"):
        values = {}
        columns = st.columns(3)
        for position, field in enumerate(fields):
            with columns[position % 3]:
                key = f"what_if_{field.name}"
                if field.kind == FeatureKind.NUMERIC:
                    values[field.name] = st.number_input(
                        md(field.name),
                        value=field.default,
                        step=1 if field.whole_numbers else None,
                        key=key,
                    )
                else:
                    values[field.name] = st.selectbox(md(field.name), field.options, key=key)
        submitted = st.form_submit_button("Predict", key="what_if_submit", type="primary")
    cache = run_view.result_cache()
    if submitted:
        with st.spinner("Predicting…"):
            prediction = run_view.predict(what_if_row(values))
        cache["what_if"] = prediction
    prediction = cache.get("what_if")
    if prediction is not None:
        st.markdown(prediction_sentence(result.spec.task, prediction))
        probabilities = prediction.drop(columns="prediction")
        if not probabilities.empty:
            show_frame(probabilities, probabilities=probabilities.columns, hide_index=True)


def _importance(result) -> None:
    table = result.importance()
    if table is None or table.empty:
        return
    st.subheader("Which columns matter")
    st.caption(
        "Each column's values are shuffled among the test rows, breaking its link to the "
        "target; the more the test score suffers, the more the network relies on it. The bars "
        "show the spread over 5 shuffles."
    )
    st.plotly_chart(figures.importance_bars(table), key="importance_chart")
    st.markdown(md(importance_sentence(table)))


def _network_table(result) -> None:
    """The network in words (inputs, layers, output, totals); Keras's own summary, folded."""
    st.subheader("The network")
    network = spec_view.run_network_summary(result)
    params = result.summary.params if network is None else network.params
    st.caption(f"{md(result.spec.describe())} · {params:,} parameters")
    if network is not None:
        st.markdown("**Inputs:** " + md(network.inputs_sentence()))
        st.dataframe(network.table(), hide_index=True, key="network_summary")
    with st.expander("Keras's own summary: every layer and preprocessing step"):
        st.code(result.summary.text, language=None)


def _model_card(result) -> None:
    card = result.model_card()
    if card is None:
        return
    card_view = st.expander(
        "Model card: data, scores with confidence intervals, warnings",
        key=MODEL_CARD_KEY,
        on_change="rerun",
    )
    # Sent only while open: a page of text that most visits never read, rendered each time.
    if card_view.open:
        with card_view:
            if card.startswith(ESCAPED_MARK):
                # The core escaped every piece of data text in it, so it renders as a
                # document. Its headings step down two levels here, so its title is no
                # larger than the page's subheaders (h3); the download keeps it as written.
                document = card.removeprefix(ESCAPED_MARK).lstrip("\n")
                st.markdown(re.sub(r"^#", "###", document, flags=re.MULTILINE))
            else:
                # Written before data text was escaped: its names would read as markup.
                st.code(card, language="markdown", wrap_lines=True)
            st.download_button(
                "Download the model card (Markdown)",
                card,
                file_name="MODEL_CARD.md",
                mime="text/markdown",
                key="download_model_card",
                on_click="ignore",
                icon=":material/download:",
            )


@st.fragment(run_every=COMPLETING_REFRESH_SECONDS)
def _completing() -> None:
    """A stopped run kept at once: say what is still being worked out, and draw the page
    again when it is there."""
    record = state.open_record()
    if record is None or not record.completing:
        st.rerun()
    st.info(
        "Stopped and kept at once, with its model and test scores. Its baselines, importance "
        "and model card are being worked out; this page adds them in a moment."
    )


def main() -> bool:
    ui.page_header("Results", "How the model does on test rows it never saw, and how to use it.")
    result = run_view.result()
    if result is None:
        st.info("Train a model on the Train page first, or open a finished run on the Runs page.")
        return False
    # Scoring and What if? run in the quick pool's worker: start it while the page is read.
    warm_start(quick_pool())
    record = state.open_record()
    if record is not None:
        st.markdown(f"**{md(record.name)}** · {run_line(record)}")
        st.caption("Open another run, or compare runs, on the Runs page.")
    if result.completes_later:
        _completing()
    evaluation = result.evaluation
    _scores(evaluation, result.leak_suspect)
    if result.refitted:
        learned = result.rows.get("train", 0) + result.rows.get("validation", 0)
        st.caption(
            f"Every row used: this model is a fresh network trained on all {learned:,} "
            f"training and validation rows for the {result.kept_epoch:,} epochs validation "
            "chose. The learning curves are those of the first network, which chose them; "
            "the baselines learned from the same rows as the model."
        )
    st.subheader("What the learning curves say")
    diagnosis_panel.render(
        result.history,
        spec=result.spec,
        naive_val_loss=result.naive_val_loss,
        stop_reason=result.stop_reason,
        run_id=state.open_run_id(),
        key="results",
    )
    _charts(evaluation)
    _importance(result)
    if not result.completes_later:  # its pictures' predictions come with the completion
        effects_panel.render(result)
    _network_table(result)
    kept = result.network()
    if kept is not None:
        groups, kernels = kept
        st.caption(
            "The trained network: red connections push the next unit up, blue ones down; "
            "the stronger the colour, the larger the weight."
        )
        st.plotly_chart(
            network_figure(
                result.spec, input_groups=groups, weights=kernels, classes=result.classes
            ),
            width="content",
            key="trained_network_picture",
        )
    _model_card(result)
    _downloads(result, evaluation)
    _score_new_data(result)
    _what_if(result)
    return True


ready = main()
ui.next_page("model", "Try another network on the Model page", ready)

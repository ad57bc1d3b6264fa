"""Model: the hidden layers, the output and loss, and how training runs."""

import streamlit as st

from layerlab.schema import limits
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import (
    BETA_2_OPTIMIZERS,
    CLASS_WEIGHTS,
    DEFAULT_LEARNING_RATES,
    LOSS_NAMES,
    ModelSpec,
)
from layerlab.schema.vocabulary import Task
from layerlab.tabular.memory import format_bytes
from layerlab.tabular.network_weights import InputGroup
from layerlab_app import layer_editor, search_panel, spec_view, state, teaching, ui
from layerlab_app.advice import advise, estimated_training_rows
from layerlab_app.layers import output_choices, output_units
from layerlab_app.network_figure import input_groups_from_spec, network_figure
from layerlab_app.text import md

CLASS_WEIGHT_LABELS = {
    "none": "None: every row counts the same",
    "balanced": "Balanced: every class counts the same",
}
TRAINING_SETTINGS = state.TRAINING_WIDGETS


def _optimizer_changed() -> None:
    """Move the learning rate to the new optimizer's default, unless the user had changed it."""
    previous = state.spec().optimizer
    chosen = st.session_state["optimizer"]
    if st.session_state.get("learning_rate") == DEFAULT_LEARNING_RATES.get(previous):
        st.session_state["learning_rate"] = DEFAULT_LEARNING_RATES[chosen]


def _output(spec: ModelSpec, classes: int) -> dict:
    """Show the output layer and loss; return the override chosen in the advanced expander."""
    st.subheader("Output layer and loss")
    line = st.empty()
    st.caption(teaching.OUTPUT[spec.task])
    choices = output_choices(spec.task)
    labels = [f"{activation} output with {LOSS_NAMES[loss]} loss" for activation, loss in choices]
    pair = choices[0]
    with st.expander("Change the output layer and loss (advanced)"):
        if len(choices) == 1:
            st.caption(f"For this task there is one right choice: {labels[0]}.")
        else:
            current = spec.resolved_output()
            state.seed(
                "output_loss", labels[choices.index(current)] if current in choices else labels[0]
            )
            pair = choices[labels.index(st.selectbox("Output and loss", labels, key="output_loss"))]
    activation, loss = pair
    units = output_units(activation, classes)
    line.markdown(
        f"**Output layer:** Dense, {units} unit{'s' if units > 1 else ''}, {activation} "
        f"activation · **Loss:** {LOSS_NAMES[loss]}"
    )
    chosen = {"class_weight": _class_weight(spec)}
    if pair == choices[0]:
        return {"output_activation": None, "loss": None, **chosen}
    return {"output_activation": activation, "loss": loss, **chosen}


def _class_weight(spec: ModelSpec) -> str:
    """The class weights in the loss; numbers have no classes, so regression has none."""
    if spec.task == Task.REGRESSION:
        return "none"
    state.seed("class_weight", spec.class_weight)
    return st.selectbox(
        "Class weights in the loss",
        CLASS_WEIGHTS,
        format_func=CLASS_WEIGHT_LABELS.__getitem__,
        key="class_weight",
        help=teaching.CLASS_WEIGHT,
    )


def _training(spec: ModelSpec) -> dict:
    """The training settings as the widgets now say, seeded from ``spec``."""
    st.subheader("Training")
    for name in TRAINING_SETTINGS:
        state.seed(name, getattr(spec, name))
    left, right = st.columns(2)
    settings = {}
    with left:
        settings["optimizer"] = st.selectbox(
            "Optimizer",
            limits.OPTIMIZERS,
            key="optimizer",
            on_change=_optimizer_changed,
            help=teaching.OPTIMIZER,
        )
        settings["learning_rate"] = st.number_input(
            "Learning rate",
            min_value=limits.LEARNING_RATE.low,
            max_value=limits.LEARNING_RATE.high,
            step=limits.LEARNING_RATE.step,
            format="%g",
            key="learning_rate",
            help=teaching.LEARNING_RATE,
        )
        if settings["optimizer"] == "sgd":
            settings["momentum"] = st.number_input(
                "Momentum",
                min_value=limits.MOMENTUM.low,
                max_value=limits.MOMENTUM.high,
                step=limits.MOMENTUM.step,
                key="momentum",
                help=teaching.MOMENTUM,
            )
        settings["batch_size"] = st.number_input(
            "Batch size",
            min_value=limits.BATCH_SIZE.low,
            max_value=limits.BATCH_SIZE.high,
            step=limits.BATCH_SIZE.step,
            key="batch_size",
            help=teaching.BATCH_SIZE,
        )
        settings["epochs"] = st.number_input(
            "Epochs",
            min_value=limits.EPOCHS.low,
            max_value=limits.EPOCHS.high,
            step=limits.EPOCHS.step,
            key="epochs",
            help=teaching.EPOCHS,
        )
    with right:
        split = st.slider(
            "Validation split",
            min_value=limits.VALIDATION_SPLIT.low,
            max_value=limits.VALIDATION_SPLIT.high,
            step=limits.VALIDATION_SPLIT.step,
            key="validation_split",
            help=teaching.VALIDATION_SPLIT,
        )
        settings["validation_split"] = round(split, 2)
        st.caption(teaching.TEST_SPLIT.format(share=f"{spec.test_split:.0%}"))
        settings["patience"] = st.number_input(
            "Early-stopping patience (epochs)",
            min_value=limits.PATIENCE.low,
            max_value=limits.PATIENCE.high,
            step=limits.PATIENCE.step,
            key="patience",
            help=teaching.PATIENCE,
        )
        # The schedule's own widget comes later on the page: its value as just chosen.
        schedule = st.session_state.get("lr_schedule", spec.lr_schedule)
        if settings["patience"] and schedule == "constant":
            settings["lr_plateau_factor"] = _limited_number(
                "Lower the learning rate on a plateau (x this)",
                limits.LR_PLATEAU_FACTOR,
                "lr_plateau_factor",
            )
        settings["restore_best_weights"] = st.checkbox(
            "Restore the best weights",
            key="restore_best_weights",
            help=teaching.RESTORE_BEST_WEIGHTS,
        )
        settings["refit"] = st.checkbox(
            "Train the final network on every row", key="refit", help=teaching.REFIT
        )
        settings["seed"] = st.number_input(
            "Seed",
            min_value=limits.SEED.low,
            max_value=limits.SEED.high,
            step=limits.SEED.step,
            key="seed",
            help=teaching.SEED,
        )
    return settings


SCHEDULE_LABELS = {
    "constant": "Constant",
    "cosine": "Warm-up, then cosine decay to zero",
}
SCALING_LABELS = {
    "standard": "Standard (mean and standard deviation)",
    "robust": "Robust, with smooth clipping",
}
EMBEDDING_LABELS = {"none": "None: the scaled value only", "piecewise": "Piecewise-linear bins"}


def _limited_number(label: str, limit: limits.Limit, key: str, whole: bool = False):
    """A number input bounded by ``limit``, its help the teaching sentence named as ``key``."""
    return st.number_input(
        label,
        min_value=int(limit.low) if whole else limit.low,
        max_value=int(limit.high) if whole else limit.high,
        step=int(limit.step) if whole else limit.step,
        format="%d" if whole else "%g",
        key=key,
        help=getattr(teaching, key.upper()),
    )


def _recipe(spec: ModelSpec) -> dict:
    """The training recipe: schedule, scaling, numeric bins, Adam's beta_2, weight decay,
    label smoothing and the ensemble, folded away; only the ensemble starts on (see
    ``spec.DEFAULT_RECIPE``), the one piece bench/QUALITY.md found to help on most tables."""
    settings = {}
    with st.expander("Training recipe: schedule, scaling, regularisation"):
        st.caption(teaching.RECIPE)
        left, right = st.columns(2)
        with left:
            for key, label, choices, words in (
                (
                    "lr_schedule",
                    "Learning-rate schedule",
                    limits.LEARNING_RATE_SCHEDULES,
                    SCHEDULE_LABELS,
                ),
                ("scaling", "Scaling of numeric columns", limits.SCALINGS, SCALING_LABELS),
                (
                    "numeric_embedding",
                    "Extra encoding of numeric columns",
                    limits.NUMERIC_EMBEDDINGS,
                    EMBEDDING_LABELS,
                ),
            ):
                settings[key] = st.selectbox(
                    label,
                    choices,
                    format_func=words.__getitem__,
                    key=key,
                    help=getattr(teaching, key.upper()),
                )
        with right:
            if spec.optimizer in BETA_2_OPTIMIZERS:
                settings["beta_2"] = _limited_number("Adam's beta 2", limits.BETA_2, "beta_2")
            settings["weight_decay"] = _limited_number(
                "Weight decay", limits.WEIGHT_DECAY, "weight_decay"
            )
            if spec.task != Task.REGRESSION:
                settings["label_smoothing"] = _limited_number(
                    "Label smoothing", limits.LABEL_SMOOTHING, "label_smoothing"
                )
            settings["ensemble"] = _limited_number(
                "Networks averaged (ensemble)", limits.ENSEMBLE, "ensemble", whole=True
            )
    return settings


def _check(spec: ModelSpec, rows: int) -> bool:
    """Show every invalid setting, then one sentence per choice that usually hurts."""
    problems = spec_view.spec_problems(spec)
    if problems:
        st.error(
            md(problems[0])
            if len(problems) == 1
            else "\n".join(f"- {md(problem)}" for problem in problems)
        )
    training_rows = (
        None if problems else estimated_training_rows(rows, spec.validation_split, spec.test_split)
    )
    for warning in advise(spec, training_rows):
        st.warning(warning)
    return not problems


def _memory(spec: ModelSpec) -> bool:
    """Show the memory a run needs; refuse, with a smaller network, one that would not fit."""
    estimate, refusal = spec_view.memory_verdict(spec)
    st.metric(
        "Memory to train (estimate)",
        format_bytes(estimate.total),
        help=teaching.MEMORY,
    )
    if refusal is not None:
        st.error(md(refusal))
    return refusal is None


def _summary(spec: ModelSpec, valid: bool, n_classes: int) -> bool:
    """The network in words, at once (inputs, layers, output, totals); Keras's own summary,
    folded, for those who build it."""
    st.subheader("Size and summary")
    network = spec_view.network_summary(spec, n_classes) if valid else None
    if valid:
        valid = _memory(spec)
    if network is not None:
        st.metric(
            "Parameters (weights the network learns, plus normalization statistics)",
            f"{network.params:,}",
        )
        st.markdown("**Inputs:** " + md(network.inputs_sentence()))
        st.dataframe(network.table(), hide_index=True, key="network_summary")
    clicked = st.button(
        "Show Keras's own summary",
        key="show_summary",
        disabled=not valid,
        help=(
            "Builds the network with Keras on the training rows, as training will, and lists "
            "its layers as Keras names them, preprocessing steps included; the first time "
            "takes a few seconds."
        ),
    )
    summary = spec_view.model_summary(spec)
    if summary is None and clicked:
        with st.spinner("Building the network…"):
            try:
                summary = spec_view.build_model_summary(spec)
            except LayerlabError as error:
                st.error(md(error))
    if summary is not None:
        with st.expander("Keras's own summary: every layer and preprocessing step"):
            st.code(summary.text, language=None)
    return valid


def _picture(spec: ModelSpec, classes: tuple[str, ...]) -> None:
    with st.expander("The network, drawn", expanded=True):
        st.caption(
            "Each column feeds the network one input (categories one per value, one-hot), "
            "every unit of a layer takes all the units before it, and the output gives the "
            "prediction. After training, the Results page draws the same picture with the "
            "strength of each connection."
        )
        # The inputs as the training split gives them (the summary's count); an estimate
        # from the column profiles only where the rows are too few to split.
        network = spec_view.network_summary(spec, len(classes))
        groups = (
            [InputGroup(column.column, column.inputs) for column in network.columns]
            if network is not None
            else input_groups_from_spec(spec, spec_view.profiles(spec.target))
        )
        figure = network_figure(spec, input_groups=groups, classes=classes)
        st.plotly_chart(figure, width="content", key="network_picture")


_SETTING_NAMES = {"epochs": "epochs", "patience": "patience", "class_weight": "class weights"}


def _carried() -> None:
    """Settings chosen for another table, carried into this one: said, with a way back."""
    carried = state.carried_settings()
    if not carried:
        return
    chosen = ", ".join(f"{_SETTING_NAMES[name]} {_value(value)}" for name, value, _ in carried)
    defaults = ", ".join(f"{_SETTING_NAMES[name]} {_value(value)}" for name, _, value in carried)
    box = st.container(border=True)
    box.info(
        md(
            f"Carried from the table you used before: {chosen}. They were chosen for other "
            f"rows; this table's defaults are {defaults}."
        ),
        icon=":material/swap_horiz:",
    )
    box.button(
        "Use this table's defaults",
        key="reset_carried",
        on_click=state.reset_carried,
        help="Sets these settings to this table's defaults; the network stays as it is.",
    )


def _value(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> bool:
    ui.page_header("Model", "Design the network and choose how it trains.")
    spec, info = state.spec(), state.target_info()
    if spec is None or info is None:
        st.info("First load data and choose the target on the Data page.")
        return False
    _carried()
    st.subheader("Hidden layers")
    layers = layer_editor.render(spec.layers)
    output = _output(spec, len(info.classes))
    training = _training(spec)
    training.update(_recipe(spec.replace(**training)))
    spec = spec.replace(layers=layers, **output, **training)
    state.set_spec(spec)
    valid = _check(spec, info.rows)
    if valid:
        _picture(spec, info.classes)
    ready = _summary(spec, valid, len(info.classes))
    search_panel.render(spec, valid)
    return ready


ready = main()
ui.next_page("train", "Next: train the network on the Train page", ready)

"""The hidden-layer editor: presets, one row of widgets per layer, and add buttons.

Widget keys follow the layer's position (``layer_<i>_units``). Every change to
the structure (preset, add, remove, move) replaces the canonical layers in the
spec and forgets all ``layer_`` widget values, so the rows are redrawn from the
spec instead of keeping the values of whatever layer used to sit at ``i``.
"""

from __future__ import annotations

import streamlit as st

from layerlab.schema import limits
from layerlab.schema.spec import LayerSpec
from layerlab_app import state, teaching
from layerlab_app.layers import (
    LAYER_NAMES,
    PRESETS,
    add_layer,
    layer_from_row,
    move_layer,
    remove_layer,
)


def render(layers: list[LayerSpec]) -> list[LayerSpec]:
    """Draw the editor for ``layers`` and return the layers as the widgets now say."""
    _presets()
    if not layers:
        st.caption(
            "No hidden layers: the inputs go straight to the output layer, which makes this a "
            "linear (or logistic) model."
        )
    rows = [_row(position, layer, len(layers)) for position, layer in enumerate(layers)]
    _add_buttons()
    return rows


def _replace_layers(new_layers: list[LayerSpec]) -> None:
    current = state.spec()
    if current is not None:
        state.set_spec(current.replace(layers=new_layers))
    state.forget(prefix="layer_")


def _apply_preset(name: str) -> None:
    _replace_layers(PRESETS[name].make())


def _add(kind: str) -> None:
    _replace_layers(add_layer(state.spec().layers, kind))


def _remove(position: int) -> None:
    _replace_layers(remove_layer(state.spec().layers, position))


def _move(position: int, offset: int) -> None:
    _replace_layers(move_layer(state.spec().layers, position, offset))


def _presets() -> None:
    st.caption(teaching.CAPACITY)
    columns = st.columns(len(PRESETS))
    for column, (name, preset) in zip(columns, PRESETS.items(), strict=True):
        column.button(
            preset.label,
            key=f"preset_{name}",
            help=preset.sentence,
            on_click=_apply_preset,
            args=(name,),
            width="stretch",
        )


def _row(position: int, layer: LayerSpec, count: int) -> LayerSpec:
    prefix = f"layer_{position}"
    name, first, second, up, down, remove = st.columns(
        [1.4, 2, 2, 0.5, 0.5, 0.5], vertical_alignment="bottom"
    )
    name.markdown(f"**{position + 1}. {LAYER_NAMES.get(layer.kind, layer.kind)}**")
    units = activation = rate = None
    if layer.kind == "dense":
        state.seed(f"{prefix}_units", layer.units)
        units = first.number_input(
            "Units",
            min_value=limits.UNITS.low,
            max_value=limits.UNITS.high,
            step=limits.UNITS.step,
            key=f"{prefix}_units",
        )
        state.seed(f"{prefix}_activation", layer.activation)
        activation = second.selectbox("Activation", limits.ACTIVATIONS, key=f"{prefix}_activation")
    elif layer.kind == "dropout":
        state.seed(f"{prefix}_rate", layer.rate)
        rate = first.number_input(
            "Dropout rate",
            min_value=limits.DROPOUT_RATE.low,
            max_value=limits.DROPOUT_RATE.high,
            step=limits.DROPOUT_RATE.step,
            key=f"{prefix}_rate",
            help=teaching.DROPOUT,
        )
    else:
        first.caption(teaching.BATCH_NORM)
    up.button(
        "↑",
        key=f"{prefix}_up",
        help="Move up",
        disabled=position == 0,
        on_click=_move,
        args=(position, -1),
    )
    down.button(
        "↓",
        key=f"{prefix}_down",
        help="Move down",
        disabled=position == count - 1,
        on_click=_move,
        args=(position, 1),
    )
    remove.button("✕", key=f"{prefix}_remove", help="Remove", on_click=_remove, args=(position,))
    return layer_from_row(layer.kind, units, activation, rate, layer.l2)


def _add_buttons() -> None:
    dense, dropout, batch_norm, _ = st.columns([1, 1, 1, 2])
    dense.button(
        "Add Dense",
        key="add_dense",
        icon=":material/add:",
        on_click=_add,
        args=("dense",),
        help=teaching.DENSE,
    )
    dropout.button(
        "Add Dropout",
        key="add_dropout",
        icon=":material/add:",
        on_click=_add,
        args=("dropout",),
        help=teaching.DROPOUT,
    )
    batch_norm.button(
        "Add BatchNorm",
        key="add_batch_norm",
        icon=":material/add:",
        on_click=_add,
        args=("batch_norm",),
        help=teaching.BATCH_NORM,
    )

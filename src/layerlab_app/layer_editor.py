"""The hidden-layer editor: presets, one row of widgets per layer, and add buttons.

Widget keys follow the layer's position (``layer_<i>_units``). Every change to
the structure (preset, add, remove, move) replaces the canonical layers in the
spec and forgets all ``layer_`` widget values, so the rows are redrawn from the
spec instead of keeping the values of whatever layer used to sit at ``i``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from layerlab.schema.layers import LAYER_KINDS, LayerSetting, definition_of
from layerlab.schema.spec import LayerSpec
from layerlab_app import state, teaching
from layerlab_app.layers import (
    PRESETS,
    add_layer,
    layer_from_widgets,
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
    """One layer's heading, a widget for each setting its kind shows, and its move buttons."""
    prefix = f"layer_{position}"
    name, first, second, up, down, remove = st.columns(
        [1.4, 2, 2, 0.5, 0.5, 0.5], vertical_alignment="bottom"
    )
    definition = definition_of(layer.kind)
    name.markdown(f"**{position + 1}. {definition.keras_name if definition else layer.kind}**")
    settings = definition.settings if definition else ()
    shown = [setting for setting in settings if setting.widget]
    # A setting without a widget keeps the value the spec has (a file's L2 factor).
    values = {setting.name: getattr(layer, setting.name) for setting in settings}
    for setting, column in zip(shown, (first, second), strict=False):
        values[setting.name] = _widget(column, f"{prefix}_{setting.name}", setting, layer)
    if definition is not None and not shown:
        first.caption(definition.description)
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
    return layer_from_widgets(layer.kind, values)


def _widget(column, key: str, setting: LayerSetting, layer: LayerSpec) -> Any:
    """A number input within the setting's limit, or a choice among its words."""
    state.seed(key, getattr(layer, setting.name))
    if setting.limit is None:
        # A word no longer offered (an old spec's softmax) stays shown, so the spec's check
        # says why it is refused instead of the box changing it silently.
        current = getattr(layer, setting.name)
        kept = (current,) if current in setting.retired else ()
        return column.selectbox(
            setting.label, (*setting.choices, *kept), key=key, help=setting.help
        )
    return column.number_input(
        setting.label,
        min_value=setting.limit.low,
        max_value=setting.limit.high,
        step=setting.limit.step,
        key=key,
        help=setting.help,
    )


def _add_buttons() -> None:
    """An Add button per layer kind, in the order ``LAYER_KINDS`` lists them."""
    columns = st.columns([1] * len(LAYER_KINDS) + [2])
    for column, definition in zip(columns, LAYER_KINDS.values(), strict=False):
        column.button(
            f"Add {definition.name}",
            key=f"add_{definition.kind}",
            icon=":material/add:",
            on_click=_add,
            args=(definition.kind,),
            help=definition.description,
        )

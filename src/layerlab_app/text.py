"""Text from the user's data, made to show as itself where Streamlit or Plotly read markup.

A column called ``**total**`` is a column with asterisks in its name, not a bold word,
and a class label ``![p](http://host/x.png)`` is a label, not an image that every
viewer's browser fetches. Every string that comes from the data or the file (names,
labels, values, file names, and the core's messages, which quote them) goes through
``md`` or ``code_name`` before it meets Streamlit Markdown (``st.markdown``, captions,
alerts, headers, widget labels, ``help=``, toasts, metric labels), and through
``plotly_text`` before it meets a Plotly label, tick or hover. Dataframes, selectbox
and multiselect options and their ``format_func`` show text as it is: escaping there
would show the backslashes.

The Markdown rules (``md``, ``code_name``) live in ``layerlab.report.markdown``, where
the model card uses them too; the app takes them from here.
"""

from __future__ import annotations

import html

from layerlab.report.markdown import WORD_JOINER, code_name, md
from layerlab.schema.numbers import readable_percent

__all__ = ["WORD_JOINER", "code_name", "md", "percent", "plotly_text"]


def plotly_text(text: object) -> str:
    """``text`` for a Plotly title, tick, legend entry or hover, shown as typed.

    Plotly reads a little HTML in every text (``<b>``, ``<br>``, ``<a href>``, ``<span
    style>``) and decodes entities such as ``&lt;``; with ``&``, ``<`` and ``>`` written
    as entities, it shows the characters themselves.
    """
    return html.escape(str(text), quote=False)


def percent(share: float) -> str:
    """A share as a person reads it: 5%, 98%, and 0.4%, 99.6% or "< 0.1%" near the ends."""
    return f"{share:.0%}" if 0.01 <= share <= 0.99 else readable_percent(share)

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
"""

from __future__ import annotations

import html
import re

# Invisible and zero-width; Streamlit sees no whitespace in it, so it breaks a pattern
# without changing what the reader sees.
WORD_JOINER = "\u2060"

_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Streamlit finds these in the text after parsing, where escapes no longer count, and
# turns them into links, emoji, icons and symbols. A word joiner breaks each pattern.
_JOIN_AT = re.compile(
    r"(?<=:)(?=[0-9A-Za-z_+/-]|$)"  # :smile:, :material_home:, :streamlit:, http://
    r"|(?<=[Ww][Ww][Ww])(?=\.)"  # www.example.com
    r"|(?<=@)"  # me@example.com
    r"|(?<=-)(?=[->])|(?<=<)(?=[-=])|(?<=[>~])(?==)"  # -> <- <-> -- >= <= ~=
)


def _lines(text: object) -> list[str]:
    """The text's non-empty lines, each with its runs of whitespace as single spaces."""
    lines = (" ".join(line.split()) for line in str(text).replace("\0", "\ufffd").splitlines())
    return [line for line in lines if line]


def md(text: object) -> str:
    """``text`` as Streamlit Markdown that shows exactly that text, line by line.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for
    each one), so nothing in the text can open emphasis, a link, an image, code, HTML,
    an entity, a heading, a list, a table, math (``$``) or a Streamlit directive
    (``:red[...]``). What Streamlit looks for after parsing (bare ``http://``, ``www.``
    and e-mail addresses, ``:shortcodes:``, ``->``) is broken by an invisible word
    joiner. Line breaks stay line breaks; other whitespace shows as one space, as in
    any web page.
    """
    escaped = []
    for line in _lines(text):
        escaped.append(_ASCII_PUNCTUATION.sub(r"\\\1", _JOIN_AT.sub(WORD_JOINER, line)))
    return "\\\n".join(escaped)


def code_name(text: object) -> str:
    """``text`` as an inline code span (a column name, say) that shows exactly that text.

    Nothing is escaped inside a code span, so the fence is one backtick longer than
    the longest run of backticks in the text, and padded when the text starts or ends
    with one. Streamlit rewrites ``:material/`` before parsing, even in code, hence
    the word joiner there.
    """
    name = " ".join(_lines(text)).replace(":material/", ":" + WORD_JOINER + "material/")
    if not name:
        return ""
    longest = max((len(run) for run in re.findall("`+", name)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if name.startswith("`") or name.endswith("`") else ""
    return f"{fence}{pad}{name}{pad}{fence}"


def plotly_text(text: object) -> str:
    """``text`` for a Plotly title, tick, legend entry or hover, shown as typed.

    Plotly reads a little HTML in every text (``<b>``, ``<br>``, ``<a href>``, ``<span
    style>``) and decodes entities such as ``&lt;``; with ``&``, ``<`` and ``>`` written
    as entities, it shows the characters themselves.
    """
    return html.escape(str(text), quote=False)


def percent(share: float) -> str:
    """A share as a person reads it: 5%, 98%, and 0.4% or 99.6% near the ends."""
    return f"{share:.0%}" if 0.01 <= share <= 0.99 else f"{share:.1%}"

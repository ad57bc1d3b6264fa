"""Text from the user's data, made to show as itself in Markdown.

A column called ``**total**`` is a column with asterisks in its name, not a bold word,
and a class label ``![p](http://host/x.png)`` is a label, not an image that every
reader's browser fetches. The rules are CommonMark's, so they hold wherever a document
is rendered: the model card on the Results page (Streamlit) and ``MODEL_CARD.md`` on
GitHub. The word joiners that break what Streamlit finds after parsing are invisible,
and harmless elsewhere. The app imports these through ``layerlab_app.text``.
"""

from __future__ import annotations

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

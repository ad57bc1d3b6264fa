"""Text from the data shows as itself in Streamlit Markdown and in Plotly, whatever it holds.

Rendering goes through markdown-it-py (CommonMark, plus GFM tables and strikethrough).
What Streamlit 1.67 adds on top of CommonMark is checked with its own rules, taken
from its frontend (``StreamlitMarkdown``): remark-math, directives, and what it finds
in the text after parsing (GFM autolinks, shortcodes, arrows), where escapes no longer
count.
"""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser

from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from layerlab_app.text import WORD_JOINER, code_name, md, percent, plotly_text

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# Pieces of markup a hostile or unlucky table might hold, mixed with arbitrary text.
SNIPPETS = [
    "**",
    "__",
    "*",
    "_",
    "`",
    "```",
    "~~",
    "![p](http://127.0.0.1:9/track.png)",
    "[link](javascript:alert(1))",
    "<img src=http://127.0.0.1:9/x.png>",
    "<b>",
    "</b>",
    "<!-- -->",
    "<http://a.example>",
    "&amp;",
    "&lt;b&gt;",
    "&#60;",
    "www.example.com",
    "https://example.com/x",
    "me@example.com",
    ":material/home:",
    ":material_home:",
    ":streamlit:",
    ":smile:",
    ":+1:",
    ":red[x]",
    ":red-background[x]",
    ":help[x]",
    ":color[x]{foreground=red}",
    "$x$",
    "$$x$$",
    "\\",
    " -> ",
    " <- ",
    " <-> ",
    " -- ",
    " >= ",
    " <= ",
    " ~= ",
    "# ",
    "1. ",
    "- ",
    "> ",
    "|a|b|\n|-|-|",
    "\n===\n",
    "\n---\n",
    "\n\n    indented\n",
    "[^1]",
    "[a]: http://x",
    "\t",
    "\n",
    "\x00",
    "\u00a0",
    "\u2028",
]
ANY_CHARACTER = st.characters(codec="utf-8")
TEXTS = st.lists(
    st.sampled_from(SNIPPETS) | st.text(st.sampled_from(string.printable) | ANY_CHARACTER),
    max_size=8,
).map("".join)

# JavaScript's \s, which Streamlit's rewrite rules use.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# StreamlitMarkdown's rewrites of text nodes after parsing, as its frontend writes them.
_STREAMLIT_TEXT_REWRITES = [
    re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.ASCII | re.IGNORECASE),  # GFM
    re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)", re.ASCII),  # GFM e-mail autolinks
    re.compile(r":material_(\w+):", re.ASCII),
    re.compile(r":streamlit:"),
    re.compile(r":\+1:|:-1:|:[\w-]+:", re.ASCII),  # remark-emoji
    *(
        re.compile(f"(^|[{_JS_SPACE}]){re.escape(symbol)}([{_JS_SPACE}]|$)")
        for symbol in ("<->", "->", "<-", "--", ">=", "<=", "~=")
    ),
]
# Whether StreamlitMarkdown loads remark-emoji for a source (it looks before parsing).
_EMOJI_WANTED = re.compile(r":(?!material\/|streamlit:)[\w+-][\w_+-]*:", re.ASCII)
# Whether it loads remark-math: code spans and escaped \ $ ` do not count.
_NOT_MATH = re.compile(
    r"(?:^|(?<=\n)) {0,3}(`{3,}|~{3,})[\s\S]*?(?:\n[ \t]*\1|$)|(?<!`)(`+)[^`\n]+\2(?!`)|\\[\\$`]"
)
_DISPLAY_MATH = re.compile(r"(?<!\$)\$\$+(?!\$)[\s\S]*?\$\$")
_INLINE_MATH = re.compile(r"(?<!\$)\$(?![\s$])[^$\n]*?[^\s$]\$(?!\d)")


class _Rendered(HTMLParser):
    """The tags and the text of rendered HTML, a <br> as a line break."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text_nodes: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "br":
            self.text_nodes.append("\n")

    def handle_data(self, data):
        self.text_nodes.append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_nodes).replace(WORD_JOINER, "")  # invisible


def lines(text: str) -> str:
    """What a web page shows of ``text``: its non-empty lines, whitespace runs as one space."""
    text = text.replace("\0", "\ufffd").replace(WORD_JOINER, "")
    shown = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in shown if line)


def loads_math(source: str) -> bool:
    if "$" not in source:
        return False
    stripped = _NOT_MATH.sub("_", source)
    return bool(_DISPLAY_MATH.search(stripped) or _INLINE_MATH.search(stripped))


def unescaped_punctuation(source: str) -> list[str]:
    """ASCII punctuation in ``source`` that is not preceded by an escaping backslash."""
    found, escaped = [], False
    for char in source:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in string.punctuation:
            found.append(char)
    return found


@given(TEXTS)
@example("**bold** <b>html</b> a`b ![p](http://127.0.0.1:9/track.png)")
@example("line one\n\n    line two\n- three")
def test_md_renders_the_text_itself_and_no_markup(text):
    source = md(text)
    rendered = _Rendered(MARKDOWN.render(source))
    assert lines(rendered.text) == lines(text)
    assert set(rendered.tags) <= {"p", "br"}


@given(TEXTS)
def test_md_leaves_no_markup_character_for_streamlit_to_read(text):
    source = md(text)
    assert unescaped_punctuation(source) == []  # no links, emphasis, HTML, directives, math
    assert ":material/" not in source  # Streamlit rewrites it before parsing
    assert not _EMOJI_WANTED.search(source)
    assert not loads_math(source)
    shown = _Rendered(MARKDOWN.render(source)).text_nodes
    for node in shown:
        for rewrite in _STREAMLIT_TEXT_REWRITES:
            assert not rewrite.search(node), (rewrite.pattern, node)


@given(TEXTS, TEXTS)
def test_md_output_stays_plain_inside_the_pages_own_markdown(first, second):
    source = f"**Data:** {md(first)} · {code_name(second)}: {md(second)}"
    rendered = _Rendered(MARKDOWN.render(source))
    assert rendered.tags.count("strong") == 1
    assert rendered.tags.count("code") <= 1
    assert not {"img", "a", "em", "del", "table"} & set(rendered.tags)


@given(TEXTS)
@example("a`b")
@example("`starts and ends`")
@example("``")
def test_code_name_is_one_code_span_of_exactly_the_text(text):
    source = code_name(text)
    rendered = _Rendered(MARKDOWN.render(source))
    expected = " ".join(lines(text).split("\n"))
    if not source:
        assert not expected
        return
    assert rendered.tags == ["p", "code"]
    assert " ".join(rendered.text.split()) == expected
    assert ":material/" not in source


def test_the_issue_examples_come_out_escaped():
    assert md("**bold**") == r"\*\*bold\*\*"
    assert md("<b>html</b>") == r"\<b\>html\<\/b\>"
    assert code_name("a`b") == "``a`b``"
    assert code_name("`x`") == "`` `x` ``"
    assert md(":smile:") == "\\:" + WORD_JOINER + "smile\\:" + WORD_JOINER


def test_md_keeps_line_breaks_as_hard_breaks():
    assert md("The model settings have 2 problems:\n- one\n- two") == (
        "The model settings have 2 problems\\:" + WORD_JOINER + "\\\n\\- one\\\n\\- two"
    )


# Plotly's reading of labels (plotly.js src/lib/svg_text_utils.js): tags split on <...>,
# then entities decoded.
_PLOTLY_TAG = re.compile(r"(<[^<>]*>)")
_PLOTLY_ENTITY = re.compile(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);")
_PLOTLY_NAMED = {"mu": "μ", "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "times": "×"}


def plotly_shows(label: str) -> tuple[list[str], str]:
    parts = _PLOTLY_TAG.split(label)
    tags = [part for part in parts if _PLOTLY_TAG.fullmatch(part)]

    def decode(match: re.Match) -> str:
        code = match.group(1)
        if code.startswith("#x"):
            return chr(int(code[2:], 16))
        if code.startswith("#"):
            return chr(int(code[1:]))
        return _PLOTLY_NAMED.get(code, match.group(0))

    text = "".join(_PLOTLY_ENTITY.sub(decode, part) for part in parts if part not in tags)
    return tags, text


@given(TEXTS)
@example("<b>bold</b> <a href='http://x'>x</a> <br> &lt;i&gt; &#60;b>")
def test_plotly_text_shows_the_text_itself_and_no_tags(text):
    tags, shown = plotly_shows(plotly_text(text))
    assert tags == []
    assert shown == text


def test_shares_read_as_whole_percentages_and_closer_near_the_ends():
    assert [percent(share) for share in (0.05, 0.98, 0.004, 0.996, 0.0002)] == [
        "5%",
        "98%",
        "0.4%",
        "99.6%",
        "< 0.1%",
    ]

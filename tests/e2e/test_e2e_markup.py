"""Issue 15: names and labels from the user's file are shown as text, never as markup.

A table whose file name, column names, category values and class labels are Markdown,
HTML and remote images goes through the Data and Model pages (the Train and Results
part waits for those pages' rewrite). Nothing in the page may be made from that
markup (no bold, link, image or icon), the text itself must be visible, and the
browser must ask nothing of any server but the app's own.
"""

from __future__ import annotations

import csv
from pathlib import Path
from urllib.parse import urlsplit

from e2e_support import (
    act,
    button,
    choose_target,
    go_to,
    main_text,
    sidebar_text,
    start_training,
    tracebacks,
    wait_for_training,
    widget,
)
from playwright.sync_api import Page, expect

# Port 9 (discard) on this machine: a request there fails at once, but the browser still makes it.
NOWHERE = "127.0.0.1:9"
FILE_NAME = "**report** <b>html</b> `tick` :material/home: $x$.csv"
BOLD = "**bold**"
HTML = "<b>html</b>"
EMPTY_IMAGE = f"![c](http://{NOWHERE}/c.png)"
TARGET = "a`b"
TRACKER = f"![p](http://{NOWHERE}/track.png)"
HTML_IMAGE = f"<img src=http://{NOWHERE}/x.png>"
CATEGORIES = [":material/home:", ":red[red]", f"![v](http://{NOWHERE}/v.png)", "<i>it</i>"]
ROWS = 120

# Streamlit's word joiner after a colon (layerlab_app.text.md) is invisible; innerText keeps it.
WORD_JOINER = "\u2060"


def write_markup_csv(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([BOLD, HTML, EMPTY_IMAGE, TARGET])
        for row in range(ROWS):
            label = TRACKER if (row * 7) % 10 < 5 else HTML_IMAGE
            out.writerow([row % 17, CATEGORIES[row % len(CATEGORIES)], "", label])
    return path


def upload_as(page: Page, path: Path, name: str) -> None:
    """Upload ``path``'s bytes under a file name no file system would take."""
    payload = {"name": name, "mimeType": "text/csv", "buffer": path.read_bytes()}
    act(
        page,
        lambda: widget(page, "upload_csv").locator('input[type="file"]').set_input_files(payload),
    )
    expect(page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first).to_be_visible()


def record_requests(page: Page) -> list[str]:
    """Every URL the page's context asks for from now on (HTTP and WebSocket)."""
    urls: list[str] = []
    page.context.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda socket: urls.append(socket.url))
    return urls


def foreign(urls: list[str], server_url: str) -> list[str]:
    """The URLs that are not the app's own server (``data:`` and ``blob:`` never leave the page)."""
    own = urlsplit(server_url).netloc
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != own
    ]


def resources(page: Page) -> list[str]:
    """What the page has fetched since it loaded, by the browser's own count."""
    return page.evaluate("performance.getEntriesByType('resource').map((entry) => entry.name)")


# Anything the page could have made from the table's markup.
_MADE_FROM_MARKUP = """() => {
    const found = [];
    const roots = document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"]');
    const away = (url) => {
        if (!url || url.startsWith('data:')) return false;
        try { return new URL(url, location.href).origin !== location.origin; } catch { return true; }
    };
    for (const root of roots) {
        for (const element of root.querySelectorAll('*')) {
            const text = (element.textContent || '').trim();
            const tag = element.tagName;
            if (['A', 'IMG', 'a', 'image'].includes(tag)
                && away(element.getAttribute('href') || element.getAttribute('src')))
                found.push(element.outerHTML);
            if (['STRONG', 'B'].includes(tag) && /^(bold|html|report)$/.test(text))
                found.push(element.outerHTML);
            if (['EM', 'I'].includes(tag) && text === 'it') found.push(element.outerHTML);
            if (element.getAttribute('aria-label') === 'home icon') found.push(element.outerHTML);
            if (element.matches('.stMarkdownColoredText, .stMarkdownBadge, .katex'))
                found.push(element.outerHTML);
        }
    }
    return found;
}"""


def made_from_markup(page: Page) -> list[str]:
    return page.evaluate(_MADE_FROM_MARKUP)


def visible_text(page: Page) -> str:
    return (main_text(page) + "\n" + sidebar_text(page)).replace(WORD_JOINER, "")


def test_markup_in_names_and_labels_shows_as_text_on_the_data_and_model_pages(
    page: Page, server, tmp_path: Path
) -> None:
    urls = record_requests(page)
    upload_as(page, write_markup_csv(tmp_path / "markup.csv"), FILE_NAME)
    choose_target(page, TARGET)
    expect(tracebacks(page)).to_have_count(0)

    heading = page.locator('[data-testid="stMain"] [data-testid="stHeading"]').filter(
        has_text="report"
    )
    assert heading.inner_text().replace(WORD_JOINER, "").strip() == FILE_NAME
    shown = visible_text(page)
    assert FILE_NAME in sidebar_text(page).replace(WORD_JOINER, "")
    for literal in (EMPTY_IMAGE, TARGET, TRACKER, HTML_IMAGE):
        assert literal in shown, literal
    assert f"2 classes: {HTML_IMAGE}, {TRACKER}" in shown or (
        f"2 classes: {TRACKER}, {HTML_IMAGE}" in shown
    )
    code = page.locator('[data-testid="stMain"] code').filter(has_text=TARGET)
    expect(code.first).to_be_visible()
    assert made_from_markup(page) == []

    go_to(page, "Model")
    expect(tracebacks(page)).to_have_count(0)
    assert FILE_NAME in sidebar_text(page).replace(WORD_JOINER, "")
    assert made_from_markup(page) == []

    page.wait_for_timeout(500)  # a late image fetch would show up here
    assert not [url for url in urls + resources(page) if NOWHERE in url]
    assert foreign(urls, server.url) == []
    assert foreign(resources(page), server.url) == []


def test_markup_in_labels_shows_as_text_on_the_train_and_results_pages(
    page: Page, server, tmp_path: Path
) -> None:
    urls = record_requests(page)
    upload_as(page, write_markup_csv(tmp_path / "markup.csv"), FILE_NAME)
    choose_target(page, TARGET)
    go_to(page, "Train")
    start_training(page)
    wait_for_training(page)
    expect(tracebacks(page)).to_have_count(0)
    assert made_from_markup(page) == []

    go_to(page, "Results")
    expect(tracebacks(page)).to_have_count(0)
    assert made_from_markup(page) == []
    # Plotly: the class labels are ticks and legend entries, as typed, with no link or bold.
    plots = page.locator(".js-plotly-plot")
    expect(plots.first).to_be_visible()
    ticks = page.evaluate(
        "[...document.querySelectorAll('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text,"
        " .js-plotly-plot .legendtext')].map((t) => t.textContent)"
    )
    assert TRACKER in ticks and HTML_IMAGE in ticks
    assert page.locator(".js-plotly-plot a").count() == 0
    bold = page.evaluate(
        "[...document.querySelectorAll('.js-plotly-plot tspan[style*=\"font-weight:bold\"]')]"
        ".map((t) => t.textContent)"
    )
    # The charts' own titles are bold; nothing from the data may be (<b>html</b> -> "html").
    assert "html" not in bold, bold
    # Bold is the charts' own titles (the evaluation charts', and the network picture's and
    # the effect charts' headings since), never a label from the data.
    assert any("test set" in text for text in bold), bold
    # What if: the form's labels are the column names, as typed.
    form = page.locator('[data-testid="stForm"]')
    for name in (BOLD, HTML):
        expect(form.get_by_text(name, exact=True).first).to_be_visible()
    act(page, button(page, "what_if_submit").click)
    sentence = visible_text(page)
    assert "The model predicts " in sentence
    assert TRACKER in sentence or HTML_IMAGE in sentence
    assert made_from_markup(page) == []

    page.wait_for_timeout(500)
    assert foreign(urls, server.url) == []
    assert foreign(resources(page), server.url) == []

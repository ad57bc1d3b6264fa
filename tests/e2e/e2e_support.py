"""What the browser journeys share: a Streamlit server, Chromium, and a user's hands.

Used by the e2e tests (through conftest.py) and by scripts/screenshots.py, so the
screenshots in docs/ come from the same steps the tests check.

Widgets are found by their ``key``: Streamlit renders it as the CSS class
``st-key-<key>`` on the widget's container.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Playwright, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}

SERVER_START_SECONDS = 60
RUN_SECONDS = 30  # one ordinary script run (the first one imports TensorFlow)
TRAINING_SECONDS = 90

# Counts changes of the app's script state (Streamlit sets data-test-script-state on stApp)
# and notes when the last one happened, so an action can wait for the rerun it caused
# instead of sleeping, and a short gap between two runs does not count as idle.
_WATCH_RUNS = """
window.__layerlabStateChanges = 0;
window.__layerlabLastChange = performance.now();
new MutationObserver((records) => {
  window.__layerlabStateChanges += records.length;
  window.__layerlabLastChange = performance.now();
}).observe(document, {subtree: true, attributes: true,
                      attributeFilter: ["data-test-script-state"]});
"""
_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
_SETTLED_MS = 100
_CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'


def app_dir() -> Path:
    """The app under test: this checkout, or the copy named by LAYERLAB_APP_DIR."""
    return Path(os.environ.get("LAYERLAB_APP_DIR", REPO)).resolve()


# --- the server ---------------------------------------------------------------------


@dataclass
class Server:
    url: str
    log_path: Path
    process: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


@contextmanager
def streamlit_server(app: Path, log_path: Path) -> Iterator[Server]:
    """``streamlit run app.py`` on a free port, in its own process group, until the block ends."""
    port = _free_port()
    env = dict(os.environ)
    # The app's own src/ first, so a scratch copy of the repository tests its own code.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(app / "src"), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        # The tests never edit the app; watching files would only cost CPU.
        "--server.fileWatcherType",
        "none",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=app,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _healthy(url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {process.returncode}; see {log_path}:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit did not answer {url}/_stcore/health within "
                    f"{SERVER_START_SECONDS} s; see {log_path}"
                )
            time.sleep(0.2)
        yield Server(url=url, log_path=log_path, process=process)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            process.wait(wait)


# --- the browser --------------------------------------------------------------------


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


def new_page(browser: Browser) -> Page:
    """A fresh browser context (so a fresh Streamlit session) and its page."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.add_init_script(_WATCH_RUNS)
    page = context.new_page()
    page.set_default_timeout(RUN_SECONDS * 1000)
    return page


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(_CONNECTED, timeout=RUN_SECONDS * 1000)
    wait_idle(page)


def wait_idle(page: Page, timeout: float = RUN_SECONDS) -> None:
    """Wait until the script has stopped running, and stayed stopped for a moment."""
    page.wait_for_function(
        f"""() => document.querySelector('{_IDLE}') !== null
              && !document.querySelector('[data-testid="stStatusWidget"]')
              && performance.now() - window.__layerlabLastChange > {_SETTLED_MS}""",
        timeout=timeout * 1000,
        polling=50,
    )


def act(page: Page, action: Callable[[], object], timeout: float = RUN_SECONDS) -> None:
    """Do something in the page, then wait for the rerun it causes to finish."""
    before = page.evaluate("window.__layerlabStateChanges")
    action()
    with suppress(PlaywrightTimeout):  # an action that changes nothing causes no rerun
        page.wait_for_function(
            f"window.__layerlabStateChanges > {before}", timeout=5000, polling=50
        )
    wait_idle(page, timeout)


def widget(page: Page, key: str) -> Locator:
    return page.locator(f".st-key-{key}")


def button(page: Page, key: str) -> Locator:
    return widget(page, key).locator("button").first


def click(page: Page, key: str, timeout: float = RUN_SECONDS) -> None:
    act(page, button(page, key).click, timeout)


def select(page: Page, key: str, option: str, exact: bool = True) -> None:
    """Choose ``option`` in a selectbox: type to filter, then click it (or the first containing it)."""
    box = widget(page, key).get_by_role("combobox")
    box.click()
    box.fill(option)
    act(page, page.get_by_role("option", name=option, exact=exact).first.click)


def fill(page: Page, key: str, value: object) -> None:
    """Type into a number or text input and commit it, as a user pressing Enter."""
    box = widget(page, key).locator("input").first
    box.fill(str(value))
    act(page, lambda: box.press("Enter"))


def upload(page: Page, path: Path, key: str = "upload_csv") -> None:
    act(page, lambda: widget(page, key).locator('input[type="file"]').set_input_files(path))


def nav_link(page: Page, title: str) -> Locator:
    return page.locator('[data-testid="stSidebarNavLink"]').filter(
        has=page.get_by_text(title, exact=True)
    )


def go_to(page: Page, title: str) -> None:
    """Switch page through the sidebar navigation, as a user does (same session)."""
    link = nav_link(page, title)
    act(page, link.click)
    expect(link).to_have_attribute("aria-current", "page")
    expect(tracebacks(page)).to_have_count(0)


def main_text(page: Page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def sidebar_text(page: Page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


_POINTS = """Math.max(0, ...[...document.querySelectorAll('.js-plotly-plot')]
    .flatMap((plot) => (plot.data || []).map((trace) => (trace.x || []).length)))"""


def chart_points(page: Page) -> int:
    """The most points any trace of any Plotly chart on the page has (one point per epoch)."""
    return page.evaluate(f"() => {_POINTS}")


def wait_for_points(page: Page, more_than: int, timeout: float = TRAINING_SECONDS) -> int:
    """Wait until a chart has more than ``more_than`` points, while training runs.

    Returns the count read in the same breath as the check (the live chart is redrawn as
    a new element, so a second read a moment later may catch it empty), or -1 as soon as
    the Stop button is disabled again, that is, once training is over.
    """
    found = page.wait_for_function(
        f"""() => {{
            const points = {_POINTS};
            if (points > {more_than}) return points;
            const stop = document.querySelector('.st-key-stop_button button');
            return stop && stop.disabled ? -1 : false;
        }}""",
        timeout=timeout * 1000,
        polling=50,
    )
    return int(found.json_value())


def tracebacks(page: Page) -> Locator:
    return page.locator('[data-testid="stException"]')


def shoot(page: Page, path: Path) -> None:
    """Screenshot the whole page. Streamlit scrolls inside its main area, not the document,
    so the window is made as tall as the content for the moment of the shot."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)  # no hover toolbars
    height = page.evaluate(
        """() => Math.max(...['stMain', 'stSidebar', 'stAppViewContainer'].map((id) => {
              const el = document.querySelector(`[data-testid="${id}"]`);
              return el ? el.scrollHeight : 0;
            }))"""
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
    try:
        page.wait_for_timeout(300)  # charts re-layout to the new size
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)


# --- the data -----------------------------------------------------------------------


def write_renewals_csv(path: Path, rows: int = 300, seed: int = 7) -> Path:
    """A small subscription table: two categorical columns, gaps in a numeric one, yes/no target.

    Customers renew when the monthly spend suits their plan (neither much below nor much
    above its usual price), a little more often the longer they stayed: a shape a small
    network learns and a logistic regression cannot, so the Results page has a story.
    """
    rng = random.Random(seed)
    usual_spend = {"basic": 40, "plus": 70, "pro": 100}
    regions = ["north", "south", "east", "west"]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["plan", "region", "tenure_months", "monthly_spend", "age", "renewed"])
        for _ in range(rows):
            plan, region = rng.choice(list(usual_spend)), rng.choice(regions)
            tenure = rng.randint(1, 60)
            spend = round(rng.uniform(10, 120), 2)
            age = rng.randint(18, 80)
            score = 1.2 - abs(spend - usual_spend[plan]) / 15 + 0.03 * (tenure - 30)
            renewed = "yes" if score + rng.gauss(0, 0.5) > 0 else "no"
            missing = rng.random() < 0.1
            out.writerow([plan, region, tenure, "" if missing else spend, age, renewed])
    return path


# --- the steps of a journey ---------------------------------------------------------


def load_table(page: Page, path: Path) -> None:
    """Upload a CSV file on the Data page and wait for its preview."""
    upload(page, path)
    expect(page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first).to_be_visible()


def choose_target(page: Page, column: str) -> None:
    select(page, "target_column", column)
    expect(widget(page, "feature_columns")).to_be_visible()


# Journey 1's training: long enough to watch the chart grow (epochs of 180 rows take
# about 3 ms here, so 1000 of them run for a few seconds and the chart redraws several times).
JOURNEY_SETTINGS = {
    "optimizer": "rmsprop",
    "learning_rate": 0.002,
    "batch_size": 8,
    "epochs": 1000,
    "patience": 1000,
}


def design_network(page: Page) -> str:
    """Start from a preset, then add, change, move and remove layers; returns the network line."""
    click(page, "preset_small")  # Dense 16 relu
    click(page, "add_dense")  # + Dense 16 relu
    fill(page, "layer_1_units", 8)
    select(page, "layer_1_activation", "tanh")
    click(page, "add_dropout")  # + Dropout 0.2
    fill(page, "layer_2_rate", 0.1)
    click(page, "add_batch_norm")
    click(page, "layer_3_remove")  # the batch normalization goes again
    click(page, "layer_2_up")  # dropout between the two dense layers
    return "Dense 16 relu → Dropout 0.1 → Dense 8 tanh → output sigmoid"


def set_training(
    page: Page,
    *,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    patience: int | None = None,
    ensemble: int | None = None,
    refit: bool | None = None,
) -> None:
    if optimizer is not None:
        select(page, "optimizer", optimizer)
    for key, value in (
        ("learning_rate", learning_rate),
        ("batch_size", batch_size),
        ("epochs", epochs),
        ("patience", patience),
    ):
        if value is not None:
            fill(page, key, value)
    if ensemble is not None:  # folded in the training recipe
        page.get_by_text("Training recipe: schedule, scaling, regularisation").click()
        fill(page, "ensemble", ensemble)
    if refit is not None and widget(page, "refit").locator("input").is_checked() != refit:
        act(page, lambda: widget(page, "refit").locator("label").click())


def start_training(page: Page) -> None:
    """Click Train and wait until the run is under way (Stop becomes clickable)."""
    button(page, "train_button").click()
    expect(button(page, "stop_button")).to_be_enabled(timeout=RUN_SECONDS * 1000)


def wait_for_training(page: Page, timeout: float = TRAINING_SECONDS) -> None:
    """Wait until the run has ended and the page is redrawn from its result."""
    expect(button(page, "train_button")).to_be_enabled(timeout=timeout * 1000)
    wait_idle(page, timeout)


def stop_training(page: Page) -> None:
    """Click Stop, then wait until the page is redrawn from the stopped run's model.

    The worker ends the run within a moment; the Train page's live view notices at its
    next refresh and reruns the app, so wait for Train to come back, not for one rerun.
    """
    click(page, "stop_button", timeout=60)
    expect(button(page, "train_button")).to_be_enabled(timeout=RUN_SECONDS * 1000)
    wait_idle(page)


def load_sample(page: Page, label: str) -> None:
    """Load the sample dataset whose label in the picker contains ``label``."""
    select(page, "sample_dataset", label, exact=False)
    click(page, "load_sample")
    expect(page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first).to_be_visible()


def wait_for_epochs(page: Page, epochs: int, timeout: float = TRAINING_SECONDS) -> int:
    """Wait until the live chart shows at least ``epochs`` epochs while training still runs."""
    shown = wait_for_points(page, epochs - 1, timeout)
    assert shown >= epochs, f"training ended before the live chart showed {epochs} epochs"
    return shown


def input_value(page: Page, key: str) -> str:
    return widget(page, key).locator("input").first.input_value()


# --- the workspace ------------------------------------------------------------------


def workspace_token(page: Page) -> str | None:
    """The workspace token in the page's address (``?ws=``), or None."""
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(page.url).query).get("ws", [None])[0]


def reload_app(page: Page) -> None:
    """Reload the tab, as a person pressing F5: a new Streamlit session on the same address."""
    page.reload()
    page.wait_for_selector(_CONNECTED, timeout=RUN_SECONDS * 1000)
    wait_idle(page)


def pick(page: Page, key: str, options: list[str]) -> None:
    """Choose ``options`` in a multiselect, one after another, as a person does."""
    box = widget(page, key).get_by_role("combobox")
    for option in options:
        box.click()
        box.fill(option)
        act(page, page.get_by_role("option", name=option, exact=True).first.click)
    box.press("Escape")


# The grid behind st.dataframe draws on a canvas; once focused, it keeps an accessible
# copy of the cells in view as a <table> inside the canvas. The window is made wide
# for the moment of the read, so every column is in view.
_TABLE_ROWS = """(index) => {
    const frames = document.querySelectorAll('[data-testid="stMain"] [data-testid="stDataFrame"]');
    const canvas = frames[index] && frames[index].querySelector('canvas[data-testid="data-grid-canvas"]');
    if (!canvas) return false;
    if (document.activeElement !== canvas) canvas.focus();
    const table = canvas.querySelector('table');
    if (!table) return false;
    const heads = {};
    table.querySelectorAll('thead th').forEach((th) => { heads[th.getAttribute('aria-colindex')] = th.innerText; });
    const rows = [...table.querySelectorAll('tbody tr')].map((tr) => Object.fromEntries(
        [...tr.querySelectorAll('td')].map((td) => [heads[td.getAttribute('aria-colindex')], td.innerText])));
    // Until the grid has re-laid out to the wide window, some columns are out of view.
    return Object.keys(heads).length === Number(table.getAttribute('aria-colcount')) && rows;
}"""


def dataframe_rows(page: Page, index: int = 0) -> list[dict[str, str]]:
    """The rows of the main area's ``index``-th st.dataframe, as text by column name."""
    page.set_viewport_size({"width": 2200, "height": VIEWPORT["height"]})
    try:
        return page.wait_for_function(_TABLE_ROWS, arg=index, polling=100).json_value()
    except PlaywrightTimeout:
        raise AssertionError(f"table {index} of the page never showed all its columns") from None
    finally:
        page.set_viewport_size(VIEWPORT)


def legend_texts(page: Page) -> list[list[str]]:
    """Each Plotly chart's legend entries in the main area, chart by chart."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')].map(
            (plot) => [...plot.querySelectorAll('.legendtext')].map((text) => text.textContent))"""
    )

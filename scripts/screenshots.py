"""Regenerate docs/screenshots/{data,model,train,results,runs}.png from the first browser journey.

    python scripts/screenshots.py

Starts the app on a free port, takes journey 1's steps in Debian's Chromium
(upload a table, design a network, train it, open the results, train it again with
another learning rate and compare both runs) with the same helpers the e2e tests
use, and saves a full-page screenshot of every page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_support import (  # noqa: E402
    CHROMIUM,
    JOURNEY_SETTINGS,
    app_dir,
    choose_target,
    click,
    design_network,
    go_to,
    launch_chromium,
    load_table,
    new_page,
    open_app,
    select,
    set_training,
    shoot,
    start_training,
    streamlit_server,
    wait_for_training,
    write_renewals_csv,
)
from playwright.sync_api import sync_playwright  # noqa: E402

OUT = REPO / "docs" / "screenshots"


def main() -> None:
    if not CHROMIUM.exists():
        sys.exit(f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="layerlab-shots-") as folder:
        work = Path(folder)
        table = write_renewals_csv(work / "renewals.csv")
        with (
            streamlit_server(app_dir(), work / "server.log") as server,
            sync_playwright() as playwright,
        ):
            browser = launch_chromium(playwright)
            page = new_page(browser)
            open_app(page, server.url)

            load_table(page, table)
            choose_target(page, "renewed")
            shoot(page, OUT / "data.png")

            go_to(page, "Model")
            design_network(page)
            set_training(page, **JOURNEY_SETTINGS)
            click(page, "show_summary", timeout=60)
            shoot(page, OUT / "model.png")

            go_to(page, "Train")
            start_training(page)
            wait_for_training(page)
            shoot(page, OUT / "train.png")

            go_to(page, "Results")
            shoot(page, OUT / "results.png")

            go_to(page, "Model")
            set_training(page, learning_rate=JOURNEY_SETTINGS["learning_rate"] * 3)
            go_to(page, "Train")
            start_training(page)
            wait_for_training(page)
            go_to(page, "Runs")
            select(page, "runs_selected", "Run 1", exact=False)
            select(page, "runs_selected", "Run 2", exact=False)
            shoot(page, OUT / "runs.png")
            browser.close()
    for name in ("data", "model", "train", "results", "runs"):
        path = OUT / f"{name}.png"
        _shrink(path)
        print(f"{path.relative_to(REPO)}  {path.stat().st_size // 1024} KB")


def _shrink(path: Path) -> None:
    """256 colours are plenty for a flat interface and keep each file under ~100 KB."""
    from PIL import Image  # Pillow comes with Streamlit

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


if __name__ == "__main__":
    main()

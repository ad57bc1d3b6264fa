"""Journey 1: an analyst uploads a table, designs a network, watches it learn, and uses the model."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from e2e_support import (
    ARTIFACTS,
    JOURNEY_SETTINGS,
    button,
    chart_points,
    choose_target,
    click,
    design_network,
    go_to,
    load_table,
    main_text,
    set_training,
    shoot,
    sidebar_text,
    start_training,
    tracebacks,
    wait_for_points,
    wait_for_training,
    write_renewals_csv,
)
from playwright.sync_api import Page, expect

EPOCHS = JOURNEY_SETTINGS["epochs"]


def test_upload_design_train_and_use_the_exported_model(page: Page, tmp_path: Path) -> None:
    table = write_renewals_csv(tmp_path / "renewals.csv")

    load_table(page, table)
    choose_target(page, "renewed")
    expect(page.get_by_text("binary classification").first).to_be_visible()
    assert "renewals.csv" in sidebar_text(page)
    assert "renewed" in sidebar_text(page)
    shoot(page, ARTIFACTS / "journey-data.png")

    go_to(page, "Model")
    network = design_network(page)
    set_training(page, **JOURNEY_SETTINGS)
    expect(page.get_by_text("The network, drawn")).to_be_visible()
    click(page, "show_summary", timeout=60)
    expect(page.get_by_text("Parameters").first).to_be_visible()
    shoot(page, ARTIFACTS / "journey-model.png")

    go_to(page, "Train")
    text = main_text(page)
    assert network in text
    assert f"rmsprop, learning rate 0.002, batch size 8, up to {EPOCHS:,} epochs" in text
    start_training(page)
    first, second = _chart_grows_while_training(page)
    assert 0 < first < second
    wait_for_training(page)
    expect(page.get_by_text(f"Training ran all {EPOCHS:,} epochs")).to_be_visible()
    assert chart_points(page) == EPOCHS
    # What the curves say: a finding with its button, or that nothing stands out.
    text = main_text(page)
    assert "Nothing stands out in the learning curves" in text or any(
        title in text
        for title in (
            "Overfitting:",
            "Underfitting:",
            "Plateau:",
            "Learning rate",
            "Early stopping:",
        )
    )
    shoot(page, ARTIFACTS / "journey-train.png")

    go_to(page, "Results")
    text = main_text(page)
    for expected in (
        "Test-set scores",
        "accuracy",
        "What the learning curves say",
        "Which columns matter",
        "How the prediction moves",
        "Dense",
        "Downloads",
    ):
        assert expected in text
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    # Confusion matrix, ROC and precision-recall curves, importance, ICE lines, decision
    # surface and the trained network's picture: each drawn once.
    expect(page.locator(".js-plotly-plot")).to_have_count(7, timeout=60_000)
    page.get_by_text("Model card: data, scores with confidence intervals").click()
    expect(page.get_by_role("heading", name="Model card: predicting")).to_be_visible()
    expect(page.get_by_text("Download the model card (Markdown)")).to_be_visible()
    tables = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]')
    assert tables.count() >= 2  # the metrics beside the baselines, and the layer summary
    expect(tracebacks(page)).to_have_count(0)
    shoot(page, ARTIFACTS / "journey-results.png")

    bundle = _download(page, "download_bundle", tmp_path / "bundle")
    assert {"model.keras", "spec.json", "predict.py", "train.py", "MODEL_CARD.md"} <= {
        p.name for p in bundle.iterdir()
    }
    predictions = _predict_outside_layerlab(bundle, table)
    assert len(predictions) == 300
    assert {row["prediction"] for row in predictions} <= {"yes", "no"}


def _chart_grows_while_training(page: Page) -> tuple[int, int]:
    """Read the live chart's point count twice while training still runs."""
    first = wait_for_points(page, 0)
    assert first > 0, "the chart showed nothing while training ran"
    second = wait_for_points(page, first)
    assert second > first, f"the chart stayed at {first} epochs until training ended"
    return first, second


def _download(page: Page, key: str, folder: Path) -> Path:
    with page.expect_download() as download:
        button(page, key).click()
    data = Path(download.value.path()).read_bytes()
    folder.mkdir(parents=True)
    zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
    return folder


def _predict_outside_layerlab(bundle: Path, table: Path) -> list[dict[str, str]]:
    """Run the bundle's predict.py in a fresh Python that cannot import Layerlab.

    ``-S`` skips site-packages' .pth files (the editable install of src/ is one), so
    only the installed libraries are on the path.
    """
    paths = sysconfig.get_paths()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    check = subprocess.run(
        [sys.executable, "-S", "-c", "import importlib.util as u; print(u.find_spec('layerlab'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "None", "Layerlab is importable in the clean process"
    done = subprocess.run(
        [sys.executable, "-S", "predict.py", str(table)],
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(csv.DictReader(io.StringIO(done.stdout)))

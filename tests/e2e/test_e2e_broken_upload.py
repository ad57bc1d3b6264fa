"""Journey 3: a wrong file gets a plain explanation, never a traceback, and a good one still loads."""

from __future__ import annotations

from pathlib import Path

from e2e_support import load_table, tracebacks, upload, write_renewals_csv
from playwright.sync_api import Page, expect

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def test_broken_files_explain_themselves_and_a_good_file_loads_after(
    page: Page, tmp_path: Path
) -> None:
    picture = tmp_path / "holiday.csv"
    picture.write_bytes(PNG_BYTES)
    header_only = tmp_path / "header_only.csv"
    header_only.write_text("plan,region,renewed\n")
    alerts = page.locator('[data-testid="stMain"] [data-testid="stAlertContainer"]')

    for broken, explanation in (
        (picture, "does not look like text"),
        (header_only, "no data rows"),
    ):
        upload(page, broken)
        error = alerts.filter(has_text=broken.name)
        expect(error).to_be_visible()
        expect(error).to_contain_text(explanation)
        expect(tracebacks(page)).to_have_count(0)

    table = write_renewals_csv(tmp_path / "renewals.csv")
    load_table(page, table)
    expect(alerts.filter(has_text="Could not use")).to_have_count(0)
    expect(page.get_by_text("300 rows × 6 columns").first).to_be_visible()
    expect(tracebacks(page)).to_have_count(0)

"""Acceptance 6: the HTML report opens in Chromium, the comparison table renders with its markers.

Debian's Chromium driven by Playwright for Python (``playwright install`` cannot download browsers
here). Where Chromium is missing the test skips with the reason; under ``CI=true`` it fails instead,
so a CI image without the package cannot pass by skipping it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pilothouse.evals.report import write_report
from tests.eval_runs import demo_report

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--headless",
]


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        reason = "no chromium on PATH (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    report = demo_report()
    page_path = write_report(report, tmp_path / "report.html")
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())

            table = page.locator("table#comparison")
            rows = table.locator("tbody tr.row")
            assert rows.count() == 3  # one per scorer
            assert table.locator("thead th").count() == 9
            names = rows.locator("td:first-child").all_inner_texts()
            assert sorted(names) == ["latency_ms", "passed", "similarity"]
            # Significance markers: the improvements carry the corrected-significance star and verdict.
            improved = table.locator('tr[data-verdict="improvement"]')
            assert improved.count() == len(
                [r for r in report.comparison.rows if r.slice_key is None and r.significant]
            )
            assert improved.count() >= 1
            assert "▲ improvement" in improved.first.inner_text()
            assert improved.first.locator(".sig").is_visible()
            # The interval bars are laid out (non-zero width), not just present in the markup.
            bar = improved.first.locator(".bar .ci-line").bounding_box()
            assert bar is not None and bar["width"] > 2
            assert page.locator("table#slices tbody tr.row").count() == 12  # 3 scorers x 4 topics

            # Per-case side by side with the diff of the two outputs; the filter hides unchanged cases.
            first = page.locator("details.case").first
            first.locator("summary").click()
            assert first.locator(".sides .out ins").first.is_visible()
            assert "arrives Thursday" in first.locator(".sides .side").nth(1).inner_text()
            page.locator("#case-filter").fill("case-003")
            assert page.locator("details.case:visible").count() == 1

            page.locator("#case-filter").fill("")
            page.screenshot(path=str(shot), full_page=True)
            assert requests == [page_path.as_uri()]  # self-contained: nothing else was fetched
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("PILOTHOUSE_SCREENSHOT_DIR")
    if keep:  # CI can upload it as an artifact
        shutil.copy(shot, Path(keep) / "eval-report.png")

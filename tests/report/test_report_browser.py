"""The rendered report in headless Chromium (Debian's ``/usr/bin/chromium``) via Playwright.

Asserts: no console error, no network request but the file:// page itself, every section
present and visible, and saves a full-page screenshot to ``test-artifacts/report.png``.
Never downloads a browser (no ``playwright install``). Without chromium the test fails
(CI must run it) unless ``RADVAL_ALLOW_NO_BROWSER=1`` asks for a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from validation.report.context import SECTIONS
from validation.report.render import render_report

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        message = "Debian's chromium is not installed (scripts/test.sh installs it: apt-get install chromium)"
        if os.environ.get("RADVAL_ALLOW_NO_BROWSER"):
            pytest.skip(message)
        pytest.fail(message + "; set RADVAL_ALLOW_NO_BROWSER=1 to skip the browser test instead")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=ARGS)
        yield b
        b.close()


def test_report_opens_offline_without_errors(browser, study_dir: Path) -> None:  # noqa: ANN001
    report = render_report(study_dir)
    url = report.resolve().as_uri()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(200)
    assert requests == [url], requests
    assert problems == []
    for sid, title, *_ in SECTIONS:
        heading = page.locator(f"#sec-{sid} h2")
        assert heading.count() == 1 and heading.is_visible(), sid
        assert title in heading.inner_text()
    # the injected names are text, and no script ran
    assert page.evaluate("document.scripts.length") == 0
    assert page.locator("text=<script>alert(1)</script>").count() > 0
    assert page.locator("svg[role=img]").count() >= 8
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    context.close()

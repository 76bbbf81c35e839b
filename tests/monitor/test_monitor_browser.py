"""The monitoring report in headless Chromium (Debian's ``/usr/bin/chromium``) via Playwright.

No console error, no request but the file itself, no script, the control charts and the
verification caveat visible; a screenshot goes to ``test-artifacts/monitor-report.png``.
Never downloads a browser. Without chromium the test fails unless
``RADVAL_ALLOW_NO_BROWSER=1`` asks for a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from validation.monitor.simulate import run_monitoring_demo

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


def test_monitoring_report_opens_offline_without_errors(tmp_path: Path) -> None:
    from playwright import sync_api

    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("RADVAL_ALLOW_NO_BROWSER"):
            pytest.skip(message)
        pytest.fail(message + "; set RADVAL_ALLOW_NO_BROWSER=1 to skip the browser test instead")
    demo = run_monitoring_demo(tmp_path / "demo", echo=lambda _: None)
    url = (demo.out / "report.html").resolve().as_uri()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
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
        assert page.evaluate("document.scripts.length") == 0
        for sid in (
            "sec-verification",
            "sec-alarms",
            "sec-charts",
            "sec-drift",
            "sec-performance",
            "sec-reference",
            "sec-runs",
        ):
            assert page.locator(f"#{sid} h2").is_visible(), sid
        assert page.locator("#status").inner_text().startswith("ALARM")
        assert page.locator("#verification-caveat").is_visible()
        assert page.locator("svg[role=img]").count() >= 3 + 2 + 4  # 3 charts, PSI + rate, 4 metrics
        assert page.locator("text=OX-9 DR (new)").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "monitor-report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        browser.close()

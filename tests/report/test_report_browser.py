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
    # the injected names are text; the only script is the report's own inline one
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.scripts[0].src") == ""
    assert page.locator("text=<script>alert(1)</script>").count() > 0
    assert page.locator("svg[role=img]").count() >= 8
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    context.close()


def _open(browser, study_dir: Path, **options):  # noqa: ANN001, ANN202
    """Render, open offline and collect requests and console problems."""
    url = render_report(study_dir).resolve().as_uri()
    context = browser.new_context(viewport={"width": 1200, "height": 900}, **options)
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(url, wait_until="load")
    return page, url, requests, problems


def _groups(page, table: str) -> list[str]:  # noqa: ANN001
    """The Group column of a table's visible rows, top to bottom."""
    return page.locator(f"#{table} tbody tr:visible td:nth-child(2)").all_inner_texts()


def test_subgroup_tables_sort_filter_and_collapse(browser, study_dir: Path) -> None:  # noqa: ANN001
    page, url, requests, problems = _open(browser, study_dir)
    table = "sg-sensitivity"
    details = page.locator(f"details:has(#{table})")
    assert details.get_attribute("open") is not None  # 12 rows or fewer: stays open
    rows = page.locator(f"#{table} tbody tr")
    n = rows.count()
    before = _groups(page, table)
    assert len(before) == n and before[0] == "all"
    # sort by n (numeric): ascending, then descending on a second click
    header = page.locator(f"#{table} thead th").nth(2)
    assert header.inner_text() == "n"
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    ns = [
        int(t.replace(",", ""))
        for t in page.locator(f"#{table} tbody td:nth-child(3)").all_inner_texts()
    ]
    assert ns == sorted(ns) and _groups(page, table) != before
    header.locator("button").click()
    ns = [
        int(t.replace(",", ""))
        for t in page.locator(f"#{table} tbody td:nth-child(3)").all_inner_texts()
    ]
    assert ns == sorted(ns, reverse=True) and ns[0] == 200
    # filter by attribute: only that attribute's rows remain, and the count says so
    tools = page.locator(f".table-tools[data-for={table}]")
    assert tools.is_visible()
    tools.locator("select[data-filter=attribute]").select_option("sex")
    assert sorted(_groups(page, table)) == ["F", "M"]
    assert tools.locator("[data-count]").inner_text() == f"showing 2 of {n} rows"
    tools.locator("select[data-filter=attribute]").select_option("")
    assert len(_groups(page, table)) == n
    # "only flagged" keeps exactly the rows the results mark flagged (none in this fixture)
    flagged = page.locator(f"#{table} tbody tr[data-flagged=yes]").count()
    tools.locator("input[data-filter=flagged]").check()
    assert len(_groups(page, table)) == flagged
    tools.locator("input[data-filter=flagged]").uncheck()
    # "only pre-specified" keeps the pre-specified rows
    pre = page.locator(f"#{table} tbody tr[data-prespecified=yes]").count()
    tools.locator("input[data-filter=prespecified]").check()
    assert len(_groups(page, table)) == pre
    # every plotted point has a tooltip
    points = page.locator("#sec-subgroups svg g > title")
    assert points.count() >= n
    assert requests == [url], requests
    assert problems == []


def test_long_tables_collapse_and_open_for_print(browser, study_dir: Path) -> None:  # noqa: ANN001
    page, _, _, problems = _open(browser, study_dir)
    long = page.locator("details.collapsible:has(#sg-disparity)")
    assert long.count() == 1
    rows = int(long.get_attribute("data-collapse"))
    assert rows > 12 and long.get_attribute("open") is None  # collapsed on screen
    assert not page.locator("#sg-disparity").is_visible()
    long.locator("summary").click()
    assert page.locator("#sg-disparity").is_visible()
    long.locator("summary").click()
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert long.get_attribute("open") is not None
    assert page.locator(".table-tools").first.is_hidden()
    assert problems == []


def test_report_is_complete_without_javascript(browser, study_dir: Path) -> None:  # noqa: ANN001
    page, url, requests, problems = _open(browser, study_dir, java_script_enabled=False)
    assert requests == [url]
    # every table row and every collapsible table is shown; the JS-only tools stay hidden
    assert page.locator("details.collapsible:not([open])").count() == 0
    assert page.locator("#sg-disparity").is_visible()
    body = page.locator("#sg-sensitivity tbody tr")
    assert (
        body.count() > 0
        and body.count() == page.locator("#sg-sensitivity tbody tr:visible").count()
    )
    assert page.locator(".table-tools").first.is_hidden()
    assert page.locator("#where-lower h3").is_visible()
    assert page.locator("#subgroup-legend").is_visible()
    assert problems == []


SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def _differs(shot: Path, reference: Path) -> float:
    """Fraction of pixels whose colour differs by more than 48 (of 255) in some channel."""
    from PIL import Image, ImageChops

    with Image.open(shot) as a, Image.open(reference) as b:
        if a.size != b.size:
            return 1.0
        diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
        counts = diff.convert("L").point(lambda v: 255 if v > 48 else 0).histogram()
        return counts[255] / (a.size[0] * a.size[1])


@pytest.mark.parametrize("sid", ["summary", "subgroups"])
def test_visual_snapshot(browser, study_dir: Path, tmp_path: Path, sid: str) -> None:  # noqa: ANN001
    """The summary and subgroup sections look as committed (1% of pixels may differ).

    Reference images are for Debian's chromium with DejaVu fonts at 1200 px; after an
    intended change, regenerate them with RADVAL_UPDATE_SNAPSHOTS=1 and review the diff.
    """
    page, _, _, problems = _open(browser, study_dir)
    shot = tmp_path / f"{sid}.png"
    page.locator(f"#sec-{sid}").screenshot(path=str(shot), animations="disabled")
    reference = SNAPSHOTS / f"report-{sid}.png"
    if os.environ.get("RADVAL_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        shutil.copyfile(shot, reference)
    assert reference.exists(), f"no reference image {reference}; see this test's docstring"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / f"report-{sid}.png")
    share = _differs(shot, reference)
    assert share <= 0.01, f"{share:.2%} of the pixels of section {sid} differ from {reference}"
    assert problems == []

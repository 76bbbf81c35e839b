"""Render the report screenshots in ``docs/`` from a demo folder (Debian's headless Chromium).

Usage: ``.venv/bin/python scripts/docs_screenshots.py DEMO_DIR [--out docs]`` after
``radval demo --out DEMO_DIR``. Each image is an element of the triage study's report
at a 1100-pixel-wide viewport, cut at 1400 pixels high; the whole-page view is the
first screen. Nothing is fetched: the report is self-contained.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

#: docs image -> CSS selector of the element shown (None: the first screen).
SHOTS = {
    "report-screenshot.png": None,
    "report-summary.png": "#sec-summary",
    "report-subgroups.png": "#sec-subgroups",
    "report-model-card.png": "#sec-intended-use .model-card",
    "report-gallery.png": "#sec-gallery",
}
WIDTH, MAX_HEIGHT = 1100, 1400


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", type=Path, help="a folder written by `radval demo`")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    report = args.demo / "studies" / "triage_standalone" / "report.html"
    if not report.is_file():
        raise SystemExit(f"{report} does not exist: run `radval demo --out {args.demo}` first")
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": MAX_HEIGHT})
        page.goto(report.resolve().as_uri(), wait_until="load")
        for name, selector in SHOTS.items():
            out = args.out / name
            if selector is None:
                page.screenshot(path=str(out))
            else:
                box = page.locator(selector).first.bounding_box()
                if box is None:
                    raise SystemExit(f"{selector} is not shown in {report}")
                clip = {**box, "height": min(box["height"], MAX_HEIGHT)}
                page.screenshot(path=str(out), clip=clip, full_page=True)
            print(f"wrote {out}")
        browser.close()


if __name__ == "__main__":
    main()

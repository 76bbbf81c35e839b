"""The report's sample-size section (STARD 18): free-text fallback, absence, escaping."""

from __future__ import annotations

import json
import re
from pathlib import Path

from report_support import INJECT

from validation.report.render import render_html
from validation.results import dumps_results


def section(page: str, sid: str) -> str:
    match = re.search(rf'<section id="sec-{re.escape(sid)}"[^>]*>(.*?)</section>', page, re.S)
    assert match is not None, f"section {sid} missing"
    return match.group(1)


def edit(study: Path, change) -> None:  # noqa: ANN001 - a callable on the document
    path = study / "results.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(dumps_results(doc), encoding="utf-8")


def test_free_text_justification_without_a_planning_block(study_dir: Path) -> None:
    page = render_html(study_dir)
    body = section(page, "planning")
    assert "STARD 2015: 18" in body
    assert "<blockquote>At least 80 positive cases give 90% power for the sensitivity goal." in body
    assert "Sample-size justification" in section(page, "test-data")


def test_absent_without_plan_or_justification(study_dir: Path) -> None:
    edit(study_dir, lambda doc: doc["study"].update(sample_size_justification=None))
    body = section(render_html(study_dir), "planning")
    assert (
        "Not applicable: The protocol states no sample-size plan or justification (STARD 18)."
        in body
    )


def test_planning_block_is_shown_and_escaped(study_dir: Path) -> None:
    record = {
        "endpoint": "sensitivity_primary",
        "method": "goal",
        "metric": "sensitivity",
        "inputs": {"expected": 0.9, "goal": 0.7, "interval": "wilson", "prevalence": None},
        "required": {"positives": 120, "negatives": None, "total": None},
        "target_power": 0.9,
        "power": 0.9123,
        "design_effect": None,
        "plan": {"n": 120},
        "statement": f"planned {INJECT}",
        "note": f"pilot {INJECT}",
        "achieved": {"positives": 80, "negatives": 120, "total": 200},
        "achieved_power": 0.71234,
        "adequate": False,
    }

    def change(doc: dict) -> None:
        doc["planning"] = {"n_positive": 80, "n_negative": 120, "endpoints": [record]}

    edit(study_dir, change)
    page = render_html(study_dir)
    body = section(page, "planning")
    assert "positives: 80 of 120" in body and "0.712" in body and "0.912" in body
    assert "expected 0.9000; goal 0.7000; interval wilson" in body
    assert "The test set is smaller than planned for: sensitivity_primary." in body
    assert INJECT not in page and "planned &lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Rationale: pilot &lt;script&gt;" in body
    assert "<blockquote>" not in body  # the plan replaces the free text
    assert "Sample-size justification" not in section(page, "test-data")

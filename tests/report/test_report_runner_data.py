"""The report draws what the study runner now fills: per-reader ROC curves, the ROC band,
and each comparison once."""

from __future__ import annotations

import json
import re
from pathlib import Path

from validation.report.render import render_html


def test_runner_fills_reader_curves_band_and_single_comparisons(study_dir: Path) -> None:
    doc = json.loads((study_dir / "results.json").read_text(encoding="utf-8"))
    page = render_html(study_dir)
    per_reader = doc["reader_study"]["roc_curves"]["per_reader"]
    assert per_reader  # the runner filled it
    for modality, readers in per_reader.items():
        assert f"Per-reader ROC curves ({modality})" in page
        assert readers
    band = doc["roc"]["band"]
    assert band is not None and band["pointwise"] is True
    assert "pointwise CI band" in page and "shaded: pointwise confidence band" in page
    ids = [c["id"] for c in doc["comparisons"]]
    assert len(ids) == len(set(ids)) > 0
    table = re.search(r'<table class="comparisons">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table is not None
    # one row per comparison (the report no longer de-duplicates; the runner lists each once)
    assert table.group(1).count("<tr>") == len(ids)

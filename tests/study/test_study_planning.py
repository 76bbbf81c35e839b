"""`radval run` records the sample-size plan against the achieved counts, and the report shows
it under STARD 18 (replacing the free-text justification)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from study_support import lean

from validation.protocol.lock import lock_protocol
from validation.results import load_results
from validation.stats import power_auc, power_goal
from validation.study import run_study


def _run(layout: Path, name: str = "triage") -> tuple[dict, str]:
    proto = layout / "protocols" / "triage_standalone.yaml"
    proto.write_text(lean(proto.read_text()))
    lock_protocol(proto, actor="tester")
    out = run_study(proto, out_dir=layout / "studies" / name, render=True)
    assert out.report_path is not None
    load_results(out.results_path)  # the typed model accepts the block
    return json.loads(out.results_path.read_text()), out.report_path.read_text()


def _section(html: str) -> str:
    match = re.search(r'<section id="sec-planning".*?</section>', html, re.S)
    assert match is not None
    return match.group(0)


def test_run_records_planned_and_achieved_counts_and_power(layout: Path) -> None:
    doc, html = _run(layout)
    block = doc["planning"]
    labels = pd.read_csv(layout / "data" / "test" / "manifest.csv")["label"]
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    assert (block["n_positive"], block["n_negative"]) == (n_pos, n_neg) == (91, 149)
    sens, auc = block["endpoints"]
    assert sens["endpoint"] == "sensitivity_primary" and sens["method"] == "goal"
    assert sens["required"] == {"positives": 74, "negatives": None, "total": 247}
    assert sens["achieved"] == {"positives": n_pos, "negatives": n_neg, "total": n_pos + n_neg}
    want = power_goal(0.9, 0.75, n=n_pos, interval="wilson").power
    assert sens["achieved_power"] == pytest.approx(want) and sens["adequate"] is True
    assert auc["required"] == {"positives": 82, "negatives": 190, "total": 272}
    want = power_auc(
        0.9, n_positive=n_pos, n_negative=n_neg, null=0.8, significance_level=0.025,
        alternative="greater",
    ).power  # fmt: skip
    assert auc["achieved_power"] == pytest.approx(want)
    assert auc["adequate"] is (want >= 0.9)
    assert sens["statement"].startswith("With an expected sensitivity of 0.9, 74 positive cases")

    section = _section(html)
    assert "18" in re.search(r'<p class="refs">.*?</p>', section, re.S).group(0)
    assert "Lower bound exceeds a goal" in section and "positives: 91 of 74" in section
    assert "positives: 91 of 82; negatives: 149 of 190" in section
    assert f"{sens['achieved_power']:.3f}" in section
    # the plan replaces the protocol's free-text justification in the test-data section
    assert "Sample-size justification" not in html


def test_report_warns_when_the_test_set_is_smaller_than_planned(layout: Path) -> None:
    path = layout / "data" / "test" / "manifest.csv"
    frame = pd.read_csv(path)
    keep = (frame["label"] == 0) | (frame.groupby("label").cumcount() < 60)
    frame[keep].to_csv(path, index=False)
    for name in ("candidate", "baseline"):
        scores = layout / "scores" / f"{name}.parquet"
        table = pd.read_parquet(scores)
        table[table["case_id"].isin(frame.loc[keep, "case_id"])].to_parquet(scores)
    doc, html = _run(layout, "small")
    sens = doc["planning"]["endpoints"][0]
    assert sens["achieved"]["positives"] == 60 and sens["adequate"] is False
    section = _section(html)
    assert (
        '<p class="warn">The test set is smaller than planned for: sensitivity_primary, '
        "auc_primary." in section
    )

"""A new user's first runs: studies without a classification model, the segmentation section,
a fixed sequence that stops, missing scores imputed as declared, the methods a report names."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from study_support import SEGMENTATION, lean, make_masks

from validation.errors import InputError
from validation.gate import decision_text
from validation.protocol.load import check_text
from validation.protocol.lock import lock_protocol
from validation.report.render import render_html
from validation.results import read_results_document as load_results
from validation.results import validate_results
from validation.study import run_study

REPO = Path(__file__).resolve().parents[2]

HEAD = """version: 1
study: {id: no-model, title: No classification model, version: "1.0", intended_use: nodule detection,
        population: adults}
test_set:
  manifest: ../data/test/manifest.csv
"""

DETECTION = """detection:
  marks: ../scores/marks.parquet
  lesions: ../data/test/lesions.csv
  rule: {criterion: iou, iou_threshold: 0.3}
  threshold: 0.5
  endpoints:
    - id: lesion_sensitivity
      role: primary
      metric: sensitivity
      accept: {bound: ci_low, op: ">=", value: 0.5}
"""

TAIL = "n_resamples: 200\nseed: 3\n"


def section(page: str, sid: str) -> str:
    start = page.index(f'<section id="sec-{sid}"')
    return page[start : page.index("</section>", start)]


def run(proto: Path, out: Path, *, render: bool = False) -> dict:
    lock_protocol(proto)
    return load_results(run_study(proto, out_dir=out, render=render).results_path)


# --------------------------------------------------------------------------- no classification model


def test_detection_only_study_plans_no_classification_analysis(
    layout: Path, write_protocol
) -> None:
    proto = write_protocol("det.yaml", HEAD + DETECTION + TAIL)
    out = layout / "studies" / "det"
    doc = run(proto, out, render=True)
    assert doc["verdict"]["primary"][0]["endpoint_id"] == "lesion_sensitivity"
    assert [e["id"] for e in doc["endpoints"]] == ["lesion_sensitivity"]
    for key in ("roc", "confusion_matrix", "calibration", "subgroups", "model", "baseline_model"):
        assert doc[key] is None, key
    assert doc["inputs"]["scores"] is None and doc["warnings"] == []
    page = (out / "report.html").read_text(encoding="utf-8")
    for sid, what in (
        ("roc", "No ROC analysis"),
        ("confusion", "No 2\u00d72 table"),
        ("calibration", "No calibration analysis"),
    ):
        assert (
            f'<p class="absent">Not applicable: {what}: the protocol names no classification model, so none '
            "was planned.</p>"
        ) in section(page, sid)
    assert "ROC curve of the model" not in page and "Calibration (reliability) plot" not in page
    run_entry = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()][-2]
    assert run_entry["action"] == "run" and "scores" not in run_entry["inputs"]


def test_classification_blocks_need_a_model() -> None:
    text = (
        HEAD
        + """endpoints:
  - id: sens
    role: primary
    metric: sensitivity
    threshold: 0.5
    accept: {bound: ci_low, op: ">=", value: 0.7}
"""
        + TAIL
    )
    _, problems = check_text(text)
    assert [p.format("p.yaml") for p in problems] == [
        "p.yaml:1: <root>: endpoints analyse a classification model's scores, but the protocol has no `model`; "
        "add a `model` block or remove them"
    ]


def test_segmentation_only_study_and_its_report_section(layout: Path, write_protocol) -> None:
    make_masks(layout)
    proto = write_protocol("seg.yaml", HEAD + SEGMENTATION + TAIL)
    out = layout / "studies" / "seg"
    doc = run(proto, out, render=True)
    seg = doc["segmentation"]
    assert doc["roc"] is None and doc["calibration"] is None and doc["confusion_matrix"] is None
    dice = seg["estimates"]["dice"]
    assert dice["estimate"] == pytest.approx((10 * 112 / 128 + 2 * 1.0) / 12) and dice["n"] == 12
    part = section((out / "report.html").read_text(encoding="utf-8"), "segmentation")
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", part)
    shown = {r[0]: r[1] for r in rows}
    assert shown["Dice similarity coefficient"] == (
        f"{dice['estimate']:.3f} (95% CI {dice['ci_low']:.3f}\u2013{dice['ci_high']:.3f})"
    )
    hd = seg["estimates"]["hd95"]
    assert shown["Hausdorff distance, 95th percentile (mm)"].startswith(
        f"{hd['estimate']:.3f} (95% CI"
    )
    # a table, not a flattened key dump, and nothing cut off without a word
    assert "estimates.dice" not in part and "per_case[" not in part and "Not applicable" not in part
    assert (
        part.count("<td><code>C00") == 12
        and "are listed; every case is in results.json" not in part
    )
    assert "<th>both empty</th><td>best</td>" in part


def test_segmentation_section_says_when_it_lists_only_some_cases(
    layout: Path, write_protocol
) -> None:
    from validation.report._analyses import MAX_PER_CASE_ROWS, segmentation_section

    make_masks(layout)
    doc = run(write_protocol("seg.yaml", HEAD + SEGMENTATION + TAIL), layout / "studies" / "seg")
    doc["segmentation"]["per_case"] = doc["segmentation"]["per_case"] * 40
    view = segmentation_section(doc)
    assert view is not None and view["capped"] and view["n_per_case"] == 480
    assert len(view["cases"]) == MAX_PER_CASE_ROWS


# --------------------------------------------------------------------------- fixed sequence


def test_fixed_sequence_endpoint_after_a_failure_is_not_tested(
    layout: Path, write_protocol
) -> None:
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    # sensitivity (second in the sequence) misses a goal of 0.95: specificity is never tested
    proto = write_protocol("seq.yaml", text.replace("value: 0.75", "value: 0.95"))
    lock_protocol(proto)
    r = subprocess.run(
        [sys.executable, "-m", "validation", "run", str(proto), "--out", str(layout / "seq")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[:3] == [
        "  auc_primary: PASS",
        "  sensitivity_primary: FAIL",
        "  specificity_primary: NOT TESTED",
    ]
    doc = load_results(layout / "seq")
    validate_results(doc)
    eps = {e["id"]: e for e in doc["endpoints"]}
    spec = eps["specificity_primary"]
    assert spec["decision"] == "not_tested" and spec["criterion"]["holds"] is None
    assert spec["details"]["fixed_sequence"] == (
        "not tested: the fixed sequence stopped at 'sensitivity_primary', which was not rejected"
    )
    assert (
        spec["ci_low"] >= 0.70
    )  # its own bound would hold: it is still not a pass, and not a fail
    assert [p["decision"] for p in doc["verdict"]["primary"]] == ["pass", "fail", "not_tested"]
    assert doc["verdict"]["decision"] == "fail"
    page = (layout / "seq" / "report.html").read_text(encoding="utf-8")
    for sid in ("summary", "endpoints"):
        rows = [
            row
            for row in section(page, sid).split("<tr")[1:]
            if "specificity_<wbr>primary" in row or "<code>specificity_primary</code>" in row
        ]
        assert rows and all('badge-not_tested">NOT TESTED</span>' in row for row in rows), sid
        assert not any("badge-fail" in row for row in rows), sid
    assert (
        "1 primary endpoint(s) (specificity_primary) were not tested: the fixed testing sequence stopped "
        "at an earlier hypothesis that was not rejected."
    ) in section(page, "summary")
    assert decision_text("not_tested") == "NOT TESTED"


# --------------------------------------------------------------------------- missing outputs


def test_worst_case_imputes_empty_scores_and_keeps_calibration(
    layout: Path, write_protocol
) -> None:
    scores = layout / "scores" / "candidate.parquet"
    s = pd.read_parquet(scores)
    labels = pd.read_csv(layout / "data" / "test" / "manifest.csv")["label"].to_numpy()
    pos, neg = int(np.flatnonzero(labels == 1)[0]), int(np.flatnonzero(labels == 0)[0])
    s.loc[[pos, neg], "score"] = np.nan
    s.to_parquet(scores)
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    doc = run(write_protocol("w.yaml", text), layout / "w")
    assert sorted(f["case_id"] for f in doc["failures"]) == sorted(s["case_id"].iloc[[pos, neg]])
    assert {f["reason"] for f in doc["failures"]} == {
        "no model output: empty score in candidate.parquet; scored worst-case"
    }
    assert doc["data_summary"]["flow"]["imputed"] == [
        {"reason": "no model output: empty score in candidate.parquet", "n": 2}
    ]
    # the imputed scores stay probabilities (0 for the positive, 1 for the negative): calibration is assessed
    assert doc["calibration"] is not None and not any("calibration" in w for w in doc["warnings"])
    observed = s["score"].to_numpy()
    expected = observed.copy()
    expected[pos], expected[neg] = 0.0, 1.0
    cm = doc["confusion_matrix"]
    assert cm["tp"] == int(((expected >= 0.4) & (labels == 1)).sum())
    assert cm["fp"] == int(((expected >= 0.4) & (labels == 0)).sum())
    err = write_protocol(
        "e.yaml", text.replace("missing_outputs: worst_case", "missing_outputs: error")
    )
    lock_protocol(err)
    with pytest.raises(InputError) as exc:
        run_study(err, out_dir=layout / "e", render=False)
    first = s["case_id"].iloc[min(pos, neg)]
    assert str(exc.value) == (
        f"{scores}: no score for 2 manifest case(s), e.g. case_id {first!r} (its score is empty) "
        "(set test_set.missing_outputs: worst_case or exclude to count them instead)"
    )
    assert "nan" not in str(exc.value).lower()


# --------------------------------------------------------------------------- method names


def test_report_names_the_declared_method_and_why_another_form_was_used(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    proto.write_text(lean(proto.read_text()))
    doc = run(proto, layout / "t")
    auc = next(e for e in doc["endpoints"] if e["id"] == "auc_primary")
    assert auc["method"] == "obuchowski" and auc["details"]["declared_method"] == "delong"
    assert auc["hypothesis"]["method"] == "delong"
    assert auc["details"]["method_note"] == (
        "declared delong; computed as obuchowski, its patient-clustered form (Obuchowski's clustered DeLong "
        "variance), because cases share patients (test_set.cluster_column: patient_id)"
    )
    boot = next(e for e in doc["endpoints"] if e["id"] == "auc_bootstrap")
    assert boot["details"]["method_note"] == (
        "declared bootstrap; computed as cluster_bootstrap_bca, its patient-clustered form (a bootstrap that "
        "resamples patients, bca interval), because cases share patients (test_set.cluster_column: patient_id)"
    )
    sens = next(e for e in doc["endpoints"] if e["id"] == "sensitivity_primary")
    assert sens["method"] == "wilson" and sens["details"]["method_note"] == (
        "wilson interval treats cases as independent; clusters not used"
    )
    page = render_html(layout / "t")
    row = next(r for r in section(page, "endpoints").split("<tr") if "auc_<wbr>primary" in r)
    # the Method column names the declared method; the note under it says what was computed and why
    assert '<td>delong<div class="small muted">declared delong; computed as obuchowski, its' in row

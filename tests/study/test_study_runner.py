"""The study runner on small inline data: verdicts, exit codes, determinism, streams, schema."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from study_support import SEGMENTATION, lean, make_masks

from validation import audit
from validation.errors import InputError, ProtocolError, ResultsSchemaError, StudyExistsError
from validation.protocol.lock import lock_protocol
from validation.results import read_results_document as load_results
from validation.results import results_json_schema as results_schema
from validation.results import validate_results
from validation.study import run_study

VOLATILE = ("timings", "audit")


def stable(doc: dict) -> dict:
    """A results document without its timestamps and timing-dependent fields."""
    out = copy.deepcopy(doc)
    for key in VOLATILE:
        out.pop(key, None)
    # other people commit to this checkout while the tests run; the commit is provenance,
    # not a result
    out["environment"].pop("git_commit")
    return out


def locked(layout: Path, name: str, *, full: bool = True) -> Path:
    proto = layout / "protocols" / name
    if not full:
        proto.write_text(lean(proto.read_text()))
    lock_protocol(proto, actor="tester")
    return proto


def test_triage_run_passes_and_results_validate(layout: Path) -> None:
    proto = locked(layout, "triage_standalone.yaml")
    out = run_study(proto, out_dir=layout / "studies" / "triage", render=False)
    doc = json.loads(out.results_path.read_text())
    jsonschema.Draft202012Validator(results_schema()).validate(doc)
    assert out.exit_code == 0 and doc["verdict"]["decision"] == "pass"
    assert [p["endpoint_id"] for p in doc["verdict"]["primary"]] == [
        "auc_primary",
        "sensitivity_primary",
        "specificity_primary",
    ]
    eps = {e["id"]: e for e in doc["endpoints"]}
    sens = eps["sensitivity_primary"]
    cm = doc["confusion_matrix"]
    assert sens["estimate"] == pytest.approx(cm["tp"] / (cm["tp"] + cm["fn"]))
    assert sens["method"] == "wilson" and sens["criterion"]["holds"] is True
    assert (
        eps["auc_primary"]["p_value"] is not None and eps["auc_primary"]["p_adjusted"] is not None
    )
    assert eps["auc_bootstrap"]["decision"] == "informational"
    assert doc["protocol"]["lock"]["protocol_sha256"] == doc["protocol"]["sha256"]
    assert doc["inputs"]["manifest"]["n_rows"] == 240
    assert doc["data_summary"]["n_patients"] == 120
    assert doc["subgroups"]["rows"], "subgroup table is empty"
    assert audit.verify(out.study_dir).ok
    assert [e["action"] for e in audit.read_entries(out.study_dir)] == ["lock", "run"]
    assert (out.study_dir / "protocol.yaml").read_bytes() == proto.read_bytes()


def test_failed_primary_exits_1_but_writes_results(layout: Path, write_protocol) -> None:
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    proto = write_protocol("strict.yaml", text.replace("value: 0.75", "value: 0.99"))
    lock_protocol(proto)
    out = run_study(proto, out_dir=layout / "studies" / "strict", render=False)
    assert out.exit_code == 1
    doc = load_results(out.results_path)
    eps = {e["id"]: e for e in doc["endpoints"]}
    assert eps["sensitivity_primary"]["decision"] == "fail"
    # fixed sequence: auc first (passes), sensitivity fails, specificity is then not tested
    assert eps["auc_primary"]["decision"] == "pass"
    assert eps["specificity_primary"]["decision"] == "not_tested"
    assert "not tested" in eps["specificity_primary"]["details"]["fixed_sequence"]


def test_two_runs_identical_apart_from_timestamps(layout: Path) -> None:
    proto = locked(layout, "triage_standalone.yaml")
    a = run_study(proto, out_dir=layout / "studies" / "a", render=False)
    b = run_study(proto, out_dir=layout / "studies" / "b", render=False)
    da, db = json.loads(a.results_path.read_text()), json.loads(b.results_path.read_text())
    assert stable(da) == stable(db)


def test_adding_an_endpoint_never_changes_another(layout: Path, write_protocol) -> None:
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    one = write_protocol("one.yaml", text)
    extra = """  - id: extra_boot
    role: exploratory
    metric: sensitivity
    ci: {method: bootstrap}
"""
    two = write_protocol("two.yaml", text.replace("multiplicity:\n", extra + "multiplicity:\n", 1))
    for p in (one, two):
        lock_protocol(p)
    r1 = load_results(run_study(one, out_dir=layout / "s1", render=False).results_path)
    r2 = load_results(run_study(two, out_dir=layout / "s2", render=False).results_path)
    e1 = {e["id"]: e for e in r1["endpoints"]}
    e2 = {e["id"]: e for e in r2["endpoints"]}
    assert set(e2) - set(e1) == {"extra_boot"}
    for key, rec in e1.items():
        assert e2[key] == rec, key
    assert (
        e1["auc_bootstrap"]["method"].startswith("bootstrap")
        or "bootstrap" in e1["auc_bootstrap"]["method"]
    )


def test_unlocked_refused_and_edit_after_lock_refused(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    with pytest.raises(ProtocolError, match="is not locked"):
        run_study(proto, out_dir=layout / "s", render=False)
    lock_protocol(proto)
    proto.write_text(proto.read_text().replace("value: 0.70", "value: 0.65"))
    with pytest.raises(ProtocolError, match="does not match its lock"):
        run_study(proto, out_dir=layout / "s", render=False)
    assert not (layout / "s").exists()


def test_existing_study_folder_needs_force(layout: Path) -> None:
    proto = locked(layout, "triage_standalone.yaml", full=False)
    target = layout / "studies" / "t"
    run_study(proto, out_dir=target, render=False)
    with pytest.raises(StudyExistsError, match="already exists and is not empty; pass --force"):
        run_study(proto, out_dir=target, render=False)
    again = run_study(proto, out_dir=target, force=True, render=False)
    assert [e["action"] for e in audit.read_entries(again.study_dir)] == ["lock", "run", "run"]
    assert audit.verify(target).ok


def test_reader_study_protocol(layout: Path) -> None:
    proto = locked(layout, "reader_study.yaml")
    out = run_study(proto, out_dir=layout / "studies" / "rs", render=False)
    doc = load_results(out.results_path)
    rs = doc["reader_study"]
    assert rs["test_modality"] == "aided" and rs["tests"]["RRRC"]["p_value"] is not None
    assert set(rs["ai_vs_readers"]) >= {"RRRC", "RRFC", "modality"}
    [prim] = doc["verdict"]["primary"]
    assert prim["endpoint_id"] == "aided_vs_unaided" and prim["p_value"] is not None
    comp = next(c for c in doc["comparisons"] if c["id"] == "aided_vs_unaided")
    assert comp["difference"] > 0


def test_release_gate_protocol_holm(layout: Path) -> None:
    proto = locked(layout, "release_gate.yaml", full=False)
    out = run_study(proto, out_dir=layout / "studies" / "gate", render=False)
    doc = load_results(out.results_path)
    prims = {p["endpoint_id"]: p for p in doc["verdict"]["primary"]}
    assert set(prims) == {"auc_noninferior", "sensitivity_noninferior"}
    ps = sorted(p["p_value"] for p in prims.values())
    adj = sorted(p["p_adjusted"] for p in prims.values())
    assert adj[0] == pytest.approx(min(1.0, 2 * ps[0]))  # Holm's first step
    assert {c["id"] for c in doc["comparisons"]} == {
        "auc_noninferior",
        "sensitivity_noninferior",
        "specificity_noninferior",
    }
    assert doc["inputs"]["baseline_scores"]["sha256"]


def test_missing_scores_policy(layout: Path, write_protocol) -> None:
    import pandas as pd

    scores = pd.read_parquet(layout / "scores" / "candidate.parquet").iloc[3:]
    scores.to_parquet(layout / "scores" / "candidate.parquet")
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    p1 = write_protocol("worst.yaml", text)
    lock_protocol(p1)
    doc = load_results(run_study(p1, out_dir=layout / "w", render=False).results_path)
    assert [f["case_id"] for f in doc["failures"]] == ["C0000", "C0001", "C0002"]
    assert doc["data_summary"]["flow"]["missing_outputs"] == 3
    p2 = write_protocol(
        "err.yaml", text.replace("missing_outputs: worst_case", "missing_outputs: error")
    )
    lock_protocol(p2)
    with pytest.raises(
        InputError,
        match=r"candidate\.parquet: no score for 3 manifest case\(s\), e\.g\. case_id 'C0000'",
    ):
        run_study(p2, out_dir=layout / "e", render=False)


def test_schema_rejects_bad_documents(layout: Path) -> None:
    proto = locked(layout, "triage_standalone.yaml", full=False)
    doc = load_results(run_study(proto, out_dir=layout / "s", render=False).results_path)
    bad = copy.deepcopy(doc)
    bad["endpoints"][0]["decision"] = "maybe"
    with pytest.raises(ResultsSchemaError) as err:
        validate_results(bad)
    assert str(err.value) == (
        "results do not match radval.results/1: endpoints/0/decision: Input should be 'pass', "
        "'fail', 'not_estimable', 'informational' or 'not_tested'"
    )
    # the published JSON Schema (generated from the same model) refuses it too
    with pytest.raises(jsonschema.ValidationError, match="'maybe' is not one of"):
        jsonschema.Draft202012Validator(results_schema()).validate(bad)
    bad = copy.deepcopy(doc)
    bad["surprise"] = 1
    with pytest.raises(ResultsSchemaError, match="surprise: Extra inputs are not permitted"):
        validate_results(bad)
    shutil.copytree(layout / "s", layout / "copy")
    (layout / "copy" / "results.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="results do not match radval.results/1"):
        load_results(layout / "copy")


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
    - id: fp_rate
      role: secondary
      metric: fp_per_image
      accept: {bound: ci_high, op: "<=", value: 0.5}
    - id: froc_cpm
      role: exploratory
      metric: cpm
"""


def test_detection_endpoints(layout: Path, write_protocol) -> None:
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    proto = write_protocol(
        "det.yaml",
        text.replace("multiplicity:\n", DETECTION + "multiplicity:\n", 1).replace(
            "order: [auc_primary, sensitivity_primary, specificity_primary]",
            "order: [auc_primary, sensitivity_primary, specificity_primary, lesion_sensitivity]",
        ),
    )
    lock_protocol(proto)
    doc = load_results(run_study(proto, out_dir=layout / "det", render=False).results_path)
    eps = {e["id"]: e for e in doc["endpoints"]}
    sens = eps["lesion_sensitivity"]
    det = doc["detection"]
    assert (
        sens["estimate"] == det["sensitivity"]["estimate"]
        and sens["metric"] == "lesion_sensitivity"
    )
    assert det["rule"]["criterion"] == "iou" and det["rule"]["iou_threshold"] == 0.3
    assert sens["decision"] == ("pass" if det["sensitivity"]["ci_low"] >= 0.5 else "fail")
    assert eps["froc_cpm"]["decision"] == "informational"
    assert doc["verdict"]["primary"][-1]["endpoint_id"] == "lesion_sensitivity"
    assert doc["inputs"]["lesions"]["sha256"] and doc["inputs"]["marks"]["sha256"]


def test_segmentation_endpoints(layout: Path, write_protocol) -> None:
    make_masks(layout)
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    proto = write_protocol(
        "seg.yaml",
        text.replace("multiplicity:\n", SEGMENTATION + "multiplicity:\n", 1).replace(
            "order: [auc_primary, sensitivity_primary, specificity_primary]",
            "order: [auc_primary, sensitivity_primary, specificity_primary, dice_primary]",
        ),
    )
    lock_protocol(proto)
    doc = load_results(run_study(proto, out_dir=layout / "seg", render=False).results_path)
    eps = {e["id"]: e for e in doc["endpoints"]}
    seg = doc["segmentation"]
    # shifted 8x8 square by one row: Dice = 2*56/(64+64) on 10 cases, 1 on the two empty ones
    assert eps["dice_primary"]["estimate"] == pytest.approx((10 * 112 / 128 + 2 * 1.0) / 12)
    assert eps["dice_primary"]["decision"] == "pass" and eps["dice_primary"]["n"] == 12
    assert len(seg["per_case"]) == 12 and seg["empty_policy"]["both_empty"] == "best"
    assert eps["hd95"]["estimate"] == pytest.approx((10 * 0.5 + 2 * 0.0) / 12)
    assert doc["inputs"]["segmentation_predictions"]["sha256"]

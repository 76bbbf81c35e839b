"""Release gate: passes an identical candidate, fails a degraded one, refuses other test sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from study_support import SMALL_SUBGROUPS, lean

from validation.errors import InputError
from validation.gate import format_gate, run_gate
from validation.protocol.lock import lock_protocol
from validation.study import run_study


def study_for(layout: Path, name: str, scores: str) -> Path:
    text = lean(
        (layout / "protocols" / "triage_standalone.yaml").read_text(),
        keep_subgroups=SMALL_SUBGROUPS,
    )
    text = text.replace("../scores/candidate.parquet", f"../scores/{scores}")
    text = text.replace("id: triage-standalone", f"id: {name}")
    proto = layout / "protocols" / f"{name}.yaml"
    proto.write_text(text)
    lock_protocol(proto)
    out = run_study(proto, out_dir=layout / "studies" / name, render=False)
    return out.results_path


def write_scores(layout: Path, name: str, values: np.ndarray) -> None:
    ids = pd.read_parquet(layout / "scores" / "baseline.parquet")["case_id"]
    pd.DataFrame({"case_id": ids, "score": values}).to_parquet(layout / "scores" / name)


def test_identical_candidate_passes(layout: Path, tmp_path: Path) -> None:
    base = pd.read_parquet(layout / "scores" / "baseline.parquet")["score"].to_numpy()
    # the same model re-released: identical scores up to a monotone re-calibration
    write_scores(layout, "same.parquet", base)
    r_base = study_for(layout, "released", "baseline.parquet")
    r_cand = study_for(layout, "candidate", "same.parquet")
    res = run_gate(r_cand, r_base, margin=0.02, out=tmp_path / "gate")
    assert res["decision"] == "pass", format_gate(res)
    auc = next(c for c in res["comparisons"] if c["id"] == "auc")
    assert auc["difference"] == 0.0 and auc["margin"] == 0.02
    assert {c["id"] for c in res["comparisons"]} == {"auc", "sensitivity", "specificity"}
    assert not [r for r in res["subgroups"] if r["status"] == "regression"]
    assert res["warnings"] == [
        f"the candidate and baseline scores are identical on all {res['n_cases']} cases: the gate compares a "
        "model with itself (every difference is 0 and the paired tests have no variance)"
    ]
    assert "warning: the candidate and baseline scores are identical" in format_gate(res)
    assert (tmp_path / "gate" / "gate.json").exists()


def test_degraded_candidate_fails(layout: Path) -> None:
    rng = np.random.default_rng(3)
    base = pd.read_parquet(layout / "scores" / "baseline.parquet")["score"].to_numpy()
    degraded = np.clip(base + rng.normal(0, 0.6, size=base.size), 0, 1)
    write_scores(layout, "degraded.parquet", degraded)
    r_base = study_for(layout, "released", "baseline.parquet")
    r_cand = study_for(layout, "degraded", "degraded.parquet")
    res = run_gate(r_cand, r_base, margin=0.02)
    assert res["decision"] == "fail"
    auc = next(c for c in res["comparisons"] if c["id"] == "auc")
    assert auc["decision"] == "fail" and auc["difference"] < -0.05
    assert "release gate: FAIL" in format_gate(res)


def test_gate_refuses_different_test_sets(layout: Path) -> None:
    r_base = study_for(layout, "released", "baseline.parquet")
    manifest = layout / "data" / "test" / "manifest.csv"
    frame = pd.read_csv(manifest).iloc[:-2]
    frame.to_csv(manifest, index=False)
    scores = pd.read_parquet(layout / "scores" / "candidate.parquet").iloc[:-2]
    scores.to_parquet(layout / "scores" / "short.parquet")
    r_cand = study_for(layout, "short", "short.parquet")
    with pytest.raises(InputError, match="were run on different test sets"):
        run_gate(r_cand, r_base)


def test_gate_refuses_changed_scores(layout: Path) -> None:
    r_base = study_for(layout, "released", "baseline.parquet")
    r_cand = study_for(layout, "candidate", "candidate.parquet")
    s = pd.read_parquet(layout / "scores" / "candidate.parquet")
    s.assign(score=s["score"] * 0.5).to_parquet(layout / "scores" / "candidate.parquet")
    with pytest.raises(
        InputError, match=r"candidate\.parquet has sha256 [0-9a-f]{64}, the results recorded"
    ):
        run_gate(r_cand, r_base)


def test_gate_intervals_follow_the_run_convention(layout: Path) -> None:
    r_base = study_for(layout, "released", "baseline.parquet")
    r_cand = study_for(layout, "candidate", "candidate.parquet")
    res = run_gate(r_cand, r_base)
    # the candidate protocol's one-sided family level (0.025), as `radval run` uses; 95% intervals
    assert res["significance_level"] == 0.025 and res["confidence_level"] == 0.95
    assert (
        res["significance_level_source"]
        == "the candidate protocol's multiplicity.significance_level"
    )
    tested = [r for r in res["subgroups"] if "p_value" in r]
    assert tested
    assert {c["confidence_level"] for c in res["comparisons"] + tested} == {0.95}
    res = run_gate(r_cand, r_base, significance_level=0.05)
    assert {c["confidence_level"] for c in res["comparisons"]} == {0.9}
    assert {r["confidence_level"] for r in res["subgroups"] if "p_value" in r} == {0.9}
    assert res["significance_level_source"] == "--significance-level"
    # the run's own comparison of the same endpoint kind uses the same level by default
    doc = json.loads(Path(r_cand).read_text())
    assert {e["confidence_level"] for e in doc["endpoints"] if e.get("p_value") is not None} == {
        0.95
    }


def test_subgroup_regression_rule_and_adjusted_p_values(layout: Path) -> None:
    from scipy.stats import norm
    from statsmodels.stats.multitest import multipletests

    manifest = pd.read_csv(layout / "data" / "test" / "manifest.csv")
    base = pd.read_parquet(layout / "scores" / "baseline.parquet")["score"].to_numpy()
    worse = base.copy()
    site_b = (manifest["site"] == "site_b").to_numpy()
    rng = np.random.default_rng(11)
    worse[site_b] = rng.random(site_b.sum())  # the candidate is uninformative at site_b only
    write_scores(layout, "site_b_broken.parquet", worse)
    r_base = study_for(layout, "released", "baseline.parquet")
    r_cand = study_for(layout, "broken", "site_b_broken.parquet")
    res = run_gate(r_cand, r_base, margin=0.02)
    rule = res["subgroup_rule"]
    assert (
        rule["adjustment"] == "holm"
        and rule["margin"] == 0.02
        and rule["significance_level"] == 0.025
    )
    rows = {r["group"]: r for r in res["subgroups"]}
    assert rows["site_b"]["status"] == "regression" and rows["site_a"]["status"] == "ok"
    # p-value: the lower tail of (d + margin) / SE, SE read back from the recorded 95% interval
    for r in rows.values():  # (site_a's scores are the baseline's: SE 0, z = +inf, p = 1)
        se = (r["ci_high"] - r["ci_low"]) / (2 * norm.ppf(0.975))
        with np.errstate(divide="ignore"):
            z = (r["difference"] + 0.02) / se
        assert r["p_value"] == pytest.approx(norm.cdf(z), rel=1e-9, abs=1e-300)
    raw = [rows[g]["p_value"] for g in ("site_a", "site_b")]
    holm = multipletests(raw, method="holm")[1]
    assert [rows["site_a"]["p_adjusted"], rows["site_b"]["p_adjusted"]] == pytest.approx(
        list(holm), rel=1e-12
    )
    assert rows["site_b"]["p_adjusted"] <= 0.025 < rows["site_a"]["p_adjusted"]
    assert res["decision"] == "fail"
    text = format_gate(res)
    assert "subgroup regression: site=site_b" in text and "adjusted p" in text


def test_gate_folder_is_audited_and_signable(layout: Path, tmp_path: Path) -> None:
    from validation import audit

    r_base = study_for(layout, "released", "baseline.parquet")
    r_cand = study_for(layout, "candidate", "candidate.parquet")
    folder = tmp_path / "gate"
    res = run_gate(r_cand, r_base, out=folder, actor="ci@runner")
    [entry] = audit.read_entries(folder)
    assert entry["action"] == "gate" and entry["actor"] == "ci@runner"
    assert entry["outputs"] == {"gate.json": audit.sha256_file(folder / "gate.json")}
    assert entry["inputs"] == {
        "candidate_results": audit.sha256_file(r_cand),
        "baseline_results": audit.sha256_file(r_base),
    }
    assert (
        entry["details"]["decision"] == res["decision"]
        and res["audit_entry"]["hash"] == entry["hash"]
    )
    assert json.loads((folder / "gate.json").read_text())["decision"] == res["decision"]
    assert audit.verify(folder).ok
    sig = audit.sign(folder, name="R. Manager", role="Release manager", meaning="approval")
    assert sig["inputs"] == {"gate.json": audit.sha256_file(folder / "gate.json")}
    assert sig["details"]["signs"] == "gate.json"
    with pytest.raises(
        InputError, match=r"already holds a gate decision \(gate\.json\); pass --force"
    ):
        run_gate(r_cand, r_base, out=folder)
    run_gate(r_cand, r_base, out=folder, force=True, margin=0.01)
    assert [e["action"] for e in audit.read_entries(folder)] == ["gate", "sign", "gate"]
    assert audit.verify(folder).ok and audit.verify(folder).signatures[0]["signs_current"] is False
    with pytest.raises(
        InputError, match=r"is a study folder; write the gate record to a folder of its own"
    ):
        run_gate(r_cand, r_base, out=Path(r_cand).parent, force=True)
    with pytest.raises(
        InputError, match=r"gate\.json looks like a file name; --out names a folder"
    ):
        run_gate(r_cand, r_base, out=tmp_path / "gate.json")


def test_run_warns_when_an_interval_and_its_test_use_other_levels(layout: Path) -> None:
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    text = text.replace(
        "ci: {method: delong, confidence_level: 0.95}\n    test: {kind: superiority",
        "ci: {method: delong, confidence_level: 0.99}\n    test: {kind: superiority",
    )
    proto = layout / "protocols" / "levels.yaml"
    proto.write_text(text)
    lock_protocol(proto)
    out = run_study(proto, out_dir=layout / "studies" / "levels", render=False)
    assert (
        "endpoint 'auc_primary': its 99.0% interval does not match its one-sided test at 0.025 (radval "
        "pairs a one-sided level alpha with a two-sided 1 - 2 alpha interval): the interval's bound and "
        "the test can disagree"
    ) in out.warnings
    assert not [w for w in out.warnings if "sensitivity_primary" in w]

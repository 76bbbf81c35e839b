"""Release gate: passes an identical candidate, fails a degraded one, refuses other test sets."""

from __future__ import annotations

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
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text(), keep_subgroups=SMALL_SUBGROUPS)
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
    res = run_gate(r_cand, r_base, margin=0.02, out=tmp_path / "gate.json")
    assert res["decision"] == "pass", format_gate(res)
    auc = next(c for c in res["comparisons"] if c["id"] == "auc")
    assert auc["difference"] == 0.0 and auc["margin"] == 0.02
    assert {c["id"] for c in res["comparisons"]} == {"auc", "sensitivity", "specificity"}
    assert not [r for r in res["subgroups"] if r["status"] == "regression"]
    assert (tmp_path / "gate.json").exists()


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
    with pytest.raises(InputError, match=r"candidate\.parquet has sha256 [0-9a-f]{64}, the results recorded"):
        run_gate(r_cand, r_base)

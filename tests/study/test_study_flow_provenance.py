"""results.json completeness: comparisons once, PDF audit entry, reader ROC curves, ROC band,
model cards and scores provenance, and the STARD flow (exclusions and imputations)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from study_support import lean, write_model_card

from validation import audit
from validation.errors import InputError, ProtocolError
from validation.io import sha256_file
from validation.protocol.lock import lock_protocol
from validation.stats import mrmc
from validation.stats.roc import sensitivity_at_specificity
from validation.study import run_study
from validation.study.analyses import BAND_GRID, MAX_CURVE_POINTS, thin_curve
from validation.study.inputs import stream


def run(layout: Path, name: str, *, edit=None, out: str = "study", render: bool = False) -> dict:
    proto = layout / "protocols" / name
    text = proto.read_text(encoding="utf-8")
    if edit is not None:
        text = edit(text)
    proto.write_text(text, encoding="utf-8")
    lock_protocol(proto, actor="tester")
    outcome = run_study(proto, out_dir=layout / "studies" / out, render=render)
    return dict(json.loads(outcome.results_path.read_text(encoding="utf-8")))


# ----------------------------------------------------------------- comparisons, reader ROC


def test_reader_study_comparison_listed_once_and_reader_curves(layout: Path) -> None:
    doc = run(layout, "reader_study.yaml")
    ids = [c["id"] for c in doc["comparisons"]]
    assert ids.count("aided_vs_unaided") == 1 and len(ids) == len(set(ids))
    rs_ep = next(e for e in doc["endpoints"] if e["id"] == "aided_vs_unaided")
    comp = doc["comparisons"][ids.index("aided_vs_unaided")]
    assert comp["difference"] == rs_ep["estimate"] and comp["decision"] == rs_ep["decision"]

    curves = doc["reader_study"]["roc_curves"]
    readings = pd.read_csv(layout / "readings" / "readings.csv", dtype={"case": str})
    humans = readings[readings["reader"] != "AI"]
    points = mrmc.reader_roc_points(humans)
    assert sorted(curves["per_reader"]) == ["aided", "unaided"]
    for (m, r), part in points.groupby(["modality", "reader"]):
        got = curves["per_reader"][m][r]
        assert len(part) <= MAX_CURVE_POINTS  # 80 cases: kept whole
        assert got["fpr"] == pytest.approx(part["fpr"].tolist())
        assert got["tpr"] == pytest.approx(part["tpr"].tolist())
        assert (got["fpr"][0], got["tpr"][0], got["fpr"][-1], got["tpr"][-1]) == (
            0.0,
            0.0,
            1.0,
            1.0,
        )
    avg = mrmc.average_roc_curve(humans)
    for m, part in avg.groupby("modality"):
        assert curves["average"][m]["tpr"] == pytest.approx(part["tpr"].tolist())


def test_thin_curve_is_deterministic_and_keeps_the_ends() -> None:
    rng = np.random.default_rng(3)
    fpr = np.r_[0.0, np.sort(rng.random(998)), 1.0]
    tpr = np.r_[0.0, np.sort(rng.random(998)), 1.0]
    a = thin_curve(fpr, tpr, max_points=50)
    assert a == thin_curve(fpr, tpr, max_points=50)
    assert len(a["fpr"]) == 50 and (a["fpr"][0], a["fpr"][-1]) == (0.0, 1.0)
    assert (a["tpr"][0], a["tpr"][-1]) == (0.0, 1.0)
    assert np.all(np.diff(a["fpr"]) >= 0)
    assert set(a["fpr"]) <= set(fpr.tolist())  # only existing points, no interpolation
    short = thin_curve(fpr[:10], tpr[:10], max_points=50)
    assert short["fpr"] == fpr[:10].tolist()


# ----------------------------------------------------------------- ROC band


def test_roc_band_is_pointwise_bootstrap_of_sensitivity_at_specificity(layout: Path) -> None:
    doc = run(layout, "triage_standalone.yaml", edit=lean)
    band = doc["roc"]["band"]
    assert band["pointwise"] is True and band["confidence_level"] == 0.95
    assert band["fpr"] == BAND_GRID.tolist()
    assert all(lo <= hi for lo, hi in zip(band["tpr_low"], band["tpr_high"], strict=True))
    # the same numbers from the statistics module, on the runner's own stream for the band
    manifest = pd.read_csv(layout / "data" / "test" / "manifest.csv", dtype={"case_id": str})
    scores = pd.read_parquet(layout / "scores" / "candidate.parquet").set_index("case_id")["score"]
    y = manifest["label"].to_numpy()
    s = scores.reindex(manifest["case_id"]).to_numpy()
    seed = int(stream(doc["seed"], "roc", "band").integers(0, 2**63 - 1))
    for i in (3, 10):
        est = sensitivity_at_specificity(
            y,
            s,
            round(1.0 - band["fpr"][i], 10),
            n_resamples=200,
            rng=seed,
            clusters=manifest["patient_id"].to_numpy(),
        )
        assert (band["tpr_low"][i], band["tpr_high"][i]) == pytest.approx((est.ci_low, est.ci_high))


# ----------------------------------------------------------------- PDF in the audit trail


def test_pdf_report_is_logged_with_its_hash(layout: Path) -> None:
    pytest.importorskip("weasyprint")
    small = lean(
        (layout / "protocols" / "triage_standalone.yaml").read_text(encoding="utf-8")
    ).replace("report:\n", "report:\n  pdf: true\n", 1)
    doc = run(layout, "triage_standalone.yaml", edit=lambda _: small, render=True)
    assert doc["protocol"]["resolved"]["report"]["pdf"] is True
    study = layout / "studies" / "study"
    renders = [e for e in audit.read_entries(study) if e["action"] == "render"]
    logged = {name: sha for e in renders for name, sha in e["outputs"].items()}
    assert set(logged) == {"report.html", "report.pdf"}
    assert logged["report.pdf"] == sha256_file(study / "report.pdf")
    assert logged["report.html"] == sha256_file(study / "report.html")
    assert audit.verify(study).ok


# ----------------------------------------------------------------- model cards and provenance


def test_model_cards_are_hashed_and_copied(layout: Path) -> None:
    doc = run(layout, "release_gate.yaml", edit=lean)
    for key, folder, ref in (
        ("model", "model", "model_card"),
        ("baseline_model", "baseline", "baseline_model_card"),
    ):
        card = layout / folder / "model_card.json"
        assert doc[key]["model_card"] == json.loads(card.read_text(encoding="utf-8"))
        assert doc["inputs"][ref] == {
            "path": str(card),
            "sha256": sha256_file(card),
            "declared": f"../{folder}/model_card.json",
        }
    run_entry = [
        e for e in audit.read_entries(layout / "studies" / "study") if e["action"] == "run"
    ][-1]
    assert run_entry["inputs"]["model_card"] == sha256_file(layout / "model" / "model_card.json")


def _with_provenance(path: Path, meta: dict, *, drop: list[str] | None = None) -> None:
    frame = pd.read_parquet(path)
    if drop:
        frame = frame[~frame["case_id"].isin(drop)]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"radval": json.dumps(meta).encode()}
    )
    pq.write_table(table, path)


def test_scores_provenance_fills_the_model_record_and_checks_the_card(layout: Path) -> None:
    ckpt = "cd" * 32
    meta = {
        "schema": "radval.scores/1",
        "task": "classification",
        "model": {"name": "demo", "version": "1", "spec_sha256": "ef" * 32},
        "checkpoint_sha256": ckpt,
        "manifest": {
            "file": "manifest.csv",
            "sha256": sha256_file(layout / "data/test/manifest.csv"),
        },
        "n_scored": 240,
        "failures": [],
    }
    _with_provenance(layout / "scores" / "candidate.parquet", meta)
    write_model_card(layout / "model" / "model_card.json", name="candidate", checkpoint_sha256=ckpt)
    doc = run(layout, "triage_standalone.yaml", edit=lean)
    assert doc["model"]["checkpoint_sha256"] == ckpt and doc["model"]["spec_sha256"] == "ef" * 32
    assert doc["model"]["provenance"]["manifest"] == meta["manifest"]
    assert not any("manifest with sha256" in w for w in doc["warnings"])
    # a card describing another checkpoint is refused (locked afresh: the lock hashes the card)
    write_model_card(
        layout / "model" / "model_card.json", name="candidate", checkpoint_sha256="00" * 32
    )
    (layout / "protocols" / "triage_standalone.yaml.lock.json").unlink()
    with pytest.raises(InputError, match="describes checkpoint sha256 0{64}"):
        run(layout, "triage_standalone.yaml", out="again")


def test_missing_model_card_is_a_protocol_error(layout: Path) -> None:
    (layout / "model" / "model_card.json").unlink()
    with pytest.raises(ProtocolError, match=r"model\.card: file not found"):
        run(layout, "triage_standalone.yaml", edit=lean)


# ----------------------------------------------------------------- STARD flow


def _flow_adds_up(doc: dict) -> dict:
    flow = doc["data_summary"]["flow"]
    assert flow["assessed"] == flow["analysed"] + sum(e["n"] for e in flow["excluded"])
    assert doc["data_summary"]["n_cases"] == flow["analysed"]
    assert doc["data_summary"]["n_positive"] + doc["data_summary"]["n_negative"] == flow["analysed"]
    return dict(flow)


def test_flow_counts_each_excluded_case_once(layout: Path) -> None:
    rules = (
        "  exclusions:\n    - {column: manufacturer, values: [GE], reason: GE scanner out of scope}\n"
        "    - {column: site, values: [site_a], reason: outside the intended sites}\n"
        "    - {column: age, values: [18.0, 19], reason: under 20}\n"
    )
    doc = run(
        layout,
        "triage_standalone.yaml",
        edit=lambda t: lean(t).replace(
            "  missing_outputs: worst_case\n", "  missing_outputs: worst_case\n" + rules
        ),
    )
    m = pd.read_csv(layout / "data" / "test" / "manifest.csv")
    ge = m["manufacturer"] == "GE"
    site = (m["site"] == "site_a") & ~ge
    young = m["age"].isin([18, 19]) & ~ge & ~site
    assert ge.sum() and site.sum() and young.sum()  # every rule has work in this fixture
    flow = _flow_adds_up(doc)
    # a case matching several rules counts once, under the first; numbers match numerically
    assert flow["excluded"] == [
        {"reason": "GE scanner out of scope", "n": int(ge.sum()), "rule": "test_set.exclusions[0]"},
        {
            "reason": "outside the intended sites",
            "n": int(site.sum()),
            "rule": "test_set.exclusions[1]",
        },
        {"reason": "under 20", "n": int(young.sum()), "rule": "test_set.exclusions[2]"},
    ]
    assert flow["analysed"] == int((~ge & ~site & ~young).sum())


def test_flow_exclusion_rule_drops_cases_from_the_analysis(layout: Path) -> None:
    rules = "  exclusions:\n    - {column: manufacturer, values: [GE], reason: GE scanner out of scope}\n"
    doc = run(
        layout,
        "triage_standalone.yaml",
        edit=lambda t: lean(t).replace(
            "  missing_outputs: worst_case\n", "  missing_outputs: worst_case\n" + rules
        ),
    )
    manifest = pd.read_csv(layout / "data" / "test" / "manifest.csv")
    kept = manifest[manifest["manufacturer"] != "GE"]
    flow = _flow_adds_up(doc)
    assert flow["assessed"] == len(manifest) and flow["analysed"] == len(kept)
    assert flow["excluded"] == [
        {
            "reason": "GE scanner out of scope",
            "n": len(manifest) - len(kept),
            "rule": "test_set.exclusions[0]",
        }
    ]
    assert doc["data_summary"]["n_positive"] == int(kept["label"].sum())
    assert doc["inputs"]["manifest"]["n_rows"] == len(manifest)
    assert flow["tp"] + flow["fn"] + flow["fp"] + flow["tn"] == len(kept)


@pytest.mark.parametrize("policy", ["worst_case", "exclude"])
def test_flow_missing_outputs_with_inference_failures(layout: Path, policy: str) -> None:
    failed = ["C0003", "C0010"]  # recorded by predict as failures
    absent = ["C0020"]  # simply not in the scores file
    meta = {
        "schema": "radval.scores/1",
        "model": {"name": "demo"},
        "checkpoint_sha256": "ab" * 32,
        "failures": [
            {"case_id": c, "row": int(c[1:]), "error": "DicomReadError: truncated pixel data"}
            for c in failed
        ],
    }
    _with_provenance(layout / "scores" / "candidate.parquet", meta, drop=failed + absent)
    doc = run(
        layout,
        "triage_standalone.yaml",
        edit=lambda t: lean(t).replace("missing_outputs: worst_case", f"missing_outputs: {policy}"),
    )
    flow = _flow_adds_up(doc)
    assert flow["missing_outputs"] == 3
    reasons = {f["case_id"]: f["reason"] for f in doc["failures"]}
    assert set(reasons) == set(failed + absent)
    assert "inference failed (DicomReadError: truncated pixel data)" in reasons["C0003"]
    assert "not in candidate.parquet" in reasons["C0020"]
    lines = Counter(
        {
            e["reason"]: e["n"]
            for e in (flow["imputed"] if policy == "worst_case" else flow["excluded"])
        }
    )
    assert lines == {
        "no model output: inference failed": 2,
        "no model output: case not in candidate.parquet": 1,
    }
    if policy == "worst_case":
        assert flow["excluded"] == [] and flow["analysed"] == flow["assessed"] == 240
        assert all(r.endswith("scored worst-case") for r in reasons.values())
    else:
        assert flow["imputed"] == [] and flow["analysed"] == 237
        assert all(r.endswith("excluded from the analysis") for r in reasons.values())
        assert doc["roc"]["n_positive"] + doc["roc"]["n_negative"] == 237


def test_failures_csv_beside_csv_scores(layout: Path) -> None:
    frame = pd.read_parquet(layout / "scores" / "candidate.parquet")
    frame[frame["case_id"] != "C0005"].to_csv(layout / "scores" / "candidate.csv", index=False)
    pd.DataFrame({"case_id": ["C0005"], "row": [5], "error": ["cannot decode"]}).to_csv(
        layout / "scores" / "candidate.failures.csv", index=False
    )
    doc = run(
        layout,
        "triage_standalone.yaml",
        edit=lambda t: lean(t).replace("candidate.parquet", "candidate.csv"),
    )
    assert doc["failures"] == [
        {
            "case_id": "C0005",
            "reason": "no model output: inference failed (cannot decode); scored worst-case",
        }
    ]
    assert doc["data_summary"]["flow"]["imputed"] == [
        {"reason": "no model output: inference failed", "n": 1}
    ]


def test_missing_output_error_names_the_inference_failure(layout: Path) -> None:
    meta = {"failures": [{"case_id": "C0001", "row": 1, "error": "boom"}]}
    _with_provenance(layout / "scores" / "candidate.parquet", meta, drop=["C0001"])
    with pytest.raises(InputError, match=r"case_id 'C0001' \(inference failed: boom\)"):
        run(
            layout,
            "triage_standalone.yaml",
            edit=lambda t: lean(t).replace("missing_outputs: worst_case", "missing_outputs: error"),
        )

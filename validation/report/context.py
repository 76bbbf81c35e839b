"""The report's view model: ``results.json`` (+ the audit log) arranged for the templates.

This module only selects, groups and orders what the study runner already computed, and
draws the charts from it; it computes no statistic (``DESIGN.md`` §1: reports read
``results.json`` only). The templates then only print what is here, through the
formatting filters of :mod:`validation.report.format`.

Each section carries the regulatory items it serves: the R-numbers of
``REGULATORY.md``, the FDA guidance topic, and the STARD 2015 / CLAIM 2024 checklist items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validation.report import charts
from validation.report._analyses import (
    calibration_section,
    detection_section,
    reader_study_section,
    segmentation_section,
)
from validation.report._helpers import get as _get
from validation.report._helpers import label as _label
from validation.report._model_card import model_card_view
from validation.report._subgroups import lower_performance, subgroups_section
from validation.report.agreement import measurement_section, truthing_section
from validation.report.format import DASH, ci_text, est_ci, num, pct, pvalue
from validation.report.gallery import gallery_section
from validation.report.planning import planning_section

__all__ = ["SECTIONS", "Section", "build_context"]


@dataclass(frozen=True)
class Section:
    """A report section and the regulatory content it serves."""

    id: str
    title: str
    r_items: tuple[str, ...]
    fda: str
    stard: str
    claim: str
    present: bool = True
    absent_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# (id, title, R items, FDA topic, STARD 2015 items, CLAIM 2024 items)
SECTIONS: tuple[tuple[str, str, tuple[str, ...], str, str, str], ...] = (
    (
        "summary",
        "Executive summary",
        ("R2", "R7", "R8", "R14"),
        "Summary of performance testing against pre-specified criteria",
        "2, 24",
        "2, 36",
    ),
    (
        "intended-use",
        "Intended use and model card",
        ("R1", "R20", "R23"),
        "AI-DSF draft: device description, model card",
        "10a",
        "4, 6, 21",
    ),
    (
        "test-data",
        "Test data and case flow",
        ("R4", "R6", "R15", "R16", "R17"),
        "CADe: independent test data, enrichment, truthing",
        "6-11, 15-16, 19-20",
        "7-8, 13-16, 33-34",
    ),
    (
        "planning",
        "Sample size: planned and achieved",
        ("R3",),
        "2007 statistical guidance: sample size justification",
        "18",
        "sample size",
    ),
    (
        "truthing",
        "Reference standard and truther agreement",
        ("R6",),
        "CADe: truthing method, truthers, adjudication, inter-reader agreement",
        "10b-13",
        "17-19",
    ),
    (
        "endpoints",
        "Endpoints and acceptance criteria",
        ("R2", "R3", "R7", "R8", "R14"),
        "2007 statistical guidance; pre-specified hypotheses",
        "4, 12a, 14, 17-18, 24",
        "4, 27-28, 36",
    ),
    (
        "roc",
        "ROC curve and operating point",
        ("R8",),
        "CADe standalone: ROC/AUC with CI, locked threshold",
        "12a, 24",
        "27, 35-36",
    ),
    (
        "confusion",
        "Confusion matrix (2\u00d72)",
        ("R7", "R16"),
        "2007 statistical guidance: 2\u00d72 table",
        "23",
        "35",
    ),
    (
        "subgroups",
        "Subgroup performance and bias",
        ("R11", "R12"),
        "CADe/AI-DSF: subgroup analyses (sex, age, site, scanner)",
        "17, 20",
        "29, 36",
    ),
    (
        "calibration",
        "Calibration",
        ("R18",),
        "TRIPOD+AI calibration (probability outputs)",
        "\u2014",
        "28",
    ),
    (
        "reader-study",
        "Reader study (MRMC)",
        ("R13", "R14"),
        "CADe clinical performance: MRMC, human-AI team",
        "14, 17, 24",
        "31, 36",
    ),
    (
        "detection",
        "Lesion detection (FROC)",
        ("R9",),
        "CADe standalone: localisation, FROC, FP per image",
        "14, 24",
        "27, 36",
    ),
    ("segmentation", "Segmentation", ("R10",), "Overlap and boundary metrics", "\u2014", "27, 36"),
    (
        "measurement",
        "Measurement agreement",
        ("R7",),
        "Quantitative imaging: bias, limits of agreement, CCC, ICC",
        "\u2014",
        "27, 36",
    ),
    (
        "gallery",
        "Failure cases (error analysis)",
        ("R11", "R19"),
        "Failure analysis: the cases behind the errors",
        "\u2014",
        "37",
    ),
    (
        "limitations",
        "Deviations, failures and limitations",
        ("R2", "R15", "R19"),
        "Protocol deviations; indeterminate and failed outputs",
        "15-16, 26",
        "13, 37-38",
    ),
    (
        "provenance",
        "Provenance appendix",
        ("R5", "R22", "R23"),
        "Device/model version, data and software provenance",
        "28-29",
        "22, 41",
    ),
    (
        "signoff",
        "Audit trail and sign-off",
        ("R5", "R21"),
        "21 CFR 11.10(e), 11.50, 11.70",
        "\u2014",
        "\u2014",
    ),
)


def _role(ep: Mapping[str, Any]) -> str:
    if not ep.get("prespecified", True):
        return "exploratory (post hoc)"
    return str(ep.get("role") or "")


def _hypothesis_text(h: Any) -> str:
    if not isinstance(h, Mapping) or not h:
        return "\u2014"
    parts = [str(h.get("kind", ""))]
    if h.get("null_value") is not None:
        parts.append(f"null {num(h['null_value'])}")
    if h.get("margin"):
        parts.append(f"margin {num(h['margin'])}")
    if h.get("compare_to"):
        parts.append(f"vs {h['compare_to']}")
    if h.get("method"):
        parts.append(f"test {h['method']}")
    if h.get("analysis"):
        parts.append(str(h["analysis"]))
    if h.get("alternative"):
        parts.append(f"alternative {h['alternative']}")
    if h.get("significance_level") is not None:
        parts.append(
            f"\u03b1 = {h['significance_level']:g}"
            if isinstance(h["significance_level"], float)
            else f"\u03b1 = {h['significance_level']}"
        )
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------- sections


def _summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    eps = {e.get("id"): e for e in doc.get("endpoints") or []}
    verdict = doc.get("verdict") or {}
    primary = []
    for p in verdict.get("primary") or []:
        ep = eps.get(p.get("endpoint_id"), {})
        primary.append(
            {
                "id": p.get("endpoint_id"),
                "metric": _label(ep.get("metric")),
                "decision": p.get("decision"),
                "result": est_ci(ep),
                "criterion": _get(ep, "criterion", "text") or "\u2014",
                "p_value": pvalue(p.get("p_value")),
                "p_adjusted": pvalue(p.get("p_adjusted")),
                "reason": _get(ep, "details", "fixed_sequence")
                if p.get("decision") == "not_tested"
                else None,
            }
        )
    ds = doc.get("data_summary") or {}
    return {
        "decision": verdict.get("decision"),
        "multiplicity": verdict.get("multiplicity"),
        "significance_level": verdict.get("significance_level"),
        "primary": primary,
        "not_tested": [p["id"] for p in primary if p["decision"] == "not_tested"],
        "n_cases": ds.get("n_cases"),
        "n_patients": ds.get("n_patients"),
        "n_positive": ds.get("n_positive"),
        "n_negative": ds.get("n_negative"),
        "warnings": list(doc.get("warnings") or []),
        "lower": lower_performance(doc),
    }


def _threshold_source(m: Mapping[str, Any]) -> str:
    """Where a model's threshold came from, and how the card says it was chosen (text)."""
    source = m.get("threshold_source")
    sel = _get(m, "model_card", "operating_point", "selection")
    if not isinstance(sel, Mapping):
        how = _get(m, "model_card", "operating_point", "source")
        text = {
            "protocol": "stated in the protocol",
            "model card": "taken from the model card",
        }.get(str(source), "\u2014")
        return f"{text} ({how})" if how else text
    ts = sel.get("tuning_split") or {}
    at = sel.get("at_threshold") or {}
    bs = sel.get("threshold_bootstrap") or {}
    goal = (
        f" \u2265 {sel.get('target')}" if sel.get("target") is not None else " (maximal Youden J)"
    )
    parts = [
        (
            "taken from the model card"
            if source == "model card"
            else "stated in the protocol, equal to the model card's"
        )
        + f": chosen at training by rule {sel.get('rule')}{goal} on a held-out tuning split of "
        f"{ts.get('n_cases')} cases ({ts.get('n_patients')} patients; case list sha256 "
        f"{str(ts.get('case_list_sha256', ''))[:16]}\u2026)",
    ]
    for key in ("sensitivity", "specificity"):
        e = at.get(key)
        if isinstance(e, Mapping):
            parts.append(f"tuning {key} {num(e.get('estimate'), 3)} ({ci_text(e)})")
    if bs:
        parts.append(
            f"threshold sd {num(bs.get('sd'), 4)} over {bs.get('n_resamples')} bootstrap resamples"
        )
    return "; ".join(parts)


def _training_runs(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Where each model was trained (device, CPU kernels, threads): training depends on them."""
    rows = []
    for key, title in (("model", "Model under test"), ("baseline_model", "Baseline")):
        m = doc.get(key)
        tr = _get(m, "model_card", "training") if isinstance(m, Mapping) else None
        if not isinstance(tr, Mapping):
            continue
        software = tr.get("software") or {}
        rows.append(
            {
                "title": title,
                "name": m.get("name") if isinstance(m, Mapping) else None,
                "device": tr.get("device"),
                "cpu_capability": tr.get("cpu_capability") or "not recorded",
                "torch_threads": tr.get("torch_threads"),
                "seed": tr.get("seed"),
                "epochs": tr.get("epochs"),
                "torch": software.get("torch") if isinstance(software, Mapping) else None,
                "checkpoint_sha256": _get(m, "model_card", "checkpoint", "sha256"),
                "reproducibility": tr.get("reproducibility"),
            }
        )
    return rows


def _intended_use(doc: Mapping[str, Any]) -> dict[str, Any]:
    study = doc.get("study") or {}
    resolved = _get(doc, "protocol", "resolved", "study") or {}
    rows = [
        ("Intended use", study.get("intended_use")),
        ("Population and setting", study.get("population")),
        ("Intended users", study.get("intended_users")),
        ("Device inputs", resolved.get("device_inputs")),
        ("Device outputs", resolved.get("device_outputs")),
        ("Sponsor", study.get("sponsor")),
        ("Background", study.get("description")),
    ]
    models = []
    for key, title in (
        ("model", "Model under test"),
        ("baseline_model", "Baseline (released) model"),
    ):
        m = doc.get(key)
        if isinstance(m, Mapping):
            card = (
                model_card_view(m["model_card"])
                if isinstance(m.get("model_card"), Mapping) and m.get("model_card")
                else None
            )
            models.append(
                {
                    "title": title,
                    "name": m.get("name"),
                    "threshold": m.get("threshold"),
                    "threshold_source": _threshold_source(m),
                    "spec_sha256": m.get("spec_sha256"),
                    "checkpoint_sha256": m.get("checkpoint_sha256"),
                    "card": card,
                }
            )
    return {"rows": [(k, v) for k, v in rows if v], "models": models}


def _test_data(doc: Mapping[str, Any]) -> dict[str, Any]:
    ds = doc.get("data_summary") or {}
    flow = ds.get("flow") or {}
    study = doc.get("study") or {}
    resolved = _get(doc, "protocol", "resolved") or {}
    chars: dict[str, list[Mapping[str, Any]]] = {}
    for row in ds.get("characteristics") or []:
        chars.setdefault(str(row.get("attribute")), []).append(row)
    excluded = flow.get("excluded") or []
    ex_lines = tuple(f"{e.get('reason')}: n = {e.get('n')}" for e in excluded) or ("none",)
    n_excluded = sum(int(e.get("n") or 0) for e in excluded)
    missing_policy = _get(resolved, "test_set", "missing_outputs") or "\u2014"
    has_cm = all(flow.get(k) is not None for k in ("tp", "fp", "tn", "fn"))
    thr = flow.get("threshold")
    svg = charts.flow_diagram(
        assessed=charts.FlowBox(
            (
                f"Cases assessed for eligibility (n = {flow.get('assessed', DASH)})",
                "from the locked test-set manifest",
            )
        ),
        excluded=charts.FlowBox((f"Excluded (n = {n_excluded})", *ex_lines)),
        analysed=charts.FlowBox(
            (
                f"Cases analysed (n = {flow.get('analysed', DASH)})",
                f"patients: {ds.get('n_patients') if ds.get('n_patients') is not None else DASH}",
            )
        ),
        missing=charts.FlowBox(
            (
                f"No model output (n = {flow.get('missing_outputs', 0)})",
                f"handled as: {missing_policy}",
            )
        ),
        positives=charts.FlowBox(("Reference standard positive", f"n = {ds.get('n_positive')}")),
        negatives=charts.FlowBox(("Reference standard negative", f"n = {ds.get('n_negative')}")),
        pos_split=(
            charts.FlowBox(("Index test +", f"TP = {flow.get('tp')}")),
            charts.FlowBox(("Index test \u2212", f"FN = {flow.get('fn')}")),
        )
        if has_cm
        else None,
        neg_split=(
            charts.FlowBox(("Index test +", f"FP = {flow.get('fp')}")),
            charts.FlowBox(("Index test \u2212", f"TN = {flow.get('tn')}")),
        )
        if has_cm
        else None,
        title="STARD 2015 flow diagram",
        desc=(
            f"{flow.get('assessed')} cases assessed, {n_excluded} excluded, "
            f"{flow.get('analysed')} analysed; "
            f"{ds.get('n_positive')} reference-standard positive and "
            f"{ds.get('n_negative')} negative; "
            + (
                f"at threshold {thr}: TP {flow.get('tp')}, FN {flow.get('fn')}, "
                f"FP {flow.get('fp')}, "
                f"TN {flow.get('tn')}."
                if has_cm
                else "no operating threshold."
            )
        ),
    )
    manifest = _get(doc, "inputs", "manifest") or {}
    ts = resolved.get("test_set") or {}
    return {
        "flow_svg": svg,
        "characteristics": chars,
        "flow": flow,
        "prevalence": pct(ds.get("n_positive") / ds["n_cases"], 1)
        if ds.get("n_cases") and ds.get("n_positive") is not None
        else "\u2014",
        "rows": [
            (k, v)
            for k, v in (
                (
                    "Test-set manifest",
                    manifest.get("declared") or Path(str(manifest.get("path", ""))).name,
                ),
                ("Manifest sha256", manifest.get("sha256")),
                ("Rows in manifest", manifest.get("n_rows")),
                ("Reference-standard column", ts.get("label_column")),
                ("Cluster (patient) column", ts.get("cluster_column")),
                ("Reference standard (truthing)", study.get("reference_standard")),
                (
                    "Sample-size justification",
                    None if doc.get("planning") else study.get("sample_size_justification"),
                ),
                (
                    "Missing or failed model outputs",
                    f"{flow.get('missing_outputs', 0)} case(s); policy: {missing_policy}",
                ),
            )
            if v not in (None, "")
        ],
        "n_cases": ds.get("n_cases"),
        "n_patients": ds.get("n_patients"),
        "n_positive": ds.get("n_positive"),
        "n_negative": ds.get("n_negative"),
    }


def _endpoints(doc: Mapping[str, Any]) -> dict[str, Any]:
    rows = []
    for ep in doc.get("endpoints") or []:
        crit = ep.get("criterion") or {}
        reasons = [_get(ep, "details", "reason"), _get(ep, "details", "fixed_sequence")]
        if ep.get("decision") == "not_tested":
            reasons.reverse()
        # the method as the protocol declared it; a note says when (and why) another form was
        # computed
        notes = [
            n
            for n in (_get(ep, "details", "method_note"), _get(ep, "details", "test_method_note"))
            if n
        ]
        rows.append(
            {
                "id": ep.get("id"),
                "role": _role(ep),
                "prespecified": ep.get("prespecified", True),
                "metric": _label(ep.get("metric")),
                "estimate": num(ep.get("estimate")),
                "ci": ci_text(ep),
                "method": _get(ep, "details", "declared_method") or ep.get("method") or "\u2014",
                "method_notes": notes,
                "n": ep.get("n"),
                "hypothesis": _hypothesis_text(ep.get("hypothesis")),
                "criterion": crit.get("text") or "\u2014",
                "p_value": pvalue(ep.get("p_value")),
                "p_adjusted": pvalue(ep.get("p_adjusted")),
                "decision": ep.get("decision"),
                "reason": next((r for r in reasons if r), None),
            }
        )
    comps = []
    for c in doc.get("comparisons") or []:
        comps.append(
            {
                "id": c.get("id"),
                "kind": c.get("kind"),
                "a": num(c.get("estimate_a")),
                "b": num(c.get("estimate_b")),
                "difference": num(c.get("difference")),
                "ci": ci_text(c),
                "margin": num(c.get("margin")),
                "alternative": c.get("alternative"),
                "statistic": num(c.get("statistic")),
                "df": num(c.get("df"), 1),
                "p_value": pvalue(c.get("p_value")),
                "method": c.get("method") or "\u2014",
                "decision": c.get("decision"),
            }
        )
    return {"rows": rows, "comparisons": comps}


def _roc(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    roc = doc.get("roc")
    if not isinstance(roc, Mapping):
        return None
    pts = roc.get("points") or {}
    band = roc.get("band") or None
    auc = roc.get("auc") or {}
    series = charts.Series(
        f"Model (AUC {num(auc.get('estimate'))})",
        pts.get("fpr") or [],
        pts.get("tpr") or [],
        band_x=band.get("fpr") if band else None,
        band_low=band.get("tpr_low") if band else None,
        band_high=band.get("tpr_high") if band else None,
    )
    op = roc.get("operating_point") or None
    points = []
    if op and op.get("sensitivity") is not None and op.get("specificity") is not None:
        points.append(
            charts.Point(
                f"Locked operating point (threshold {op.get('threshold')})",
                1.0 - float(op["specificity"]),
                float(op["sensitivity"]),
            )
        )
    svg = charts.curve_chart(
        [series],
        points=points,
        title="ROC curve of the model on the test set",
        desc=(
            f"Empirical ROC curve, AUC {est_ci(auc)}, {roc.get('n_positive')} positive and "
            f"{roc.get('n_negative')} negative cases"
            + (
                f"; locked operating point at threshold {op.get('threshold')}: sensitivity "
                f"{num(op.get('sensitivity'))}, specificity {num(op.get('specificity'))}"
                if op
                else ""
            )
            + (
                "; shaded: pointwise confidence band"
                if band
                else "; no confidence band in the results"
            )
            + "."
        ),
        xlabel="1 \u2212 specificity (false-positive rate)",
        ylabel="Sensitivity (true-positive rate)",
    )
    return {
        "svg": svg,
        "auc": est_ci(auc),
        "auc_method": auc.get("method"),
        "op": op,
        "band": bool(band),
        "n_positive": roc.get("n_positive"),
        "n_negative": roc.get("n_negative"),
    }


def _confusion(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    cm = doc.get("confusion_matrix")
    if not isinstance(cm, Mapping):
        return None
    tp, fp, tn, fn = (int(cm.get(k) or 0) for k in ("tp", "fp", "tn", "fn"))
    # Row and column totals of the 2x2 table (display margins, not a statistic).
    return {
        "threshold": cm.get("threshold"),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "pred_pos": tp + fp,
        "pred_neg": fn + tn,
        "pos": tp + fn,
        "neg": fp + tn,
        "total": tp + fp + tn + fn,
    }


def _limitations(doc: Mapping[str, Any]) -> dict[str, Any]:
    proto = doc.get("protocol") or {}
    lock = proto.get("lock") or None
    notes = []
    if lock is None:
        notes.append(
            "The protocol was not locked before the run: every result is exploratory (R2)."
        )
    elif lock.get("scores_present_at_lock"):
        hashed = sorted(
            k for k in (lock.get("inputs_at_lock") or {}) if k not in ("detection.lesions",)
        )
        notes.append(
            "Model outputs already existed when the protocol was locked"
            + (
                f" ({', '.join(hashed)}; their sha256 are in the lock and the run refused any "
                "change)"
                if hashed
                else ""
            )
            + "; the lock cannot show that the criteria were set before the outputs were seen."
        )
    for src, key in (("calibration", "notes"), ("detection", "notes")):
        for n in _get(doc, src, key) or []:
            notes.append(f"{src}: {n}")
    failures = list(doc.get("failures") or [])
    return {
        "deviations": list(proto.get("deviations") or []),
        "amendments": list(lock.get("amendments") or []) if lock else [],
        "warnings": list(doc.get("warnings") or []),
        "notes": notes,
        "failures": failures[:200],
        "n_failures": len(failures),
    }


def _provenance(doc: Mapping[str, Any], results_sha256: str) -> dict[str, Any]:
    inputs = []
    for name, ref in (doc.get("inputs") or {}).items():
        if isinstance(ref, Mapping):
            inputs.append(
                {
                    "name": name,
                    "declared": ref.get("declared") or "(produced by inference)",
                    "file": Path(str(ref.get("path") or "")).name,
                    "sha256": ref.get("sha256"),
                    "n_rows": ref.get("n_rows"),
                }
            )
    proto = doc.get("protocol") or {}
    env = doc.get("environment") or {}
    resolved = proto.get("resolved") or {}
    timings = doc.get("timings") or {}
    return {
        "inputs": sorted(inputs, key=lambda r: str(r["name"])),
        "protocol": {
            "file": Path(str(proto.get("path") or "")).name,
            "sha256": proto.get("sha256"),
            "version": _get(doc, "study", "version"),
        },
        "lock": proto.get("lock"),
        "environment": [
            (k, env.get(k))
            for k in ("radval_version", "python", "platform", "device", "git_commit")
        ],
        "packages": sorted((env.get("packages") or {}).items()),
        "seed": doc.get("seed"),
        "n_resamples": resolved.get("n_resamples"),
        "started_at": timings.get("started_at"),
        "finished_at": timings.get("finished_at"),
        "audit_head": _get(doc, "audit", "head_hash"),
        "audit_log": _get(doc, "audit", "log"),
        "results_sha256": results_sha256,
        "schema": doc.get("schema"),
        "training": _training_runs(doc),
    }


def _signoff(
    doc: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    results_sha256: str,
    chain_ok: bool | None,
    chain_problem: str,
) -> dict[str, Any]:
    signatories = _get(doc, "protocol", "resolved", "report", "signatories") or []
    signatures = []
    for e in entries:
        if e.get("action") != "sign":
            continue
        d = e.get("details") or {}
        signed = (e.get("inputs") or {}).get("results.json")
        signatures.append(
            {
                "name": d.get("printed_name"),
                "role": d.get("role"),
                "meaning": d.get("meaning"),
                "signed_at": d.get("signed_at") or e.get("timestamp"),
                "actor": e.get("actor"),
                "seq": e.get("seq"),
                "hash": e.get("hash"),
                "results_sha256": signed,
                "matches": signed == results_sha256,
            }
        )
    roles = []
    for s in signatories:
        role, meaning = s.get("role"), s.get("meaning")
        got = [
            g
            for g in signatures
            if g["role"] == role and g["matches"] and (meaning is None or g["meaning"] == meaning)
        ]
        roles.append(
            {
                "role": role,
                "meaning": meaning,
                "required": s.get("required", True),
                "signed": bool(got),
            }
        )
    trail = [
        {
            "seq": e.get("seq"),
            "timestamp": e.get("timestamp"),
            "actor": e.get("actor"),
            "action": e.get("action"),
            "hash": e.get("hash"),
        }
        for e in entries
        if e.get("action") != "render"
    ]
    return {
        "signatories": roles,
        "signatures": signatures,
        "trail": trail,
        "chain_ok": chain_ok,
        "chain_problem": chain_problem,
    }


def build_context(
    doc: Mapping[str, Any],
    *,
    entries: Sequence[Mapping[str, Any]],
    results_sha256: str,
    chain_ok: bool | None,
    chain_problem: str = "",
    gallery_images: Mapping[str, str] | None = None,
    gallery_problem: str | None = None,
) -> dict[str, Any]:
    """Arrange a validated results document (and its audit entries) for the templates.

    Parameters
    ----------
    doc : mapping
        A ``results.json`` document (``radval.results/1``), already schema-validated.
    entries : sequence of mapping
        The study's audit entries (render entries are left out of the report so that
        re-rendering never changes it).
    results_sha256 : str
        sha256 of the ``results.json`` bytes the report was rendered from.
    chain_ok : bool or None
        Whether the audit chain verified (None when there is no audit log).
    chain_problem : str
        The first problem found, when ``chain_ok`` is False.
    gallery_images : mapping, optional
        The failure-case thumbnails (base64 PNG by sha256) from ``gallery.json``.
    gallery_problem : str, optional
        Why ``gallery.json`` could not be used, when it could not.
    """
    study = doc.get("study") or {}
    parts: dict[str, Any] = {
        "summary": _summary(doc),
        "intended-use": _intended_use(doc),
        "test-data": _test_data(doc),
        "planning": planning_section(doc),
        "endpoints": _endpoints(doc),
        "roc": _roc(doc),
        "confusion": _confusion(doc),
        "subgroups": subgroups_section(doc),
        "calibration": calibration_section(doc),
        "reader-study": reader_study_section(doc),
        "detection": detection_section(doc),
        "segmentation": segmentation_section(doc),
        "truthing": truthing_section(doc),
        "measurement": measurement_section(doc),
        "gallery": gallery_section(doc, gallery_images or {}, gallery_problem),
        "limitations": _limitations(doc),
        "provenance": _provenance(doc, results_sha256),
        "signoff": _signoff(doc, entries, results_sha256, chain_ok, chain_problem),
    }
    absent = {
        "roc": "No ROC analysis in results.json (the reference standard has a single class).",
        "confusion": "No locked operating threshold, so no 2\u00d72 table.",
        "subgroups": "The protocol pre-specifies no subgroup analysis.",
        "calibration": (
            "Calibration was not assessed (scores are not probabilities in [0, 1], or not "
            "estimable)."
        ),
        "reader-study": "The protocol includes no reader study.",
        "detection": "The protocol includes no lesion-detection analysis.",
        "segmentation": "The protocol includes no segmentation analysis.",
        "planning": "The protocol states no sample-size plan or justification (STARD 18).",
        "truthing": "The protocol declares no truthing file (test_set.truthing).",
        "measurement": "The protocol includes no measurement-agreement analysis.",
        "gallery": (
            "The failure-case gallery is off (report.gallery.enabled in the protocol; off by "
            "default because it puts patient images in the report)."
        ),
    }
    if doc.get("model") is None and not _get(doc, "inputs", "scores"):
        # e.g. a detection- or segmentation-only study: no classification analysis was planned
        no_model = "the protocol names no classification model, so none was planned."
        absent.update(
            {
                "roc": f"No ROC analysis: {no_model}",
                "confusion": f"No 2\u00d72 table: {no_model}",
                "calibration": f"No calibration analysis: {no_model}",
            }
        )
    sections = [
        Section(
            sid,
            title,
            r,
            fda,
            stard,
            claim,
            present=parts[sid] is not None,
            absent_reason=absent.get(sid, "") if parts[sid] is None else "",
        )
        for sid, title, r, fda, stard, claim in SECTIONS
    ]
    resolved_report = _get(doc, "protocol", "resolved", "report") or {}
    return {
        "title": resolved_report.get("title") or study.get("title") or "Validation report",
        "study": study,
        "doc_version": study.get("version"),
        "study_id": study.get("id"),
        "radval_version": doc.get("radval_version"),
        "finished_at": _get(doc, "timings", "finished_at"),
        "results_sha256": results_sha256,
        "protocol_sha256": _get(doc, "protocol", "sha256"),
        "locked_at": _get(doc, "protocol", "lock", "locked_at"),
        "audit_head": _get(doc, "audit", "head_hash"),
        "verdict": _get(doc, "verdict", "decision"),
        "sections": sections,
        "s": parts,
        "phi_warning": (parts["gallery"] or {}).get("warning"),
    }

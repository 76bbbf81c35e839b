"""View-model builders for the calibration, reader-study, detection and segmentation sections.

Like :mod:`validation.report.context`, this selects and arranges what ``results.json``
holds and draws the charts; it computes no statistic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from validation.report import charts
from validation.report._helpers import flatten as _flatten
from validation.report._helpers import get as _get
from validation.report._helpers import is_estimate as _is_estimate
from validation.report.format import est_ci, num, pvalue

__all__ = ["calibration_section", "detection_section", "reader_study_section", "segmentation_section"]


def calibration_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    cal = doc.get("calibration")
    if not isinstance(cal, Mapping):
        return None
    bins = [(float(b["mean_predicted"]), float(b["observed"]), int(b.get("n") or 0))
            for b in cal.get("bins") or []
            if b.get("mean_predicted") is not None and b.get("observed") is not None]
    sm = cal.get("smoothed")
    smoothed = (sm.get("predicted") or [], sm.get("observed") or []) if isinstance(sm, Mapping) and sm.get("predicted") else None
    stats = []
    for key, label in (("ece", "Expected calibration error (ECE)"), ("brier_estimate", "Brier score"),
                       ("intercept", "Calibration intercept (ideal 0)"), ("slope", "Calibration slope (ideal 1)")):
        rec = cal.get(key)
        if _is_estimate(rec):
            stats.append({"label": label, "result": est_ci(rec), "method": rec.get("method")})
        elif isinstance(cal.get("undefined"), Mapping) and cal["undefined"].get(key):
            stats.append({"label": label, "result": "not estimable", "method": str(cal["undefined"][key])})
    if not any(s["label"] == "Brier score" for s in stats) and cal.get("brier") is not None:
        stats.append({"label": "Brier score", "result": num(cal.get("brier")), "method": "\u2014"})
    svg = charts.calibration_chart(
        bins, smoothed=smoothed, title="Calibration (reliability) plot",
        desc=f"Observed frequency against mean predicted probability in {len(bins)} bins; "
             + "; ".join(f"{s['label']} {s['result']}" for s in stats) + ".")
    return {"svg": svg, "stats": stats, "notes": list(cal.get("notes") or []), "n_bins": cal.get("n_bins"),
            "bins": [{"mean_predicted": num(b[0]), "observed": num(b[1]), "n": b[2]} for b in bins]}


def reader_study_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    rs = doc.get("reader_study")
    if not isinstance(rs, Mapping):
        return None
    readers = [str(r) for r in rs.get("readers") or []]
    mods = [str(m) for m in rs.get("modalities") or []]
    values = {(str(r.get("reader")), str(r.get("modality"))): float(r["fom"])
              for r in rs.get("fom_table") or [] if r.get("fom") is not None}
    table = [{"reader": r, "foms": [num(values.get((r, m))) for m in mods]} for r in readers]
    ai = rs.get("ai_vs_readers") or None
    ai_value = None
    if isinstance(ai, Mapping):
        first = next((v for v in ai.values() if isinstance(v, Mapping)), None)
        if first is not None and first.get("estimate_b") is not None:
            ai_value = float(first["estimate_b"])
    fom_label = f"Figure of merit ({str(rs.get('fom', '')).upper()})"
    fom_svg = charts.reader_fom_chart(
        readers, mods, values, ai_value=ai_value, ai_label="standalone AI", fom_label=fom_label,
        title="Per-reader figure of merit by modality",
        desc="Each reader's " + str(rs.get("fom")) + " in each modality: "
             + "; ".join(f"{r}: " + ", ".join(f"{m} {num(values.get((r, m)))}" for m in mods) for r in readers)
             + (f"; standalone AI {num(ai_value)}" if ai_value is not None else "") + ".")
    avg = _get(rs, "roc_curves", "average") or {}
    per_reader = _get(rs, "roc_curves", "per_reader") or {}
    roc_svgs = []
    if avg:
        series = [charts.Series(f"{m} (reader-averaged)", c.get("fpr") or [], c.get("tpr") or [])
                  for m, c in sorted(avg.items())]
        roc_svgs.append(charts.curve_chart(
            series, title="Reader-averaged ROC curves by modality",
            desc="Reader-averaged empirical ROC curves for modalities " + ", ".join(sorted(avg)) + ".",
            xlabel="1 \u2212 specificity", ylabel="Sensitivity"))
    for m, curves in sorted(per_reader.items()):
        series = [charts.Series(str(r), c.get("fpr") or [], c.get("tpr") or []) for r, c in sorted(curves.items())]
        roc_svgs.append(charts.curve_chart(
            series, title=f"Per-reader ROC curves ({m})",
            desc=f"Empirical ROC curve of each reader in modality {m}.", xlabel="1 \u2212 specificity",
            ylabel="Sensitivity"))
    mfoms = [{"modality": _get(f, "extra", "modality"), "result": est_ci(f), "method": f.get("method"),
              "df": num(_get(f, "extra", "df"), 1)} for f in rs.get("modality_foms") or []]
    tests = []
    for name, t in sorted((rs.get("tests") or {}).items()):
        if not isinstance(t, Mapping):
            continue
        if t.get("estimable") is False:
            tests.append({"analysis": name, "comparison": "\u2014", "difference": "not estimable",
                          "statistic": "\u2014", "df": "\u2014", "p_value": "\u2014",
                          "method": None, "distribution": t.get("distribution"),
                          "overall": str(t.get("reason") or "not estimable")})
            continue
        for c in t.get("comparisons") or []:
            tests.append({"analysis": name, "comparison": f"{c.get('modality_a')} \u2212 {c.get('modality_b')}",
                          "difference": est_ci(c, "difference"), "statistic": num(c.get("statistic")),
                          "df": num(c.get("df"), 1), "p_value": pvalue(c.get("p_value")),
                          "method": c.get("method"), "distribution": t.get("distribution"),
                          "overall": f"{t.get('distribution')} = {num(t.get('statistic'))}, "
                                     f"df {num(t.get('df_num'), 1)}, {num(t.get('df_den'), 1)}; "
                                     f"p {pvalue(t.get('p_value'))}"})
    hyp = rs.get("hypothesis")
    hypothesis = None
    if isinstance(hyp, Mapping):
        hypothesis = {"comparison": f"{hyp.get('modality_a')} \u2212 {hyp.get('modality_b')}",
                      "kind": _get(hyp, "extra", "hypothesis") or "", "margin": num(hyp.get("margin")),
                      "difference": est_ci(hyp, "difference"), "p_value": pvalue(hyp.get("p_value")),
                      "method": hyp.get("method"), "conclusion": _get(hyp, "extra", "conclusion")}
    ai_rows = []
    if isinstance(ai, Mapping) and ai.get("not_estimable"):
        ai_rows.append({"analysis": "\u2014", "readers": "\u2014", "ai": "\u2014",
                        "difference": f"not estimable: {ai['not_estimable']}", "df": "\u2014",
                        "p_value": "\u2014", "method": None})
    if isinstance(ai, Mapping):
        for name, c in sorted(ai.items()):
            if isinstance(c, Mapping):
                ai_rows.append({"analysis": name, "readers": num(c.get("estimate_a")), "ai": num(c.get("estimate_b")),
                                "difference": est_ci(c, "difference"), "df": num(c.get("df"), 1),
                                "p_value": pvalue(c.get("p_value")), "method": c.get("method")})
    vc: list[tuple[str, str]] = []
    _flatten("", rs.get("variance_components") or {}, vc)
    return {"id": rs.get("id"), "design": rs.get("design"), "fom": rs.get("fom"), "method": rs.get("method"),
            "covariance": rs.get("covariance"), "analysis": rs.get("analysis"), "n_cases": rs.get("n_cases"),
            "readers": readers, "modalities": mods, "table": table, "fom_svg": fom_svg, "roc_svgs": roc_svgs,
            "has_per_reader_roc": bool(per_reader), "modality_foms": mfoms, "tests": tests,
            "hypothesis": hypothesis, "ai_rows": ai_rows,
            "ai_modality": ai.get("modality") if isinstance(ai, Mapping) else None, "variance": vc}


def detection_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    det = doc.get("detection")
    if not isinstance(det, Mapping):
        return None
    labels = (("sensitivity", "Lesion sensitivity at threshold"), ("fp_per_image", "False positives per image"),
              ("cpm", "Competition performance metric (CPM)"), ("camelyon16", "CAMELYON16 FROC score"),
              ("afroc", "AFROC AUC"), ("wafroc", "wAFROC AUC"))
    metrics = [{"label": label, "result": est_ci(det[k]), "method": det[k].get("method")}
               for k, label in labels if _is_estimate(det.get(k))]
    curve = det.get("curve") or {}
    band = det.get("band") or None
    fps = [float(v) for v in curve.get("fp_per_image") or [] if isinstance(v, (int, float))]
    # x-axis: the next of 0.5, 1, 2, 4, 8 FP/image above the curve's last point (display range)
    xmax = next((t for t in (0.5, 1.0, 2.0, 4.0, 8.0) if t >= max(fps, default=0.0)), max(fps, default=8.0))
    series = charts.Series("FROC", curve.get("fp_per_image") or [], curve.get("sensitivity") or [],
                           band_x=band.get("fp_rates") if band else None,
                           band_low=band.get("ci_low") if band else None,
                           band_high=band.get("ci_high") if band else None)
    fp_rec, sens_rec = det.get("fp_per_image"), det.get("sensitivity")
    points = []
    if _is_estimate(fp_rec) and _is_estimate(sens_rec) and fp_rec.get("estimate") is not None \
            and sens_rec.get("estimate") is not None:
        points.append(charts.Point(f"Operating point (threshold {det.get('threshold')})",
                                   float(fp_rec["estimate"]), float(sens_rec["estimate"])))
    svg = charts.curve_chart(
        [series], diagonal=False, xmax=float(xmax), points=points, title="FROC curve",
        desc=f"Lesion sensitivity against false positives per image; {len(fps)} points"
             + ("; shaded: bootstrap confidence band" if band else "") + ".",
        xlabel="False positives per image", ylabel="Lesion sensitivity")
    rule: list[tuple[str, str]] = []
    _flatten("", det.get("rule") or {}, rule)
    counts: list[tuple[str, str]] = []
    _flatten("", det.get("counts") or {}, counts)
    return {"metrics": metrics, "svg": svg, "rule": rule, "counts": counts, "threshold": det.get("threshold"),
            "notes": list(det.get("notes") or [])}


def segmentation_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    seg = doc.get("segmentation")
    if not isinstance(seg, Mapping):
        return None
    metrics = []
    other: list[tuple[str, str]] = []
    for key in sorted(seg, key=str):
        value = seg[key]
        if _is_estimate(value):
            metrics.append({"label": str(key).replace("_", " "), "result": est_ci(value),
                            "method": value.get("method"), "n": value.get("n")})
        else:
            _flatten(str(key), value, other)
    return {"metrics": metrics, "other": other[:200]}

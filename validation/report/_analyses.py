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

__all__ = [
    "calibration_section",
    "detection_section",
    "reader_study_section",
    "segmentation_section",
]


def calibration_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    cal = doc.get("calibration")
    if not isinstance(cal, Mapping):
        return None
    bins = [
        (float(b["mean_predicted"]), float(b["observed"]), int(b.get("n") or 0))
        for b in cal.get("bins") or []
        if b.get("mean_predicted") is not None and b.get("observed") is not None
    ]
    sm = cal.get("smoothed")
    smoothed = (
        (sm.get("predicted") or [], sm.get("observed") or [])
        if isinstance(sm, Mapping) and sm.get("predicted")
        else None
    )
    stats = []
    for key, label in (
        ("ece", "Expected calibration error (ECE)"),
        ("brier_estimate", "Brier score"),
        ("intercept", "Calibration intercept (ideal 0)"),
        ("slope", "Calibration slope (ideal 1)"),
    ):
        rec = cal.get(key)
        if _is_estimate(rec):
            stats.append({"label": label, "result": est_ci(rec), "method": rec.get("method")})
        elif isinstance(cal.get("undefined"), Mapping) and cal["undefined"].get(key):
            stats.append(
                {"label": label, "result": "not estimable", "method": str(cal["undefined"][key])}
            )
    if not any(s["label"] == "Brier score" for s in stats) and cal.get("brier") is not None:
        stats.append({"label": "Brier score", "result": num(cal.get("brier")), "method": "\u2014"})
    svg = charts.calibration_chart(
        bins,
        smoothed=smoothed,
        title="Calibration (reliability) plot",
        desc=f"Observed frequency against mean predicted probability in {len(bins)} bins; "
        + "; ".join(f"{s['label']} {s['result']}" for s in stats)
        + ".",
    )
    return {
        "svg": svg,
        "stats": stats,
        "notes": list(cal.get("notes") or []),
        "n_bins": cal.get("n_bins"),
        "bins": [{"mean_predicted": num(b[0]), "observed": num(b[1]), "n": b[2]} for b in bins],
    }


def reader_study_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    rs = doc.get("reader_study")
    if not isinstance(rs, Mapping):
        return None
    readers = [str(r) for r in rs.get("readers") or []]
    mods = [str(m) for m in rs.get("modalities") or []]
    values = {
        (str(r.get("reader")), str(r.get("modality"))): float(r["fom"])
        for r in rs.get("fom_table") or []
        if r.get("fom") is not None
    }
    table = [{"reader": r, "foms": [num(values.get((r, m))) for m in mods]} for r in readers]
    ai = rs.get("ai_vs_readers") or None
    ai_value = None
    if isinstance(ai, Mapping):
        first = next((v for v in ai.values() if isinstance(v, Mapping)), None)
        if first is not None and first.get("estimate_b") is not None:
            ai_value = float(first["estimate_b"])
    fom_label = f"Figure of merit ({str(rs.get('fom', '')).upper()})"
    fom_svg = charts.reader_fom_chart(
        readers,
        mods,
        values,
        ai_value=ai_value,
        ai_label="standalone AI",
        fom_label=fom_label,
        title="Per-reader figure of merit by modality",
        desc="Each reader's "
        + str(rs.get("fom"))
        + " in each modality: "
        + "; ".join(
            f"{r}: " + ", ".join(f"{m} {num(values.get((r, m)))}" for m in mods) for r in readers
        )
        + (f"; standalone AI {num(ai_value)}" if ai_value is not None else "")
        + ".",
    )
    avg = _get(rs, "roc_curves", "average") or {}
    per_reader = _get(rs, "roc_curves", "per_reader") or {}
    roc_svgs = []
    if avg:
        series = [
            charts.Series(f"{m} (reader-averaged)", c.get("fpr") or [], c.get("tpr") or [])
            for m, c in sorted(avg.items())
        ]
        roc_svgs.append(
            charts.curve_chart(
                series,
                title="Reader-averaged ROC curves by modality",
                desc="Reader-averaged empirical ROC curves for modalities "
                + ", ".join(sorted(avg))
                + ".",
                xlabel="1 \u2212 specificity",
                ylabel="Sensitivity",
            )
        )
    for m, curves in sorted(per_reader.items()):
        series = [
            charts.Series(str(r), c.get("fpr") or [], c.get("tpr") or [])
            for r, c in sorted(curves.items())
        ]
        roc_svgs.append(
            charts.curve_chart(
                series,
                title=f"Per-reader ROC curves ({m})",
                desc=f"Empirical ROC curve of each reader in modality {m}.",
                xlabel="1 \u2212 specificity",
                ylabel="Sensitivity",
            )
        )
    mfoms = [
        {
            "modality": _get(f, "extra", "modality"),
            "result": est_ci(f),
            "method": f.get("method"),
            "df": num(_get(f, "extra", "df"), 1),
        }
        for f in rs.get("modality_foms") or []
    ]
    tests = []
    for name, t in sorted((rs.get("tests") or {}).items()):
        if not isinstance(t, Mapping):
            continue
        if t.get("estimable") is False:
            tests.append(
                {
                    "analysis": name,
                    "comparison": "\u2014",
                    "difference": "not estimable",
                    "statistic": "\u2014",
                    "df": "\u2014",
                    "p_value": "\u2014",
                    "method": None,
                    "distribution": t.get("distribution"),
                    "overall": str(t.get("reason") or "not estimable"),
                }
            )
            continue
        for c in t.get("comparisons") or []:
            tests.append(
                {
                    "analysis": name,
                    "comparison": f"{c.get('modality_a')} \u2212 {c.get('modality_b')}",
                    "difference": est_ci(c, "difference"),
                    "statistic": num(c.get("statistic")),
                    "df": num(c.get("df"), 1),
                    "p_value": pvalue(c.get("p_value")),
                    "method": c.get("method"),
                    "distribution": t.get("distribution"),
                    "overall": f"{t.get('distribution')} = {num(t.get('statistic'))}, "
                    f"df {num(t.get('df_num'), 1)}, {num(t.get('df_den'), 1)}; "
                    f"p {pvalue(t.get('p_value'))}",
                }
            )
    hyp = rs.get("hypothesis")
    hypothesis = None
    if isinstance(hyp, Mapping):
        hypothesis = {
            "comparison": f"{hyp.get('modality_a')} \u2212 {hyp.get('modality_b')}",
            "kind": _get(hyp, "extra", "hypothesis") or "",
            "margin": num(hyp.get("margin")),
            "difference": est_ci(hyp, "difference"),
            "p_value": pvalue(hyp.get("p_value")),
            "method": hyp.get("method"),
            "conclusion": _get(hyp, "extra", "conclusion"),
        }
    ai_rows = []
    if isinstance(ai, Mapping) and ai.get("not_estimable"):
        ai_rows.append(
            {
                "analysis": "\u2014",
                "readers": "\u2014",
                "ai": "\u2014",
                "difference": f"not estimable: {ai['not_estimable']}",
                "df": "\u2014",
                "p_value": "\u2014",
                "method": None,
            }
        )
    if isinstance(ai, Mapping):
        for name, c in sorted(ai.items()):
            if isinstance(c, Mapping):
                ai_rows.append(
                    {
                        "analysis": name,
                        "readers": num(c.get("estimate_a")),
                        "ai": num(c.get("estimate_b")),
                        "difference": est_ci(c, "difference"),
                        "df": num(c.get("df"), 1),
                        "p_value": pvalue(c.get("p_value")),
                        "method": c.get("method"),
                    }
                )
    vc: list[tuple[str, str]] = []
    _flatten("", rs.get("variance_components") or {}, vc)
    return {
        "id": rs.get("id"),
        "design": rs.get("design"),
        "fom": rs.get("fom"),
        "method": rs.get("method"),
        "covariance": rs.get("covariance"),
        "analysis": rs.get("analysis"),
        "n_cases": rs.get("n_cases"),
        "readers": readers,
        "modalities": mods,
        "table": table,
        "fom_svg": fom_svg,
        "roc_svgs": roc_svgs,
        "has_per_reader_roc": bool(per_reader),
        "modality_foms": mfoms,
        "tests": tests,
        "hypothesis": hypothesis,
        "ai_rows": ai_rows,
        "ai_modality": ai.get("modality") if isinstance(ai, Mapping) else None,
        "variance": vc,
    }


def detection_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    det = doc.get("detection")
    if not isinstance(det, Mapping):
        return None
    labels = (
        ("sensitivity", "Lesion sensitivity at threshold"),
        ("fp_per_image", "False positives per image"),
        ("cpm", "Competition performance metric (CPM)"),
        ("camelyon16", "CAMELYON16 FROC score"),
        ("afroc", "AFROC AUC"),
        ("wafroc", "wAFROC AUC"),
    )
    metrics = [
        {"label": label, "result": est_ci(det[k]), "method": det[k].get("method")}
        for k, label in labels
        if _is_estimate(det.get(k))
    ]
    curve = det.get("curve") or {}
    band = det.get("band") or None
    fps = [float(v) for v in curve.get("fp_per_image") or [] if isinstance(v, (int, float))]
    # x-axis: the next of 0.5, 1, 2, 4, 8 FP/image above the curve's last point (display range)
    xmax = next(
        (t for t in (0.5, 1.0, 2.0, 4.0, 8.0) if t >= max(fps, default=0.0)), max(fps, default=8.0)
    )
    series = charts.Series(
        "FROC",
        curve.get("fp_per_image") or [],
        curve.get("sensitivity") or [],
        band_x=band.get("fp_rates") if band else None,
        band_low=band.get("ci_low") if band else None,
        band_high=band.get("ci_high") if band else None,
    )
    fp_rec, sens_rec = det.get("fp_per_image"), det.get("sensitivity")
    points = []
    if (
        _is_estimate(fp_rec)
        and _is_estimate(sens_rec)
        and fp_rec.get("estimate") is not None
        and sens_rec.get("estimate") is not None
    ):
        points.append(
            charts.Point(
                f"Operating point (threshold {det.get('threshold')})",
                float(fp_rec["estimate"]),
                float(sens_rec["estimate"]),
            )
        )
    svg = charts.curve_chart(
        [series],
        diagonal=False,
        xmax=float(xmax),
        points=points,
        title="FROC curve",
        desc=f"Lesion sensitivity against false positives per image; {len(fps)} points"
        + ("; shaded: bootstrap confidence band" if band else "")
        + ".",
        xlabel="False positives per image",
        ylabel="Lesion sensitivity",
    )
    rule: list[tuple[str, str]] = []
    _flatten("", det.get("rule") or {}, rule)
    counts: list[tuple[str, str]] = []
    _flatten("", det.get("counts") or {}, counts)
    return {
        "metrics": metrics,
        "svg": svg,
        "rule": rule,
        "counts": counts,
        "threshold": det.get("threshold"),
        "notes": list(det.get("notes") or []),
    }


#: Segmentation metrics in the order and wording of the report (distances in mm).
SEGMENTATION_LABELS = {
    "dice": "Dice similarity coefficient",
    "iou": "Intersection over union (Jaccard)",
    "hausdorff": "Hausdorff distance (mm)",
    "hd95": "Hausdorff distance, percentile (mm)",
    "assd": "Average symmetric surface distance (mm)",
    "masd": "Mean average surface distance (mm)",
    "nsd": "Normalised surface distance (surface Dice)",
}

#: Most per-case rows the report lists; the rest are counted, and all are in results.json.
MAX_PER_CASE_ROWS = 300


def segmentation_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The segmentation section: one row per metric from ``segmentation.estimates``, the
    empty-mask policy, status counts and the per-case table (capped, and saying so)."""
    seg = doc.get("segmentation")
    if not isinstance(seg, Mapping):
        return None
    settings = seg.get("extra") or {}
    estimates = seg.get("estimates") or {}
    n_valid = seg.get("n_valid") or {}
    n_excluded = seg.get("n_excluded") or {}
    order = [m for m in SEGMENTATION_LABELS if m in estimates] + sorted(
        m for m in estimates if m not in SEGMENTATION_LABELS
    )
    metrics = []
    for m in order:
        est = estimates.get(m)
        if not _is_estimate(est):
            continue
        extra = est.get("extra") or {}
        label = SEGMENTATION_LABELS.get(m, str(m).replace("_", " "))
        if m == "hd95" and settings.get("percentile") is not None:
            label = f"Hausdorff distance, {num(settings['percentile'], 0)}th percentile (mm)"
        if m == "nsd" and settings.get("tolerance_mm") is not None:
            label = f"Normalised surface distance at {num(settings['tolerance_mm'], 2)} mm"
        quartiles = (
            f"{num(extra.get('median'))} ({num(extra.get('q1'))}\u2013{num(extra.get('q3'))})"
            if extra.get("median") is not None
            else "\u2014"
        )
        metrics.append(
            {
                "metric": m,
                "label": label,
                "result": est_ci(est),
                "method": est.get("method"),
                "median": quartiles,
                "n": n_valid.get(m, est.get("n")),
                "excluded": n_excluded.get(m),
            }
        )
    policy = seg.get("empty_policy") or settings.get("empty_policy") or {}
    policy_rows = [
        (k.replace("_", " "), "\u2014" if v is None else str(v)) for k, v in policy.items()
    ]
    status = [
        {"status": str(k).replace("_", " "), "n": v}
        for k, v in sorted((seg.get("status_counts") or {}).items())
    ]
    per_case = [r for r in seg.get("per_case") or [] if isinstance(r, Mapping)]
    cols = [m for m in order if any(m in r for r in per_case)]
    case_rows = [
        {
            "case_id": r.get("case_id"),
            "status": str(r.get("status") or "").replace("_", " "),
            "excluded": r.get("excluded"),
            "cells": [num(r.get(m)) for m in cols],
        }
        for r in per_case[:MAX_PER_CASE_ROWS]
    ]
    return {
        "metrics": metrics,
        "policy": policy_rows,
        "status": status,
        "n_cases": seg.get("n_cases"),
        "n_clusters": settings.get("n_clusters"),
        "case_columns": [SEGMENTATION_LABELS.get(m, m) for m in cols],
        "cases": case_rows,
        "n_per_case": len(per_case),
        "capped": len(per_case) > len(case_rows),
        "resampled": [r for r in seg.get("resampled") or [] if isinstance(r, Mapping)],
    }

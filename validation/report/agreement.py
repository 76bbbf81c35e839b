"""View models for the truthing and measurement-agreement sections, and the Bland-Altman plot.

Reads the ``truthing`` and ``measurement`` blocks of ``results.json`` (written by
:mod:`validation.study.truthing` and :mod:`validation.study.measurement`) and arranges
them for ``sections/truthing.html.j2`` and ``sections/measurement.html.j2``. The plot
draws the pairs, the bias and limits of agreement already in ``results.json`` with their
confidence intervals as bands; nothing here computes a statistic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from validation.report.charts import BLUE, GREY, LIGHT, ORANGE, SKY, _legend, _Svg
from validation.report.format import DASH, est_ci, num, pvalue

__all__ = ["bland_altman_chart", "measurement_section", "truthing_section"]

STATISTIC_LABELS = {
    "percent_agreement": "Percent agreement (all truthers agree)",
    "cohen_kappa": "Cohen's kappa",
    "fleiss_kappa": "Fleiss' kappa",
    "gwet_ac1": "Gwet's AC1",
    "krippendorff_alpha": "Krippendorff's alpha",
}
PATH_LABELS = {
    "unanimous": "All truthers agreed",
    "single_read": "Read by one truther only",
    "majority": "Decided by majority",
    "by_rule": "Decided by the rule (any/all positive)",
    "adjudicated": "Decided by the adjudicator",
    "unresolved": "Unresolved (no reference standard)",
}
RULE_TEXT = {
    "majority": "majority of the truthers' reads",
    "consensus_with_adjudicator": "consensus; disagreements settled by the adjudicator",
    "any_positive": "positive if any truther read positive",
    "all_positive": "positive only if every truther read positive",
}
MEASURE_LABELS = {
    "bias": "Bias (mean difference)",
    "loa_low": "Lower limit of agreement",
    "loa_high": "Upper limit of agreement",
    "ccc": "Lin's concordance correlation",
    "icc": "Intraclass correlation",
}
MAX_DISCORDANT = 50
MAX_PLOT_POINTS = 2000


def truthing_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The truthing section: rule, truthers, agreement table, adjudication flow, check."""
    t = doc.get("truthing")
    if not isinstance(t, Mapping):
        return None
    agreement = [
        {
            "label": STATISTIC_LABELS.get(str(a.get("statistic")), str(a.get("statistic"))),
            "result": est_ci(a),
            "method": a.get("method") or DASH,
            "n": a.get("n"),
            "reason": a.get("not_estimable_reason"),
        }
        for a in t.get("agreement") or []
        if isinstance(a, Mapping)
    ]
    paths = [
        {"label": PATH_LABELS.get(str(p.get("path")), str(p.get("path"))), "n": p.get("n")}
        for p in t.get("paths") or []
        if isinstance(p, Mapping)
    ]
    check = t.get("check")
    discordant = list((check or {}).get("discordant") or [])
    reference = t.get("reference") or {}
    return {
        "rule": RULE_TEXT.get(str(t.get("rule")), str(t.get("rule"))),
        "use": t.get("use"),
        "positive": t.get("positive"),
        "truthers": ", ".join(str(x) for x in t.get("truthers") or []) or DASH,
        "n_truthers": len(t.get("truthers") or []),
        "adjudicator": t.get("adjudicator"),
        "n_reads": t.get("n_reads"),
        "n_adjudicator_reads": t.get("n_adjudicator_reads"),
        "n_cases": t.get("n_cases"),
        "file": t.get("file"),
        "agreement": agreement,
        "paths": paths,
        "n_positive": reference.get("n_positive"),
        "n_negative": reference.get("n_negative"),
        "n_unresolved": reference.get("n_unresolved"),
        "n_without_reads": t.get("n_analysed_without_reads"),
        "check": check,
        "discordant": discordant[:MAX_DISCORDANT],
        "discordant_capped": len(discordant) > MAX_DISCORDANT,
    }


def _value(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``."""
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / n))
    for mult in (1, 2, 5, 10):
        if span / (step * mult) <= n:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.06 or abs(hi) * 0.1 or 1.0
    return lo - pad, hi + pad


def bland_altman_chart(
    points: Sequence[tuple[float, float]],
    lines: Mapping[str, Mapping[str, Any]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    desc: str,
    width: int = 560,
    height: int = 380,
) -> Markup:
    """Differences against pair means, the bias and limits of agreement with CI bands.

    ``points`` are ``(mean, difference)`` pairs; ``lines`` maps ``bias``, ``loa_low``
    and ``loa_high`` to records with ``estimate``, ``ci_low`` and ``ci_high``.
    """
    svg = _Svg(width, height, title, desc)
    x0, y0 = 62.0, height - 50.0
    w, h = width - 84.0 - 150.0, height - 74.0
    ys = [d for _, d in points]
    for rec in lines.values():
        values = (_value(rec.get(k)) for k in ("estimate", "ci_low", "ci_high"))
        ys += [v for v in values if v is not None]
    xmin, xmax = _range([m for m, _ in points])
    ymin, ymax = _range(ys + [0.0])

    def px(x: float) -> float:
        return x0 + w * (x - xmin) / (xmax - xmin)

    def py(y: float) -> float:
        return y0 - h * (y - ymin) / (ymax - ymin)

    for t in _ticks(xmin, xmax):
        svg.line(px(t), y0, px(t), y0 - h, stroke="#eeeeee")
        svg.text(px(t), y0 + 16, f"{t:g}", anchor="middle", size=10)
    for t in _ticks(ymin, ymax):
        svg.line(x0, py(t), x0 + w, py(t), stroke="#eeeeee")
        svg.text(x0 - 7, py(t) + 3.5, f"{t:g}", anchor="end", size=10)
    svg.rect(x0, y0 - h, w, h, fill="none", stroke="#000000")
    svg.text(x0 + w / 2, y0 + 34, xlabel, anchor="middle")
    svg.text(x0 - 46, y0 - h / 2, ylabel, anchor="middle", rotate=True)
    svg.line(x0, py(0.0), x0 + w, py(0.0), stroke=GREY, dash="2 2")
    legend: list[tuple[str, str, str, str]] = [("No difference", GREY, "2 2", "line")]
    level = _value((lines.get("bias") or {}).get("confidence_level"))
    band_level = f"{level:.0%}" if level is not None else "Confidence"
    styles = {"bias": (BLUE, "", "Bias"), "loa_low": (ORANGE, "6 3", "Limits of agreement")}
    styles["loa_high"] = styles["loa_low"]
    for key in ("bias", "loa_low", "loa_high"):
        rec = lines.get(key) or {}
        color, dash, _ = styles[key]
        lo, hi, est = (_value(rec.get(k)) for k in ("ci_low", "ci_high", "estimate"))
        if lo is not None and hi is not None:
            svg.rect(x0, py(hi), w, py(lo) - py(hi), fill=LIGHT, stroke="none")
        if est is not None:
            svg.line(x0, py(est), x0 + w, py(est), stroke=color, width=1.8, dash=dash)
    for m, d in points[:MAX_PLOT_POINTS]:
        svg.marker(px(m), py(d), "circle", color=SKY, size=2.6)
    legend += [
        ("Bias", BLUE, "", "line"),
        ("Limits of agreement", ORANGE, "6 3", "line"),
        (f"{band_level} CI of each line", LIGHT, "", "band"),
        ("Pairs", SKY, "", "circle"),
    ]
    _legend(svg, x0 + w + 14, y0 - h + 10, legend)
    return svg.markup()


def _row(key: str, rec: Any, unit: str) -> dict[str, Any]:
    rec = rec if isinstance(rec, Mapping) else {}
    u = f" ({unit})" if unit and key in ("bias", "loa_low", "loa_high") else ""
    return {
        "label": MEASURE_LABELS[key] + u,
        "result": est_ci(rec),
        "method": rec.get("method") or DASH,
        "n": rec.get("n"),
    }


def _plot(m: Mapping[str, Any], ba: Mapping[str, Any], quantity: str, unit: str) -> Markup | None:
    pts = []
    log = bool(ba.get("log"))
    for p in m.get("points") or []:
        a, b = _value(p.get("measured")), _value(p.get("reference"))
        if a is None or b is None or (log and (a <= 0 or b <= 0)):
            continue
        pts.append(((a + b) / 2.0, math.log(a / b) if log else a - b))
    if not pts or not isinstance(ba.get("bias"), Mapping):
        return None
    u = f" ({unit})" if unit else ""
    ylabel = "ln(measured / reference)" if log else f"Measured \u2212 reference{u}"
    return bland_altman_chart(
        pts,
        {k: ba.get(k) or {} for k in ("bias", "loa_low", "loa_high")},
        xlabel=f"Mean of measured and reference {quantity}{u}",
        ylabel=ylabel,
        title=f"Bland-Altman plot of {quantity}",
        desc=(
            f"{len(pts)} pairs; bias {num(_value(ba['bias'].get('estimate')))}, limits of "
            f"agreement {num(_value((ba.get('loa_low') or {}).get('estimate')))} to "
            f"{num(_value((ba.get('loa_high') or {}).get('estimate')))}, each with its "
            "confidence interval as a shaded band."
        ),
    )


def measurement_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The measurement section: agreement table, Bland-Altman plot, subgroup table."""
    m = doc.get("measurement")
    if not isinstance(m, Mapping):
        return None
    ba = m.get("bland_altman") or {}
    unit = str(m.get("unit") or "")
    quantity = str(m.get("quantity") or "measurement")
    rows = [_row(k, ba.get(k), unit) for k in ("bias", "loa_low", "loa_high")]
    rows += [_row(k, m.get(k), unit) for k in ("ccc", "icc")]
    prop = ba.get("proportional_bias") if isinstance(ba.get("proportional_bias"), Mapping) else None
    subgroups = [
        {
            "attribute": r.get("attribute"),
            "level": r.get("level"),
            "n": r.get("n"),
            "cells": [est_ci((r.get("metrics") or {}).get(k)) for k in MEASURE_LABELS],
            "reason": r.get("not_estimable_reason"),
        }
        for r in m.get("subgroups") or []
        if isinstance(r, Mapping)
    ]
    return {
        "quantity": quantity,
        "unit": unit or None,
        "n": m.get("n"),
        "n_subjects": m.get("n_subjects"),
        "reference_column": m.get("reference_column"),
        "icc_form": m.get("icc_form"),
        "log": bool(ba.get("log")),
        "method": ba.get("method"),
        "rows": rows,
        "proportional_slope": num(_value(prop.get("estimate"))) if prop else DASH,
        "proportional_p": pvalue(prop.get("p_value")) if prop else DASH,
        "reason": m.get("not_estimable_reason"),
        "plot": _plot(m, ba, quantity, unit),
        "subgroup_columns": list(MEASURE_LABELS.values()),
        "subgroups": subgroups,
    }

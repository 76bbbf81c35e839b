"""The subgroup parts of the report: the section's view model and the summary's weak spots.

Reads the ``subgroups`` block of ``results.json`` as the study runner wrote it (cells,
disparity of each group against the rest, heterogeneity, fairness) and only selects,
joins, sorts and words it: no statistic is computed here. Two readings are made from the
stored numbers, and both are stated in the report where they are used:

* a group is *lower* (*higher*) *than the rest* when the confidence interval of its
  stored difference from the rest of the cohort lies entirely below (above) zero;
* a group is *below the criterion* when the whole confidence interval of its stored
  estimate lies on the failing side of a primary endpoint's acceptance value for the
  same metric.

``flagged`` is the runner's own flag (worse than the rest and the disparity test still
significant after the multiplicity adjustment of its family).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from validation.report import charts
from validation.report._helpers import get as _get
from validation.report._helpers import label as _label
from validation.report.format import est_ci, num, pct, pvalue

__all__ = ["lower_performance", "subgroups_section"]

Key = tuple[str, str, str]
MINUS = "\u2212"


def _natural(text: str) -> list[Any]:
    """Sort key that orders ``"age 9"`` before ``"age 10"`` (numbers compared as numbers)."""
    return [
        (0, float(part), "") if part.replace(".", "", 1).isdigit() else (1, 0.0, part.lower())
        for part in re.findall(r"\d+(?:\.\d+)?|\D+", text)
    ]


def _fnum(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x)


def _signed(x: Any, digits: int = 3) -> str:
    """A difference with its sign (``+0.095``, ``−0.177``).

    A non-zero value that would round to zero keeps its sign and gets the digits it needs
    (``−0.0004``), so that a CI bound just below zero never reads as ``0.000``.
    """
    v = _fnum(x)
    if v is None:
        return num(x, digits)
    text = num(abs(v), digits)
    more = digits
    while float(text) == 0 and more < 8:  # beyond 8 decimals it is rounding noise: 0.000
        more += 1
        text = num(abs(v), more)
    if float(text) == 0:
        return num(0.0, digits)
    return (MINUS if v < 0 else "+") + text


def _diff_text(d: Mapping[str, Any], level: Any) -> str:
    """``−0.177 (95% CI −0.240 to −0.117)`` for a disparity row."""
    lo, hi = d.get("difference_ci_low"), d.get("difference_ci_high")
    if _fnum(lo) is None or _fnum(hi) is None:
        return _signed(d.get("difference"))
    return f"{_signed(d.get('difference'))} ({pct(level)} CI {_signed(lo)} to {_signed(hi)})"


def tone(d: Mapping[str, Any] | None) -> str:
    """``"lower"``/``"higher"`` when the stored difference CI excludes zero, else ``""``."""
    if not d or d.get("status") != "ok":
        return ""
    lo, hi = _fnum(d.get("difference_ci_low")), _fnum(d.get("difference_ci_high"))
    if lo is None or hi is None:
        return ""
    if hi < 0:
        return "lower"
    if lo > 0:
        return "higher"
    return ""


def _ref(d: Mapping[str, Any] | None) -> str:
    """What a group was compared with: ``the rest`` or the attribute's reference group."""
    ref = d.get("reference") if d else None
    return "the rest" if ref in (None, "", "rest") else f"reference group {ref}"


def _counts(r: Mapping[str, Any]) -> str:
    return f"n = {r.get('n')}, {r.get('n_pos')} positive, {r.get('n_neg')} negative"


def _label_of(r: Mapping[str, Any]) -> str:
    if r.get("attribute") == "overall":
        return "Overall"
    return f"{r.get('attribute')}: {r.get('group')}"


def _disparity_index(sg: Mapping[str, Any]) -> dict[Key, Mapping[str, Any]]:
    return {
        (str(d.get("attribute")), str(d.get("group")), str(d.get("metric"))): d
        for d in sg.get("disparity") or []
        if isinstance(d, Mapping)
    }


def _criteria(doc: Mapping[str, Any]) -> dict[str, tuple[str, float, str]]:
    """Per metric, a primary endpoint's acceptance ``(op, value, endpoint id)`` (first one)."""
    out: dict[str, tuple[str, float, str]] = {}
    for ep in _get(doc, "protocol", "resolved", "endpoints") or []:
        if not isinstance(ep, Mapping) or ep.get("role") != "primary":
            continue
        accept = ep.get("accept")
        value = _fnum(_get(accept, "value"))
        op = _get(accept, "op")
        if value is None or op not in (">=", ">", "<=", "<"):
            continue
        out.setdefault(str(ep.get("metric")), (str(op), value, str(ep.get("id"))))
    return out


def _below_criterion(r: Mapping[str, Any], crit: tuple[str, float, str] | None) -> bool:
    """The whole CI of the cell lies on the failing side of the acceptance value."""
    if crit is None or r.get("status") != "ok":
        return False
    lo, hi = _fnum(r.get("ci_low")), _fnum(r.get("ci_high"))
    if lo is None or hi is None:
        return False
    op, value, _ = crit
    return hi < value if op in (">=", ">") else lo > value


# --------------------------------------------------------------------------- summary


def lower_performance(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The executive summary's "Where performance is lower" (None without subgroups).

    Lists pre-specified subgroup cells that are worse than the rest (stored ``weaker``
    and the difference CI excluding zero) or whose whole CI is below a primary criterion,
    worst first (largest gap to the rest, then the cells only below the criterion).
    """
    sg = doc.get("subgroups")
    if not isinstance(sg, Mapping):
        return None
    level = _get(sg, "settings", "confidence_level")
    disp = _disparity_index(sg)
    crits = _criteria(doc)
    items: list[tuple[tuple[int, float], dict[str, Any]]] = []
    n_checked = 0
    for r in sg.get("rows") or []:
        if r.get("attribute") == "overall" or not r.get("prespecified", True):
            continue
        n_checked += r.get("status") == "ok"
        metric = str(r.get("metric"))
        d = disp.get((str(r.get("attribute")), str(r.get("group")), metric))
        worse = bool(d and d.get("weaker") and tone(d))
        crit = crits.get(metric)
        below = _below_criterion(r, crit)
        if not (worse or below):
            continue
        gap = abs(_fnum(d.get("difference")) or 0.0) if worse and d else 0.0
        items.append(
            (
                (0 if worse else 1, -gap),
                {
                    "label": _label_of(r),
                    "metric": _label(metric),
                    "counts": _counts(r),
                    "result": est_ci(r),
                    "rest": num(d.get("reference_estimate")) if worse and d else None,
                    "ref": _ref(d),
                    "gap": _diff_text(d, level) if worse and d else None,
                    "flagged": bool(d and d.get("flagged")),
                    "criterion": (
                        f"the whole CI is below the acceptance value {num(crit[1], 2)} of "
                        f"primary endpoint {crit[2]}"
                    )
                    if below and crit
                    else None,
                },
            )
        )
    items.sort(key=lambda t: t[0])
    return {
        "items": [i for _, i in items],
        "n_checked": n_checked,
        "level": pct(level),
        "multiplicity": sg.get("multiplicity"),
    }


# --------------------------------------------------------------------------- section


def _tooltip(r: Mapping[str, Any], d: Mapping[str, Any] | None, level: Any) -> str:
    parts = [f"{_label_of(r)} \u2014 {_label(r.get('metric'))}"]
    if r.get("status") == "ok" and r.get("estimate") is not None:
        parts.append(est_ci(r))
    else:
        parts.append(f"not estimable: {r.get('reason') or 'no reason recorded'}")
    parts.append(_counts(r))
    if d and d.get("status") == "ok":
        parts.append(f"difference from {_ref(d)} {_diff_text(d, level)}")
        if d.get("flagged"):
            parts.append("flagged")
    if not r.get("prespecified", True):
        parts.append("exploratory (not pre-specified)")
    return "; ".join(parts)


def _ordered(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Overall first, then attributes in first-seen order, groups naturally sorted in each."""
    order: dict[str, int] = {}
    for r in rows:
        order.setdefault(str(r.get("attribute")), len(order))
    return sorted(
        rows,
        key=lambda r: (
            r.get("attribute") != "overall",
            order[str(r.get("attribute"))],
            _natural(str(r.get("group"))),
        ),
    )


def _forest_rows(
    rows: Sequence[Mapping[str, Any]], disp: Mapping[Key, Mapping[str, Any]], level: Any
) -> list[charts.ForestRow]:
    out: list[charts.ForestRow] = []
    last = None
    for r in rows:
        attr = str(r.get("attribute"))
        overall = attr == "overall"
        if not overall and attr != last:
            note = "" if r.get("prespecified", True) else " (exploratory)"
            out.append(charts.ForestRow(attr + note, None, None, None, "", header=True))
        last = attr
        d = disp.get((attr, str(r.get("group")), str(r.get("metric"))))
        ok = r.get("status") == "ok" and r.get("estimate") is not None
        t = tone(d)
        text = est_ci(r) if ok else f"{r.get('reason') or 'not estimable'} ({_counts(r)})"
        marks = {"lower": "\u25bc lower", "higher": "\u25b2 higher"}.get(t, "")
        out.append(
            charts.ForestRow(
                label="Overall" if overall else str(r.get("group")),
                estimate=r.get("estimate") if ok else None,
                ci_low=r.get("ci_low") if ok else None,
                ci_high=r.get("ci_high") if ok else None,
                text=text,
                note=" ".join(x for x in (marks, "FLAGGED" if d and d.get("flagged") else "") if x),
                bold=overall,
                tone=t,
                flagged=bool(d and d.get("flagged")),
                tooltip=_tooltip(r, d, level),
            )
        )
    return out


def _table_row(
    r: Mapping[str, Any], d: Mapping[str, Any] | None, level: Any, exceeded: set[Key]
) -> dict[str, Any]:
    ok = r.get("status") == "ok" and r.get("estimate") is not None
    key = (str(r.get("attribute")), str(r.get("group")), str(r.get("metric")))
    d_ok = bool(d and d.get("status") == "ok")
    return {
        "attribute": r.get("attribute"),
        "group": r.get("group"),
        "n": r.get("n"),
        "n_pos": r.get("n_pos"),
        "n_neg": r.get("n_neg"),
        "status": r.get("status"),
        "estimate_sort": num(r.get("estimate"), 6) if ok else "",
        "result": est_ci(r) if ok else "not estimable",
        "difference": _diff_text(d, level) if d_ok and d else "\u2014",
        "difference_sort": num(d.get("difference"), 6) if d_ok and d else "",
        "p_adjusted": pvalue(d.get("p_adjusted")) if d_ok and d else "\u2014",
        "tone": tone(d),
        "flagged": bool(d and d.get("flagged")),
        "exceeds_max": key in exceeded,
        "method": r.get("method"),
        "reason": r.get("reason") or (d.get("reason") if d and not d_ok else "") or "",
        "prespecified": r.get("prespecified", True),
        "overall": r.get("attribute") == "overall",
    }


def _callouts(
    sg: Mapping[str, Any], rows: Mapping[Key, Mapping[str, Any]], level: Any, exceeded: set[Key]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[tuple[float, dict[str, Any]]]] = {"lower": [], "higher": []}
    for d in sg.get("disparity") or []:
        t = tone(d)
        if not t:
            continue
        key = (str(d.get("attribute")), str(d.get("group")), str(d.get("metric")))
        r = rows.get(key, {})
        out[t].append(
            (
                -abs(_fnum(d.get("difference")) or 0.0),
                {
                    "label": f"{d.get('attribute')}: {d.get('group')}",
                    "metric": _label(d.get("metric")),
                    "estimate": num(d.get("estimate")),
                    "rest": num(d.get("reference_estimate")),
                    "ref": _ref(d),
                    "difference": _diff_text(d, level),
                    "counts": _counts(r) if r else "",
                    "flagged": bool(d.get("flagged")),
                    "prespecified": d.get("prespecified", True),
                    "exceeds_max": key in exceeded,
                },
            )
        )
    return {k: [i for _, i in sorted(v, key=lambda t: t[0])] for k, v in out.items()}


def _endpoint_notes(
    doc: Mapping[str, Any], metric: str, overall: Mapping[str, Any] | None
) -> list[str]:
    notes = []
    for ep in doc.get("endpoints") or []:
        if (
            isinstance(ep, Mapping)
            and ep.get("metric") == metric
            and overall is not None
            and ep.get("method")
            and overall.get("method")
            and ep.get("estimate") is not None
            and ep.get("method") != overall.get("method")
        ):
            notes.append(
                f"The overall row uses the {overall.get('method')} interval (the subgroup "
                f"table's CI setting); endpoint {ep.get('id')} ({ep.get('role')}) reports "
                f"{_label(metric)} with the {ep.get('method')} interval, {est_ci(ep)}: the "
                "intervals differ because the methods differ."
            )
    return notes


def _plots(
    doc: Mapping[str, Any], sg: Mapping[str, Any], exceeded: set[Key]
) -> list[dict[str, Any]]:
    level = _get(sg, "settings", "confidence_level")
    disp = _disparity_index(sg)
    by_metric: dict[str, list[Mapping[str, Any]]] = {}
    for r in sg.get("rows") or []:
        by_metric.setdefault(str(r.get("metric")), []).append(r)
    plots = []
    for metric, raw in by_metric.items():
        rows = _ordered(raw)
        overall = next((r for r in rows if r.get("attribute") == "overall"), None)
        ref = overall.get("estimate") if overall and overall.get("status") == "ok" else None
        n_ne = sum(1 for r in rows if r.get("status") != "ok")
        lows = [_fnum(r.get("ci_low")) for r in rows if r.get("status") == "ok"]
        finite = [x for x in lows if x is not None and 0.0 <= x <= 1.0]
        lo = min(0.5, math.floor(min(finite) * 10) / 10) if finite else 0.0
        svg = charts.forest_plot(
            _forest_rows(rows, disp, level),
            reference=ref,
            reference_label=f"overall {num(ref)}" if ref is not None else "overall",
            xlabel=_label(metric),
            lo=lo,
            title=f"Forest plot: {_label(metric)} by subgroup",
            desc=f"{_label(metric)} with {pct(level)} confidence intervals for {len(rows)} "
            f"subgroup cells, grouped by attribute; {n_ne} not estimable.",
        )
        table = [
            _table_row(
                r,
                disp.get((str(r.get("attribute")), str(r.get("group")), metric)),
                level,
                exceeded,
            )
            for r in rows
        ]
        plots.append(
            {
                "metric": _label(metric),
                "id": re.sub(r"[^a-z0-9]+", "-", metric.lower()).strip("-") or "metric",
                "svg": svg,
                "table": table,
                "notes": _endpoint_notes(doc, metric, overall),
            }
        )
    return plots


def subgroups_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The subgroup section's view model (None when ``results.json`` has no subgroups)."""
    sg = doc.get("subgroups")
    if not isinstance(sg, Mapping):
        return None
    level = _get(sg, "settings", "confidence_level")
    exceeded = {
        (str(e.get("attribute")), str(e.get("group")), str(e.get("metric")))
        for e in sg.get("max_disparity_exceeded") or []
    }
    cells = {
        (str(r.get("attribute")), str(r.get("group")), str(r.get("metric"))): r
        for r in sg.get("rows") or []
    }
    callouts = _callouts(sg, cells, level, exceeded)
    listed = {(c["label"], c["metric"]) for v in callouts.values() for c in v}
    inconclusive = [
        {
            "label": f"{e.get('attribute')}: {e.get('group')}",
            "metric": _label(e.get("metric")),
            "difference": _signed(e.get("difference")),
        }
        for e in sg.get("max_disparity_exceeded") or []
        if (f"{e.get('attribute')}: {e.get('group')}", _label(e.get("metric"))) not in listed
    ]
    settings = sg.get("settings") or {}
    attributes: list[str] = []
    for r in sg.get("rows") or []:
        a = str(r.get("attribute"))
        if a != "overall" and a not in attributes:
            attributes.append(a)
    return {
        "all_rest": all(_ref(d) == "the rest" for d in sg.get("disparity") or []),
        "plots": _plots(doc, sg, exceeded),
        "lower": callouts["lower"],
        "higher": callouts["higher"],
        "inconclusive": inconclusive,
        "attributes": attributes,
        "level": pct(level),
        "disparity": _disparity_rows(sg, level),
        "heterogeneity": _heterogeneity_rows(sg),
        "fairness": _fairness_rows(sg),
        "guardrails": sg.get("guardrails") or {},
        "multiplicity": sg.get("multiplicity"),
        "settings": {
            k: settings.get(k)
            for k in (
                "bootstrap",
                "n_resamples",
                "disparity_test",
                "disparity_ci",
                "confidence_level",
            )
            if settings.get(k) is not None
        },
        "n_not_estimable": sum(1 for r in sg.get("rows") or [] if r.get("status") != "ok"),
    }


def _disparity_rows(sg: Mapping[str, Any], level: Any) -> list[dict[str, Any]]:
    return [
        {
            "attribute": d.get("attribute"),
            "group": d.get("group"),
            "metric": _label(d.get("metric")),
            "reference": d.get("reference"),
            "estimate": num(d.get("estimate")),
            "reference_estimate": num(d.get("reference_estimate")),
            "difference": _diff_text(d, level),
            "difference_sort": num(d.get("difference"), 6),
            "p_value": pvalue(d.get("p_value")),
            "p_adjusted": pvalue(d.get("p_adjusted")),
            "tone": tone(d),
            "flagged": d.get("flagged"),
            "prespecified": d.get("prespecified", True),
            "status": d.get("status"),
            "reason": d.get("reason") or "",
        }
        for d in sg.get("disparity") or []
    ]


def _heterogeneity_rows(sg: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "attribute": h.get("attribute"),
            "metric": _label(h.get("metric")),
            "method": h.get("method"),
            "statistic": num(h.get("statistic")),
            "df": h.get("df"),
            "p_value": pvalue(h.get("p_value")),
            "p_adjusted": pvalue(h.get("p_adjusted")),
            "status": h.get("status"),
            "reason": h.get("reason") or "",
        }
        for h in sg.get("heterogeneity") or []
    ]


def _fairness_rows(sg: Mapping[str, Any]) -> list[dict[str, Any]]:
    level = _get(sg, "settings", "confidence_level")
    return [
        {
            "attribute": f.get("attribute"),
            "measure": str(f.get("measure", "")).replace("_", " "),
            "result": est_ci({"confidence_level": level, **f})
            if f.get("status") == "ok"
            else "not estimable",
            "n_groups": f.get("n_groups"),
            "status": f.get("status"),
            "reason": f.get("reason") or "",
        }
        for f in sg.get("fairness") or []
    ]

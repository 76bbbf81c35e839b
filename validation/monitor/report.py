"""Render ``monitor.json`` into a self-contained HTML monitoring report.

One HTML file with inline CSS and inline SVG (:mod:`validation.monitor.charts`): no
script, font or image is fetched (``Content-Security-Policy: default-src 'none'``). The
template (``validation/monitor/templates/monitor.html.j2``) runs in a jinja2 environment
with autoescaping on and :class:`jinja2.StrictUndefined`, does no arithmetic, and prints
numbers through the study report's filters (:mod:`validation.report.format`). Rendering is
deterministic: the same ``monitor.json`` gives the same bytes.
"""

from __future__ import annotations

from typing import Any

import jinja2

from validation.monitor.charts import WindowPoint, control_chart, window_chart
from validation.report.charts import OKABE_ITO
from validation.report.format import est_ci, num, pct, pvalue, wbr

__all__ = ["build_context", "render_monitor_html"]

VERIFICATION_CAVEAT = (
    "Performance is estimated on verified cases only. Labels arrive late and often for a sample "
    "of cases: if the cases that get a reference standard are not a random sample of production "
    "(for example, when cases the device called positive are followed up more often, or only "
    "discordant cases are reviewed), sensitivity, specificity and PPV estimated from them are "
    "biased (verification bias: Begg & Greenes 1983, doi:10.2307/2531065). Read each window's "
    "estimate with its number of verified cases. Charts on label-based indicators see cases in "
    "the order their labels arrived, which lags production. Drift statistics use every case, "
    "verified or not: unlabelled cases are never dropped from them."
)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("validation.monitor", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({"num": num, "pct": pct, "pvalue": pvalue, "est_ci": est_ci, "wbr": wbr})
    return env


def _latest_performance(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for snap in state["performance"]:
        out[snap["window"]] = snap
    return out


_AXIS = {
    "false_negative": "CUSUM/EWMA of misses (verified positives)",
    "false_positive": "false positives (verified negatives)",
    "error": "wrong calls (verified cases)",
    "positive_call": "positive calls (all cases)",
    "score_mean": "standardised window mean score",
}
_OBS = {
    "false_negative": "verified positive cases, in order of label arrival",
    "false_positive": "verified negative cases, in order of label arrival",
    "error": "verified cases, in order of label arrival",
    "positive_call": "production cases, in order of arrival",
    "score_mean": "closed windows",
}


def build_context(
    state: dict[str, Any], signatures: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Everything the template prints (formatted by filters, charts as SVG markup)."""
    proto = state["protocol"]["resolved"]
    acks = {a["alarm"]: a for a in state["acknowledgements"]}
    open_ids = {
        a["id"] for a in state["alarms"] if a["severity"] == "alarm" and a["id"] not in acks
    }
    flagged: dict[str, set[str]] = {}
    for a in state["alarms"]:
        if a["window"] and a["severity"] == "alarm":
            flagged.setdefault(a["window"], set()).add(a["rule"])
    perf = _latest_performance(state)
    charts = []
    for spec in proto["charts"]:  # in the protocol's order (monitor.json sorts its keys)
        cid = spec["id"]
        c = state["charts"][cid]
        d = c["design"]
        lower = 0.0
        if d.get("kind") == "ewma" and d.get("zr") is not None and d.get("lam") is not None:
            lower = min(0.0, float(d["zr"]) * (float(d["lam"]) / (2 - float(d["lam"]))) ** 0.5)
        limit = d.get("h", d.get("ucl", d.get("limit")))
        svg = control_chart(
            c["values"],
            limit=float(limit),
            signals=c["signals"],
            times=c["times"],
            title=f"Chart {cid}: {c['kind'].upper()} on {c['indicator']}",
            desc=(
                f"{c['kind'].upper()} statistic over {len(c['values'])} "
                f"{_OBS[c['indicator']]}; limit {limit}; {len(c['signals'])} signal(s)"
            ),
            xlabel=_OBS[c["indicator"]],
            ylabel=c["kind"].upper() + " statistic",
            lower=lower,
        )
        charts.append(
            {
                "id": cid,
                "indicator": c["indicator"],
                "kind": c["kind"],
                "design": d,
                "p0_source": c["p0_source"],
                "limit": limit,
                "n": len(c["values"]),
                "signals": len(c["signals"]),
                "svg": svg,
                "observations": _OBS[c["indicator"]],
            }
        )
    windows = []
    psi_points, rate_points, w1_points = [], [], []
    for w in state["windows"]:
        d = w["drift"]
        snap = perf.get(w["id"])
        rules = flagged.get(w["id"], set())
        share = snap["n_verified"] / snap["n_cases"] if snap and snap["n_cases"] else None
        windows.append({"w": w, "snap": snap, "flag": sorted(rules), "share": share})
        psi = (d.get("psi") or {}).get("psi")
        psi_points.append(WindowPoint(w["id"], psi, flagged="psi" in rules))
        pr = d.get("positive_rate") or {}
        rate_points.append(
            WindowPoint(
                w["id"],
                pr.get("estimate"),
                pr.get("ci_low"),
                pr.get("ci_high"),
                flagged="positive_rate" in rules,
            )
        )
        w1_points.append(WindowPoint(w["id"], d.get("wasserstein"), flagged="wasserstein" in rules))
    drift_rules = proto["drift"]
    drift_charts = []
    if drift_rules.get("psi") is not None and windows:
        lines = [
            (label, drift_rules["psi"][key], color)
            for label, key, color in (
                ("warning above", "warn_above", OKABE_ITO[1]),
                ("alarm above", "alarm_above", OKABE_ITO[6]),
            )
            if drift_rules["psi"].get(key) is not None
        ]
        drift_charts.append(
            window_chart(
                psi_points,
                title="PSI of the scores per window",
                desc="Population stability index of each closed window against "
                "the reference, with the warning and alarm thresholds",
                ylabel="PSI",
                lines=lines,
                lo=0.0,
            )
        )
    if drift_rules.get("positive_rate") is not None and windows:
        ref_rate = state["reference"]["rates"]["positive_call"]
        drift_charts.append(
            window_chart(
                rate_points,
                title="Positive rate at the locked threshold",
                desc="Share of cases called positive per closed window with its "
                "Wilson interval, and the reference rate",
                ylabel="positive rate",
                lines=[("reference", ref_rate, OKABE_ITO[0])],
                lo=0.0,
                hi=1.0,
            )
        )
    perf_charts = []
    metrics = proto["performance"]["metrics"]
    for m in metrics:
        pts = []
        for w in state["windows"]:
            rec = ((perf.get(w["id"]) or {}).get("metrics") or {}).get(m) or {}
            pts.append(
                WindowPoint(
                    w["id"],
                    rec.get("estimate"),
                    rec.get("ci_low"),
                    rec.get("ci_high"),
                    flagged=any(r.startswith(m + "<") for r in flagged.get(w["id"], set())),
                )
            )
        lines = [
            (f"alarm if upper bound below {a['value']}", a["value"], OKABE_ITO[6])
            for a in proto["performance"]["alarms"]
            if a["metric"] == m
        ]
        if m in ("sensitivity", "specificity", "ppv"):
            rate = state["reference"]["rates"]
            ref_value = {
                "sensitivity": None
                if rate.get("false_negative") is None
                else 1 - rate["false_negative"],
                "specificity": None
                if rate.get("false_positive") is None
                else 1 - rate["false_positive"],
                "ppv": None
                if not rate.get("tp", 0) + rate.get("fp", 0)
                else rate["tp"] / (rate["tp"] + rate["fp"]),
            }[m]
            if ref_value is not None:
                lines.append(("reference", ref_value, OKABE_ITO[0]))
        if state["windows"]:
            perf_charts.append(
                {
                    "metric": m,
                    "svg": window_chart(
                        pts,
                        title=f"{m} per window (verified cases)",
                        desc=f"{m} of the verified cases of each closed window with its confidence interval",
                        ylabel=m,
                        lines=lines,
                        lo=0.0,
                        hi=1.0,
                    ),
                }
            )
    mix = []
    for a, ref_counts in state["reference"]["categories"].items():
        recent = state["windows"][-12:]
        cats = sorted(
            set(ref_counts)
            | {
                c
                for w in recent
                for c in ((w["drift"].get("mix") or {}).get(a) or {}).get("categories", [])
            }
        )
        ref_total = sum(ref_counts.values())
        rows = []
        for c in cats:
            cells: list[dict[str, Any] | None] = []
            for w in recent:
                cs = (w["drift"].get("mix") or {}).get(a)
                if cs is None:
                    cells.append(None)
                    continue
                total = sum(cs["window_counts"])
                count = dict(zip(cs["categories"], cs["window_counts"], strict=True)).get(c, 0)
                cells.append(
                    {
                        "share": count / total if total else None,
                        "count": count,
                        "new": c in cs["new"],
                    }
                )
            rows.append(
                {
                    "category": c,
                    "reference": ref_counts.get(c, 0) / ref_total if ref_total else None,
                    "reference_count": ref_counts.get(c, 0),
                    "cells": cells,
                    "new": c not in ref_counts,
                }
            )
        mix.append(
            {
                "attribute": a,
                "windows": [w["id"] for w in recent],
                "rows": rows,
                "tests": [(w["id"], (w["drift"].get("mix") or {}).get(a)) for w in recent],
            }
        )
    cases = state["cases"]
    n_cases = len(cases["key"])
    n_verified = sum(v is not None for v in cases["label"])
    return {
        "state": state,
        "monitor": state["monitor"],
        "proto": proto,
        "status": "alarm" if open_ids else "in control",
        "open_alarms": [a for a in state["alarms"] if a["id"] in open_ids],
        "alarms": [{**a, "ack": acks.get(a["id"])} for a in state["alarms"]],
        "charts": charts,
        "windows": windows,
        "drift_charts": drift_charts,
        "perf_charts": perf_charts,
        "mix": mix,
        "n_cases": n_cases,
        "n_verified": n_verified,
        "verified_share": n_verified / n_cases if n_cases else None,
        "caveat": VERIFICATION_CAVEAT,
        "last_run": state["runs"][-1] if state["runs"] else None,
        "reference": state["reference"],
        "metrics": metrics,
        "signatures": list(signatures or []),
        "psi_bins": None
        if state["reference"]["psi_edges"] is None
        else len(state["reference"]["psi_edges"]) - 1,
    }


def render_monitor_html(
    state: dict[str, Any], *, signatures: list[dict[str, Any]] | None = None
) -> str:
    """The monitoring report's HTML for a ``monitor.json`` record (deterministic).

    ``signatures``: the folder's ``sign`` entries (printed name, role, meaning, time, whether
    each signs this record), shown in the last section.
    """
    return _env().get_template("monitor.html.j2").render(**build_context(state, signatures))

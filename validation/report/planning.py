"""The report's sample-size section (STARD 2015 item 18): planned against achieved counts.

Reads the ``planning`` block of ``results.json`` (written by
:mod:`validation.study.planning`) and arranges it for ``sections/planning.html.j2``:
per planned endpoint, the method and its inputs, the cases needed and those the analysis
set has, the target power and the power at the achieved counts, and the plan in words.
Without a ``planning`` block the protocol's free-text ``sample_size_justification`` is
shown instead; with neither, the section is absent. Nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from validation.report._helpers import get
from validation.report.format import DASH, num

__all__ = ["planning_section"]

_METHODS = {
    "precision": "CI precision (Buderer 1996)",
    "goal": "Lower bound exceeds a goal",
    "auc": "One AUC against a null (Obuchowski)",
    "paired_auc": "Paired AUCs (Obuchowski & McClish 1997)",
    "paired_proportions": "Paired proportions (Connor 1987 / Nam 1997)",
    "mrmc": "Reader study: readers x cases (Hillis, Obuchowski & Berbaum 2011)",
}


def _counts(rec: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    rec = rec or {}
    return [
        (what, DASH if rec.get(key) is None else str(rec[key]))
        for what, key in (("positives", "positives"), ("negatives", "negatives"))
    ]


def _inputs(inputs: Mapping[str, Any]) -> str:
    shown = []
    for key, value in inputs.items():
        if value is None:
            continue
        if isinstance(value, Mapping):  # the OR variance components of an mrmc plan
            text = "(" + ", ".join(f"{k} {v:.3g}" for k, v in value.items()) + ")"
        else:
            text = num(value, 4) if isinstance(value, float) else str(value)
        shown.append(f"{key.replace('_', ' ')} {text}")
    return "; ".join(shown)


def _row(rec: Mapping[str, Any]) -> dict[str, Any]:
    required, achieved = _counts(rec.get("required")), _counts(rec.get("achieved"))
    constrained = [
        f"{need[0]}: {have[1]} of {need[1]}"
        for need, have in zip(required, achieved, strict=True)
        if need[1] != DASH
    ]
    if rec.get("method") == "mrmc":
        need, have = rec.get("required") or {}, rec.get("achieved") or {}
        cases = DASH if need.get("total") is None else need.get("total")
        constrained = [
            f"readers: {have.get('readers')} of {need.get('readers')}",
            f"cases per reader: {have.get('total')} of {cases}",
        ]
    power = rec.get("achieved_power")
    return {
        "endpoint": rec.get("endpoint"),
        "method": _METHODS.get(str(rec.get("method")), str(rec.get("method"))),
        "inputs": _inputs(rec.get("inputs") or {}),
        "counts": "; ".join(constrained),
        "total": get(rec, "required", "total"),
        "target_power": rec.get("target_power"),
        "planned_power": rec.get("power"),
        "achieved_power": power,
        "adequate": bool(rec.get("adequate")),
        "statement": rec.get("statement") or "",
        "note": rec.get("note"),
    }


def planning_section(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section's view model, or None when the study states no sample-size rationale."""
    block = doc.get("planning")
    justification = get(doc, "study", "sample_size_justification")
    if block is None:
        if not justification:
            return None
        return {"rows": [], "justification": justification, "short": []}
    rows = [_row(r) for r in block.get("endpoints") or []]
    return {
        "rows": rows,
        "justification": None,
        "n_positive": block.get("n_positive"),
        "n_negative": block.get("n_negative"),
        "short": [r["endpoint"] for r in rows if not r["adequate"]],
    }

"""Jinja filters that format numbers and decisions for the report (presentation only).

Templates do no arithmetic: every number reaches the page through one of these
filters, so estimates, intervals and p-values look the same everywhere, e.g.
``0.912 (95% CI 0.874–0.941)``. A value a method does not define (``null`` in
``results.json``) prints as an em dash; the string ``"inf"`` prints as ``∞``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

DASH = "\u2014"
EN = "\u2013"

DECISION_TEXT = {
    "pass": "PASS",
    "fail": "FAIL",
    "not_estimable": "NOT ESTIMABLE",
    "not_tested": "NOT TESTED",
    "informational": "INFORMATIONAL",
    "exploratory": "EXPLORATORY",
    "ok": "OK",
    "pending": "PENDING",
}

__all__ = [
    "badge",
    "wbr",
    "ci_text",
    "est_ci",
    "num",
    "pct",
    "pvalue",
    "yesno",
]


def _value(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x)


def num(x: Any, digits: int = 3) -> str:
    """A number with a fixed number of decimals; null -> em dash, ``"inf"`` -> ∞."""
    if x is None:
        return DASH
    if isinstance(x, str):
        if x in ("inf", "Infinity"):
            return "\u221e"
        if x in ("-inf", "-Infinity"):
            return "\u2212\u221e"
        return x
    v = _value(x)
    if v is None:
        return str(x)
    if isinstance(x, int) and digits == 0:
        return f"{x:d}"
    text = f"{v:.{digits}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def count(x: Any) -> str:
    """An integer count with thin grouping (e.g. ``12,345``); null -> em dash."""
    if x is None:
        return DASH
    v = _value(x)
    return f"{int(v):,}" if v is not None else str(x)


def pct(x: Any, digits: int = 0) -> str:
    """A proportion as a percentage (``0.95`` -> ``95%``); null -> em dash."""
    v = _value(x)
    if v is None:
        return DASH
    return f"{v * 100:.{digits}f}%"


def ci_text(rec: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``95% CI 0.874–0.941`` from a record with ``ci_low``, ``ci_high``, ``confidence_level``."""
    if not rec or rec.get("ci_low") is None or rec.get("ci_high") is None:
        return "CI not available"
    level = rec.get("confidence_level")
    prefix = (
        f"{pct(level, 0 if level is None or round(level * 100) == level * 100 else 1)} CI"
        if level
        else "CI"
    )
    return f"{prefix} {num(rec['ci_low'], digits)}{EN}{num(rec['ci_high'], digits)}"


def est_ci(rec: Mapping[str, Any] | None, key: str = "estimate", digits: int = 3) -> str:
    """``0.912 (95% CI 0.874–0.941)``; an estimate without an interval prints alone."""
    if not rec:
        return DASH
    est = rec.get(key)
    if est is None:
        return DASH
    if rec.get("ci_low") is None or rec.get("ci_high") is None:
        return num(est, digits)
    return f"{num(est, digits)} ({ci_text(rec, digits)})"


def pvalue(p: Any) -> str:
    """p-values: ``<0.001`` below a thousandth, otherwise three decimals; null -> em dash."""
    v = _value(p)
    if v is None:
        return DASH
    if v < 0.001:
        return "<0.001"
    return f"{v:.3f}"


def yesno(x: Any) -> str:
    """Booleans as words (null -> em dash)."""
    if x is None:
        return DASH
    return "yes" if x else "no"


def badge(decision: Any) -> Markup:
    """A decision as a coloured badge that also carries the decision in words."""
    key = str(decision) if decision is not None else "none"
    text = DECISION_TEXT.get(key, key.replace("_", " ").upper() if decision is not None else DASH)
    css = key if key in DECISION_TEXT else "other"
    return Markup('<span class="badge badge-{}">{}</span>').format(css, escape(text))


def wbr(text: Any) -> Markup:
    """Escape an identifier and allow line breaks after ``_``, ``-`` and ``.`` (long ids in tables)."""
    out = str(escape("" if text is None else str(text)))
    for ch in ("_", "-", "."):
        out = out.replace(ch, ch + "<wbr>")
    return Markup(out)


FILTERS = {
    "wbr": wbr,
    "num": num,
    "count": count,
    "pct": pct,
    "ci_text": ci_text,
    "est_ci": est_ci,
    "pvalue": pvalue,
    "yesno": yesno,
    "badge": badge,
}

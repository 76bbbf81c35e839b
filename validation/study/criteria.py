"""Acceptance criteria and decisions: one criterion record per endpoint, then multiplicity.

An endpoint's criterion acts on a confidence bound (``accept``) or a one-sided test
(``test``), never on a bare point estimate (``DESIGN.md`` §4). :func:`criterion_record`
states it in words; :func:`apply_decisions` decides every endpoint and applies the
protocol's multiplicity strategy (Holm or a fixed sequence) to the primary endpoints,
producing the ``verdict``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from validation.protocol.schema import Accept, Endpoint, Multiplicity
from validation.stats import multiplicity as mstats
from validation.stats._results import Estimate
from validation.stats.registry import MetricSpec

__all__ = [
    "OPS",
    "EndpointOutcome",
    "apply_decisions",
    "bound_holds",
    "criterion_record",
    "criterion_text",
]

#: The comparison operators an acceptance bound may use.
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass
class EndpointOutcome:
    """Everything the runner learned about one endpoint (before multiplicity)."""

    record: dict[str, Any]
    comparison: dict[str, Any] | None = None
    bound_holds: bool | None = None
    test_p: float | None = None
    test_level: float | None = None
    estimable: bool = True
    notes: list[str] = field(default_factory=list)


def bound_holds(accept: Accept, est: Estimate) -> bool:
    """Whether the declared bound of the interval satisfies the criterion."""
    return bool(OPS[accept.op](float(getattr(est, accept.bound)), accept.value))


def criterion_text(ep: Endpoint, spec: MetricSpec) -> str:
    """The endpoint's acceptance criterion in words (the report and the CLI show it)."""
    if ep.accept is not None and ep.test is None:
        a = ep.accept
        return f"{a.bound} of {ep.metric} ({ep.ci.confidence_level:.0%} CI) {a.op} {a.value:g}"
    t = ep.test
    if t is None:
        raise ValueError(f"endpoint {ep.id!r} has neither an accept bound nor a test")
    better = ">" if spec.direction == "higher_is_better" else "<"
    sign = "-" if better == ">" else "+"
    if ep.compare_to is not None:
        rhs = f"{ep.metric}(baseline)" + (f" {sign} {t.margin:g}" if t.margin else "")
        text = f"H1: {ep.metric}(model) {better} {rhs} ({t.kind}), one-sided p < {t.significance_level:g}"
    else:
        if t.null_value is None:
            raise ValueError(f"endpoint {ep.id!r}: a one-sample test needs a null_value")
        rhs = f"{t.null_value:g}" + (f" {sign} {t.margin:g}" if t.margin else "")
        text = f"H1: {ep.metric} {better} {rhs} ({t.kind}), one-sided p < {t.significance_level:g}"
    if ep.accept is not None:
        a = ep.accept
        text += f"; and {a.bound} {a.op} {a.value:g}"
    return text


def criterion_record(ep: Endpoint, spec: MetricSpec) -> dict[str, Any] | None:
    """The ``criterion`` record of an endpoint (``None`` when it declares none)."""
    if ep.accept is None and ep.test is None:
        return None
    return {
        "kind": "test" if ep.test is not None else "bound",
        "text": criterion_text(ep, spec),
        "holds": None,
    }


def _own_decision(out: EndpointOutcome, level: float | None) -> str:
    if not out.estimable:
        return "not_estimable"
    holds = []
    if out.bound_holds is not None:
        holds.append(out.bound_holds)
    if out.test_level is not None:
        alpha = level if level is not None else out.test_level
        holds.append(out.test_p is not None and out.test_p <= alpha)
    if not holds:
        return "informational"
    return "pass" if all(holds) else "fail"


def apply_decisions(
    outcomes: dict[str, EndpointOutcome], primaries: list[str], mult: Multiplicity
) -> dict[str, Any]:
    """Decide every endpoint; apply the multiplicity strategy to the primaries.

    Returns the ``verdict`` record. Secondary endpoints are decided at their own
    level and never affect the verdict; exploratory ones are informational.
    """
    method = mult.method
    alpha = mult.significance_level
    adjusted: dict[str, float | None] = {k: None for k in primaries}
    family_level: float | None = None
    if method == "holm":
        ids = [k for k in primaries if outcomes[k].test_p is not None]
        if ids:
            holm = mstats.adjust_pvalues(
                [float(outcomes[k].test_p or 0.0) for k in ids], method="holm"
            )
            adjusted.update(
                {k: float(v) for k, v in zip(ids, np.asarray(holm, dtype=float), strict=True)}
            )
        family_level = alpha
    for key, out in outcomes.items():
        rec = out.record
        level = family_level if (key in primaries and method == "holm") else None
        if key in primaries and method == "holm" and out.test_level is not None:
            p = adjusted.get(key)
            rec["p_adjusted"] = p
            held = out.bound_holds is not False and p is not None and p <= alpha
            decision = "not_estimable" if not out.estimable else ("pass" if held else "fail")
        elif key in primaries and method == "fixed-sequence":
            decision = _own_decision(out, alpha if out.test_level is not None else None)
        else:
            decision = _own_decision(out, level)
        if rec["role"] == "exploratory" and decision in ("pass", "fail"):
            decision = "informational"
        rec["decision"] = decision
    if method == "fixed-sequence":
        if mult.order is None:
            raise ValueError("multiplicity: fixed-sequence needs an order")
        tested = [k for k in mult.order if outcomes[k].test_p is not None]
        if tested:
            fs = mstats.fixed_sequence(
                [float(outcomes[k].test_p or 0.0) for k in tested], significance_level=alpha
            )
            for k, p_fs in zip(tested, fs.p_adjusted, strict=True):
                outcomes[k].record["p_adjusted"] = float(p_fs)
        open_gate = True
        stopped_at = None
        for key in mult.order:
            rec = outcomes[key].record
            if not open_gate:
                # The sequence stopped before this hypothesis: it is not tested (its own
                # result stays in the record), and the verdict cannot pass.
                rec["decision"] = "not_tested"
                rec["details"]["fixed_sequence"] = (
                    f"not tested: the fixed sequence stopped at {stopped_at!r}, which was not rejected"
                )
                continue
            if rec["decision"] != "pass":
                open_gate = False
                stopped_at = key
    for out in outcomes.values():
        crit = out.record.get("criterion")
        if crit is not None:
            crit["holds"] = {"pass": True, "fail": False}.get(out.record["decision"])
        if out.comparison is not None:
            out.comparison["decision"] = out.record["decision"]
    order = mult.order if method == "fixed-sequence" and mult.order else primaries
    primary = [
        {
            "endpoint_id": k,
            "decision": outcomes[k].record["decision"],
            "p_value": outcomes[k].record["p_value"],
            "p_adjusted": outcomes[k].record["p_adjusted"],
        }
        for k in order
    ]
    ok = all(p["decision"] == "pass" for p in primary)
    return {
        "decision": "pass" if ok else "fail",
        "multiplicity": method,
        "significance_level": alpha,
        "primary": primary,
    }

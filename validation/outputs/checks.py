"""The pass/fail checks a CI system sees: one per criterion of a study and per gate rule.

:func:`study_checks` turns a ``results.json`` document into one :class:`Check` per primary
and secondary endpoint that carries an acceptance criterion (endpoints without one are
informational: there is nothing to pass or fail), plus one for the verdict.
:func:`gate_checks` does the same for a release-gate record (``radval.gate/1``): one per
overall non-inferiority comparison, one per subgroup cell of the regression rule, and one
for the gate decision. The JUnit and Markdown writers render these; nothing here computes
a statistic, it only reads the records the study runner and the gate wrote.

Outcomes: ``pass``; ``fail``; ``skipped`` for a decision that is neither (``not_tested``
after a fixed testing sequence stopped, ``not_estimable`` with the reason, a subgroup cell
below the guardrails). The verdict check fails whenever the verdict fails, so a report
whose only non-passing primary endpoint is skipped (NOT TESTED) is still red.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from validation.gate import decision_text

Outcome = Literal["pass", "fail", "skipped"]

#: Endpoint roles that carry criteria a CI system reports.
REPORTED_ROLES = ("primary", "secondary")


@dataclass(frozen=True)
class Check:
    """One criterion or gate rule as a CI system sees it.

    Attributes
    ----------
    group : str
        ``primary``, ``secondary``, ``comparison``, ``subgroup`` or ``verdict``.
    name : str
        The endpoint id, comparison id, ``ATTRIBUTE=GROUP`` or ``verdict``.
    outcome : {"pass", "fail", "skipped"}
        How a CI system shows it.
    decision : str
        radval's own decision (``pass``, ``fail``, ``not_tested``, ``not_estimable``,
        ``ok``, ``regression``, ``insufficient`` ...).
    message : str
        One line: decision, what was checked, estimate, bound and the reason.
    details : tuple of str
        The full record, one fact per line.
    """

    group: str
    name: str
    outcome: Outcome
    decision: str
    message: str
    details: tuple[str, ...] = ()


def num(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; ``n/a`` for a value a method does not define."""
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return {"inf": "inf", "-inf": "-inf"}.get(x, x)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "n/a")
    return f"{x:.{digits}g}"


def signed(x: Any, digits: int = 4) -> str:
    """A difference with its sign (``+0.0118``, ``-0.021``)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
        return f"{x:+.{digits}g}"
    return num(x, digits)


def pvalue(p: Any) -> str:
    """A p-value with three significant digits."""
    return num(p, 3)


def level_text(confidence_level: Any) -> str:
    """``95%`` for 0.95."""
    if isinstance(confidence_level, (int, float)) and not isinstance(confidence_level, bool):
        return f"{confidence_level * 100:.3g}%"
    return "n/a"


def ci_text(rec: Mapping[str, Any]) -> str:
    """``0.8369 to 0.9237`` (``n/a`` when an end is undefined)."""
    return f"{num(rec.get('ci_low'))} to {num(rec.get('ci_high'))}"


def _accept_rules(resolved: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``endpoint id -> accept`` over the protocol's endpoint lists.

    The lists are the standalone, detection and segmentation endpoints.
    """
    rules: dict[str, Mapping[str, Any]] = {}
    lists: list[Any] = [resolved.get("endpoints")]
    for block in ("detection", "segmentation"):
        sub = resolved.get(block)
        if isinstance(sub, Mapping):
            lists.append(sub.get("endpoints"))
    for items in lists:
        for ep in items or []:
            if isinstance(ep, Mapping) and isinstance(ep.get("accept"), Mapping):
                rules[str(ep.get("id"))] = ep["accept"]
    return rules


_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


def _bound_fact(ep: Mapping[str, Any], accept: Mapping[str, Any]) -> str:
    bound, op, goal = str(accept.get("bound")), str(accept.get("op")), accept.get("value")
    value = ep.get(bound)
    if not isinstance(value, (int, float)) or not isinstance(goal, (int, float)) or op not in _OPS:
        return f"bound {bound} {num(value)} (goal {op} {num(goal)})"
    holds = _OPS[op](value, goal)
    shown = op if holds else _NEGATED[op]
    return (
        f"bound {bound} {num(value)} {shown} {num(goal)} ({'holds' if holds else 'does not hold'})"
    )


def _level(ep: Mapping[str, Any], verdict: Mapping[str, Any]) -> Any:
    """The one-sided level the endpoint's test was decided at (family level for primaries)."""
    hyp = ep.get("hypothesis") or {}
    if ep.get("role") == "primary" and verdict.get("multiplicity") in ("holm", "fixed-sequence"):
        return verdict.get("significance_level")
    return hyp.get("significance_level") if isinstance(hyp, Mapping) else None


def _endpoint_check(
    ep: Mapping[str, Any], accept: Mapping[str, Any] | None, verdict: Mapping[str, Any]
) -> Check:
    decision = str(ep.get("decision"))
    crit = ep.get("criterion") or {}
    details_rec = ep.get("details") or {}
    level = f"{level_text(ep.get('confidence_level'))} CI"
    facts = [
        f"criterion: {crit.get('text')}",
        f"estimate: {num(ep.get('estimate'))} ({ep.get('metric')}), {level} {ci_text(ep)}, "
        f"method {ep.get('method')}, n {num(ep.get('n'))}",
    ]
    short = [f"estimate {num(ep.get('estimate'))}", f"{level} {ci_text(ep)}"]
    if accept is not None:
        fact = _bound_fact(ep, accept)
        facts.append(fact)
        short.append(fact)
    comp = details_rec.get("comparison") if isinstance(details_rec, Mapping) else None
    if isinstance(comp, Mapping) and comp.get("difference") is not None:
        margin = comp.get("margin")
        base = comp.get("estimate_b")
        diff = (
            f"difference {signed(comp.get('difference'))} vs "
            f"{'baseline ' + num(base) if base is not None else 'reference'}"
            f" ({level_text(comp.get('confidence_level'))} CI {ci_text(comp)})"
        )
        if margin:
            diff += f", margin {num(margin)}"
        facts.append(diff)
        short.append(diff)
    if ep.get("p_value") is not None:
        p = f"one-sided p {pvalue(ep.get('p_value'))}"
        if ep.get("p_adjusted") is not None:
            p += f" (adjusted {pvalue(ep.get('p_adjusted'))}, {verdict.get('multiplicity')})"
        alpha = _level(ep, verdict)
        if alpha is not None:
            p += f", level {num(alpha)}"
        facts.append(p)
        short.append(p)
    reason = None
    if decision == "not_tested":
        reason = str(details_rec.get("fixed_sequence") or "not tested")
    elif decision == "not_estimable":
        reason = str(details_rec.get("reason") or "not estimable")
    if reason is not None:
        facts.append(f"reason: {reason}")
    facts.append(f"decision: {decision_text(decision)}")
    outcome: Outcome = (
        "pass" if decision == "pass" else ("fail" if decision == "fail" else "skipped")
    )
    head = f"{decision_text(decision)}: {ep.get('id')}: {crit.get('text')}"
    tail = reason if reason is not None else "; ".join(short)
    return Check(
        group=str(ep.get("role")),
        name=str(ep.get("id")),
        outcome=outcome,
        decision=decision,
        message=f"{head}: {tail}",
        details=tuple(facts),
    )


def study_checks(doc: Mapping[str, Any]) -> list[Check]:
    """One :class:`Check` per primary and secondary criterion of a results document, and verdict.

    Parameters
    ----------
    doc : mapping
        A ``results.json`` document (``radval.results/1``, as
        :func:`validation.results.read_results_document` returns it).

    Returns
    -------
    list of Check
        Primary criteria first (in the verdict's order), then secondary ones, then ``verdict``.
    """
    verdict = doc.get("verdict") or {}
    rules = _accept_rules(((doc.get("protocol") or {}).get("resolved")) or {})
    endpoints = [
        e
        for e in doc.get("endpoints") or []
        if e.get("role") in REPORTED_ROLES and e.get("criterion") is not None
    ]
    order = {p.get("endpoint_id"): i for i, p in enumerate(verdict.get("primary") or [])}
    endpoints.sort(
        key=lambda e: (REPORTED_ROLES.index(e["role"]), order.get(e.get("id"), len(order)))
    )
    checks = [_endpoint_check(e, rules.get(str(e.get("id"))), verdict) for e in endpoints]
    decision = str(verdict.get("decision"))
    primary = list(verdict.get("primary") or [])
    others = [
        f"{p.get('endpoint_id')} ({decision_text(p.get('decision'))})"
        for p in primary
        if p.get("decision") != "pass"
    ]
    facts = [
        f"primary endpoint {p.get('endpoint_id')}: {decision_text(p.get('decision'))}"
        for p in primary
    ]
    facts.append(
        f"multiplicity: {verdict.get('multiplicity')}, one-sided family level "
        f"{num(verdict.get('significance_level'))}"
    )
    if decision == "pass":
        msg = f"PASS: every primary criterion holds ({len(primary)} primary endpoint(s))"
    else:
        msg = (
            "FAIL: not every primary criterion holds: " + ", ".join(others)
            if others
            else "FAIL: the verdict fails"
        )
    checks.append(
        Check(
            group="verdict",
            name="verdict",
            outcome="pass" if decision == "pass" else "fail",
            decision=decision,
            message=msg,
            details=tuple(facts),
        )
    )
    return checks


def _comparison_check(c: Mapping[str, Any], gate: Mapping[str, Any]) -> Check:
    decision = str(c.get("decision"))
    margin = c.get("margin")
    alpha = gate.get("significance_level")
    level = f"{level_text(c.get('confidence_level'))} CI"
    rule = (
        f"H1: {c.get('id')}(candidate) - {c.get('id')}(baseline) > -{num(margin)} "
        f"(non-inferiority, {c.get('method')}), one-sided p <= {num(alpha)}"
    )
    facts = [
        f"rule: {rule}",
        f"estimate: candidate {num(c.get('estimate_a'))}, baseline {num(c.get('estimate_b'))}, n "
        f"{num(c.get('n'))}",
        f"difference: {signed(c.get('difference'))} ({level} {ci_text(c)}); bound ci_low "
        f"{num(c.get('ci_low'))} vs -margin "
        f"{num(-margin if isinstance(margin, (int, float)) else None)}",
        f"one-sided p {pvalue(c.get('p_value'))}, level {num(alpha)}",
        f"decision: {decision_text(decision)}",
    ]
    thresholds = c.get("thresholds")
    if isinstance(thresholds, Mapping):
        facts.insert(
            2,
            f"thresholds: candidate {num(thresholds.get('candidate'))}, baseline "
            f"{num(thresholds.get('baseline'))}",
        )
    msg = (
        f"{decision_text(decision)}: {c.get('id')} non-inferiority: candidate "
        f"{num(c.get('estimate_a'))} "
        f"vs baseline {num(c.get('estimate_b'))}, difference {signed(c.get('difference'))} "
        f"({level} "
        f"{ci_text(c)}), margin {num(margin)}, one-sided p {pvalue(c.get('p_value'))} (level "
        f"{num(alpha)})"
    )
    outcome: Outcome = (
        "pass" if decision == "pass" else ("fail" if decision == "fail" else "skipped")
    )
    return Check(
        group="comparison",
        name=str(c.get("id")),
        outcome=outcome,
        decision=decision,
        message=msg,
        details=tuple(facts),
    )


def _subgroup_check(r: Mapping[str, Any], gate: Mapping[str, Any]) -> Check:
    status = str(r.get("status"))
    name = f"{r.get('attribute')}={r.get('group')}"
    counts = f"n {num(r.get('n'))} ({num(r.get('n_pos'))} positive, {num(r.get('n_neg'))} negative)"
    rule = gate.get("subgroup_rule") or {}
    facts = [
        f"rule: {rule.get('test')}; regression when {rule.get('regression_when')} "
        f"({rule.get('adjustment')}-adjusted)",
        counts,
    ]
    if "p_value" in r:
        facts += [
            f"difference: {signed(r.get('difference'))} ({level_text(r.get('confidence_level'))} "
            "CI "
            f"{ci_text(r)})",
            f"one-sided p {pvalue(r.get('p_value'))}, adjusted {pvalue(r.get('p_adjusted'))}, "
            "level "
            f"{num(gate.get('significance_level'))}",
        ]
    if r.get("reason"):
        facts.append(f"reason: {r.get('reason')}")
    facts.append(f"status: {decision_text(status)}")
    if status == "regression":
        outcome: Outcome = "fail"
        msg = (
            f"REGRESSION: subgroup {name}: difference {signed(r.get('difference'))} "
            f"({level_text(r.get('confidence_level'))} CI {ci_text(r)}), one-sided p "
            f"{pvalue(r.get('p_value'))}, adjusted {pvalue(r.get('p_adjusted'))} <= "
            f"{num(gate.get('significance_level'))}"
        )
    elif status == "ok":
        outcome = "pass"
        msg = (
            f"OK: subgroup {name}: difference {signed(r.get('difference'))}, adjusted p "
            f"{pvalue(r.get('p_adjusted'))}"
        )
    else:
        outcome = "skipped"
        msg = f"{decision_text(status)}: subgroup {name}: {r.get('reason') or status} ({counts})"
    return Check(
        group="subgroup",
        name=name,
        outcome=outcome,
        decision=status,
        message=msg,
        details=tuple(facts),
    )


def gate_checks(gate: Mapping[str, Any]) -> list[Check]:
    """One :class:`Check` per gate rule of a release-gate record, and the gate decision.

    Parameters
    ----------
    gate : mapping
        The record :func:`validation.gate.run_gate` returns (``radval.gate/1``, the content
        of ``gate.json``).

    Returns
    -------
    list of Check
        The overall comparisons, the subgroup cells, then ``verdict``.
    """
    checks = [_comparison_check(c, gate) for c in gate.get("comparisons") or []]
    checks += [_subgroup_check(r, gate) for r in gate.get("subgroups") or []]
    decision = str(gate.get("decision"))
    failed = [
        c.name if c.group != "subgroup" else f"subgroup {c.name}"
        for c in checks
        if c.outcome == "fail"
    ]
    facts: Sequence[str] = [f"{c.name}: {decision_text(c.decision)}" for c in checks]
    if decision == "pass":
        msg = (
            f"PASS: the candidate is non-inferior to the baseline on {gate.get('n_cases')} paired "
            "cases "
            "and no subgroup regresses"
        )
    else:
        msg = "FAIL: release gate: " + (", ".join(failed) if failed else "a rule does not hold")
    checks.append(
        Check(
            group="verdict",
            name="release gate",
            outcome="pass" if decision == "pass" else "fail",
            decision=decision,
            message=msg,
            details=tuple(facts) + tuple(f"warning: {w}" for w in gate.get("warnings") or []),
        )
    )
    return checks

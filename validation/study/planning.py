"""The planning stage of a run: planned against achieved sample size (STARD 2015 item 18).

For each entry of the protocol's ``planning:`` block, :func:`planning_record` recomputes
the plan (:func:`validation.protocol.sizing.compute_plan`), counts the positives and
negatives the analysis set actually has, and gives the power the planned analysis has at
those counts (:func:`validation.protocol.sizing.achieved_power`). The block goes into
``results.json`` as ``planning``; the report prints it. :func:`shortfall` is the message
``radval protocol check`` gives when the declared test set is smaller than planned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from validation.protocol.planning import EndpointPlan
from validation.protocol.schema import Protocol
from validation.protocol.sizing import (
    PlannedCounts,
    achieved_power,
    compute_plan,
    mrmc_achieved_power,
    plan_statement,
)

__all__ = ["mrmc_shortfall", "planning_record", "shortfall"]


def _adequate(plan: PlannedCounts, power: float | None, n_positive: int, n_negative: int) -> bool:
    """Power at the counts reaches the target; for a precision plan, the counts are met."""
    if plan.target_power is not None and power is not None:
        return power >= plan.target_power
    return (plan.positives is None or n_positive >= plan.positives) and (
        plan.negatives is None or n_negative >= plan.negatives
    )


def _needs(plan: PlannedCounts, n_positive: int, n_negative: int) -> str:
    parts = []
    for what, need, have in (
        ("positive", plan.positives, n_positive),
        ("negative", plan.negatives, n_negative),
    ):
        if need is not None:
            parts.append(f"{have} {what} case(s), the plan needs {need}")
    return "; ".join(parts)


def shortfall(
    protocol: Protocol, entry: EndpointPlan, *, n_positive: int, n_negative: int
) -> str | None:
    """Why a test set with these counts is too small for a plan (None when it is not).

    Too small: the power of the planned analysis at the counts is below the target (for
    a precision plan, which has no power: fewer cases than planned).
    """
    if entry.method == "mrmc":
        return None  # the reader study's readers and cases: see mrmc_shortfall
    plan = compute_plan(protocol, entry)
    power = achieved_power(plan, n_positive=n_positive, n_negative=n_negative)
    if _adequate(plan, power, n_positive, n_negative):
        return None
    text = (
        f"the test set is smaller than planned for endpoint {plan.endpoint!r} "
        f"({plan.method}): it has {_needs(plan, n_positive, n_negative)}"
    )
    if plan.target_power is not None:
        shown = "not estimable" if power is None else f"{power:.3f}"
        text += f"; power at these counts {shown}, target {plan.target_power:g}"
    return text


def mrmc_shortfall(
    protocol: Protocol, entry: EndpointPlan, *, n_readers: int, n_cases: int
) -> str | None:
    """Why a reader study with these readers and cases is too small for its ``mrmc`` plan."""
    plan = compute_plan(protocol, entry)
    power = mrmc_achieved_power(plan, n_readers=n_readers, n_cases=n_cases)
    if power is not None and plan.target_power is not None and power >= plan.target_power:
        return None
    shown = "not estimable" if power is None else f"{power:.3f}"
    return (
        f"the reader study is smaller than planned for endpoint {plan.endpoint!r} (mrmc): "
        f"{n_readers} reader(s) x {n_cases} case(s), the plan has {plan.readers} x "
        f"{plan.total}; power at these counts {shown}, target {plan.target_power:g}"
    )


def _mrmc_row(plan: PlannedCounts, reader_study: dict[str, Any] | None) -> dict[str, Any]:
    """``achieved``, ``achieved_power`` and ``adequate`` of a reader-study plan."""
    readers = len((reader_study or {}).get("readers") or [])
    cases = int((reader_study or {}).get("n_cases") or 0)
    power = mrmc_achieved_power(plan, n_readers=readers, n_cases=cases)
    target = plan.target_power
    return {
        "achieved": {"positives": None, "negatives": None, "total": cases, "readers": readers},
        "achieved_power": power,
        "adequate": power is not None and target is not None and power >= target,
    }


def planning_record(
    protocol: Protocol, y_true: np.ndarray, *, reader_study: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The ``planning`` block of ``results.json`` (None when the protocol plans nothing).

    ``y_true`` is the reference standard of the analysis set (after exclusions and the
    missing-output policy): the counts achieved. ``reader_study`` is the run's
    ``reader_study`` record, whose readers and cases an ``mrmc`` plan is checked against.
    """
    if not protocol.planning:
        return None
    n_pos = int(np.count_nonzero(y_true == 1))
    n_neg = int(np.count_nonzero(y_true == 0))
    rows = []
    for entry in protocol.planning:
        plan = compute_plan(protocol, entry)
        if entry.method == "mrmc":
            record = plan.to_dict()
            record.update(statement=plan_statement(plan), note=entry.note)
            record.update(_mrmc_row(plan, reader_study))
            rows.append(record)
            continue
        power = achieved_power(plan, n_positive=n_pos, n_negative=n_neg)
        record = plan.to_dict()
        record.update(
            statement=plan_statement(plan),
            note=entry.note,
            achieved={"positives": n_pos, "negatives": n_neg, "total": n_pos + n_neg},
            achieved_power=power,
            adequate=_adequate(plan, power, n_pos, n_neg),
        )
        rows.append(record)
    return {"n_positive": n_pos, "n_negative": n_neg, "endpoints": rows}

"""Disparities of each group against its reference, and fairlearn's fairness measures.

A group's metric is compared with its reference (all other cases, or a declared group) on
the shared resamples of :mod:`.replicates`: difference and ratio with percentile intervals
and a Wald p-value from the bootstrap standard error. fairlearn's
``equalized_odds_difference`` and ``demographic_parity_difference`` are reproduced from the
groups' confusion counts (max - min of the group rates, fairlearn's ``between_groups`` /
``worst_case`` definitions), so that the same formula runs on every resample; the tests
check equality with fairlearn's functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats as _sstats

from validation.stats import bootstrap as _bootstrap
from validation.stats.registry import MetricSpec
from validation.stats.subgroups import cells as _eng
from validation.stats.subgroups.estimates import Estimability, Guardrails
from validation.stats.subgroups.groups import Partition, Units
from validation.stats.subgroups.replicates import UnitReplicates

DISPARITY_COLUMNS = [
    "attribute",
    "group",
    "reference",
    "metric",
    "estimate",
    "reference_estimate",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "weaker",
    "flagged",
    "n_resamples_undefined",
    "status",
    "reason",
    "prespecified",
]
FAIRNESS_COLUMNS = [
    "attribute",
    "measure",
    "estimate",
    "ci_low",
    "ci_high",
    "n_groups",
    "groups_excluded",
    "n_resamples_undefined",
    "status",
    "reason",
    "prespecified",
]
FAIRNESS_MEASURES = ("equalized_odds_difference", "demographic_parity_difference")


@dataclass(frozen=True)
class DisparityContext:
    """Everything the disparity and fairness rows of one analysis share."""

    units: Units
    status: Estimability
    replicates: UnitReplicates
    guard: Guardrails
    level: float


@dataclass(frozen=True)
class _Target:
    """One group of a partition and what it is compared with."""

    attribute: str
    group: str
    unit: int
    reference_unit: int | None  # None: the rest of the cases
    reference_label: str | None
    prespecified: bool


def _problems(ctx: DisparityContext, t: _Target, j: int, spec: MetricSpec) -> list[str]:
    problems = []
    u, ref_u = t.unit, t.reference_unit
    if not ctx.status.estimable[u, j]:
        problems.append(f"group: {ctx.status.reason(u, j)}")
    if ref_u is None:
        nn, npos, nneg = ctx.units.counts[0]
        gn, gp, gq = ctx.units.counts[u]
        rn, rp, rq = nn - gn, npos - gp, nneg - gq
        if rn == 0:
            problems.append("reference: no cases outside this group")
        else:
            r = ctx.guard.check(rn, rp, rq, spec)
            if r:
                problems.append(f"reference: {r}")
    elif not ctx.status.estimable[ref_u, j]:
        problems.append(f"reference: {ctx.status.reason(ref_u, j)}")
    if spec.name not in ctx.replicates.reps:
        problems.append(f"metric {spec.name!r} has no weighted form for the bootstrap")
    return problems


def _ratio(
    a: float, b: float, ra: NDArray[np.float64], rb: NDArray[np.float64], level: float
) -> tuple[dict[str, Any], list[str]]:
    """Ratio ``a / b`` with its percentile interval over the resamples (``rb > 0``)."""
    if not b > 0:
        return {}, ["ratio undefined: reference metric is 0"]
    out: dict[str, Any] = {"ratio": a / b}
    notes = []
    rr = ra / np.where(rb > 0, rb, np.nan)
    fin = np.isfinite(rr)
    if fin.sum() >= 2:
        out["ratio_ci_low"], out["ratio_ci_high"] = _bootstrap.bootstrap_interval(
            a / b, rr[fin], method="percentile", confidence_level=level
        )
        if (~fin).any():
            notes.append(f"ratio undefined in {int((~fin).sum())} resamples (reference 0)")
    return out, notes


def _disparity_row(ctx: DisparityContext, t: _Target, j: int, spec: MetricSpec) -> dict[str, Any]:
    rec: dict[str, Any] = {c: np.nan for c in DISPARITY_COLUMNS}
    rec.update(
        attribute=t.attribute,
        group=t.group,
        reference=t.reference_label if t.reference_label is not None else "rest",
        metric=spec.name,
        significant=False,
        weaker=False,
        flagged=False,
        n_resamples_undefined=pd.NA,
        status="ok",
        reason="",
        prespecified=t.prespecified,
    )
    problems = _problems(ctx, t, j, spec)
    if problems:
        rec["status"] = "not_estimable"
        rec["reason"] = "; ".join(problems)
        return rec
    reps, u, ref_u = ctx.replicates, t.unit, t.reference_unit
    a = float(reps.points[spec.name][u])
    b = (
        float(reps.points_rest[spec.name][u])
        if ref_u is None
        else float(reps.points[spec.name][ref_u])
    )
    ra = reps.reps[spec.name][:, u]
    rb = reps.reps_rest[spec.name][:, u] if ref_u is None else reps.reps[spec.name][:, ref_u]
    if not (math.isfinite(a) and math.isfinite(b)):
        rec["status"] = "not_estimable"
        rec["reason"] = "metric undefined in the group or its reference"
        return rec
    ok = np.isfinite(ra) & np.isfinite(rb)
    n_bad = int((~ok).sum())
    rec["n_resamples_undefined"] = n_bad
    if ok.sum() < 2:
        rec["status"] = "not_estimable"
        rec["reason"] = f"difference undefined in {n_bad} of {len(ra)} resamples"
        return rec
    diff = a - b
    d = ra[ok] - rb[ok]
    lo, hi = _bootstrap.bootstrap_interval(diff, d, method="percentile", confidence_level=ctx.level)
    se = float(np.std(d, ddof=1))
    if se > 0:
        pval = float(2.0 * _sstats.norm.sf(abs(diff) / se))
    else:
        pval = 1.0 if diff == 0 else 0.0
    rec.update(
        estimate=a,
        reference_estimate=b,
        difference=diff,
        difference_ci_low=lo,
        difference_ci_high=hi,
        p_value=pval,
        weaker=bool(diff < 0 if spec.direction == "higher_is_better" else diff > 0),
    )
    notes = []
    if n_bad:
        notes.append(f"{n_bad} of {len(ra)} resamples undefined, excluded")
    ratio, ratio_notes = _ratio(a, b, ra[ok], rb[ok], ctx.level)
    rec.update(ratio)
    rec["reason"] = "; ".join(notes + ratio_notes)
    return rec


def disparity_rows(
    ctx: DisparityContext,
    part: Partition,
    offset: int,
    specs: Sequence[MetricSpec],
    reference: str | None,
    prespecified: bool,
) -> list[dict[str, Any]]:
    """One row per (group, metric) of ``part``: the group against ``reference`` (or the rest)."""
    ref_u = offset + part.order.index(reference) if reference is not None else None
    rows: list[dict[str, Any]] = []
    for g_i, g in enumerate(part.order):
        u = offset + g_i
        if ref_u is not None and u == ref_u:
            continue
        target = _Target(part.name, g, u, ref_u, reference, prespecified)
        rows.extend(_disparity_row(ctx, target, j, s) for j, s in enumerate(specs))
    return rows


def fairness_from_counts(measure: str, c: NDArray[np.float64]) -> NDArray[np.float64]:
    """fairlearn's between-groups measures from weighted counts ``(..., groups, 4)``.

    ``demographic_parity_difference`` = max - min of the selection rate
    ``(tp + fp) / n``; ``equalized_odds_difference`` = the larger of the max - min
    of the true-positive rate and of the false-positive rate (fairlearn's
    ``agg="worst_case"``, ``method="between_groups"``). NaN where a group lacks the
    denominator.
    """
    tp, fn, tn, fp = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    if measure == "demographic_parity_difference":
        sel = _eng.ratio(tp + fp, tp + fn + tn + fp)
        return np.asarray(np.max(sel, axis=-1) - np.min(sel, axis=-1), dtype=np.float64)
    tpr = _eng.ratio(tp, tp + fn)
    fpr = _eng.ratio(fp, fp + tn)
    d1 = np.max(tpr, axis=-1) - np.min(tpr, axis=-1)
    d2 = np.max(fpr, axis=-1) - np.min(fpr, axis=-1)
    return np.asarray(np.maximum(d1, d2), dtype=np.float64)


def fairness_rows(
    ctx: DisparityContext, part: Partition, offset: int, prespecified: bool
) -> list[dict[str, Any]]:
    """fairlearn's two fairness measures over the groups of ``part`` that pass the guardrails."""
    guard = ctx.guard
    keep = []
    excluded = []
    for g_i, g in enumerate(part.order):
        nn, npos, nneg = ctx.units.counts[offset + g_i]
        enough = nn >= max(guard.min_n, 1) and npos >= max(guard.min_pos, 1)
        if enough and nneg >= max(guard.min_neg, 1):
            keep.append(g_i)
        else:
            excluded.append(g)
    cols = [offset + k for k in keep]
    out = []
    for measure in FAIRNESS_MEASURES:
        rec: dict[str, Any] = {
            "attribute": part.name,
            "measure": measure,
            "estimate": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "n_groups": len(keep),
            "groups_excluded": ", ".join(excluded),
            "n_resamples_undefined": pd.NA,
            "status": "ok",
            "reason": "",
            "prespecified": prespecified,
        }
        if len(keep) < 2:
            rec["status"] = "not_estimable"
            rec["reason"] = f"{len(keep)} group(s) pass the guardrails; need at least 2"
            out.append(rec)
            continue
        # fairlearn's definition (max - min over groups) from the groups' confusion
        # counts; equality with fairlearn's own functions is tested.
        point = float(fairness_from_counts(measure, ctx.replicates.point_counts[:, cols, :])[0])
        reps = fairness_from_counts(measure, ctx.replicates.counts[:, cols, :])
        ok = np.isfinite(reps)
        rec["n_resamples_undefined"] = int((~ok).sum())
        rec["estimate"] = point
        if ok.sum() >= 2:
            rec["ci_low"], rec["ci_high"] = _bootstrap.bootstrap_interval(
                point, reps[ok], method="percentile", confidence_level=ctx.level
            )
        else:
            rec["reason"] = "no interval: measure undefined in the resamples"
        out.append(rec)
    return out

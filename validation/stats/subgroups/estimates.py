"""Guardrails and the estimate with its CI of every metric in every unit (the table rows).

A cell's estimate and interval come from the metric's registry ``compute`` on that subset
alone (:func:`validation.stats.proportions.sensitivity`, :func:`~validation.stats.roc.roc_auc`
...), or, for ``ci_method="bootstrap"``, from the shared patient-level replicates of
:mod:`.replicates` around that point estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from validation.errors import UndefinedMetricError
from validation.stats import bootstrap as _bootstrap
from validation.stats.registry import DEGENERATE_NOTE, MetricSpec
from validation.stats.subgroups.cases import Cases
from validation.stats.subgroups.groups import Units
from validation.stats.subgroups.replicates import UnitReplicates

TABLE_COLUMNS = [
    "attribute",
    "group",
    "metric",
    "n",
    "n_pos",
    "n_neg",
    "estimate",
    "ci_low",
    "ci_high",
    "confidence_level",
    "method",
    "denominator",
    "status",
    "reason",
    "prespecified",
]


# ------------------------------------------------------------------------- guardrails


def _needs(spec: MetricSpec) -> tuple[bool, bool]:
    """Whether a metric needs positives / negatives (for the guardrails)."""
    if spec.counts_ratio is not None:
        den = set(spec.counts_ratio[1])
        if den <= {"tp", "fn"}:
            return True, False
        if den <= {"tn", "fp"}:
            return False, True
    return True, True


@dataclass(frozen=True)
class Guardrails:
    """Minimum cases, positives and negatives for a cell to be estimated."""

    min_n: int
    min_pos: int
    min_neg: int

    def check(self, n: int, npos: int, nneg: int, spec: MetricSpec) -> str:
        """Why a cell of these counts is not estimable for ``spec`` ("" if it is)."""
        need_pos, need_neg = _needs(spec)
        reasons = []
        if n < self.min_n:
            reasons.append(f"n={n} < min_n={self.min_n}")
        if need_pos and npos < self.min_pos:
            reasons.append(f"n_pos={npos} < min_pos={self.min_pos}")
        if need_neg and nneg < self.min_neg:
            reasons.append(f"n_neg={nneg} < min_neg={self.min_neg}")
        return "; ".join(reasons)


@dataclass
class Estimability:
    """Which (unit, metric) cells are estimable, and why the others are not.

    Mutable on purpose: a cell that passes the guardrails but whose metric turns out
    undefined is marked here while the table is built, and the disparity and
    heterogeneity analyses read the final state.
    """

    estimable: NDArray[np.bool_]  # (units, metrics)
    reasons: dict[tuple[int, int], str]

    def reason(self, u: int, j: int) -> str:
        """The reason cell ``(u, j)`` is not estimable."""
        return self.reasons.get((u, j), "metric undefined in the group")


def estimability(units: Units, specs: Sequence[MetricSpec], guard: Guardrails) -> Estimability:
    """Apply the guardrails to every (unit, metric) cell."""
    out = Estimability(np.zeros((len(units), len(specs)), dtype=bool), {})
    for u in range(len(units)):
        nn, npos, nneg = units.counts[u]
        for j, s in enumerate(specs):
            r = guard.check(nn, npos, nneg, s)
            if r:
                out.reasons[(u, j)] = r
            else:
                out.estimable[u, j] = True
    return out


def resolve_ci_methods(
    specs: Sequence[MetricSpec], ci_method: str | Mapping[str, str] | None, clustered: bool
) -> dict[str, str]:
    """The CI method of every metric (one for all, a mapping, or each metric's default)."""
    out: dict[str, str] = {}
    if isinstance(ci_method, Mapping):
        unknown = [k for k in ci_method if k not in {s.name for s in specs}]
        if unknown:
            raise ValueError(
                f"ci_method names metric {unknown[0]!r}, which is not in metrics "
                f"{tuple(s.name for s in specs)}"
            )
    elif isinstance(ci_method, str) and not any(ci_method in s.ci_methods for s in specs):
        raise ValueError(
            f"ci_method {ci_method!r} is not valid for any of the metrics "
            f"{tuple(s.name for s in specs)}; valid: "
            + "; ".join(f"{s.name}: {s.ci_methods}" for s in specs)
        )
    for s in specs:
        default = "bootstrap" if clustered and "bootstrap" in s.ci_methods else s.default_ci_method
        if ci_method is None:
            m = default
        elif isinstance(ci_method, str):
            # one method for the table: it applies to the metrics it is valid for
            m = ci_method if ci_method in s.ci_methods else default
        else:
            m = ci_method.get(s.name) or default
        if m not in s.ci_methods:
            raise ValueError(
                f"ci_method {m!r} is not valid for metric {s.name!r}; valid: {s.ci_methods}"
            )
        out[s.name] = m
    return out


# ---------------------------------------------------------------------------- cells


def _confusion(spec_cells: Sequence[str], yt: NDArray[Any], yv: NDArray[Any]) -> int:
    t = yt.astype(bool)
    p = yv.astype(bool)
    cells = {"tp": t & p, "fn": t & ~p, "tn": ~t & ~p, "fp": ~t & p}
    return int(sum(int(cells[c].sum()) for c in spec_cells))


def _at_boundary(spec: MetricSpec, yt: NDArray[Any], yv: NDArray[Any]) -> bool:
    """A ratio-of-counts metric at exactly 0 or 1 (with a non-zero denominator)."""
    if spec.counts_ratio is None:
        return False
    num, den = spec.counts_ratio
    a = _confusion(num, yt, yv)
    b = _confusion(den, yt, yv)
    return b > 0 and a in (0, b)


def _denominator(spec: MetricSpec, yt: NDArray[Any], yv: NDArray[Any]) -> int:
    if spec.counts_ratio is None:
        return int(len(yt))
    return _confusion(spec.counts_ratio[1], yt, yv)


def _point_estimate(spec: MetricSpec, yt: NDArray[Any], v: NDArray[Any], level: float) -> float:
    methods = [m for m in spec.ci_methods if m != "bootstrap"]
    method = (
        spec.default_ci_method
        if spec.default_ci_method != "bootstrap"
        else (methods[0] if methods else "bootstrap")
    )
    return float(spec.compute(yt, v, method=method, confidence_level=level, n_resamples=2).estimate)


@dataclass(frozen=True)
class CellContext:
    """What every cell estimate needs besides its unit and metric."""

    cases: Cases
    units: Units
    ci_methods: dict[str, str]
    level: float
    n_resamples: int
    replicates: UnitReplicates | None
    rng: np.random.Generator


def _boundary_estimate(ctx: CellContext, spec: MetricSpec, m: NDArray[np.bool_]) -> dict[str, Any]:
    # every resample gives the same 0 or 1: a percentile interval would be a point, so the
    # cluster-adjusted Wilson interval is reported instead
    yt, yv = ctx.cases.y[m], ctx.cases.for_metric(spec)[m]
    est = spec.compute(
        yt,
        yv,
        method="wilson_cluster",
        confidence_level=ctx.level,
        clusters=ctx.cases.clusters_of(m),
    )
    return dict(
        estimate=est.estimate,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        method=est.method,
        denominator=est.n,
        reason=DEGENERATE_NOTE.format(p=est.estimate, x=est.successes, n=est.n),
    )


def _bootstrap_estimate(
    ctx: CellContext, spec: MetricSpec, u: int, m: NDArray[np.bool_]
) -> dict[str, Any]:
    reps = ctx.replicates
    if reps is None:
        raise RuntimeError("bootstrap cell estimates need the bootstrap replicates")
    yt, yv = ctx.cases.y[m], ctx.cases.for_metric(spec)[m]
    try:
        point = _point_estimate(spec, yt, yv, ctx.level)
    except UndefinedMetricError:
        # e.g. DeLong needs 2 cases of a class; the bootstrap does not
        point = float(reps.points[spec.name][u])
        if not math.isfinite(point):
            raise
    rv = reps.reps[spec.name][:, u]
    ok = np.isfinite(rv)
    if ok.sum() < 2:
        raise UndefinedMetricError(
            f"{spec.name} is undefined in {int((~ok).sum())} of {len(rv)} bootstrap resamples"
        )
    lo, hi = _bootstrap.bootstrap_interval(
        point, rv[ok], method="percentile", confidence_level=ctx.level
    )
    out: dict[str, Any] = dict(
        estimate=point,
        ci_low=lo,
        ci_high=hi,
        method=(
            "cluster_bootstrap_percentile"
            if ctx.cases.clusters is not None
            else "bootstrap_percentile"
        ),
        denominator=_denominator(spec, yt, yv),
    )
    if (~ok).any():
        out["reason"] = f"{int((~ok).sum())} of {len(rv)} resamples undefined, excluded"
    return out


def _analytic_estimate(ctx: CellContext, spec: MetricSpec, m: NDArray[np.bool_]) -> dict[str, Any]:
    est = spec.compute(
        ctx.cases.y[m],
        ctx.cases.for_metric(spec)[m],
        method=ctx.ci_methods[spec.name],
        confidence_level=ctx.level,
        clusters=ctx.cases.clusters_of(m),
        rng=ctx.rng,
        n_resamples=ctx.n_resamples,
    )
    return dict(
        estimate=est.estimate,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        method=est.method,
        denominator=est.n,
    )


def _cell_row(
    ctx: CellContext, status: Estimability, u: int, j: int, spec: MetricSpec
) -> dict[str, Any]:
    nn, npos, nneg = ctx.units.counts[u]
    rec: dict[str, Any] = {
        "attribute": ctx.units.attribute[u],
        "group": ctx.units.group[u],
        "metric": spec.name,
        "n": nn,
        "n_pos": npos,
        "n_neg": nneg,
        "estimate": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "confidence_level": ctx.level,
        "method": ctx.ci_methods[spec.name],
        "denominator": pd.NA,
        "status": "ok",
        "reason": "",
        "prespecified": ctx.units.prespecified[u],
    }
    if not status.estimable[u, j]:
        rec["status"] = "not_estimable"
        rec["reason"] = status.reasons[(u, j)]
        return rec
    m = ctx.units.subset(u)
    method = ctx.ci_methods[spec.name]
    try:
        at_boundary = method == "bootstrap" and _at_boundary(
            spec, ctx.cases.y[m], ctx.cases.for_metric(spec)[m]
        )
        if at_boundary:
            rec.update(_boundary_estimate(ctx, spec, m))
        elif method == "bootstrap":
            rec.update(_bootstrap_estimate(ctx, spec, u, m))
        else:
            rec.update(_analytic_estimate(ctx, spec, m))
    except UndefinedMetricError as exc:
        rec["status"] = "not_estimable"
        rec["reason"] = f"undefined: {exc}"
        status.estimable[u, j] = False
    return rec


def estimate_table(
    ctx: CellContext, specs: Sequence[MetricSpec], status: Estimability
) -> pd.DataFrame:
    """One row per (unit, metric): estimate and CI, or ``not_estimable`` with the reason."""
    rows = [
        _cell_row(ctx, status, u, j, s) for u in range(len(ctx.units)) for j, s in enumerate(specs)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)

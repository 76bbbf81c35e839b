"""Heterogeneity of a metric across the groups of an attribute: one test per (attribute, metric).

Ratio-of-count metrics: the likelihood-ratio test of group-specific vs common proportion
(statsmodels binomial GLMs). AUC: ``Q = sum (A_g - A_bar)^2 / V_g`` with DeLong (or, with
clusters, Obuchowski) variances on ``k - 1`` df. Both treat cases and groups as
independent.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats as _sstats

from validation.errors import UndefinedMetricError
from validation.stats import roc as _roc
from validation.stats.registry import MetricSpec
from validation.stats.subgroups.cases import Cases
from validation.stats.subgroups.estimates import Estimability
from validation.stats.subgroups.groups import Partition
from validation.stats.subgroups.replicates import is_fast_auc

HETEROGENEITY_COLUMNS = [
    "attribute",
    "metric",
    "statistic",
    "df",
    "p_value",
    "p_adjusted",
    "significant",
    "method",
    "n_groups",
    "groups_excluded",
    "status",
    "reason",
    "prespecified",
]


def lr_binomial(successes: NDArray[np.int64], trials: NDArray[np.int64]) -> tuple[float, int]:
    """LR chi-square of 'one proportion per group' vs 'a common proportion'.

    Both models are statsmodels binomial GLMs (logit link) on the grouped counts:
    the full model has one intercept per group, the reduced one a single intercept.
    For sensitivity (specificity) this is exactly the LR test, in the logistic model
    of the call on truth x subgroup, of the subgroup terms within the diseased
    (non-diseased) stratum: that model's likelihood factorises by truth stratum.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    k = len(successes)
    endog = np.column_stack([successes, trials - successes]).astype(np.float64)
    full_x = np.eye(k)
    red_x = np.ones((k, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        full = sm.GLM(endog, full_x, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=200)
        red = sm.GLM(endog, red_x, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=200)
    stat = max(0.0, 2.0 * (float(full.llf) - float(red.llf)))
    return stat, k - 1


def _proportion_test(
    cases: Cases, part: Partition, keep: list[int], spec: MetricSpec
) -> dict[str, Any]:
    if spec.counts_ratio is None or cases.pred is None:
        raise RuntimeError(f"metric {spec.name!r} is not a ratio of confusion counts")
    t = cases.y.astype(bool)
    q = cases.pred.astype(bool)
    cells = {"tp": t & q, "fn": t & ~q, "tn": ~t & ~q, "fp": ~t & q}
    num_v = np.zeros(len(t), dtype=np.int64)
    den_v = np.zeros(len(t), dtype=np.int64)
    for c in spec.counts_ratio[0]:
        num_v += cells[c]
    for c in spec.counts_ratio[1]:
        den_v += cells[c]
    k = len(part.order)
    num = np.bincount(part.codes, weights=num_v, minlength=k).astype(np.int64)[keep]
    den = np.bincount(part.codes, weights=den_v, minlength=k).astype(np.int64)[keep]
    if (den == 0).any():
        return {"status": "not_estimable", "reason": "a group has an empty denominator"}
    stat, df = lr_binomial(num, den)
    out: dict[str, Any] = dict(
        statistic=stat,
        df=df,
        p_value=float(_sstats.chi2.sf(stat, df)),
        method="likelihood_ratio_logistic",
    )
    if cases.clusters is not None:
        out["reason"] = "treats cases as independent: patient clustering not accounted for"
    return out


def _auc_test(cases: Cases, part: Partition, keep: list[int]) -> dict[str, Any]:
    aucs = []
    var = []
    for g_i in keep:
        m = part.codes == g_i
        try:
            est = _roc.roc_auc(
                cases.y[m], cases.values[m], method="delong", clusters=cases.clusters_of(m)
            )
        except UndefinedMetricError as exc:
            return {"status": "not_estimable", "reason": f"group {part.order[g_i]!r}: {exc}"}
        aucs.append(est.estimate)
        var.append((est.se or 0.0) ** 2)
    a = np.asarray(aucs)
    v = np.asarray(var)
    if (v <= 0).any():
        g0 = part.order[keep[int(np.flatnonzero(v <= 0)[0])]]
        return {
            "status": "not_estimable",
            "reason": f"DeLong variance is 0 in group {g0!r} (perfect separation)",
        }
    wts = 1.0 / v
    abar = float(np.sum(wts * a) / np.sum(wts))
    stat = float(np.sum(wts * (a - abar) ** 2))
    df = len(keep) - 1
    return dict(
        statistic=stat,
        df=df,
        p_value=float(_sstats.chi2.sf(stat, df)),
        method="delong_chi_square" if cases.clusters is None else "obuchowski_chi_square",
    )


def heterogeneity_row(
    cases: Cases,
    part: Partition,
    offset: int,
    j: int,
    spec: MetricSpec,
    status: Estimability,
    prespecified: bool,
) -> dict[str, Any]:
    """The heterogeneity test of metric ``j`` across the estimable groups of ``part``."""
    keep = [g_i for g_i in range(len(part.order)) if status.estimable[offset + g_i, j]]
    excluded = [g for g_i, g in enumerate(part.order) if not status.estimable[offset + g_i, j]]
    rec: dict[str, Any] = {
        "attribute": part.name,
        "metric": spec.name,
        "statistic": np.nan,
        "df": pd.NA,
        "p_value": np.nan,
        "p_adjusted": np.nan,
        "significant": False,
        "method": "",
        "n_groups": len(keep),
        "groups_excluded": ", ".join(excluded),
        "status": "ok",
        "reason": "",
        "prespecified": prespecified,
    }
    if len(keep) < 2:
        rec["status"] = "not_estimable"
        rec["reason"] = f"{len(keep)} estimable group(s); need at least 2"
    elif spec.counts_ratio is not None:
        rec.update(_proportion_test(cases, part, keep, spec))
    elif is_fast_auc(spec):
        rec.update(_auc_test(cases, part, keep))
    else:
        rec["status"] = "not_estimable"
        rec["reason"] = f"no heterogeneity test is defined for metric {spec.name!r}"
    return rec


def heterogeneity_rows(
    cases: Cases,
    part: Partition,
    offset: int,
    specs: Sequence[MetricSpec],
    status: Estimability,
    prespecified: bool,
) -> list[dict[str, Any]]:
    """One heterogeneity test per metric across the groups of ``part``."""
    return [
        heterogeneity_row(cases, part, offset, j, s, status, prespecified)
        for j, s in enumerate(specs)
    ]

"""AUC with DeLong, logit, Obuchowski and bootstrap intervals (public via ``roc``).

Internal module of :mod:`validation.stats.roc`; see that module for conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit, ndtr, ndtri

from validation.errors import UndefinedMetricError
from validation.stats._checks import (
    check_confidence_level,
    check_method,
)
from validation.stats._params import RESAMPLES, UNIT_INTERVAL, Options, validate_params
from validation.stats._results import Estimate
from validation.stats.bootstrap import (
    AucEngine,
    bootstrap_interval,
    bootstrap_weights,
    jackknife_acceleration,
)
from validation.stats.roc._delong import (
    case_jackknife,
    case_placements,
    cluster_design,
    cluster_jackknife,
    delong_variance,
    obuchowski_covariance,
    prepare,
    sorted_placements,
)

AUC_METHODS = ("delong", "delong_logit", "bootstrap")
BOOTSTRAP_CI_METHODS = ("bca", "percentile")


def z_critical(level: float) -> float:
    return float(ndtri(0.5 + level / 2.0))


@dataclass(frozen=True)
class _Boot:
    """Bootstrap replicates (undefined ones dropped) and their interval."""

    replicates: NDArray[np.float64]
    n_undefined: int
    ci: tuple[float, float]


def _prepare_boot_order(y: NDArray[np.int8], s: NDArray[np.float64]) -> NDArray[np.intp]:
    """Permutation putting negatives (ascending score) first, then positives."""
    neg = np.flatnonzero(y == 0)
    neg = neg[np.argsort(s[neg], kind="stable")]
    return np.concatenate((neg, np.flatnonzero(y == 1)))


def finish_boot(
    reps: NDArray[np.float64],
    estimate: float,
    *,
    ci_method: str,
    level: float,
    jackknife: Any,
) -> _Boot:
    ok = np.isfinite(reps)
    kept = reps[ok]
    n_bad = int(reps.size - kept.size)
    if kept.size < 2:
        raise UndefinedMetricError(
            f"bootstrap failed: {n_bad} of {reps.size} resamples had no positive or no "
            "negative case"
        )
    acc = None
    if ci_method == "bca" and kept.min() != kept.max():
        jack, strata = jackknife()
        acc = jackknife_acceleration(estimate, jack, strata=strata)
    ci = bootstrap_interval(
        estimate, kept, method=ci_method, confidence_level=level, acceleration=acc
    )
    return _Boot(kept, n_bad, ci)


def check_boot_args(n_resamples: int, bootstrap_ci: str) -> int:
    check_method(bootstrap_ci, BOOTSTRAP_CI_METHODS, what="bootstrap_ci")
    n_res = int(n_resamples)
    if n_res < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples!r}")
    return n_res


@validate_params(
    {
        "method": [Options(AUC_METHODS)],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
        "bootstrap_ci": [Options(BOOTSTRAP_CI_METHODS)],
    }
)
def roc_auc(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    method: str = "delong",
    confidence_level: float = 0.95,
    clusters: ArrayLike | None = None,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    bootstrap_ci: str = "bca",
) -> Estimate:
    """Area under the ROC curve with a confidence interval.

    The AUC is the Mann-Whitney statistic (ties one half), equal to the trapezoidal
    area under the empirical ROC curve. Interval methods:

    - ``"delong"``: ``AUC +- z se`` with DeLong's variance ``var(V10)/m + var(V01)/n``
      from placement values (sample variances), clipped to [0, 1], exactly as pROC's
      ``ci.auc(method="delong")``. ``method`` reported: ``"delong"``.
    - ``"delong_logit"``: the same variance, interval on the logit scale
      (``logit(AUC) +- z se / (AUC (1 - AUC))``) mapped back; undefined at AUC 0 or 1.
    - ``"bootstrap"``: ``n_resamples`` resamples stratified by class (cases), or of
      whole clusters when ``clusters`` is given; ``bootstrap_ci="bca"`` (Efron 1987,
      jackknife acceleration as ``boot::boot.ci``) or ``"percentile"``. ``se`` is the
      replicates' standard deviation. Cluster resamples that lack a class are dropped
      and counted in ``extra["n_undefined_resamples"]``.

    With ``clusters`` (e.g. patient IDs, several images per patient) the DeLong
    variance is Obuchowski's (1997) clustered variance (``method`` reported as
    ``"obuchowski"`` / ``"obuchowski_logit"``) and the bootstrap resamples patients
    (``"cluster_bootstrap_bca"`` / ``"cluster_bootstrap_percentile"``).

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n,)
    y_score : array-like of float, shape (n,)
    method : {"delong", "delong_logit", "bootstrap"}
    confidence_level : float
    clusters : array-like, optional
        Cluster (patient) label per case.
    n_resamples : int
        Bootstrap resamples (``method="bootstrap"`` only).
    rng : numpy.random.Generator, int, SeedSequence or None
    bootstrap_ci : {"bca", "percentile"}

    Returns
    -------
    Estimate
        ``estimate`` (AUC), ``ci_low``, ``ci_high``, ``se``, ``n`` (cases); ``extra``
        holds ``n_positive``, ``n_negative`` and, as applicable, ``n_clusters``,
        ``variance``, ``n_resamples``, ``n_undefined_resamples``.

    Raises
    ------
    UndefinedMetricError
        No positive or no negative case; DeLong with fewer than 2 of a class;
        ``delong_logit`` at AUC 0 or 1.
    ValueError
        Bad input (wrong labels, non-finite scores, mismatched lengths, unknown method).
    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or
       more correlated ROC curves. Biometrics 1988;44:837-845. doi:10.2307/2531595
    .. [2] Sun X, Xu W. Fast implementation of DeLong's algorithm. IEEE Signal Process
       Lett 2014;21:1389-1393. doi:10.1109/LSP.2014.2337313
    .. [3] Obuchowski NA. Nonparametric analysis of clustered ROC curve data.
       Biometrics 1997;53:567-578. doi:10.2307/2533960
    .. [4] Efron B. Better bootstrap confidence intervals. JASA 1987;82:171-185.
    .. [5] Robin X et al. pROC: an open-source package for R and S+ to analyze and
       compare ROC curves. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    Examples
    --------
    >>> est = roc_auc([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    >>> round(est.estimate, 4), est.method
    (0.8889, 'delong')
    """
    level = check_confidence_level(confidence_level)
    y, s = prepare(y_true, y_score)
    m = int(np.count_nonzero(y))
    n = y.size - m
    extra: dict[str, Any] = {"n_positive": m, "n_negative": n}
    if method == "bootstrap":
        n_res = check_boot_args(n_resamples, bootstrap_ci)
        return _roc_auc_bootstrap(y, s, clusters, n_res, rng, bootstrap_ci, level, extra)
    if clusters is None:
        auc, v10, v01 = sorted_placements(y, s)
        var = delong_variance(v10, v01)
        name = "delong"
    else:
        design = cluster_design(clusters, y)
        p = case_placements(y, s)
        auc = p.auc
        var = obuchowski_covariance(p, p, design)
        extra["n_clusters"] = design.n_clusters
        name = "obuchowski"
    se = float(np.sqrt(max(var, 0.0)))
    extra["variance"] = var
    z = z_critical(level)
    if method == "delong":
        lo, hi = max(0.0, auc - z * se), min(1.0, auc + z * se)
    else:
        if auc <= 0.0 or auc >= 1.0:
            raise UndefinedMetricError(
                f"the logit DeLong interval is undefined at AUC = {auc}; use method='delong'"
            )
        half = z * se / (auc * (1.0 - auc))
        lo, hi = float(expit(logit(auc) - half)), float(expit(logit(auc) + half))
        name += "_logit"
    return Estimate(auc, lo, hi, level, name, int(y.size), se=se, extra=extra)


def _roc_auc_bootstrap(
    y: NDArray[np.int8],
    s: NDArray[np.float64],
    clusters: ArrayLike | None,
    n_res: int,
    rng: Any,
    ci_method: str,
    level: float,
    extra: dict[str, Any],
) -> Estimate:
    perm = _prepare_boot_order(y, s)
    yp, sp = y[perm], s[perm]
    engine = AucEngine(yp, sp)
    p = case_placements(y, s)
    if clusters is None:
        weights = bootstrap_weights(y.size, strata=yp, n_resamples=n_res, rng=rng)

        def jackknife() -> tuple[NDArray[np.float64], Any]:
            return case_jackknife(p)

        name = "bootstrap_" + ci_method
    else:
        design = cluster_design(clusters, y)
        extra["n_clusters"] = design.n_clusters
        weights = bootstrap_weights(design.codes[perm], n_resamples=n_res, rng=rng)

        def jackknife() -> tuple[NDArray[np.float64], Any]:
            return cluster_jackknife(y, s, p, design), None

        name = "cluster_bootstrap_" + ci_method
    reps = np.concatenate([engine.auc(w) for w in weights])
    boot = finish_boot(reps, p.auc, ci_method=ci_method, level=level, jackknife=jackknife)
    extra.update(n_resamples=n_res, n_undefined_resamples=boot.n_undefined)
    se = float(np.std(boot.replicates, ddof=1))
    return Estimate(p.auc, boot.ci[0], boot.ci[1], level, name, int(y.size), se=se, extra=extra)


def z_test(estimate: float, se: float, *, alternative: str, null: float) -> tuple[float, float]:
    """Normal test of ``estimate`` against ``null``; returns (z, p)."""
    diff = estimate - null
    if se == 0.0:
        if diff == 0.0:
            return 0.0, 1.0 if alternative == "two-sided" else 0.5
        z = float(np.copysign(np.inf, diff))
    else:
        z = diff / se
    if alternative == "two-sided":
        p = 2.0 * float(ndtr(-abs(z)))
    elif alternative == "greater":
        p = float(ndtr(-z))
    else:
        p = float(ndtr(z))
    return z, min(1.0, p)


def null_from_margin(alternative: str, margin: float) -> float:
    margin = float(margin)
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    if alternative == "two-sided":
        if margin != 0.0:
            raise ValueError(
                "margin must be 0 with alternative='two-sided'; use alternative='greater' "
                f"(non-inferiority/superiority) or 'less', got margin={margin!r}"
            )
        return 0.0
    return -margin if alternative == "greater" else margin

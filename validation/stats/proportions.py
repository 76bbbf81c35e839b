"""Binomial proportions and the 2x2 diagnostic-accuracy metrics built on them.

Confidence intervals for a single proportion (Wilson, Wilson with continuity
correction, Clopper-Pearson, Agresti-Coull, Jeffreys, Wald), the case-level
accuracy metrics (sensitivity, specificity, PPV, NPV, accuracy) with those
intervals, likelihood ratios with log-method intervals, and predictive values at
a stated prevalence (Bayes' theorem with Mercaldo's logit intervals).

Every interval method here was checked against R 4.2.2 (``binom.test``,
``prop.test``, ``qbeta``, closed forms; ``tests/reference/``) to 1e-9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from validation.errors import UndefinedMetricError
from validation.stats._checks import (
    as_binary,
    check_confidence_level,
    check_same_length,
)
from validation.stats._params import UNIT_INTERVAL, Interval, Options, Real, validate_params
from validation.stats._results import Estimate, ResultMixin

__all__ = [
    "PROPORTION_CI_METHODS",
    "ConfusionCounts",
    "LikelihoodRatios",
    "PredictiveValues",
    "accuracy",
    "confusion_counts",
    "likelihood_ratios",
    "negative_likelihood_ratio",
    "npv",
    "positive_likelihood_ratio",
    "ppv",
    "predictive_values",
    "proportion_ci",
    "proportion_ci_clustered",
    "sensitivity",
    "specificity",
]

PROPORTION_CI_METHODS = (
    "wilson",
    "wilson_cc",
    "clopper_pearson",
    "agresti_coull",
    "jeffreys",
    "wald",
)


def _z(confidence_level: float) -> float:
    """Two-sided standard-normal quantile for ``confidence_level``."""
    return float(-special.ndtri((1.0 - confidence_level) / 2.0))


def _as_count(value: Any, name: str) -> int:
    """Return ``value`` as an int if it is a whole number, else raise ValueError."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, Integral):
        return int(value)
    if (
        isinstance(value, float | np.floating)
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        return int(value)
    raise ValueError(f"{name} must be a whole number, got {value!r}")


def check_counts(successes: Any, n: Any) -> tuple[int, int]:
    x = _as_count(successes, "successes")
    m = _as_count(n, "n")
    if m < 0:
        raise ValueError(f"n must be >= 0, got {m}")
    if not 0 <= x <= m:
        raise ValueError(f"successes must be between 0 and n={m}, got {x}")
    if m == 0:
        raise UndefinedMetricError("a proportion is undefined with n = 0 trials")
    return x, m


def _interval(x: int, n: int, method: str, level: float, clip: bool) -> tuple[float, float]:
    """Two-sided interval for x successes in n trials (inputs already checked)."""
    # Closed forms on scipy's special functions rather than
    # scipy.stats.binomtest(...).proportion_ci, which gives the same numbers for
    # Wilson, Wilson cc and Clopper-Pearson but also computes a p-value, 6-20x
    # slower per call (subgroup tables call this thousands of times).
    p = x / n
    if method == "clopper_pearson":
        a = (1.0 - level) / 2.0
        low = 0.0 if x == 0 else float(special.betaincinv(x, n - x + 1, a))
        high = 1.0 if x == n else float(special.betaincinv(x + 1, n - x, 1.0 - a))
        return low, high
    z = _z(level)
    z2 = z * z
    if method == "wilson":
        den = 1.0 + z2 / n
        center = (p + z2 / (2.0 * n)) / den
        half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / den
        # the bounds at x = 0 and x = n are exactly 0 and 1 (no rounding residue)
        low = 0.0 if x == 0 else max(0.0, center - half)
        high = 1.0 if x == n else min(1.0, center + half)
        return low, high
    if method == "wilson_cc":
        # Newcombe (1998) method 4
        if x == 0:
            low = 0.0
        else:
            root = math.sqrt(z2 - 2.0 - 1.0 / n + 4.0 * p * (n * (1.0 - p) + 1.0))
            low = max(0.0, (2.0 * n * p + z2 - 1.0 - z * root) / (2.0 * (n + z2)))
        if x == n:
            high = 1.0
        else:
            root = math.sqrt(z2 + 2.0 - 1.0 / n + 4.0 * p * (n * (1.0 - p) - 1.0))
            high = min(1.0, (2.0 * n * p + z2 + 1.0 + z * root) / (2.0 * (n + z2)))
        return low, high
    if method == "jeffreys":
        a = (1.0 - level) / 2.0
        low = float(special.betaincinv(x + 0.5, n - x + 0.5, a))
        high = float(special.betaincinv(x + 0.5, n - x + 0.5, 1.0 - a))
        if clip:  # Brown, Cai & DasGupta (2001) boundary rule
            if x == 0:
                low = 0.0
            if x == n:
                high = 1.0
        return low, high
    if method == "agresti_coull":
        # closed form, no library call needed (statsmodels' version always clips)
        n_t = n + z * z
        p_t = (x + z * z / 2.0) / n_t
        half = z * math.sqrt(p_t * (1.0 - p_t) / n_t)
        low, high = p_t - half, p_t + half
    else:  # wald
        half = z * math.sqrt(p * (1.0 - p) / n)
        low, high = p - half, p + half
    if clip:
        low, high = max(0.0, low), min(1.0, high)
    return low, high


@validate_params(
    {
        "method": [Options(PROPORTION_CI_METHODS)],
        "confidence_level": [UNIT_INTERVAL],
        "clip": [bool],
    }
)
def proportion_ci(
    successes: int,
    n: int,
    *,
    method: str = "wilson",
    confidence_level: float = 0.95,
    clip: bool = True,
) -> Estimate:
    """Estimate a binomial proportion with a two-sided confidence interval.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= n``.
    n : int
        Number of trials (``n = 0`` raises :class:`UndefinedMetricError`).
    method : {"wilson", "wilson_cc", "clopper_pearson", "agresti_coull", "jeffreys", "wald"}
        Interval method:

        - ``wilson``: Wilson (1927) score interval; equals R ``prop.test(correct=FALSE)``.
        - ``wilson_cc``: Wilson score interval with continuity correction in
          Newcombe's (1998) closed form (method 4), bounded by [0, 1]. R's
          ``prop.test(correct=TRUE)`` gives the same interval except at
          ``successes = n/2``, where it silently drops the correction.
        - ``clopper_pearson``: Clopper & Pearson (1934) exact interval; equals
          R ``binom.test``.
        - ``agresti_coull``: Agresti & Coull (1998) "add z^2/2 successes and
          failures" interval.
        - ``jeffreys``: equal-tailed Jeffreys interval, Beta(x + 1/2, n - x + 1/2)
          quantiles (Brown, Cai & DasGupta 2001).
        - ``wald``: p +- z sqrt(p(1 - p)/n); shown for completeness, not
          recommended (zero width at 0 and n).
    confidence_level : float
        Two-sided confidence level in (0, 1).
    clip : bool
        Default True: every interval lies in [0, 1] and includes the boundary
        estimate. Agresti-Coull and Wald are truncated to [0, 1] (R reference
        variants ``agresti_coull_clipped`` and ``wald_clipped``); Jeffreys uses
        Brown, Cai & DasGupta's boundary rule, lower bound 0 when
        ``successes = 0`` and upper bound 1 when ``successes = n`` (R variant
        ``jeffreys_bcd``). With ``clip=False`` the raw formulas are returned
        (R variants ``agresti_coull``, ``wald``, ``jeffreys``). Wilson, Wilson
        cc and Clopper-Pearson are always within [0, 1] and ignore ``clip``.

    Returns
    -------
    Estimate
        ``estimate = successes / n``, the interval, ``successes``, ``n`` and
        ``se = sqrt(p (1 - p) / n)`` (the binomial standard error of the
        estimate, whatever the interval method); ``extra["clip"]``.

    Raises
    ------
    ValueError
        Counts that are not whole numbers, negative, or ``successes > n``; an
        unknown method; a confidence level outside (0, 1).
    UndefinedMetricError
        ``n = 0``.

    Examples
    --------
    >>> from validation.stats import proportion_ci
    >>> est = proportion_ci(41, 91, method="wilson")
    >>> round(est.estimate, 4), round(est.ci_low, 4), round(est.ci_high, 4)
    (0.4505, 0.3524, 0.5527)

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and statistical
    inference. JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits
    illustrated in the case of the binomial. Biometrika 26:404-413.
    doi:10.1093/biomet/26.4.404.
    Newcombe RG (1998). Two-sided confidence intervals for the single proportion:
    comparison of seven methods. Stat Med 17:857-872.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E.
    Agresti A, Coull BA (1998). Approximate is better than "exact" for interval
    estimation of binomial proportions. Am Stat 52:119-126. doi:10.2307/2685469.
    Brown LD, Cai TT, DasGupta A (2001). Interval estimation for a binomial
    proportion. Stat Sci 16:101-133. doi:10.1214/ss/1009213286.
    """
    level = check_confidence_level(confidence_level)
    x, m = check_counts(successes, n)
    low, high = _interval(x, m, method, level, bool(clip))
    p = x / m
    return Estimate(
        estimate=p,
        ci_low=low,
        ci_high=high,
        confidence_level=level,
        method=method,
        n=m,
        se=math.sqrt(p * (1.0 - p) / m),
        successes=x,
        extra={"clip": bool(clip)},
    )


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
    }
)
def proportion_ci_clustered(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    confidence_level: float = 0.95,
) -> Estimate:
    """Cluster-adjusted Wilson interval for a proportion whose trials come in clusters.

    The Wilson (1927) interval evaluated at the effective sample size
    ``n_eff = n / deff`` (Kish 1965), the "modified Wilson" interval studied for
    clustered binomial data by Dean & Pagano (2015); Korn & Graubard (1998) use the
    same effective sample size with Clopper-Pearson. Per cluster ``i`` (a patient)
    there are ``m_i`` trials and ``x_i`` successes; ``n = sum m_i``, ``p = x / n``.

    * ``0 < p < 1`` with at least two clusters: ``deff = max(1, v_c / v_b)`` with the
      ratio-estimator (cluster-robust) variance
      ``v_c = k / (k - 1) * sum (x_i - p m_i)^2 / n^2`` over the ``k`` clusters and
      the binomial variance ``v_b = p (1 - p) / n``.
    * ``p`` at 0 or 1 (or a single cluster): the data cannot estimate the
      within-cluster correlation (every cluster agrees), so the largest design effect,
      that of an intracluster correlation of 1, is used: ``deff = sum m_i^2 / n``
      (``n_eff`` is then the number of clusters when they are of equal size). This is
      the interval that never collapses to a point at 0 or 1, where the percentile
      bootstrap over patients gives ``[1, 1]``.

    Without repeated clusters (every ``m_i = 1``) ``deff = 1``: plain Wilson.

    Parameters
    ----------
    successes, trials : array-like of int, one entry per cluster
        ``0 <= successes_i <= trials_i``; clusters with no trials are ignored.
    confidence_level : float

    Returns
    -------
    Estimate
        ``method = "wilson_cluster"``, ``n`` the number of trials, ``successes``,
        ``se = sqrt(deff p (1 - p) / n)``; ``extra``: ``n_clusters``, ``design_effect``,
        ``n_effective``, ``design_effect_source`` (``"estimated"``, ``"worst_case"`` or
        ``"no_repeats"``).

    Raises
    ------
    UndefinedMetricError
        No trials at all.

    Examples
    --------
    >>> est = proportion_ci_clustered([2] * 44, [2] * 44)  # 88/88 from 44 patients
    >>> est.estimate, round(est.ci_low, 4), est.ci_high, est.extra["n_effective"]
    (1.0, 0.9197, 1.0, 44.0)

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Kish L (1965). Survey Sampling. Wiley (design effect).
    Korn EL, Graubard BI (1998). Confidence intervals for proportions with small
    expected number of positive counts estimated from survey data. Survey
    Methodology 24:193-201.
    Dean N, Pagano M (2015). Evaluating confidence interval methods for binomial
    proportions in clustered surveys. J Surv Stat Methodol 3:484-503.
    doi:10.1093/jssam/smv024.
    """
    level = check_confidence_level(confidence_level)
    xs = np.asarray(successes, dtype=np.float64).ravel()
    ms = np.asarray(trials, dtype=np.float64).ravel()
    if xs.shape != ms.shape:
        raise ValueError(
            f"successes and trials must have one entry per cluster, got {xs.size} and {ms.size}"
        )
    if not (np.isfinite(xs).all() and np.isfinite(ms).all()) or (xs < 0).any() or (xs > ms).any():
        raise ValueError("expected 0 <= successes <= trials, finite, in every cluster")
    keep = ms > 0
    xs, ms = xs[keep], ms[keep]
    n = float(ms.sum())
    if n == 0:
        raise UndefinedMetricError("a proportion is undefined with n = 0 trials")
    x = float(xs.sum())
    p = x / n
    k = int(ms.size)
    if (ms == 1).all():
        deff, source = 1.0, "no_repeats"
    elif 0.0 < p < 1.0 and k >= 2:
        v_c = k / (k - 1) * float(((xs - p * ms) ** 2).sum()) / n**2
        deff, source = max(1.0, v_c / (p * (1.0 - p) / n)), "estimated"
    else:
        deff, source = float((ms**2).sum()) / n, "worst_case"
    n_eff = n / deff
    z = _z(level)
    z2 = z * z
    den = 1.0 + z2 / n_eff
    center = (p + z2 / (2.0 * n_eff)) / den
    half = z * math.sqrt(p * (1.0 - p) / n_eff + z2 / (4.0 * n_eff * n_eff)) / den
    low = 0.0 if x == 0 else max(0.0, center - half)
    high = 1.0 if x == n else min(1.0, center + half)
    return Estimate(
        estimate=p,
        ci_low=low,
        ci_high=high,
        confidence_level=level,
        method="wilson_cluster",
        n=int(round(n)),
        se=math.sqrt(deff * p * (1.0 - p) / n),
        successes=int(round(x)),
        extra={
            "n_clusters": k,
            "design_effect": deff,
            "n_effective": n_eff,
            "design_effect_source": source,
        },
    )


# ---------------------------------------------------------------------------
# 2x2 counts and the accuracy metrics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfusionCounts(ResultMixin):
    """The 2x2 table of a binary test against a binary reference standard.

    ``tp``: y_true 1, y_pred 1; ``fp``: y_true 0, y_pred 1; ``tn``: y_true 0,
    y_pred 0; ``fn``: y_true 1, y_pred 0.
    """

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n_positive(self) -> int:
        """Number of reference-standard positives (tp + fn)."""
        return self.tp + self.fn

    @property
    def n_negative(self) -> int:
        """Number of reference-standard negatives (tn + fp)."""
        return self.tn + self.fp

    @property
    def n(self) -> int:
        """Total number of cases."""
        return self.tp + self.fp + self.tn + self.fn


def confusion_counts(y_true: ArrayLike, y_pred: ArrayLike) -> ConfusionCounts:
    """Count true/false positives and negatives.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool
        Reference standard, 1 = diseased.
    y_pred : array-like of {0, 1} or bool
        Binary test result, 1 = called positive.

    Returns
    -------
    ConfusionCounts
        Frozen ``(tp, fp, tn, fn)``.

    Examples
    --------
    >>> confusion_counts([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    ConfusionCounts(tp=2, fp=1, tn=1, fn=1)

    References
    ----------
    Zhou XH, Obuchowski NA, McClish DK (2011). Statistical Methods in Diagnostic
    Medicine, 2nd ed., Wiley, ch. 2. doi:10.1002/9780470906514.
    """
    t = as_binary(y_true, name="y_true")
    p = as_binary(y_pred, name="y_pred")
    check_same_length(y_true=t, y_pred=p)
    t1 = t == 1
    p1 = p == 1
    tp = int(np.count_nonzero(t1 & p1))
    fn = int(np.count_nonzero(t1)) - tp
    fp = int(np.count_nonzero(p1)) - tp
    tn = int(t.size) - tp - fn - fp
    return ConfusionCounts(tp=tp, fp=fp, tn=tn, fn=fn)


def _metric(
    name: str,
    successes: int,
    n: int,
    counts: ConfusionCounts,
    undefined: str,
    method: str,
    confidence_level: float,
) -> Estimate:
    if n == 0:
        raise UndefinedMetricError(f"{name} is undefined: {undefined}")
    est = proportion_ci(successes, n, method=method, confidence_level=confidence_level)
    extra = dict(est.extra)
    extra.update(metric=name, **counts.to_dict())
    return Estimate(
        estimate=est.estimate,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        confidence_level=est.confidence_level,
        method=est.method,
        n=est.n,
        se=est.se,
        successes=est.successes,
        extra=extra,
    )


_METRIC_PARAMS: dict[str, list[Any]] = {
    "method": [Options(PROPORTION_CI_METHODS)],
    "confidence_level": [UNIT_INTERVAL],
}


@validate_params(_METRIC_PARAMS)
def sensitivity(
    y_true: ArrayLike, y_pred: ArrayLike, *, method: str = "wilson", confidence_level: float = 0.95
) -> Estimate:
    """Sensitivity (true-positive rate) tp / (tp + fn) with a binomial CI.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool
        Reference standard, 1 = diseased.
    y_pred : array-like of {0, 1} or bool
        Binary test result, 1 = called positive.
    method : str
        Interval method of :func:`proportion_ci` (default ``"wilson"``).
    confidence_level : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``estimate = tp / (tp + fn)``, ``successes`` and ``n`` the counts used, the
        interval of ``method``; ``extra`` holds ``metric`` and the 2x2 counts.

    Raises
    ------
    UndefinedMetricError
        No reference-standard positives:
        'sensitivity is undefined: y_true has no positive cases (1)'.
    ValueError
        Labels other than 0/1, arrays of different lengths, unknown method.

    Examples
    --------
    >>> from validation.stats import sensitivity
    >>> est = sensitivity([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(est.estimate, 4), est.successes, est.n
    (0.75, 3, 4)

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Newcombe RG (1998). Stat Med 17:857-872.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E.
    """
    c = confusion_counts(y_true, y_pred)
    return _metric(
        "sensitivity",
        c.tp,
        c.tp + c.fn,
        c,
        "y_true has no positive cases (1)",
        method,
        confidence_level,
    )


@validate_params(_METRIC_PARAMS)
def specificity(
    y_true: ArrayLike, y_pred: ArrayLike, *, method: str = "wilson", confidence_level: float = 0.95
) -> Estimate:
    """Specificity (true-negative rate) tn / (tn + fp) with a binomial CI.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool
        Reference standard, 1 = diseased.
    y_pred : array-like of {0, 1} or bool
        Binary test result, 1 = called positive.
    method : str
        Interval method of :func:`proportion_ci` (default ``"wilson"``).
    confidence_level : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``estimate = tn / (tn + fp)``, ``successes`` and ``n`` the counts used, the
        interval of ``method``; ``extra`` holds ``metric`` and the 2x2 counts.

    Raises
    ------
    UndefinedMetricError
        No reference-standard negatives:
        'specificity is undefined: y_true has no negative cases (0)'.
    ValueError
        Labels other than 0/1, arrays of different lengths, unknown method.

    Examples
    --------
    >>> from validation.stats import specificity
    >>> est = specificity([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(est.estimate, 4), est.successes, est.n
    (0.75, 3, 4)

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Newcombe RG (1998). Stat Med 17:857-872.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E.
    """
    c = confusion_counts(y_true, y_pred)
    return _metric(
        "specificity",
        c.tn,
        c.tn + c.fp,
        c,
        "y_true has no negative cases (0)",
        method,
        confidence_level,
    )


@validate_params(_METRIC_PARAMS)
def ppv(
    y_true: ArrayLike, y_pred: ArrayLike, *, method: str = "wilson", confidence_level: float = 0.95
) -> Estimate:
    """Positive predictive value tp / (tp + fp) in the sample, with a binomial CI.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool
        Reference standard, 1 = diseased.
    y_pred : array-like of {0, 1} or bool
        Binary test result, 1 = called positive.
    method : str
        Interval method of :func:`proportion_ci` (default ``"wilson"``).
    confidence_level : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``estimate = tp / (tp + fp)``, ``successes`` and ``n`` the counts used, the
        interval of ``method``; ``extra`` holds ``metric`` and the 2x2 counts.

    Raises
    ------
    UndefinedMetricError
        No positive calls: 'ppv is undefined: y_pred has no positive calls (1)'.
    ValueError
        Labels other than 0/1, arrays of different lengths, unknown method.

    Examples
    --------
    >>> from validation.stats import ppv
    >>> est = ppv([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(est.estimate, 4), est.successes, est.n
    (0.75, 3, 4)

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Newcombe RG (1998). Stat Med 17:857-872.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E.
    """
    c = confusion_counts(y_true, y_pred)
    return _metric(
        "ppv", c.tp, c.tp + c.fp, c, "y_pred has no positive calls (1)", method, confidence_level
    )


@validate_params(_METRIC_PARAMS)
def npv(
    y_true: ArrayLike, y_pred: ArrayLike, *, method: str = "wilson", confidence_level: float = 0.95
) -> Estimate:
    """Negative predictive value tn / (tn + fn) in the sample, with a binomial CI.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool
        Reference standard, 1 = diseased.
    y_pred : array-like of {0, 1} or bool
        Binary test result, 1 = called positive.
    method : str
        Interval method of :func:`proportion_ci` (default ``"wilson"``).
    confidence_level : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``estimate = tn / (tn + fn)``, ``successes`` and ``n`` the counts used, the
        interval of ``method``; ``extra`` holds ``metric`` and the 2x2 counts.

    Raises
    ------
    UndefinedMetricError
        No negative calls: 'npv is undefined: y_pred has no negative calls (0)'.
    ValueError
        Labels other than 0/1, arrays of different lengths, unknown method.

    Examples
    --------
    >>> from validation.stats import npv
    >>> est = npv([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(est.estimate, 4), est.successes, est.n
    (0.75, 3, 4)

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Newcombe RG (1998). Stat Med 17:857-872.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E.
    """
    c = confusion_counts(y_true, y_pred)
    return _metric(
        "npv", c.tn, c.tn + c.fn, c, "y_pred has no negative calls (0)", method, confidence_level
    )


@validate_params(_METRIC_PARAMS)
def accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, *, method: str = "wilson", confidence_level: float = 0.95
) -> Estimate:
    """Accuracy (tp + tn) / n with a binomial CI.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool
        Reference standard, 1 = diseased.
    y_pred : array-like of {0, 1} or bool
        Binary test result, 1 = called positive.
    method : str
        Interval method of :func:`proportion_ci` (default ``"wilson"``).
    confidence_level : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``estimate = (tp + tn) / n``, ``successes`` and ``n`` the counts used, the
        interval of ``method``; ``extra`` holds ``metric`` and the 2x2 counts.

    Raises
    ------
    UndefinedMetricError
        Empty input: 'accuracy is undefined: there are no cases'.
    ValueError
        Labels other than 0/1, arrays of different lengths, unknown method.

    Examples
    --------
    >>> from validation.stats import accuracy
    >>> est = accuracy([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(est.estimate, 4), est.successes, est.n
    (0.75, 6, 8)

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Newcombe RG (1998). Stat Med 17:857-872.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E.
    """
    c = confusion_counts(y_true, y_pred)
    return _metric("accuracy", c.tp + c.tn, c.n, c, "there are no cases", method, confidence_level)


# ---------------------------------------------------------------------------
# Likelihood ratios
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LikelihoodRatios(ResultMixin):
    """Positive and negative likelihood ratios, each an :class:`Estimate`."""

    positive: Estimate
    negative: Estimate


def _check_correction(correction: float) -> float:
    c = float(correction)
    if not (math.isfinite(c) and c >= 0.0):
        raise ValueError(f"correction must be a finite number >= 0, got {correction!r}")
    return c


def _log_ratio(
    name: str,
    num: float,
    num_total: float,
    den: float,
    den_total: float,
    level: float,
    counts: ConfusionCounts,
    corrected: bool,
    correction: float,
) -> Estimate:
    """(num/num_total) / (den/den_total) with the log (Katz) interval."""
    ratio = (num / num_total) / (den / den_total)
    se_log = math.sqrt(1.0 / num - 1.0 / num_total + 1.0 / den - 1.0 / den_total)
    z = _z(level)
    log_r = math.log(ratio)
    extra: dict[str, Any] = {"metric": name, "se_log": se_log, **counts.to_dict()}
    extra["correction"] = correction if corrected else 0.0
    return Estimate(
        estimate=ratio,
        ci_low=math.exp(log_r - z * se_log),
        ci_high=math.exp(log_r + z * se_log),
        confidence_level=level,
        method="log",
        n=counts.n,
        extra=extra,
    )


def _lr_inputs(
    y_true: ArrayLike, y_pred: ArrayLike, confidence_level: float, correction: float
) -> tuple[ConfusionCounts, float, float]:
    level = check_confidence_level(confidence_level)
    corr = _check_correction(correction)
    c = confusion_counts(y_true, y_pred)
    if c.n_positive == 0:
        raise UndefinedMetricError(
            "likelihood ratios are undefined: y_true has no positive cases (1)"
        )
    if c.n_negative == 0:
        raise UndefinedMetricError(
            "likelihood ratios are undefined: y_true has no negative cases (0)"
        )
    return c, level, corr


def _lr(which: str, c: ConfusionCounts, level: float, corr: float) -> Estimate:
    if which == "positive":
        cells = {"tp": c.tp, "fp": c.fp}
        label = "LR+"
    else:
        cells = {"fn": c.fn, "tn": c.tn}
        label = "LR-"
    zero = [k for k, v in cells.items() if v == 0]
    corrected = False
    tp, fp, tn, fn = float(c.tp), float(c.fp), float(c.tn), float(c.fn)
    if zero:
        if corr == 0.0:
            cell = zero[0]
            raise UndefinedMetricError(
                f"{label} is undefined on the log scale: {cell} = 0; pass correction=0.5 to add "
                "0.5 to every cell of the 2x2 table"
            )
        tp, fp, tn, fn = tp + corr, fp + corr, tn + corr, fn + corr
        corrected = True
    if which == "positive":
        return _log_ratio("lr_positive", tp, tp + fn, fp, fp + tn, level, c, corrected, corr)
    return _log_ratio("lr_negative", fn, tp + fn, tn, fp + tn, level, c, corrected, corr)


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
        "correction": [Interval(Real, 0, None, closed="left")],
    }
)
def positive_likelihood_ratio(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    confidence_level: float = 0.95,
    correction: float = 0.0,
) -> Estimate:
    """Positive likelihood ratio LR+ = sensitivity / (1 - specificity) with a log CI.

    See :func:`likelihood_ratios` for the method, zero-cell rule and references.

    Examples
    --------
    >>> from validation.stats import positive_likelihood_ratio
    >>> lr = positive_likelihood_ratio([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(lr.estimate, 4)
    3.0
    """
    c, level, corr = _lr_inputs(y_true, y_pred, confidence_level, correction)
    return _lr("positive", c, level, corr)


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
        "correction": [Interval(Real, 0, None, closed="left")],
    }
)
def negative_likelihood_ratio(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    confidence_level: float = 0.95,
    correction: float = 0.0,
) -> Estimate:
    """Negative likelihood ratio LR- = (1 - sensitivity) / specificity with a log CI.

    See :func:`likelihood_ratios` for the method, zero-cell rule and references.

    Examples
    --------
    >>> from validation.stats import negative_likelihood_ratio
    >>> lr = negative_likelihood_ratio([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(lr.estimate, 4)
    0.3333
    """
    c, level, corr = _lr_inputs(y_true, y_pred, confidence_level, correction)
    return _lr("negative", c, level, corr)


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
        "correction": [Interval(Real, 0, None, closed="left")],
    }
)
def likelihood_ratios(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    confidence_level: float = 0.95,
    correction: float = 0.0,
) -> LikelihoodRatios:
    """Positive and negative likelihood ratios with log-method confidence intervals.

    LR+ = sens / (1 - spec) = [tp/(tp+fn)] / [fp/(fp+tn)] and
    LR- = (1 - sens) / spec = [fn/(tp+fn)] / [tn/(fp+tn)], each a ratio of two
    independent binomial proportions. The interval is exp(log LR +- z SE) with
    SE(log LR+) = sqrt(1/tp - 1/(tp+fn) + 1/fp - 1/(fp+tn)) and
    SE(log LR-) = sqrt(1/fn - 1/(tp+fn) + 1/tn - 1/(fp+tn)) (Simel, Samsa &
    Matchar 1991; Katz et al. 1978). ``extra["se_log"]`` holds that SE.

    Zero cells: the log interval does not exist when a cell in the ratio is 0
    (LR+: tp or fp; LR-: fn or tn). By default this raises
    :class:`UndefinedMetricError` naming the cell. With ``correction=0.5``
    (Haldane-Anscombe) 0.5 is added to all four cells of the table, only for a
    ratio that has a zero cell, and the corrected estimate and interval are
    returned with ``extra["correction"] = 0.5``.

    Parameters
    ----------
    y_true, y_pred : array-like of {0, 1} or bool
        Reference standard and binary test result.
    confidence_level : float
        Two-sided confidence level in (0, 1).
    correction : float
        Amount added to every cell when the ratio has a zero cell; 0 (default)
        raises instead.

    Returns
    -------
    LikelihoodRatios
        ``positive`` and ``negative`` Estimates (``method="log"``, ``n`` = all cases).

    Raises
    ------
    UndefinedMetricError
        No reference-standard positives or negatives; a zero cell without correction.

    Examples
    --------
    >>> from validation.stats import likelihood_ratios
    >>> lr = likelihood_ratios([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0])
    >>> round(lr.positive.estimate, 4), round(lr.negative.estimate, 4)
    (3.0, 0.3333)

    References
    ----------
    Simel DL, Samsa GP, Matchar DB (1991). Likelihood ratios with confidence:
    sample size estimation for diagnostic test studies. J Clin Epidemiol
    44:763-770. doi:10.1016/0895-4356(91)90128-V.
    Katz D, Baptista J, Azen SP, Pike MC (1978). Obtaining confidence intervals
    for the risk ratio in cohort studies. Biometrics 34:469-474. doi:10.2307/2530610.
    """
    c, level, corr = _lr_inputs(y_true, y_pred, confidence_level, correction)
    return LikelihoodRatios(
        positive=_lr("positive", c, level, corr), negative=_lr("negative", c, level, corr)
    )


# ---------------------------------------------------------------------------
# Predictive values at a stated prevalence
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictiveValues(ResultMixin):
    """PPV and NPV at a stated prevalence, each an :class:`Estimate`."""

    ppv: Estimate
    npv: Estimate
    prevalence: float


def _logit_pv(
    name: str,
    point: float,
    a_hat: float,
    a_n: float,
    b_hat: float,
    b_n: float,
    odds: float,
    z: float,
) -> tuple[float, float, float]:
    """Logit interval for odds * a / (1 - b) style predictive values.

    logit(PV) = log(odds) + log(a) - log(1 - b); Var = (1-a)/(a n_a) + b/((1-b) n_b).
    Returns (low, high, se_logit).
    """
    logit = math.log(odds) + math.log(a_hat) - math.log1p(-b_hat)
    var = (1.0 - a_hat) / (a_hat * a_n) + b_hat / ((1.0 - b_hat) * b_n)
    se = math.sqrt(var)
    low = 1.0 / (1.0 + math.exp(-(logit - z * se)))
    high = 1.0 / (1.0 + math.exp(-(logit + z * se)))
    # With the adjusted estimates the raw point estimate (0 or 1) may fall outside.
    return min(low, point), max(high, point), se


@validate_params(
    {
        "prevalence": [UNIT_INTERVAL],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def predictive_values(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    prevalence: float,
    confidence_level: float = 0.95,
) -> PredictiveValues:
    """PPV and NPV at a stated prevalence, from sensitivity and specificity.

    For a case-control (enriched) sample the sample PPV/NPV do not apply to the
    intended-use population; Bayes' theorem with the population prevalence π
    gives PPV = Se π / (Se π + (1 - Sp)(1 - π)) and
    NPV = Sp (1 - π) / (Sp (1 - π) + (1 - Se) π). Se and Sp are estimated from
    n1 reference-standard positives and n0 negatives; π is taken as known.

    The intervals are Mercaldo, Lau & Zhou's (2007) logit intervals:
    logit(PPV) = log(π/(1-π)) + log Se - log(1 - Sp) with
    Var = (1 - Se)/(Se n1) + Sp/((1 - Sp) n0), and likewise
    logit(NPV) = log((1-π)/π) + log Sp - log(1 - Se) with
    Var = (1 - Sp)/(Sp n0) + Se/((1 - Se) n1). When Se or Sp is 0 or 1 the
    logit is infinite; then (and only then) both use Mercaldo's adjusted
    estimates Se* = (tp + z^2/2)/(n1 + z^2), Sp* = (tn + z^2/2)/(n0 + z^2) with
    n1 + z^2 and n0 + z^2 in the variance (``method="logit_adjusted"``). The
    point estimate stays the unadjusted Bayes value, and an interval that
    would exclude it (a PV of exactly 0 or 1) is extended to include it.

    Parameters
    ----------
    y_true, y_pred : array-like of {0, 1} or bool
        Reference standard and binary test result.
    prevalence : float
        Prevalence in the intended-use population, in (0, 1).
    confidence_level : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    PredictiveValues
        ``ppv`` and ``npv`` Estimates (``method`` ``"logit"`` or
        ``"logit_adjusted"``, ``n`` = all cases, ``extra`` with ``se_logit``,
        ``prevalence`` and the 2x2 counts) and the ``prevalence``.

    Raises
    ------
    UndefinedMetricError
        No reference-standard positives or negatives; no positive calls (then
        Se = 0 and Sp = 1 and the PPV is 0/0) or no negative calls (NPV 0/0).
    ValueError
        Prevalence not in (0, 1); bad labels.

    Examples
    --------
    >>> from validation.stats import predictive_values
    >>> pv = predictive_values([1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0],
    ...                        prevalence=0.5)
    >>> round(pv.ppv.estimate, 4), round(pv.npv.estimate, 4)
    (0.75, 0.75)

    References
    ----------
    Mercaldo ND, Lau KF, Zhou XH (2007). Confidence intervals for predictive
    values with an emphasis to case-control designs. Stat Med 26:2170-2183.
    doi:10.1002/sim.2677.
    """
    level = check_confidence_level(confidence_level)
    prev = float(prevalence)
    if not (math.isfinite(prev) and 0.0 < prev < 1.0):
        raise ValueError(f"prevalence must be in (0, 1), got {prevalence!r}")
    c = confusion_counts(y_true, y_pred)
    if c.n_positive == 0:
        raise UndefinedMetricError(
            "predictive values at a prevalence are undefined: y_true has no positive cases (1)"
        )
    if c.n_negative == 0:
        raise UndefinedMetricError(
            "predictive values at a prevalence are undefined: y_true has no negative cases (0)"
        )
    if c.tp + c.fp == 0:
        raise UndefinedMetricError(
            "PPV at a prevalence is undefined: y_pred has no positive calls (1)"
        )
    if c.tn + c.fn == 0:
        raise UndefinedMetricError(
            "NPV at a prevalence is undefined: y_pred has no negative calls (0)"
        )
    z = _z(level)
    n1, n0 = float(c.n_positive), float(c.n_negative)
    se_hat, sp_hat = c.tp / n1, c.tn / n0
    ppv_point = se_hat * prev / (se_hat * prev + (1.0 - sp_hat) * (1.0 - prev))
    npv_point = sp_hat * (1.0 - prev) / (sp_hat * (1.0 - prev) + (1.0 - se_hat) * prev)
    boundary = c.tp in (0, c.n_positive) or c.tn in (0, c.n_negative)
    if boundary:
        method = "logit_adjusted"
        a1, a0 = n1 + z * z, n0 + z * z
        se_u, sp_u = (c.tp + z * z / 2.0) / a1, (c.tn + z * z / 2.0) / a0
    else:
        method = "logit"
        a1, a0 = n1, n0
        se_u, sp_u = se_hat, sp_hat
    odds = prev / (1.0 - prev)
    p_lo, p_hi, p_se = _logit_pv("ppv", ppv_point, se_u, a1, sp_u, a0, odds, z)
    n_lo, n_hi, n_se = _logit_pv("npv", npv_point, sp_u, a0, se_u, a1, 1.0 / odds, z)
    common = {"prevalence": prev, **c.to_dict()}
    return PredictiveValues(
        ppv=Estimate(
            estimate=ppv_point,
            ci_low=p_lo,
            ci_high=p_hi,
            confidence_level=level,
            method=method,
            n=c.n,
            extra={"metric": "ppv_at_prevalence", "se_logit": p_se, **common},
        ),
        npv=Estimate(
            estimate=npv_point,
            ci_low=n_lo,
            ci_high=n_hi,
            confidence_level=level,
            method=method,
            n=c.n,
            extra={"metric": "npv_at_prevalence", "se_logit": n_se, **common},
        ),
        prevalence=prev,
    )

"""Hypothesis tests and comparisons for binary (proportion) endpoints.

- :func:`mcnemar`: McNemar's test for two paired binary outcomes (asymptotic,
  continuity-corrected, exact conditional, mid-p).
- :func:`paired_proportion_difference`: CI for the difference of two paired
  proportions (Newcombe's square-and-add method 10, Tango's score interval).
- :func:`proportion_test`: a single proportion against a performance goal
  (H0: Se <= 0.80), exact binomial or score test.
- :func:`paired_noninferiority` (Nam/Tango score test) and
  :func:`unpaired_noninferiority` (Farrington-Manning score test) for a
  difference of proportions with a margin.

Tests for AUC endpoints live in :mod:`validation.stats.roc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from validation.errors import UndefinedMetricError
from validation.stats._checks import (
    as_binary,
    check_confidence_level,
    check_same_length,
)
from validation.stats._params import (
    ALTERNATIVES,
    UNIT_INTERVAL,
    Interval,
    Options,
    Real,
    validate_params,
)
from validation.stats._results import Comparison, TestResult
from validation.stats.proportions import check_counts, proportion_ci

__all__ = [
    "interval_level",
    "mcnemar",
    "paired_noninferiority",
    "paired_proportion_difference",
    "proportion_test",
    "unpaired_noninferiority",
]

MCNEMAR_METHODS = ("asymptotic", "asymptotic_cc", "exact", "mid_p")
PAIRED_DIFFERENCE_METHODS = ("newcombe", "tango", "wald")
PROPORTION_TEST_METHODS = ("exact", "score")

_XTOL = 1e-14


def _paired_counts(
    y_a: ArrayLike, y_b: ArrayLike, name_a: str, name_b: str
) -> tuple[int, int, int, int]:
    """Return (n11, n10, n01, n00) for paired 0/1 outcomes; n10 = a 1 and b 0."""
    a = as_binary(y_a, name=name_a)
    b = as_binary(y_b, name=name_b)
    check_same_length(**{name_a: a, name_b: b})
    if a.size == 0:
        raise UndefinedMetricError(f"no pairs: {name_a} and {name_b} are empty")
    a1 = a == 1
    b1 = b == 1
    n11 = int(np.count_nonzero(a1 & b1))
    n10 = int(np.count_nonzero(a1)) - n11
    n01 = int(np.count_nonzero(b1)) - n11
    n00 = int(a.size) - n11 - n10 - n01
    return n11, n10, n01, n00


def _p_from_z(z: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.norm.sf(z))
    if alternative == "less":
        return float(stats.norm.cdf(z))
    return float(min(1.0, 2.0 * stats.norm.sf(abs(z))))


# ---------------------------------------------------------------------------
# McNemar
# ---------------------------------------------------------------------------


@validate_params(
    {
        "method": [Options(MCNEMAR_METHODS)],
    }
)
def mcnemar(y_pred_a: ArrayLike, y_pred_b: ArrayLike, *, method: str = "exact") -> TestResult:
    """McNemar's test that two paired binary outcomes have the same probability.

    With n10 = pairs where a is 1 and b is 0 and n01 = pairs where a is 0 and b
    is 1 (the discordant pairs), H0 is P(a = 1) = P(b = 1), i.e. n10 ~
    Binomial(n10 + n01, 1/2) given the discordant total. Two-sided.

    - ``asymptotic``: X^2 = (n10 - n01)^2 / (n10 + n01) on 1 df (R
      ``mcnemar.test(correct=FALSE)``).
    - ``asymptotic_cc``: X^2 = max(|n10 - n01| - 1, 0)^2 / (n10 + n01)
      (Edwards 1948). Equals R ``mcnemar.test(correct=TRUE)`` in every case,
      including n10 = n01 where R skips the correction (statistic 0). (statsmodels'
      version gives 1/(n10 + n01) there, hence the hand-written formula.)
    - ``exact``: exact conditional binomial test, R ``binom.test(n10, n10 + n01)``.
    - ``mid_p``: 2 [P(X <= k) - P(X = k)/2], k = min(n10, n01), capped at 1
      (Fagerland, Lydersen & Laake 2013).

    With no discordant pairs the exact and mid-p tests give p = 1 (statistic 0);
    the asymptotic statistics are 0/0 and raise :class:`UndefinedMetricError`.

    Parameters
    ----------
    y_pred_a, y_pred_b : array-like of {0, 1} or bool
        Paired binary outcomes per case: e.g. positive calls of two readers on the
        diseased cases (comparing sensitivities), or correct/incorrect.
    method : {"exact", "mid_p", "asymptotic", "asymptotic_cc"}

    Returns
    -------
    TestResult
        ``statistic`` (X^2 for asymptotic methods, n10 for exact and mid-p),
        ``p_value``, ``df`` (1 for asymptotic), ``alternative="two-sided"``,
        ``null_value=0`` (difference), ``estimate`` = p_a - p_b = (n10 - n01)/n;
        ``extra`` holds ``n11, n10, n01, n00, n``.

    Examples
    --------
    >>> from validation.stats import mcnemar
    >>> a = [1] * 25 + [0] * 8 + [1] * 51 + [0] * 116
    >>> b = [0] * 25 + [1] * 8 + [1] * 51 + [0] * 116
    >>> round(mcnemar(a, b, method="exact").p_value, 6)
    0.004551

    References
    ----------
    McNemar Q (1947). Note on the sampling error of the difference between
    correlated proportions or percentages. Psychometrika 12:153-157.
    doi:10.1007/BF02295996.
    Edwards AL (1948). Note on the "correction for continuity" in testing the
    significance of the difference between correlated proportions.
    Psychometrika 13:185-187. doi:10.1007/BF02289261.
    Fagerland MW, Lydersen S, Laake P (2013). The McNemar test for binary
    matched-pairs data: mid-p and asymptotic are better than exact conditional.
    BMC Med Res Methodol 13:91. doi:10.1186/1471-2288-13-91.
    """
    n11, n10, n01, n00 = _paired_counts(y_pred_a, y_pred_b, "y_pred_a", "y_pred_b")
    n = n11 + n10 + n01 + n00
    nd = n10 + n01
    extra = {"n11": n11, "n10": n10, "n01": n01, "n00": n00, "n": n}
    estimate = (n10 - n01) / n
    df: float | None = None
    if method in ("asymptotic", "asymptotic_cc"):
        if nd == 0:
            raise UndefinedMetricError(
                f"McNemar's {method} test is undefined with no discordant pairs "
                "(n10 = n01 = 0); use method='exact'"
            )
        diff = abs(n10 - n01)
        if method == "asymptotic_cc":
            diff = max(diff - 1, 0)
        statistic = diff * diff / nd
        p = float(stats.chi2.sf(statistic, 1))
        df = 1.0
    elif nd == 0:
        statistic, p = 0.0, 1.0
    elif method == "exact":
        statistic = float(n10)
        p = float(stats.binomtest(n10, nd, 0.5).pvalue)
    else:
        statistic = float(n10)
        k = min(n10, n01)
        p = float(min(1.0, 2.0 * (stats.binom.cdf(k, nd, 0.5) - 0.5 * stats.binom.pmf(k, nd, 0.5))))
    return TestResult(
        statistic=float(statistic),
        p_value=p,
        method=f"mcnemar_{method}",
        df=df,
        alternative="two-sided",
        null_value=0.0,
        estimate=estimate,
        extra=extra,
    )


# ---------------------------------------------------------------------------
# Paired difference: Newcombe and Tango
# ---------------------------------------------------------------------------


def _tango_z(n10: int, n01: int, n: int, delta: float) -> float:
    """Tango's (1998) score statistic for H0: p_a - p_b = delta (= p10 - p01)."""
    num = n10 - n01 - n * delta
    if num == 0.0:
        return 0.0
    # restricted MLE of p01 under H0 (Tango 1998, eq. 3)
    a = 2.0 * n
    b = -n10 - n01 + (2.0 * n - n10 + n01) * delta
    c = -n01 * delta * (1.0 - delta)
    disc = max(b * b - 4.0 * a * c, 0.0)
    q01 = (math.sqrt(disc) - b) / (2.0 * a)
    var = n * (2.0 * q01 + delta * (1.0 - delta))
    if var <= 0.0:
        return math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _score_bounds(
    zfun: Callable[[float], float], estimate: float, zcrit_low: float, zcrit_high: float
) -> tuple[float, float]:
    """Invert a score statistic Z(delta), decreasing in delta, over (-1, 1).

    Lower bound: the delta < estimate where Z = zcrit_low (-1 if zcrit_low is
    infinite or Z never reaches it); upper bound: the delta > estimate where
    Z = -zcrit_high (likewise +1).
    """
    eps = 1e-12
    if math.isinf(zcrit_low):
        low = -1.0
    elif estimate <= -1.0 + eps or zfun(-1.0 + eps) <= zcrit_low:
        low = -1.0
    else:
        low = float(
            optimize.brentq(lambda d: zfun(d) - zcrit_low, -1.0 + eps, estimate, xtol=_XTOL)
        )
    if math.isinf(zcrit_high):
        high = 1.0
    elif estimate >= 1.0 - eps or zfun(1.0 - eps) >= -zcrit_high:
        high = 1.0
    else:
        high = float(
            optimize.brentq(lambda d: zfun(d) + zcrit_high, estimate, 1.0 - eps, xtol=_XTOL)
        )
    return low, high


def _newcombe_paired(n11: int, n10: int, n01: int, n00: int, level: float) -> tuple[float, float]:
    """Newcombe's (1998) method 10 square-and-add interval, with its phi correction."""
    n = n11 + n10 + n01 + n00
    xa, xb = n11 + n10, n11 + n01
    pa, pb = xa / n, xb / n
    ea = proportion_ci(xa, n, method="wilson", confidence_level=level)
    eb = proportion_ci(xb, n, method="wilson", confidence_level=level)
    l1, u1, l2, u2 = ea.ci_low, ea.ci_high, eb.ci_low, eb.ci_high
    if xa == 0 or xa == n or xb == 0 or xb == n:
        phi = 0.0
    else:
        denom = math.sqrt(float(xa) * (n - xa) * xb * (n - xb))
        cross = float(n11) * n00 - float(n10) * n01
        if cross > n / 2.0:
            phi = (cross - n / 2.0) / denom
        elif cross >= 0.0:
            phi = 0.0
        else:
            phi = cross / denom
    d = pa - pb
    dl = (pa - l1) ** 2 - 2.0 * phi * (pa - l1) * (u2 - pb) + (u2 - pb) ** 2
    du = (u1 - pa) ** 2 - 2.0 * phi * (u1 - pa) * (pb - l2) + (pb - l2) ** 2
    return max(-1.0, d - math.sqrt(max(dl, 0.0))), min(1.0, d + math.sqrt(max(du, 0.0)))


@validate_params(
    {
        "method": [Options(PAIRED_DIFFERENCE_METHODS)],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def paired_proportion_difference(
    y_a: ArrayLike,
    y_b: ArrayLike,
    *,
    method: str = "newcombe",
    confidence_level: float = 0.95,
) -> Comparison:
    """Difference of two paired proportions p_a - p_b with a confidence interval.

    - ``newcombe``: Newcombe's (1998) square-and-add interval (his method 10):
      Wilson intervals for p_a and p_b combined with the estimated correlation
      phi, with Newcombe's correction (phi from AD - BC - n/2 when AD - BC > n/2,
      0 when 0 <= AD - BC <= n/2, and 0 when any margin total is 0, as in
      Fagerland, Lydersen & Laake 2014). No test: ``statistic``
      and ``p_value`` are None.
    - ``tango``: Tango's (1998) score interval, the set of delta0 not rejected by
      the score test Z(delta0) = (n10 - n01 - n delta0) /
      sqrt(n (2 q01 + delta0 (1 - delta0))), q01 the MLE of P(a=0, b=1) under
      H0; ``statistic`` and the two-sided ``p_value`` are the score test of
      delta0 = 0 (which equals McNemar's uncorrected test).
    - ``wald``: d +- z sqrt(n10 + n01 - (n10 - n01)^2 / n) / n, truncated to
      [-1, 1]; for comparison only (poor coverage in small samples, zero width
      without discordant pairs; Fagerland et al. 2014). No test.

    Parameters
    ----------
    y_a, y_b : array-like of {0, 1} or bool
        Paired binary outcomes per case (e.g. correct calls of modality a and b).
    method : {"newcombe", "tango", "wald"}
    confidence_level : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    Comparison
        ``difference = p_a - p_b``, the interval, ``estimate_a``, ``estimate_b``,
        ``n`` (pairs); ``extra`` holds the paired counts.

    Examples
    --------
    >>> from validation.stats import paired_proportion_difference
    >>> a = [1] * 59 + [1] * 6 + [0] * 16 + [0] * 80
    >>> b = [1] * 59 + [0] * 6 + [1] * 16 + [0] * 80
    >>> c = paired_proportion_difference(a, b, method="tango")
    >>> round(c.difference, 4), round(c.ci_low, 4), round(c.ci_high, 4)
    (-0.0621, -0.124, -0.0054)

    References
    ----------
    Newcombe RG (1998). Improved confidence intervals for the difference between
    binomial proportions based on paired data. Stat Med 17:2635-2650.
    doi:10.1002/(SICI)1097-0258(19981130)17:22<2635::AID-SIM954>3.0.CO;2-C.
    Tango T (1998). Equivalence test and confidence interval for the difference
    in proportions for the paired-sample design. Stat Med 17:891-908.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<891::AID-SIM780>3.0.CO;2-B.
    Fagerland MW, Lydersen S, Laake P (2014). Recommended tests and confidence
    intervals for paired binomial proportions. Stat Med 33:2850-2875.
    doi:10.1002/sim.6148.
    """
    level = check_confidence_level(confidence_level)
    n11, n10, n01, n00 = _paired_counts(y_a, y_b, "y_a", "y_b")
    n = n11 + n10 + n01 + n00
    d = (n10 - n01) / n
    statistic: float | None = None
    p: float | None = None
    se: float | None = None
    if method == "newcombe":
        low, high = _newcombe_paired(n11, n10, n01, n00, level)
    elif method == "wald":
        se = math.sqrt(max(n10 + n01 - (n10 - n01) ** 2 / n, 0.0)) / n
        z = float(stats.norm.isf((1.0 - level) / 2.0))
        low, high = max(-1.0, d - z * se), min(1.0, d + z * se)
    else:
        z = float(stats.norm.isf((1.0 - level) / 2.0))
        low, high = _score_bounds(lambda x: _tango_z(n10, n01, n, x), d, z, z)
        if n10 + n01 > 0:
            statistic = _tango_z(n10, n01, n, 0.0)
            p = _p_from_z(statistic, "two-sided")
    return Comparison(
        difference=d,
        ci_low=low,
        ci_high=high,
        statistic=statistic,
        p_value=p,
        confidence_level=level,
        method=method,
        estimate_a=(n11 + n10) / n,
        estimate_b=(n11 + n01) / n,
        se=se,
        n=n,
        extra={"n11": n11, "n10": n10, "n01": n01, "n00": n00},
    )


# ---------------------------------------------------------------------------
# Performance goal for a single proportion
# ---------------------------------------------------------------------------


@validate_params(
    {
        "null_value": [UNIT_INTERVAL],
        "alternative": [ALTERNATIVES],
        "method": [Options(PROPORTION_TEST_METHODS)],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def proportion_test(
    successes: int,
    n: int,
    *,
    null_value: float,
    alternative: str = "greater",
    method: str = "exact",
    confidence_level: float = 0.95,
) -> TestResult:
    """Test a proportion against a performance goal, e.g. H0: Se <= 0.80 vs H1: Se > 0.80.

    - ``exact``: exact binomial test (``scipy.stats.binomtest``; two-sided p by
      the minimum-likelihood rule, as R ``binom.test``) with the Clopper-Pearson
      interval.
    - ``score``: z = (p - p0) / sqrt(p0 (1 - p0) / n) with the Wilson interval
      (R ``prop.test(correct=FALSE)``).

    ``ci_low``/``ci_high`` are always the two-sided interval at
    ``confidence_level`` (Clopper-Pearson for ``exact``, Wilson for ``score``),
    as in :func:`validation.stats.compare_auc`. For a one-sided test at level
    alpha the dual bound is that of ``confidence_level = 1 - 2 alpha``: e.g.
    H1: p > p0 is rejected at alpha = 0.025 exactly when the 95% lower bound
    exceeds p0 (exact: Clopper-Pearson; score: Wilson).

    Parameters
    ----------
    successes, n : int
        Successes and trials (e.g. true positives and diseased cases).
    null_value : float
        The performance goal p0 in (0, 1).
    alternative : {"greater", "less", "two-sided"}
        H1: p > p0 (default), p < p0, or p != p0.
    method : {"exact", "score"}
    confidence_level : float
        Two-sided confidence level of the reported interval, in (0, 1).

    Returns
    -------
    TestResult
        ``statistic`` (successes for exact, z for score), ``p_value``,
        ``null_value``, ``estimate = successes / n``, the interval;
        ``extra`` holds ``successes`` and ``n``.

    Examples
    --------
    >>> from validation.stats import proportion_test
    >>> r = proportion_test(90, 100, null_value=0.80, alternative="greater")
    >>> round(r.p_value, 6), round(r.ci_low, 4), round(r.ci_high, 4)
    (0.005696, 0.8238, 0.951)

    References
    ----------
    Clopper CJ, Pearson ES (1934). Biometrika 26:404-413. doi:10.1093/biomet/26.4.404.
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    FDA (2007). Statistical Guidance on Reporting Results from Studies Evaluating
    Diagnostic Tests.
    """
    level = check_confidence_level(confidence_level)
    p0 = float(null_value)
    x, m = check_counts(successes, n)
    phat = x / m
    if method == "exact":
        statistic = float(x)
        p = float(stats.binomtest(x, m, p0, alternative=alternative).pvalue)
    else:
        statistic = (phat - p0) / math.sqrt(p0 * (1.0 - p0) / m)
        p = _p_from_z(statistic, alternative)
    ci_method = "clopper_pearson" if method == "exact" else "wilson"
    est = proportion_ci(x, m, method=ci_method, confidence_level=level)
    low, high = est.ci_low, est.ci_high
    return TestResult(
        statistic=statistic,
        p_value=p,
        method=f"binomial_{method}",
        alternative=alternative,
        null_value=p0,
        estimate=phat,
        ci_low=low,
        ci_high=high,
        confidence_level=level,
        extra={"successes": x, "n": m},
    )


# ---------------------------------------------------------------------------
# Non-inferiority / superiority with a margin
# ---------------------------------------------------------------------------


def _check_margin(margin: float) -> float:
    m = float(margin)
    if not (math.isfinite(m) and 0.0 <= m < 1.0):
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    return m


def _null_difference(margin: float, alternative: str) -> float:
    if alternative == "two-sided" and margin != 0.0:
        raise ValueError(
            "margin must be 0 with alternative='two-sided'; use alternative='greater' "
            f"(non-inferiority/superiority) or 'less', got margin={margin!r}"
        )
    return margin if alternative == "less" else -margin


def _two_sided_crit(level: float) -> float:
    return float(stats.norm.isf((1.0 - level) / 2.0))


@validate_params(
    {
        "margin": [Interval(Real, 0, 1, closed="left")],
        "alternative": [ALTERNATIVES],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def paired_noninferiority(
    y_a: ArrayLike,
    y_b: ArrayLike,
    *,
    margin: float,
    alternative: str = "greater",
    confidence_level: float = 0.95,
) -> Comparison:
    """Non-inferiority / superiority test of two paired proportions (Nam-Tango score test).

    The score statistic for H0: delta = delta0 is Tango's (1998)
    Z = (n10 - n01 - n delta0) / sqrt(n (2 q01 + delta0 (1 - delta0))), q01 the
    restricted MLE of P(a = 0, b = 1); the same test as Nam (1997). For
    ``margin=0`` it is McNemar's uncorrected test.

    Hypotheses (delta = p_a - p_b, margin >= 0):

    - ``greater`` (default): H0: delta <= -margin vs H1: delta > -margin, i.e.
      a is non-inferior to b (``margin=0``: a is superior to b).
    - ``less``: H0: delta >= margin vs H1: delta < margin (for endpoints where
      lower is better, such as a false-positive rate).
    - ``two-sided``: H0: delta = 0 vs H1: delta != 0 (``margin`` must be 0).

    These are the conventions of :func:`validation.stats.compare_auc`.
    ``ci_low``/``ci_high`` are always the two-sided score interval at
    ``confidence_level`` (the inversion of the same statistic). For a
    one-sided test at level alpha the dual bound is that of
    ``confidence_level = 1 - 2 alpha``: with ``alternative="greater"`` the test
    rejects at alpha = 0.025 exactly when the 95% lower bound exceeds
    -margin. ``extra["null_difference"]`` holds the tested delta0.

    Parameters
    ----------
    y_a, y_b : array-like of {0, 1} or bool
        Paired binary outcomes per case (e.g. a candidate's and the released
        model's positive calls on the diseased cases).
    margin : float
        Non-inferiority margin in [0, 1).
    alternative : {"greater", "less", "two-sided"}
    confidence_level : float
        Two-sided confidence level of the interval, in (0, 1).

    Returns
    -------
    Comparison
        ``difference = p_a - p_b``, interval, ``statistic`` (Z), ``p_value``,
        ``alternative``, ``margin``, ``estimate_a``, ``estimate_b``, ``n`` and
        ``se`` (null standard error of the difference).

    Examples
    --------
    >>> from validation.stats import paired_noninferiority
    >>> a = [1] * 80 + [1] * 6 + [0] * 4 + [0] * 10
    >>> b = [1] * 80 + [0] * 6 + [1] * 4 + [0] * 10
    >>> r = paired_noninferiority(a, b, margin=0.05)
    >>> round(r.difference, 4), round(r.statistic, 4), round(r.p_value, 6)
    (0.02, 2.0, 0.02275)

    References
    ----------
    Tango T (1998). Stat Med 17:891-908.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<891::AID-SIM780>3.0.CO;2-B.
    Nam J (1997). Establishing equivalence of two treatments and sample size
    requirements in matched-pairs design. Biometrics 53:1422-1430.
    doi:10.2307/2533508.
    """
    level = check_confidence_level(confidence_level)
    m = _check_margin(margin)
    n11, n10, n01, n00 = _paired_counts(y_a, y_b, "y_a", "y_b")
    n = n11 + n10 + n01 + n00
    d = (n10 - n01) / n
    d0 = _null_difference(m, alternative)

    def zfun(x: float) -> float:
        return _tango_z(n10, n01, n, x)

    statistic = zfun(d0)
    p = _p_from_z(statistic, alternative)
    z2 = _two_sided_crit(level)
    low, high = _score_bounds(zfun, d, z2, z2)
    num = n10 - n01 - n * d0
    se = abs(num / statistic) / n if statistic not in (0.0,) and math.isfinite(statistic) else None
    return Comparison(
        difference=d,
        ci_low=low,
        ci_high=high,
        statistic=statistic,
        p_value=p,
        confidence_level=level,
        method="tango_score",
        estimate_a=(n11 + n10) / n,
        estimate_b=(n11 + n01) / n,
        alternative=alternative,
        margin=m,
        se=se,
        n=n,
        extra={
            "n11": n11,
            "n10": n10,
            "n01": n01,
            "n00": n00,
            "null_difference": d0,
        },
    )


def _fm_z(x1: int, n1: int, x2: int, n2: int, delta: float, *, mn_factor: bool = False) -> float:
    """Farrington-Manning (1990) score statistic for H0: p1 - p2 = delta.

    ``mn_factor=True`` multiplies the variance by N/(N - 1) (Miettinen &
    Nurminen 1985); used only to check the shared code against R PropCIs.
    """
    p1, p2 = x1 / n1, x2 / n2
    num = p1 - p2 - delta
    if num == 0.0:
        return 0.0
    # restricted MLE of p1 under H0: closed-form root of a cubic (Farrington &
    # Manning 1990, Miettinen & Nurminen 1985)
    theta = n2 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p2 + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    d = -p1 * delta * (1.0 + delta)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + d / (2.0 * a)
    u2 = b * b / (9.0 * a * a) - c / (3.0 * a)
    u = math.copysign(math.sqrt(max(u2, 0.0)), v) if v != 0.0 else math.sqrt(max(u2, 0.0))
    if u == 0.0:
        r1 = -b / (3.0 * a)
    else:
        ratio = min(1.0, max(-1.0, v / u**3))
        w = (math.pi + math.acos(ratio)) / 3.0
        r1 = 2.0 * u * math.cos(w) - b / (3.0 * a)
    r1 = min(1.0, max(0.0, r1))
    r2 = min(1.0, max(0.0, r1 - delta))
    var = r1 * (1.0 - r1) / n1 + r2 * (1.0 - r2) / n2
    if mn_factor:
        var *= (n1 + n2) / (n1 + n2 - 1.0)
    if var <= 0.0:
        return math.copysign(math.inf, num)
    return num / math.sqrt(var)


@validate_params(
    {
        "margin": [Interval(Real, 0, 1, closed="left")],
        "alternative": [ALTERNATIVES],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def unpaired_noninferiority(
    y_a: ArrayLike,
    y_b: ArrayLike,
    *,
    margin: float,
    alternative: str = "greater",
    confidence_level: float = 0.95,
) -> Comparison:
    """Non-inferiority / superiority test of two independent proportions (Farrington-Manning).

    Z = (p_a - p_b - delta0) / sqrt(p~a (1 - p~a)/n_a + p~b (1 - p~b)/n_b) with
    p~ the maximum-likelihood estimates restricted to p_a - p_b = delta0
    (Farrington & Manning 1990; closed form of the cubic as in Miettinen &
    Nurminen 1985, without their n/(n-1) factor). The interval inverts the same
    statistic (score interval). Written by hand because statsmodels 0.15's
    ``test_proportions_2indep(method="score")`` uses a wrong coefficient in this
    cubic whenever the null difference is not 0 (statsmodels issue #10269), and
    its score interval fails (NaN) when both samples are all 0 or all 1; at a
    null difference of 0 the two agree.

    Hypotheses (delta = p_a - p_b, margin >= 0):

    - ``greater`` (default): H0: delta <= -margin vs H1: delta > -margin, i.e.
      a is non-inferior to b (``margin=0``: a is superior to b).
    - ``less``: H0: delta >= margin vs H1: delta < margin (for endpoints where
      lower is better, such as a false-positive rate).
    - ``two-sided``: H0: delta = 0 vs H1: delta != 0 (``margin`` must be 0).

    These are the conventions of :func:`validation.stats.compare_auc`.
    ``ci_low``/``ci_high`` are always the two-sided score interval at
    ``confidence_level`` (the inversion of the same statistic). For a
    one-sided test at level alpha the dual bound is that of
    ``confidence_level = 1 - 2 alpha``: with ``alternative="greater"`` the test
    rejects at alpha = 0.025 exactly when the 95% lower bound exceeds
    -margin. ``extra["null_difference"]`` holds the tested delta0.

    Parameters
    ----------
    y_a, y_b : array-like of {0, 1} or bool
        Binary outcomes of two independent samples (lengths may differ).
    margin : float
        Non-inferiority margin in [0, 1).
    alternative : {"greater", "less", "two-sided"}
    confidence_level : float
        Two-sided confidence level of the interval, in (0, 1).

    Returns
    -------
    Comparison
        ``difference = p_a - p_b``, interval, ``statistic`` (Z), ``p_value``,
        ``alternative``, ``margin``, ``estimate_a``, ``estimate_b``, ``n``
        (n_a + n_b) and ``se`` (null standard error); ``extra`` holds counts.

    Examples
    --------
    >>> from validation.stats import unpaired_noninferiority
    >>> a = [1] * 85 + [0] * 15
    >>> b = [1] * 88 + [0] * 12
    >>> r = unpaired_noninferiority(a, b, margin=0.10)
    >>> round(r.difference, 4), round(r.statistic, 4), round(r.p_value, 6)
    (-0.03, 1.4193, 0.077906)

    References
    ----------
    Farrington CP, Manning G (1990). Test statistics and sample size formulae for
    comparative binomial trials with null hypothesis of non-zero risk difference
    or non-unity relative risk. Stat Med 9:1447-1454. doi:10.1002/sim.4780091208.
    Miettinen O, Nurminen M (1985). Comparative analysis of two rates. Stat Med
    4:213-226. doi:10.1002/sim.4780040211.
    """
    level = check_confidence_level(confidence_level)
    m = _check_margin(margin)
    a = as_binary(y_a, name="y_a")
    b = as_binary(y_b, name="y_b")
    if a.size == 0:
        raise UndefinedMetricError("the proportion of y_a is undefined: y_a is empty")
    if b.size == 0:
        raise UndefinedMetricError("the proportion of y_b is undefined: y_b is empty")
    x1, n1 = int(np.count_nonzero(a)), int(a.size)
    x2, n2 = int(np.count_nonzero(b)), int(b.size)
    d = x1 / n1 - x2 / n2
    d0 = _null_difference(m, alternative)

    def zfun(x: float) -> float:
        return _fm_z(x1, n1, x2, n2, x)

    statistic = zfun(d0)
    p = _p_from_z(statistic, alternative)
    z2 = _two_sided_crit(level)
    low, high = _score_bounds(zfun, d, z2, z2)
    num = d - d0
    se = abs(num / statistic) if statistic != 0.0 and math.isfinite(statistic) else None
    return Comparison(
        difference=d,
        ci_low=low,
        ci_high=high,
        statistic=statistic,
        p_value=p,
        confidence_level=level,
        method="farrington_manning",
        estimate_a=x1 / n1,
        estimate_b=x2 / n2,
        alternative=alternative,
        margin=m,
        se=se,
        n=n1 + n2,
        extra={
            "successes_a": x1,
            "n_a": n1,
            "successes_b": x2,
            "n_b": n2,
            "null_difference": d0,
        },
    )


@validate_params(
    {
        "significance_level": [Interval(Real, 0, 0.5, closed="neither")],
    }
)
def interval_level(significance_level: float) -> float:
    """Two-sided confidence level that agrees with a one-sided test at ``significance_level``.

    radval's one convention (``radval run`` defaults and ``radval gate``): a one-sided
    test at level alpha is reported with the two-sided ``1 - 2 alpha`` interval, whose
    bound on the side of the alternative excludes the null value exactly when a Wald-type
    test rejects (alpha = 0.025 <-> 95%). Score and exact tests agree up to their
    interval construction.

    Examples
    --------
    >>> interval_level(0.025)
    0.95

    References
    ----------
    ICH E9 (1998), Statistical principles for clinical trials, section 5.5 (one-sided
    alpha = half the two-sided level). https://database.ich.org/sites/default/files/E9_Guideline.pdf
    """
    alpha = float(significance_level)
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"significance_level must be in (0, 0.5), got {significance_level!r}")
    return round(1.0 - 2.0 * alpha, 12)

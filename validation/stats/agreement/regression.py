"""Method-comparison regression: Deming (jackknife interval, Linnet 1993) and
Passing-Bablok (1983, rank-based intervals)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from validation.errors import UndefinedMetricError
from validation.stats._checks import as_scores, check_confidence_level, check_same_length
from validation.stats._params import UNIT_INTERVAL, Interval, Real, validate_params
from validation.stats._results import Estimate, ResultMixin

__all__ = ["MethodComparisonFit", "deming_regression", "passing_bablok"]


@dataclass(frozen=True)
class MethodComparisonFit(ResultMixin):
    """A straight line ``measured = intercept + slope * reference`` with intervals.

    Attributes
    ----------
    slope, intercept : Estimate
    method : str
        ``deming_jackknife_linnet_1993`` or ``passing_bablok_1983``.
    n : int
        Number of pairs.
    error_ratio : float or None
        Deming only: variance of the reference method's errors over the measured
        method's.
    extra : dict
    """

    slope: Estimate
    intercept: Estimate
    method: str
    n: int
    error_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def bias_at(self, level: float) -> float:
        """Systematic difference ``intercept + (slope - 1) * level`` at a decision level."""
        return self.intercept.estimate + (self.slope.estimate - 1.0) * float(level)


def _pairs(
    measured: ArrayLike, reference: ArrayLike, minimum: int, what: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = as_scores(measured, name="measured")
    x = as_scores(reference, name="reference")
    check_same_length(measured=y, reference=x)
    if x.size < minimum:
        raise UndefinedMetricError(f"{what} needs at least {minimum} pairs, got {x.size}")
    return x, y


def _deming_slopes(
    u: NDArray[np.float64], q: NDArray[np.float64], p: NDArray[np.float64], lam: float
) -> NDArray[np.float64]:
    """Deming slope from centred sums of squares and products (Linnet 1990, eq. 4)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((lam * q - u) + np.sqrt((u - lam * q) ** 2 + 4.0 * lam * p * p)) / (2.0 * lam * p)


@validate_params(
    {
        "error_ratio": [Interval(Real, 0, None, closed="neither")],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def deming_regression(
    measured: ArrayLike,
    reference: ArrayLike,
    *,
    error_ratio: float = 1.0,
    confidence_level: float = 0.95,
) -> MethodComparisonFit:
    """Deming regression of ``measured`` on ``reference`` with jackknife intervals.

    With ``lambda = error_ratio`` (the variance of the reference method's measurement
    errors divided by that of the measured method's, as R mcr's ``error.ratio``) and
    centred sums ``u = Sxx``, ``q = Syy``, ``p = Sxy``, the slope is
    ``b = (lambda q - u + sqrt((u - lambda q)^2 + 4 lambda p^2)) / (2 lambda p)`` and
    the intercept ``ybar - b xbar`` (Linnet 1990). Intervals: the jackknife of Linnet
    (1993) as R ``mcr::mcreg(method.ci = "jackknife")`` computes it: pseudo-values
    ``n theta - (n - 1) theta_(-i)``, ``SE = sd(pseudo) / sqrt(n)``, interval
    ``theta +- t_{n-2} SE`` centred on the full-data estimate.

    Parameters
    ----------
    measured, reference : array-like of float
        Paired results of the method under test (y) and the comparison method (x).
    error_ratio : float
        ``var(reference errors) / var(measured errors)``, > 0 (1 = orthogonal
        regression).
    confidence_level : float

    Returns
    -------
    MethodComparisonFit
        ``method = "deming_jackknife_linnet_1993"``; slope and intercept with ``se``.

    Raises
    ------
    ValueError
        ``error_ratio`` not positive; inputs not finite or of different length.
    UndefinedMetricError
        Fewer than 3 pairs; no covariance between the methods (``Sxy = 0``), in the
        data or in a leave-one-out sample.

    References
    ----------
    Deming WE (1943). Statistical Adjustment of Data. Wiley.
    Linnet K (1990). Estimation of the linear relationship between the measurements of
    two methods with proportional errors. Stat Med 9:1463-1473.
    doi:10.1002/sim.4780091210.
    Linnet K (1993). Evaluation of regression procedures for methods comparison
    studies. Clin Chem 39:424-432. doi:10.1093/clinchem/39.3.424.

    Examples
    --------
    >>> fit = deming_regression([1.1, 2.0, 3.2, 3.9, 5.1], [1.0, 2.0, 3.0, 4.0, 5.0])
    >>> round(fit.slope.estimate, 4), fit.method
    (0.9926, 'deming_jackknife_linnet_1993')
    """
    lam = float(error_ratio)
    if not (math.isfinite(lam) and lam > 0):
        raise ValueError(f"error_ratio must be a positive number, got {error_ratio!r}")
    level = check_confidence_level(confidence_level)
    x, y = _pairs(measured, reference, 3, "Deming regression")
    n = x.size
    xc, yc = x - x.mean(), y - y.mean()
    u, q, p = float(xc @ xc), float(yc @ yc), float(xc @ yc)
    if p == 0.0:
        raise UndefinedMetricError(
            "Deming regression is undefined: the two methods have zero covariance"
        )
    slope = float(_deming_slopes(np.array([u]), np.array([q]), np.array([p]), lam)[0])
    intercept = float(y.mean() - slope * x.mean())
    # leave-one-out sums by downdating (no refit per case)
    f = n / (n - 1.0)
    u_i, q_i, p_i = u - f * xc * xc, q - f * yc * yc, p - f * xc * yc
    b_i = _deming_slopes(u_i, q_i, p_i, lam)
    if not np.isfinite(b_i).all():
        raise UndefinedMetricError(
            "the Deming jackknife is undefined: leaving out one pair leaves zero covariance"
        )
    xm_i = (n * x.mean() - x) / (n - 1.0)
    ym_i = (n * y.mean() - y) / (n - 1.0)
    a_i = ym_i - b_i * xm_i
    t = float(special.stdtrit(n - 2.0, (1.0 + level) / 2.0))
    out = []
    for est, loo in ((slope, b_i), (intercept, a_i)):
        pseudo = n * est - (n - 1.0) * loo
        se = float(np.std(pseudo, ddof=1)) / math.sqrt(n)
        out.append(
            Estimate(est, est - t * se, est + t * se, level, "jackknife_linnet_1993", n, se=se)
        )
    return MethodComparisonFit(
        slope=out[0],
        intercept=out[1],
        method="deming_jackknife_linnet_1993",
        n=n,
        error_ratio=lam,
        extra={"df": n - 2},
    )


def _wrapped_slopes(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], int, int, int]:
    """Pairwise slopes in Passing-Bablok order, with the counts of each kind.

    Returns the slopes ordered as the shifted median needs them: finite slopes
    greater than -1 ascending, then vertical pairs (+inf), then slopes below -1
    ascending (those ``K`` slopes sit "above" the vertical ones, which is what the
    shift by ``K`` in Passing & Bablok (1983) does). Pairs of identical points and
    slopes of exactly -1 are left out.
    """
    i, j = np.triu_indices(x.size, k=1)
    dx, dy = x[j] - x[i], y[j] - y[i]
    same = (dx == 0) & (dy == 0)
    vertical = (dx == 0) & ~same
    minus_one = (dy == -dx) & ~same & ~vertical
    finite = ~(same | vertical | minus_one)
    s = dy[finite] / dx[finite]
    below = s < -1.0
    upper = np.sort(s[~below])
    lower = np.sort(s[below])
    n_vert = int(vertical.sum())
    ordered = np.concatenate([upper, np.full(n_vert, np.inf), lower])
    return ordered, int(below.sum()), n_vert, int(minus_one.sum())


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
    }
)
def passing_bablok(
    measured: ArrayLike,
    reference: ArrayLike,
    *,
    confidence_level: float = 0.95,
) -> MethodComparisonFit:
    """Passing-Bablok regression of ``measured`` on ``reference`` (Passing & Bablok 1983).

    The slope is the shifted median of the ``N`` pairwise slopes ``S_ij = (y_j - y_i)
    / (x_j - x_i)``, leaving out pairs of identical points (0/0) and slopes of exactly
    -1, shifted by ``K`` = the number of slopes below -1: ``b = S_((N+1)/2 + K)``
    (``N`` odd) or the mean of ``S_(N/2 + K)`` and ``S_(N/2 + 1 + K)`` (``N`` even).
    Vertical pairs (equal x) count as infinite slopes; the shift makes the sign of
    their infinity irrelevant. The intercept is ``median(y_i - b x_i)``. Rank-based
    interval (Passing & Bablok 1983, sect. 3): ``C = z sqrt(n (n - 1)(2n + 5) / 18)``,
    ``M1 = round((N - C) / 2)``, ``M2 = N - M1 + 1``, slope bounds ``S_(M1 + K)``
    and ``S_(M2 + K)``, intercept bounds ``median(y - b_U x)`` and
    ``median(y - b_L x)``. A bound beyond the available slopes is infinite.

    R's mcr (``method.reg = "PaBa"``) differs on purpose: it counts slopes of exactly
    -1 half, averages the two middle angles rather than slopes (``N`` even), and takes
    the interval bounds at positions ``(N -+ C + 1) / 2`` (rounded to half ranks, "in
    analogy to the median") rather than ``M1`` and ``M2``, which narrows the interval
    by about one rank on each side; the Calanas reference values stored with mcr follow
    the same convention. Point estimates agree whenever ``N`` is odd and no slope is
    exactly -1 (checked on mcr's test cases).

    Parameters
    ----------
    measured, reference : array-like of float
        Paired results of the method under test (y) and the comparison method (x).
    confidence_level : float

    Returns
    -------
    MethodComparisonFit
        ``method = "passing_bablok_1983"``; ``extra``: ``n_slopes`` (N), ``K``,
        ``n_vertical``, ``n_minus_one`` (left out), ``kendall_tau`` and its
        ``kendall_p_value`` (the method assumes a positive relation).

    Raises
    ------
    ValueError
        Inputs not finite or of different length.
    UndefinedMetricError
        Fewer than 3 pairs; Kendall's tau not positive (the method assumes a positive
        relation; whether tau is significantly positive, as Passing & Bablok ask, is
        left to the caller: ``extra["kendall_p_value"]``); no usable slope; a shifted
        median that falls on vertical pairs or below -1.

    References
    ----------
    Passing H, Bablok W (1983). A new biometrical procedure for testing the equality of
    measurements from two different analytical methods. J Clin Chem Clin Biochem
    21:709-720. doi:10.1515/cclm.1983.21.11.709.
    Bilic-Zulle L (2011). Comparison of methods: Passing and Bablok regression.
    Biochem Med 21:49-52. doi:10.11613/BM.2011.010.

    Examples
    --------
    >>> fit = passing_bablok([1.1, 2.0, 3.2, 3.9, 5.1], [1.0, 2.0, 3.0, 4.0, 5.0])
    >>> round(fit.slope.estimate, 4), round(fit.intercept.estimate, 4)
    (0.975, 0.125)
    """
    level = check_confidence_level(confidence_level)
    x, y = _pairs(measured, reference, 3, "Passing-Bablok regression")
    n = x.size
    tau = stats.kendalltau(x, y)
    if not float(tau.statistic) > 0:
        raise UndefinedMetricError(
            "Passing-Bablok regression (1983) assumes a positive relation between the "
            f"methods; Kendall's tau is {float(tau.statistic)!r}"
        )
    slopes, k, n_vert, n_m1 = _wrapped_slopes(x, y)
    big_n = slopes.size
    if big_n == 0:
        raise UndefinedMetricError(
            "Passing-Bablok regression is undefined: every pair of points is identical or "
            "has slope -1"
        )
    n_regular = big_n - k - n_vert  # slopes > -1: where a positive relation's estimate lies

    def at(rank: int) -> float:  # 1-based order statistic of the shifted slopes
        if rank < 1:
            return -math.inf
        if rank > n_regular:
            return math.inf
        return float(slopes[rank - 1])

    if big_n % 2:
        mid = [(big_n + 1) // 2]
    else:
        mid = [big_n // 2, big_n // 2 + 1]
    if max(mid) > n_regular:
        raise UndefinedMetricError(
            "Passing-Bablok regression is undefined here: the shifted median falls on "
            f"vertical pairs or slopes below -1 ({k} of {big_n} slopes below -1, {n_vert} "
            "vertical); it assumes a positive relation between the methods"
        )
    slope = float(np.mean([at(r) for r in mid]))
    z = float(-special.ndtri((1.0 - level) / 2.0))
    c = z * math.sqrt(n * (n - 1.0) * (2.0 * n + 5.0) / 18.0)
    m1 = int(math.floor((big_n - c) / 2.0 + 0.5))
    m2 = big_n - m1 + 1
    b_lo, b_hi = at(m1), at(m2)
    intercept = float(np.median(y - slope * x))

    def icept(b: float, side: float) -> float:
        if not math.isfinite(b):
            return side
        return float(np.median(y - b * x))

    a_lo, a_hi = icept(b_hi, -math.inf), icept(b_lo, math.inf)
    if a_lo > a_hi:  # possible with negative reference values
        a_lo, a_hi = a_hi, a_lo
    return MethodComparisonFit(
        slope=Estimate(slope, b_lo, b_hi, level, "passing_bablok_1983", n),
        intercept=Estimate(intercept, a_lo, a_hi, level, "passing_bablok_1983", n),
        method="passing_bablok_1983",
        n=n,
        extra={
            "n_slopes": big_n,
            "K": k,
            "n_vertical": n_vert,
            "n_minus_one": n_m1,
            "rank_low": m1,
            "rank_high": m2,
            "kendall_tau": float(tau.statistic),
            "kendall_p_value": float(tau.pvalue),
        },
    )

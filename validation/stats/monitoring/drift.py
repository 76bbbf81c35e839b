"""Drift measures for post-market monitoring: a production window against the reference.

Label-free: they compare what the device sees and outputs in a window of production
cases with the reference (the locked test set, or a baseline window).

* :func:`psi_bins` / :func:`population_stability_index`: PSI over bins declared from
  the reference, ``PSI = sum_i (a_i - r_i) ln(a_i / r_i)`` (Yurdakul 2018). Bins are
  right-open ``[e_i, e_{i+1})`` with the outer edges at -inf and +inf; the inner edges
  are the reference's quantiles at ``i / n_bins`` (``numpy.quantile``, linear
  interpolation) with duplicate edges merged, or declared edges. **Epsilon**: a bin whose
  share is 0 in either sample makes the log infinite; its share is replaced by
  ``epsilon`` (default ``1e-4``) in that sample only, the other shares are left as they
  are, and the bins so floored are listed in the result. Nothing is renormalised.
* :func:`ks_drift`: two-sample Kolmogorov-Smirnov statistic and p-value
  (``scipy.stats.ks_2samp``, exact for small samples without ties, else asymptotic).
* :func:`wasserstein_drift`: the 1-Wasserstein (earth mover's) distance between the two
  empirical distributions (``scipy.stats.wasserstein_distance``), in score units.
* :func:`positive_rate_shift`: the positive rate at the locked threshold with its Wilson
  interval, and the two-sided score test of equal rates in the window and the reference
  (:func:`validation.stats.unpaired_noninferiority` with margin 0, i.e. the pooled z test,
  R's ``prop.test(correct = FALSE)``).
* :func:`category_shift`: the mix of a categorical attribute (site, manufacturer, model,
  protocol) against the reference: Pearson's chi-square test of homogeneity on the 2 x K
  table (``scipy.stats.chi2_contingency``, no continuity correction), the total variation
  distance, and the categories that are **new** (absent from the reference) or **gone**,
  by name.

References
----------
Yurdakul B (2018). Statistical properties of population stability index. PhD thesis,
Western Michigan University. https://scholarworks.wmich.edu/dissertations/3208
Kolmogorov-Smirnov: Hodges JL (1958). The significance probability of the Smirnov
two-sample test. Ark Mat 3:469-486. doi:10.1007/BF02589501.
Wasserstein: Ramdas A, Garcia Trillos N, Cuturi M (2017). On Wasserstein two-sample
testing and related families of nonparametric tests. Entropy 19:47. doi:10.3390/e19020047.
Pearson K (1900). On the criterion that a given system of deviations ... Philos Mag
50:157-175. doi:10.1080/14786440009463897.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from validation.errors import UndefinedMetricError
from validation.stats._checks import as_scores, check_confidence_level
from validation.stats._results import Estimate, ResultMixin, TestResult, jsonable
from validation.stats.hypothesis import unpaired_noninferiority
from validation.stats.proportions import proportion_ci

__all__ = [
    "CategoryShift",
    "PsiResult",
    "category_shift",
    "ks_drift",
    "population_stability_index",
    "positive_rate_shift",
    "psi_bins",
    "wasserstein_drift",
    "PositiveRateShift",
]

DEFAULT_PSI_EPSILON = 1e-4


def _nonempty(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = as_scores(values, name=name)
    if arr.size == 0:
        raise UndefinedMetricError(f"the drift measure is undefined: {name} is empty")
    return arr


def psi_bins(reference: ArrayLike, *, n_bins: int = 10) -> NDArray[np.float64]:
    """Bin edges for PSI from the reference's quantiles: ``[-inf, q_1, ..., q_{n-1}, inf]``.

    The inner edges are ``numpy.quantile(reference, i / n_bins)``; repeated edges (ties in
    the reference) are merged, so fewer than ``n_bins`` bins may result.
    """
    ref = _nonempty(reference, "reference")
    n = int(n_bins)
    if n < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    inner = np.unique(np.quantile(ref, np.arange(1, n) / n))
    return np.concatenate([[-np.inf], inner, [np.inf]])


@dataclass(frozen=True)
class PsiResult(ResultMixin):
    """Population stability index of a window against the reference.

    Attributes
    ----------
    psi : float
    edges : tuple of float
        Bin edges (``-inf`` and ``inf`` at the ends).
    reference_share, window_share : tuple of float
        Shares per bin before flooring.
    contributions : tuple of float
        Each bin's term ``(a - r) ln(a / r)`` after flooring.
    floored : tuple of int
        Bins whose share was 0 in one sample and was replaced by ``epsilon``.
    epsilon : float
    n_reference, n_window : int
    """

    psi: float
    edges: tuple[float, ...]
    reference_share: tuple[float, ...]
    window_share: tuple[float, ...]
    contributions: tuple[float, ...]
    floored: tuple[int, ...]
    epsilon: float
    n_reference: int
    n_window: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(asdict(self))


def _shares(values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.float64]:
    idx = np.searchsorted(edges, values, side="right") - 1
    counts = np.bincount(idx, minlength=edges.size - 1)[: edges.size - 1]
    return counts / values.size


def population_stability_index(
    reference: ArrayLike,
    window: ArrayLike,
    *,
    edges: ArrayLike | None = None,
    n_bins: int = 10,
    epsilon: float = DEFAULT_PSI_EPSILON,
) -> PsiResult:
    """Population stability index of ``window`` against ``reference`` (see the module docstring).

    Parameters
    ----------
    reference, window : array-like of float
        Scores (or any continuous attribute) in the reference and in the window.
    edges : array-like, optional
        Declared bin edges, increasing; ``-inf``/``inf`` are added at the ends when
        missing. Default: :func:`psi_bins` of the reference with ``n_bins``.
    n_bins : int
    epsilon : float
        Share that replaces a zero share, in (0, 0.01].

    Returns
    -------
    PsiResult

    Examples
    --------
    >>> from validation.stats import population_stability_index
    >>> r = population_stability_index([1, 2, 3, 4], [2, 1, 4, 3], edges=[2.5])
    >>> round(r.psi, 4)
    0.0
    >>> r = population_stability_index([1, 2, 3, 4], [1, 3, 4, 4], edges=[2.5])
    >>> round(r.psi, 4)  # (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5)
    0.2747

    References
    ----------
    Yurdakul B (2018). Statistical properties of population stability index.
    https://scholarworks.wmich.edu/dissertations/3208
    """
    ref = _nonempty(reference, "reference")
    win = _nonempty(window, "window")
    eps = float(epsilon)
    if not (math.isfinite(eps) and 0.0 < eps <= 0.01):
        raise ValueError(f"epsilon must be in (0, 0.01], got {epsilon!r}")
    if edges is None:
        e = psi_bins(ref, n_bins=n_bins)
    else:
        e = np.asarray(edges, dtype=np.float64)
        if e.ndim != 1 or e.size == 0 or np.any(np.isnan(e)) or np.any(np.diff(e) <= 0):
            raise ValueError("edges must be a non-empty increasing 1-D array without NaN")
        if e[0] != -np.inf:
            e = np.concatenate([[-np.inf], e])
        if e[-1] != np.inf:
            e = np.concatenate([e, [np.inf]])
    r = _shares(ref, e)
    a = _shares(win, e)
    floored = tuple(int(i) for i in np.flatnonzero((r == 0) | (a == 0)))
    rf = np.where(r == 0, eps, r)
    af = np.where(a == 0, eps, a)
    contrib = (af - rf) * np.log(af / rf)
    return PsiResult(
        psi=float(contrib.sum()),
        edges=tuple(float(x) for x in e),
        reference_share=tuple(float(x) for x in r),
        window_share=tuple(float(x) for x in a),
        contributions=tuple(float(x) for x in contrib),
        floored=floored,
        epsilon=eps,
        n_reference=int(ref.size),
        n_window=int(win.size),
    )


def ks_drift(reference: ArrayLike, window: ArrayLike) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test of the window's distribution against the reference.

    ``scipy.stats.ks_2samp(window, reference, method="auto")``: ``statistic`` is
    ``sup |F_window - F_reference|``, ``p_value`` two-sided; ``extra`` holds the sample
    sizes and scipy's method.

    References
    ----------
    Hodges JL (1958). Ark Mat 3:469-486. doi:10.1007/BF02589501.
    """
    ref = _nonempty(reference, "reference")
    win = _nonempty(window, "window")
    res = stats.ks_2samp(win, ref, alternative="two-sided", method="auto")
    return TestResult(
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        method="ks_2samp",
        extra={"n_reference": int(ref.size), "n_window": int(win.size), "scipy_method": "auto"},
    )


def wasserstein_drift(reference: ArrayLike, window: ArrayLike) -> float:
    """1-Wasserstein distance between the empirical distributions (score units).

    ``scipy.stats.wasserstein_distance(window, reference)``: the area between the two
    empirical CDFs.

    References
    ----------
    Ramdas A, Garcia Trillos N, Cuturi M (2017). Entropy 19:47. doi:10.3390/e19020047.
    """
    ref = _nonempty(reference, "reference")
    win = _nonempty(window, "window")
    return float(stats.wasserstein_distance(win, ref))


@dataclass(frozen=True)
class PositiveRateShift(ResultMixin):
    """Positive rate at the locked threshold in a window, against the reference's rate.

    ``window`` and ``reference`` are Wilson intervals; ``test`` is the two-sided score test
    of equal rates (a :class:`Comparison` as a dict-ready object: difference window -
    reference, its score interval, z and p).
    """

    window: Estimate
    reference: Estimate
    difference: float
    ci_low: float
    ci_high: float
    statistic: float | None
    p_value: float | None
    confidence_level: float
    method: str = "farrington_manning_margin_0"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(asdict(self))


def positive_rate_shift(
    window_positive: int,
    window_n: int,
    reference_positive: int,
    reference_n: int,
    *,
    confidence_level: float = 0.95,
) -> PositiveRateShift:
    """Compare a window's positive rate with the reference's (counts at the locked threshold).

    Wilson intervals for both rates (:func:`validation.stats.proportion_ci`) and the
    two-sided score test of equal proportions with its score interval for the
    difference (:func:`validation.stats.unpaired_noninferiority`, margin 0: the pooled
    z test, R's ``prop.test(correct = FALSE)``).

    Raises
    ------
    UndefinedMetricError
        An empty window or reference.

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Farrington CP, Manning G (1990). Stat Med 9:1447-1454. doi:10.1002/sim.4780091208.
    """
    level = check_confidence_level(confidence_level)
    w = proportion_ci(window_positive, window_n, method="wilson", confidence_level=level)
    r = proportion_ci(reference_positive, reference_n, method="wilson", confidence_level=level)
    a = np.repeat(
        np.array([1, 0], dtype=np.int8),
        [int(window_positive), int(window_n) - int(window_positive)],
    )
    b = np.repeat(
        np.array([1, 0], dtype=np.int8),
        [int(reference_positive), int(reference_n) - int(reference_positive)],
    )
    cmp = unpaired_noninferiority(a, b, margin=0.0, alternative="two-sided", confidence_level=level)
    stat = cmp.statistic if cmp.statistic is not None and math.isfinite(cmp.statistic) else None
    return PositiveRateShift(
        window=w,
        reference=r,
        difference=cmp.difference,
        ci_low=cmp.ci_low,
        ci_high=cmp.ci_high,
        statistic=stat,
        p_value=cmp.p_value,
        confidence_level=level,
    )


@dataclass(frozen=True)
class CategoryShift(ResultMixin):
    """The mix of one categorical attribute in a window against the reference.

    Attributes
    ----------
    categories : tuple of str
        Every category seen in either sample, sorted.
    reference_counts, window_counts : tuple of int
    statistic, p_value, df : float, float, int or None
        Pearson's chi-square test of homogeneity (``None`` when fewer than two categories:
        then there is nothing to test).
    total_variation : float
        ``0.5 sum |share_window - share_reference|``.
    new : tuple of str
        Categories in the window that the reference never had.
    gone : tuple of str
        Reference categories absent from the window.
    min_expected : float or None
        The smallest expected count (below 5 the chi-square approximation is rough).
    """

    categories: tuple[str, ...]
    reference_counts: tuple[int, ...]
    window_counts: tuple[int, ...]
    statistic: float | None
    p_value: float | None
    df: int | None
    total_variation: float
    new: tuple[str, ...]
    gone: tuple[str, ...]
    min_expected: float | None
    method: str = "pearson_chi2_homogeneity"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(asdict(self))


def category_shift(
    reference: Sequence[str] | Mapping[str, int], window: Sequence[str] | Mapping[str, int]
) -> CategoryShift:
    """Compare the category mix of a window with the reference's.

    Parameters
    ----------
    reference, window : sequence of str, or mapping category -> count
        The attribute's values (or counts) in each sample. Missing values must already be
        a category of their own (e.g. ``"(missing)"``): nothing is dropped here.

    Returns
    -------
    CategoryShift

    Raises
    ------
    UndefinedMetricError
        An empty reference or window.

    Examples
    --------
    >>> from validation.stats import category_shift
    >>> r = category_shift({"GE": 60, "Siemens": 40}, {"GE": 30, "Siemens": 10, "Canon": 20})
    >>> r.new, round(r.total_variation, 3)
    (('Canon',), 0.333)

    References
    ----------
    Pearson K (1900). Philos Mag 50:157-175. doi:10.1080/14786440009463897.
    """

    def counts(x: Sequence[str] | Mapping[str, int], name: str) -> dict[str, int]:
        if isinstance(x, Mapping):
            out = {str(k): int(v) for k, v in x.items() if int(v) > 0}
            if any(int(v) < 0 for v in x.values()):
                raise ValueError(f"{name} counts must be >= 0")
        else:
            out = {}
            for v in x:
                out[str(v)] = out.get(str(v), 0) + 1
        if not out:
            raise UndefinedMetricError(f"the category mix is undefined: {name} is empty")
        return out

    r = counts(reference, "reference")
    w = counts(window, "window")
    cats = sorted(set(r) | set(w))
    rc = np.array([r.get(c, 0) for c in cats], dtype=np.int64)
    wc = np.array([w.get(c, 0) for c in cats], dtype=np.int64)
    tv = 0.5 * float(np.abs(wc / wc.sum() - rc / rc.sum()).sum())
    stat = p = None
    df = None
    min_exp = None
    if len(cats) >= 2:
        res = stats.chi2_contingency(np.vstack([rc, wc]), correction=False)
        stat, p, df = float(res.statistic), float(res.pvalue), int(res.dof)
        min_exp = float(np.min(res.expected_freq))
    return CategoryShift(
        categories=tuple(cats),
        reference_counts=tuple(int(v) for v in rc),
        window_counts=tuple(int(v) for v in wc),
        statistic=stat,
        p_value=p,
        df=df,
        total_variation=tv,
        new=tuple(c for c in cats if c not in r),
        gone=tuple(c for c in cats if c not in w),
        min_expected=min_exp,
    )

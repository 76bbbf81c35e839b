"""Agreement on categorical ratings: Cohen's kappa, Fleiss' kappa, Gwet's AC1 and
percent agreement, each with a published interval.

Krippendorff's alpha (bootstrap interval) is in ``_agreement_alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from validation.errors import UndefinedMetricError
from validation.stats._checks import check_confidence_level, check_method
from validation.stats._params import UNIT_INTERVAL, Options, validate_params
from validation.stats._results import Estimate
from validation.stats.agreement.ratings import (
    RatingCounts,
    as_label_series,
    category_order,
    codes_of,
    plain,
    rating_counts,
)
from validation.stats.proportions import PROPORTION_CI_METHODS, proportion_ci

__all__ = [
    "KAPPA_WEIGHTS",
    "PERCENT_AGREEMENT_DEFINITIONS",
    "cohen_kappa",
    "fleiss_kappa",
    "gwet_ac1",
    "percent_agreement",
]

KAPPA_WEIGHTS = (None, "linear", "quadratic")
PERCENT_AGREEMENT_DEFINITIONS = ("unanimous", "pairwise")


def _z(level: float) -> float:
    return float(-special.ndtri((1.0 - level) / 2.0))


def _t(level: float, df: float) -> float:
    return float(special.stdtrit(df, (1.0 + level) / 2.0))


# ---------------------------------------------------------------------------
# Cohen's kappa
# ---------------------------------------------------------------------------


def _agreement_weights(q: int, weights: str | None) -> NDArray[np.float64]:
    """Agreement weights on the category positions 0..q-1 (1 on the diagonal)."""
    if weights is None or q == 1:
        return np.eye(q)
    pos = np.arange(q, dtype=np.float64)
    dist = np.abs(pos[:, None] - pos[None, :]) / (q - 1)
    return 1.0 - (dist if weights == "linear" else dist**2)


@validate_params(
    {
        "weights": [Options(KAPPA_WEIGHTS)],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def cohen_kappa(
    a: ArrayLike,
    b: ArrayLike,
    *,
    weights: str | None = None,
    labels: Sequence[Any] | None = None,
    confidence_level: float = 0.95,
) -> Estimate:
    """Cohen's kappa (or weighted kappa) between two raters with a large-sample interval.

    ``kappa = (p_o - p_e) / (1 - p_e)`` with agreement weights ``w_ij`` (identity for
    plain kappa): ``p_o = sum w_ij p_ij`` is the weighted observed agreement and
    ``p_e = sum w_ij p_i. p_.j`` the agreement expected from the raters' marginals. The
    interval is ``kappa +- z SE``, clipped to [-1, 1], with the large-sample (non-null)
    variance of Fleiss, Cohen & Everitt (1969)::

        var = [sum_ij p_ij (w_ij (1 - p_e) - (wbar_i. + wbar_.j)(1 - p_o))^2
               - (p_o p_e - 2 p_e + p_o)^2] / (n (1 - p_e)^4)

    where ``wbar_i. = sum_j p_.j w_ij`` and ``wbar_.j = sum_i p_i. w_ij``. Unweighted,
    this is the variance R ``psych::cohen.kappa`` reports (checked to 1e-9); for
    weighted kappa psych 2.2.9 computes ``wbar_.j`` as ``p_j. sum_k w_jk`` (rows'
    marginal times the row sum of weights), which is not the 1969 formula and
    understates the variance; radval follows the paper (as SAS PROC FREQ and
    statsmodels do), and a simulation in the tests confirms it. The interval is a Wald
    interval: with quadratic weights it under-covers in small samples (about 0.91 at
    n = 60 and 0.935 at n = 120 in radval's simulation of a 3 x 3 table; 0.94-0.95 from
    n = 250 on, and for plain and linear kappa from n = 60).

    Parameters
    ----------
    a, b : array-like
        The two raters' labels for the same cases, in the same order. A case where
        either label is missing (None/NaN) is dropped and counted in
        ``extra["n_dropped"]``.
    weights : {None, "linear", "quadratic"}
        Agreement weights on the category positions ``0..q-1``:
        ``1 - |i - j| / (q - 1)`` (Cicchetti-Allison, linear) or
        ``1 - (i - j)^2 / (q - 1)^2`` (Fleiss-Cohen, quadratic).
    labels : sequence, optional
        All categories, in order (required order for weighted kappa when the labels do
        not sort naturally; unused categories change ``q`` and so the weights). Default:
        the sorted labels seen from either rater (an ordered Categorical's categories).
    confidence_level : float

    Returns
    -------
    Estimate
        ``estimate`` = kappa, ``se`` the large-sample SE, ``method =
        "fleiss_cohen_everitt_1969"``, ``n`` = rated pairs; ``extra``: ``p_o``,
        ``p_e``, ``weights``, ``categories``, ``se_null`` (SE under kappa = 0, same
        paper), ``z`` and two-sided ``p_value`` for kappa = 0, ``n_dropped``.

    Raises
    ------
    ValueError
        Unknown ``weights``, inputs of different length, a label outside ``labels``.
    UndefinedMetricError
        No rated pair; both raters used one and the same category (``p_e = 1``); one
        rater used a single category (kappa is then 0 whatever the other says) or the
        raters agree on every case (kappa 1), or kappa sits at another bound of its range
        (e.g. complete disagreement): the large-sample variance is 0 there and the interval
        would be a point.

    References
    ----------
    Cohen J (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas
    20:37-46. doi:10.1177/001316446002000104.
    Cohen J (1968). Weighted kappa. Psychol Bull 70:213-220. doi:10.1037/h0026256.
    Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
    weighted kappa. Psychol Bull 72:323-327. doi:10.1037/h0028106.

    Examples
    --------
    >>> k = cohen_kappa(["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "c"])
    >>> round(k.estimate, 4), k.method
    (0.6875, 'fleiss_cohen_everitt_1969')
    """
    if weights not in KAPPA_WEIGHTS:
        raise ValueError(f"weights must be one of {KAPPA_WEIGHTS}, got {weights!r}")
    level = check_confidence_level(confidence_level)
    sa = as_label_series(a, name="a")
    sb = as_label_series(b, name="b")
    if len(sa) != len(sb):
        raise ValueError(f"a and b must have the same length, got a={len(sa)}, b={len(sb)}")
    both = (sa.notna() & sb.notna()).to_numpy()
    n_dropped = int((~both).sum())
    sa, sb = sa[both], sb[both]
    n = int(both.sum())
    if n == 0:
        raise UndefinedMetricError("Cohen's kappa is undefined without a case rated by both raters")
    pooled = pd.concat([sa, sb], ignore_index=True)
    if labels is None and isinstance(sa.dtype, pd.CategoricalDtype) and sa.dtype.ordered:
        pooled = pooled.astype(sa.dtype)
    cats = category_order(pooled, labels, name="label", ordered=weights is not None)
    q = len(cats)
    table = np.zeros((q, q))
    np.add.at(table, (codes_of(sa, cats), codes_of(sb, cats)), 1.0)
    row_n, col_n = table.sum(axis=1), table.sum(axis=0)
    if (row_n == n).any() and (col_n == n).any() and np.argmax(row_n) == np.argmax(col_n):
        raise UndefinedMetricError(
            f"Cohen's kappa is undefined: both raters put all {n} cases in category "
            f"{plain(cats[int(np.argmax(row_n))])!r} (chance agreement is 1)"
        )
    for name, marg in (("a", row_n), ("b", col_n)):
        if (marg == n).any():
            raise UndefinedMetricError(
                f"Cohen's kappa is 0 whatever the other rater says when rater {name} puts all "
                f"{n} cases in category {plain(cats[int(np.argmax(marg))])!r}; its large-sample "
                "variance is 0 and there is no interval"
            )
    if np.trace(table) == n:
        raise UndefinedMetricError(
            f"Cohen's kappa has no interval under perfect agreement ({n} of {n} cases): kappa "
            "is 1 and its large-sample variance is 0; report percent agreement with a Wilson "
            "interval instead"
        )
    p = table / n
    rs, cs = row_n / n, col_n / n
    w = _agreement_weights(q, weights)
    po = float(np.sum(w * p))
    pe = float(rs @ w @ cs)
    kappa = (po - pe) / (1.0 - pe)
    wbar_i = w @ cs  # sum_j p_.j w_ij
    wbar_j = rs @ w  # sum_i p_i. w_ij
    spread = wbar_i[:, None] + wbar_j[None, :]
    var = (
        float(np.sum(p * (w * (1.0 - pe) - spread * (1.0 - po)) ** 2))
        - (po * pe - 2.0 * pe + po) ** 2
    ) / (n * (1.0 - pe) ** 4)
    var0 = (float(np.sum(np.outer(rs, cs) * (w - spread) ** 2)) - pe**2) / (n * (1.0 - pe) ** 2)
    if not var > 1e-14:
        raise UndefinedMetricError(
            f"the large-sample variance of kappa is 0 (kappa = {kappa:.6g} is at the bound of "
            "its range for these marginals, e.g. complete disagreement); no interval"
        )
    se = math.sqrt(var)
    z = _z(level)
    se0 = math.sqrt(var0) if var0 > 0 else None
    zstat = kappa / se0 if se0 else None
    return Estimate(
        estimate=kappa,
        ci_low=max(-1.0, kappa - z * se),
        ci_high=min(1.0, kappa + z * se),
        confidence_level=level,
        method="fleiss_cohen_everitt_1969",
        n=n,
        se=se,
        extra={
            "p_o": po,
            "p_e": pe,
            "weights": "unweighted" if weights is None else weights,
            "categories": list(cats),
            "se_null": se0,
            "z": zstat,
            "p_value": float(special.erfc(abs(zstat) / math.sqrt(2.0))) if zstat else None,
            "n_dropped": n_dropped,
        },
    )


# ---------------------------------------------------------------------------
# Multi-rater chance-corrected coefficients (Fleiss / Gwet generalised forms)
# ---------------------------------------------------------------------------


def _pairwise_agreement(rc: RatingCounts) -> tuple[float, NDArray[np.float64], int]:
    """Gwet's p_a over cases with two or more ratings, the per-case p_a|i, n2."""
    counts = rc.counts.astype(np.float64)
    r = counts.sum(axis=1)
    two = r >= 2
    n2 = int(two.sum())
    if n2 == 0:
        raise UndefinedMetricError(
            "agreement is undefined: no case was rated by two or more raters"
        )
    den = np.where(two, r * (r - 1.0), 1.0)
    pa_i = np.where(two, np.sum(counts * (counts - 1.0), axis=1) / den, 0.0)
    return float(pa_i[two].mean()), pa_i, n2


def _linearised(
    name: str,
    coef: float,
    pa_i: NDArray[np.float64],
    pe: float,
    pe_i: NDArray[np.float64],
    r: NDArray[np.float64],
    n2: int,
    level: float,
    *,
    chance_corrected: bool,
) -> tuple[float, float, float]:
    """Gwet's (2008) linearisation variance; t interval on n - 1 df, as irrCAC."""
    n = pa_i.size
    if n < 2:
        raise UndefinedMetricError(f"the variance of {name} needs at least 2 cases, got {n}")
    two = r >= 2
    if chance_corrected:
        ci = (n / n2) * (pa_i - pe * two) / (1.0 - pe)
        ci = ci - 2.0 * (1.0 - coef) * (pe_i - pe) / (1.0 - pe)
    else:
        ci = (n / n2) * pa_i
    var = float(np.sum((ci - coef) ** 2)) / (n * (n - 1.0))
    se = math.sqrt(var)
    half = _t(level, n - 1.0) * se
    return se, coef - half, coef + half


def _multi_rater(
    ratings: Any,
    *,
    kind: str,
    case: str,
    rater: str,
    label: str,
    labels: Sequence[Any] | None,
    confidence_level: float,
) -> Estimate:
    level = check_confidence_level(confidence_level)
    rc = rating_counts(ratings, case=case, rater=rater, label=label, labels=labels)
    counts = rc.counts.astype(np.float64)
    r = counts.sum(axis=1)
    n, q = counts.shape
    pa, pa_i, n2 = _pairwise_agreement(rc)
    pi = np.mean(counts / r[:, None], axis=0)
    name = "Fleiss' kappa" if kind == "fleiss" else "Gwet's AC1"
    if q < 2:
        hint = "; declare the scale's categories with labels=[...]" if kind == "ac1" else ""
        raise UndefinedMetricError(
            f"{name} is undefined: every rating is {plain(rc.categories[0])!r} (one category only)"
            + hint
        )
    if kind == "fleiss":
        pe = float(np.sum(pi**2))
        pe_i = (counts / r[:, None]) @ pi
    else:
        pe = float(np.sum(pi * (1.0 - pi))) / (q - 1.0)
        pe_i = ((counts / r[:, None]) @ (1.0 - pi)) / (q - 1.0)
    if not 1.0 - pe > 1e-12:
        raise UndefinedMetricError(
            f"{name} is undefined: chance agreement is 1 (every rating in one category)"
        )
    coef = (pa - pe) / (1.0 - pe)
    se, low, high = _linearised(name, coef, pa_i, pe, pe_i, r, n2, level, chance_corrected=True)
    extra: dict[str, Any] = {
        "p_a": pa,
        "p_e": pe,
        "categories": list(rc.categories),
        "n_cases_two_or_more": n2,
        "n_ratings": rc.n_ratings,
        "n_raters": rc.n_raters,
        "n_missing": rc.n_missing,
        "raters_per_case": "constant" if np.all(r == r[0]) else "varying",
        "df": n - 1,
        "interval": "t",
    }
    if kind == "fleiss":
        extra.update(_fleiss_1971_extras(counts, pi))
    return Estimate(
        estimate=coef,
        ci_low=max(-1.0, low),
        ci_high=min(1.0, high),
        confidence_level=level,
        method="gwet_2008_linearization",
        n=n,
        se=se,
        extra=extra,
    )


def _fleiss_1971_extras(counts: NDArray[np.float64], pi: NDArray[np.float64]) -> dict[str, Any]:
    """Per-category kappas and the kappa = 0 test of Fleiss, Nee & Landis (1979).

    Defined for a constant number of raters per case only (as R irr::kappam.fleiss).
    """
    r = counts.sum(axis=1)
    if not np.all(r == r[0]) or r[0] < 2:
        return {"per_category": None, "se_null": None, "z": None, "p_value": None}
    n, m = counts.shape[0], float(r[0])
    pq = pi * (1.0 - pi)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_cat = 1.0 - np.sum(counts * (m - counts), axis=0) / (n * m * (m - 1.0) * pq)
    spq = float(np.sum(pq))
    se0 = (
        math.sqrt(2.0)
        / (spq * math.sqrt(n * m * (m - 1.0)))
        * math.sqrt(spq**2 - float(np.sum(pq * (1.0 - 2.0 * pi))))
    )
    p_bar = float(np.mean(np.sum(counts * (counts - 1.0), axis=1) / (m * (m - 1.0))))
    kappa = (p_bar - float(np.sum(pi**2))) / (1.0 - float(np.sum(pi**2)))
    z = kappa / se0
    return {
        "per_category": [None if not np.isfinite(v) else float(v) for v in per_cat],
        "se_null": se0,
        "z": z,
        "p_value": float(special.erfc(abs(z) / math.sqrt(2.0))),
    }


@validate_params(
    {
        "case": [str],
        "rater": [str],
        "label": [str],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def fleiss_kappa(
    ratings: Any,
    *,
    case: str = "case",
    rater: str = "rater",
    label: str = "label",
    confidence_level: float = 0.95,
) -> Estimate:
    """Fleiss' kappa for several raters (Gwet's generalisation for missing ratings).

    With ``r_ik`` raters putting case ``i`` in category ``k`` and ``r_i`` ratings of
    case ``i``: ``p_a`` is the mean over cases with ``r_i >= 2`` of
    ``sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``, ``pi_k`` the mean over cases of
    ``r_ik / r_i``, ``p_e = sum_k pi_k^2`` and ``kappa = (p_a - p_e) / (1 - p_e)``.
    With the same number of raters on every case this is exactly Fleiss' (1971)
    kappa; with varying numbers of raters (missing ratings, different raters per
    case) it is the generalisation of Gwet (2014, ch. 2; R ``irrCAC::fleiss.kappa.raw``).

    The interval is ``kappa +- t_{n-1} SE`` with Gwet's (2008) linearisation variance
    ``SE^2 = sum_i (kappa*_i - kappa)^2 / (n (n - 1))``,
    ``kappa*_i = (n / n_2)(p_a|i - p_e 1[r_i >= 2]) / (1 - p_e)
    - 2 (1 - kappa)(p_e|i - p_e) / (1 - p_e)``, ``p_e|i = sum_k (r_ik / r_i) pi_k``,
    as irrCAC computes it (upper bound capped at 1; radval also caps the lower bound
    at -1). This variance holds under any kappa, unlike the kappa = 0 variance of
    Fleiss, Nee & Landis (1979), which is reported for the test of kappa = 0 only.

    Parameters
    ----------
    ratings : pandas.DataFrame
        One row per rating: case, rater, label (column names below). Missing labels
        and absent rows are missing ratings; cases rated once count in ``pi_k`` but
        not in ``p_a``.
    case, rater, label : str
        Column names.
    confidence_level : float

    Returns
    -------
    Estimate
        ``method = "gwet_2008_linearization"``, ``n`` = rated cases, ``se``;
        ``extra``: ``p_a``, ``p_e``, ``categories``, ``n_cases_two_or_more``,
        ``n_ratings``, ``n_raters``, ``n_missing``, ``raters_per_case``
        ("constant"/"varying"), ``df``; with a constant number of raters also
        Fleiss' per-category kappas (``per_category``, in ``categories`` order) and the
        Fleiss-Nee-Landis ``se_null``, ``z`` and two-sided ``p_value`` for kappa = 0
        (``None`` otherwise).

    Raises
    ------
    ValueError
        Not a DataFrame, a missing column, a case or rater id missing, two ratings of
        one case by one rater.
    UndefinedMetricError
        No case with two ratings, one category only, fewer than 2 cases.

    References
    ----------
    Fleiss JL (1971). Measuring nominal scale agreement among many raters. Psychol
    Bull 76:378-382. doi:10.1037/h0031619.
    Fleiss JL, Nee JCM, Landis JR (1979). Large sample variance of kappa in the case
    of different sets of raters. Psychol Bull 86:974-977. doi:10.1037/0033-2909.86.5.974.
    Gwet KL (2008). Computing inter-rater reliability and its variance in the presence
    of high agreement. Br J Math Stat Psychol 61:29-48. doi:10.1348/000711006X126600.
    Gwet KL (2014). Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"case": [1, 1, 1, 2, 2, 2, 3, 3, 3],
    ...                    "rater": ["A", "B", "C"] * 3,
    ...                    "label": ["x", "x", "x", "x", "y", "y", "y", "y", "y"]})
    >>> round(fleiss_kappa(df).estimate, 4)
    0.55
    """
    return _multi_rater(
        ratings,
        kind="fleiss",
        case=case,
        rater=rater,
        label=label,
        labels=None,
        confidence_level=confidence_level,
    )


@validate_params(
    {
        "case": [str],
        "rater": [str],
        "label": [str],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def gwet_ac1(
    ratings: Any,
    *,
    case: str = "case",
    rater: str = "rater",
    label: str = "label",
    labels: Sequence[Any] | None = None,
    confidence_level: float = 0.95,
) -> Estimate:
    """Gwet's AC1 for two or more raters (missing ratings allowed), with its variance.

    ``AC1 = (p_a - p_e) / (1 - p_e)`` with the same ``p_a`` and ``pi_k`` as
    :func:`fleiss_kappa` and chance agreement ``p_e = sum_k pi_k (1 - pi_k) / (q - 1)``
    over the ``q`` categories. Unlike kappa it does not collapse when one category
    dominates (the "kappa paradox"). Interval: ``AC1 +- t_{n-1} SE`` with Gwet's
    (2008) linearisation variance (``p_e|i = sum_k (r_ik / r_i)(1 - pi_k) / (q - 1)``),
    as R ``irrCAC::gwet.ac1.raw`` (upper bound capped at 1, lower at -1).

    Parameters
    ----------
    ratings : pandas.DataFrame
        One row per rating (case, rater, label).
    case, rater, label : str
        Column names.
    labels : sequence, optional
        All categories of the scale. ``q`` enters ``p_e``, so a category that no rater
        used but that the scale offers must be declared here; default: the categories
        seen.
    confidence_level : float

    Returns
    -------
    Estimate
        As :func:`fleiss_kappa` (without the Fleiss-only extras).

    Raises
    ------
    ValueError, UndefinedMetricError
        As :func:`fleiss_kappa`; AC1 is undefined with one category.

    References
    ----------
    Gwet KL (2008). Computing inter-rater reliability and its variance in the presence
    of high agreement. Br J Math Stat Psychol 61:29-48. doi:10.1348/000711006X126600.
    Wongpakaran N et al. (2013). A comparison of Cohen's kappa and Gwet's AC1 when
    calculating inter-rater reliability coefficients. BMC Med Res Methodol 13:61.
    doi:10.1186/1471-2288-13-61.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "rater": ["A", "B"] * 4,
    ...                    "label": [0, 0, 0, 0, 0, 1, 1, 1]})
    >>> round(gwet_ac1(df).estimate, 4)
    0.5294
    """
    return _multi_rater(
        ratings,
        kind="ac1",
        case=case,
        rater=rater,
        label=label,
        labels=labels,
        confidence_level=confidence_level,
    )


@validate_params(
    {
        "case": [str],
        "rater": [str],
        "label": [str],
        "definition": [Options(PERCENT_AGREEMENT_DEFINITIONS)],
        "ci_method": [str, None],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def percent_agreement(
    ratings: Any,
    *,
    case: str = "case",
    rater: str = "rater",
    label: str = "label",
    definition: str = "unanimous",
    ci_method: str | None = None,
    confidence_level: float = 0.95,
) -> Estimate:
    """Observed (not chance-corrected) agreement among raters, with an interval.

    Two definitions; they coincide when every case has exactly two ratings:

    - ``"unanimous"``: the proportion of cases (with two or more ratings) on which all
      raters gave the same label, a binomial proportion with any
      :func:`~validation.stats.proportion_ci` interval (default Wilson 1927).
    - ``"pairwise"``: Gwet's ``p_a``, the mean over cases of the proportion of
      agreeing rater pairs (Fleiss' P-bar), with Gwet's linearisation variance and a
      ``t_{n-1}`` interval as R ``irrCAC::pa.coeff.raw`` (``ci_method =
      "gwet_linearization"``; bounds clipped to [0, 1]).

    Parameters
    ----------
    ratings : pandas.DataFrame
        One row per rating (case, rater, label); missing ratings allowed.
    case, rater, label : str
        Column names.
    definition : {"unanimous", "pairwise"}
    ci_method : str, optional
        ``"unanimous"``: one of ``PROPORTION_CI_METHODS`` (default ``"wilson"``);
        ``"pairwise"``: ``"gwet_linearization"`` (the default and only choice).
    confidence_level : float

    Returns
    -------
    Estimate
        ``method`` names the interval; ``n`` = cases with two or more ratings
        (unanimous) or rated cases (pairwise); ``extra["definition"]`` and
        ``extra["n_cases_single_rating"]``; unanimous: ``successes``.

    Raises
    ------
    ValueError
        Unknown definition or interval method for it; bad ratings table.
    UndefinedMetricError
        No case with two ratings; (pairwise) fewer than 2 cases.

    References
    ----------
    Wilson EB (1927). JASA 22:209-212. doi:10.1080/01621459.1927.10502953.
    Gwet KL (2008). Br J Math Stat Psychol 61:29-48. doi:10.1348/000711006X126600.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "rater": ["A", "B"] * 4,
    ...                    "label": [0, 0, 0, 0, 0, 1, 1, 1]})
    >>> e = percent_agreement(df)
    >>> e.estimate, e.method
    (0.75, 'wilson')
    """
    level = check_confidence_level(confidence_level)
    if definition == "unanimous":
        ci = "wilson" if ci_method is None else ci_method
        check_method(ci, PROPORTION_CI_METHODS, what="ci_method (definition='unanimous')")
    else:
        ci = "gwet_linearization" if ci_method is None else ci_method
        check_method(ci, ("gwet_linearization",), what="ci_method (definition='pairwise')")
    rc = rating_counts(ratings, case=case, rater=rater, label=label)
    r = rc.raters_per_case
    single = int(np.sum(r < 2))
    if definition == "unanimous":
        two = r >= 2
        if not two.any():
            raise UndefinedMetricError(
                "agreement is undefined: no case was rated by two or more raters"
            )
        agree = int(np.sum((rc.counts.max(axis=1) == r) & two))
        est = proportion_ci(agree, int(two.sum()), method=ci, confidence_level=level)
        return replace(
            est, extra={**est.extra, "definition": "unanimous", "n_cases_single_rating": single}
        )
    pa, pa_i, n2 = _pairwise_agreement(rc)
    se, low, high = _linearised(
        "percent agreement",
        pa,
        pa_i,
        0.0,
        np.zeros_like(pa_i),
        r.astype(np.float64),
        n2,
        level,
        chance_corrected=False,
    )
    return Estimate(
        estimate=pa,
        ci_low=max(0.0, low),
        ci_high=min(1.0, high),
        confidence_level=level,
        method="gwet_linearization",
        n=int(r.size),
        se=se,
        extra={
            "definition": "pairwise",
            "n_cases_single_rating": single,
            "n_cases_two_or_more": n2,
            "df": int(r.size) - 1,
            "interval": "t",
        },
    )

"""Multiplicity control for several endpoints: p-value adjustment and fixed-sequence testing.

- :func:`adjust_pvalues`: Bonferroni, Holm, Hochberg and Benjamini-Hochberg
  adjusted p-values (as R ``p.adjust`` and statsmodels ``multipletests``).
- :func:`fixed_sequence`: hierarchical testing of endpoints in a pre-specified
  order; each is tested at the full level only if all before it were rejected.
- :func:`multiplicity_test`: any of the above as a frozen
  :class:`MultiplicityResult` with reject decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.stats._params import UNIT_INTERVAL, Options, validate_params
from validation.stats._results import ResultMixin

__all__ = [
    "MULTIPLICITY_METHODS",
    "MultiplicityResult",
    "adjust_pvalues",
    "fixed_sequence",
    "multiplicity_test",
]

ADJUST_METHODS = ("bonferroni", "holm", "hochberg", "fdr_bh")
MULTIPLICITY_METHODS = (*ADJUST_METHODS, "fixed_sequence")


@dataclass(frozen=True)
class MultiplicityResult(ResultMixin):
    """Adjusted p-values and decisions for a family of hypotheses, in input order.

    Attributes
    ----------
    p_adjusted : tuple of float
        Adjusted p-values (compare each with ``significance_level``).
    reject : tuple of bool
        Whether each null hypothesis is rejected at ``significance_level``
        (for ``fdr_bh``: controlling the false discovery rate at that level).
    method : str
        ``bonferroni``, ``holm``, ``hochberg``, ``fdr_bh`` or ``fixed_sequence``.
    significance_level : float
        Family-wise error rate (or FDR) level, e.g. 0.05.
    """

    p_adjusted: tuple[float, ...]
    reject: tuple[bool, ...]
    method: str
    significance_level: float


def _as_pvalues(p: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"p-values must be numbers, got {p!r}") from exc
    if arr.ndim != 1:
        raise ValueError(f"p-values must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("p-values must not be empty")
    bad = ~(np.isfinite(arr) & (arr >= 0.0) & (arr <= 1.0))
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise ValueError(f"p-values must be in [0, 1], found {float(arr[idx])!r} at index {idx}")
    return arr


def _check_level(significance_level: float) -> float:
    level = float(significance_level)
    if not (math.isfinite(level) and 0.0 < level < 1.0):
        raise ValueError(f"significance_level must be in (0, 1), got {significance_level!r}")
    return level


@validate_params(
    {
        "method": [Options(ADJUST_METHODS)],
    }
)
def adjust_pvalues(p: ArrayLike, *, method: str) -> NDArray[np.float64]:
    """Multiplicity-adjusted p-values, in input order.

    - ``bonferroni``: min(1, m p_i).
    - ``holm``: step-down, p~(i) = max_{j <= i} min(1, (m - j + 1) p(j)) over
      the sorted p-values (Holm 1979).
    - ``hochberg``: step-up, p~(i) = min_{j >= i} min(1, (m - j + 1) p(j))
      (Hochberg 1988); valid under independence or positive dependence.
    - ``fdr_bh``: Benjamini-Hochberg, p~(i) = min_{j >= i} min(1, m p(j) / j);
      controls the false discovery rate, not the family-wise error rate.

    These equal R's ``p.adjust`` and ``statsmodels.stats.multitest.multipletests``
    (``hochberg`` is its ``"simes-hochberg"``), against which they are tested.
    For ordered endpoints use :func:`fixed_sequence`.

    Parameters
    ----------
    p : array-like of float
        Unadjusted p-values in [0, 1], 1-D, at least one.
    method : {"bonferroni", "holm", "hochberg", "fdr_bh"}

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same order and length as ``p``.

    Examples
    --------
    >>> from validation.stats import adjust_pvalues
    >>> adjust_pvalues([0.01, 0.04, 0.03], method="holm").round(4).tolist()
    [0.03, 0.06, 0.06]

    References
    ----------
    Holm S (1979). A simple sequentially rejective multiple test procedure.
    Scand J Stat 6:65-70. https://www.jstor.org/stable/4615733.
    Hochberg Y (1988). A sharper Bonferroni procedure for multiple tests of
    significance. Biometrika 75:800-802. doi:10.1093/biomet/75.4.800.
    Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a
    practical and powerful approach to multiple testing. J R Stat Soc B
    57:289-300. doi:10.1111/j.2517-6161.1995.tb02031.x.
    """
    arr = _as_pvalues(p)
    # Written out (as R's p.adjust) rather than calling statsmodels' multipletests,
    # which runs gc.collect() on every Holm call (~0.1 s each with a large heap, too
    # slow across many subgroups); the tests check these against multipletests.
    m = arr.size
    if method == "bonferroni":
        return np.minimum(arr * m, 1.0)
    order = np.argsort(arr, kind="stable")
    ps = arr[order]
    rank = np.arange(1, m + 1, dtype=np.float64)  # 1 = smallest
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum((m - rank + 1.0) * ps, 1.0))
    else:
        factor = (m - rank + 1.0) if method == "hochberg" else m / rank
        adj = np.minimum.accumulate((factor * ps)[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    out = np.empty(m, dtype=np.float64)
    out[order] = adj
    return out


@validate_params(
    {
        "significance_level": [UNIT_INTERVAL],
    }
)
def fixed_sequence(p_values: ArrayLike, *, significance_level: float = 0.05) -> MultiplicityResult:
    """Fixed-sequence (hierarchical) testing of endpoints in a pre-specified order.

    The endpoints are tested in the given order, each at the full
    ``significance_level``; testing stops at the first one not rejected, and
    no later endpoint is rejected, whatever its p-value. This controls the
    family-wise error rate in the strong sense (Maurer, Hothorn & Lehmacher
    1995; Westfall & Krishen 2001). The adjusted p-value of endpoint k is the
    running maximum max(p_1, ..., p_k), so endpoint k is rejected exactly when
    its adjusted p-value is <= ``significance_level``.

    Parameters
    ----------
    p_values : array-like of float
        Unadjusted p-values in the pre-specified testing order.
    significance_level : float
        Family-wise error rate, in (0, 1).

    Returns
    -------
    MultiplicityResult
        ``method="fixed_sequence"``.

    Examples
    --------
    >>> from validation.stats import fixed_sequence
    >>> r = fixed_sequence([0.01, 0.03, 0.20, 0.001])
    >>> r.reject, r.p_adjusted
    ((True, True, False, False), (0.01, 0.03, 0.2, 0.2))

    References
    ----------
    Maurer W, Hothorn LA, Lehmacher W (1995). Multiple comparisons in drug
    clinical trials and preclinical assays: a-priori ordered hypotheses. In
    Vollmar J (ed.), Biometrie in der chemisch-pharmazeutischen Industrie 6:3-18.
    Westfall PH, Krishen A (2001). Optimally weighted, fixed sequence and
    gatekeeper multiple testing procedures. J Stat Plan Inference 99:25-40.
    doi:10.1016/S0378-3758(01)00077-5.
    FDA (2022). Multiple Endpoints in Clinical Trials, Guidance for Industry.
    """
    level = _check_level(significance_level)
    arr = _as_pvalues(p_values)
    adjusted = np.maximum.accumulate(arr)
    reject = adjusted <= level
    return MultiplicityResult(
        p_adjusted=tuple(float(v) for v in adjusted),
        reject=tuple(bool(v) for v in reject),
        method="fixed_sequence",
        significance_level=level,
    )


@validate_params(
    {
        "method": [Options(MULTIPLICITY_METHODS)],
        "significance_level": [UNIT_INTERVAL],
    }
)
def multiplicity_test(
    p: ArrayLike, *, method: str, significance_level: float = 0.05
) -> MultiplicityResult:
    """Adjusted p-values and reject decisions for a family of hypotheses.

    ``method`` is one of :func:`adjust_pvalues`' methods or ``fixed_sequence``
    (then ``p`` is in the pre-specified testing order). A hypothesis is
    rejected when its adjusted p-value is <= ``significance_level``.

    Parameters
    ----------
    p : array-like of float
        Unadjusted p-values in [0, 1].
    method : {"bonferroni", "holm", "hochberg", "fdr_bh", "fixed_sequence"}
    significance_level : float
        Family-wise error rate (FDR for ``fdr_bh``), in (0, 1).

    Returns
    -------
    MultiplicityResult

    Examples
    --------
    >>> from validation.stats import multiplicity_test
    >>> r = multiplicity_test([0.01, 0.04, 0.03], method="hochberg")
    >>> r.reject
    (True, True, True)

    References
    ----------
    See :func:`adjust_pvalues` and :func:`fixed_sequence`.
    """
    level = _check_level(significance_level)
    if method == "fixed_sequence":
        return fixed_sequence(p, significance_level=level)
    adjusted = adjust_pvalues(p, method=method)
    return MultiplicityResult(
        p_adjusted=tuple(float(v) for v in adjusted),
        reject=tuple(bool(v) for v in adjusted <= level),
        method=method,
        significance_level=level,
    )

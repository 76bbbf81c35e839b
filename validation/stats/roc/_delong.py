"""DeLong placement values, (clustered) DeLong covariances and closed-form jackknives.

Internal helpers for :mod:`validation.stats.roc`; the public entry point
:func:`midrank_placements` is re-exported there. Written by hand: no installed Python
library computes DeLong placements in O(n log n), Obuchowski's clustered covariance or
leave-one-out AUCs in closed form (scikit-learn has the AUC only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.errors import UndefinedMetricError
from validation.stats._checks import as_binary, as_scores, check_same_length
from validation.stats._results import ResultMixin


def prepare(
    y_true: ArrayLike, y_score: ArrayLike, *, score_name: str = "y_score"
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """Validate labels and scores; raise UndefinedMetricError without both classes."""
    y = as_binary(y_true)
    s = as_scores(y_score, name=score_name)
    check_same_length(y_true=y, **{score_name: s})
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0:
        raise UndefinedMetricError(
            f"AUC is undefined: y_true has no positive cases (all {y.size} are 0)"
        )
    if n_pos == y.size:
        raise UndefinedMetricError(
            f"AUC is undefined: y_true has no negative cases (all {y.size} are 1)"
        )
    return y, s


@dataclass(frozen=True)
class Placements(ResultMixin):
    """AUC and DeLong placement values of one score on one set of cases.

    Attributes
    ----------
    auc : float
        Mann-Whitney AUC, ties counted one half.
    v10 : numpy.ndarray
        One value per positive case, in input order: the fraction of negatives scored
        below it plus half the fraction tied with it.
    v01 : numpy.ndarray
        One value per negative case, in input order: the fraction of positives scored
        above it plus half the fraction tied with it.
    """

    auc: float
    v10: NDArray[np.float64]
    v01: NDArray[np.float64]


def midrank_placements(y_true: ArrayLike, y_score: ArrayLike) -> Placements:
    """AUC and DeLong placement values from one sort (midranks), in O(n log n).

    With ``m`` positives and ``n`` negatives the placement of positive ``i`` is
    ``V10_i = (#{neg < s_i} + #{neg = s_i} / 2) / n`` and of negative ``j`` is
    ``V01_j = (#{pos > s_j} + #{pos = s_j} / 2) / m``; the AUC is the mean of either.
    These equal Sun & Xu's midrank expressions (``V10_i = (R_i - R^X_i) / n`` with
    overall and within-class midranks); here each class is sorted once, the positives
    are placed among the negatives by binary search, and the negatives' values follow
    by counting, O(n log n) in all.

    Parameters
    ----------
    y_true : array-like of 0/1
    y_score : array-like of float (higher = more likely positive)

    Returns
    -------
    Placements
        ``auc``, ``v10`` (positives in input order), ``v01`` (negatives in input order).

    Raises
    ------
    UndefinedMetricError
        If there are no positives or no negatives.

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or
       more correlated ROC curves. Biometrics 1988;44:837-845. doi:10.2307/2531595
    .. [2] Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the
       areas under correlated ROC curves. IEEE Signal Process Lett 2014;21:1389-1393.
       doi:10.1109/LSP.2014.2337313

    Examples
    --------
    >>> p = midrank_placements([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> p.auc, p.v10.tolist(), p.v01.tolist()
    (0.75, [0.5, 1.0], [1.0, 0.5])
    """
    y, s = prepare(y_true, y_score)
    return case_placements(y, s)


def case_placements(y: NDArray[np.int8], s: NDArray[np.float64]) -> Placements:
    """Placements in input order: argsort each class, place, scatter back."""
    pos_mask = y == 1
    sp_, sn_ = s[pos_mask], s[~pos_mask]
    op, on = np.argsort(sp_), np.argsort(sn_)
    v10s, v01s = _sorted_class_placements(sp_[op], sn_[on])
    v10 = np.empty(sp_.size)
    v01 = np.empty(sn_.size)
    v10[op] = v10s
    v01[on] = v01s
    return Placements(float(v10.mean()), v10, v01)


def _sorted_class_placements(
    ps: NDArray[np.float64], ns: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """V10 (positives) and V01 (negatives) for class-wise sorted scores.

    One binary search places the positives among the sorted negatives (``lt``:
    negatives below; ``le``: below or tied, searched only if some score is shared by
    both classes). The negatives' counts follow by counting: positive ``i`` lies below
    negative ``j`` iff ``le_i <= j``, and at or below it iff ``lt_i <= j``.
    """
    m, n = ps.size, ns.size
    lt = np.searchsorted(ns, ps, side="left")
    inside = lt < n
    if np.any(ns[lt[inside]] == ps[inside]):
        le = np.searchsorted(ns, ps, side="right")
    else:
        le = lt
    below_neg = np.cumsum(np.bincount(le, minlength=n + 1))[:n]
    le_neg = np.cumsum(np.bincount(lt, minlength=n + 1))[:n]
    v10 = ((lt + le) * (0.5 / n)).astype(np.float64)
    v01 = ((2 * m - below_neg - le_neg) * (0.5 / m)).astype(np.float64)
    return v10, v01


def sorted_placements(
    y: NDArray[np.int8], s: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """AUC and placements in *score order* (fast path when case order is not needed)."""
    pos_mask = y == 1
    v10, v01 = _sorted_class_placements(np.sort(s[pos_mask]), np.sort(s[~pos_mask]))
    return float(v10.mean()), v10, v01


def delong_variance(v10: NDArray[np.float64], v01: NDArray[np.float64]) -> float:
    """DeLong variance ``var(V10)/m + var(V01)/n`` (sample variances, as pROC)."""
    m, n = v10.size, v01.size
    if m < 2 or n < 2:
        raise UndefinedMetricError(
            "DeLong variance is undefined with fewer than 2 positive or 2 negative cases, "
            f"got {m} positive and {n} negative"
        )
    return float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)


def delong_covariance(a: Placements, b: Placements) -> float:
    """DeLong covariance of two AUCs on the same cases (paired)."""
    m, n = a.v10.size, a.v01.size
    if m < 2 or n < 2:
        raise UndefinedMetricError(
            "DeLong covariance is undefined with fewer than 2 positive or 2 negative cases, "
            f"got {m} positive and {n} negative"
        )
    c10 = np.dot(a.v10 - a.v10.mean(), b.v10 - b.v10.mean()) / (m - 1)
    c01 = np.dot(a.v01 - a.v01.mean(), b.v01 - b.v01.mean()) / (n - 1)
    return float(c10 / m + c01 / n)


@dataclass(frozen=True)
class ClusterDesign:
    """Cluster codes of the positives and negatives, and cluster counts."""

    pos_codes: NDArray[np.intp]
    neg_codes: NDArray[np.intp]
    codes: NDArray[np.intp]
    n_clusters: int
    m_c: NDArray[np.float64]
    n_c: NDArray[np.float64]


def cluster_design(clusters: ArrayLike, y: NDArray[np.int8]) -> ClusterDesign:
    """Integer cluster codes and per-cluster class counts."""
    arr = np.asarray(clusters)
    if arr.ndim != 1:
        raise ValueError(f"clusters must be 1-D, got shape {arr.shape}")
    check_same_length(y_true=y, clusters=arr)
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        idx = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValueError(f"clusters must not contain NaN, found NaN at index {idx}")
    _, codes = np.unique(arr, return_inverse=True)
    codes = codes.reshape(-1).astype(np.intp)
    k = int(codes.max()) + 1
    pos = y == 1
    return ClusterDesign(
        pos_codes=codes[pos],
        neg_codes=codes[~pos],
        codes=codes,
        n_clusters=k,
        m_c=np.bincount(codes[pos], minlength=k).astype(np.float64),
        n_c=np.bincount(codes[~pos], minlength=k).astype(np.float64),
    )


def obuchowski_covariance(a: Placements, b: Placements, design: ClusterDesign) -> float:
    """Obuchowski (1997) clustered covariance of two AUCs (variance when ``a is b``)."""
    k = design.n_clusters
    i10 = int(np.count_nonzero(design.m_c))
    i01 = int(np.count_nonzero(design.n_c))
    if i10 < 2 or i01 < 2:
        raise UndefinedMetricError(
            "the clustered (Obuchowski) variance needs at least 2 clusters with positive "
            f"cases and 2 with negative cases, got {i10} and {i01}"
        )
    big_m, big_n = float(design.m_c.sum()), float(design.n_c.sum())

    def parts(p: Placements) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        v10c = np.bincount(design.pos_codes, weights=p.v10, minlength=k)
        v01c = np.bincount(design.neg_codes, weights=p.v01, minlength=k)
        return v10c - design.m_c * p.auc, v01c - design.n_c * p.auc

    ea, fa = parts(a)
    eb, fb = parts(b)
    s10 = i10 / ((i10 - 1) * big_m) * float(np.dot(ea, eb))
    s01 = i01 / ((i01 - 1) * big_n) * float(np.dot(fa, fb))
    s11 = k / (k - 1) * (float(np.dot(ea, fb)) + float(np.dot(eb, fa)))
    return s10 / big_m + s01 / big_n + s11 / (big_m * big_n)


def case_jackknife(p: Placements) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """Leave-one-case-out AUCs in closed form, ordered [positives, negatives].

    Leaving out positive ``i``: ``(m AUC - V10_i) / (m - 1)``; negative ``j``:
    ``(n AUC - V01_j) / (n - 1)``. Returns the values and each value's class (the
    bootstrap strata).
    """
    m, n = p.v10.size, p.v01.size
    if m < 2 or n < 2:
        raise UndefinedMetricError(
            "the jackknife (BCa acceleration) is undefined with fewer than 2 positive or 2 "
            f"negative cases, got {m} positive and {n} negative; use the percentile interval"
        )
    jack = np.concatenate(((m * p.auc - p.v10) / (m - 1), (n * p.auc - p.v01) / (n - 1)))
    strata = np.concatenate((np.ones(m, np.int8), np.zeros(n, np.int8)))
    return jack, strata


def within_cluster_pairs(
    y: NDArray[np.int8], s: NDArray[np.float64], design: ClusterDesign
) -> NDArray[np.float64]:
    """Per cluster: sum over its (positive, negative) pairs of psi (1, 1/2 for ties, 0)."""
    order = np.lexsort((s, design.codes))
    cs = design.codes[order]
    ss = s[order]
    yy = y[order]
    n_all = y.size
    negcum = np.cumsum(yy == 0)
    new_group = np.empty(n_all, dtype=bool)
    new_group[0] = True
    new_group[1:] = (cs[1:] != cs[:-1]) | (ss[1:] != ss[:-1])
    new_cluster = np.empty(n_all, dtype=bool)
    new_cluster[0] = True
    new_cluster[1:] = cs[1:] != cs[:-1]
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], n_all) - 1
    neg_excl = negcum[starts] - (yy[starts] == 0)
    neg_in = negcum[ends] - neg_excl
    cstart = np.flatnonzero(new_cluster)
    cl_of_group = np.cumsum(new_cluster)[starts] - 1
    cl_neg_excl = negcum[cstart] - (yy[cstart] == 0)
    below_g = neg_excl - cl_neg_excl[cl_of_group] + 0.5 * neg_in
    gid = np.cumsum(new_group) - 1
    contrib = np.where(yy == 1, below_g[gid], 0.0)
    return np.bincount(cs, weights=contrib, minlength=design.n_clusters).astype(np.float64)


def cluster_jackknife(
    y: NDArray[np.int8], s: NDArray[np.float64], p: Placements, design: ClusterDesign
) -> NDArray[np.float64]:
    """Leave-one-cluster-out AUCs in closed form from placements and within-cluster pairs."""
    k = design.n_clusters
    big_m, big_n = float(design.m_c.sum()), float(design.n_c.sum())
    total = p.auc * big_m * big_n
    v10c = np.bincount(design.pos_codes, weights=p.v10, minlength=k) * big_n
    v01c = np.bincount(design.neg_codes, weights=p.v01, minlength=k) * big_m
    within = within_cluster_pairs(y, s, design)
    m_left = big_m - design.m_c
    n_left = big_n - design.n_c
    if (m_left == 0).any() or (n_left == 0).any():
        raise UndefinedMetricError(
            "the cluster jackknife (BCa acceleration) is undefined: leaving out one cluster "
            "removes all positive or all negative cases; use the percentile interval"
        )
    return (total - v10c - v01c + within) / (m_left * n_left)

"""Fast bootstrap engine: multinomial resampling weights, one-sort weighted AUCs, BCa.

The bootstrap here never materialises resampled data sets. A resample is a vector of
integer counts (how often each case, or each patient, was drawn); a matrix of such
counts for many resamples at once is a *weight matrix* (resamples x cases). Statistics
that are sums over cases (means, proportions, and, after one sort, the AUC) are then
evaluated for every resample with a few vectorised passes over that matrix.

Public names
------------
bootstrap_weights
    Integer weight matrices for ordinary, stratified and patient-clustered resampling.
weighted_auc
    The AUC (Mann-Whitney, ties one half) for every row of a weight matrix from one sort.
bootstrap_interval
    Percentile and BCa intervals as in R's ``boot::boot.ci``.
jackknife_acceleration
    The BCa acceleration from leave-one-out estimates, as ``boot::empinf(type="jack")``.

Written by hand because no installed library does these fast: ``scipy.stats.bootstrap``
re-evaluates the statistic on every resampled data set (about 30-100x slower for the
AUC) and has no clustered resampling; ``boot`` is R.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from validation.errors import UndefinedMetricError
from validation.stats._checks import (
    as_binary,
    as_rng,
    as_scores,
    check_confidence_level,
    check_same_length,
)
from validation.stats._params import (
    UNIT_INTERVAL,
    Integral,
    Interval,
    Options,
    Real,
    validate_params,
)

__all__ = [
    "bootstrap_weights",
    "weighted_auc",
    "bootstrap_interval",
    "jackknife_acceleration",
]

# Target size of one weight-matrix chunk (elements); keeps peak memory near 100 MB.
_CHUNK_ELEMENTS = 1 << 21


def cluster_codes(labels: ArrayLike, *, name: str) -> tuple[NDArray[np.intp], int]:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        idx = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValueError(f"{name} must not contain NaN, found NaN at index {idx}")
    _, inverse = np.unique(arr, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.intp)
    return inverse, int(inverse.max()) + 1 if inverse.size else 0


def _row_counts(
    gen: np.random.Generator, out: NDArray[np.int32], members: NDArray[np.intp] | slice
) -> None:
    """Write multinomial(k; 1/k, ..., 1/k) counts of ``k`` units into ``out[:, members]``."""
    rows = out.shape[0]
    k = out[:1, members].shape[1]
    draws = gen.integers(0, k, size=(rows, k), dtype=np.int64)
    if k < 4096:
        draws += (np.arange(rows, dtype=np.int64) * k)[:, None]
        out[:, members] = np.bincount(draws.ravel(), minlength=rows * k).reshape(rows, k)
        return
    if isinstance(members, slice):
        for i in range(rows):
            out[i, members] = np.bincount(draws[i], minlength=k)
    else:
        tmp = np.empty((rows, k), dtype=np.int32)
        for i in range(rows):
            tmp[i] = np.bincount(draws[i], minlength=k)
        out[:, members] = tmp


def _as_slice(members: NDArray[np.intp]) -> NDArray[np.intp] | slice:
    """A contiguous ascending index run as a slice (cheap column views)."""
    if members.size and members[-1] - members[0] == members.size - 1:
        if np.array_equal(members, np.arange(members[0], members[-1] + 1)):
            return slice(int(members[0]), int(members[-1]) + 1)
    return members


@validate_params(
    {
        "n_resamples": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
    }
)
def bootstrap_weights(
    n_or_clusters: int | ArrayLike,
    *,
    strata: ArrayLike | None = None,
    n_resamples: int,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    chunk_size: int | None = None,
) -> Iterator[NDArray[np.int32]]:
    """Yield integer bootstrap weight matrices (resamples x cases), chunk by chunk.

    Each row is one bootstrap resample expressed as counts: entry ``[b, i]`` says how
    many times case ``i`` appears in resample ``b``. Units (cases, or clusters such as
    patients) are drawn with replacement, uniformly, the same number of times as there
    are units; with ``strata`` the draw is done separately within each stratum, so each
    stratum keeps its size (e.g. positives and negatives for a stratified AUC bootstrap).
    With clusters every case of a drawn cluster gets the cluster's count.

    Parameters
    ----------
    n_or_clusters : int or array-like
        Either the number of cases (each case is its own unit) or one cluster label per
        case (e.g. ``patient_id``); labels may be any sortable values.
    strata : array-like, optional
        One stratum label per case. With clusters, every cluster must lie within one
        stratum.
    n_resamples : int
        Total number of rows yielded over all chunks.
    rng : numpy.random.Generator, int, SeedSequence or None
        Source of randomness. Each stratum draws from its own child stream
        (``Generator.spawn``), so the weights do not depend on ``chunk_size``.
    chunk_size : int, optional
        Rows per yielded matrix; by default about 2 million matrix entries per chunk.

    Yields
    ------
    numpy.ndarray of int32, shape (rows, n_cases)
        Row sums equal the number of cases (ordinary or stratified case resampling) or
        vary (cluster resampling, unequal cluster sizes).

    Notes
    -----
    Counts are drawn as multinomial(k; 1/k, ..., 1/k) by tallying ``k`` uniform unit
    indices per resample, which is exactly the ordinary nonparametric bootstrap
    (Efron & Tibshirani 1993, ch. 6). Clustered resampling of patients follows the
    design used for clustered ROC data by Obuchowski (1997).

    References
    ----------
    .. [1] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993.
    .. [2] Obuchowski NA. Nonparametric analysis of clustered ROC curve data.
       Biometrics 1997;53:567-578. doi:10.2307/2533960

    Examples
    --------
    >>> import numpy as np
    >>> w = np.vstack(list(bootstrap_weights(5, n_resamples=3, rng=1)))
    >>> w.shape, w.sum(axis=1).tolist()
    ((3, 5), [5, 5, 5])
    >>> w = next(bootstrap_weights(["p1", "p1", "p2"], n_resamples=2, rng=1))
    >>> bool((w[:, 0] == w[:, 1]).all())
    True
    """
    n_resamples = int(n_resamples)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    if isinstance(n_or_clusters, (int, np.integer)):
        n_cases = int(n_or_clusters)
        if n_cases < 1:
            raise ValueError(f"the number of cases must be at least 1, got {n_cases}")
        unit_of_case: NDArray[np.intp] | None = None
        n_units = n_cases
    else:
        unit_of_case, n_units = cluster_codes(n_or_clusters, name="clusters")
        n_cases = unit_of_case.size
        if n_cases < 1:
            raise ValueError("clusters must have at least one entry, got 0")
    if strata is None:
        groups = [np.arange(n_units)]
    else:
        s_codes, n_strata = cluster_codes(strata, name="strata")
        check_same_length(cases=np.empty(n_cases), strata=s_codes)
        if unit_of_case is None:
            unit_stratum = s_codes
        else:
            lo = np.full(n_units, n_strata, dtype=np.intp)
            hi = np.full(n_units, -1, dtype=np.intp)
            np.minimum.at(lo, unit_of_case, s_codes)
            np.maximum.at(hi, unit_of_case, s_codes)
            bad = np.flatnonzero(lo != hi)
            if bad.size:
                case = int(np.flatnonzero(unit_of_case == bad[0])[0])
                raise ValueError(
                    "strata must be constant within each cluster, found a cluster with "
                    f"cases in {int(np.unique(s_codes[unit_of_case == bad[0]]).size)} strata "
                    f"(its first case is at index {case})"
                )
            unit_stratum = lo
        order = np.argsort(unit_stratum, kind="stable")
        bounds = np.searchsorted(unit_stratum[order], np.arange(n_strata + 1))
        groups = [order[bounds[i] : bounds[i + 1]] for i in range(n_strata)]
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // max(n_cases, 1))
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    gens = as_rng(rng).spawn(len(groups))
    members = [_as_slice(g) for g in groups]
    done = 0
    while done < n_resamples:
        rows = min(chunk_size, n_resamples - done)
        units = np.empty((rows, n_units), dtype=np.int32)
        for gen, cols in zip(gens, members, strict=True):
            _row_counts(gen, units, cols)
        yield units if unit_of_case is None else np.take(units, unit_of_case, axis=1)
        done += rows


class AucEngine:
    """Precomputed order statistics for AUCs of many weightings of the same data."""

    def __init__(self, y: NDArray[np.int8], s: NDArray[np.float64]) -> None:
        pos_mask = y == 1
        self.pos_idx = np.flatnonzero(pos_mask)
        neg_idx = np.flatnonzero(~pos_mask)
        neg_s = s[neg_idx]
        order = np.argsort(neg_s, kind="stable")
        self.neg_idx = neg_idx[order]
        neg_sorted = neg_s[order]
        pos_s = s[self.pos_idx]
        self.lt = np.searchsorted(neg_sorted, pos_s, side="left")
        self.le = np.searchsorted(neg_sorted, pos_s, side="right")
        self.ties = bool((self.lt != self.le).any())
        n = y.size
        # Cases already laid out as [negatives ascending, positives]: slice, don't gather.
        self.presorted = bool(
            np.array_equal(self.neg_idx, np.arange(self.neg_idx.size))
            and np.array_equal(self.pos_idx, np.arange(self.neg_idx.size, n))
        )

    def auc(self, weights: NDArray[Any]) -> NDArray[np.float64]:
        nn = self.neg_idx.size
        if self.presorted:
            wn = weights[:, :nn]
            wp = weights[:, nn:]
        else:
            wn = weights[:, self.neg_idx]
            wp = weights[:, self.pos_idx]
        return _auc_core(wn, wp, self.lt, self.le, self.ties)


def _auc_core(
    wn: NDArray[Any],
    wp: NDArray[Any],
    lt: NDArray[np.intp],
    le: NDArray[np.intp],
    ties: bool,
) -> NDArray[np.float64]:
    """AUC per row: negatives' weights in ascending score order, positives' weights."""
    rows, nn = wn.shape
    # Integer arithmetic is exact and several times faster than float64 here. With
    # integer weights bounded by wmax_n (negatives) and wmax_p (positives), every
    # cumulative count is <= nn * wmax_n and every product <= 2 nn wmax_n wmax_p: use
    # int32 when that fits, float64 (exact below 2^53) otherwise.
    integer = wn.dtype.kind in "iu" and wp.dtype.kind in "iu"
    wmax_n = int(wn.max(initial=0)) if integer else 0
    wmax_p = int(wp.max(initial=0)) if integer else 0
    small = integer and 2 * nn * max(wmax_n, 1) * max(wmax_p, 1) < 2**31
    dtype = np.int32 if small else np.float64
    cum = np.empty((rows, nn + 1), dtype=dtype)
    cum[:, 0] = 0
    np.cumsum(wn, axis=1, dtype=dtype, out=cum[:, 1:])
    below = np.take(cum, lt, axis=1)
    if ties:  # ties count one half: (#below + #below-or-equal) / 2
        below += np.take(cum, le, axis=1)
    if small:
        num = np.multiply(wp.astype(np.int32, copy=False), below).sum(axis=1, dtype=np.int64)
        tot_p = wp.sum(axis=1, dtype=np.int64).astype(np.float64)
    else:
        num = np.einsum("ij,ij->i", wp.astype(np.float64, copy=False), below)
        tot_p = wp.sum(axis=1, dtype=np.float64)
    num = num.astype(np.float64)
    den = (2.0 if ties else 1.0) * tot_p * cum[:, -1].astype(np.float64)
    out = np.full(rows, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def weighted_auc(y_true: ArrayLike, y_score: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    """AUC for every row of a case-weight matrix, from one sort of the scores.

    With non-negative case weights ``w`` the AUC is
    ``sum_{i pos, j neg} w_i w_j psi(s_i, s_j) / (sum_pos w_i * sum_neg w_j)`` with
    ``psi = 1`` if ``s_i > s_j``, ``1/2`` if equal, ``0`` otherwise: for integer
    bootstrap counts this is exactly the Mann-Whitney AUC of the resampled data set.
    The negatives are sorted once; each row then needs one cumulative sum of the
    negatives' weights and one weighted sum over the positives (ties count one half
    through the left and right insertion points).

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n,)
    y_score : array-like of float, shape (n,)
        Higher means more likely positive.
    weights : array-like, shape (n,) or (rows, n)
        Non-negative case weights (bootstrap counts from :func:`bootstrap_weights`).

    Returns
    -------
    numpy.ndarray of float64, shape (rows,) (or shape () for 1-D weights)
        The AUC per row. A row that gives zero total weight to the positives or to the
        negatives has no AUC: it is NaN, and callers must count and report such rows
        (``roc_auc`` does, in ``extra["n_undefined_resamples"]``).

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or
       more correlated ROC curves. Biometrics 1988;44:837-845. doi:10.2307/2531595
    .. [2] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993.

    Examples
    --------
    >>> import numpy as np
    >>> y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    >>> float(weighted_auc(y, s, np.ones(4)))
    0.75
    >>> weighted_auc(y, s, [[2, 0, 1, 1], [1, 1, 0, 2]]).tolist()
    [1.0, 1.0]
    """
    y = as_binary(y_true)
    s = as_scores(y_score)
    check_same_length(y_true=y, y_score=s)
    w = np.asarray(weights)
    if w.ndim not in (1, 2) or w.shape[-1] != y.size:
        raise ValueError(
            f"weights must have shape (n,) or (rows, n) with n = {y.size}, got shape {w.shape}"
        )
    if w.dtype.kind not in "iuf":
        raise ValueError(f"weights must be numeric, got dtype {w.dtype}")
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        raise ValueError("weights must be finite")
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    engine = AucEngine(y, s)
    out = engine.auc(np.atleast_2d(w))
    return out.reshape(w.shape[:-1])


def jackknife_acceleration(
    estimate: float, jackknife: ArrayLike, *, strata: ArrayLike | None = None
) -> float:
    """BCa acceleration from leave-one-out (jackknife) estimates, as ``boot`` computes it.

    The empirical influence values are ``L_i = (n_s - 1) (t0 - t_(-i))`` where ``n_s``
    is the size of unit ``i``'s stratum (R ``boot::empinf(type="jack")``), and
    ``a = sum(L^3) / (6 sum(L^2)^1.5)``. If every ``L_i`` is zero the acceleration is 0.

    Parameters
    ----------
    estimate : float
        The statistic on the full data, ``t0``.
    jackknife : array-like of float, shape (n_units,)
        The statistic with unit ``i`` left out.
    strata : array-like, optional
        Stratum label of each unit (for a stratified bootstrap).

    Returns
    -------
    float

    References
    ----------
    .. [1] Efron B. Better bootstrap confidence intervals. JASA 1987;82:171-185.
       doi:10.1080/01621459.1987.10478410
    .. [2] Davison AC, Hinkley DV. Bootstrap Methods and their Application. CUP 1997;
       R package boot (Canty & Ripley), ``empinf`` and ``boot.ci``.

    Examples
    --------
    >>> round(jackknife_acceleration(2.0, [2.5, 2.0, 1.5]), 12)
    0.0
    """
    jack = np.asarray(jackknife, dtype=np.float64)
    if jack.ndim != 1 or jack.size < 2:
        raise ValueError(f"jackknife must be 1-D with at least 2 values, got shape {jack.shape}")
    if not np.isfinite(jack).all():
        raise ValueError("jackknife values must be finite")
    if strata is None:
        factor = np.full(jack.size, jack.size - 1.0)
    else:
        codes, _ = cluster_codes(strata, name="strata")
        check_same_length(jackknife=jack, strata=codes)
        factor = np.bincount(codes)[codes] - 1.0
    infl = factor * (float(estimate) - jack)
    ss = float(np.sum(infl**2))
    if ss == 0.0:
        return 0.0
    return float(np.sum(infl**3) / (6.0 * ss**1.5))


def _norm_inter(t_sorted: NDArray[np.float64], alpha: NDArray[np.float64]) -> NDArray[np.float64]:
    """Order-statistic interpolation on the normal-quantile scale (``boot:::norm.inter``)."""
    r = t_sorted.size
    rk = (r + 1) * alpha
    k = np.trunc(rk).astype(np.int64)
    out = np.empty(alpha.size)
    for j in range(alpha.size):
        kj = int(k[j])
        if kj == rk[j] and 1 <= kj <= r:
            out[j] = t_sorted[kj - 1]
        elif kj <= 0:
            out[j] = t_sorted[0]
        elif kj >= r:
            out[j] = t_sorted[r - 1]
        else:
            z = ndtri(alpha[j])
            z1 = ndtri(kj / (r + 1))
            z2 = ndtri((kj + 1) / (r + 1))
            lo, hi = t_sorted[kj - 1], t_sorted[kj]
            out[j] = lo + (z - z1) / (z2 - z1) * (hi - lo)
    return out


@validate_params(
    {
        "method": [Options(("percentile", "bca"))],
        "confidence_level": [UNIT_INTERVAL],
        "acceleration": [Real, None],
    }
)
def bootstrap_interval(
    estimate: float,
    replicates: ArrayLike,
    *,
    method: str = "percentile",
    confidence_level: float = 0.95,
    jackknife: ArrayLike | None = None,
    jackknife_strata: ArrayLike | None = None,
    acceleration: float | None = None,
) -> tuple[float, float]:
    """Two-sided percentile or BCa bootstrap interval, as R's ``boot::boot.ci``.

    ``percentile`` takes the ``(R + 1) alpha`` order statistics of the replicates,
    interpolated on the normal-quantile scale (``boot``'s ``norm.inter``). ``bca``
    (Efron 1987) first shifts the levels to
    ``Phi(z0 + (z0 + z_alpha) / (1 - a (z0 + z_alpha)))`` with bias correction
    ``z0 = Phi^-1(#{t* < t0} / R)`` and acceleration ``a`` from the jackknife
    (:func:`jackknife_acceleration`) or given directly.

    Parameters
    ----------
    estimate : float
        The statistic on the original data, ``t0``.
    replicates : array-like of float
        Bootstrap replicates; all must be finite (drop undefined ones yourself and
        report how many).
    method : {"percentile", "bca"}
    confidence_level : float
    jackknife : array-like, optional
        Leave-one-unit-out estimates, for the BCa acceleration.
    jackknife_strata : array-like, optional
        Stratum of each jackknife unit (stratified bootstrap).
    acceleration : float, optional
        The BCa acceleration, instead of ``jackknife``; neither means ``a = 0``.

    Returns
    -------
    (float, float)
        Lower and upper bound. If every replicate is equal, both bounds are that value.

    Raises
    ------
    UndefinedMetricError
        BCa when the estimate lies outside the replicates' range (``z0`` infinite).

    References
    ----------
    .. [1] Efron B. Better bootstrap confidence intervals. JASA 1987;82:171-185.
       doi:10.1080/01621459.1987.10478410
    .. [2] Davison AC, Hinkley DV. Bootstrap Methods and their Application. CUP 1997,
       ch. 5; R package boot, ``boot.ci``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.random.default_rng(0).normal(10, 1, 999)
    >>> lo, hi = bootstrap_interval(10.0, t, method="percentile")
    >>> bool(lo < 10 < hi)
    True
    """
    level = check_confidence_level(confidence_level)
    t = np.asarray(replicates, dtype=np.float64).ravel()
    if t.size < 2:
        raise ValueError(f"replicates must hold at least 2 values, got {t.size}")
    bad = ~np.isfinite(t)
    if bad.any():
        raise ValueError(
            f"replicates must be finite, found {int(bad.sum())} non-finite of {t.size}; "
            "drop undefined replicates and report their number"
        )
    t0 = float(estimate)
    t_sorted = np.sort(t)
    if t_sorted[0] == t_sorted[-1]:
        return float(t_sorted[0]), float(t_sorted[0])
    alpha = np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    if method == "bca":
        prop = np.count_nonzero(t < t0) / t.size
        if prop <= 0.0 or prop >= 1.0:
            raise UndefinedMetricError(
                "BCa interval undefined: the estimate lies outside the bootstrap replicates "
                f"(estimate {t0!r}, replicates in [{t_sorted[0]!r}, {t_sorted[-1]!r}]); "
                "use the percentile interval"
            )
        z0 = float(ndtri(prop))
        if acceleration is not None:
            a = float(acceleration)
        elif jackknife is not None:
            a = jackknife_acceleration(t0, jackknife, strata=jackknife_strata)
        else:
            a = 0.0
        za = ndtri(alpha)
        alpha = ndtr(z0 + (z0 + za) / (1.0 - a * (z0 + za)))
    lo, hi = _norm_inter(t_sorted, alpha)
    return float(lo), float(hi)

"""ROC curve points, partial AUC, operating points (public names re-exported by ``roc``).

Conventions as pROC (``direction="<"``): a case is positive at threshold ``t`` iff
``score >= t``; the curve runs through every distinct observed score.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.errors import UndefinedMetricError
from validation.stats._checks import as_rng, check_confidence_level, required
from validation.stats._params import RESAMPLES, UNIT_INTERVAL, Interval, Real, validate_params
from validation.stats._results import Estimate, ResultMixin
from validation.stats.bootstrap import bootstrap_weights
from validation.stats.roc._delong import cluster_design, prepare


@dataclass(frozen=True)
class RocCurve(ResultMixin):
    """Empirical ROC curve, from the strictest threshold to the most lenient.

    Attributes
    ----------
    fpr, tpr : numpy.ndarray
        False- and true-positive fractions; the first point is (0, 0) and the last (1, 1).
    thresholds : numpy.ndarray
        ``thresholds[k]``: a case is positive iff ``score >= thresholds[k]``. The first is
        ``+inf`` (nothing positive); the rest are the distinct scores, descending.
    n_positive, n_negative : int
    """

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    n_positive: int
    n_negative: int

    @property
    def sensitivity(self) -> NDArray[np.float64]:
        """True-positive fraction at each threshold."""
        return self.tpr

    @property
    def specificity(self) -> NDArray[np.float64]:
        """1 - false-positive fraction at each threshold."""
        return 1.0 - self.fpr


def _groups(
    y: NDArray[np.int8], s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Distinct scores ascending, each case's group, positives and negatives per group."""
    uniq, inv = np.unique(s, return_inverse=True)
    inv = inv.reshape(-1)
    pos = np.bincount(inv, weights=(y == 1).astype(np.float64), minlength=uniq.size)
    neg = np.bincount(inv, weights=(y == 0).astype(np.float64), minlength=uniq.size)
    return uniq, inv.astype(np.intp), pos.astype(np.float64), neg.astype(np.float64)


def roc_curve(y_true: ArrayLike, y_score: ArrayLike) -> RocCurve:
    """Empirical ROC curve at every distinct score (positive iff ``score >= t``).

    The points are those of pROC's ``coords(roc, "all")`` in reverse order; pROC labels
    them by midpoints between consecutive scores, here each point's threshold is the
    observed score itself (the same classification).

    Parameters
    ----------
    y_true : array-like of 0/1
    y_score : array-like of float

    Returns
    -------
    RocCurve

    References
    ----------
    .. [1] Robin X et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77

    Examples
    --------
    >>> c = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> c.thresholds.tolist()
    [inf, 0.8, 0.4, 0.35, 0.1]
    >>> c.tpr.tolist(), c.fpr.tolist()
    ([0.0, 0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5, 1.0])
    """
    y, s = prepare(y_true, y_score)
    uniq, _, pos, neg = _groups(y, s)
    m, n = float(pos.sum()), float(neg.sum())
    tp = np.concatenate(([0.0], np.cumsum(pos[::-1])))
    fp = np.concatenate(([0.0], np.cumsum(neg[::-1])))
    thr = np.concatenate(([np.inf], uniq[::-1]))
    arrays = [fp / n, tp / m, thr]
    for a in arrays:
        a.setflags(write=False)
    return RocCurve(arrays[0], arrays[1], arrays[2], int(m), int(n))


def _trapezoid_rows(
    x: NDArray[np.float64], yv: NDArray[np.float64], lo: float, hi: float
) -> NDArray[np.float64]:
    """Per row: area under the polygon (x non-decreasing) restricted to lo <= x <= hi."""
    x0, x1 = x[:, :-1], x[:, 1:]
    y0, y1 = yv[:, :-1], yv[:, 1:]
    width = x1 - x0
    left = np.maximum(x0, lo)
    right = np.minimum(x1, hi)
    keep = (width > 0) & (right > left)  # vertical segments have no area
    slope = (y1 - y0) / np.where(width > 0, width, 1.0)
    yl = y0 + slope * (left - x0)
    yr = y0 + slope * (right - x0)
    return np.where(keep, (right - left) * (yl + yr) / 2.0, 0.0).sum(axis=1)


def _partial_rows(
    sp: NDArray[np.float64], se: NDArray[np.float64], focus: str, lo: float, hi: float
) -> NDArray[np.float64]:
    """Partial areas per row from points in increasing-threshold order (``_points``)."""
    if focus == "specificity":
        return _trapezoid_rows(sp, se, lo, hi)
    return _trapezoid_rows(se[:, ::-1], sp[:, ::-1], lo, hi)


def _mcclish(area: NDArray[np.float64], lo: float, hi: float) -> NDArray[np.float64]:
    """McClish-corrected areas; NaN where the partial curve is below the diagonal."""
    amax = hi - lo
    amin = ((1.0 - lo) ** 2 - (1.0 - hi) ** 2) / 2.0
    out = (1.0 + (area - amin) / (amax - amin)) / 2.0
    return np.where(area < amin - 1e-12, np.nan, out)


def _partial_spec(
    specificity: tuple[float, float] | None, sensitivity: tuple[float, float] | None
) -> tuple[str, float, float]:
    if (specificity is None) == (sensitivity is None):
        raise ValueError("give exactly one of specificity=(lo, hi) or sensitivity=(lo, hi)")
    if specificity is not None:
        return ("specificity", *_check_range("specificity", specificity))
    return ("sensitivity", *_check_range("sensitivity", required(sensitivity, "sensitivity")))


def _check_range(name: str, rng_: tuple[float, float]) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in rng_)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi), got {rng_!r}") from None
    lo, hi = min(a, b), max(a, b)
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"{name} range must satisfy 0 <= lo < hi <= 1, got {rng_!r}")
    return lo, hi


@validate_params(
    {
        "correct": [bool],
    }
)
def partial_auc(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    specificity: tuple[float, float] | None = None,
    sensitivity: tuple[float, float] | None = None,
    correct: bool = False,
) -> float:
    """Partial area under the empirical ROC curve over a specificity or sensitivity range.

    The area under the piecewise-linear ROC curve (sensitivity against specificity)
    between the two specificities, or, with ``sensitivity=(lo, hi)``, the area under
    specificity against sensitivity between the two sensitivities; partial segments at
    the bounds are interpolated linearly, as pROC's ``auc(partial.auc=...)``. With
    ``correct=True`` McClish's standardisation ``(1 + (pAUC - min) / (max - min)) / 2``
    is applied, where ``max`` is the range width and ``min`` the area under the
    chance diagonal over the range (0.5 = chance, 1 = perfect).

    Parameters
    ----------
    y_true, y_score : array-like
    specificity : (float, float), optional
        Range of specificities, in either order (pROC writes ``c(1, 0.8)``).
    sensitivity : (float, float), optional
        Range of sensitivities; give exactly one of the two.
    correct : bool
        Apply the McClish correction.

    Returns
    -------
    float

    Raises
    ------
    UndefinedMetricError
        ``correct=True`` and the partial area lies below the chance diagonal's (pROC
        returns NA there).

    References
    ----------
    .. [1] McClish DK. Analyzing a portion of the ROC curve. Med Decis Making
       1989;9:190-195. doi:10.1177/0272989X8900900307
    .. [2] Robin X et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77

    Examples
    --------
    >>> round(partial_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], specificity=(0.8, 1.0)), 6)
    0.2
    >>> partial_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], specificity=(0.8, 1.0), correct=True)
    1.0
    """
    focus, lo, hi = _partial_spec(specificity, sensitivity)
    y, s = prepare(y_true, y_score)
    _, _, pos, neg = _groups(y, s)
    sp, se = _points(pos, neg)
    area = float(_partial_rows(sp, se, focus, lo, hi)[0])
    if correct:
        corrected = float(_mcclish(np.array([area]), lo, hi)[0])
        if np.isnan(corrected):
            amin = ((1.0 - lo) ** 2 - (1.0 - hi) ** 2) / 2.0
            raise UndefinedMetricError(
                "the McClish correction is undefined for a partial ROC curve below the chance "
                f"diagonal (partial AUC {area!r} < {amin!r}, the diagonal's area over the range)"
            )
        return corrected
    return area


@validate_params(
    {
        "correct": [bool],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
    }
)
def partial_auc_ci(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    specificity: tuple[float, float] | None = None,
    sensitivity: tuple[float, float] | None = None,
    correct: bool = False,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    clusters: ArrayLike | None = None,
) -> Estimate:
    """Partial AUC (optionally McClish-corrected) with a bootstrap percentile CI.

    The estimate is :func:`partial_auc`. The interval is pROC's
    ``ci.auc(partial.auc=..., method="bootstrap", boot.stratified=TRUE)``:
    ``n_resamples`` resamples stratified by class (or of whole clusters when
    ``clusters`` is given), the partial area of each resampled curve, and the
    linear-interpolation (R type 7) quantiles. With ``correct=True`` resamples whose
    partial curve lies below the chance diagonal have no McClish value: they are
    dropped and counted in ``extra["n_undefined_resamples"]``.

    Parameters
    ----------
    y_true, y_score : array-like
    specificity, sensitivity : (float, float)
        Exactly one range, as in :func:`partial_auc`.
    correct : bool
        McClish correction.
    confidence_level : float
    n_resamples : int
    rng : numpy.random.Generator, int, SeedSequence or None
    clusters : array-like, optional
        Patient labels: resample patients.

    Returns
    -------
    Estimate
        ``method="bootstrap_percentile"``; ``se`` = SD of the replicates; ``extra`` has
        ``focus``, ``range``, ``corrected`` and the resampling counts.

    References
    ----------
    .. [1] McClish DK. Analyzing a portion of the ROC curve. Med Decis Making
       1989;9:190-195. doi:10.1177/0272989X8900900307
    .. [2] Robin X et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> e = partial_auc_ci(y, rng.normal(size=100) + y, specificity=(0.8, 1.0), rng=1)
    >>> bool(e.ci_low <= e.estimate <= e.ci_high), e.method
    (True, 'bootstrap_percentile')
    """
    level = check_confidence_level(confidence_level)
    n_res = int(n_resamples)
    if n_res < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples!r}")
    focus, lo, hi = _partial_spec(specificity, sensitivity)
    est = partial_auc(y_true, y_score, correct=correct, **{focus: (lo, hi)})
    y, s = prepare(y_true, y_score)
    _, inv, pos, neg = _groups(y, s)
    extra: dict[str, Any] = {
        "focus": focus,
        "range": [lo, hi],
        "corrected": bool(correct),
        "n_positive": int(pos.sum()),
        "n_negative": int(neg.sum()),
        "quantile": "linear (R type 7), as pROC ci.auc(method='bootstrap')",
    }
    parts = []
    for r_sp, r_se in _boot_curves(y, inv, pos.size, clusters, n_res, rng, extra):
        area = _partial_rows(r_sp, r_se, focus, lo, hi)
        parts.append(_mcclish(area, lo, hi) if correct else area)
    ci_lo, ci_hi, sd = _quantile_ci(np.concatenate(parts), n_res, level, extra)
    return Estimate(
        est, ci_lo, ci_hi, level, "bootstrap_percentile", int(y.size), se=sd, extra=extra
    )


@dataclass(frozen=True)
class OperatingPoint(ResultMixin):
    """One point of the ROC curve chosen by a criterion (``score >= threshold``)."""

    threshold: float
    sensitivity: float
    specificity: float
    youden_index: float


def youden(y_true: ArrayLike, y_score: ArrayLike) -> OperatingPoint:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    Among thresholds with equal maximal J the highest threshold (the most specific
    point) is returned. The threshold is an observed score: positive iff
    ``score >= threshold`` (pROC's ``coords(roc, "best")`` reports the midpoint to the
    next lower score instead, same classification).

    Parameters
    ----------
    y_true, y_score : array-like

    Returns
    -------
    OperatingPoint

    References
    ----------
    .. [1] Youden WJ. Index for rating diagnostic tests. Cancer 1950;3:32-35.
       doi:10.1002/1097-0142(1950)3:1<32::AID-CNCR2820030106>3.0.CO;2-3

    Examples
    --------
    >>> youden([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    OperatingPoint(threshold=0.8, sensitivity=0.5, specificity=1.0, youden_index=0.5)
    """
    curve = roc_curve(y_true, y_score)
    j = curve.tpr - curve.fpr
    k = int(np.argmax(j))  # first maximum = highest threshold
    return OperatingPoint(
        float(curve.thresholds[k]), float(curve.tpr[k]), float(1.0 - curve.fpr[k]), float(j[k])
    )


def _points(
    pos: NDArray[Any], neg: NDArray[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per row: specificity and sensitivity at k = 0..G (k lowest groups called negative)."""
    pos = np.atleast_2d(pos).astype(np.float64)
    neg = np.atleast_2d(neg).astype(np.float64)
    rows, g = pos.shape
    tn = np.zeros((rows, g + 1))
    fn = np.zeros((rows, g + 1))
    np.cumsum(neg, axis=1, out=tn[:, 1:])
    np.cumsum(pos, axis=1, out=fn[:, 1:])
    sp = tn / tn[:, -1:]
    se = 1.0 - fn / fn[:, -1:]
    return sp, se


def _se_at_sp(sp: NDArray[np.float64], se: NDArray[np.float64], x: float) -> NDArray[np.float64]:
    """pROC coords(input="specificity"): exact point with max se, else linear interpolation."""
    k = np.count_nonzero(sp < x, axis=1)
    kk = np.minimum(k, sp.shape[1] - 1)[:, None]
    sp_k = np.take_along_axis(sp, kk, 1)[:, 0]
    se_k = np.take_along_axis(se, kk, 1)[:, 0]
    prev = np.maximum(kk - 1, 0)
    sp_p = np.take_along_axis(sp, prev, 1)[:, 0]
    se_p = np.take_along_axis(se, prev, 1)[:, 0]
    exact = sp_k == x
    with np.errstate(invalid="ignore", divide="ignore"):
        prop = (x - sp_p) / (sp_k - sp_p)
    return np.where(exact, se_k, se_p - prop * (se_p - se_k))


def _sp_at_se(sp: NDArray[np.float64], se: NDArray[np.float64], x: float) -> NDArray[np.float64]:
    """pROC coords(input="sensitivity"): exact point with max sp, else interpolation."""
    k = np.count_nonzero(se >= x, axis=1) - 1
    kk = np.maximum(k, 0)[:, None]
    nxt = np.minimum(kk + 1, se.shape[1] - 1)
    se_k = np.take_along_axis(se, kk, 1)[:, 0]
    sp_k = np.take_along_axis(sp, kk, 1)[:, 0]
    se_n = np.take_along_axis(se, nxt, 1)[:, 0]
    sp_n = np.take_along_axis(sp, nxt, 1)[:, 0]
    exact = se_k == x
    with np.errstate(invalid="ignore", divide="ignore"):
        prop = (x - se_n) / (se_k - se_n)
    return np.where(exact, sp_k, sp_n + prop * (sp_k - sp_n))


def _boot_curves(
    y: NDArray[np.int8],
    inv: NDArray[np.intp],
    g: int,
    clusters: ArrayLike | None,
    n_res: int,
    rng: Any,
    extra: dict[str, Any],
) -> Iterator[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Bootstrap ROC points per resample (rows), stratified by class or by cluster.

    Resamples without a positive or a negative case are skipped (the caller counts
    them from the number of replicates).
    """
    if clusters is None:
        weights = bootstrap_weights(y.size, strata=y, n_resamples=n_res, rng=as_rng(rng))
    else:
        design = cluster_design(clusters, y)
        extra["n_clusters"] = design.n_clusters
        weights = bootstrap_weights(design.codes, n_resamples=n_res, rng=as_rng(rng))
    ypos = (y == 1).astype(np.float64)
    for w in weights:
        wf = w.astype(np.float64)
        rows = wf.shape[0]
        idx = (inv[None, :] + g * np.arange(rows)[:, None]).ravel()
        pw = np.bincount(idx, weights=(wf * ypos).ravel(), minlength=rows * g).reshape(rows, g)
        nw = np.bincount(idx, weights=(wf * (1 - ypos)).ravel(), minlength=rows * g)
        nw = nw.reshape(rows, g)
        ok = (pw.sum(1) > 0) & (nw.sum(1) > 0)
        yield _points(pw[ok], nw[ok])


def _quantile_ci(
    reps: NDArray[np.float64], n_res: int, level: float, extra: dict[str, Any]
) -> tuple[float, float, float]:
    """Type-7 percentile interval (pROC's bootstrap CIs), dropping undefined replicates."""
    kept = reps[np.isfinite(reps)]
    extra["n_resamples"] = n_res
    extra["n_undefined_resamples"] = n_res - int(kept.size)
    if kept.size < 2:
        raise UndefinedMetricError(
            f"bootstrap failed: only {kept.size} of {n_res} resamples gave a defined value"
        )
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(kept, [a, 1.0 - a])
    return float(lo), float(hi), float(np.std(kept, ddof=1))


def _operating_estimate(
    y_true: ArrayLike,
    y_score: ArrayLike,
    target: float,
    *,
    fixed: str,
    confidence_level: float,
    n_resamples: int,
    rng: Any,
    clusters: ArrayLike | None,
) -> tuple[float, float, float, float, dict[str, Any], int]:
    level = check_confidence_level(confidence_level)
    x = float(target)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{fixed} must be in [0, 1], got {target!r}")
    n_res = int(n_resamples)
    if n_res < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples!r}")
    y, s = prepare(y_true, y_score)
    uniq, inv, pos, neg = _groups(y, s)
    sp, se = _points(pos, neg)
    fn = _se_at_sp if fixed == "specificity" else _sp_at_se
    est = float(fn(sp, se, x)[0])
    # Threshold of the exact point used, if any (positive iff score >= threshold).
    thr_all = np.append(uniq, np.inf)
    if fixed == "specificity":
        k = int(np.count_nonzero(sp[0] < x))
        exact = k <= uniq.size and sp[0, k] == x
    else:
        k = int(np.count_nonzero(se[0] >= x)) - 1
        exact = k >= 0 and se[0, k] == x
    extra: dict[str, Any] = {
        "threshold": float(thr_all[k]) if exact else None,
        "interpolated": not exact,
        "n_positive": int(pos.sum()),
        "n_negative": int(neg.sum()),
        "quantile": "linear (R type 7), as pROC ci.se/ci.sp",
    }
    reps = np.concatenate(
        [
            fn(r_sp, r_se, x)
            for r_sp, r_se in _boot_curves(y, inv, uniq.size, clusters, n_res, rng, extra)
        ]
    )
    lo, hi, sd = _quantile_ci(reps, n_res, level, extra)
    return est, lo, hi, sd, extra, int(y.size)


@validate_params(
    {
        "specificity": [Interval(Real, 0, 1, closed="both")],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
    }
)
def sensitivity_at_specificity(
    y_true: ArrayLike,
    y_score: ArrayLike,
    specificity: float,
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    clusters: ArrayLike | None = None,
) -> Estimate:
    """Sensitivity at a fixed specificity on the empirical ROC curve, with bootstrap CI.

    The point estimate is pROC's ``coords(roc, x, input="specificity")``: if the
    specificity is attained exactly, the highest sensitivity among those points
    (``extra["threshold"]`` then gives its threshold, positive iff ``score >= t``);
    otherwise linear interpolation between the neighbouring curve points
    (``extra["interpolated"] = True``, no threshold). The CI is pROC's ``ci.se``:
    ``n_resamples`` bootstrap resamples stratified by class (or of clusters), the same
    estimate on each, and the linear-interpolation (R type 7) percentiles.

    Parameters
    ----------
    y_true, y_score : array-like
    specificity : float
        Target specificity in [0, 1].
    confidence_level : float
    n_resamples : int
    rng : numpy.random.Generator, int, SeedSequence or None
    clusters : array-like, optional
        Patient labels: resample patients instead of cases stratified by class.

    Returns
    -------
    Estimate
        ``method="bootstrap_percentile"``, ``se`` = SD of the replicates.

    References
    ----------
    .. [1] Robin X et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    .. [2] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993.

    Examples
    --------
    >>> e = sensitivity_at_specificity([0, 0, 1, 1, 0, 1], [.1, .4, .35, .8, .2, .9], 0.6,
    ...                                n_resamples=200, rng=0)
    >>> e.estimate, e.extra["interpolated"]
    (1.0, True)
    """
    est, lo, hi, sd, extra, n = _operating_estimate(
        y_true,
        y_score,
        specificity,
        fixed="specificity",
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        rng=rng,
        clusters=clusters,
    )
    extra["specificity"] = float(specificity)
    return Estimate(
        est, lo, hi, float(confidence_level), "bootstrap_percentile", n, se=sd, extra=extra
    )


@validate_params(
    {
        "sensitivity": [Interval(Real, 0, 1, closed="both")],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
    }
)
def specificity_at_sensitivity(
    y_true: ArrayLike,
    y_score: ArrayLike,
    sensitivity: float,
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    clusters: ArrayLike | None = None,
) -> Estimate:
    """Specificity at a fixed sensitivity on the empirical ROC curve, with bootstrap CI.

    As :func:`sensitivity_at_specificity` with the roles swapped (pROC
    ``coords(input="sensitivity")`` and ``ci.sp``): an exactly attained sensitivity
    gives the highest specificity among those points, otherwise linear interpolation.

    Parameters
    ----------
    y_true, y_score : array-like
    sensitivity : float
        Target sensitivity in [0, 1].
    confidence_level, n_resamples, rng, clusters
        As in :func:`sensitivity_at_specificity`.

    Returns
    -------
    Estimate

    References
    ----------
    .. [1] Robin X et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77

    Examples
    --------
    >>> e = specificity_at_sensitivity([0, 0, 1, 1, 0, 1], [.1, .4, .35, .8, .2, .9], 1.0,
    ...                                n_resamples=200, rng=0)
    >>> round(e.estimate, 6)
    0.666667
    """
    est, lo, hi, sd, extra, n = _operating_estimate(
        y_true,
        y_score,
        sensitivity,
        fixed="sensitivity",
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        rng=rng,
        clusters=clusters,
    )
    extra["sensitivity"] = float(sensitivity)
    return Estimate(
        est, lo, hi, float(confidence_level), "bootstrap_percentile", n, se=sd, extra=extra
    )

"""FROC curves, CPM / CAMELYON16 scores and case-bootstrap CIs for detection.

The bootstrap never re-matches or rebuilds a data set: one sort of the TP and FP
scores, then for each block of resamples (a matrix of case counts from
:func:`validation.stats.bootstrap.bootstrap_weights`) weighted cumulative sums give
every resample's FROC curve at once; the sensitivities at the requested FP rates
are read off with a single batched ``searchsorted``. Resampling is over cases or
patients (clusters), never over marks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.errors import UndefinedMetricError
from validation.stats._checks import check_confidence_level
from validation.stats._params import (
    RESAMPLES,
    UNIT_INTERVAL,
    Integral,
    Interval,
    Real,
    validate_params,
)
from validation.stats._results import Estimate, ResultMixin
from validation.stats.bootstrap import bootstrap_interval, bootstrap_weights
from validation.stats.detection.fom import wilcoxon_fom_jackknife
from validation.stats.detection.matching import DetectionMatch

CPM_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
CAMELYON16_FP_RATES: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
DEFAULT_BAND_FP_RATES: tuple[float, ...] = tuple(float(2.0**k) for k in np.arange(-3.0, 3.25, 0.25))
_CHUNK_ELEMENTS = 1 << 22


def _rates(fp_rates: ArrayLike, name: str = "fp_rates") -> NDArray[np.float64]:
    r = np.asarray(fp_rates, dtype=np.float64).ravel()
    if r.size == 0 or not np.all(np.isfinite(r)) or (r < 0).any():
        raise ValueError(
            f"{name} must be a non-empty list of finite numbers >= 0, got {fp_rates!r}"
        )
    return r


@dataclass(frozen=True, eq=False)
class FrocCurve(ResultMixin):
    """An empirical FROC curve: one point per distinct score threshold.

    Attributes
    ----------
    thresholds : ndarray
        Descending; the first is ``+inf`` (no mark counted: the point (0, 0)).
    fp_per_image : ndarray
        Counted false-positive marks with score ``>= threshold`` per image.
    sensitivity : ndarray
        Fraction of lesions whose rating is ``>= threshold``.
    n_images, n_lesions : int
    """

    thresholds: NDArray[np.float64]
    fp_per_image: NDArray[np.float64]
    sensitivity: NDArray[np.float64]
    n_images: int
    n_lesions: int

    def sensitivity_at(self, fp_rates: ArrayLike) -> NDArray[np.float64]:
        """Sensitivity at the given FP rates by linear interpolation.

        As ``numpy.interp`` over the curve (LUNA16's evaluation script and MONAI's
        ``compute_froc_score``): beyond the last point the last sensitivity holds.
        """
        r = _rates(fp_rates)
        return _interp_rows(self.fp_per_image[None, :], self.sensitivity[None, :], r)[0]

    def score(self, fp_rates: ArrayLike = CPM_FP_RATES) -> float:
        """Mean sensitivity at ``fp_rates`` (CPM by default)."""
        return float(np.mean(self.sensitivity_at(fp_rates)))


@dataclass(frozen=True, eq=False)
class FrocBand(ResultMixin):
    """Pointwise bootstrap CI band of the sensitivity at a grid of FP rates."""

    fp_rates: NDArray[np.float64]
    sensitivity: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    confidence_level: float
    method: str


@dataclass(frozen=True)
class DetectionResult(ResultMixin):
    """Lesion-level detection endpoints with case- or patient-bootstrap CIs.

    Attributes
    ----------
    rule : dict
        The matching rule (``MatchingRule.to_dict()``).
    threshold : float
        The locked operating threshold (marks with score ``>= threshold`` count).
    sensitivity, fp_per_image : Estimate
        Lesion-level sensitivity and counted FPs per image at ``threshold``.
    cpm : Estimate
        Mean sensitivity at 1/8 ... 8 FPs per image (LUNA16 CPM).
    camelyon16 : Estimate
        Mean sensitivity at 1/4 ... 8 FPs per image (CAMELYON16 FROC score).
    afroc, wafroc : Estimate or None
        RJafroc AFROC / wAFROC figures of merit with images without lesions as
        normal cases; None when the test set has no such image (see ``notes``).
    curve : FrocCurve
    band : FrocBand
    counts : dict
        Images, lesions, marks by status, clusters, resamples and undefined
        resamples.
    notes : tuple of str
    """

    rule: dict[str, Any]
    threshold: float
    sensitivity: Estimate
    fp_per_image: Estimate
    cpm: Estimate
    camelyon16: Estimate
    afroc: Estimate | None
    wafroc: Estimate | None
    curve: FrocCurve = field(repr=False)
    band: FrocBand = field(repr=False)
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# ------------------------------------------------------------------ curve engine


def _interp_rows(
    x: NDArray[np.float64], y: NDArray[np.float64], rates: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``np.interp(rates, x[b], y[b])`` for every row b (rows of x non-decreasing)."""
    n_rows, n_pts = x.shape
    span = max(float(x.max(initial=0.0)), float(rates.max())) + 1.0
    off = np.arange(n_rows, dtype=np.float64)[:, None] * span
    flat = (x + off).ravel()
    pos = np.searchsorted(flat, (rates[None, :] + off).ravel(), side="right").reshape(n_rows, -1)
    j = pos - 1 - np.arange(n_rows)[:, None] * n_pts
    j = np.clip(j, 0, n_pts - 1)
    rows = np.arange(n_rows)[:, None]
    x0, y0 = x[rows, j], y[rows, j]
    jn = np.minimum(j + 1, n_pts - 1)
    x1, y1 = x[rows, jn], y[rows, jn]
    last = (j == n_pts - 1) | (x1 <= rates[None, :])
    dx = np.where(last, 1.0, x1 - x0)
    out = y0 + np.where(last, 0.0, (rates[None, :] - x0) * (y1 - y0) / dx)
    below = rates[None, :] < x[:, :1]  # before the first point: its value (np.interp)
    return np.where(below, y[:, :1], out)


@dataclass(frozen=True)
class _CurveIndex:
    thresholds: NDArray[np.float64]  # descending, first +inf
    tp_case: NDArray[np.intp]  # TP lesions sorted by descending rating
    fp_case: NDArray[np.intp]  # counted FP marks sorted by descending score
    tp_at: NDArray[np.intp]  # number of TP lesions with rating >= threshold
    fp_at: NDArray[np.intp]


def _curve_index(
    lesion_score: NDArray[np.float64],
    lesion_case: NDArray[np.intp],
    fp_score: NDArray[np.float64],
    fp_case: NDArray[np.intp],
) -> _CurveIndex:
    found = np.isfinite(lesion_score)
    ts, tc = lesion_score[found], lesion_case[found]
    o = np.argsort(-ts, kind="stable")
    ts, tc = ts[o], tc[o]
    o = np.argsort(-fp_score, kind="stable")
    fs, fc = fp_score[o], fp_case[o]
    thr = np.unique(np.concatenate([ts, fs]))[::-1]
    thresholds = np.concatenate(([np.inf], thr))
    # counts of scores >= t in a descending array: searchsorted on the negation
    tp_at = np.searchsorted(-ts, -thresholds, side="right")
    fp_at = np.searchsorted(-fs, -thresholds, side="right")
    return _CurveIndex(thresholds, tc, fc, tp_at.astype(np.intp), fp_at.astype(np.intp))


def _sensitivity_at_weighted(
    idx: _CurveIndex,
    w: NDArray[np.int32],
    lesions_per_case: NDArray[np.int64],
    rates: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Sensitivity at ``rates`` FPs/image for each row of case weights ``w`` (B, C).

    Works in FP-count space on the weighted cumulative sums of the sorted TP and
    FP items, without materialising the (B, thresholds) curves: for each row the
    last threshold whose FP count is ``<= rate * n_images`` is found by two
    ``searchsorted`` calls, then the sensitivity is interpolated linearly to the
    next threshold, exactly as ``numpy.interp`` on that row's curve.
    Returns (sensitivities (B, R) with NaN where the row has no lesion,
    n_images (B,), n_lesions (B,)).
    """
    n_rows = w.shape[0]
    tpc = np.zeros((n_rows, idx.tp_case.size + 1), dtype=w.dtype)
    np.cumsum(w[:, idx.tp_case], axis=1, dtype=w.dtype, out=tpc[:, 1:])
    fpc = np.zeros((n_rows, idx.fp_case.size + 1), dtype=w.dtype)
    np.cumsum(w[:, idx.fp_case], axis=1, dtype=w.dtype, out=fpc[:, 1:])
    n_img = w.sum(axis=1).astype(np.float64)
    n_les = (w @ lesions_per_case).astype(np.float64)
    out = np.full((n_rows, rates.size), np.nan)
    last_g = idx.thresholds.size - 1
    for b in range(n_rows):
        if n_les[b] <= 0:
            continue
        cf, ct = fpc[b], tpc[b]
        target = rates * n_img[b]
        i_max = np.searchsorted(cf, target, side="right") - 1
        g = np.searchsorted(idx.fp_at, i_max, side="right") - 1
        g1 = np.minimum(g + 1, last_g)
        f0, f1 = cf[idx.fp_at[g]], cf[idx.fp_at[g1]]
        s0, s1 = ct[idx.tp_at[g]], ct[idx.tp_at[g1]]
        flat = (g == last_g) | (f1 <= target)
        step = np.where(flat, 0.0, (target - f0) * (s1 - s0) / np.where(flat, 1.0, f1 - f0))
        out[b] = (s0 + step) / n_les[b]
    return out, n_img, n_les


@validate_params(
    {
        "n_images": [Interval(Integral, 1, None, closed="left")],
        "n_lesions": [Interval(Integral, 0, None, closed="left"), None],
    }
)
def froc_curve(
    lesion_scores: ArrayLike,
    fp_scores: ArrayLike,
    *,
    n_images: int,
    n_lesions: int | None = None,
) -> FrocCurve:
    """Empirical FROC curve from lesion ratings and false-positive mark scores.

    Parameters
    ----------
    lesion_scores : array-like
        One rating per lesion: the score of the mark that found it, ``-inf``
        (or NaN) when missed.
    fp_scores : array-like
        Scores of the marks counted as false positives.
    n_images : int
        Number of images (the FP-per-image denominator).
    n_lesions : int, optional
        Sensitivity denominator; by default ``len(lesion_scores)``.

    Returns
    -------
    FrocCurve

    Notes
    -----
    Unlike MONAI's ``compute_froc_curve_data`` (CAMELYON16 code), every distinct
    score is a threshold, including the lowest, and the curve starts at (0, 0).

    Examples
    --------
    >>> c = froc_curve([1, 1, -np.inf, -np.inf, 0.8, 0.8, -np.inf], [0.8, 0.6],
    ...                n_images=2, n_lesions=4)
    >>> round(c.score((0.25, 0.5, 1, 2, 4, 8)), 7)
    0.9583333

    References
    ----------
    Bunch PC, Hamilton JF, Sanderson GK, Simmons AH. A free-response approach to
    the measurement and characterization of radiographic-observer performance.
    J Appl Photogr Eng 1978;4:166-171.
    """
    ls = np.asarray(lesion_scores, dtype=np.float64).ravel()
    ls = np.where(np.isnan(ls), -np.inf, ls)
    if np.isposinf(ls).any():
        raise ValueError("lesion_scores must not contain +inf")
    fs = np.asarray(fp_scores, dtype=np.float64).ravel()
    if not np.all(np.isfinite(fs)):
        raise ValueError("fp_scores must be finite")
    n_images = int(n_images)
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    nl = ls.size if n_lesions is None else int(n_lesions)
    if nl < 1:
        raise UndefinedMetricError(
            "FROC sensitivity undefined: expected at least one lesion, found 0"
        )
    idx = _curve_index(ls, np.zeros(ls.size, dtype=np.intp), fs, np.zeros(fs.size, dtype=np.intp))
    tp = idx.tp_at.astype(np.float64)
    fp = idx.fp_at.astype(np.float64)
    return FrocCurve(idx.thresholds, fp / n_images, tp / nl, n_images, nl)


# ------------------------------------------------------------------ wAFROC engine


@dataclass(frozen=True)
class _FomIndex:
    neg_case: NDArray[np.intp]  # normal images, sorted by their max FP score
    neg_sorted: NDArray[np.float64]
    pos_case: NDArray[np.intp]
    lo: NDArray[np.intp]  # negatives strictly below each positive
    hi: NDArray[np.intp]  # negatives below or equal
    pos_weight: NDArray[np.float64]


def _fom_index(match: DetectionMatch) -> tuple[_FomIndex, float, float] | None:
    """Sorted normal-image FP ratings and lesion positions; AFROC and wAFROC estimates."""
    n_c = len(match.cases)
    real = ~match.lesion_ignore
    abnormal = np.zeros(n_c, dtype=bool)
    abnormal[match.lesion_case[real]] = True
    normal = np.flatnonzero(~abnormal)
    if normal.size == 0 or not abnormal.any():
        return None
    fp = match.counted_fp
    nl = np.full(n_c, -np.inf)
    np.maximum.at(nl, match.mark_case[fp], match.mark_score[fp])
    neg = nl[normal]
    o = np.argsort(neg, kind="stable")
    neg_sorted, neg_case = neg[o], normal[o]
    pos_val = match.lesion_score[real]
    pos_case = match.lesion_case[real]
    pos_w = match.lesion_weight[real]
    lo = np.searchsorted(neg_sorted, pos_val, side="left").astype(np.intp)
    hi = np.searchsorted(neg_sorted, pos_val, side="right").astype(np.intp)
    est_w, _ = wilcoxon_fom_jackknife(
        neg, normal, pos_val, pos_w, pos_case, abnormal.astype(np.float64), n_c, jackknife=False
    )
    n_les = np.bincount(pos_case, minlength=n_c).astype(np.float64)
    est_u, _ = wilcoxon_fom_jackknife(
        neg, normal, pos_val, np.ones(pos_val.size), pos_case, n_les, n_c, jackknife=False
    )
    return _FomIndex(neg_case, neg_sorted, pos_case, lo, hi, pos_w), est_u, est_w


def _fom_weighted(
    fi: _FomIndex, w: NDArray[np.int32], abnormal: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AFROC and wAFROC for each row of integer case weights (resampled data sets).

    Each normal image's count multiplies its FP rating, each lesion's its case's
    count: the FOM of the data set with every case repeated that many times.
    Integer sums are exact; ``2 * below + equal = cn[lo] + cn[hi]``.
    """
    n_rows = w.shape[0]
    cn = np.zeros((n_rows, fi.neg_case.size + 1), dtype=w.dtype)
    np.cumsum(w[:, fi.neg_case], axis=1, dtype=w.dtype, out=cn[:, 1:])
    wp = w[:, fi.pos_case]
    twice = (cn[:, fi.lo] + cn[:, fi.hi]).astype(np.float64) * wp
    n_neg = cn[:, -1].astype(np.float64)
    num_w = (twice @ fi.pos_weight) / 2.0
    num_u = twice.sum(axis=1) / 2.0
    den_w = (w @ abnormal).astype(np.float64)
    den_u = wp.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = n_neg > 0
        afroc = np.where(ok & (den_u > 0), num_u / (n_neg * den_u), np.nan)
        wafroc = np.where(ok & (den_w > 0), num_w / (n_neg * den_w), np.nan)
    return afroc, wafroc


# ------------------------------------------------------------------ analysis


@dataclass(frozen=True)
class _Design:
    """The match at the threshold: curve index, per-case counts and the point values."""

    idx: _CurveIndex
    lesions_per_case: NDArray[np.int64]
    tp_thr: NDArray[np.int64]  # lesions found at the threshold, per case
    fp_thr: NDArray[np.int64]  # counted FPs at the threshold, per case
    abnormal: NDArray[np.int64]  # 1 for a case with a real lesion
    rates: NDArray[np.float64]  # CPM rates, CAMELYON16 rates, band rates
    fom: tuple[_FomIndex, float, float] | None


def _design(match: DetectionMatch, thr: float, band_rates: NDArray[np.float64]) -> _Design:
    n_c = len(match.cases)
    real = ~match.lesion_ignore
    fp = match.counted_fp
    les_score, les_case = match.lesion_score[real], match.lesion_case[real]
    idx = _curve_index(les_score, les_case, match.mark_score[fp], match.mark_case[fp])
    fp_sel = fp & (match.mark_score >= thr)
    real_case = np.zeros(n_c, dtype=bool)
    real_case[les_case] = True
    rates_all = np.concatenate(
        [np.asarray(CPM_FP_RATES), np.asarray(CAMELYON16_FP_RATES), band_rates]
    )
    return _Design(
        idx=idx,
        lesions_per_case=np.bincount(les_case, minlength=n_c),
        tp_thr=np.bincount(les_case[les_score >= thr], minlength=n_c),
        fp_thr=np.bincount(match.mark_case[fp_sel], minlength=n_c),
        abnormal=real_case.astype(np.int64),
        rates=rates_all,
        fom=_fom_index(match),
    )


@dataclass(frozen=True)
class _Replicates:
    sensitivity: NDArray[np.float64]  # (B,)
    fp_per_image: NDArray[np.float64]  # (B,)
    at_rates: NDArray[np.float64]  # (B, rates)
    fom: dict[str, NDArray[np.float64]]  # afroc / wafroc (B,), when estimable


def _resample(
    d: _Design,
    n_c: int,
    clusters: Sequence[Any] | None,
    n_resamples: int,
    rng: np.random.Generator | int | np.random.SeedSequence | None,
) -> _Replicates:
    """Every resample's sensitivity, FPs per image, curve at the rates and AFROC/wAFROC."""
    n_items = d.idx.tp_case.size + d.idx.fp_case.size + 2
    chunk = max(1, _CHUNK_ELEMENTS // max(n_items, n_c))
    sens_b, fppi_b, at_b = [], [], []
    fom_b: dict[str, list[NDArray[np.float64]]] = {"afroc": [], "wafroc": []}
    weights = bootstrap_weights(
        n_c if clusters is None else list(clusters),
        n_resamples=n_resamples,
        rng=rng,
        chunk_size=chunk,
    )
    for wi in weights:
        # int32 counts: exact integer sums (a row sums to at most the number of cases)
        w = wi.astype(np.int32, copy=False)
        at, n_img, n_l = _sensitivity_at_weighted(d.idx, w, d.lesions_per_case, d.rates)
        with np.errstate(invalid="ignore", divide="ignore"):
            sens_b.append((w @ d.tp_thr) / n_l)
            fppi_b.append((w @ d.fp_thr) / n_img)
        at_b.append(at)
        if d.fom is not None:
            af, waf = _fom_weighted(d.fom[0], w, d.abnormal)
            fom_b["afroc"].append(af)
            fom_b["wafroc"].append(waf)
    fom = {k: np.concatenate(v) for k, v in fom_b.items() if d.fom is not None}
    return _Replicates(np.concatenate(sens_b), np.concatenate(fppi_b), np.vstack(at_b), fom)


@dataclass(frozen=True)
class _Interval:
    """How the percentile intervals of one analysis are made and labelled."""

    level: float
    method: str
    n_clusters: int

    def estimate(
        self, value: float, reps: NDArray[np.float64], n: int, successes: int | None = None
    ) -> Estimate:
        good = reps[np.isfinite(reps)]
        if good.size < 2:
            raise UndefinedMetricError(
                f"bootstrap interval undefined: only {good.size} of {reps.size} resamples defined"
            )
        lo, hi = bootstrap_interval(value, good, method="percentile", confidence_level=self.level)
        return Estimate(
            estimate=value,
            ci_low=lo,
            ci_high=hi,
            confidence_level=self.level,
            method=self.method,
            n=n,
            se=float(np.std(good, ddof=1)),
            successes=successes,
            extra={
                "n_resamples": int(reps.size),
                "n_undefined_resamples": int(reps.size - good.size),
                "n_clusters": self.n_clusters,
            },
        )


def _band(
    band_rates: NDArray[np.float64],
    point: NDArray[np.float64],
    reps: NDArray[np.float64],
    ci: _Interval,
) -> FrocBand:
    """Pointwise percentile band at ``band_rates`` (``point``, ``reps``: those columns)."""
    lo = np.empty(band_rates.size)
    hi = np.empty(band_rates.size)
    good_rows = np.isfinite(reps[:, 0])
    for k in range(band_rates.size):
        lo[k], hi[k] = bootstrap_interval(
            float(point[k]), reps[good_rows, k], method="percentile", confidence_level=ci.level
        )
    return FrocBand(band_rates, point.copy(), lo, hi, ci.level, ci.method)


@validate_params(
    {
        "threshold": [Real],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
    }
)
def froc_analysis(
    match: DetectionMatch,
    *,
    threshold: float,
    clusters: Sequence[Any] | None = None,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    band_fp_rates: ArrayLike = DEFAULT_BAND_FP_RATES,
) -> DetectionResult:
    """Lesion-level FROC endpoints with case- (or patient-) bootstrap CIs.

    Parameters
    ----------
    match : DetectionMatch
        From :func:`match_detections`.
    threshold : float
        The locked operating threshold: marks with ``score >= threshold`` count.
    clusters : sequence, optional
        One cluster label (``patient_id``) per image, aligned with
        ``match.cases``; the bootstrap then resamples patients. Default: images.
    confidence_level : float
    n_resamples : int
    rng : Generator, int, SeedSequence or None
    band_fp_rates : array-like
        FP rates at which the FROC CI band is given (default 1/8 ... 8 in
        quarter powers of 2).

    Returns
    -------
    DetectionResult
        Percentile intervals (``boot.ci`` style). Resamples in which a metric
        is undefined (no lesion, or no normal image for AFROC/wAFROC) are dropped
        and counted in ``counts``.

    Examples
    --------
    >>> import pandas as pd
    >>> from validation.stats import MatchingRule, match_detections
    >>> marks = pd.DataFrame({"case_id": [1, 2, 3], "x": [5, 5, 5], "y": [5, 5, 5],
    ...                       "score": [0.9, 0.7, 0.2]})
    >>> truth = pd.DataFrame({"case_id": [1, 2], "lesion_id": [1, 1], "x": [5, 50],
    ...                       "y": [5, 50], "radius": [3, 3]})
    >>> m = match_detections(marks, truth, cases=[1, 2, 3, 4],
    ...                      rule=MatchingRule("center_distance"))
    >>> r = froc_analysis(m, threshold=0.5, n_resamples=200, rng=0)
    >>> r.sensitivity.estimate, r.fp_per_image.estimate
    (0.5, 0.25)

    References
    ----------
    Setio AAA et al. LUNA16. Med Image Anal 2017;42:1-13 (CPM).
    doi:10.1016/j.media.2017.06.015.
    Ehteshami Bejnordi B et al. Diagnostic assessment of deep learning algorithms
    for detection of lymph node metastases in women with breast cancer
    (CAMELYON16). JAMA 2017;318(22):2199-2210. doi:10.1001/jama.2017.14585.
    Chakraborty DP. Observer Performance Methods for Diagnostic Imaging, 2017
    (AFROC, wAFROC). doi:10.1201/9781351228190.
    Bandos AI, Rockette HE, Song T, Gur D. Area under the free-response ROC curve
    (FROC) and a related summary index. Biometrics 2009;65(1):247-256.
    doi:10.1111/j.1541-0420.2008.01049.x.
    """
    level = check_confidence_level(confidence_level)
    thr = float(threshold)
    if not np.isfinite(thr):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    n_resamples = int(n_resamples)
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    band_rates = _rates(band_fp_rates, "band_fp_rates")
    n_c = len(match.cases)
    if clusters is not None:
        cl = list(clusters)
        if len(cl) != n_c:
            raise ValueError(f"clusters must have one label per case ({n_c}), got {len(cl)}")
    n_les = int((~match.lesion_ignore).sum())
    if n_les == 0:
        raise UndefinedMetricError(
            "detection sensitivity undefined: expected at least one lesion, found 0"
        )
    d = _design(match, thr, band_rates)
    curve = FrocCurve(d.idx.thresholds, d.idx.fp_at / n_c, d.idx.tp_at / n_les, n_c, n_les)
    point_at = curve.sensitivity_at(d.rates)
    n_cpm, n_cam = len(CPM_FP_RATES), len(CAMELYON16_FP_RATES)
    reps = _resample(d, n_c, clusters, n_resamples, rng)
    n_undefined = int(np.isnan(reps.sensitivity).sum())
    ci = _Interval(
        level,
        "bootstrap_percentile_" + ("cluster" if clusters is not None else "case"),
        n_c if clusters is None else len(set(map(str, clusters))),
    )
    band = _band(band_rates, point_at[n_cpm + n_cam :], reps.at_rates[:, n_cpm + n_cam :], ci)
    notes: list[str] = []
    fom_est: dict[str, Estimate | None] = {}
    for name in ("afroc", "wafroc"):
        if d.fom is None:
            fom_est[name] = None
            notes.append(f"{name} not estimable: it needs images with and without lesions")
        else:
            value = d.fom[1] if name == "afroc" else d.fom[2]
            fom_est[name] = ci.estimate(value, reps.fom[name], n_c)
    counts = match.counts()
    counts.update(
        {
            "n_clusters": ci.n_clusters,
            "n_resamples": n_resamples,
            "n_undefined_resamples": n_undefined,
        }
    )
    at_r = reps.at_rates
    return DetectionResult(
        rule=match.rule.to_dict(),
        threshold=thr,
        sensitivity=ci.estimate(
            float(d.tp_thr.sum() / n_les), reps.sensitivity, n_les, int(d.tp_thr.sum())
        ),
        fp_per_image=ci.estimate(
            float(d.fp_thr.sum() / n_c), reps.fp_per_image, n_c, int(d.fp_thr.sum())
        ),
        cpm=ci.estimate(float(point_at[:n_cpm].mean()), at_r[:, :n_cpm].mean(axis=1), n_les),
        camelyon16=ci.estimate(
            float(point_at[n_cpm : n_cpm + n_cam].mean()),
            at_r[:, n_cpm : n_cpm + n_cam].mean(axis=1),
            n_les,
        ),
        afroc=fom_est["afroc"],
        wafroc=fom_est["wafroc"],
        curve=curve,
        band=band,
        counts=counts,
        notes=tuple(notes),
    )

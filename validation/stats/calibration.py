"""Calibration of predicted probabilities, overall and per subgroup.

:func:`calibration_summary` gives the reliability curve (binned with a declared
strategy, and smoothed with statsmodels' LOWESS), the expected calibration error
(ECE) and the Brier score with bootstrap CIs (patients resampled when
``clusters`` is given), and the logistic calibration intercept and slope
(statsmodels GLM on ``logit(p)``) with Wald CIs.

Definitions
-----------
* Bins follow scikit-learn's ``calibration_curve``: ``uniform`` splits [0, 1] into
  ``n_bins`` equal-width bins, ``quantile`` uses the quantiles of ``y_prob``; a case
  goes to bin ``searchsorted(inner_edges, p, side="left")``, i.e. bins are
  ``(e_i, e_{i+1}]`` with the first closed at its lower edge. Empty bins are left
  out of the curve (their number is reported).
* ``ECE = sum_b (n_b / n) |mean(p)_b - mean(y)_b|`` over the non-empty bins
  (Naeini et al. 2015). The bootstrap keeps the bin edges of the original data.
* ``Brier = mean((p - y)^2)`` (Brier 1950).
* Calibration slope: ``b`` in ``logit P(y=1) = a + b logit(p)``; intercept
  (calibration-in-the-large): ``a`` in ``logit P(y=1) = a + logit(p)`` (``logit(p)``
  as offset) (Cox 1958; Steyerberg 2019, ch. 15). Ideal: slope 1, intercept 0.
  Probabilities of exactly 0 or 1 are clipped to ``[1e-8, 1 - 1e-8]`` for these two
  fits only, and counted in ``extra["n_clipped"]``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from validation.errors import UndefinedMetricError
from validation.stats import bootstrap as _bootstrap
from validation.stats._checks import (
    as_binary,
    as_rng,
    check_confidence_level,
    check_same_length,
)
from validation.stats._params import (
    RESAMPLES,
    UNIT_INTERVAL,
    Integral,
    Interval,
    Options,
    Real,
    validate_params,
)
from validation.stats._results import Estimate, ResultMixin, jsonable
from validation.stats.subgroups.groups import make_partitions, prepare_attributes

__all__ = [
    "CalibrationFit",
    "CalibrationResult",
    "calibration_bins",
    "calibration_intercept_slope",
    "calibration_summary",
    "expected_calibration_error",
]

STRATEGIES = ("quantile", "uniform")
_COUNT = Interval(Integral, 0, None, closed="left")
CLIP = 1e-8
BY_GROUP_COLUMNS = [
    "attribute",
    "group",
    "measure",
    "n",
    "n_pos",
    "n_neg",
    "estimate",
    "ci_low",
    "ci_high",
    "method",
    "status",
    "reason",
]


def _as_prob(values: ArrayLike, *, name: str = "y_prob") -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr >= 0.0) & (arr <= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be probabilities in [0, 1], found {float(arr[i])!r} at index {i}"
        )
    return arr


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _edges(p: NDArray[np.float64], n_bins: int, strategy: str) -> NDArray[np.float64]:
    if strategy == "quantile":
        return np.asarray(np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100), dtype=np.float64)
    return np.linspace(0.0, 1.0, n_bins + 1)


def _assign(p: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.intp]:
    return np.asarray(np.searchsorted(edges[1:-1], p), dtype=np.intp)


@validate_params(
    {
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [Options(STRATEGIES)],
    }
)
def calibration_bins(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 10, strategy: str = "quantile"
) -> pd.DataFrame:
    """Binned reliability curve.

    Parameters
    ----------
    y_true : array-like of 0/1
    y_prob : array-like of float in [0, 1]
    n_bins : int
    strategy : {"quantile", "uniform"}
        Bin edges from the quantiles of ``y_prob`` or equal widths on [0, 1];
        binning exactly as scikit-learn's ``calibration_curve``.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin, lower, upper, n, n_pos, mean_predicted,
        observed``.

    Examples
    --------
    >>> calibration_bins([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9], n_bins=2, strategy="uniform")
       bin  lower  upper  n  n_pos  mean_predicted  observed
    0    0    0.0    0.5  2      0            0.20       0.0
    1    1    0.5    1.0  2      2            0.75       1.0

    References
    ----------
    scikit-learn ``sklearn.calibration.calibration_curve``.
    Niculescu-Mizil A, Caruana R (2005). Predicting good probabilities with
    supervised learning. ICML. doi:10.1145/1102351.1102430.
    """
    y = as_binary(y_true)
    p = _as_prob(y_prob)
    check_same_length(y_true=y, y_prob=p)
    k = _check_bins(n_bins)
    if p.size == 0:
        raise ValueError("y_prob is empty; expected at least one case")
    edges = _edges(p, k, strategy)
    ids = _assign(p, edges)
    cnt = np.bincount(ids, minlength=k)
    sp = np.bincount(ids, weights=p, minlength=k)
    sy = np.bincount(ids, weights=y.astype(np.float64), minlength=k)
    nz = np.flatnonzero(cnt > 0)
    return pd.DataFrame(
        {
            "bin": nz,
            "lower": edges[nz],
            "upper": edges[nz + 1],
            "n": cnt[nz],
            "n_pos": sy[nz].astype(np.int64),
            "mean_predicted": sp[nz] / cnt[nz],
            "observed": sy[nz] / cnt[nz],
        }
    )


def _ece_weighted(
    w: NDArray[np.float64],
    ids: NDArray[np.intp],
    p: NDArray[np.float64],
    y: NDArray[np.float64],
    k: int,
) -> NDArray[np.float64]:
    """ECE for every row of the weight matrix ``w`` with fixed bin ids."""
    onehot = np.zeros((len(ids), k))
    onehot[np.arange(len(ids)), ids] = 1.0
    tot = w.sum(axis=1)
    sp = w @ (onehot * p[:, None])
    sy = w @ (onehot * y[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.abs(sp - sy).sum(axis=1) / tot
    return out


@validate_params(
    {
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [Options(STRATEGIES)],
    }
)
def expected_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 10, strategy: str = "quantile"
) -> float:
    """Expected calibration error ``sum_b (n_b / n) |mean(p)_b - mean(y)_b|``.

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9],
    ...                                  n_bins=2, strategy="uniform"), 4)
    0.225

    References
    ----------
    Naeini MP, Cooper GF, Hauskrecht M (2015). Obtaining well calibrated
    probabilities using Bayesian binning. AAAI 29:2901-2907.
    doi:10.1609/aaai.v29i1.9602.
    """
    bins = calibration_bins(y_true, y_prob, n_bins=n_bins, strategy=strategy)
    n = bins["n"].sum()
    return float(np.sum(bins["n"] / n * np.abs(bins["mean_predicted"] - bins["observed"])))


def _logit(p: NDArray[np.float64]) -> tuple[NDArray[np.float64], int]:
    clipped = np.clip(p, CLIP, 1.0 - CLIP)
    n_clipped = int(np.count_nonzero(clipped != p))
    return np.log(clipped / (1.0 - clipped)), n_clipped


@dataclass(frozen=True)
class CalibrationFit(ResultMixin):
    """Logistic calibration intercept and slope (see :func:`calibration_intercept_slope`).

    Unpacks as ``intercept, slope = calibration_intercept_slope(...)``.

    Attributes
    ----------
    intercept : Estimate
        Calibration-in-the-large ``a`` in ``logit P(y=1) = a + logit(p)``.
    slope : Estimate or None
        ``b`` in ``logit P(y=1) = a + b logit(p)``; None where no finite maximum-likelihood
        slope exists (constant predictions, or predictions that separate the outcomes).
    slope_reason : str or None
        Why ``slope`` is None.
    """

    intercept: Estimate
    slope: Estimate | None
    slope_reason: str | None = None

    def __iter__(self) -> Iterator[Estimate | None]:
        yield self.intercept
        yield self.slope


def _separation(lp: NDArray[np.float64], y: NDArray[np.int8]) -> str | None:
    """Why ``y ~ 1 + lp`` has no finite slope MLE, or None when the classes overlap.

    With one covariate and an intercept the MLE exists iff no threshold ``c`` puts every
    positive on one side of ``c`` and every negative on the other (ties at ``c``
    allowed): complete separation (strict) or quasi-complete separation (ties at the
    boundary) both send the slope to infinity (Albert & Anderson 1984).
    """
    pos, neg = lp[y == 1], lp[y == 0]
    for hi_side, lo_side, direction in ((pos, neg, "higher"), (neg, pos, "lower")):
        lo_max, hi_min = float(lo_side.max()), float(hi_side.min())
        if lo_max <= hi_min:
            what = (
                "separate the outcomes completely"
                if lo_max < hi_min
                else "separate the outcomes quasi-completely (they overlap only at one value)"
            )
            p_cut = 1.0 / (1.0 + math.exp(-hi_min))
            return (
                f"calibration slope is undefined: the predictions {what}: every positive case "
                f"has a {direction} predicted probability than every negative case (boundary "
                f"p = {p_cut:.6g}), so the logistic fit has no finite maximum-likelihood slope"
            )
    return None


def _offset_intercept(y: NDArray[np.float64], lp: NDArray[np.float64]) -> tuple[float, float]:
    """MLE and model SE of ``a`` in the binomial GLM ``y ~ 1`` with offset ``lp``.

    The score ``g(a) = sum(y) - sum(expit(a + lp))`` decreases strictly and changes sign
    on ``[logit(ybar) - max(lp), logit(ybar) - min(lp)]`` (0 < ybar < 1), so a
    bracketing root finder (Brent) converges to full precision where IRLS stops at its
    deviance tolerance; ``se = 1 / sqrt(sum mu (1 - mu))`` (the inverse Fisher
    information, as ``glm``). With constant ``lp`` the root is ``logit(ybar) - lp``.
    """
    from scipy.optimize import brentq
    from scipy.special import expit

    ybar = float(y.mean())
    centre = math.log(ybar / (1.0 - ybar))
    lo, hi = centre - float(lp.max()), centre - float(lp.min())
    total = float(y.sum())

    def g(a: float) -> float:
        return total - float(expit(a + lp).sum())

    if hi - lo == 0.0:
        a = lo
    else:  # widened by 1 so that rounding cannot put both ends on one side of the root
        a = float(
            brentq(g, lo - 1.0, hi + 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
        )
    mu = expit(a + lp)
    return a, float(1.0 / math.sqrt(float((mu * (1.0 - mu)).sum())))


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
    }
)
def calibration_intercept_slope(
    y_true: ArrayLike, y_prob: ArrayLike, *, confidence_level: float = 0.95
) -> CalibrationFit:
    """Logistic calibration intercept (calibration-in-the-large) and slope.

    Slope: ``b`` from the statsmodels binomial GLM ``y ~ 1 + logit(p)``. Intercept:
    ``a`` from ``y ~ 1`` with ``logit(p)`` as offset (R: ``glm(y ~ 1, offset =
    qlogis(p), family = binomial)``). Both with Wald CIs from the model's standard errors.

    The intercept exists whenever both classes occur (its score equation
    ``sum(y - expit(a + logit(p))) = 0`` always has a root then), including constant
    predictions, where ``a = logit(mean(y)) - logit(p)``. The slope does not exist when
    ``logit(p)`` is constant or when the predictions separate the outcomes completely or
    quasi-completely (e.g. two cases, one per class): then ``slope`` is None and
    ``slope_reason`` says why, rather than a huge slope with an enormous SE.

    Returns
    -------
    CalibrationFit
        Unpacks as ``(intercept, slope)``; ``se`` is the model standard error, ``extra``
        holds ``n_clipped`` (probabilities 0 or 1 clipped to ``[1e-8, 1 - 1e-8]``).

    Raises
    ------
    UndefinedMetricError
        No positives or no negatives: neither the intercept nor the slope has a finite
        solution.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 2000)
    >>> y = (rng.uniform(size=2000) < p).astype(int)
    >>> a, b = calibration_intercept_slope(y, p)
    >>> abs(a.estimate) < 0.15, abs(b.estimate - 1) < 0.15
    (True, True)
    >>> fit = calibration_intercept_slope([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5])
    >>> round(fit.intercept.estimate, 12), fit.slope
    (0.0, None)

    References
    ----------
    Cox DR (1958). Two further applications of a model for binary regression.
    Biometrika 45:562-565. doi:10.1093/biomet/45.3-4.562.
    Albert A, Anderson JA (1984). On the existence of maximum likelihood estimates in
    logistic regression models. Biometrika 71:1-10. doi:10.1093/biomet/71.1.1.
    Van Calster B, et al. (2016). A calibration hierarchy for risk models was
    defined. J Clin Epidemiol 74:167-176. doi:10.1016/j.jclinepi.2015.12.005.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    level = check_confidence_level(confidence_level)
    y = as_binary(y_true)
    p = _as_prob(y_prob)
    n = check_same_length(y_true=y, y_prob=p)
    npos = int(y.sum())
    if npos == 0 or npos == n:
        raise UndefinedMetricError(
            f"calibration intercept and slope are undefined: y_true has {npos} positives "
            f"of {n} cases; both classes are needed"
        )
    lp, n_clipped = _logit(p)
    z = float(np.sqrt(2.0) * _erfinv(level))
    yf = y.astype(np.float64)
    extra = {"n_clipped": n_clipped, "n_positive": npos, "n_negative": n - npos}
    a, a_se = _offset_intercept(yf, lp)
    intercept = Estimate(
        a, a - z * a_se, a + z * a_se, level, "logistic_offset_wald", n, se=a_se, extra=dict(extra)
    )
    if np.ptp(lp) == 0.0:
        return CalibrationFit(
            intercept,
            None,
            "calibration slope is undefined: all predicted probabilities are equal",
        )
    reason = _separation(lp, y)
    if reason is not None:
        return CalibrationFit(intercept, None, reason)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        slope_fit = sm.GLM(
            yf, sm.add_constant(lp, has_constant="add"), family=sm.families.Binomial()
        ).fit(tol=1e-13, maxiter=200)
    b, b_se = float(slope_fit.params[1]), float(slope_fit.bse[1])
    slope = Estimate(
        b, b - z * b_se, b + z * b_se, level, "logistic_wald", n, se=b_se, extra=dict(extra)
    )
    return CalibrationFit(intercept, slope)


def _erfinv(level: float) -> float:
    from scipy.special import erfinv

    return float(erfinv(level))


@dataclass(frozen=True, eq=False)
class CalibrationResult(ResultMixin):
    """Calibration of predicted probabilities (see :func:`calibration_summary`).

    Attributes
    ----------
    bins : pandas.DataFrame
        Binned reliability curve (``bin, lower, upper, n, n_pos, mean_predicted,
        observed``), non-empty bins only.
    smoothed : pandas.DataFrame
        LOWESS reliability curve: ``predicted`` (a grid over the observed range) and
        ``observed`` (smoothed event rate, clipped to [0, 1]).
    ece, brier : Estimate
        With percentile-bootstrap CIs.
    intercept, slope : Estimate or None
        Logistic calibration intercept and slope with Wald CIs (None where undefined,
        with the reason in ``undefined`` and ``notes``). The intercept is defined
        whenever both classes occur; the slope also needs predictions that vary and do
        not separate the outcomes.
    by_group : pandas.DataFrame
        Per (attribute, group, measure) when ``groups`` was given (else empty).
    n_bins, strategy, n_empty_bins : the binning actually used
    notes : tuple of str
    undefined : dict of str to str
        ``{measure: reason}`` for ``intercept``/``slope`` when not estimable.
    """

    bins: pd.DataFrame
    smoothed: pd.DataFrame
    ece: Estimate
    brier: Estimate
    intercept: Estimate | None
    slope: Estimate | None
    n: int
    n_bins: int
    strategy: str
    n_empty_bins: int
    by_group: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BY_GROUP_COLUMNS))
    notes: tuple[str, ...] = ()
    undefined: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for the ``calibration`` block of ``results.json``.

        Overrides the generic form: the tables are written as records (bins with
        ``mean_predicted, observed, n, lower, upper``), the smoothed curve as two lists.
        """
        bins = [
            {
                "mean_predicted": float(r.mean_predicted),
                "observed": float(r.observed),
                "n": int(r.n),
                "lower": float(r.lower),
                "upper": float(r.upper),
            }
            for r in self.bins.itertuples()
        ]
        by_group = []
        for rec in self.by_group.to_dict(orient="records"):
            by_group.append(
                {
                    str(k): (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in rec.items()
                }
            )
        return jsonable(
            {
                "bins": bins,
                "n_bins": self.n_bins,
                "strategy": self.strategy,
                "n_empty_bins": self.n_empty_bins,
                "smoothed": {
                    "predicted": self.smoothed["predicted"].tolist(),
                    "observed": self.smoothed["observed"].tolist(),
                    "method": "lowess",
                },
                "ece": self.ece.to_dict(),
                "brier": self.brier.estimate,
                "brier_estimate": self.brier.to_dict(),
                "intercept": None if self.intercept is None else self.intercept.to_dict(),
                "slope": None if self.slope is None else self.slope.to_dict(),
                "n": self.n,
                "by_group": by_group,
                "notes": list(self.notes),
                "undefined": dict(self.undefined),
            }
        )


@validate_params(
    {
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [Options(STRATEGIES)],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
        "min_n": [_COUNT],
        "min_pos": [_COUNT],
        "min_neg": [_COUNT],
        "lowess_frac": [Interval(Real, 0, 1, closed="right")],
        "grid_points": [Interval(Integral, 2, None, closed="left")],
    }
)
def calibration_summary(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 10,
    strategy: str = "quantile",
    confidence_level: float = 0.95,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    n_resamples: int = 2000,
    clusters: ArrayLike | None = None,
    groups: pd.DataFrame | None = None,
    age_bins: Sequence[float] | None = None,
    min_n: int = 20,
    min_pos: int = 10,
    min_neg: int = 10,
    lowess_frac: float = 2.0 / 3.0,
    grid_points: int = 101,
) -> CalibrationResult:
    """Reliability curve, ECE, Brier score and logistic calibration, overall and by group.

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n,)
    y_prob : array-like of float in [0, 1], shape (n,)
        Predicted probabilities.
    n_bins : int
        Number of bins for the binned curve and the ECE.
    strategy : {"quantile", "uniform"}
        Declared binning strategy (scikit-learn's convention; see module notes).
    confidence_level : float
    rng : Generator, int, SeedSequence or None
    n_resamples : int
        Bootstrap resamples for the ECE and Brier CIs (percentile intervals).
    clusters : array-like, optional
        Patient ID per case; the bootstrap then resamples patients.
    groups : pandas.DataFrame, optional
        Attribute columns (one row per case) for the per-subgroup rows, handled as in
        :func:`validation.stats.subgroups.subgroup_table` (missing -> ``unknown``,
        numeric age -> bands by ``age_bins``).
    age_bins : sequence of float, optional
    min_n, min_pos, min_neg : int
        Guardrails for the per-subgroup rows (below them: ``not_estimable``).
    lowess_frac : float
        LOWESS span (statsmodels ``frac``), no robustness iterations (``it=0``) since
        the outcome is binary.
    grid_points : int
        Points of the smoothed curve.

    Returns
    -------
    CalibrationResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=500)
    >>> y = (rng.uniform(size=500) < p).astype(int)
    >>> res = calibration_summary(y, p, n_resamples=200, rng=1)
    >>> len(res.bins), res.ece.ci_low <= res.ece.estimate <= res.ece.ci_high
    (10, True)

    References
    ----------
    Brier GW (1950). Verification of forecasts expressed in terms of probability.
    Mon Weather Rev 78:1-3. doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2.
    Cox DR (1958). Biometrika 45:562-565. doi:10.1093/biomet/45.3-4.562.
    Austin PC, Steyerberg EW (2014). Graphical assessment of internal and external
    calibration of logistic regression models by using loess smoothers. Stat Med
    33:517-535. doi:10.1002/sim.5941.
    Naeini MP, Cooper GF, Hauskrecht M (2015). AAAI 29:2901-2907.
    """
    level = check_confidence_level(confidence_level)
    y = as_binary(y_true)
    p = _as_prob(y_prob)
    n = check_same_length(
        y_true=y, y_prob=p, clusters=None if clusters is None else np.asarray(clusters)
    )
    if n == 0:
        raise ValueError("y_prob is empty; expected at least one case")
    k = _check_bins(n_bins)
    n_resamples = int(n_resamples)
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    if not 0.0 < float(lowess_frac) <= 1.0:
        raise ValueError(f"lowess_frac must be in (0, 1], got {lowess_frac!r}")
    if int(grid_points) < 2:
        raise ValueError(f"grid_points must be at least 2, got {grid_points!r}")
    gen = as_rng(rng)
    boot_rng, group_rng = gen.spawn(2)

    bins = calibration_bins(y, p, n_bins=k, strategy=strategy)
    edges = _edges(p, k, strategy)
    ids = _assign(p, edges)
    yf = y.astype(np.float64)
    ece_point = float(np.sum(bins["n"] / n * np.abs(bins["mean_predicted"] - bins["observed"])))
    brier_point = float(np.mean((p - yf) ** 2))

    source: Any = n if clusters is None else np.asarray(clusters)
    ece_reps = []
    brier_reps = []
    sq = (p - yf) ** 2
    for chunk in _bootstrap.bootstrap_weights(source, n_resamples=n_resamples, rng=boot_rng):
        w = np.asarray(chunk, dtype=np.float64)
        ece_reps.append(_ece_weighted(w, ids, p, yf, k))
        with np.errstate(invalid="ignore", divide="ignore"):
            brier_reps.append((w @ sq) / w.sum(axis=1))
    ece_r = np.concatenate(ece_reps)
    brier_r = np.concatenate(brier_reps)
    boot_name = "cluster_bootstrap_percentile" if clusters is not None else "bootstrap_percentile"
    extra = {"n_resamples": n_resamples, "n_bins": k, "strategy": strategy}
    lo, hi = _bootstrap.bootstrap_interval(
        ece_point, ece_r[np.isfinite(ece_r)], confidence_level=level
    )
    ece = Estimate(
        ece_point, lo, hi, level, boot_name, n, se=float(np.std(ece_r, ddof=1)), extra=extra
    )
    lo, hi = _bootstrap.bootstrap_interval(
        brier_point, brier_r[np.isfinite(brier_r)], confidence_level=level
    )
    brier = Estimate(
        brier_point,
        lo,
        hi,
        level,
        boot_name,
        n,
        se=float(np.std(brier_r, ddof=1)),
        extra={"n_resamples": n_resamples},
    )
    notes: list[str] = []
    undefined: dict[str, str] = {}
    try:
        fit = calibration_intercept_slope(y, p, confidence_level=level)
        ic: Estimate | None = fit.intercept
        sl: Estimate | None = fit.slope
        if fit.slope_reason is not None:
            undefined["slope"] = fit.slope_reason
            notes.append(fit.slope_reason)
    except UndefinedMetricError as exc:
        ic = sl = None
        undefined.update(intercept=str(exc), slope=str(exc))
        notes.append(str(exc))
    smoothed = _lowess_curve(yf, p, float(lowess_frac), int(grid_points))
    by_group = pd.DataFrame(columns=BY_GROUP_COLUMNS)
    if groups is not None:
        opts = _GroupOptions(
            k,
            strategy,
            level,
            n_resamples,
            None if clusters is None else np.asarray(clusters),
            age_bins,
            min_n,
            min_pos,
            min_neg,
        )
        by_group = _by_group(y, p, groups, opts, group_rng)
    return CalibrationResult(
        bins=bins,
        smoothed=smoothed,
        ece=ece,
        brier=brier,
        intercept=ic,
        slope=sl,
        n=n,
        n_bins=k,
        strategy=strategy,
        n_empty_bins=int(k - len(bins)),
        by_group=by_group,
        notes=tuple(notes),
        undefined=undefined,
    )


def _lowess_curve(
    y: NDArray[np.float64], p: NDArray[np.float64], frac: float, points: int
) -> pd.DataFrame:
    from statsmodels.nonparametric.smoothers_lowess import lowess

    lo, hi = float(p.min()), float(p.max())
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    if hi > lo:
        fitted = np.asarray(lowess(y, p, frac=frac, it=0, xvals=grid), dtype=np.float64)
    else:
        fitted = np.array([float(y.mean())])
    return pd.DataFrame({"predicted": grid, "observed": np.clip(fitted, 0.0, 1.0)})


@dataclass(frozen=True)
class _GroupOptions:
    """The options of :func:`calibration_summary` that its per-group rows repeat."""

    n_bins: int
    strategy: str
    level: float
    n_resamples: int
    clusters: NDArray[Any] | None
    age_bins: Sequence[float] | None
    min_n: int
    min_pos: int
    min_neg: int

    def guard(self, nn: int, npos: int, nneg: int) -> list[str]:
        """Why a group of these counts is not estimable (empty if it is)."""
        reasons = []
        if nn < self.min_n:
            reasons.append(f"n={nn} < min_n={self.min_n}")
        if npos < self.min_pos:
            reasons.append(f"n_pos={npos} < min_pos={self.min_pos}")
        if nneg < self.min_neg:
            reasons.append(f"n_neg={nneg} < min_neg={self.min_neg}")
        return reasons


_GROUP_MEASURES = ("ece", "brier", "intercept", "slope")


def _not_estimable(base: dict[str, Any], meas: str, reason: str) -> dict[str, Any]:
    return {
        **base,
        "measure": meas,
        "estimate": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "method": "",
        "status": "not_estimable",
        "reason": reason,
    }


def _group_rows(base: dict[str, Any], res: CalibrationResult) -> list[dict[str, Any]]:
    rows = []
    for meas in _GROUP_MEASURES:
        est = getattr(res, meas)
        if est is None:
            rows.append(_not_estimable(base, meas, res.undefined.get(meas) or "; ".join(res.notes)))
        else:
            rows.append(
                {
                    **base,
                    "measure": meas,
                    "estimate": est.estimate,
                    "ci_low": est.ci_low,
                    "ci_high": est.ci_high,
                    "method": est.method,
                    "status": "ok",
                    "reason": "",
                }
            )
    return rows


def _by_group(
    y: NDArray[np.int8],
    p: NDArray[np.float64],
    groups: pd.DataFrame,
    opts: _GroupOptions,
    rng: np.random.Generator,
) -> pd.DataFrame:
    attrs = prepare_attributes(groups, len(y), opts.age_bins, "age")
    parts = make_partitions(attrs, (), "age")
    cl = opts.clusters
    rows: list[dict[str, Any]] = []
    for part in parts:
        streams = rng.spawn(len(part.order))
        for g_i, g in enumerate(part.order):
            m = part.codes == g_i
            nn = int(m.sum())
            npos = int(y[m].sum())
            nneg = nn - npos
            base = {"attribute": part.name, "group": g, "n": nn, "n_pos": npos, "n_neg": nneg}
            reasons = opts.guard(nn, npos, nneg)
            if reasons:
                rows.extend(
                    _not_estimable(base, meas, "; ".join(reasons)) for meas in _GROUP_MEASURES
                )
                continue
            res = calibration_summary(
                y[m],
                p[m],
                n_bins=opts.n_bins,
                strategy=opts.strategy,
                confidence_level=opts.level,
                rng=streams[g_i],
                n_resamples=opts.n_resamples,
                clusters=None if cl is None else cl[m],
            )
            rows.extend(_group_rows(base, res))
    return pd.DataFrame(rows, columns=BY_GROUP_COLUMNS)

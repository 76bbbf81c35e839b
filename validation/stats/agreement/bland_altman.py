"""Bland-Altman limits of agreement: exact (Carkeet 2015) and approximate (Bland &
Altman 1999) intervals, the proportional-bias test, and the repeated-measures version
(Bland & Altman 2007) with a subject bootstrap."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from validation.errors import UndefinedMetricError
from validation.stats._checks import (
    as_scores,
    check_confidence_level,
    check_same_length,
    required,
)
from validation.stats._params import RESAMPLES, UNIT_INTERVAL, Options, validate_params
from validation.stats._results import Estimate, ResultMixin, TestResult
from validation.stats.agreement.ratings import plain
from validation.stats.bootstrap import bootstrap_interval, bootstrap_weights, cluster_codes

__all__ = ["BLAND_ALTMAN_METHODS", "BlandAltman", "bland_altman"]

BLAND_ALTMAN_METHODS = ("exact", "approximate", "bootstrap", "mover")


@dataclass(frozen=True)
class BlandAltman(ResultMixin):
    """Bias and limits of agreement between two measurement methods.

    Differences are ``measured - reference`` (with ``log=True``:
    ``ln(measured) - ln(reference)``, and every estimate below is on that log scale;
    ``ratio`` holds the back-transformed ratios).

    Attributes
    ----------
    bias : Estimate
        Mean difference with its confidence interval.
    loa_low, loa_high : Estimate
        Lower and upper limits of agreement ``bias -+ z_p sd`` with their intervals.
    sd : float
        Standard deviation of the differences (repeated: the total SD of Bland &
        Altman 2007).
    loa_coverage : float
        Proportion of differences the limits are meant to contain (0.95).
    method : str
        ``exact_carkeet_2015``, ``approximate_bland_altman_1999``,
        ``mover_graybill_wang`` or ``bootstrap_{pairs|subjects}_{bca|percentile}``.
    n : int
        Number of pairs.
    n_subjects : int
        Number of subjects (``n`` without ``repeated``).
    log : bool
    proportional_bias : TestResult or None
        Regression of the differences on the pair means: ``estimate`` is the slope,
        ``p_value`` tests slope 0 (``None`` when the means do not vary, see
        ``extra["proportional_bias_not_estimable"]``).
    ratio : dict or None
        ``log=True``: ``exp`` of the bias, limits and their bounds (ratios
        measured/reference).
    extra : dict
    """

    bias: Estimate
    loa_low: Estimate
    loa_high: Estimate
    sd: float
    loa_coverage: float
    method: str
    n: int
    n_subjects: int
    log: bool
    proportional_bias: TestResult | None
    ratio: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _ppf_t(p: float, df: float) -> float:
    return float(special.stdtrit(df, p))


def _proportional_bias(
    diff: NDArray[np.float64], mean: NDArray[np.float64], level: float, method: str
) -> tuple[TestResult | None, str | None]:
    """OLS of differences on means: slope, t interval and two-sided p-value."""
    n = diff.size
    if n < 3:
        return None, f"needs at least 3 points, got {n}"
    mx = mean - mean.mean()
    sxx = float(mx @ mx)
    if not sxx > 1e-14 * max(1.0, float(mean @ mean)):
        return None, "the pair means do not vary"
    slope = float(mx @ (diff - diff.mean())) / sxx
    resid = diff - diff.mean() - slope * mx
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 / sxx)
    df = n - 2.0
    half = _ppf_t((1.0 + level) / 2.0, df) * se
    if se > 0:
        t = slope / se
        p = float(2.0 * stats.t.sf(abs(t), df))
    else:
        t, p = (math.inf if slope else 0.0), (0.0 if slope else 1.0)
    return TestResult(
        statistic=t,
        p_value=p,
        method=method,
        df=df,
        null_value=0.0,
        estimate=slope,
        ci_low=slope - half,
        ci_high=slope + half,
        confidence_level=level,
        extra={"intercept": float(diff.mean() - slope * mean.mean()), "se": se, "n": n},
    ), None


def _exact_loa_bounds(
    bias: float, sd: float, n: int, zp: float, level: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Carkeet (2015): exact CIs of ``bias -+ zp sd`` from non-central t quantiles."""
    df, ncp = n - 1.0, zp * math.sqrt(n)
    a = (1.0 - level) / 2.0
    k_lo = float(stats.nct.ppf(a, df, ncp)) / math.sqrt(n)
    k_hi = float(stats.nct.ppf(1.0 - a, df, ncp)) / math.sqrt(n)
    upper = (bias + k_lo * sd, bias + k_hi * sd)
    lower = (bias - k_hi * sd, bias - k_lo * sd)
    return lower, upper


def _anova_parts(
    diff: NDArray[np.float64], subj: NDArray[np.intp], n_subj: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per-subject pair counts, sums and within sums of squares."""
    m = np.asarray(np.bincount(subj, minlength=n_subj), dtype=np.float64)
    s = np.asarray(np.bincount(subj, weights=diff, minlength=n_subj), dtype=np.float64)
    ss = np.asarray(np.bincount(subj, weights=diff * diff, minlength=n_subj), dtype=np.float64)
    return m, s, ss - s * s / m


def _repeated_stats(
    w: NDArray[np.float64], m: NDArray[np.float64], s: NDArray[np.float64], ssw: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bland & Altman (2007) bias and total variance for rows of subject weights.

    A subject drawn ``w`` times counts as ``w`` distinct subjects (cluster bootstrap).
    """
    n_sub = w.sum(axis=1)
    big_n = w @ m
    bias = (w @ s) / big_n
    df_w = w @ (m - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        msw = (w @ ssw) / df_w
        means = s / m
        ssb = w @ (m * means**2) - big_n * bias**2
        msb = ssb / (n_sub - 1.0)
        m0 = (big_n**2 - w @ (m * m)) / ((n_sub - 1.0) * big_n)
        var_between = (msb - msw) / m0
    return bias, var_between + msw


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
        "loa_coverage": [UNIT_INTERVAL],
        "log": [bool],
        "method": [Options(BLAND_ALTMAN_METHODS), None],
        "n_resamples": [RESAMPLES],
        "bootstrap_ci": [Options(("bca", "percentile"))],
    }
)
def bland_altman(
    measured: ArrayLike,
    reference: ArrayLike,
    *,
    confidence_level: float = 0.95,
    loa_coverage: float = 0.95,
    log: bool = False,
    repeated: ArrayLike | None = None,
    method: str | None = None,
    n_resamples: int = 2000,
    bootstrap_ci: str = "bca",
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
) -> BlandAltman:
    """Bland-Altman bias and limits of agreement with confidence intervals.

    Differences ``d = measured - reference``; bias ``dbar``; limits
    ``dbar -+ z_p s`` with ``z_p`` the normal quantile for ``loa_coverage`` (1.96 for
    95%). The bias interval is ``dbar +- t_{n-1} s / sqrt(n)``. Interval methods for
    the limits:

    - ``"exact"`` (Carkeet 2015): ``sqrt(n)(theta - dbar)/s`` for a limit ``theta =
      mu + z_p sigma`` is non-central t with ``n - 1`` df and non-centrality
      ``z_p sqrt(n)``, so the limit's interval is ``dbar + s t'_{a}/sqrt(n)`` to
      ``dbar + s t'_{1-a}/sqrt(n)`` (exact coverage for normal differences).
    - ``"approximate"`` (Bland & Altman 1999, sect. 4): limit
      ``+- t_{n-1} s sqrt(1/n + z_p^2 / (2 (n - 1)))``.
    - ``"mover"`` (repeated measures only; the default there): the MOVER construction
      of Zou (2013): Graybill-Wang bounds for ``sigma_d^2`` from the chi-square bounds
      of ``MS_b`` and ``MS_w``, a t interval on ``n - 1`` df for the bias with
      ``var(dbar) = sigma_b^2 sum m_i^2 / N^2 + sigma_w^2 / N``, combined by MOVER
      (Donner & Zou 2012). In radval's simulations (10-100 subjects, 1-4 pairs each) it
      covered 94-98%, the subject bootstrap 90-94%.
    - ``"bootstrap"``: BCa (default) or percentile intervals
      (:func:`~validation.stats.bootstrap_interval`) from resampling pairs, or subjects
      with ``repeated``; the BCa acceleration comes from leaving one pair (subject) out.

    With ``repeated`` (several pairs per subject, the true value varying within
    subject, Bland & Altman 2007 sect. 5): bias is the mean of all differences, the
    variance of a single difference is ``sigma_d^2 = sigma_b^2 + sigma_w^2`` from the
    one-way ANOVA of differences on subject (``sigma_w^2 = MS_w``,
    ``sigma_b^2 = (MS_b - MS_w) / m0``, ``m0 = (N^2 - sum m_i^2) / ((n - 1) N)``), as
    R ``epiR::epi.ccc(rep.measure = TRUE)``; intervals by MOVER (default) or by
    resampling subjects.

    The proportional-bias test regresses the differences on the pair means (Bland &
    Altman 1999, sect. 3.2) with an OLS t test; with ``repeated`` it uses one point
    per subject (subject means), so that pairs of one subject are not counted as
    independent.

    Parameters
    ----------
    measured, reference : array-like of float
        Paired measurements (the device and the reference method).
    confidence_level : float
        Level of the confidence intervals.
    loa_coverage : float
        Proportion of differences between the limits (default 0.95).
    log : bool
        Analyse ``ln(measured) - ln(reference)`` (both must be positive); for errors
        proportional to the magnitude (Bland & Altman 1999, sect. 3.3).
    repeated : array-like, optional
        Subject id of each pair, for several pairs per subject.
    method : {"exact", "approximate", "bootstrap", "mover"}, optional
        Default ``"exact"``; with ``repeated`` ``"mover"`` (default) or ``"bootstrap"``.
    n_resamples : int
        Bootstrap resamples (``method="bootstrap"``).
    bootstrap_ci : {"bca", "percentile"}
        Bootstrap interval (``method="bootstrap"``). In radval's simulation (40
        subjects, 1-4 pairs each) the upper limit's BCa interval covered 94%, the
        percentile one 91-93%.
    rng : Generator, int, SeedSequence or None
        Bootstrap randomness.

    Returns
    -------
    BlandAltman

    Raises
    ------
    ValueError
        Inputs of different length or not finite, non-positive values with
        ``log=True``, an unknown method, ``"exact"``/``"approximate"`` with
        ``repeated`` or ``"mover"`` without, ``repeated`` where no subject has two
        pairs.
    UndefinedMetricError
        Fewer than 2 pairs (2 subjects with ``repeated``); fewer than 2 defined
        bootstrap resamples; a BCa interval whose jackknife or bias correction is
        undefined (then use ``bootstrap_ci="percentile"``).

    References
    ----------
    Bland JM, Altman DG (1986). Statistical methods for assessing agreement between
    two methods of clinical measurement. Lancet 327:307-310.
    doi:10.1016/S0140-6736(86)90837-8.
    Bland JM, Altman DG (1999). Measuring agreement in method comparison studies.
    Stat Methods Med Res 8:135-160. doi:10.1177/096228029900800204.
    Bland JM, Altman DG (2007). Agreement between methods of measurement with multiple
    observations per individual. J Biopharm Stat 17:571-582.
    doi:10.1080/10543400701329422.
    Carkeet A (2015). Exact parametric confidence intervals for Bland-Altman limits of
    agreement. Optom Vis Sci 92:e71-e80. doi:10.1097/OPX.0000000000000513.
    Zou GY (2013). Confidence interval estimation for the Bland-Altman limits of
    agreement with multiple observations per individual. Stat Methods Med Res
    22:630-642. doi:10.1177/0962280211402548.
    Donner A, Zou GY (2012). Closed-form confidence intervals for functions of the
    normal mean and standard deviation. Stat Methods Med Res 21:347-359.
    doi:10.1177/0962280210383082.
    Graybill FA, Wang CM (1980). Confidence intervals on nonnegative linear combinations
    of variances. JASA 75:869-873. doi:10.1080/01621459.1980.10477565.

    Examples
    --------
    >>> ba = bland_altman([10.0, 12.0, 9.5, 11.0], [10.5, 11.0, 9.0, 11.5])
    >>> round(ba.bias.estimate, 3), ba.method
    (0.125, 'exact_carkeet_2015')
    """
    level = check_confidence_level(confidence_level)
    coverage = float(loa_coverage)
    if method is None:
        method = "exact" if repeated is None else "mover"
    if repeated is not None and method in ("exact", "approximate"):
        raise ValueError(
            "method must be 'mover' or 'bootstrap' when repeated is given (the exact and "
            f"approximate intervals assume one pair per subject), got {method!r}"
        )
    if repeated is None and method == "mover":
        raise ValueError(
            "method='mover' is the repeated-measures interval; give repeated= (subject ids) "
            "or use 'exact'"
        )
    x = as_scores(measured, name="measured")
    y = as_scores(reference, name="reference")
    check_same_length(measured=x, reference=y)
    if log:
        for arr, name in ((x, "measured"), (y, "reference")):
            bad = arr <= 0
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"log=True needs positive values, {name} is {plain(arr[i])!r} at index {i}"
                )
        x, y = np.log(x), np.log(y)
    diff, avg = x - y, (x + y) / 2.0
    n = diff.size
    zp = float(-special.ndtri((1.0 - coverage) / 2.0))
    if repeated is None:
        if n < 2:
            raise UndefinedMetricError(f"limits of agreement need at least 2 pairs, got {n}")
        bias = float(diff.mean())
        sd = float(np.std(diff, ddof=1))
        n_subj = n
        subj = None
    else:
        subj, n_subj = cluster_codes(repeated, name="repeated")
        check_same_length(measured=x, repeated=subj)
        if n_subj < 2:
            raise UndefinedMetricError(
                f"repeated-measures limits need at least 2 subjects, got {n_subj}"
            )
        m, s, ssw = _anova_parts(diff, subj, n_subj)
        if not (m > 1).any():
            raise ValueError(
                "repeated: every subject has one pair; omit repeated for one pair per subject"
            )
        b_arr, v_arr = _repeated_stats(np.ones((1, n_subj)), m, s, ssw)
        bias, sd = float(b_arr[0]), math.sqrt(float(v_arr[0]))
    lo_pt, hi_pt = bias - zp * sd, bias + zp * sd
    extra: dict[str, Any] = {"z_p": zp}
    if method == "mover":
        subj = required(subj, "the subject of each pair (repeated)")
        bias_ci, lo_ci, hi_ci, parts = _mover(diff, subj, n_subj, zp, level)
        extra.update(parts)
        name = "mover_graybill_wang"
    elif method == "bootstrap":
        bias_ci, lo_ci, hi_ci, n_bad = _bootstrap(
            diff, subj, n_subj, zp, level, int(n_resamples), bootstrap_ci, rng
        )
        extra.update({"n_resamples": int(n_resamples), "n_undefined_resamples": n_bad})
        unit = "subjects" if repeated is not None else "pairs"
        name = f"bootstrap_{unit}_{bootstrap_ci}"
        if repeated is not None:
            extra.update(_repeated_extra(diff, subj, n_subj))
    else:
        t = _ppf_t((1.0 + level) / 2.0, n - 1.0)
        bias_ci = (bias - t * sd / math.sqrt(n), bias + t * sd / math.sqrt(n))
        if method == "exact":
            lo_ci, hi_ci = _exact_loa_bounds(bias, sd, n, zp, level)
            name = "exact_carkeet_2015"
        else:
            se_loa = sd * math.sqrt(1.0 / n + zp * zp / (2.0 * (n - 1.0)))
            lo_ci = (lo_pt - t * se_loa, lo_pt + t * se_loa)
            hi_ci = (hi_pt - t * se_loa, hi_pt + t * se_loa)
            name = "approximate_bland_altman_1999"
            extra["se_loa"] = se_loa
    if subj is None:
        prop, why = _proportional_bias(diff, avg, level, "ols_difference_on_mean")
    else:
        counts = np.bincount(subj, minlength=n_subj)
        prop, why = _proportional_bias(
            np.bincount(subj, weights=diff, minlength=n_subj) / counts,
            np.bincount(subj, weights=avg, minlength=n_subj) / counts,
            level,
            "ols_subject_mean_difference_on_mean",
        )
    if why is not None:
        extra["proportional_bias_not_estimable"] = why
    se_bias = sd / math.sqrt(n) if repeated is None else None
    bias_method = {"bootstrap": name, "mover": "t_interval_variance_components"}.get(
        method, "t_interval"
    )
    if method == "mover":
        se_bias = float(extra["se_bias"])
    bias_est = Estimate(bias, bias_ci[0], bias_ci[1], level, bias_method, n, se=se_bias)
    lo_est = Estimate(lo_pt, lo_ci[0], lo_ci[1], level, name, n)
    hi_est = Estimate(hi_pt, hi_ci[0], hi_ci[1], level, name, n)
    ratio = None
    if log:
        ratio = {
            "bias": math.exp(bias),
            "bias_ci_low": math.exp(bias_ci[0]),
            "bias_ci_high": math.exp(bias_ci[1]),
            "loa_low": math.exp(lo_pt),
            "loa_low_ci_low": math.exp(lo_ci[0]),
            "loa_low_ci_high": math.exp(lo_ci[1]),
            "loa_high": math.exp(hi_pt),
            "loa_high_ci_low": math.exp(hi_ci[0]),
            "loa_high_ci_high": math.exp(hi_ci[1]),
        }
    return BlandAltman(
        bias=bias_est,
        loa_low=lo_est,
        loa_high=hi_est,
        sd=sd,
        loa_coverage=coverage,
        method=name,
        n=n,
        n_subjects=n_subj,
        log=bool(log),
        proportional_bias=prop,
        ratio=ratio,
        extra=extra,
    )


def _mover(
    diff: NDArray[np.float64], subj: NDArray[np.intp], n_subj: int, zp: float, level: float
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float], dict[str, Any]]:
    """MOVER limits for several pairs per subject (the construction of Zou 2013).

    ``sigma^2 = MS_b / m0 + (1 - 1/m0) MS_w`` gets Graybill-Wang (modified large-sample)
    bounds from the chi-square bounds of each mean square; the bias gets a t interval
    on ``n - 1`` df with ``var(dbar) = sigma_b^2 sum m_i^2 / N^2 + sigma_w^2 / N``
    (``sigma_b^2`` floored at 0); MOVER combines the two for ``bias -+ z_p sigma``.
    """
    parts = _repeated_extra(diff, subj, n_subj)
    msb, msw, m0 = parts["ms_between"], parts["ms_within"], parts["m0"]
    m = np.bincount(subj, minlength=n_subj).astype(np.float64)
    big_n = float(m.sum())
    df_b, df_w = n_subj - 1.0, big_n - n_subj
    a = 1.0 - level
    c1, c2 = 1.0 / m0, 1.0 - 1.0 / m0
    var = c1 * msb + c2 * msw
    chi = stats.chi2.ppf
    down = math.hypot(
        c1 * msb * (1.0 - df_b / chi(1.0 - a / 2.0, df_b)),
        c2 * msw * (1.0 - df_w / chi(1.0 - a / 2.0, df_w)),
    )
    up = math.hypot(
        c1 * msb * (df_b / chi(a / 2.0, df_b) - 1.0), c2 * msw * (df_w / chi(a / 2.0, df_w) - 1.0)
    )
    sd, sd_lo, sd_hi = math.sqrt(var), math.sqrt(max(var - down, 0.0)), math.sqrt(var + up)
    bias = float(diff.mean())
    se_bias = math.sqrt(max(parts["var_between"], 0.0) * float(m @ m) / big_n**2 + msw / big_n)
    half = _ppf_t(1.0 - a / 2.0, df_b) * se_bias
    b_lo, b_hi = bias - half, bias + half
    lo_pt, hi_pt = bias - zp * sd, bias + zp * sd
    hi_ci = (
        hi_pt - math.hypot(bias - b_lo, zp * (sd - sd_lo)),
        hi_pt + math.hypot(b_hi - bias, zp * (sd_hi - sd)),
    )
    lo_ci = (
        lo_pt - math.hypot(bias - b_lo, zp * (sd_hi - sd)),
        lo_pt + math.hypot(b_hi - bias, zp * (sd - sd_lo)),
    )
    parts.update(
        {
            "se_bias": se_bias,
            "sd_ci_low": sd_lo,
            "sd_ci_high": sd_hi,
            "df_between": df_b,
            "df_within": df_w,
        }
    )
    return (b_lo, b_hi), lo_ci, hi_ci, parts


def _repeated_extra(
    diff: NDArray[np.float64], subj: NDArray[np.intp] | None, n_subj: int
) -> dict[str, Any]:
    m, s, ssw = _anova_parts(diff, required(subj, "the subject of each pair"), n_subj)
    big_n = float(m.sum())
    msw = float(ssw.sum()) / float((m - 1.0).sum())
    msb = float(np.sum(m * (s / m) ** 2) - big_n * (s.sum() / big_n) ** 2) / (n_subj - 1.0)
    m0 = (big_n**2 - float(m @ m)) / ((n_subj - 1.0) * big_n)
    return {
        "var_within": msw,
        "var_between": (msb - msw) / m0,
        "ms_between": msb,
        "ms_within": msw,
        "m0": m0,
    }


def _bootstrap(
    diff: NDArray[np.float64],
    subj: NDArray[np.intp] | None,
    n_subj: int,
    zp: float,
    level: float,
    n_resamples: int,
    ci: str,
    rng: np.random.Generator | int | np.random.SeedSequence | None,
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float], int]:
    """Bootstrap intervals of bias and limits, resampling pairs or subjects."""
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    if subj is None:
        units, n_units = np.arange(diff.size), diff.size
    else:
        units, n_units = subj, n_subj
    m, s, ssw = _anova_parts(diff, units, n_units)

    def stats_of(w: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """(bias, lower limit, upper limit) for rows of unit weights."""
        if subj is None:
            big_n = w @ m
            b = (w @ s) / big_n
            with np.errstate(divide="ignore", invalid="ignore"):
                v = (w @ (s * s) - big_n * b * b) / (big_n - 1.0)
        else:
            b, v = _repeated_stats(w, m, s, ssw)
        sd = np.sqrt(np.where(v >= 0, v, np.nan))
        return b, b - zp * sd, b + zp * sd

    t0 = [float(v[0]) for v in stats_of(np.ones((1, n_units)))]
    chunks = [
        stats_of(w.astype(np.float64))
        for w in bootstrap_weights(n_units, n_resamples=n_resamples, rng=rng)
    ]
    reps = [np.concatenate([c[k] for c in chunks]) for k in range(3)]
    ok = np.isfinite(reps[0]) & np.isfinite(reps[1]) & np.isfinite(reps[2])
    n_bad = int((~ok).sum())
    if ok.sum() < 2:
        raise UndefinedMetricError(
            f"bootstrap limits undefined: {n_bad} of {n_resamples} resamples have no "
            "within-subject variance"
        )
    jack: list[NDArray[np.float64] | None] = [None, None, None]
    if ci == "bca":
        jack = list(_leave_one_out(m, s, ssw, zp, pairs=subj is None))
        if not all(np.isfinite(j).all() for j in jack if j is not None):
            raise UndefinedMetricError(
                "BCa interval undefined: leaving out one unit leaves no within-subject "
                "variance; use bootstrap_ci='percentile'"
            )
    out = tuple(
        bootstrap_interval(t0[k], reps[k][ok], method=ci, confidence_level=level, jackknife=jack[k])
        for k in range(3)
    )
    return out[0], out[1], out[2], n_bad


def _leave_one_out(
    m: NDArray[np.float64],
    s: NDArray[np.float64],
    ssw: NDArray[np.float64],
    zp: float,
    *,
    pairs: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(bias, lower, upper) with each unit left out in turn, by downdating the sums.

    Equal to ``stats_of`` on the rows of ``1 - I`` (checked in the tests), in O(units).
    """
    n = m.size
    big_n = float(m.sum()) - m
    bias = (float(s.sum()) - s) / big_n
    with np.errstate(divide="ignore", invalid="ignore"):
        if pairs:
            var = (float((s * s).sum()) - s * s - big_n * bias * bias) / (big_n - 1.0)
        else:
            msw = (float(ssw.sum()) - ssw) / (float((m - 1.0).sum()) - (m - 1.0))
            msum = float(np.sum(s * s / m)) - s * s / m  # sum of m_i * mean_i^2
            msb = (msum - big_n * bias * bias) / (n - 2.0)
            m0 = (big_n**2 - (float((m * m).sum()) - m * m)) / ((n - 2.0) * big_n)
            var = (msb - msw) / m0 + msw
        sd = np.sqrt(np.where(var >= 0, var, np.nan))
    return bias, bias - zp * sd, bias + zp * sd

"""Agreement and reliability of quantitative measurements: Lin's concordance
correlation coefficient, intraclass correlations (Shrout & Fleiss forms) and the
repeatability coefficient (QIBA)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from validation.errors import UndefinedMetricError
from validation.stats._checks import (
    as_scores,
    check_confidence_level,
    check_same_length,
)
from validation.stats._params import UNIT_INTERVAL, Options, validate_params
from validation.stats._results import Estimate
from validation.stats.agreement.ratings import check_frame, check_ids, plain

__all__ = ["ICC_FORMS", "icc", "lins_ccc", "repeatability_coefficient"]

#: Shrout & Fleiss (1979) forms, named as R psych::ICC names them
ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")

_ICC_DESCRIPTIONS = {
    "ICC1": "ICC(1,1): one-way random, single rater, absolute agreement",
    "ICC2": "ICC(2,1): two-way random, single rater, absolute agreement",
    "ICC3": "ICC(3,1): two-way mixed, single rater, consistency",
    "ICC1k": "ICC(1,k): one-way random, mean of k raters, absolute agreement",
    "ICC2k": "ICC(2,k): two-way random, mean of k raters, absolute agreement",
    "ICC3k": "ICC(3,k): two-way mixed, mean of k raters, consistency",
}


def _z(level: float) -> float:
    return float(-special.ndtri((1.0 - level) / 2.0))


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
    }
)
def lins_ccc(x: ArrayLike, y: ArrayLike, *, confidence_level: float = 0.95) -> Estimate:
    """Lin's concordance correlation coefficient with the Fisher-z interval of Lin.

    ``rho_c = 2 s_xy / (s_x^2 + s_y^2 + (xbar - ybar)^2)`` with moments divided by
    ``n`` (Lin 1989). The interval back-transforms ``atanh(rho_c) +- z SE_z`` with
    ``SE_z^2 = [(1 - r^2) rho_c^2 / ((1 - rho_c^2) r^2) + 2 rho_c^3 (1 - rho_c) u^2 /
    (r (1 - rho_c^2)^2) - rho_c^4 u^4 / (2 r^2 (1 - rho_c^2)^2)] / (n - 2)``, ``r`` the
    Pearson correlation and ``u = (xbar - ybar) / sqrt(s_x s_y)`` (Lin 1989 with the
    correction of Lin 2000), as R ``epiR::epi.ccc(ci = "z-transform")``.

    Parameters
    ----------
    x, y : array-like of float
        Paired measurements.
    confidence_level : float

    Returns
    -------
    Estimate
        ``method = "lin_fisher_z"``; ``se`` is the SE of ``rho_c`` (before the
        transformation); ``extra``: ``pearson_r``, ``bias_correction`` (``C_b =
        rho_c / r``), ``location_shift`` (``u``), ``scale_shift`` (``s_x / s_y``),
        ``se_z``.

    Raises
    ------
    ValueError
        Inputs not finite or of different length.
    UndefinedMetricError
        Fewer than 3 pairs; no variation in x or y; ``|rho_c| = 1`` or ``r = 0``,
        where the Fisher-z interval is undefined.

    References
    ----------
    Lin LI (1989). A concordance correlation coefficient to evaluate reproducibility.
    Biometrics 45:255-268. doi:10.2307/2532051.
    Lin LI (2000). A note on the concordance correlation coefficient. Biometrics
    56:324-325.

    Examples
    --------
    >>> e = lins_ccc([1.0, 2.0, 3.0, 4.0, 5.0], [1.1, 2.3, 2.8, 4.2, 5.1])
    >>> round(e.estimate, 4)
    0.9905
    """
    level = check_confidence_level(confidence_level)
    a = as_scores(x, name="x")
    b = as_scores(y, name="y")
    n = check_same_length(x=a, y=b)
    if n < 3:
        raise UndefinedMetricError(f"Lin's CCC interval needs at least 3 pairs, got {n}")
    ma, mb = float(a.mean()), float(b.mean())
    da, db = a - ma, b - mb
    sxx, syy, sxy = float(da @ da) / n, float(db @ db) / n, float(da @ db) / n
    if not (sxx > 0 and syy > 0):
        which = "x" if not sxx > 0 else "y"
        raise UndefinedMetricError(f"Lin's CCC is undefined: {which} does not vary")
    rc = 2.0 * sxy / (sxx + syy + (ma - mb) ** 2)
    r = sxy / math.sqrt(sxx * syy)
    if abs(rc) >= 1.0 or r == 0.0:
        raise UndefinedMetricError(
            f"the Fisher-z interval of Lin's CCC is undefined at rho_c = {rc!r}, r = {r!r}"
        )
    u = (ma - mb) / (sxx * syy) ** 0.25
    var_rc = (
        (1.0 - r * r) * rc * rc * (1.0 - rc * rc) / (r * r)
        + 2.0 * rc**3 * (1.0 - rc) * u * u / r
        - 0.5 * rc**4 * u**4 / (r * r)
    ) / (n - 2.0)
    if not var_rc > 0:
        raise UndefinedMetricError(
            f"the variance of Lin's CCC is not positive ({var_rc!r}); no interval"
        )
    se = math.sqrt(var_rc)
    se_z = se / (1.0 - rc * rc)
    zc = math.atanh(rc)
    half = _z(level) * se_z
    return Estimate(
        estimate=rc,
        ci_low=math.tanh(zc - half),
        ci_high=math.tanh(zc + half),
        confidence_level=level,
        method="lin_fisher_z",
        n=n,
        se=se,
        extra={
            "pearson_r": r,
            "bias_correction": rc / r,
            "location_shift": u,
            "scale_shift": math.sqrt(sxx / syy),
            "se_z": se_z,
        },
    )


def _wide(ratings: Any, *, case: str, rater: str, value: str, name: str) -> NDArray[np.float64]:
    """A complete cases x raters matrix from a tidy frame or a 2-D array."""
    if isinstance(ratings, pd.DataFrame):
        frame = check_frame(
            ratings, (("case", case), ("rater", rater), ("value", value)), name=name
        )
        check_ids(frame, (case, rater), name=name)
        vals = pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} column {value!r} must hold finite numbers, found "
                f"{plain(frame[value].iloc[i])!r} at row {plain(frame.index[i])!r}"
            )
        table = frame.assign(**{value: vals}).pivot(index=case, columns=rater, values=value)
        missing = table.isna().to_numpy()
        if missing.any():
            i, j = (int(v[0]) for v in np.nonzero(missing))
            raise ValueError(
                f"{name}: the ICC needs every case rated by every rater; case "
                f"{plain(table.index[i])!r} has no rating by rater {plain(table.columns[j])!r}"
            )
        return table.to_numpy(dtype=np.float64)
    arr = np.asarray(ratings, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a tidy DataFrame or a 2-D array (cases x raters), got shape "
            f"{arr.shape}"
        )
    if not np.isfinite(arr).all():
        i, j = (int(v[0]) for v in np.nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, found {plain(arr[i, j])!r} at [{i}, {j}]")
    return arr


@validate_params(
    {
        "form": [Options(ICC_FORMS)],
        "case": [str],
        "rater": [str],
        "value": [str],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def icc(
    ratings: Any,
    *,
    form: str = "ICC2",
    case: str = "case",
    rater: str = "rater",
    value: str = "value",
    confidence_level: float = 0.95,
) -> Estimate:
    """Intraclass correlation in one of the six Shrout & Fleiss (1979) forms.

    From the two-way ANOVA of a complete ``n`` cases x ``k`` raters table (mean
    squares ``MSB`` cases, ``MSJ`` raters, ``MSE`` residual, ``MSW`` within cases):

    - ``ICC1`` = ICC(1,1) = (MSB - MSW) / (MSB + (k - 1) MSW); ``ICC1k`` = (MSB - MSW) / MSB
    - ``ICC2`` = ICC(2,1) = (MSB - MSE) / (MSB + (k - 1) MSE + k (MSJ - MSE) / n);
      ``ICC2k`` = (MSB - MSE) / (MSB + (MSJ - MSE) / n)
    - ``ICC3`` = ICC(3,1) = (MSB - MSE) / (MSB + (k - 1) MSE); ``ICC3k`` = (MSB - MSE) / MSB

    Names and intervals as R ``psych::ICC(lmer = FALSE)``: F-based intervals for
    ICC1/ICC3 (and their k forms); for ICC2 the Satterthwaite-type approximation of
    Shrout & Fleiss (1979, eq. for ICC(2,1)), ICC2k by the Spearman-Brown step-up of
    its bounds (McGraw & Wong 1996); where the ICC2 lower bound is at or below
    ``-1/(k - 1)`` the step-up has its pole and the ICC2k lower bound is ``-inf``
    (psych returns a meaningless finite number there; ``extra["lower_bound_unbounded"]``).
    Use ICC2 (absolute agreement of a random rater) for a device against readers; ICC3
    measures consistency only.

    Parameters
    ----------
    ratings : pandas.DataFrame or array-like
        Tidy (case, rater, value) with every case rated once by every rater, or a 2-D
        array (cases x raters).
    form : {"ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"}
    case, rater, value : str
        Column names of a tidy frame.
    confidence_level : float

    Returns
    -------
    Estimate
        ``method`` names the interval (``"f_interval"`` or
        ``"satterthwaite_f_interval"``); ``n`` = cases; ``extra``: ``form``,
        ``description``, ``n_raters``, ``F``, ``df1``, ``df2``, ``p_value`` (F test of
        ICC = 0), ``ms_cases``, ``ms_raters``, ``ms_residual``, ``ms_within``.

    Raises
    ------
    ValueError
        Unknown form; incomplete or non-numeric ratings.
    UndefinedMetricError
        Fewer than 2 cases or raters; no residual variation (MSE = 0 or MSW = 0); an
        ICC2k interval whose whole ICC2 interval lies below ``-1/(k - 1)``.

    References
    ----------
    Shrout PE, Fleiss JL (1979). Intraclass correlations: uses in assessing rater
    reliability. Psychol Bull 86:420-428. doi:10.1037/0033-2909.86.2.420.
    McGraw KO, Wong SP (1996). Forming inferences about some intraclass correlation
    coefficients. Psychol Methods 1:30-46. doi:10.1037/1082-989X.1.1.30.
    Koo TK, Li MY (2016). A guideline of selecting and reporting intraclass
    correlation coefficients for reliability research. J Chiropr Med 15:155-163.
    doi:10.1016/j.jcm.2016.02.012.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6],
    ...               [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)
    >>> round(icc(x, form="ICC2").estimate, 4)   # Shrout & Fleiss (1979) Table 4: .29
    0.2898
    """
    level = check_confidence_level(confidence_level)
    table = _wide(ratings, case=case, rater=rater, value=value, name="ratings")
    n, k = table.shape
    if n < 2 or k < 2:
        raise UndefinedMetricError(f"the ICC needs at least 2 cases and 2 raters, got {n} x {k}")
    grand = table.mean()
    row = table.mean(axis=1)
    col = table.mean(axis=0)
    ssb = k * float(np.sum((row - grand) ** 2))
    ssj = n * float(np.sum((col - grand) ** 2))
    sst = float(np.sum((table - grand) ** 2))
    sse = sst - ssb - ssj
    msb, msj = ssb / (n - 1.0), ssj / (k - 1.0)
    mse = sse / ((n - 1.0) * (k - 1.0))
    msw = (ssj + sse) / (n * (k - 1.0))
    scale = max(sst, 1e-300)
    if form in ("ICC1", "ICC1k"):
        if not msw > 1e-13 * scale:
            raise UndefinedMetricError("the ICC is undefined: no variation within cases (MSW = 0)")
    elif not mse > 1e-13 * scale:
        raise UndefinedMetricError("the ICC is undefined: no residual variation (MSE = 0)")
    alpha = 1.0 - level
    extra: dict[str, Any] = {
        "form": form,
        "description": _ICC_DESCRIPTIONS[form],
        "n_raters": k,
        "ms_cases": msb,
        "ms_raters": msj,
        "ms_residual": mse,
        "ms_within": msw,
    }
    if form in ("ICC1", "ICC1k"):
        f = msb / msw
        df1, df2 = n - 1.0, n * (k - 1.0)
        fl = f / stats.f.ppf(1.0 - alpha / 2.0, df1, df2)
        fu = f * stats.f.ppf(1.0 - alpha / 2.0, df2, df1)
        if form == "ICC1":
            est = (msb - msw) / (msb + (k - 1.0) * msw)
            lo, hi = (fl - 1.0) / (fl + k - 1.0), (fu - 1.0) / (fu + k - 1.0)
        else:
            est = (msb - msw) / msb
            lo, hi = 1.0 - 1.0 / fl, 1.0 - 1.0 / fu
        method = "f_interval"
    else:
        f = msb / mse
        df1, df2 = n - 1.0, (n - 1.0) * (k - 1.0)
        if form in ("ICC3", "ICC3k"):
            fl = f / stats.f.ppf(1.0 - alpha / 2.0, df1, df2)
            fu = f * stats.f.ppf(1.0 - alpha / 2.0, df2, df1)
            if form == "ICC3":
                est = (msb - mse) / (msb + (k - 1.0) * mse)
                lo, hi = (fl - 1.0) / (fl + k - 1.0), (fu - 1.0) / (fu + k - 1.0)
            else:
                est = (msb - mse) / msb
                lo, hi = 1.0 - 1.0 / fl, 1.0 - 1.0 / fu
            method = "f_interval"
        else:
            icc2 = (msb - mse) / (msb + (k - 1.0) * mse + k * (msj - mse) / n)
            fj = msj / mse
            vn = (
                (k - 1.0)
                * (n - 1.0)
                * (k * icc2 * fj + n * (1.0 + (k - 1.0) * icc2) - k * icc2) ** 2
            )
            vd = (n - 1.0) * k * k * icc2 * icc2 * fj * fj + (
                n * (1.0 + (k - 1.0) * icc2) - k * icc2
            ) ** 2
            v = vn / vd
            f_u = stats.f.ppf(1.0 - alpha / 2.0, n - 1.0, v)
            f_l = stats.f.ppf(1.0 - alpha / 2.0, v, n - 1.0)
            denom = k * msj + (k * n - k - n) * mse
            lo = n * (msb - f_u * mse) / (f_u * denom + n * msb)
            hi = n * (f_l * msb - mse) / (denom + n * f_l * msb)
            if form == "ICC2":
                est = icc2
            else:
                est = (msb - mse) / (msb + (msj - mse) / n)

                def step_up(b: float) -> float:
                    # Spearman-Brown: increasing on (-1/(k-1), 1]; -inf at and below the pole
                    if 1.0 + b * (k - 1.0) <= 0.0:
                        return -math.inf
                    return b * k / (1.0 + b * (k - 1.0))

                if 1.0 + hi * (k - 1.0) <= 0.0:
                    raise UndefinedMetricError(
                        "the ICC2k interval is undefined: the whole ICC2 interval lies below "
                        f"-1/(k - 1) = {-1.0 / (k - 1.0)!r}"
                    )
                if 1.0 + lo * (k - 1.0) <= 0.0:
                    extra["lower_bound_unbounded"] = True
                lo, hi = step_up(lo), step_up(hi)
            method = "satterthwaite_f_interval"
            extra["df_satterthwaite"] = v
    extra.update(
        {
            "F": f,
            "df1": df1,
            "df2": df2,
            "p_value": float(stats.f.sf(f, df1, df2)),
        }
    )
    return Estimate(
        estimate=float(est),
        ci_low=float(lo),
        ci_high=float(hi),
        confidence_level=level,
        method=method,
        n=n,
        extra=extra,
    )


@validate_params(
    {
        "subject": [str],
        "value": [str],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def repeatability_coefficient(
    measurements: Any,
    *,
    subject: str = "subject",
    value: str = "value",
    confidence_level: float = 0.95,
) -> Estimate:
    """The repeatability coefficient RC = 1.96 sqrt(2) wSD (QIBA) with a chi-square interval.

    The within-subject SD is pooled over subjects with two or more replicates:
    ``wSD^2 = sum_i sum_j (y_ij - ybar_i)^2 / sum_i (m_i - 1)`` (the one-way ANOVA
    within mean square, ``df = N - n``). ``RC = z sqrt(2) wSD`` with ``z`` the 97.5%
    normal quantile (``2.77 wSD``): 95% of differences between two replicates of one
    subject lie within ``+-RC``. Since ``df wSD^2 / sigma_w^2`` is chi-square with
    ``df`` degrees of freedom, the interval is ``RC sqrt(df / chi2_{1-a/2, df})`` to
    ``RC sqrt(df / chi2_{a/2, df})`` (Raunig et al. 2015; Barnhart & Barboriak 2009).

    Parameters
    ----------
    measurements : pandas.DataFrame or array-like
        Tidy (subject, value), one row per replicate; or a 2-D array (subjects x
        replicates, NaN for a missing replicate).
    subject, value : str
        Column names of a tidy frame.
    confidence_level : float
        Level of the interval (the RC itself is always the 95% coefficient).

    Returns
    -------
    Estimate
        ``estimate`` = RC, ``method = "chi_square"``, ``n`` = subjects with two or
        more replicates; ``extra``: ``wsd`` and its interval (``wsd_ci_low``,
        ``wsd_ci_high``), ``df``, ``multiplier`` (2.7718), ``n_measurements``,
        ``n_subjects_single``.

    Raises
    ------
    ValueError
        Not finite values, bad table.
    UndefinedMetricError
        No subject with two replicates; all replicates identical (wSD = 0).

    References
    ----------
    Raunig DL et al. (2015). Quantitative imaging biomarkers: a review of statistical
    methods for technical performance assessment. Stat Methods Med Res 24:27-67.
    doi:10.1177/0962280214537344.
    Barnhart HX, Barboriak DP (2009). Applications of the repeatability of quantitative
    imaging biomarkers: a review of statistical analysis of repeat data sets. Transl
    Oncol 2:231-235. doi:10.1593/tlo.09268.
    Bland JM, Altman DG (1996). Measurement error. BMJ 313:744. doi:10.1136/bmj.313.7059.744.

    Examples
    --------
    >>> import numpy as np
    >>> rc = repeatability_coefficient(np.array([[10.0, 11.0], [20.0, 19.0], [15.0, 15.5]]))
    >>> round(rc.estimate, 4), round(rc.extra["wsd"], 4)
    (1.6974, 0.6124)
    """
    level = check_confidence_level(confidence_level)
    if isinstance(measurements, pd.DataFrame):
        frame = check_frame(
            measurements, (("subject", subject), ("value", value)), name="measurements"
        )
        ids = frame[subject]
        if ids.isna().any():
            row = frame.index[int(np.flatnonzero(ids.isna().to_numpy())[0])]
            raise ValueError(f"measurements column {subject!r} is missing at row {plain(row)!r}")
        vals = pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype=np.float64)
        present = frame[value].notna().to_numpy()
        bad = present & ~np.isfinite(vals)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"measurements column {value!r} must hold finite numbers, found "
                f"{plain(frame[value].iloc[i])!r} at row {plain(frame.index[i])!r}"
            )
        codes, _ = pd.factorize(ids[present], sort=False)
        vals = vals[present]
    else:
        arr = np.asarray(measurements, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(
                "measurements must be a tidy DataFrame or a 2-D array (subjects x "
                f"replicates), got shape {arr.shape}"
            )
        if np.isinf(arr).any():
            raise ValueError("measurements must be finite (NaN marks a missing replicate)")
        keep = ~np.isnan(arr)
        codes = np.nonzero(keep)[0]
        vals = arr[keep]
    n_subj = int(codes.max()) + 1 if codes.size else 0
    m = np.bincount(codes, minlength=n_subj).astype(np.float64)
    s = np.bincount(codes, weights=vals, minlength=n_subj)
    means = s / np.where(m > 0, m, 1.0)
    resid = vals - means[codes]
    df = float(np.sum(np.maximum(m - 1.0, 0.0)))
    multi = int(np.sum(m >= 2))
    if multi == 0:
        raise UndefinedMetricError(
            "the repeatability coefficient needs a subject with two or more replicates"
        )
    wsd2 = float(resid @ resid) / df
    if not wsd2 > 1e-28 * max(1.0, float(np.mean(vals**2))):
        raise UndefinedMetricError(
            "the repeatability coefficient is 0: every subject's replicates are identical"
        )
    wsd = math.sqrt(wsd2)
    mult = _z(0.95) * math.sqrt(2.0)
    a = 1.0 - level
    wlo = wsd * math.sqrt(df / stats.chi2.ppf(1.0 - a / 2.0, df))
    whi = wsd * math.sqrt(df / stats.chi2.ppf(a / 2.0, df))
    return Estimate(
        estimate=mult * wsd,
        ci_low=mult * wlo,
        ci_high=mult * whi,
        confidence_level=level,
        method="chi_square",
        n=multi,
        extra={
            "wsd": wsd,
            "wsd_ci_low": wlo,
            "wsd_ci_high": whi,
            "df": df,
            "multiplier": mult,
            "n_measurements": int(vals.size),
            "n_subjects_single": int(np.sum(m == 1)),
        },
    )

"""Obuchowski-Rockette and Dorfman-Berbaum-Metz analyses on arrays.

Private module of :mod:`validation.stats.mrmc`. Inputs are the FOM matrix
``fom[m, r]`` and either its covariance ``cov[(m, r), (m', r')]`` over the case
population (OR) or the leave-one-case-out array ``jackknife[m, r, k]`` (DBM
pseudovalues); outputs are plain dicts the public module wraps in result objects.

Formulas follow MRMCaov 0.3 and RJafroc 2.1 (identical for these analyses):

* OR variance components: ``Var(error)`` the mean of the FOM variances, ``Cov1`` the
  mean covariance of the same reader in different modalities, ``Cov2`` different
  readers in the same modality, ``Cov3`` different readers and modalities;
  ``Var(R) = (MS(R) - MS(T:R))/M - Cov1 + Cov3``,
  ``Var(T:R) = MS(T:R) - Var(error) + Cov1 + (Cov2 - Cov3)``.
* RRRC: ``F = MS(T) / (MS(T:R) + R max(Cov2 - Cov3, 0))`` with Hillis (2007)
  denominator degrees of freedom ``(MS(T:R) + R max(Cov2-Cov3, 0))^2 /
  (MS(T:R)^2 / ((M-1)(R-1)))``.
* FRRC (fixed readers): ``X2 = (M-1) MS(T) / (Var - Cov1 + (R-1) max(Cov2 - Cov3, 0))``
  on ``M-1`` df, the pairwise differences with variance ``2/R`` times that denominator;
  RRFC (fixed cases): ``F = MS(T)/MS(T:R)`` on ``(M-1, (M-1)(R-1))`` df.
* Truncation convention: ``max(Cov2 - Cov3, 0)`` enters every test denominator (RRRC and
  FRRC), as in Hillis' OR-DBM MRMC and RJafroc; MRMCaov 0.3 leaves the FRRC difference
  untruncated, so the two differ only when ``Cov2 < Cov3``. The *reported* variance
  components are never truncated: ``var_r``, ``var_tr`` and ``cov1..3`` are the moment
  estimates above and may be negative (as MRMCaov reports them).
* Degenerate data: a mean square or covariance difference within ``1e3 * eps`` (relative
  to the scale of the FOMs, pseudovalues or variances) of zero is rounding noise and
  taken as exactly zero. A test whose denominator is then zero is returned as not
  estimable (``estimable: False`` with the ``reason``; statistic, df and p-value None)
  rather than an F of 1e29; where only ``MS(T:R)`` is zero the Hillis ddf is its exact
  limit, infinity.
* Designs (MRMCaov): cases nested in readers set ``Cov2 = Cov3 = 0``; cases nested in
  modalities set ``Cov1 = Cov3 = 0``.

References
----------
Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple
readers and multiple tests: an ANOVA approach with dependent observations. Commun
Stat Simul Comput 1995;24:285-308. doi:10.1080/03610919508813243
Hillis SL. A comparison of denominator degrees of freedom methods for multiple
observer ROC analysis. Stat Med 2007;26:596-619. doi:10.1002/sim.2532
Dorfman DD, Berbaum KS, Metz CE. Receiver operating characteristic rating analysis:
generalization to the population of readers and patients with the jackknife method.
Invest Radiol 1992;27:723-731. doi:10.1097/00004424-199209000-00015
Hillis SL, Berbaum KS, Metz CE. Recent developments in the Dorfman-Berbaum-Metz
procedure for multireader ROC study analysis. Acad Radiol 2008;15:647-661.
doi:10.1016/j.acra.2007.12.015
Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS. A comparison of the
Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating
characteristic (ROC) data. Stat Med 2005;24:1579-1607. doi:10.1002/sim.2024
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

#: Relative size below which a mean square or covariance difference is rounding noise.
NOISE = 1e3 * float(np.finfo(np.float64).eps)


def _ms(x: float, scale: float) -> float:
    """A mean square of values of magnitude ``scale``: 0 when it is rounding noise."""
    return 0.0 if x <= (NOISE * scale) ** 2 else x


def _cv(x: float, scale: float) -> float:
    """A (co)variance difference on the scale ``scale``: 0 when it is rounding noise."""
    return 0.0 if abs(x) <= NOISE * scale else x


def no_case_variation(cov: NDArray[np.float64], fom: NDArray[np.float64]) -> bool:
    """True when every FOM (co)variance over cases is zero up to rounding (e.g. all
    scores tied): no MRMC variance can be estimated from such readings."""
    d = np.abs(np.diagonal(cov.reshape(cov.shape[0] * cov.shape[1], -1)))
    scale = float(np.nanmax(np.abs(fom))) if np.isfinite(fom).any() else 1.0
    finite = d[np.isfinite(d)]
    return bool(finite.size == 0 or finite.max() <= (NOISE * max(scale, 1e-300)) ** 2)


# ------------------------------------------------------------------------ covariances
def jackknife_cov(jack: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(C-1)/C * sum_k (J_gk - mean_g)(J_g'k - mean_g')`` over groups ``g = (m, r)``.

    Returns shape ``(M, R, M, R)``.
    """
    m_, r_, c_ = jack.shape
    flat = jack.reshape(m_ * r_, c_)
    centred = flat - flat.mean(axis=1, keepdims=True)
    # einsum, not BLAS: for G x C inputs with small G the threaded BLAS call costs more
    # in thread start-up (badly so on a busy machine) than the O(G^2 C) arithmetic
    cov = (c_ - 1) / c_ * np.einsum("ik,jk->ij", centred, centred)
    return cov.reshape(m_, r_, m_, r_)


def delong_cov(v10: NDArray[np.float64], v01: NDArray[np.float64]) -> NDArray[np.float64]:
    """DeLong covariance ``S10/K1 + S01/K0`` from placement arrays ``(M, R, K1)``/``(M, R, K0)``."""
    m_, r_, k1 = v10.shape
    k0 = v01.shape[-1]
    a = v10.reshape(m_ * r_, k1)
    b = v01.reshape(m_ * r_, k0)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    s10 = np.einsum("ik,jk->ij", a, a) / (k1 - 1)
    s01 = np.einsum("ik,jk->ij", b, b) / (k0 - 1)
    return np.asarray(s10 / k1 + s01 / k0).reshape(m_, r_, m_, r_)


def unbiased_cov(
    scores: NDArray[np.float64],
    present: NDArray[np.bool_],
    truth: NDArray[np.int8],
    *,
    block: int | None = None,
) -> NDArray[np.float64]:
    """Unbiased (U-statistic) covariance of empirical AUCs (Gallas, Pennello & Myers 2007).

    For two AUCs ``A = mean s_A(i, j)`` and ``B = mean s_B(i', j')`` over their
    diseased x non-diseased pairs, ``E[AB]`` splits by whether the pairs share the
    diseased case, the non-diseased case, both or neither; estimating each moment by
    its sample mean over the shared cases and subtracting the product of the
    independent-pair moment gives an unbiased covariance (MRMCaov ``unbiased()``).
    Hand-written: no library offers it. Cost: O((MR)^2 K0 K1) in blocks.
    """
    m_, r_, c_ = scores.shape
    g_ = m_ * r_
    sc = scores.reshape(g_, c_)
    pr = present.reshape(g_, c_)
    pos = np.flatnonzero(truth == 1)
    neg = np.flatnonzero(truth == 0)
    # kernel psi(x_i, y_j) per group, zero where the group did not read a case
    row_sum = np.zeros((g_, len(pos)))
    col_sum = np.zeros((g_, len(neg)))
    cross = np.zeros((g_, g_))  # sum_ij sA(i,j) sB(i,j) over pairs both groups read
    yneg = sc[:, neg]
    pneg = pr[:, neg]
    if block is None:  # keep each kernel block near 4 million entries (~32 MB)
        block = max(1, 4_000_000 // max(1, g_ * len(neg)))
    for start in range(0, len(pos), block):
        idx = pos[start : start + block]
        x = sc[:, idx][:, :, None]
        kern = (x > yneg[:, None, :]) + 0.5 * (x == yneg[:, None, :])
        kern = kern * (pr[:, idx][:, :, None] & pneg[:, None, :])
        row_sum[:, start : start + len(idx)] = kern.sum(axis=2)
        col_sum += kern.sum(axis=1)
        flat = kern.reshape(g_, -1)
        cross += flat @ flat.T
    n1 = pr[:, pos].sum(axis=1).astype(float)
    n0 = pr[:, neg].sum(axis=1).astype(float)
    total = row_sum.sum(axis=1)
    p1 = pr[:, pos].astype(float)
    p0 = pr[:, neg].astype(float)
    sh1 = p1 @ p1.T  # shared diseased cases
    sh0 = p0 @ p0.T
    nxny = np.outer(n1 * n0, n1 * n0)
    denom = nxny - np.outer(n1, n1) * sh0 - np.outer(n0, n0) * sh1 + sh1 * sh0
    delta = nxny / denom
    rr = row_sum @ row_sum.T
    cc = col_sum @ col_sum.T
    cov = ((1 - delta) * np.outer(total, total) + delta * (rr + cc - cross)) / nxny
    return cov.reshape(m_, r_, m_, r_)


# ---------------------------------------------------------------------------- OR core
def or_components(
    fom: NDArray[np.float64], cov: NDArray[np.float64], design: str
) -> dict[str, Any]:
    """Mean squares and OR covariance components (MRMCaov ``vcov_comps``)."""
    m_, r_ = fom.shape
    g = m_ * r_
    c = cov.reshape(g, g)
    mod = np.repeat(np.arange(m_), r_)
    rdr = np.tile(np.arange(r_), m_)
    same_m = mod[:, None] == mod[None, :]
    same_r = rdr[:, None] == rdr[None, :]
    var_error = float(np.mean(np.diag(c)))
    cov1 = float(c[~same_m & same_r].mean()) if m_ > 1 else 0.0
    cov2 = float(c[same_m & ~same_r].mean()) if r_ > 1 else 0.0
    cov3 = float(c[~same_m & ~same_r].mean()) if m_ > 1 and r_ > 1 else 0.0
    if design == "split_plot":
        cov2 = cov3 = 0.0
    elif design == "cases_in_modalities":
        cov1 = cov3 = 0.0
    grand = fom.mean()
    mean_m = fom.mean(axis=1)
    mean_r = fom.mean(axis=0)
    ms_t = r_ * float(((mean_m - grand) ** 2).sum()) / (m_ - 1) if m_ > 1 else 0.0
    ms_r = m_ * float(((mean_r - grand) ** 2).sum()) / (r_ - 1) if r_ > 1 else 0.0
    resid = fom - mean_m[:, None] - mean_r[None, :] + grand
    ms_tr = float((resid**2).sum()) / ((m_ - 1) * (r_ - 1)) if m_ > 1 and r_ > 1 else 0.0
    var_r = (ms_r - ms_tr) / m_ - cov1 + cov3
    var_tr = ms_tr - var_error + cov1 + (cov2 - cov3)
    return {
        "ms_t": ms_t,
        "ms_r": ms_r,
        "ms_tr": ms_tr,
        "var_r": var_r,
        "var_tr": var_tr,
        "cov1": cov1,
        "cov2": cov2,
        "cov3": cov3,
        "var_error": var_error,
    }


def _pairs(m_: int) -> list[tuple[int, int]]:
    return list(combinations(range(m_), 2))


def _t_ci(est: float, se: float, df: float, level: float) -> tuple[float, float]:
    q = stats.t.ppf((1 + level) / 2, df) if math.isfinite(df) else stats.norm.ppf((1 + level) / 2)
    return est - q * se, est + q * se


def _two_sided_t(stat: float, df: float) -> float:
    if math.isnan(stat):
        return math.nan
    if math.isfinite(df):
        return float(2 * stats.t.sf(abs(stat), df))
    return float(2 * stats.norm.sf(abs(stat)))


def _f_sf(f: float, df1: float, df2: float) -> float:
    """Upper tail of F(df1, df2); with ``df2`` infinite, that of chi-square(df1) / df1
    (scipy's F returns NaN there)."""
    if math.isinf(df2):
        return float(stats.chi2.sf(f * df1, df1))
    return float(stats.f.sf(f, df1, df2))


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return math.inf if num > 0 else math.nan


def or_tests(
    fom: NDArray[np.float64], cov: NDArray[np.float64], *, design: str, level: float
) -> dict[str, Any]:
    """OR tests RRRC, FRRC, RRFC; pairwise differences; per-modality FOM intervals."""
    m_, r_ = fom.shape
    comp = or_components(fom, cov, design)
    scale = float(np.max(np.abs(fom))) or 1.0
    cscale = float(np.max(np.abs(np.diagonal(cov.reshape(m_ * r_, m_ * r_))))) or 1.0
    ms_t, ms_tr = _ms(comp["ms_t"], scale), _ms(comp["ms_tr"], scale)
    var, cov1, cov2, cov3 = comp["var_error"], comp["cov1"], comp["cov2"], comp["cov3"]
    d23 = max(_cv(cov2 - cov3, cscale), 0.0)
    means = fom.mean(axis=1)
    out: dict[str, Any] = {"components": comp, "tests": {}, "per_modality": {}}

    # --- random readers, random cases (Hillis 2007 ddf)
    den = ms_tr + r_ * d23
    if den > 0:
        ddf = den**2 / (ms_tr**2 / ((m_ - 1) * (r_ - 1))) if ms_tr > 0 else math.inf
        f_rrrc = ms_t / den
        out["tests"]["RRRC"] = _test(
            f_rrrc,
            m_ - 1,
            ddf,
            _f_sf(f_rrrc, m_ - 1, ddf),
            _diffs(means, math.sqrt(2.0 / r_ * den), ddf, level),
            "F",
        )
    else:
        out["tests"]["RRRC"] = _not_estimable(
            m_ - 1,
            "F",
            "RRRC is not estimable: its denominator MS(T:R) + R max(Cov2 - Cov3, 0) "
            "is zero (the readers' differences between modalities are identical and the "
            "case covariances add nothing)",
        )
    # --- fixed readers, random cases (Hillis' OR-DBM MRMC: Cov2 - Cov3 truncated at 0)
    den_f = max(_cv(var - cov1, cscale), 0.0) + (r_ - 1) * d23
    if den_f > 0:
        x2 = (m_ - 1) * ms_t / den_f
        out["tests"]["FRRC"] = _test(
            x2,
            m_ - 1,
            math.inf,
            stats.chi2.sf(x2, m_ - 1),
            _diffs(means, math.sqrt(2.0 / r_ * den_f), math.inf, level),
            "chi-square",
        )
    else:
        out["tests"]["FRRC"] = _not_estimable(
            m_ - 1,
            "chi-square",
            "FRRC is not estimable: its denominator Var - Cov1 + (R - 1) "
            "max(Cov2 - Cov3, 0) is zero (each reader's FOM varies over cases identically in "
            "every modality)",
        )
    # --- random readers, fixed cases
    df_c = float((m_ - 1) * (r_ - 1))
    if ms_tr > 0:
        f_rrfc = ms_t / ms_tr
        out["tests"]["RRFC"] = _test(
            f_rrfc,
            m_ - 1,
            df_c,
            _f_sf(f_rrfc, m_ - 1, df_c),
            _diffs(means, math.sqrt(2.0 / r_ * ms_tr), df_c, level),
            "F",
        )
    else:
        out["tests"]["RRFC"] = _not_estimable(
            m_ - 1,
            "F",
            "RRFC is not estimable: MS(T:R) is zero (every reader's difference "
            "between modalities is the same)",
        )

    # --- per-modality reader-averaged FOM (MRMCaov mrmc_tests)
    g = cov.reshape(m_ * r_, m_ * r_)
    per: dict[str, list[dict[str, float]]] = {"RRRC": [], "FRRC": [], "RRFC": []}
    for m in range(m_):
        block = g[m * r_ : (m + 1) * r_, m * r_ : (m + 1) * r_]
        var_m = float(np.mean(np.diag(block)))
        off = ~np.eye(r_, dtype=bool)
        cov2_m = 0.0 if design == "split_plot" or r_ == 1 else _cv(float(block[off].mean()), cscale)
        ms_r_m = _ms(float(np.var(fom[m], ddof=1)), scale) if r_ > 1 else 0.0
        est = float(means[m])
        se_m = math.sqrt(ms_r_m / r_ + max(cov2_m, 0.0))
        num = ms_r_m + r_ * max(cov2_m, 0.0)
        df_m = _ratio(num**2, ms_r_m**2 / (r_ - 1)) if ms_r_m > 0 else math.inf
        per["RRRC"].append(_est(est, se_m, df_m, level))
        se_fm = math.sqrt(max((var_m + (r_ - 1) * max(cov2_m, 0.0)) / r_, 0.0))
        per["FRRC"].append(_est(est, se_fm, math.inf, level))
        per["RRFC"].append(_est(est, math.sqrt(ms_r_m / r_), float(r_ - 1), level))
    out["per_modality"] = per
    return out


def _est(est: float, se: float, df: float, level: float) -> dict[str, float]:
    lo, hi = _t_ci(est, se, df, level)
    return {"estimate": est, "se": se, "df": df, "ci_low": lo, "ci_high": hi}


def _diffs(means: NDArray[np.float64], se: float, df: float, level: float) -> list[dict[str, Any]]:
    rows = []
    for a, b in _pairs(len(means)):
        d = float(means[a] - means[b])
        stat = d / se if se > 0 else (math.copysign(math.inf, d) if d != 0 else math.nan)
        lo, hi = _t_ci(d, se, df, level)
        rows.append(
            {
                "a": a,
                "b": b,
                "difference": d,
                "se": se,
                "df": df,
                "statistic": stat,
                "p_value": _two_sided_t(stat, df),
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return rows


def _test(
    stat: float, df_num: float, df_den: float, p: float, diffs: list[dict[str, Any]], kind: str
) -> dict[str, Any]:
    return {
        "statistic": float(stat),
        "df_num": float(df_num),
        "df_den": float(df_den),
        "p_value": float(p),
        "distribution": kind,
        "comparisons": diffs,
        "estimable": True,
        "reason": None,
    }


def _not_estimable(df_num: float, kind: str, reason: str) -> dict[str, Any]:
    """A test whose denominator is zero: no statistic, df, p-value or pairwise interval."""
    return {
        "statistic": None,
        "df_num": float(df_num),
        "df_den": None,
        "p_value": None,
        "distribution": kind,
        "comparisons": [],
        "estimable": False,
        "reason": reason,
    }


# --------------------------------------------------------------------------- DBM core
def pseudovalues(fom: NDArray[np.float64], jack: NDArray[np.float64]) -> NDArray[np.float64]:
    """Jackknife pseudovalues ``C*theta - (C-1)*theta_(k)``, centred so that their mean
    over cases equals the FOM (RJafroc's normalisation; Hillis et al. 2005)."""
    c_ = jack.shape[-1]
    y = c_ * fom[..., None] - (c_ - 1) * jack
    return np.asarray(y + (fom - y.mean(axis=-1))[..., None])


def dbm_mean_squares(y: NDArray[np.float64]) -> dict[str, float]:
    """Three-way ANOVA mean squares (treatment x reader x case, one observation per cell)."""
    m_, r_, c_ = y.shape
    g = y.mean()
    ym = y.mean(axis=(1, 2))
    yr = y.mean(axis=(0, 2))
    yc = y.mean(axis=(0, 1))
    ymr = y.mean(axis=2)
    ymc = y.mean(axis=1)
    yrc = y.mean(axis=0)
    ms = {
        "ms_t": r_ * c_ * float(((ym - g) ** 2).sum()) / (m_ - 1),
        "ms_r": m_ * c_ * float(((yr - g) ** 2).sum()) / (r_ - 1),
        "ms_c": m_ * r_ * float(((yc - g) ** 2).sum()) / (c_ - 1),
        "ms_tr": c_
        * float(((ymr - ym[:, None] - yr[None, :] + g) ** 2).sum())
        / ((m_ - 1) * (r_ - 1)),
        "ms_tc": r_
        * float(((ymc - ym[:, None] - yc[None, :] + g) ** 2).sum())
        / ((m_ - 1) * (c_ - 1)),
        "ms_rc": m_
        * float(((yrc - yr[:, None] - yc[None, :] + g) ** 2).sum())
        / ((r_ - 1) * (c_ - 1)),
    }
    resid = (
        y
        - ymr[:, :, None]
        - ymc[:, None, :]
        - yrc[None, :, :]
        + ym[:, None, None]
        + yr[None, :, None]
        + yc[None, None, :]
        - g
    )
    ms["ms_trc"] = float((resid**2).sum()) / ((m_ - 1) * (r_ - 1) * (c_ - 1))
    return ms


def dbm_tests(
    fom: NDArray[np.float64], jack: NDArray[np.float64], *, level: float
) -> dict[str, Any]:
    """DBM tests on pseudovalues (Hillis et al. 2008 ddf for RRRC)."""
    m_, r_, c_ = jack.shape
    y = pseudovalues(fom, jack)
    ms = dbm_mean_squares(y)
    means = y.mean(axis=(1, 2))
    ms_t, ms_tr, ms_tc, ms_trc = ms["ms_t"], ms["ms_tr"], ms["ms_tc"], ms["ms_trc"]
    comp = dict(ms)
    comp.update(
        {
            "var_r": (ms["ms_r"] - ms_tr - ms["ms_rc"] + ms_trc) / (m_ * c_),
            "var_c": (ms["ms_c"] - ms_tc - ms["ms_rc"] + ms_trc) / (m_ * r_),
            "var_tr": (ms_tr - ms_trc) / c_,
            "var_tc": (ms_tc - ms_trc) / r_,
            "var_rc": (ms["ms_rc"] - ms_trc) / m_,
            "var_error": ms_trc,
        }
    )
    out: dict[str, Any] = {"components": comp, "tests": {}, "per_modality": {}}
    # pseudovalue mean squares carry a factor of up to C: so does their rounding noise
    scale = (float(np.max(np.abs(y))) or 1.0) * math.sqrt(c_)
    ms_t, ms_tr, ms_tc = _ms(ms_t, scale), _ms(ms_tr, scale), _ms(ms_tc, scale)
    tc_trc = _cv(ms_tc - ms_trc, max(ms_tc, ms_trc))
    den = ms_tr + max(tc_trc, 0.0)
    if den > 0:
        ddf = den**2 / (ms_tr**2 / ((m_ - 1) * (r_ - 1))) if ms_tr > 0 else math.inf
        f = ms_t / den
        out["tests"]["RRRC"] = _test(
            f,
            m_ - 1,
            ddf,
            _f_sf(f, m_ - 1, ddf),
            _diffs(means, math.sqrt(2.0 * den / (r_ * c_)), ddf, level),
            "F",
        )
    else:
        out["tests"]["RRRC"] = _not_estimable(
            m_ - 1,
            "F",
            "RRRC is not estimable: its denominator MS(T*R) + max(MS(T*C) - "
            "MS(T*R*C), 0) of the pseudovalues is zero (the readers' differences between "
            "modalities are identical)",
        )
    ddf_f = float((m_ - 1) * (c_ - 1))
    if ms_tc > 0:
        f_f = ms_t / ms_tc
        out["tests"]["FRRC"] = _test(
            f_f,
            m_ - 1,
            ddf_f,
            _f_sf(f_f, m_ - 1, ddf_f),
            _diffs(means, math.sqrt(2.0 * ms_tc / (r_ * c_)), ddf_f, level),
            "F",
        )
    else:
        out["tests"]["FRRC"] = _not_estimable(
            m_ - 1,
            "F",
            "FRRC is not estimable: MS(T*C) of the pseudovalues is zero (the "
            "difference between modalities does not vary over cases)",
        )
    ddf_c = float((m_ - 1) * (r_ - 1))
    if ms_tr > 0:
        f_c = ms_t / ms_tr
        out["tests"]["RRFC"] = _test(
            f_c,
            m_ - 1,
            ddf_c,
            _f_sf(f_c, m_ - 1, ddf_c),
            _diffs(means, math.sqrt(2.0 * ms_tr / (r_ * c_)), ddf_c, level),
            "F",
        )
    else:
        out["tests"]["RRFC"] = _not_estimable(
            m_ - 1,
            "F",
            "RRFC is not estimable: MS(T*R) of the pseudovalues is zero (every "
            "reader's difference between modalities is the same)",
        )
    per: dict[str, list[dict[str, float]]] = {"RRRC": [], "FRRC": [], "RRFC": []}
    for m in range(m_):
        ym = y[m]
        g = ym.mean()
        yr = ym.mean(axis=1)
        yc = ym.mean(axis=0)
        ms_r_m = _ms(c_ * float(((yr - g) ** 2).sum()) / (r_ - 1), scale)
        ms_c_m = _ms(r_ * float(((yc - g) ** 2).sum()) / (c_ - 1), scale)
        ms_rc_m = _ms(
            float(((ym - yr[:, None] - yc[None, :] + g) ** 2).sum()) / ((r_ - 1) * (c_ - 1)), scale
        )
        est = float(g)
        num = ms_r_m + max(_cv(ms_c_m - ms_rc_m, max(ms_c_m, ms_rc_m)), 0.0)
        se_m = math.sqrt(num / (r_ * c_))
        df_m = _ratio(num**2, ms_r_m**2 / (r_ - 1)) if ms_r_m > 0 else math.inf
        per["RRRC"].append(_est(est, se_m, df_m, level))
        per["FRRC"].append(_est(est, math.sqrt(ms_c_m / (r_ * c_)), float(c_ - 1), level))
        per["RRFC"].append(_est(est, math.sqrt(ms_r_m / (r_ * c_)), float(r_ - 1), level))
    out["per_modality"] = per
    return out


# ------------------------------------------------------------------ single treatment
def single_treatment(
    values: NDArray[np.float64], cov: NDArray[np.float64], *, level: float
) -> dict[str, dict[str, Any]]:
    """OR analysis of one set of reader FOMs (RJafroc's 1T method; MRMCaov ``mrmc_tests``).

    ``values[r]`` are per-reader FOMs (or differences from a standalone AI), ``cov``
    their ``R x R`` covariance over cases. Returns RRRC and RRFC mean, se, df, t, p, CI.
    """
    r_ = len(values)
    est = float(values.mean())
    ms_r = _ms(float(np.var(values, ddof=1)), float(np.max(np.abs(values))) or 1.0)
    off = ~np.eye(r_, dtype=bool)
    cov2 = _cv(float(cov[off].mean()), float(np.max(np.abs(np.diag(cov)))) or 1.0)
    num = ms_r + r_ * max(cov2, 0.0)
    se = math.sqrt(num / r_)
    df = num**2 / (ms_r**2 / (r_ - 1)) if ms_r > 0 else math.inf
    out = {}
    for name, s, d in (("RRRC", se, df), ("RRFC", math.sqrt(ms_r / r_), float(r_ - 1))):
        lo, hi = _t_ci(est, s, d, level)
        if s > 0:
            stat: float | None = est / s
            p: float | None = _two_sided_t(est / s, d)
            reason = None
        else:
            stat = p = None
            reason = (
                f"{name} is not estimable: the standard error of the mean is zero "
                f"(MS(R) = 0 and Cov2 = {cov2:.3g} <= 0 up to rounding)"
            )
        out[name] = {
            "estimate": est,
            "se": s,
            "df": d,
            "statistic": stat,
            "p_value": p,
            "ci_low": lo,
            "ci_high": hi,
            "ms_r": ms_r,
            "cov2": cov2,
            "estimable": s > 0,
            "reason": reason,
        }
    return out


# ------------------------------------------------------- readers nested in modalities
def or_tests_nested(
    fom: NDArray[np.float64],
    mod: NDArray[np.intp],
    cov: NDArray[np.float64],
    *,
    n_modalities: int,
    level: float,
) -> dict[str, Any]:
    """OR analysis when each reader reads one modality (readers nested in modalities).

    ``fom[g]``, ``mod[g]`` and ``cov[g, g']`` are over the reader-modality groups that
    exist. The one-way ANOVA gives ``MS(T) = sum_t n_t (mean_t - mean)^2 / (T-1)`` and
    ``MS(R(T))`` the pooled within-modality reader variance on ``N - T`` df. Under
    the OR covariance model ``E[MS(T)] = E[MS(R(T))] + n0 (Cov2 - Cov3)`` with
    ``n0 = (N^2 - sum n_t^2) / (N (T-1))`` (``n0 = n`` readers per modality when
    balanced), so RRRC uses ``F = MS(T) / (MS(R(T)) + n0 max(Cov2 - Cov3, 0))`` with
    Satterthwaite df ``den^2 / (MS(R(T))^2 / (N - T))``, and a pairwise difference has
    variance ``(1/n_a + 1/n_b) den``. This follows the structure of MRMCaov's
    development version (design 4); its ``n0`` line reads ``(N - sum n_t^2)``, which
    is negative for any real design, so radval uses the ANOVA coefficient above.
    """
    t_ = n_modalities
    n_t = np.bincount(mod, minlength=t_).astype(float)
    n = float(n_t.sum())
    means = np.array([fom[mod == t].mean() for t in range(t_)])
    grand = float(fom.mean())
    scale = float(np.max(np.abs(fom))) or 1.0
    cscale = float(np.max(np.abs(np.diag(cov)))) or 1.0
    ms_t = _ms(float((n_t * (means - grand) ** 2).sum()) / (t_ - 1), scale)
    ms_r = _ms(float(((fom - means[mod]) ** 2).sum()) / (n - t_), scale)
    same_t = mod[:, None] == mod[None, :]
    off = ~np.eye(len(fom), dtype=bool)
    var = float(np.mean(np.diag(cov)))
    cov2 = float(cov[same_t & off].mean())
    cov3 = float(cov[~same_t].mean())
    n0 = (n**2 - float((n_t**2).sum())) / (n * (t_ - 1))
    comp = {
        "ms_t": ms_t,
        "ms_r": ms_r,
        "var_r": ms_r - var + cov2,
        "cov1": 0.0,
        "cov2": cov2,
        "cov3": cov3,
        "var_error": var,
        "n0": n0,
    }
    out: dict[str, Any] = {"components": comp, "tests": {}, "per_modality": {}}
    d23 = max(_cv(cov2 - cov3, cscale), 0.0)

    def diffs(den: float, df: float) -> list[dict[str, Any]]:
        rows = []
        for a, b in _pairs(t_):
            se = math.sqrt((1 / n_t[a] + 1 / n_t[b]) * den)
            rows.extend(_diffs(np.array([means[a], means[b]]), se, df, level))
            rows[-1].update({"a": a, "b": b})
        return rows

    den = ms_r + n0 * d23
    if den > 0:
        ddf = den**2 / (ms_r**2 / (n - t_)) if ms_r > 0 else math.inf
        f = ms_t / den
        out["tests"]["RRRC"] = _test(f, t_ - 1, ddf, _f_sf(f, t_ - 1, ddf), diffs(den, ddf), "F")
    else:
        out["tests"]["RRRC"] = _not_estimable(
            t_ - 1,
            "F",
            "RRRC is not estimable: its denominator MS(R(T)) + n0 max(Cov2 - Cov3, 0) "
            "is zero (the readers within each modality agree exactly)",
        )
    den_f = max(_cv(var - cov2, cscale), 0.0) + n0 * d23
    if den_f > 0:
        x2 = (t_ - 1) * ms_t / den_f
        out["tests"]["FRRC"] = _test(
            x2, t_ - 1, math.inf, stats.chi2.sf(x2, t_ - 1), diffs(den_f, math.inf), "chi-square"
        )
    else:
        out["tests"]["FRRC"] = _not_estimable(
            t_ - 1,
            "chi-square",
            "FRRC is not estimable: its denominator Var - Cov2 + n0 max(Cov2 - Cov3, 0) is zero",
        )
    df_c = n - t_
    if ms_r > 0:
        f_c = ms_t / ms_r
        out["tests"]["RRFC"] = _test(
            f_c, t_ - 1, df_c, _f_sf(f_c, t_ - 1, df_c), diffs(ms_r, df_c), "F"
        )
    else:
        out["tests"]["RRFC"] = _not_estimable(
            t_ - 1,
            "F",
            "RRFC is not estimable: MS(R(T)) is zero (the readers within each "
            "modality agree exactly)",
        )
    per: dict[str, list[dict[str, float]]] = {"RRRC": [], "FRRC": [], "RRFC": []}
    for t in range(t_):
        sel = np.flatnonzero(mod == t)
        vals = fom[sel]
        block = cov[np.ix_(sel, sel)]
        res = single_treatment(vals, block, level=level)
        r_ = len(sel)
        var_m = float(np.mean(np.diag(block)))
        per["RRRC"].append(
            _est(res["RRRC"]["estimate"], res["RRRC"]["se"], res["RRRC"]["df"], level)
        )
        se_fm = math.sqrt(max((var_m + (r_ - 1) * max(res["RRRC"]["cov2"], 0.0)) / r_, 0.0))
        per["FRRC"].append(_est(res["RRRC"]["estimate"], se_fm, math.inf, level))
        per["RRFC"].append(
            _est(res["RRFC"]["estimate"], res["RRFC"]["se"], res["RRFC"]["df"], level)
        )
    out["per_modality"] = per
    return out

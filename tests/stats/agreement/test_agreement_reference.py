"""Agreement statistics against R on random cases.

Reference values: ``reference/agreement_reference.json``, written by
``reference/make_reference.R`` (R 4.2.2; Debian bookworm's psych 2.2.9 ``cohen.kappa``
and ``ICC(lmer = FALSE)``, epiR 2.0.57 ``epi.ccc``; base R ``qt`` with ``ncp``,
``lm``, ``aov``, ``qchisq``; Gwet's irrCAC 1.4 ``fleiss.kappa.raw``,
``gwet.ac1.raw``, ``pa.coeff.raw`` and irr 0.84.1 ``kappam.fleiss``,
``kripp.alpha`` sourced from their R code; see reference/README.md for the command,
the commits and versions). Each case stores its inputs (drawn in R with
``set.seed(20260611)``), R's answers and the R call. Tolerance 1e-9 unless said.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from agreement_support import r_cases, r_reference, tidy
from scipy import special

from validation.errors import UndefinedMetricError
from validation.stats.agreement import (
    ICC_FORMS,
    bland_altman,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    icc,
    krippendorff_alpha,
    lins_ccc,
    percent_agreement,
    repeatability_coefficient,
)

TOL = 1e-9


def _ids(cases: list[dict]) -> list[str]:
    return [c["id"] for c in cases]


def test_reference_file_records_versions() -> None:
    meta = r_reference()["meta"]
    assert meta["R"].startswith("R version 4.2.2")
    assert meta["packages"]["psych"] == "2.2.9"
    assert meta["packages"]["epiR"] == "2.0.57"
    assert "7fb7509236672b8601c96366ca720f12a0d5bb7b" in meta["irrCAC"]
    assert "3229aa564b28a83db755d7329fd621e523aaf997" in meta["irr"]
    kinds = {c["kind"] for c in r_reference()["cases"]}
    assert kinds == {
        "cohen",
        "multi",
        "fleiss1971",
        "icc",
        "ccc",
        "ba_repeated",
        "ba",
        "rc",
        "landis_koch",
    }


# --- Cohen's kappa: psych::cohen.kappa ------------------------------------------------

COHEN = r_cases("cohen")


@pytest.mark.parametrize("case", COHEN, ids=_ids(COHEN))
def test_cohen_kappa_matches_psych(case: dict) -> None:
    labels = list(range(1, case["q"] + 1))
    level = case["confidence_level"]
    if case["var_kappa"] == 0:  # perfect agreement: psych reports the interval [1, 1]
        with pytest.raises(UndefinedMetricError, match="under perfect agreement"):
            cohen_kappa(case["a"], case["b"], labels=labels, confidence_level=level)
        return
    k = cohen_kappa(case["a"], case["b"], labels=labels, confidence_level=level)
    assert k.estimate == pytest.approx(case["kappa"], abs=TOL)
    assert k.se**2 == pytest.approx(case["var_kappa"], abs=TOL)
    assert (k.ci_low, k.ci_high) == pytest.approx(tuple(case["ci"]), abs=TOL)
    quad = cohen_kappa(case["a"], case["b"], labels=labels, weights="quadratic")
    lin = cohen_kappa(case["a"], case["b"], labels=labels, weights="linear")
    assert quad.estimate == pytest.approx(case["weighted_quadratic"], abs=TOL)
    assert lin.estimate == pytest.approx(case["weighted_linear"], abs=TOL)


@pytest.mark.parametrize("case", COHEN[1:], ids=_ids(COHEN[1:]))
def test_weighted_kappa_variance_differs_from_psych_as_documented(case: dict) -> None:
    """psych 2.2.9 uses p_j. sum_k w_jk for wbar_.j; radval the 1969 paper's sum_i p_i. w_ij.

    Re-deriving psych's number from its formula shows the difference is that term
    alone (the unweighted variance, where both agree, is checked above).
    """
    q = case["q"]
    labels = list(range(1, q + 1))
    table = np.zeros((q, q))
    np.add.at(table, (np.asarray(case["a"]) - 1, np.asarray(case["b"]) - 1), 1.0)
    n = table.sum()
    p = table / n
    rs, cs = p.sum(axis=1), p.sum(axis=0)
    pos = np.arange(q)
    w = 1.0 - (pos[:, None] - pos[None, :]) ** 2 / (q - 1) ** 2
    po, pe = float(np.sum(w * p)), float(rs @ w @ cs)
    colw = w.T @ cs  # psych: colSums(w * cs)
    roww = rs * w.sum(axis=1)  # psych: rowSums(w * rs)
    psych_var = (
        np.sum(p * (w * (1 - pe) - (colw[:, None] + roww[None, :]) * (1 - po)) ** 2)
        - (po * pe - 2 * pe + po) ** 2
    ) / (n * (1 - pe) ** 4)
    assert psych_var == pytest.approx(case["var_weighted_quadratic_psych"], abs=TOL)
    ours = cohen_kappa(case["a"], case["b"], labels=labels, weights="quadratic")
    assert ours.method == "fleiss_cohen_everitt_1969"
    assert ours.se is not None and ours.se > 0


# --- several raters: irrCAC (Gwet) and irr --------------------------------------------

MULTI = r_cases("multi")


@pytest.mark.parametrize("case", MULTI, ids=_ids(MULTI))
def test_fleiss_ac1_and_percent_agreement_match_irrcac(case: dict) -> None:
    df = tidy(case["ratings"])
    level = case["confidence_level"]
    fk = fleiss_kappa(df, confidence_level=level)
    assert fk.estimate == pytest.approx(case["fleiss"], abs=TOL)
    assert fk.se == pytest.approx(case["fleiss_se"], abs=TOL)
    # irrCAC caps the upper bound at 1 and prints 15 significant digits
    assert (fk.ci_low, fk.ci_high) == pytest.approx(tuple(case["fleiss_ci"]), abs=TOL)
    ac = gwet_ac1(df, confidence_level=level)
    assert ac.estimate == pytest.approx(case["ac1"], abs=TOL)
    assert ac.se == pytest.approx(case["ac1_se"], abs=TOL)
    assert (ac.ci_low, ac.ci_high) == pytest.approx(tuple(case["ac1_ci"]), abs=TOL)
    pa = percent_agreement(df, definition="pairwise", confidence_level=level)
    assert pa.estimate == pytest.approx(case["pa"], abs=TOL)
    assert pa.se == pytest.approx(case["pa_se"], abs=TOL)
    assert pa.ci_low == pytest.approx(max(0.0, case["pa_ci"][0]), abs=TOL)
    assert pa.ci_high == pytest.approx(min(1.0, case["pa_ci"][1]), abs=TOL)
    if "irr_kappa" in case:  # complete data: Fleiss (1971) and the FNL (1979) z
        assert fk.estimate == pytest.approx(case["irr_kappa"], abs=TOL)
        assert fk.extra["z"] == pytest.approx(case["irr_z"], abs=1e-8)
        assert fk.extra["raters_per_case"] == "constant"
    else:
        assert fk.extra["raters_per_case"] == "varying"
        assert fk.extra["z"] is None


def _alpha_by_coincidences(matrix: list, level: str, *, irr_divisor: bool) -> float:
    """Krippendorff (2011) by the book: coincidence matrix, then 1 - D_o / D_e.

    ``irr_divisor=True`` reproduces irr 0.84.1, which divides a unit's pairs by
    ``m_u - 1`` only when the data hold a missing value and by 1 otherwise.
    """
    m = np.array([[np.nan if v is None else v for v in row] for row in matrix], float)
    values = np.unique(m[~np.isnan(m)])
    idx = {v: i for i, v in enumerate(values)}
    o = np.zeros((values.size, values.size))
    has_missing = bool(np.isnan(m).any())
    for row in m:
        vals = row[~np.isnan(row)]
        if vals.size < 2:
            continue
        div = (vals.size - 1) if (has_missing or not irr_divisor) else 1
        for i in range(vals.size):
            for j in range(vals.size):
                if i != j:
                    o[idx[vals[i]], idx[vals[j]]] += 1.0 / div
    nc = o.sum(axis=1)
    n = nc.sum()
    d2 = np.zeros_like(o)
    for c in range(values.size):
        for k in range(values.size):
            if level == "nominal":
                d2[c, k] = float(c != k)
            elif level == "ordinal":
                lo, hi = min(c, k), max(c, k)
                d2[c, k] = (nc[lo : hi + 1].sum() - (nc[c] + nc[k]) / 2) ** 2
            elif level == "interval":
                d2[c, k] = (values[c] - values[k]) ** 2
            else:
                d2[c, k] = ((values[c] - values[k]) / (values[c] + values[k])) ** 2
    return float(1.0 - (n - 1.0) * np.sum(o * d2) / np.sum(np.outer(nc, nc) * d2))


@pytest.mark.parametrize("case", MULTI, ids=_ids(MULTI))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_alpha_against_irr_and_the_coincidence_matrix(case: dict, level: str) -> None:
    """irr agrees where its coincidence matrix is right (missing data, or 2 raters).

    With complete data and more than two raters irr 0.84.1 forgets to divide a unit's
    pairs by m_u - 1 (``mc <- rep(1, ...)`` in ``coincidence.matrix``); the by-the-book
    twin with that slip reproduces irr there, and without it reproduces radval.
    """
    df = tidy(case["ratings"])
    a = krippendorff_alpha(df, level=level, n_resamples=50, rng=1)
    assert a.estimate == pytest.approx(
        _alpha_by_coincidences(case["ratings"], level, irr_divisor=False), abs=TOL
    )
    assert _alpha_by_coincidences(case["ratings"], level, irr_divisor=True) == pytest.approx(
        case[f"irr_alpha_{level}"], abs=TOL
    )
    complete = all(v is not None for row in case["ratings"] for v in row)
    if not complete or len(case["ratings"][0]) == 2:
        assert a.estimate == pytest.approx(case[f"irr_alpha_{level}"], abs=TOL)


# --- ICC: psych::ICC ----------------------------------------------------------------

ICC_CASES = r_cases("icc")


@pytest.mark.parametrize("case", ICC_CASES, ids=_ids(ICC_CASES))
def test_icc_matches_psych(case: dict) -> None:
    x = np.asarray(case["x"], dtype=float)
    assert case["forms"] == list(ICC_FORMS)
    for i, form in enumerate(case["forms"]):
        e = icc(x, form=form, confidence_level=case["confidence_level"])
        assert e.estimate == pytest.approx(case["icc"][i], abs=TOL), form
        assert e.extra["F"] == pytest.approx(case["F"][i], rel=TOL), form
        assert (e.extra["df1"], e.extra["df2"]) == (case["df1"][i], case["df2"][i])
        assert e.extra["p_value"] == pytest.approx(case["p"][i], abs=TOL), form
        assert e.ci_low == pytest.approx(case["lower"][i], abs=TOL), form
        assert e.ci_high == pytest.approx(case["upper"][i], abs=TOL), form


def test_icc_tidy_input_equals_matrix_input() -> None:
    case = ICC_CASES[1]
    x = np.asarray(case["x"], dtype=float)
    df = tidy(x.tolist(), label="value")
    for form in ICC_FORMS:
        a, b = icc(df, form=form), icc(x, form=form)  # the pivot sorts cases: rounding only
        assert (a.estimate, a.ci_low, a.ci_high) == pytest.approx(
            (b.estimate, b.ci_low, b.ci_high), abs=1e-13
        )
        assert (a.method, a.n, a.extra["form"]) == (b.method, b.n, b.extra["form"])


# --- Lin's CCC and the repeated-measures limits: epiR ---------------------------------

CCC = r_cases("ccc")


@pytest.mark.parametrize("case", CCC, ids=_ids(CCC))
def test_lins_ccc_matches_epir(case: dict) -> None:
    e = lins_ccc(case["x"], case["y"], confidence_level=case["confidence_level"])
    assert e.estimate == pytest.approx(case["est"], abs=TOL)
    assert (e.ci_low, e.ci_high) == pytest.approx((case["lower"], case["upper"]), abs=TOL)
    # epiR's s.shift is sd(y)/sd(x) and l.shift (ybar - xbar)/(sx sy)^(1/2): y vs x roles
    assert e.extra["scale_shift"] == pytest.approx(1.0 / case["s_shift"], rel=TOL)
    assert e.extra["location_shift"] == pytest.approx(-case["l_shift"], abs=TOL)
    assert e.extra["bias_correction"] == pytest.approx(case["C_b"], abs=TOL)


BA_REP = r_cases("ba_repeated")


@pytest.mark.parametrize("case", BA_REP, ids=_ids(BA_REP))
def test_repeated_measures_limits_match_epir(case: dict) -> None:
    level = case["confidence_level"]
    ba = bland_altman(case["x"], case["y"], repeated=case["subject"], loa_coverage=level)
    assert ba.bias.estimate == pytest.approx(case["bias"], abs=TOL)
    assert ba.sd == pytest.approx(case["sd"], abs=TOL)
    assert ba.loa_low.estimate == pytest.approx(case["lower"], abs=TOL)
    assert ba.loa_high.estimate == pytest.approx(case["upper"], abs=TOL)
    assert ba.n_subjects == len(set(case["subject"]))
    assert ba.method == "mover_graybill_wang"


# --- Bland-Altman with one pair per subject: base R -----------------------------------

BA = r_cases("ba")


@pytest.mark.parametrize("case", BA, ids=_ids(BA))
def test_bland_altman_exact_and_approximate_match_r(case: dict) -> None:
    kw = {"confidence_level": case["confidence_level"], "loa_coverage": case["loa_coverage"]}
    ex = bland_altman(case["measured"], case["reference"], method="exact", **kw)
    ap = bland_altman(case["measured"], case["reference"], method="approximate", **kw)
    for ba in (ex, ap):
        assert ba.bias.estimate == pytest.approx(case["bias"], abs=TOL)
        assert ba.sd == pytest.approx(case["sd"], abs=TOL)
        assert (ba.bias.ci_low, ba.bias.ci_high) == pytest.approx(tuple(case["bias_ci"]), abs=TOL)
        pb = ba.proportional_bias
        assert pb is not None
        assert pb.estimate == pytest.approx(case["slope"], abs=TOL)
        assert (pb.ci_low, pb.ci_high) == pytest.approx(tuple(case["slope_ci"]), abs=TOL)
        assert pb.p_value == pytest.approx(case["slope_p"], abs=TOL)
    assert (ap.loa_low.ci_low, ap.loa_low.ci_high) == pytest.approx(
        tuple(case["approx_low_ci"]), abs=TOL
    )
    assert (ap.loa_high.ci_low, ap.loa_high.ci_high) == pytest.approx(
        tuple(case["approx_high_ci"]), abs=TOL
    )
    # R's qt(ncp = ) warns that it may not reach full precision (its pnt); scipy's
    # non-central t is checked to 1e-10 against an mpmath twin in the twin tests.
    scale = case["sd"]
    assert (ex.loa_low.ci_low, ex.loa_low.ci_high) == pytest.approx(
        tuple(case["exact_low_ci"]), abs=1e-6 * scale
    )
    assert (ex.loa_high.ci_low, ex.loa_high.ci_high) == pytest.approx(
        tuple(case["exact_high_ci"]), abs=1e-6 * scale
    )


# --- repeatability coefficient: aov + qchisq ---------------------------------------------

RC = r_cases("rc")


@pytest.mark.parametrize("case", RC, ids=_ids(RC))
def test_repeatability_coefficient_matches_r(case: dict) -> None:
    df = pd.DataFrame({"subject": case["subject"], "value": case["value"]})
    e = repeatability_coefficient(df, confidence_level=case["confidence_level"])
    assert e.extra["wsd"] == pytest.approx(case["wsd"], abs=TOL)
    assert e.extra["df"] == case["df"]
    assert e.estimate == pytest.approx(case["rc"], abs=TOL)
    assert (e.ci_low, e.ci_high) == pytest.approx(tuple(case["rc_ci"]), abs=TOL)
    assert e.extra["n_subjects_single"] == 1
    assert e.extra["multiplier"] == pytest.approx(-special.ndtri(0.025) * math.sqrt(2.0), abs=1e-15)

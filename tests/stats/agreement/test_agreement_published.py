"""Published worked examples reproduced (sources in data/README.md).

Bland & Altman (1986) PEFR data; Fleiss (1971) psychiatric diagnoses; Landis & Koch
(1977) multiple sclerosis data; Shrout & Fleiss (1979) ICC example; Krippendorff's
(2011) reliability-data example; the Deming (Analyse-it) and Passing-Bablok (Calanas)
reference results stored with R's mcr. Published numbers are rounded; each is checked
to its printed precision, and the same data are checked against R to 1e-9 where R has
the method.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from agreement_support import DATA, pefr, r_cases, tidy
from scipy import special, stats

from validation.errors import UndefinedMetricError
from validation.stats.agreement import (
    ICC_FORMS,
    bland_altman,
    cohen_kappa,
    deming_regression,
    fleiss_kappa,
    gwet_ac1,
    icc,
    krippendorff_alpha,
    passing_bablok,
)
from validation.stats.agreement.regression import _wrapped_slopes

TOL = 1e-9


# --- Bland & Altman (1986) ------------------------------------------------------------


def test_bland_altman_1986_pefr_bias_sd_and_two_sd_limits() -> None:
    d = pefr()
    ba = bland_altman(d["wright_1"], d["mini_1"])
    assert len(d) == 17
    assert round(ba.bias.estimate, 1) == -2.1
    assert round(ba.sd, 1) == 38.8
    # the paper's limits are mean -+ 2 SD from the rounded mean and SD
    assert round(-2.1 - 2 * 38.8, 1) == -79.7
    assert round(-2.1 + 2 * 38.8, 1) == 75.5
    assert round(ba.bias.estimate - 2 * ba.sd, 1) == -79.6  # unrounded inputs
    assert round(ba.bias.estimate + 2 * ba.sd, 1) == 75.4
    # radval's limits use z = 1.959964 (loa_coverage=0.95)
    z = -special.ndtri(0.025)
    assert ba.loa_low.estimate == pytest.approx(ba.bias.estimate - z * ba.sd, abs=1e-12)
    assert ba.n == 17 and ba.method == "exact_carkeet_2015"


def test_bland_altman_1986_pefr_confidence_intervals() -> None:
    d = pefr()
    ba = bland_altman(d["wright_1"], d["mini_1"], method="approximate")
    # bias: -2.1 +- 2.12 x 9.4 = -22.0 to 17.8 (paper)
    assert round(ba.bias.se, 1) == 9.4
    assert (round(ba.bias.ci_low, 1), round(ba.bias.ci_high, 1)) == (-22.0, 17.8)
    # the paper's limit intervals: SE sqrt(3 s^2 / n) = 16.3 around mean -+ 2 s, t_16
    n, s, b = 17, ba.sd, ba.bias.estimate
    se = math.sqrt(3 * s * s / n)
    t = stats.t.ppf(0.975, n - 1)
    assert round(se, 1) == 16.3 and round(t, 2) == 2.12
    lo, hi = b - 2 * s, b + 2 * s
    assert (round(lo - t * se, 1), round(lo + t * se, 1)) == (-114.2, -45.1)
    assert (round(hi - t * se, 1), round(hi + t * se, 1)) == (40.9, 109.9)
    # (the paper, from the rounded -79.7 and 75.5: -114.3 to -45.1 and 40.9 to 110.1)
    assert (round(-79.7 - 2.12 * 16.3, 1), round(75.5 + 2.12 * 16.3, 1)) == (-114.3, 110.1)
    # Bland & Altman (1999) refine sqrt(3/n) to sqrt(1/n + z^2 / (2 (n - 1))): radval's
    # approximate method; the exact one of Carkeet (2015) is a little wider here
    assert ba.extra["se_loa"] == pytest.approx(s * math.sqrt(1 / n + 1.959964**2 / 32), rel=1e-6)
    ex = bland_altman(d["wright_1"], d["mini_1"], method="exact")
    assert ex.loa_low.ci_low < ba.loa_low.ci_low
    assert ex.loa_high.ci_high > ba.loa_high.ci_high


def test_bland_altman_1986_pefr_repeated_readings() -> None:
    """Both readings of each meter: two pairs per subject (Bland & Altman 2007 design)."""
    d = pefr()
    meas = np.concatenate([d["wright_1"], d["wright_2"]])
    ref = np.concatenate([d["mini_1"], d["mini_2"]])
    subj = np.concatenate([d["subject"], d["subject"]])
    ba = bland_altman(meas, ref, repeated=subj, n_resamples=500, rng=7)
    diff = meas - ref
    assert ba.bias.estimate == pytest.approx(diff.mean(), abs=1e-12)
    assert ba.n == 34 and ba.n_subjects == 17
    # balanced design: sigma^2 = MS_b / 2 + MS_w / 2 (m0 = 2)
    dm = diff.reshape(2, 17).mean(axis=0)
    msb = 2 * np.sum((dm - diff.mean()) ** 2) / 16
    msw = np.sum((diff.reshape(2, 17) - dm) ** 2) / 17
    assert ba.sd**2 == pytest.approx(msb / 2 + msw / 2, rel=1e-12)
    assert ba.loa_low.ci_low < ba.loa_low.estimate < ba.loa_low.ci_high


# --- Fleiss (1971) ----------------------------------------------------------------------


def _diagnoses() -> pd.DataFrame:
    wide = pd.read_csv(DATA / "fleiss_1971_diagnoses.csv")
    return tidy(wide.to_numpy().tolist())


def test_fleiss_1971_kappa_and_category_kappas() -> None:
    k = fleiss_kappa(_diagnoses())
    assert round(k.estimate, 3) == 0.430
    assert k.n == 30 and k.extra["n_raters"] == 6
    assert k.extra["categories"] == [
        "1. Depression",
        "2. Personality Disorder",
        "3. Schizophrenia",
        "4. Neurosis",
        "5. Other",
    ]
    assert [round(v, 3) for v in k.extra["per_category"]] == [0.245, 0.245, 0.520, 0.471, 0.566]


def test_fleiss_1971_matches_irr_and_irrcac() -> None:
    (case,) = r_cases("fleiss1971")
    k = fleiss_kappa(_diagnoses())
    assert k.estimate == pytest.approx(case["kappa"], abs=TOL)
    assert k.extra["z"] == pytest.approx(case["z"], abs=1e-8)  # Fleiss-Nee-Landis 1979
    assert k.extra["per_category"] == pytest.approx(case["per_category"], abs=TOL)
    assert k.se == pytest.approx(case["fleiss_se"], abs=TOL)
    assert (k.ci_low, k.ci_high) == pytest.approx(tuple(case["fleiss_ci"]), abs=TOL)
    ac = gwet_ac1(_diagnoses())
    assert ac.estimate == pytest.approx(case["ac1"], abs=TOL)
    assert (ac.ci_low, ac.ci_high) == pytest.approx(tuple(case["ac1_ci"]), abs=TOL)


# --- Landis & Koch (1977) -----------------------------------------------------------------


@pytest.mark.parametrize(("patients", "published"), [("Winnipeg", 0.208), ("New Orleans", 0.297)])
def test_landis_koch_1977_multiple_sclerosis_kappa(patients: str, published: float) -> None:
    tab = pd.read_csv(DATA / "landis_koch_1977_ms_patients.csv")
    tab = tab[tab["patients"] == patients]
    order = ["Certain", "Probable", "Possible", "Doubtful"]
    a = np.repeat(tab["new_orleans_neurologist"].to_numpy(), tab["count"].to_numpy())
    b = np.repeat(tab["winnipeg_neurologist"].to_numpy(), tab["count"].to_numpy())
    k = cohen_kappa(a, b, labels=order)
    assert round(k.estimate, 3) == published
    (case,) = [c for c in r_cases("landis_koch") if c["patients"] == patients]
    assert k.estimate == pytest.approx(case["kappa"], abs=TOL)
    assert k.se**2 == pytest.approx(case["var_kappa"], abs=TOL)
    assert (k.ci_low, k.ci_high) == pytest.approx(tuple(case["ci"]), abs=TOL)
    kw = cohen_kappa(a, b, labels=order, weights="quadratic")
    assert kw.estimate == pytest.approx(case["weighted_quadratic"], abs=TOL)
    # Landis & Koch's benchmarks: 0.21-0.40 "fair"; 0.208 is at the top of "slight"
    assert k.n == int(tab["count"].sum())


# --- Shrout & Fleiss (1979) -------------------------------------------------------------------


def test_shrout_fleiss_1979_table_4() -> None:
    x = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
        dtype=float,
    )
    published = dict(zip(ICC_FORMS, [0.17, 0.29, 0.71, 0.44, 0.62, 0.91], strict=True))
    (case,) = [c for c in r_cases("icc") if c["id"] == "icc_shrout_fleiss_1979"]
    for i, form in enumerate(ICC_FORMS):
        e = icc(x, form=form)
        assert round(e.estimate, 2) == published[form], form
        assert e.estimate == pytest.approx(case["icc"][i], abs=TOL)
        assert (e.ci_low, e.ci_high) == pytest.approx((case["lower"][i], case["upper"][i]), abs=TOL)


# --- Krippendorff (2011) ----------------------------------------------------------------------


def test_krippendorff_2011_reliability_data_example() -> None:
    """4 observers x 12 units with missing values; alphas .743/.815/.849/.797."""
    nan = None
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
    df = tidy(np.array(data, dtype=object).T.tolist())
    got = {
        lev: krippendorff_alpha(df, level=lev, n_resamples=100, rng=0)
        for lev in ("nominal", "ordinal", "interval", "ratio")
    }
    assert {k: round(v.estimate, 3) for k, v in got.items()} == {
        "nominal": 0.743,
        "ordinal": 0.815,
        "interval": 0.849,
        "ratio": 0.797,
    }
    nominal = got["nominal"]
    assert nominal.n == 11  # unit 12 has a single value
    assert nominal.extra["n_pairable_values"] == 40
    assert nominal.extra["n_cases_single_rating"] == 1


# --- mcr test cases: Deming (Analyse-it) and Passing-Bablok (Calanas) --------------------

MCR = json.loads((DATA / "mcr_testcases.json").read_text())["cases"]
DEMING = [(c, a) for c in MCR for a in c["algorithms"] if a["method"] == "Deming"]


@pytest.mark.parametrize(
    ("case", "algo"), DEMING, ids=[f"{c['id']}-{a['name']}" for c, a in DEMING]
)
def test_deming_jackknife_matches_analyse_it(case: dict, algo: dict) -> None:
    fit = deming_regression(case["y"], case["x"], error_ratio=algo["error_ratio"])
    got = [
        fit.intercept.estimate,
        fit.intercept.ci_low,
        fit.intercept.ci_high,
        fit.slope.estimate,
        fit.slope.ci_low,
        fit.slope.ci_high,
    ]
    ref = [algo[k] for k in ("Intercept", "InterceptL", "InterceptU", "Slope", "SlopeL", "SlopeU")]
    # mcr checks these with the relative precision stored in the case (1e-6 .. 1e-4)
    assert got == pytest.approx(ref, rel=case["precision"])


PB = [(c, a) for c in MCR for a in c["algorithms"] if a["method"] == "PaBa"]


@pytest.mark.parametrize(("case", "algo"), PB, ids=[c["id"] for c, _ in PB])
def test_passing_bablok_against_calanas(case: dict, algo: dict) -> None:
    x, y = np.asarray(case["x"]), np.asarray(case["y"])
    if stats.kendalltau(x, y).statistic <= 0:  # mcr switches to a negative-slope variant
        with pytest.raises(UndefinedMetricError, match="assumes a positive relation"):
            passing_bablok(y, x)
        return
    fit = passing_bablok(y, x)
    assert fit.slope.estimate == pytest.approx(algo["Slope"], rel=1e-6)
    assert fit.intercept.estimate == pytest.approx(algo["Intercept"], rel=1e-5, abs=1e-6)
    # Calanas (and mcr) put the bounds at positions (N -+ C + 1)/2, about one rank inside
    # Passing & Bablok's M1 = round((N - C)/2) and M2 = N - M1 + 1 (see passing_bablok)
    slopes, _, _, _ = _wrapped_slopes(x, y)
    m1, m2 = fit.extra["rank_low"], fit.extra["rank_high"]
    assert fit.slope.ci_low == slopes[m1 - 1] and fit.slope.ci_high == slopes[m2 - 1]
    if fit.extra["n_slopes"] % 2:  # Calanas' bound is a single order statistic
        assert algo["SlopeL"] == pytest.approx(slopes[m1], rel=1e-6)
        assert algo["SlopeU"] == pytest.approx(slopes[m2 - 2], rel=1e-6)
    else:  # N even: the mean angle of two neighbours (mcr's "radian" averaging)
        lo = math.tan((math.atan(slopes[m1 - 1]) + math.atan(slopes[m1])) / 2)
        assert algo["SlopeL"] == pytest.approx(lo, rel=1e-6)
    assert fit.slope.ci_low < algo["SlopeL"] < fit.slope.estimate < algo["SlopeU"]
    assert algo["SlopeU"] <= fit.slope.ci_high

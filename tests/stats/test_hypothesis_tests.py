"""Tests of validation.stats.hypothesis (McNemar, paired differences, goal and NI tests).

References: R 4.2.2 ``mcnemar.test``/``binom.test`` through ``rref_cases`` (categories
``mcnemar`` and ``roc_paired``'s paired decisions); the Cavo et al. (2012) paired
table as worked in Fagerland, Lydersen & Laake (2014, Stat Med 33:2850) and the R
package contingencytables (its tests/testthat/test-ch8.R prints 4 decimals); R
PropCIs ``diffscoreci(7, 34, 1, 34, 0.95)`` = (0.0270416, 0.3452912) as recorded
in statsmodels' test_proportion.py. Twins: score statistics with the restricted
MLE found numerically, exact binomial sums written out, statsmodels where it is
right.
"""

from __future__ import annotations

import doctest
import math
import re
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rref import rref_cases
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportions_ztest
from statsmodels.stats.proportion import test_proportions_2indep as sm_test_2indep

from validation.errors import UndefinedMetricError
from validation.stats import hypothesis as hyp_mod
from validation.stats.hypothesis import (
    _fm_z,
    _score_bounds,
    mcnemar,
    paired_noninferiority,
    paired_proportion_difference,
    proportion_test,
    unpaired_noninferiority,
)
from validation.stats.proportions import proportion_ci

TOL = 1e-9


def _pairs(n11: int, n10: int, n01: int, n00: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * n11 + [1] * n10 + [0] * n01 + [0] * n00)
    b = np.array([1] * n11 + [0] * n10 + [1] * n01 + [0] * n00)
    return a, b


def _is_nan(v: object) -> bool:
    return v == "NaN" or (isinstance(v, float) and math.isnan(v))


def _check_mcnemar_block(a: np.ndarray, b: np.ndarray, exp: dict) -> None:
    for method, key in (("asymptotic", "mcnemar_no_cc"), ("asymptotic_cc", "mcnemar_cc")):
        ref = exp[key]
        if _is_nan(ref["statistic"]):
            with pytest.raises(UndefinedMetricError, match="no discordant pairs"):
                mcnemar(a, b, method=method)
            continue
        r = mcnemar(a, b, method=method)
        assert r.statistic == pytest.approx(ref["statistic"], abs=TOL)
        assert r.p_value == pytest.approx(ref["p_value"], abs=TOL)
        assert r.df == ref["df"] == 1
    for method in ("exact", "mid_p"):
        r = mcnemar(a, b, method=method)
        assert r.p_value == pytest.approx(exp[method]["p_value"], abs=TOL)
    r = mcnemar(a, b)
    assert r.estimate == pytest.approx(exp["difference_A_minus_B"], abs=1e-15)
    for level_key in ("0.95", "0.9"):  # R harness: Wald CI of the paired difference (formula)
        w = paired_proportion_difference(a, b, method="wald", confidence_level=float(level_key))
        assert (w.ci_low, w.ci_high) == pytest.approx(exp["difference_wald_ci"][level_key], abs=TOL)
    assert (r.extra["n11"], r.extra["n10"], r.extra["n01"], r.extra["n00"]) == (
        exp["n11"],
        exp["n10"],
        exp["n01"],
        exp["n00"],
    )


MCNEMAR = rref_cases("mcnemar")


@pytest.mark.parametrize("case", MCNEMAR, ids=[c["id"] for c in MCNEMAR])
def test_mcnemar_matches_r(case: dict) -> None:
    job = case["job"]
    if "a" in job:
        a, b = np.asarray(job["a"]), np.asarray(job["b"])
    else:
        a, b = _pairs(job["n11"], job["n10"], job["n01"], job["n00"])
    _check_mcnemar_block(a, b, case["expected"])


PAIRED = [c for c in rref_cases("roc_paired") if "paired_decisions" in c["expected"]]


@pytest.mark.parametrize("case", PAIRED, ids=[c["id"] for c in PAIRED])
def test_mcnemar_matches_r_on_paired_decisions(case: dict) -> None:
    """Sensitivity (cases) and specificity (controls) comparisons at fixed thresholds."""
    truth = np.asarray(case["job"]["truth"], dtype=float).astype(int)
    s1 = np.asarray(case["job"]["score1"], dtype=float)
    s2 = np.asarray(case["job"]["score2"], dtype=float)
    for block in case["expected"]["paired_decisions"]:
        d1 = (s1 >= block["threshold1"]).astype(int)
        d2 = (s2 >= block["threshold2"]).astype(int)
        cases, controls = truth == 1, truth == 0
        _check_mcnemar_block(d1[cases], d2[cases], block["sensitivity_comparison_cases"])
        _check_mcnemar_block(
            1 - d1[controls], 1 - d2[controls], block["specificity_comparison_controls"]
        )


# Cavo et al. (2012) table [[59, 6], [16, 80]] (a = before, b = after); values printed
# to 4 (mid-p: 6) decimals by R contingencytables (Fagerland, Lydersen & Laake 2017).
CAVO = _pairs(59, 6, 16, 80)


def test_cavo_reference_values() -> None:
    a, b = CAVO
    newc = paired_proportion_difference(a, b, method="newcombe")
    assert round(newc.difference, 4) == -0.0621
    assert (round(newc.ci_low, 4), round(newc.ci_high, 4)) == (-0.1186, -0.0046)
    tango = paired_proportion_difference(a, b, method="tango")
    assert (round(tango.ci_low, 4), round(tango.ci_high, 4)) == (-0.1240, -0.0054)
    assert round(mcnemar(a, b, method="mid_p").p_value, 6) == 0.034690


# --------------------------------------------------------------------------- McNemar twins


def _binom_exact_two_sided(k: int, n: int) -> float:
    """R binom.test(k, n, 0.5) p-value: sum of outcomes no more likely than k."""
    pmf = [math.comb(n, i) * 0.5**n for i in range(n + 1)]
    return min(1.0, sum(p for p in pmf if p <= pmf[k] * (1 + 1e-7)))


disc = st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))


@settings(max_examples=150, deadline=None)
@given(t=disc)
def test_mcnemar_matches_twins(t: tuple[int, int, int, int]) -> None:
    n11, n10, n01, n00 = t
    assume(sum(t) > 0)
    a, b = _pairs(*t)
    nd = n10 + n01
    if nd == 0:
        assert mcnemar(a, b, method="exact").p_value == 1.0
        assert mcnemar(a, b, method="mid_p").p_value == 1.0
        return
    assert mcnemar(a, b, method="exact").p_value == pytest.approx(
        _binom_exact_two_sided(n10, nd), abs=1e-12
    )
    k = min(n10, n01)
    mid = sum(math.comb(nd, i) for i in range(k)) * 0.5**nd * 2 + math.comb(nd, k) * 0.5**nd
    assert mcnemar(a, b, method="mid_p").p_value == pytest.approx(min(1.0, mid), abs=1e-12)
    table = [[n11, n10], [n01, n00]]
    sm = sm_mcnemar(table, exact=False, correction=False)
    r = mcnemar(a, b, method="asymptotic")
    assert (r.statistic, r.p_value) == pytest.approx((sm.statistic, sm.pvalue), abs=1e-12)
    if n10 != n01:  # statsmodels corrects b == c too (statistic 1/(b+c)); R and we do not
        sm = sm_mcnemar(table, exact=False, correction=True)
        r = mcnemar(a, b, method="asymptotic_cc")
        assert (r.statistic, r.p_value) == pytest.approx((sm.statistic, sm.pvalue), abs=1e-12)


# --------------------------------------------------------------------------- Tango twin


def _tango_twin(n10: int, n01: int, n: int, d0: float) -> float:
    """Score statistic with the restricted MLE by numerical maximisation.

    Under H0 p10 = p01 + d0; Var(n10 - n01) = n (p10 + p01 - d0^2).
    """
    rest = n - n10 - n01
    lo, hi = max(0.0, -d0), (1.0 - d0) / 2.0

    def nll(q: float) -> float:
        p10, p01 = q + d0, q
        v = 0.0
        for cnt, pr in ((n10, p10), (n01, p01), (rest, 1.0 - p10 - p01)):
            if cnt:
                v -= cnt * math.log(max(pr, 1e-300))
        return v

    q = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    q = min((lo, hi, q), key=nll)  # the maximum may sit on the boundary
    var = n * ((q + d0) + q - d0 * d0)
    return (n10 - n01 - n * d0) / math.sqrt(var)


@settings(max_examples=60, deadline=None)
@given(t=disc, level=st.sampled_from([0.9, 0.95, 0.99]))
def test_tango_interval_matches_numerical_mle_twin(
    t: tuple[int, int, int, int], level: float
) -> None:
    n11, n10, n01, n00 = t
    n = sum(t)
    assume(n > 0 and n10 + n01 > 0)
    a, b = _pairs(*t)
    c = paired_proportion_difference(a, b, method="tango", confidence_level=level)
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    assert -1.0 <= c.ci_low <= c.difference <= c.ci_high <= 1.0
    if c.ci_low > -1.0 + 1e-9:
        assert _tango_twin(n10, n01, n, c.ci_low) == pytest.approx(z, abs=1e-5)
    if c.ci_high < 1.0 - 1e-9:
        assert _tango_twin(n10, n01, n, c.ci_high) == pytest.approx(-z, abs=1e-5)
    # at delta0 = 0 the score test is McNemar's uncorrected test
    assert c.statistic**2 == pytest.approx(mcnemar(a, b, method="asymptotic").statistic, rel=1e-12)
    assert c.p_value == pytest.approx(mcnemar(a, b, method="asymptotic").p_value, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(t=disc, level=st.sampled_from([0.9, 0.95, 0.99]))
def test_newcombe_interval_properties(t: tuple[int, int, int, int], level: float) -> None:
    assume(sum(t) > 0)
    a, b = _pairs(*t)
    c = paired_proportion_difference(a, b, method="newcombe", confidence_level=level)
    assert -1.0 <= c.ci_low <= c.difference <= c.ci_high <= 1.0
    assert c.statistic is None and c.p_value is None
    # swapping a and b mirrors the interval
    m = paired_proportion_difference(b, a, method="newcombe", confidence_level=level)
    assert (m.ci_low, m.ci_high) == pytest.approx((-c.ci_high, -c.ci_low), abs=1e-12)
    # a wider level gives a wider interval
    w = paired_proportion_difference(
        a, b, method="newcombe", confidence_level=min(0.999, level + 0.04)
    )
    assert w.ci_low <= c.ci_low + 1e-12 and w.ci_high >= c.ci_high - 1e-12


# --------------------------------------------------------------------------- goal tests


def _exact_p(x: int, n: int, p0: float, alternative: str) -> float:
    pmf = [math.comb(n, i) * p0**i * (1 - p0) ** (n - i) for i in range(n + 1)]
    if alternative == "greater":
        return min(1.0, sum(pmf[x:]))
    if alternative == "less":
        return min(1.0, sum(pmf[: x + 1]))
    return min(1.0, sum(p for p in pmf if p <= pmf[x] * (1 + 1e-7)))


goal_inputs = st.integers(1, 120).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=150, deadline=None)
@given(
    xn=goal_inputs,
    p0=st.sampled_from([0.05, 0.5, 0.7, 0.8, 0.9, 0.95]),
    alt=st.sampled_from(["greater", "less", "two-sided"]),
    level=st.sampled_from([0.9, 0.95, 0.975]),
)
def test_proportion_test_matches_twins(
    xn: tuple[int, int], p0: float, alt: str, level: float
) -> None:
    x, n = xn
    r = proportion_test(
        x, n, null_value=p0, alternative=alt, method="exact", confidence_level=level
    )
    assert r.p_value == pytest.approx(_exact_p(x, n, p0, alt), abs=1e-10)
    assert r.estimate == x / n and r.null_value == p0 and r.statistic == x
    a = (1 - level) / 2  # one-sided alpha whose dual bound is the two-sided interval's
    cp = proportion_ci(x, n, method="clopper_pearson", confidence_level=level)
    assert (r.ci_low, r.ci_high) == (cp.ci_low, cp.ci_high)
    assert r.ci_low == (0.0 if x == 0 else pytest.approx(sps.beta.ppf(a, x, n - x + 1), abs=1e-10))
    if alt == "greater" and abs(r.p_value - a) > 1e-9 and abs(r.ci_low - p0) > 1e-9:
        # the one-sided exact test at alpha and the (1 - 2 alpha) Clopper-Pearson bound agree
        assert (r.p_value < a) == (r.ci_low > p0)
    s = proportion_test(
        x, n, null_value=p0, alternative=alt, method="score", confidence_level=level
    )
    sm_alt = {"greater": "larger", "less": "smaller", "two-sided": "two-sided"}[alt]
    zstat, pval = proportions_ztest(x, n, value=p0, alternative=sm_alt, prop_var=p0)
    assert (s.statistic, s.p_value) == pytest.approx((zstat, pval), abs=1e-12)
    # the score test and the Wilson interval are dual
    crit = 2 * a if alt == "two-sided" else a
    if abs(s.p_value - crit) > 1e-9:
        outside = {
            "greater": s.ci_low > p0,
            "less": s.ci_high < p0,
            "two-sided": s.ci_low > p0 or s.ci_high < p0,
        }[alt]
        assert (s.p_value < crit) == outside


# --------------------------------------------------------------------------- NI tests


@settings(max_examples=60, deadline=None)
@given(
    t=disc,
    margin=st.sampled_from([0.0, 0.05, 0.1, 0.2]),
    alt=st.sampled_from(["greater", "less", "two-sided"]),
)
def test_paired_noninferiority_matches_twin(
    t: tuple[int, int, int, int], margin: float, alt: str
) -> None:
    n11, n10, n01, n00 = t
    n = sum(t)
    assume(n > 0)
    a, b = _pairs(*t)
    if alt == "two-sided" and margin:
        with pytest.raises(ValueError, match="^margin must be 0 with alternative='two-sided'"):
            paired_noninferiority(a, b, margin=margin, alternative=alt)
        return
    r = paired_noninferiority(a, b, margin=margin, alternative=alt, confidence_level=0.9)
    d0 = margin if alt == "less" else -margin
    assert r.extra["null_difference"] == d0
    if n10 - n01 - n * d0 != 0:
        assert r.statistic == pytest.approx(_tango_twin(n10, n01, n, d0), rel=1e-6, abs=1e-6)
    z = r.statistic
    p = {"greater": sps.norm.sf(z), "less": sps.norm.cdf(z), "two-sided": 2 * sps.norm.sf(abs(z))}[
        alt
    ]
    assert r.p_value == pytest.approx(min(1.0, p), abs=1e-12)
    two = paired_proportion_difference(a, b, method="tango", confidence_level=0.9)
    assert (r.ci_low, r.ci_high) == (two.ci_low, two.ci_high)
    if margin == 0.0 and n10 + n01 > 0:
        assert r.statistic**2 == pytest.approx(
            mcnemar(a, b, method="asymptotic").statistic, rel=1e-12
        )
    # one-sided test at 0.05 <-> bound of the two-sided 90% interval
    if alt == "greater" and abs(r.p_value - 0.05) > 1e-6:
        assert (r.p_value < 0.05) == (r.ci_low > d0)
    if alt == "less" and abs(r.p_value - 0.05) > 1e-6:
        assert (r.p_value < 0.05) == (r.ci_high < d0)


def _fm_twin(x1: int, n1: int, x2: int, n2: int, d0: float) -> float:
    lo, hi = max(0.0, -d0), min(1.0, 1.0 - d0)

    def nll(p2: float) -> float:
        p1 = p2 + d0
        v = 0.0
        for cnt, pr in ((x1, p1), (n1 - x1, 1 - p1), (x2, p2), (n2 - x2, 1 - p2)):
            if cnt:
                v -= cnt * math.log(max(pr, 1e-300))
        return v

    p2 = optimize.minimize_scalar(
        nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}
    ).x
    p2 = min((lo, hi, p2), key=nll)  # the maximum may sit on the boundary
    p1 = p2 + d0
    return (x1 / n1 - x2 / n2 - d0) / math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


samples = st.integers(1, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' odds ratio at p = 1
@settings(max_examples=80, deadline=None)
@given(
    s1=samples,
    s2=samples,
    margin=st.sampled_from([0.0, 0.05, 0.1, 0.25]),
    alt=st.sampled_from(["greater", "less", "two-sided"]),
)
def test_unpaired_noninferiority_matches_twin(
    s1: tuple[int, int], s2: tuple[int, int], margin: float, alt: str
) -> None:
    (x1, n1), (x2, n2) = s1, s2
    a = np.array([1] * x1 + [0] * (n1 - x1))
    b = np.array([1] * x2 + [0] * (n2 - x2))
    if alt == "two-sided" and margin:
        with pytest.raises(ValueError, match="^margin must be 0 with alternative='two-sided'"):
            unpaired_noninferiority(a, b, margin=margin, alternative=alt)
        return
    r = unpaired_noninferiority(a, b, margin=margin, alternative=alt, confidence_level=0.9)
    d0 = margin if alt == "less" else -margin
    if x1 / n1 - x2 / n2 - d0 != 0:
        assert r.statistic == pytest.approx(_fm_twin(x1, n1, x2, n2, d0), rel=1e-6, abs=1e-6)
    if margin == 0.0 and 0 < x1 + x2 < n1 + n2:
        # at a null difference of 0 statsmodels' score test is right (pooled estimate)
        sm_alt = {"greater": "larger", "less": "smaller", "two-sided": "two-sided"}[alt]
        sm = sm_test_2indep(
            x1,
            n1,
            x2,
            n2,
            value=0,
            method="score",
            compare="diff",
            alternative=sm_alt,
            correction=False,
        )
        assert (r.statistic, r.p_value) == pytest.approx((sm.statistic, sm.pvalue), abs=1e-10)
    assert -1.0 <= r.ci_low <= r.difference <= r.ci_high <= 1.0
    if alt == "greater" and abs(r.p_value - 0.05) > 1e-6:
        assert (r.p_value < 0.05) == (r.ci_low > d0)
    if alt == "less" and abs(r.p_value - 0.05) > 1e-6:
        assert (r.p_value < 0.05) == (r.ci_high < d0)


def test_farrington_manning_score_interval_matches_propcis() -> None:
    """R PropCIs::diffscoreci(7, 34, 1, 34, 0.95) (Miettinen-Nurminen, N/(N-1) factor)."""
    z = NormalDist().inv_cdf(0.975)
    lo, hi = _score_bounds(lambda d: _fm_z(7, 34, 1, 34, d, mn_factor=True), 6 / 34, z, z)
    assert (lo, hi) == pytest.approx((0.0270416, 0.3452912), abs=2e-6)
    # the unpaired NI function's two-sided interval is the same inversion without the factor
    a = [1] * 7 + [0] * 27
    b = [1] * 1 + [0] * 33
    r = unpaired_noninferiority(a, b, margin=0.0, alternative="two-sided")
    assert (round(r.ci_low, 3), round(r.ci_high, 2)) == (0.028, 0.34)


def test_noninferiority_degenerate_tables() -> None:
    # all concordant: Z = 0 at margin 0 ... and finite with a margin
    a, b = _pairs(30, 0, 0, 10)
    r = paired_noninferiority(a, b, margin=0.1)
    assert r.difference == 0.0 and r.statistic > 0 and r.p_value < 0.05
    # both samples all 1: the unpaired interval is still defined
    r = unpaired_noninferiority([1] * 20, [1] * 25, margin=0.1)
    assert r.difference == 0.0 and math.isfinite(r.statistic)
    assert -1.0 < r.ci_low < 0.0 < r.ci_high < 1.0


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: mcnemar([1, 0], [1, 0], method="chisq"),
            ValueError,
            "method must be one of ('asymptotic', 'asymptotic_cc', 'exact', 'mid_p'), got 'chisq'",
        ),
        (
            lambda: mcnemar([1, 0], [1, 0, 1]),
            ValueError,
            "inputs must have the same length, got y_pred_a=2, y_pred_b=3",
        ),
        (
            lambda: mcnemar([], []),
            UndefinedMetricError,
            "no pairs: y_pred_a and y_pred_b are empty",
        ),
        (
            lambda: mcnemar([1, 0], [1, 0], method="asymptotic"),
            UndefinedMetricError,
            "McNemar's asymptotic test is undefined with no discordant pairs (n10 = n01 = 0); "
            "use method='exact'",
        ),
        (
            lambda: paired_proportion_difference([1], [0], method="score"),
            ValueError,
            "method must be one of ('newcombe', 'tango', 'wald'), got 'score'",
        ),
        (
            lambda: proportion_test(5, 10, null_value=1.0),
            ValueError,
            "null_value must be in (0, 1), got 1.0",
        ),
        (
            lambda: proportion_test(5, 10, null_value=0.8, alternative="larger"),
            ValueError,
            "alternative must be one of ('two-sided', 'less', 'greater'), got 'larger'",
        ),
        (
            lambda: proportion_test(5, 0, null_value=0.8),
            ValueError,
            "successes must be between 0 and n=0, got 5",
        ),
        (
            lambda: proportion_test(0, 0, null_value=0.8),
            UndefinedMetricError,
            "a proportion is undefined with n = 0 trials",
        ),
        (
            lambda: paired_noninferiority([1], [0], margin=0.1, alternative="two-sided"),
            ValueError,
            "margin must be 0 with alternative='two-sided'; use alternative='greater' "
            "(non-inferiority/superiority) or 'less', got margin=0.1",
        ),
        (
            lambda: paired_noninferiority([1], [0], margin=-0.1),
            ValueError,
            "margin must be in [0, 1), got -0.1",
        ),
        (
            lambda: unpaired_noninferiority([1], [], margin=0.1),
            UndefinedMetricError,
            "the proportion of y_b is undefined: y_b is empty",
        ),
    ],
)
def test_error_messages(call, exc, message) -> None:
    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        call()


def test_result_shapes() -> None:
    a, b = CAVO
    r = mcnemar(a, b, method="asymptotic_cc")
    assert (
        r.method == "mcnemar_asymptotic_cc" and r.alternative == "two-sided" and r.null_value == 0.0
    )
    assert r.to_dict()["extra"]["n"] == 161
    c = paired_noninferiority(a, b, margin=0.1)
    assert c.method == "tango_score" and c.margin == 0.1 and c.n == 161
    assert c.estimate_a == pytest.approx(65 / 161) and c.estimate_b == pytest.approx(75 / 161)
    assert c.se == pytest.approx(abs(c.difference + 0.1) / c.statistic)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(hyp_mod, raise_on_error=False, verbose=False)
    assert result.attempted >= 8 and result.failed == 0

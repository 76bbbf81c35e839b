"""Tests of validation.stats.proportions.

Reference values: R 4.2.2 (binom.test, prop.test, qbeta and closed forms), produced
by ``tests/reference/reference.R`` (see tests/reference/README.md) and read
through ``rref_cases``; nothing is copied by hand. Twins: Clopper-Pearson by
bisection on the binomial CDF, Wilson (with and without continuity correction)
by bisection on the score-test inequality, counts by explicit loops, likelihood
ratios against statsmodels' Table2x2 risk ratio, PVs by a numerical delta method.
"""

from __future__ import annotations

import doctest
import math
import re
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rref import rref_cases
from scipy import special
from scipy import stats as sps
from statsmodels.stats.contingency_tables import Table2x2

from validation.errors import UndefinedMetricError
from validation.stats import proportions as prop_mod
from validation.stats.proportions import (
    PROPORTION_CI_METHODS,
    ConfusionCounts,
    accuracy,
    confusion_counts,
    likelihood_ratios,
    negative_likelihood_ratio,
    npv,
    positive_likelihood_ratio,
    ppv,
    predictive_values,
    proportion_ci,
    sensitivity,
    specificity,
)

TOL = 1e-9

# R reference key -> (method, clip)
R_VARIANTS = {
    "clopper_pearson": ("clopper_pearson", True),
    "wilson": ("wilson", True),
    "wilson_cc": ("wilson_cc", True),
    "agresti_coull": ("agresti_coull", False),
    "agresti_coull_clipped": ("agresti_coull", True),
    "jeffreys": ("jeffreys", False),
    "jeffreys_bcd": ("jeffreys", True),
    "wald": ("wald", False),
    "wald_clipped": ("wald", True),
}


def _check_block(x: int, n: int, intervals: dict) -> int:
    """Compare every R interval variant at every level; return the number compared."""
    checked = 0
    for level_key, block in intervals.items():
        level = float(level_key)
        for key, (method, clip) in R_VARIANTS.items():
            est = proportion_ci(x, n, method=method, confidence_level=level, clip=clip)
            lo, hi = block[key]
            assert est.ci_low == pytest.approx(lo, abs=TOL), (x, n, level, key)
            assert est.ci_high == pytest.approx(hi, abs=TOL), (x, n, level, key)
            checked += 1
        # prop.test(correct=TRUE) drops the correction at x = n/2 (R's YATES truncation):
        # it equals our wilson_cc elsewhere and plain Wilson there.
        same_as = "wilson" if 2 * x == n else "wilson_cc"
        est = proportion_ci(x, n, method=same_as, confidence_level=level)
        lo, hi = block["wilson_cc_proptest_default"]
        assert (est.ci_low, est.ci_high) == pytest.approx((lo, hi), abs=TOL)
        checked += 1
    return checked


BINOM = rref_cases("binom_ci")


@pytest.mark.parametrize("case", BINOM, ids=[c["id"] for c in BINOM])
def test_proportion_ci_matches_r(case: dict) -> None:
    x, n = case["job"]["x"], case["job"]["n"]
    expected = case["expected"]
    if "error" in expected:  # x = 0, n = 0: R refuses; we raise UndefinedMetricError
        with pytest.raises(
            UndefinedMetricError, match=r"^a proportion is undefined with n = 0 trials$"
        ):
            proportion_ci(x, n)
        return
    assert _check_block(x, n, expected["intervals"]) == 2 * (len(R_VARIANTS) + 1)
    est = proportion_ci(x, n)
    assert est.estimate == pytest.approx(expected["estimate"], abs=1e-15)
    assert (est.successes, est.n, est.method, est.confidence_level) == (x, n, "wilson", 0.95)


ROC_THRESHOLD_CASES = [
    c for cat in ("roc",) for c in rref_cases(cat) if "at_thresholds" in c.get("expected", {})
]


@pytest.mark.parametrize("case", ROC_THRESHOLD_CASES, ids=[c["id"] for c in ROC_THRESHOLD_CASES])
def test_accuracy_metrics_match_r_at_thresholds(case: dict) -> None:
    """R's threshold_block: counts and CIs of Se/Sp/PPV/NPV with 'positive iff score >= t'."""
    truth = np.asarray(case["job"]["truth"], dtype=float).astype(int)
    score = np.asarray(case["job"]["score"], dtype=float)
    functions = {"sensitivity": sensitivity, "specificity": specificity, "ppv": ppv, "npv": npv}
    compared = 0
    for block in case["expected"]["at_thresholds"]:
        pred = (score >= block["threshold"]).astype(int)
        c = confusion_counts(truth, pred)
        assert (c.tp, c.fn, c.tn, c.fp) == (block["tp"], block["fn"], block["tn"], block["fp"])
        for name, fn in functions.items():
            ci_block = block.get(f"{name}_ci")
            if ci_block is None:
                with pytest.raises(UndefinedMetricError, match=f"^{name} is undefined: "):
                    fn(truth, pred)
                continue
            assert fn(truth, pred).estimate == pytest.approx(block[name], abs=1e-15)
            for level_key, variants in ci_block.items():
                for key, (method, clip) in R_VARIANTS.items():
                    if not clip and method != "clopper_pearson":
                        continue  # the metric functions use the default (bounded) variants
                    est = fn(truth, pred, method=method, confidence_level=float(level_key))
                    assert (est.ci_low, est.ci_high) == pytest.approx(variants[key], abs=TOL), (
                        name,
                        key,
                    )
                    compared += 1
    assert compared > 0


# --------------------------------------------------------------------------- twins


def _bisect(f, lo: float, hi: float, iters: int = 64) -> float:
    """Root of a monotone f on [lo, hi] by plain bisection (f(lo), f(hi) of opposite sign)."""
    flo = f(lo)
    for _ in range(iters):
        mid = (lo + hi) / 2.0
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2.0


def _cp_twin(x: int, n: int, level: float) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    low = 0.0 if x == 0 else _bisect(lambda p: sps.binom.sf(x - 1, n, p) - a, 0.0, 1.0)
    high = 1.0 if x == n else _bisect(lambda p: sps.binom.cdf(x, n, p) - a, 0.0, 1.0)
    return low, high


def _wilson_twin(x: int, n: int, level: float, cc: float = 0.0) -> tuple[float, float]:
    """Invert the (continuity-corrected) score test |phat - p| - cc <= z sqrt(p(1-p)/n)."""
    z = NormalDist().inv_cdf(1.0 - (1.0 - level) / 2.0)
    ph = x / n
    if x == 0:
        low = 0.0
    else:
        c = ph - cc  # the lower bound is where c - p = z sqrt(p(1-p)/n), p in (0, c)
        low = _bisect(lambda p: (c - p) - z * math.sqrt(p * (1 - p) / n), 0.0, c) if c > 0 else 0.0
    if x == n:
        high = 1.0
    else:
        c = ph + cc
        high = _bisect(lambda p: (p - c) - z * math.sqrt(p * (1 - p) / n), c, 1.0) if c < 1 else 1.0
    return max(0.0, low), min(1.0, high)


def _closed_twin(x: int, n: int, level: float, method: str, clip: bool) -> tuple[float, float]:
    z = NormalDist().inv_cdf(1.0 - (1.0 - level) / 2.0)
    if method == "wald":
        p = x / n
        lo, hi = p - z * math.sqrt(p * (1 - p) / n), p + z * math.sqrt(p * (1 - p) / n)
    else:
        nt = n + z * z
        pt = (x + z * z / 2) / nt
        lo, hi = pt - z * math.sqrt(pt * (1 - pt) / nt), pt + z * math.sqrt(pt * (1 - pt) / nt)
    return (max(0.0, lo), min(1.0, hi)) if clip else (lo, hi)


def _jeffreys_twin(x: int, n: int, level: float, clip: bool) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    cdf = lambda p: special.betainc(x + 0.5, n - x + 0.5, p)  # noqa: E731
    lo = _bisect(lambda p: cdf(p) - a, 0.0, 1.0)
    hi = _bisect(lambda p: cdf(p) - (1.0 - a), 0.0, 1.0)
    if clip:
        lo = 0.0 if x == 0 else lo
        hi = 1.0 if x == n else hi
    return lo, hi


counts = st.integers(min_value=1, max_value=400).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)
levels = st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 0.999])


@settings(max_examples=100, deadline=None)
@given(xn=counts, level=levels)
def test_clopper_pearson_and_wilson_match_bisection_twins(
    xn: tuple[int, int], level: float
) -> None:
    x, n = xn
    cp = proportion_ci(x, n, method="clopper_pearson", confidence_level=level)
    assert (cp.ci_low, cp.ci_high) == pytest.approx(_cp_twin(x, n, level), abs=1e-9)
    w = proportion_ci(x, n, method="wilson", confidence_level=level)
    assert (w.ci_low, w.ci_high) == pytest.approx(_wilson_twin(x, n, level), abs=1e-9)
    wcc = proportion_ci(x, n, method="wilson_cc", confidence_level=level)
    assert (wcc.ci_low, wcc.ci_high) == pytest.approx(
        _wilson_twin(x, n, level, cc=0.5 / n), abs=1e-9
    )


@settings(max_examples=150, deadline=None)
@given(xn=counts, level=levels, clip=st.booleans())
def test_other_methods_match_twins(xn: tuple[int, int], level: float, clip: bool) -> None:
    x, n = xn
    for method in ("agresti_coull", "wald"):
        est = proportion_ci(x, n, method=method, confidence_level=level, clip=clip)
        assert (est.ci_low, est.ci_high) == pytest.approx(
            _closed_twin(x, n, level, method, clip), abs=1e-9
        )
    j = proportion_ci(x, n, method="jeffreys", confidence_level=level, clip=clip)
    assert (j.ci_low, j.ci_high) == pytest.approx(_jeffreys_twin(x, n, level, clip), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(xn=counts, level=levels, method=st.sampled_from(PROPORTION_CI_METHODS))
def test_default_intervals_are_proper(xn: tuple[int, int], level: float, method: str) -> None:
    """Default (clip=True) intervals lie in [0, 1], contain the estimate and nest in the level."""
    x, n = xn
    est = proportion_ci(x, n, method=method, confidence_level=level)
    assert 0.0 <= est.ci_low <= est.estimate <= est.ci_high <= 1.0
    assert est.se == pytest.approx(math.sqrt(est.estimate * (1 - est.estimate) / n))
    wider = proportion_ci(x, n, method=method, confidence_level=min(0.9999, level + 0.01))
    assert wider.ci_low <= est.ci_low + 1e-12 and wider.ci_high >= est.ci_high - 1e-12


binary_pairs = st.integers(min_value=0, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


def _loop_counts(y_true: list[int], y_pred: list[int]) -> tuple[int, int, int, int]:
    tp = fp = tn = fn = 0
    for t, p in zip(y_true, y_pred, strict=True):
        if t == 1 and p == 1:
            tp += 1
        elif t == 0 and p == 1:
            fp += 1
        elif t == 0 and p == 0:
            tn += 1
        else:
            fn += 1
    return tp, fp, tn, fn


@settings(max_examples=120, deadline=None)
@given(data=binary_pairs, method=st.sampled_from(PROPORTION_CI_METHODS))
def test_metrics_match_loop_twin(data: tuple[list[int], list[int]], method: str) -> None:
    y_true, y_pred = data
    tp, fp, tn, fn = _loop_counts(y_true, y_pred)
    assert confusion_counts(y_true, y_pred) == ConfusionCounts(tp=tp, fp=fp, tn=tn, fn=fn)
    expected = {
        "sensitivity": (sensitivity, tp, tp + fn),
        "specificity": (specificity, tn, tn + fp),
        "ppv": (ppv, tp, tp + fp),
        "npv": (npv, tn, tn + fn),
        "accuracy": (accuracy, tp + tn, len(y_true)),
    }
    for name, (fn_, k, m) in expected.items():
        if m == 0:
            with pytest.raises(UndefinedMetricError, match=f"^{name} is undefined: "):
                fn_(y_true, y_pred, method=method)
            continue
        est = fn_(y_true, y_pred, method=method, confidence_level=0.9)
        ref = proportion_ci(k, m, method=method, confidence_level=0.9)
        assert (est.successes, est.n) == (k, m)
        assert (est.estimate, est.ci_low, est.ci_high) == (ref.estimate, ref.ci_low, ref.ci_high)
        assert est.extra["metric"] == name
        assert (est.extra["tp"], est.extra["fp"], est.extra["tn"], est.extra["fn"]) == (
            tp,
            fp,
            tn,
            fn,
        )


def test_confusion_counts_bool_and_float_inputs() -> None:
    c = confusion_counts(np.array([True, True, False, False]), np.array([1.0, 0.0, 1.0, 0.0]))
    assert c == ConfusionCounts(tp=1, fp=1, tn=1, fn=1)
    assert (c.n, c.n_positive, c.n_negative) == (4, 2, 2)
    assert c.to_dict() == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    with pytest.raises(AttributeError):
        c.tp = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- LRs


tables = st.tuples(*(st.integers(min_value=0, max_value=40) for _ in range(4)))


def _arrays(tp: int, fp: int, tn: int, fn: int) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.array([1] * tp + [0] * fp + [0] * tn + [1] * fn)
    y_pred = np.array([1] * tp + [1] * fp + [0] * tn + [0] * fn)
    return y_true, y_pred


@settings(max_examples=200, deadline=None)
@given(table=tables, level=st.sampled_from([0.9, 0.95, 0.99]))
def test_likelihood_ratios_match_statsmodels_risk_ratio(
    table: tuple[int, int, int, int], level: float
) -> None:
    """LR+ is the risk ratio of a positive call, diseased vs not; LR- likewise for negative calls."""
    tp, fp, tn, fn = table
    y_true, y_pred = _arrays(tp, fp, tn, fn)
    if tp + fn == 0 or fp + tn == 0:
        with pytest.raises(
            UndefinedMetricError, match="^likelihood ratios are undefined: y_true has no "
        ):
            likelihood_ratios(y_true, y_pred, confidence_level=level)
        return
    for which, cells, tab in (
        ("positive", (tp, fp), [[tp, fn], [fp, tn]]),
        ("negative", (fn, tn), [[fn, tp], [tn, fp]]),
    ):
        func = positive_likelihood_ratio if which == "positive" else negative_likelihood_ratio
        if 0 in cells:
            with pytest.raises(
                UndefinedMetricError, match=r"is undefined on the log scale: \w+ = 0; "
            ):
                func(y_true, y_pred, confidence_level=level)
            # correction=0.5: 0.5 added to all four cells (statsmodels' shift_zeros
            # replaces only the zero cells, so the shifted table is built here)
            est = func(y_true, y_pred, confidence_level=level, correction=0.5)
            ref = Table2x2(np.array(tab, dtype=float) + 0.5, shift_zeros=False)
            assert est.extra["correction"] == 0.5
        else:
            est = func(y_true, y_pred, confidence_level=level)
            ref = Table2x2(np.array(tab, dtype=float), shift_zeros=False)
            assert est.extra["correction"] == 0.0
        lo, hi = ref.riskratio_confint(alpha=1.0 - level, method="normal")
        assert est.estimate == pytest.approx(ref.riskratio, rel=1e-12)
        assert (est.ci_low, est.ci_high) == pytest.approx((lo, hi), rel=1e-9)
        assert est.extra["se_log"] == pytest.approx(ref.log_riskratio_se, rel=1e-12)
        assert est.method == "log" and est.n == tp + fp + tn + fn


def test_likelihood_ratios_pair_and_messages() -> None:
    y_true, y_pred = _arrays(30, 5, 45, 10)
    both = likelihood_ratios(y_true, y_pred)
    assert both.positive == positive_likelihood_ratio(y_true, y_pred)
    assert both.negative == negative_likelihood_ratio(y_true, y_pred)
    assert both.positive.estimate == pytest.approx((30 / 40) / (5 / 50))
    assert both.to_dict()["negative"]["estimate"] == pytest.approx((10 / 40) / (45 / 50))
    y_true, y_pred = _arrays(30, 0, 45, 10)
    with pytest.raises(
        UndefinedMetricError,
        match=re.escape(
            "LR+ is undefined on the log scale: fp = 0; pass correction=0.5 to add 0.5 to every "
            "cell of the 2x2 table"
        ),
    ):
        likelihood_ratios(y_true, y_pred)
    assert negative_likelihood_ratio(y_true, y_pred).estimate == pytest.approx((10 / 40) / 1.0)
    with pytest.raises(
        ValueError, match=re.escape("correction must be a finite number >= 0, got -1")
    ):
        likelihood_ratios(y_true, y_pred, correction=-1)


# --------------------------------------------------------------------------- PVs


def _pv_twin(tp: int, fp: int, tn: int, fn: int, prev: float, level: float):
    """Bayes PVs and logit CIs by a numerical delta method (central differences)."""
    n1, n0 = tp + fn, tn + fp
    se, sp = tp / n1, tn / n0
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    odds = prev / (1 - prev)

    def lppv(a: float, b: float) -> float:
        return math.log(odds * a / (1 - b))

    def lnpv(a: float, b: float) -> float:
        return math.log(b / (odds * (1 - a)))

    out = []
    for g in (lppv, lnpv):
        h = 1e-6
        d_se = (g(se + h, sp) - g(se - h, sp)) / (2 * h)
        d_sp = (g(se, sp + h) - g(se, sp - h)) / (2 * h)
        var = d_se**2 * se * (1 - se) / n1 + d_sp**2 * sp * (1 - sp) / n0
        center = g(se, sp)
        expit = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        out.append(
            (expit(center), expit(center - z * math.sqrt(var)), expit(center + z * math.sqrt(var)))
        )
    return out


@settings(max_examples=150, deadline=None)
@given(
    table=st.tuples(*(st.integers(min_value=1, max_value=60) for _ in range(4))),
    prev=st.floats(min_value=0.01, max_value=0.99),
    level=st.sampled_from([0.9, 0.95]),
)
def test_predictive_values_match_delta_method_twin(
    table: tuple[int, int, int, int], prev: float, level: float
) -> None:
    tp, fp, tn, fn = table
    y_true, y_pred = _arrays(tp, fp, tn, fn)
    pv = predictive_values(y_true, y_pred, prevalence=prev, confidence_level=level)
    (p_est, p_lo, p_hi), (n_est, n_lo, n_hi) = _pv_twin(tp, fp, tn, fn, prev, level)
    assert pv.ppv.method == pv.npv.method == "logit"
    assert pv.ppv.estimate == pytest.approx(p_est, rel=1e-9)
    assert pv.npv.estimate == pytest.approx(n_est, rel=1e-9)
    assert (pv.ppv.ci_low, pv.ppv.ci_high) == pytest.approx((p_lo, p_hi), rel=1e-5, abs=1e-7)
    assert (pv.npv.ci_low, pv.npv.ci_high) == pytest.approx((n_lo, n_hi), rel=1e-5, abs=1e-7)


@settings(max_examples=150, deadline=None)
@given(table=tables)
def test_predictive_values_at_sample_prevalence_equal_sample_pvs(
    table: tuple[int, int, int, int],
) -> None:
    tp, fp, tn, fn = table
    if tp + fn == 0 or tn + fp == 0:
        return
    y_true, y_pred = _arrays(tp, fp, tn, fn)
    n = tp + fp + tn + fn
    prev = (tp + fn) / n
    if not 0 < prev < 1:
        return
    if tp + fp == 0 or tn + fn == 0:
        which = "PPV" if tp + fp == 0 else "NPV"
        with pytest.raises(
            UndefinedMetricError, match=f"^{which} at a prevalence is undefined: y_pred has no "
        ):
            predictive_values(y_true, y_pred, prevalence=prev)
        return
    pv = predictive_values(y_true, y_pred, prevalence=prev)
    if tp + fp:
        assert pv.ppv.estimate == pytest.approx(tp / (tp + fp), abs=1e-12)
    if tn + fn:
        assert pv.npv.estimate == pytest.approx(tn / (tn + fn), abs=1e-12)
    for e in (pv.ppv, pv.npv):
        assert 0.0 <= e.ci_low <= e.estimate <= e.ci_high <= 1.0


def test_predictive_values_boundary_uses_adjusted_logit() -> None:
    # perfect specificity: PPV = 1 exactly; Mercaldo's adjusted logit interval, extended to 1
    y_true, y_pred = _arrays(tp=18, fp=0, tn=50, fn=2)
    pv = predictive_values(y_true, y_pred, prevalence=0.1)
    assert pv.ppv.method == "logit_adjusted" and pv.ppv.estimate == 1.0
    assert pv.ppv.ci_high == 1.0 and 0.0 < pv.ppv.ci_low < 1.0
    z = NormalDist().inv_cdf(0.975)
    se_a, sp_a = (18 + z * z / 2) / (20 + z * z), (50 + z * z / 2) / (50 + z * z)
    logit = math.log(0.1 / 0.9 * se_a / (1 - sp_a))
    var = (1 - se_a) / (se_a * (20 + z * z)) + sp_a / ((1 - sp_a) * (50 + z * z))
    assert pv.ppv.ci_low == pytest.approx(
        1 / (1 + math.exp(-(logit - z * math.sqrt(var)))), rel=1e-12
    )
    assert pv.to_dict()["prevalence"] == 0.1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "message"),
    [
        ((3, 2), {}, ValueError, "successes must be between 0 and n=2, got 3"),
        ((-1, 2), {}, ValueError, "successes must be between 0 and n=2, got -1"),
        ((1, -2), {}, ValueError, "n must be >= 0, got -2"),
        ((1.5, 2), {}, ValueError, "successes must be a whole number, got 1.5"),
        ((1, "10"), {}, ValueError, "n must be a whole number, got '10'"),
        ((True, 2), {}, ValueError, "successes must be a whole number, got True"),
        ((0, 0), {}, UndefinedMetricError, "a proportion is undefined with n = 0 trials"),
        (
            (1, 2),
            {"method": "exact"},
            ValueError,
            "method must be one of ('wilson', 'wilson_cc', 'clopper_pearson', 'agresti_coull', "
            "'jeffreys', 'wald'), got 'exact'",
        ),
        (
            (1, 2),
            {"confidence_level": 95},
            ValueError,
            "confidence_level must be in (0, 1), got 95",
        ),
    ],
)
def test_proportion_ci_errors(args, kwargs, exc, message) -> None:
    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        proportion_ci(*args, **kwargs)


def test_proportion_ci_accepts_numpy_and_integral_floats() -> None:
    a = proportion_ci(np.int64(3), np.int32(10))
    b = proportion_ci(3.0, 10.0)
    assert a == b and a.successes == 3 and a.n == 10


@pytest.mark.parametrize(
    ("func", "y_true", "y_pred", "message"),
    [
        (sensitivity, [0, 0], [1, 0], "sensitivity is undefined: y_true has no positive cases (1)"),
        (specificity, [1, 1], [1, 0], "specificity is undefined: y_true has no negative cases (0)"),
        (ppv, [1, 0], [0, 0], "ppv is undefined: y_pred has no positive calls (1)"),
        (npv, [1, 0], [1, 1], "npv is undefined: y_pred has no negative calls (0)"),
        (accuracy, [], [], "accuracy is undefined: there are no cases"),
    ],
)
def test_undefined_metric_messages(func, y_true, y_pred, message) -> None:
    with pytest.raises(UndefinedMetricError, match=f"^{re.escape(message)}$"):
        func(y_true, y_pred)


def test_bad_label_messages() -> None:
    with pytest.raises(ValueError, match=r"^y_true must contain only 0 and 1, found 2 at index 1$"):
        sensitivity([1, 2], [1, 0])
    with pytest.raises(
        ValueError, match=re.escape("inputs must have the same length, got y_true=2, y_pred=3")
    ):
        specificity([1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match=re.escape("prevalence must be in (0, 1), got 1.0")):
        predictive_values([1, 0], [1, 0], prevalence=1.0)
    with pytest.raises(
        UndefinedMetricError,
        match=re.escape(
            "predictive values at a prevalence are undefined: y_true has no negative cases (0)"
        ),
    ):
        predictive_values([1, 1], [1, 0], prevalence=0.2)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(prop_mod, raise_on_error=False, verbose=False)
    assert result.attempted >= 10 and result.failed == 0

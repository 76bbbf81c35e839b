"""Operating-threshold selection by rule, and its bootstrap spread.

Evidence: scikit-learn's ``roc_curve`` (an independent implementation of the empirical ROC
curve: its thresholds are the distinct scores, a case positive iff ``score >= threshold``)
and a brute-force twin that tries every observed score; exact messages for bad input.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_curve

from validation.errors import UndefinedMetricError
from validation.stats import (
    bootstrap_weights,
    select_threshold,
    threshold_bootstrap,
    youden,
)


def _brute(y: np.ndarray, s: np.ndarray, rule: str, target: float | None) -> float:
    """Try every observed score as the threshold; keep the one the rule asks for."""
    best: float | None = None
    best_j: object = None
    n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
    for t in sorted(set(s.tolist())):
        called = s >= t
        tp, tn = int(np.sum(called & (y == 1))), int(np.sum(~called & (y == 0)))
        if rule == "sensitivity" and tp / n_pos >= target - 1e-12:
            best = t  # ascending: the last that still reaches it is the highest
        elif rule == "specificity" and tn / n_neg >= target - 1e-12 and best is None:
            best = t  # ascending: the first that reaches it is the lowest
        elif rule == "youden":
            j = Fraction(tp, n_pos) + Fraction(tn, n_neg) - 1  # exact: ties are ties
            if best_j is None or j >= best_j:  # type: ignore[operator]
                best, best_j = t, j  # ties: the highest threshold
    assert best is not None
    return best


def _sklearn(y: np.ndarray, s: np.ndarray, rule: str, target: float) -> float:
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    finite = np.isfinite(thr)
    fpr, tpr, thr = fpr[finite], tpr[finite], thr[finite]
    if rule == "sensitivity":
        return float(thr[tpr >= target - 1e-12].max())
    return float(thr[(1 - fpr) >= target - 1e-12].min())


def test_documented_example_and_the_2x2_it_reports() -> None:
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.3, 0.5, 0.4, 0.6, 0.9]
    sel = select_threshold(y, s, rule="sensitivity", target=0.6)
    # 2 of 3 positives are needed: the second-highest positive score is the highest such threshold
    assert (sel.threshold, sel.tp, sel.fn, sel.tn, sel.fp) == (0.6, 2, 1, 3, 0)
    sel = select_threshold(y, s, rule="specificity", target=0.6)
    # 2 of 3 negatives must score below: above 0.3, the lowest observed score is 0.4
    assert (sel.threshold, sel.tp, sel.fn, sel.tn, sel.fp) == (0.4, 3, 0, 2, 1)
    assert sel.sensitivity == 1.0 and sel.specificity == pytest.approx(2 / 3)
    assert (sel.n_positive, sel.n_negative) == (3, 3)


def test_target_counts_are_not_fooled_by_binary_rounding() -> None:
    # 0.9 * 30 = 27.000000000000004: 27 of 30 positives reach 0.9 exactly
    y = np.repeat([1, 0], [30, 30])
    s = np.concatenate([np.arange(30, 0, -1) / 100 + 0.5, np.linspace(0, 0.4, 30)])
    sel = select_threshold(y, s, rule="sensitivity", target=0.9)
    assert sel.tp == 27 and sel.sensitivity == 0.9


@settings(max_examples=150)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 12)), min_size=2, max_size=60),
    st.sampled_from(["sensitivity", "specificity"]),
    st.floats(0.05, 0.95),
)
def test_matches_scikit_learn_and_the_brute_force_twin(cases, rule, target) -> None:  # type: ignore[no-untyped-def]
    y = np.array([c[0] for c in cases])
    s = np.array([c[1] / 4 for c in cases])  # coarse scores: many ties
    if y.min() == y.max():
        with pytest.raises(UndefinedMetricError, match="cannot be selected"):
            select_threshold(y, s, rule=rule, target=target)
        return
    try:
        sel = select_threshold(y, s, rule=rule, target=target)
    except UndefinedMetricError as exc:
        # only when even the strictest threshold that calls something positive is too lenient
        assert rule == "specificity" and "while calling any case positive" in str(exc)
        k = int(np.ceil(target * np.sum(y == 0) - 1e-9))
        assert np.sort(s[y == 0])[k - 1] == s.max()
        return
    assert sel.threshold == _brute(y, s, rule, target) == _sklearn(y, s, rule, target)
    goal = sel.sensitivity if rule == "sensitivity" else sel.specificity
    assert goal >= target - 1e-12


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 9)), min_size=2, max_size=50))
def test_youden_rule_matches_the_exact_twin_and_roc_youden(cases) -> None:  # type: ignore[no-untyped-def]
    y = np.array([c[0] for c in cases])
    s = np.array([float(c[1]) for c in cases])
    if y.min() == y.max():
        return
    sel = select_threshold(y, s, rule="youden")
    assert sel.threshold == _brute(y, s, "youden", None)
    # the same maximal J as roc.youden (which breaks exact ties in floating point, and may
    # answer +inf, "call nothing positive", when J = 0 ties; a selection never does)
    assert sel.sensitivity + sel.specificity - 1 == pytest.approx(youden(y, s).youden_index)
    assert sel.target is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"rule": "f1", "target": 0.9},
            "rule must be one of ['sensitivity', 'specificity', 'youden'], got 'f1'",
        ),
        ({"rule": "youden", "target": 0.9}, "rule 'youden' takes no target, got target=0.9"),
        ({"rule": "sensitivity"}, "rule 'sensitivity' needs a target in (0, 1), got None"),
        ({"rule": "specificity", "target": 1.0}, "target must be in (0, 1), got 1.0"),
    ],
)
def test_bad_rules_are_refused_with_exact_messages(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as err:
        select_threshold([0, 1], [0.2, 0.8], **kwargs)
    assert str(err.value) == message


def test_undefined_selections_say_why() -> None:
    with pytest.raises(UndefinedMetricError) as err:
        select_threshold([1, 1, 1], [0.1, 0.2, 0.3], rule="youden")
    assert str(err.value) == (
        "an operating threshold cannot be selected: y_true has no negative (0) cases (all 3 are 1)"
    )
    with pytest.raises(UndefinedMetricError) as err:
        select_threshold([0, 0, 1], [0.9, 0.1, 0.5], rule="specificity", target=0.9)
    assert str(err.value) == (
        "no threshold reaches specificity 0.9 while calling any case positive: 2 of the 2 "
        "negatives must score below it, and the 2-th lowest negative score (0.9) is the "
        "highest score"
    )


def _twin_spread(y, s, rule, target, n, seed, clusters=None):  # type: ignore[no-untyped-def]
    """Resample as the documented design says, then select by brute force on each resample."""
    if clusters is None:
        weights = bootstrap_weights(
            y.size, strata=y, n_resamples=n, rng=np.random.default_rng(seed)
        )
    else:
        codes = np.unique(clusters, return_inverse=True)[1]
        has_pos = np.array([y[codes == c].max() for c in range(codes.max() + 1)])
        weights = bootstrap_weights(
            codes, strata=has_pos[codes], n_resamples=n, rng=np.random.default_rng(seed)
        )
    reps = []
    for w in np.vstack(list(weights)):
        yy, ss = np.repeat(y, w), np.repeat(s, w)
        if yy.min() != yy.max():
            reps.append(_brute(yy, ss, rule, target))
    return np.array(reps)


@pytest.mark.parametrize(
    "rule, target", [("sensitivity", 0.8), ("specificity", 0.7), ("youden", None)]
)
def test_threshold_bootstrap_matches_a_slow_twin(rule, target) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1], [40, 25])
    s = np.round(rng.normal(size=y.size) + 1.5 * y, 2)
    patients = np.array([f"p{i // 2}" for i in range(y.size)])  # some patients have 2 cases
    for clusters in (None, patients):
        est = threshold_bootstrap(
            y, s, rule=rule, target=target, n_resamples=300, rng=9, clusters=clusters
        )
        reps = _twin_spread(y, s, rule, target, 300, 9, clusters)
        assert est.estimate == select_threshold(y, s, rule=rule, target=target).threshold
        assert est.extra["n_resamples"] == 300
        assert est.extra["n_undefined_resamples"] == 300 - reps.size
        assert est.ci_low == pytest.approx(np.percentile(reps, 2.5))
        assert est.ci_high == pytest.approx(np.percentile(reps, 97.5))
        assert est.se == pytest.approx(np.std(reps, ddof=1))
        assert est.extra["median"] == pytest.approx(np.median(reps))
        assert est.method == "bootstrap_percentile" and est.n == y.size
    assert est.extra["n_clusters"] == 33
    assert est.extra["resampling"].startswith("patients")


def test_threshold_spread_is_the_sampling_spread_of_a_quantile() -> None:
    # Rule "sensitivity >= 0.9" picks the 10% quantile of the positives' scores. For
    # N(2, 1) scores and m positives its sampling sd is sqrt(0.1 * 0.9 / m) / phi(z_0.1)
    # (asymptotic normality of sample quantiles; Serfling 1980, section 2.3.3).
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    m = 2000
    y = np.repeat([1, 0], [m, m])
    s = rng.normal(size=2 * m) + 2 * y
    est = threshold_bootstrap(y, s, rule="sensitivity", target=0.9, n_resamples=400, rng=2)
    expected = np.sqrt(0.1 * 0.9 / m) / norm.pdf(norm.ppf(0.1))
    assert 0.7 < est.se / expected < 1.4
    assert est.ci_low < 2 + norm.ppf(0.1) < est.ci_high

"""Study planning: twins, monotonicity and invariants (hypothesis), rounding.

Twins: the exact goal search against brute force over every count with
``proportion_ci`` (the function the analysis uses); the restricted MLE of the paired
discordance against a numerical constrained optimisation; the design effect against
scipy's beta-binomial variance; Obuchowski's one-curve variance function against the
general binormal variance of the two-curve method.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import optimize, special, stats

from validation.stats import (
    PLANNING_INTERVALS,
    design_effect,
    power_auc,
    power_goal,
    power_paired_auc,
    power_paired_proportions,
    proportion_ci,
    sample_size_auc,
    sample_size_goal,
    sample_size_paired_auc,
    sample_size_paired_proportions,
    sample_size_precision,
)
from validation.stats.planning import (
    _auc_power,
    _auc_variance,
    _binormal_var,
    _ceil,
    _lower_bounds,
    _min_successes,
    _restricted_variance,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LEVELS = st.sampled_from([0.8, 0.9, 0.95, 0.99])


# ------------------------------------------------------------------------- rounding
def _exact_integer_designs() -> list[tuple[float, float, int]]:
    """(expected, half_width, k) whose exact n is k^2: half_width = z sqrt(p (1 - p)) / k."""
    z = float(special.ndtri(1 - (1 - 0.95) / 2))  # as sample_size_precision computes it
    return [
        (p, z * math.sqrt(p * (1.0 - p)) / k, k)
        for p in (0.5, 0.7, 0.8, 0.9, 0.95)
        for k in range(2, 60)
    ]


def test_integer_sample_sizes_are_not_pushed_up_by_rounding_noise() -> None:
    designs = _exact_integer_designs()
    z = float(special.ndtri(1 - (1 - 0.95) / 2))  # as sample_size_precision computes it
    raws = [z * z * p * (1 - p) / (d * d) for p, d, _ in designs]
    # the floating-point value overshoots k^2 for many designs: a plain ceil would give k^2 + 1
    assert sum(math.ceil(r) == k * k + 1 for r, (_, _, k) in zip(raws, designs, strict=True)) > 20
    for p, d, k in designs:
        assert sample_size_precision(p, d).n == k * k


def test_tolerant_ceil() -> None:
    assert _ceil(100.00000000000001) == 100
    assert _ceil(99.99999999999999) == 100
    assert _ceil(100.000001) == 101
    assert _ceil(100.5) == 101
    assert _ceil(0.3) == 1
    assert _ceil(1e6 * (1 + 1e-12)) == 1_000_000


@given(p=st.floats(0.05, 0.99), d=st.floats(0.01, 0.3), level=LEVELS)
@SETTINGS
def test_precision_half_width_is_met(p: float, d: float, level: float) -> None:
    plan = sample_size_precision(p, d, confidence_level=level)
    z = -float(special.ndtri((1 - level) / 2))
    assert z * math.sqrt(p * (1 - p) / plan.n) <= d * (1 + 1e-9)
    if plan.n > 1:
        assert z * math.sqrt(p * (1 - p) / (plan.n - 1)) > d * (1 - 1e-9)


# ------------------------------------------------------------------------- goal: twins
@given(data=st.data(), interval=st.sampled_from(PLANNING_INTERVALS), level=LEVELS)
@SETTINGS
def test_vectorised_lower_bounds_equal_proportion_ci(
    data: st.DataObject, interval: str, level: float
) -> None:
    n = data.draw(st.integers(1, 400))
    xs = data.draw(st.lists(st.integers(0, n), min_size=1, max_size=20))
    got = _lower_bounds(np.array(xs), np.full(len(xs), n), interval, level)
    want = [proportion_ci(x, n, method=interval, confidence_level=level).ci_low for x in xs]
    assert got.tolist() == pytest.approx(want, abs=1e-12)


@given(
    ns=st.lists(st.integers(1, 300), min_size=1, max_size=8),
    goal=st.floats(0.01, 0.99),
    interval=st.sampled_from(PLANNING_INTERVALS),
    level=LEVELS,
)
@SETTINGS
def test_min_successes_bisection_equals_brute_force(
    ns: list[int], goal: float, interval: str, level: float
) -> None:
    got = _min_successes(np.array(ns), goal, interval, level)
    for n, x_min in zip(ns, got.tolist(), strict=True):
        passing = [
            x
            for x in range(n + 1)
            if proportion_ci(x, n, method=interval, confidence_level=level).ci_low > goal
        ]
        assert x_min == (passing[0] if passing else n + 1)
        # every count from the first passing one passes (the bisection's assumption)
        assert passing == list(range(x_min, n + 1))


def _brute_power(p: float, g: float, n: int, interval: str, level: float) -> float:
    return float(
        sum(
            stats.binom.pmf(x, n, p)
            for x in range(n + 1)
            if proportion_ci(x, n, method=interval, confidence_level=level).ci_low > g
        )
    )


@st.composite
def goal_designs(draw: st.DrawFn) -> tuple[float, float, float, float]:
    p = draw(st.floats(0.55, 0.98))
    gap = draw(st.floats(0.06, 0.3))
    assume(p - gap > 0.02)
    return p, p - gap, draw(st.floats(0.6, 0.95)), draw(LEVELS)


@given(design=goal_designs(), interval=st.sampled_from(PLANNING_INTERVALS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exact_goal_plan_is_the_first_and_the_stable_n(
    design: tuple[float, float, float, float], interval: str
) -> None:
    p, g, target, level = design
    plan = sample_size_goal(
        p, g, power=target, confidence_level=level, method="exact", interval=interval
    )
    assert plan.n_stable is not None and plan.n <= plan.n_stable
    top = 2 * plan.n_stable + 2
    curve = [
        power_goal(p, g, n=m, confidence_level=level, interval=interval).power
        for m in range(1, top + 1)
    ]
    ok = [c >= target for c in curve]
    assert ok.index(True) + 1 == plan.n
    assert plan.power == curve[plan.n - 1]
    s = plan.n_stable
    assert all(ok[s - 1 : 2 * s])
    if s > 1:
        assert not all(ok[s - 2 : 2 * (s - 1)])
    # brute force over every count with proportion_ci at the chosen n
    assert plan.power == pytest.approx(_brute_power(p, g, plan.n, interval, level), abs=1e-12)


@given(design=goal_designs())
@SETTINGS
def test_normal_goal_is_the_smallest_n_by_its_own_formula(
    design: tuple[float, float, float, float],
) -> None:
    p, g, target, level = design
    plan = sample_size_goal(p, g, power=target, confidence_level=level)
    assert plan.power >= target
    assert plan.n_stable == plan.n
    if plan.n > 1:
        assert (
            power_goal(p, g, n=plan.n - 1, confidence_level=level, method="normal").power < target
        )
    more = sample_size_goal(p, g, power=min(target + 0.04, 0.99), confidence_level=level)
    assert more.n >= plan.n
    closer = sample_size_goal(p, (g + p) / 2, power=target, confidence_level=level)
    assert closer.n >= plan.n


def test_goal_with_prevalence_counts_all_cases() -> None:
    plan = sample_size_goal(0.9, 0.8, power=0.8, method="exact", prevalence=0.3)
    assert (plan.n, plan.n_stable) == (107, 113)
    assert (plan.n_total, plan.n_total_stable) == (357, 377)


# ------------------------------------------------------------------------- one AUC
def test_obuchowski_variance_at_half_is_procs_v0() -> None:
    for k in (0.25, 0.5, 1.0, 1.7, 3.0):
        assert _auc_variance(0.5, k) == pytest.approx(0.0792 * (1 + 1 / k), rel=1e-15)


@given(theta=st.floats(0.52, 0.99), k=st.floats(0.2, 5.0))
@SETTINGS
def test_one_curve_variance_is_the_binormal_variance_with_b_1(theta: float, k: float) -> None:
    # pROC's 0.0099 constant rounds 1 / (32 pi) = 0.009947 and 1.414 rounds sqrt(2)
    a = float(special.ndtri(theta)) * math.sqrt(2)
    assert _auc_variance(theta, k) == pytest.approx(_binormal_var(a, 1.0, k), rel=0.02)


@given(
    theta=st.floats(0.55, 0.98),
    gap=st.floats(0.03, 0.3),
    k=st.floats(0.3, 4.0),
    target=st.floats(0.5, 0.95),
    alt=st.sampled_from(["two-sided", "greater"]),
)
@SETTINGS
def test_auc_plan_reaches_the_power(
    theta: float, gap: float, k: float, target: float, alt: str
) -> None:
    null = theta - gap
    assume(null > 0.02)
    plan = sample_size_auc(theta, null=null, ratio=k, power=target, alternative=alt)
    raw = plan.n_positive_unrounded
    assert raw is not None
    assert _auc_power(theta, null, raw, k * raw, 0.05, alt) == pytest.approx(target, abs=1e-9)
    assert plan.power >= target
    assert (
        power_auc(
            theta,
            n_positive=plan.n_positive,
            n_negative=plan.n_negative,
            null=null,
            alternative=alt,
        ).power
        == plan.power
    )
    bigger = power_auc(
        theta,
        n_positive=plan.n_positive + 5,
        n_negative=plan.n_negative,
        null=null,
        alternative=alt,
    ).power
    assert bigger > plan.power
    # mirror image: the same design for "less" around 1 - theta
    mirror = sample_size_auc(
        1 - theta,
        null=1 - null,
        ratio=k,
        power=target,
        alternative="less" if alt == "greater" else alt,
    )
    assert mirror.n_positive_unrounded == pytest.approx(raw, rel=1e-6)


# ------------------------------------------------------------------------- two AUCs
@given(
    t1=st.floats(0.6, 0.95),
    t2=st.floats(0.6, 0.95),
    r=st.floats(0.0, 0.9),
    target=st.floats(0.6, 0.95),
    margin=st.sampled_from([0.0, 0.02, 0.05]),
)
@SETTINGS
def test_paired_auc_plan_reaches_the_power(
    t1: float, t2: float, r: float, target: float, margin: float
) -> None:
    assume(abs(t1 - t2 + margin) > 0.01 and t1 - t2 + margin > 0)
    try:
        plan = sample_size_paired_auc(t1, t2, correlation=r, margin=margin, power=target)
    except ValueError as exc:  # V0 = 2 V1 - 2 C12 <= 0: tested in test_planning_errors
        assert "non-positive variance" in str(exc)
        assume(False)
        raise
    assert plan.power >= target
    again = power_paired_auc(
        t1, t2, n_positive=plan.n_positive, n_negative=plan.n_negative, correlation=r, margin=margin
    )
    assert again.power == plan.power
    if plan.n_positive > 1:
        less = power_paired_auc(
            t1,
            t2,
            n_positive=plan.n_positive - 1,
            n_negative=plan.n_negative - 1,
            correlation=r,
            margin=margin,
        )
        assert less.power < target
    # more correlation, fewer cases (the paired design's gain)
    if r < 0.85 and not _v0_breaks(t1, t2, r + 0.05, margin):
        assert (
            sample_size_paired_auc(
                t1, t2, correlation=r + 0.05, margin=margin, power=target
            ).n_positive
            <= plan.n_positive
        )


def _v0_breaks(t1: float, t2: float, r: float, margin: float) -> bool:
    try:
        sample_size_paired_auc(t1, t2, correlation=r, margin=margin)
    except ValueError:
        return True
    return False


def test_uncorrelated_paired_auc_variances_add() -> None:
    plan = sample_size_paired_auc(0.9, 0.8, correlation=0.0)
    a1, a2 = (float(special.ndtri(t)) * math.sqrt(2) for t in (0.9, 0.8))
    v1, v2 = _binormal_var(a1, 1, 1), _binormal_var(a2, 1, 1)
    assert plan.variance_null == pytest.approx(2 * v1, rel=1e-15)
    assert plan.variance_alternative == pytest.approx(v1 + v2, rel=1e-15)


# ------------------------------------------------------------------------- two proportions
@st.composite
def paired_cells(draw: st.DrawFn) -> tuple[float, float, float, float]:
    w = [draw(st.floats(0.02, 1.0)) for _ in range(4)]
    total = sum(w)
    return w[0] / total, w[1] / total, w[2] / total, w[3] / total


def _restricted_numeric(p11: float, p10: float, p01: float, p00: float, delta0: float) -> float:
    """Maximise the multinomial log-likelihood subject to p10' - p01' = delta0 (SLSQP)."""
    obs = np.array([p11, p10, p01, p00])

    def nll(q: np.ndarray) -> float:
        return -float(np.sum(obs * np.log(np.clip(q, 1e-300, None))))

    cons = [
        {"type": "eq", "fun": lambda q: q.sum() - 1.0},
        {"type": "eq", "fun": lambda q: q[1] - q[2] - delta0},
    ]
    start = np.array([p11, max(p10, delta0 + 0.01), max(p01, 0.01), p00])
    start = start / start.sum()
    res = optimize.minimize(
        nll,
        start,
        constraints=cons,
        bounds=[(1e-9, 1)] * 4,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 500},
    )
    q = res.x
    return float(q[1] + q[2] - delta0**2)


@given(cells=paired_cells(), margin=st.floats(0.01, 0.15))
@SETTINGS
def test_restricted_variance_twin(cells: tuple[float, float, float, float], margin: float) -> None:
    p11, p10, p01, p00 = cells
    got = _restricted_variance(p10, p01, -margin)
    assert got == pytest.approx(_restricted_numeric(p11, p10, p01, p00, -margin), abs=2e-6)
    # at the null boundary itself the restricted estimate is the observed discordance
    exact = _restricted_variance(p10, p01, p10 - p01)
    assert exact == pytest.approx(p10 + p01 - (p10 - p01) ** 2, abs=1e-12)


@given(cells=paired_cells(), margin=st.sampled_from([0.0, 0.03, 0.1]), target=st.floats(0.6, 0.95))
@SETTINGS
def test_paired_proportions_invariants(
    cells: tuple[float, float, float, float], margin: float, target: float
) -> None:
    p11, p10, p01, _ = cells
    p_1, p_2 = p11 + p10, p11 + p01
    assume(0.02 < p_1 < 0.98 and 0.02 < p_2 < 0.98 and p_1 - p_2 + margin > 0.01)
    plan = sample_size_paired_proportions(
        p_1, p_2, discordance=p10 + p01, margin=margin, power=target
    )
    assert plan.power >= target
    if plan.n > 1:
        assert (
            power_paired_proportions(
                p_1, p_2, n=plan.n - 1, discordance=p10 + p01, margin=margin
            ).power
            < target
        )
    # the same design given by its correlation
    same = sample_size_paired_proportions(
        p_1, p_2, correlation=plan.correlation, margin=margin, power=target
    )
    assert same.discordance == pytest.approx(p10 + p01, abs=1e-12)
    assert same.n == plan.n
    assert plan.method == ("nam" if margin > 0 else "connor")
    if margin == 0:
        assert plan.variance_null == pytest.approx(p10 + p01, abs=1e-15)


# ------------------------------------------------------------------------- design effect
@given(m=st.integers(1, 12), icc=st.floats(0.001, 0.9), p=st.floats(0.05, 0.95))
@SETTINGS
def test_design_effect_is_the_beta_binomial_variance_ratio(m: int, icc: float, p: float) -> None:
    # a patient's m cases share a Beta(a, b) success probability with ICC 1 / (a + b + 1)
    s = (1 - icc) / icc
    var = stats.betabinom(m, p * s, (1 - p) * s).var()
    de = design_effect(icc, mean_cluster_size=m).design_effect
    assert de == pytest.approx(var / (m * p * (1 - p)), rel=1e-9)


@given(sizes=st.lists(st.integers(1, 15), min_size=1, max_size=40), icc=st.floats(0.0, 1.0))
@SETTINGS
def test_design_effect_from_unequal_cluster_sizes(sizes: list[int], icc: float) -> None:
    # variance of the pooled proportion over clusters of these sizes / binomial variance
    arr = np.array(sizes, dtype=float)
    want = float(np.sum(arr * (1 + (arr - 1) * icc)) / arr.sum())
    got = design_effect(icc, cluster_sizes=sizes)
    assert got.design_effect == pytest.approx(want, rel=1e-12)
    via_cv = design_effect(icc, mean_cluster_size=got.mean_cluster_size, cv=got.cv)
    assert via_cv.design_effect == pytest.approx(want, rel=1e-12)


def test_design_effect_inflates_a_plan() -> None:
    de = design_effect(0.2, mean_cluster_size=3.0, n=100)
    assert de.design_effect == pytest.approx(1.4)
    assert (de.n_independent, de.n_cases, de.n_clusters) == (100, 140, 47)
    assert design_effect(0.0, mean_cluster_size=4).design_effect == 1.0
    assert design_effect(0.5, cluster_sizes=[1, 1, 1]).design_effect == 1.0


# ------------------------------------------------------------------------- results
def test_plans_are_frozen_and_json_ready() -> None:
    plans = [
        sample_size_precision(0.9, 0.05, prevalence=0.1),
        sample_size_goal(0.9, 0.8, method="exact", prevalence=0.2),
        power_goal(0.9, 0.8, n=50, method="normal"),
        sample_size_auc(0.8),
        power_auc(0.8, n_positive=30, n_negative=40),
        sample_size_paired_auc(0.85, 0.8, correlation=0.5),
        sample_size_paired_proportions(0.9, 0.85, discordance=0.15, margin=0.05),
        design_effect(0.1, cluster_sizes=[1, 2, 3], n=10),
    ]
    for plan in plans:
        d = plan.to_dict()
        assert json.loads(json.dumps(d)) == d
        assert set(d) == {f.name for f in dataclasses.fields(plan)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            plan.method = "x"  # type: ignore[misc, union-attr]


@given(
    p=st.floats(0.3, 0.95),
    n=st.integers(5, 300),
    level=LEVELS,
    interval=st.sampled_from(PLANNING_INTERVALS),
)
@SETTINGS
def test_power_at_the_goal_is_the_false_pass_rate(
    p: float, n: int, level: float, interval: str
) -> None:
    # with the true value at the goal, P(lower bound > goal) is the one-sided error rate;
    # Clopper-Pearson guarantees it is at most (1 - level) / 2
    rate = power_goal(p, p, n=n, confidence_level=level, interval=interval).power
    assert rate == pytest.approx(_brute_power(p, p, n, interval, level), abs=1e-12)
    if interval == "clopper_pearson":
        assert rate <= (1 - level) / 2 + 1e-12

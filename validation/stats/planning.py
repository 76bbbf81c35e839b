"""Study planning: sample size and power before the test set exists.

Every function here is pure (numbers in, a frozen plan out) and states its
assumptions in the returned object, so that a plan can be pasted into a protocol
and recomputed later:

- :func:`sample_size_precision`: cases for a confidence interval of a stated
  half-width around a sensitivity or specificity (Buderer 1996).
- :func:`sample_size_goal` / :func:`power_goal`: cases for the lower confidence
  bound to clear a performance goal with a stated power, by the normal
  approximation or by an exact binomial search over the interval the analysis
  will use (Clopper-Pearson by default).
- :func:`sample_size_auc` / :func:`power_auc` / :func:`detectable_auc`: one AUC
  against a null value with Obuchowski's binormal variance function (the method of
  pROC's ``power.roc.test`` for one curve).
- :func:`sample_size_paired_auc` / :func:`power_paired_auc`: two AUCs on the same
  cases, superiority or non-inferiority (Obuchowski & McClish 1997; pROC's
  ``power.roc.test`` with binormal parameters).
- :func:`sample_size_paired_proportions` / :func:`power_paired_proportions`: two
  sensitivities (or specificities) on the same cases, superiority (Connor 1987)
  or non-inferiority with a margin (Nam 1997).
- :func:`design_effect`: inflation for patients contributing several cases
  (Donner & Klar; Eldridge et al. 2006 for unequal cluster sizes).
- :func:`power_mrmc`, :func:`sample_size_mrmc`, :func:`mrmc_tradeoff`: the
  Hillis-Obuchowski-Berbaum (2011) MRMC power from a pilot readings frame, a pilot
  analysis or declared OR variance components, and a readers x cases table.

Sample sizes are rounded up with a tolerance of ``1e-9`` (relative), so that a
formula whose exact value is a whole number is not pushed to the next integer by
floating-point residue.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

from validation.stats._checks import required
from validation.stats._params import UNIT_INTERVAL, Interval, Options, Real, Whole, validate_params
from validation.stats._results import ResultMixin
from validation.stats.detection.fom import FROC_FOMS
from validation.stats.mrmc import mrmc_analysis
from validation.stats.mrmc.data import COVARIANCES, ROC_FOMS
from validation.stats.mrmc.power import (
    MRMCPower,
    mrmc_power,
    mrmc_sample_size,
    variance_components_dict,
)

__all__ = [
    "AUCPlan",
    "DesignEffect",
    "GoalPlan",
    "MRMCPlan",
    "MRMCTradeoff",
    "PLANNING_INTERVALS",
    "PairedAUCPlan",
    "PairedProportionsPlan",
    "PrecisionPlan",
    "design_effect",
    "detectable_auc",
    "mrmc_tradeoff",
    "power_auc",
    "power_goal",
    "power_mrmc",
    "power_paired_auc",
    "power_paired_proportions",
    "sample_size_auc",
    "sample_size_goal",
    "sample_size_mrmc",
    "sample_size_paired_auc",
    "sample_size_paired_proportions",
    "sample_size_precision",
]

#: Interval methods :func:`sample_size_goal` can search exactly (those of
#: :func:`validation.stats.proportion_ci`, with its default ``clip=True``).
PLANNING_INTERVALS = (
    "clopper_pearson",
    "wilson",
    "wilson_cc",
    "agresti_coull",
    "jeffreys",
    "wald",
)
_GOAL_METHODS = ("normal", "exact")
_AUC_ALTERNATIVES = ("two-sided", "greater", "less")
_PAIRED_ALTERNATIVES = ("two-sided", "greater")
_CEIL_RTOL = 1e-9
_PREVALENCE = Interval(Real, 0, 1, closed="right")
_POSITIVE = Interval(Real, 0, None, closed="neither")
_CORRELATION = Interval(Real, -1, 1, closed="neither")
_MARGIN = Interval(Real, 0, 1, closed="left")


# --------------------------------------------------------------------------- helpers
def _number(value: Any, name: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _unit(value: Any, name: str) -> float:
    """A probability strictly between 0 and 1."""
    out = _number(value, name)
    if not 0.0 < out < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return out


def _positive(value: Any, name: str) -> float:
    out = _number(value, name)
    if out <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def _whole(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if isinstance(value, int | np.integer):
        out = int(value)
    elif (
        isinstance(value, float | np.floating)
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        out = int(value)
    else:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if out < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return out


def _choice(value: Any, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")
    return str(value)


def _ceil(x: float) -> int:
    """Round up, treating values within a relative 1e-9 of an integer as that integer."""
    nearest = round(x)
    if abs(x - nearest) <= _CEIL_RTOL * max(1.0, abs(x)):
        return int(nearest)
    return math.ceil(x)


def _norm_ppf(q: float) -> float:
    return float(special.ndtri(q))


def _norm_cdf(x: float) -> float:
    return float(special.ndtr(x))


def _z_alpha(significance_level: float, alternative: str) -> float:
    tail = significance_level / 2.0 if alternative == "two-sided" else significance_level
    return _norm_ppf(1.0 - tail)


def _total(n: int, prevalence: float | None) -> int | None:
    return None if prevalence is None else _ceil(n / prevalence)


def _prevalence(value: Any) -> float | None:
    """A share of cases in (0, 1], or None."""
    if value is None:
        return None
    out = _number(value, "prevalence")
    if not 0.0 < out <= 1.0:
        raise ValueError(f"prevalence must be in (0, 1], got {value!r}")
    return out


# --------------------------------------------------------------------------- precision
@dataclass(frozen=True)
class PrecisionPlan(ResultMixin):
    """Cases needed for a confidence interval of a stated half-width.

    Attributes
    ----------
    n : int
        Cases of the relevant class (positives for a sensitivity, negatives for a
        specificity), ``z^2 p (1 - p) / d^2`` rounded up.
    n_total : int or None
        All cases, ``ceil(n / prevalence)``; None without a prevalence.
    n_unrounded : float
        The formula's value before rounding.
    expected, half_width, confidence_level : float
    prevalence : float or None
        Share of the relevant class among all cases.
    method : str
        ``"buderer"`` (the Wald-interval formula of Buderer 1996).
    """

    n: int
    n_total: int | None
    n_unrounded: float
    expected: float
    half_width: float
    confidence_level: float
    prevalence: float | None
    method: str = "buderer"


@validate_params(
    {
        "expected": [UNIT_INTERVAL],
        "half_width": [UNIT_INTERVAL],
        "confidence_level": [UNIT_INTERVAL],
        "prevalence": [_PREVALENCE, None],
    }
)
def sample_size_precision(
    expected: float,
    half_width: float,
    *,
    confidence_level: float = 0.95,
    prevalence: float | None = None,
) -> PrecisionPlan:
    """Cases so that the two-sided interval around a proportion is at most ``±half_width``.

    ``n = z^2 p (1 - p) / d^2`` with ``z`` the two-sided normal quantile,
    ``p = expected`` and ``d = half_width``, rounded up (Buderer 1996). With
    ``prevalence``, the total number of cases to enrol so that ``n`` cases of the
    relevant class are expected: ``ceil(n / prevalence)``, where ``n`` is already
    rounded up. (epiR's ``epi.ssdxsesp`` divides the unrounded ``n``, so its total
    can be one case lower.)

    Parameters
    ----------
    expected : float
        Anticipated sensitivity (or specificity), in (0, 1).
    half_width : float
        Largest acceptable half-width of the interval, in (0, 1).
    confidence_level : float
        Two-sided confidence level.
    prevalence : float, optional
        Share of the relevant class among all cases: the disease prevalence when
        planning a sensitivity, ``1 - prevalence`` for a specificity.

    Returns
    -------
    PrecisionPlan

    Raises
    ------
    ValueError
        A parameter outside its range (the message names it).

    Examples
    --------
    >>> plan = sample_size_precision(0.9, 0.05, prevalence=0.2)
    >>> plan.n, plan.n_total
    (139, 695)

    References
    ----------
    Buderer NM. Statistical methodology: I. Incorporating the prevalence of disease
    into the sample size calculation for sensitivity and specificity. Acad Emerg Med
    1996;3:895-900. doi:10.1111/j.1553-2712.1996.tb03538.x
    """
    p = _unit(expected, "expected")
    d = _unit(half_width, "half_width")
    level = _unit(confidence_level, "confidence_level")
    prev = _prevalence(prevalence)
    z = _norm_ppf(1.0 - (1.0 - level) / 2.0)
    raw = z * z * p * (1.0 - p) / (d * d)
    n = _ceil(raw)
    return PrecisionPlan(
        n=n,
        n_total=_total(n, prev),
        n_unrounded=raw,
        expected=p,
        half_width=d,
        confidence_level=level,
        prevalence=prev,
    )


# --------------------------------------------------------------------------- goal
@dataclass(frozen=True)
class GoalPlan(ResultMixin):
    """Cases for the lower confidence bound of a proportion to exceed a goal.

    Attributes
    ----------
    n : int
        Cases of the relevant class: the smallest number with power at least
        ``target_power`` (from :func:`sample_size_goal`), or the number evaluated
        (from :func:`power_goal`).
    n_total : int or None
        ``ceil(n / prevalence)``; None without a prevalence.
    power : float
        Power at ``n``: exact binomial for ``method="exact"``, the normal
        approximation for ``method="normal"``.
    n_stable : int or None
        The smallest ``m`` such that the power is at least ``target_power`` at every
        sample size from ``m`` to ``2 m``. The exact power saw-tooths in ``n``, so a
        study one case larger than ``n`` can have less power; ``n_stable`` protects
        against losing cases. Equal to ``n`` for the (monotone) normal method; None
        from :func:`power_goal`.
    n_total_stable : int or None
        ``ceil(n_stable / prevalence)``.
    expected, goal : float
        The true proportion assumed and the goal the lower bound must exceed.
    target_power : float or None
        None from :func:`power_goal`.
    confidence_level : float
        Of the two-sided interval whose lower bound is compared with the goal.
    method : str
        ``"normal"`` or ``"exact"``.
    interval : str or None
        The interval searched by ``method="exact"`` (None for ``"normal"``).
    prevalence : float or None
    n_unrounded : float or None
        The normal formula's value before rounding (normal method only).
    """

    n: int
    n_total: int | None
    power: float
    n_stable: int | None
    n_total_stable: int | None
    expected: float
    goal: float
    target_power: float | None
    confidence_level: float
    method: str
    interval: str | None
    prevalence: float | None
    n_unrounded: float | None = None


def _lower_bounds(
    x: NDArray[np.int64], n: NDArray[np.int64], interval: str, level: float
) -> NDArray[np.float64]:
    """Vectorised lower bounds of :func:`validation.stats.proportion_ci` (``clip=True``)."""
    a = (1.0 - level) / 2.0
    xf = x.astype(np.float64)
    nf = n.astype(np.float64)
    zero = x == 0
    xs = np.where(zero, 1.0, xf)  # keep the formulas finite; x = 0 is set below
    p = xs / nf
    if interval == "clopper_pearson":
        low = special.betaincinv(xs, nf - xs + 1.0, a)
    elif interval == "jeffreys":
        low = special.betaincinv(xs + 0.5, nf - xs + 0.5, a)
    else:
        z = -float(special.ndtri(a))
        z2 = z * z
        if interval == "wilson":
            den = 1.0 + z2 / nf
            center = (p + z2 / (2.0 * nf)) / den
            half = z * np.sqrt(p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)) / den
            low = center - half
        elif interval == "wilson_cc":
            root = np.sqrt(z2 - 2.0 - 1.0 / nf + 4.0 * p * (nf * (1.0 - p) + 1.0))
            low = (2.0 * nf * p + z2 - 1.0 - z * root) / (2.0 * (nf + z2))
        elif interval == "agresti_coull":
            n_t = nf + z2
            p_t = (xs + z2 / 2.0) / n_t
            low = p_t - z * np.sqrt(p_t * (1.0 - p_t) / n_t)
        else:  # wald
            low = p - z * np.sqrt(p * (1.0 - p) / nf)
        low = np.maximum(low, 0.0)
    return np.where(zero, 0.0, low)


def _min_successes(
    n: NDArray[np.int64], goal: float, interval: str, level: float
) -> NDArray[np.int64]:
    """Smallest ``x`` whose lower bound exceeds ``goal``, for each ``n`` (``n + 1`` if none).

    Bisection on ``x`` relies on ``{x : low(x, n) > goal}`` being an upper set, which
    holds for every interval in :data:`PLANNING_INTERVALS` when ``goal > 0``: the lower
    bounds increase in ``x`` wherever they are positive.
    """
    lo = np.zeros_like(n)  # low(lo) <= goal (x = 0 has bound 0)
    hi = n + 1  # low(hi) > goal, or hi = n + 1 (none passes)
    while True:
        active = hi - lo > 1
        if not active.any():
            return hi
        mid = np.where(active, (lo + hi) // 2, 1)
        passed = _lower_bounds(mid, np.where(active, n, 1), interval, level) > goal
        hi = np.where(active & passed, mid, hi)
        lo = np.where(active & ~passed, mid, lo)


def _exact_goal_power(
    n: NDArray[np.int64], expected: float, goal: float, interval: str, level: float
) -> NDArray[np.float64]:
    x_min = _min_successes(n, goal, interval, level)
    return np.asarray(stats.binom.sf(x_min - 1, n, expected), dtype=np.float64)


def _normal_goal(p: float, g: float, level: float, power: float) -> float:
    z_a = _norm_ppf(1.0 - (1.0 - level) / 2.0)
    z_b = _norm_ppf(power)
    return ((z_a * math.sqrt(g * (1.0 - g)) + z_b * math.sqrt(p * (1.0 - p))) / (p - g)) ** 2


def _normal_goal_power(n: int, p: float, g: float, level: float) -> float:
    z_a = _norm_ppf(1.0 - (1.0 - level) / 2.0)
    return _norm_cdf(
        (math.sqrt(n) * (p - g) - z_a * math.sqrt(g * (1.0 - g))) / math.sqrt(p * (1.0 - p))
    )


def _goal_inputs(
    expected: Any, goal: Any, confidence_level: Any, method: Any, interval: Any, *, planning: bool
) -> tuple[float, float, float, str, str | None]:
    p = _unit(expected, "expected")
    g = _unit(goal, "goal")
    level = _unit(confidence_level, "confidence_level")
    how = _choice(method, _GOAL_METHODS, "method")
    if planning and g >= p:
        raise ValueError(
            f"goal must be below expected (the lower bound can only be "
            f"expected to exceed a goal the true value exceeds); got "
            f"goal={goal!r} >= expected={expected!r}"
        )
    if how == "normal":
        if interval is not None:
            raise ValueError(
                f"interval applies to method='exact' only; got "
                f"interval={interval!r} with method='normal'"
            )
        return p, g, level, how, None
    iv = _choice(
        "clopper_pearson" if interval is None else interval, PLANNING_INTERVALS, "interval"
    )
    return p, g, level, how, iv


@validate_params(
    {
        "expected": [UNIT_INTERVAL],
        "goal": [UNIT_INTERVAL],
        "power": [UNIT_INTERVAL],
        "confidence_level": [UNIT_INTERVAL],
        "method": [Options(_GOAL_METHODS)],
        "interval": [Options(PLANNING_INTERVALS), None],
        "prevalence": [_PREVALENCE, None],
        "max_n": [Whole(1)],
    }
)
def sample_size_goal(
    expected: float,
    goal: float,
    *,
    power: float = 0.8,
    confidence_level: float = 0.95,
    method: str = "normal",
    interval: str | None = None,
    prevalence: float | None = None,
    max_n: int = 1_000_000,
) -> GoalPlan:
    """Cases so that the lower confidence bound exceeds ``goal`` with probability ``power``.

    The acceptance criterion ``ci_low > goal`` for a sensitivity or specificity is
    met with probability at least ``power`` when the true value is ``expected``.

    - ``method="normal"``: ``n = ((z_{1-a} sqrt(g (1-g)) + z_power sqrt(p (1-p)))
      / (p - g))^2`` rounded up, with ``a = (1 - confidence_level) / 2`` (the score
      test of ``p = g`` at one-sided level ``a``). An approximation: the exact power of
      the analysis at this ``n`` can fall short of the target by about 0.01 (0.893
      instead of 0.90 for 0.85 against 0.75 with a Wilson interval).
    - ``method="exact"``: the smallest ``n`` with ``P(lower bound > goal) >= power``
      under ``Binomial(n, expected)``, summing the binomial probabilities of every
      count whose two-sided ``interval`` lower bound (computed as
      :func:`validation.stats.proportion_ci` computes it) exceeds the goal. The
      power curve saw-tooths (Chu & Cole 2007), so the plan also reports
      ``n_stable``, the smallest ``m`` with power at least ``power`` at every size
      from ``m`` to ``2 m``.

    Parameters
    ----------
    expected : float
        Anticipated true sensitivity (or specificity), in (0, 1).
    goal : float
        Performance goal the lower bound must exceed, ``0 < goal < expected``.
    power : float
        Target probability of meeting the criterion, in (0, 1).
    confidence_level : float
        Two-sided level of the interval used in the analysis.
    method : {"normal", "exact"}
    interval : {"clopper_pearson", "wilson", "wilson_cc", "agresti_coull", "jeffreys", \
"wald"}, optional
        Interval whose lower bound the exact search uses; default Clopper-Pearson.
        Only with ``method="exact"``. Use the protocol's interval method.
    prevalence : float, optional
        Share of the relevant class among all cases (see :func:`sample_size_precision`).
    max_n : int
        Largest sample size the exact search considers.

    Returns
    -------
    GoalPlan

    Raises
    ------
    ValueError
        A parameter outside its range, ``goal >= expected``, or (exact) no sample size
        up to ``max_n`` reaches the power.

    Examples
    --------
    >>> sample_size_goal(0.9, 0.8, power=0.9).n
    137
    >>> plan = sample_size_goal(0.9, 0.8, power=0.8, method="exact")
    >>> plan.n, plan.n_stable, round(plan.power, 4)
    (107, 113, 0.8191)

    References
    ----------
    Flahault A, Cadilhac M, Thomas G. Sample size calculation should be performed for
    design accuracy in diagnostic test studies. J Clin Epidemiol 2005;58:859-862.
    doi:10.1016/j.jclinepi.2004.12.009
    Chu H, Cole SR. Sample size calculation using exact methods in diagnostic test
    studies. J Clin Epidemiol 2007;60:1201-1202. doi:10.1016/j.jclinepi.2006.09.015
    Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the
    case of the binomial. Biometrika 1934;26:404-413. doi:10.1093/biomet/26.4.404
    """
    p, g, level, how, iv = _goal_inputs(
        expected, goal, confidence_level, method, interval, planning=True
    )
    target = _unit(power, "power")
    prev = _prevalence(prevalence)
    limit = _whole(max_n, "max_n", 1)
    raw = _normal_goal(p, g, level, target)
    if how == "normal":
        n = max(_ceil(raw), 1)
        return GoalPlan(
            n=n,
            n_total=_total(n, prev),
            power=_normal_goal_power(n, p, g, level),
            n_stable=n,
            n_total_stable=_total(n, prev),
            expected=p,
            goal=g,
            target_power=target,
            confidence_level=level,
            method=how,
            interval=None,
            prevalence=prev,
            n_unrounded=raw,
        )
    iv = required(iv, "the interval of method='exact'")
    top = min(max(64, 4 * _ceil(raw)), limit)
    while True:
        ns = np.arange(1, top + 1, dtype=np.int64)
        pw = _exact_goal_power(ns, p, g, iv, level)
        ok = pw >= target
        first = int(np.argmax(ok)) if ok.any() else -1
        if first >= 0:
            # next_bad[i]: first index >= i where the power falls short (len if none)
            idx = np.where(~ok, np.arange(top), top)
            next_bad = np.minimum.accumulate(idx[::-1])[::-1]
            stable = (next_bad > 2 * ns - 1) & (2 * ns <= top)
            if stable.any():
                n = int(ns[first])
                m = int(ns[int(np.argmax(stable))])
                return GoalPlan(
                    n=n,
                    n_total=_total(n, prev),
                    power=float(pw[first]),
                    n_stable=m,
                    n_total_stable=_total(m, prev),
                    expected=p,
                    goal=g,
                    target_power=target,
                    confidence_level=level,
                    method=how,
                    interval=iv,
                    prevalence=prev,
                )
        if top >= limit:
            best = float(pw.max())
            raise ValueError(
                f"no sample size up to max_n={limit} gives {target!r} power (and keeps it up "
                f"to twice that size) for expected={p!r} against goal={g!r}; the best power "
                f"found is {best:.4f}. Raise max_n or revise the design"
            )
        top = min(2 * top, limit)


@validate_params(
    {
        "expected": [UNIT_INTERVAL],
        "goal": [UNIT_INTERVAL],
        "n": [Whole(1)],
        "confidence_level": [UNIT_INTERVAL],
        "method": [Options(_GOAL_METHODS)],
        "interval": [Options(PLANNING_INTERVALS), None],
        "prevalence": [_PREVALENCE, None],
    }
)
def power_goal(
    expected: float,
    goal: float,
    *,
    n: int,
    confidence_level: float = 0.95,
    method: str = "exact",
    interval: str | None = None,
    prevalence: float | None = None,
) -> GoalPlan:
    """Probability that the lower confidence bound exceeds ``goal`` with ``n`` cases.

    The power a study of ``n`` cases of the relevant class actually has (e.g. with
    the counts observed), by the exact binomial sum over the counts whose
    ``interval`` lower bound exceeds the goal (default) or by the normal
    approximation. See :func:`sample_size_goal` for the parameters; here ``expected``
    may lie at or below the goal (the power is then the chance of a false pass).

    Returns
    -------
    GoalPlan
        With ``target_power``, ``n_stable`` and ``n_total_stable`` None.

    Examples
    --------
    >>> round(power_goal(0.9, 0.8, n=137).power, 4)
    0.91

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. doi:10.1093/biomet/26.4.404
    Chu H, Cole SR. J Clin Epidemiol 2007;60:1201-1202. doi:10.1016/j.jclinepi.2006.09.015
    """
    p, g, level, how, iv = _goal_inputs(
        expected, goal, confidence_level, method, interval, planning=False
    )
    m = _whole(n, "n", 1)
    prev = _prevalence(prevalence)
    if how == "normal":
        pw = _normal_goal_power(m, p, g, level)
    else:
        iv = required(iv, "the interval of method='exact'")
        pw = float(_exact_goal_power(np.array([m], dtype=np.int64), p, g, iv, level)[0])
    return GoalPlan(
        n=m,
        n_total=_total(m, prev),
        power=pw,
        n_stable=None,
        n_total_stable=None,
        expected=p,
        goal=g,
        target_power=None,
        confidence_level=level,
        method=how,
        interval=iv,
        prevalence=prev,
    )


# --------------------------------------------------------------------------- one AUC
@dataclass(frozen=True)
class AUCPlan(ResultMixin):
    """Positives and negatives for testing one AUC against a null value.

    Attributes
    ----------
    n_positive, n_negative : int
        Rounded up (from :func:`sample_size_auc`) or as given (:func:`power_auc`).
    n_positive_unrounded, n_negative_unrounded : float or None
        The formula's values (``n_negative = ratio * n_positive``); None from
        :func:`power_auc`.
    power : float
        Power at the rounded counts.
    expected, null : float
        The anticipated AUC and the null value.
    ratio : float
        Negatives per positive.
    significance_level : float
    target_power : float or None
    alternative : str
    method : str
        ``"obuchowski"``.
    """

    n_positive: int
    n_negative: int
    n_positive_unrounded: float | None
    n_negative_unrounded: float | None
    power: float
    expected: float
    null: float
    ratio: float
    significance_level: float
    target_power: float | None
    alternative: str
    method: str = "obuchowski"


def _auc_variance(theta: float, ratio: float) -> float:
    """Obuchowski's variance function of the AUC (times ``n_positive``), binormal ``B = 1``.

    ``A = Phi^-1(theta) * 1.414``; ``V = 0.0099 exp(-A^2/2) ((5 A^2 + 8) + (A^2 + 8)/ratio)``
    (Obuchowski 1994, as in pROC's ``var.theta.obuchowski``).
    """
    a = _norm_ppf(theta) * 1.414
    return 0.0099 * math.exp(-a * a / 2.0) * ((5.0 * a * a + 8.0) + (a * a + 8.0) / ratio)


def _auc_inputs(
    expected: Any, null: Any, significance_level: Any, alternative: Any
) -> tuple[float, float, float, str]:
    theta = _unit(expected, "expected")
    theta0 = _unit(null, "null")
    alpha = _unit(significance_level, "significance_level")
    alt = _choice(alternative, _AUC_ALTERNATIVES, "alternative")
    if theta == theta0:
        raise ValueError(f"expected must differ from null; both are {theta!r}")
    if alt == "greater" and theta < theta0:
        raise ValueError(
            f"alternative='greater' needs expected > null; got expected="
            f"{expected!r} < null={null!r}"
        )
    if alt == "less" and theta > theta0:
        raise ValueError(
            f"alternative='less' needs expected < null; got expected={expected!r} > null={null!r}"
        )
    return theta, theta0, alpha, alt


def _auc_power(
    theta: float, theta0: float, n_pos: float, n_neg: float, alpha: float, alt: str
) -> float:
    ratio = n_neg / n_pos
    z_a = _z_alpha(alpha, alt)
    v0, va = _auc_variance(theta0, ratio), _auc_variance(theta, ratio)
    return _norm_cdf((math.sqrt(n_pos) * abs(theta - theta0) - z_a * math.sqrt(v0)) / math.sqrt(va))


@validate_params(
    {
        "expected": [UNIT_INTERVAL],
        "null": [UNIT_INTERVAL],
        "ratio": [_POSITIVE],
        "significance_level": [UNIT_INTERVAL],
        "power": [UNIT_INTERVAL],
        "alternative": [Options(_AUC_ALTERNATIVES)],
    }
)
def sample_size_auc(
    expected: float,
    *,
    null: float = 0.5,
    ratio: float = 1.0,
    significance_level: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
) -> AUCPlan:
    """Positives and negatives to show that an AUC differs from (or exceeds) a null value.

    ``n_positive = (z_a sqrt(V(null)) + z_power sqrt(V(expected)))^2 / (expected - null)^2``
    and ``n_negative = ratio * n_positive``, with Obuchowski's binormal (``B = 1``)
    variance function ``V(theta) = 0.0099 exp(-A^2/2) ((5A^2 + 8) + (A^2 + 8)/ratio)``,
    ``A = 1.414 Phi^-1(theta)``. With ``null=0.5`` this is pROC's ``power.roc.test``
    for one curve (``kappa = ratio``; its ``"one.sided"`` is ``"greater"`` here);
    other nulls use the same variance function at the null. ``z_a`` is
    ``z_{1 - alpha/2}`` for ``"two-sided"`` (power counts the tail of ``expected``,
    as pROC does) and ``z_{1 - alpha}`` for ``"greater"`` / ``"less"``.

    The variance function is that of the binormal maximum-likelihood AUC. For the
    empirical AUC analysed with DeLong's standard error (:func:`auc_test`) it is close
    at AUCs near 0.5 but overstates the variance at high AUCs (about 1.5 times at 0.9),
    so plans against a null above 0.5 are conservative: simulated power 0.90 and 0.97
    at a target of 0.80 for 0.85 against 0.75 and 0.9 against 0.8
    (``tests/stats/planning/test_planning_simulation.py``).

    Parameters
    ----------
    expected : float
        Anticipated AUC, in (0, 1).
    null : float
        AUC under the null hypothesis, in (0, 1).
    ratio : float
        Negatives per positive (pROC's ``kappa``), > 0.
    significance_level : float
        Type I error rate, in (0, 1).
    power : float
        Target power, in (0, 1).
    alternative : {"two-sided", "greater", "less"}

    Returns
    -------
    AUCPlan

    Examples
    --------
    pROC's example ``power.roc.test(auc=0.73, sig.level=0.05, power=0.95, kappa=1.7)``
    gives ``ncases = 29.6702``, ``ncontrols = 50.43933``:

    >>> plan = sample_size_auc(0.73, power=0.95, ratio=1.7)
    >>> round(plan.n_positive_unrounded, 4), plan.n_positive, plan.n_negative
    (29.6702, 30, 51)

    References
    ----------
    Obuchowski NA. Computing sample size for receiver operating characteristic
    studies. Invest Radiol 1994;29:238-243. doi:10.1097/00004424-199402000-00020
    Obuchowski NA, McClish DK. Sample size determination for diagnostic accuracy
    studies involving binormal ROC curve indices. Stat Med 1997;16:1529-1542.
    doi:10.1002/(SICI)1097-0258(19970715)16:13<1529::AID-SIM565>3.0.CO;2-H
    Robin X, Turck N, Hainard A, et al. pROC: an open-source package for R and S+ to
    analyze and compare ROC curves. BMC Bioinformatics 2011;12:77.
    doi:10.1186/1471-2105-12-77
    """
    theta, theta0, alpha, alt = _auc_inputs(expected, null, significance_level, alternative)
    k = _positive(ratio, "ratio")
    target = _unit(power, "power")
    z_a, z_b = _z_alpha(alpha, alt), _norm_ppf(target)
    v0, va = _auc_variance(theta0, k), _auc_variance(theta, k)
    raw = (z_a * math.sqrt(v0) + z_b * math.sqrt(va)) ** 2 / (theta - theta0) ** 2
    n_pos, n_neg = max(_ceil(raw), 1), max(_ceil(k * raw), 1)
    return AUCPlan(
        n_positive=n_pos,
        n_negative=n_neg,
        n_positive_unrounded=raw,
        n_negative_unrounded=k * raw,
        power=_auc_power(theta, theta0, n_pos, n_neg, alpha, alt),
        expected=theta,
        null=theta0,
        ratio=k,
        significance_level=alpha,
        target_power=target,
        alternative=alt,
    )


@validate_params(
    {
        "expected": [UNIT_INTERVAL],
        "n_positive": [Whole(1)],
        "n_negative": [Whole(1)],
        "null": [UNIT_INTERVAL],
        "significance_level": [UNIT_INTERVAL],
        "alternative": [Options(_AUC_ALTERNATIVES)],
    }
)
def power_auc(
    expected: float,
    *,
    n_positive: int,
    n_negative: int,
    null: float = 0.5,
    significance_level: float = 0.05,
    alternative: str = "two-sided",
) -> AUCPlan:
    """Power of the one-AUC test with ``n_positive`` positives and ``n_negative`` negatives.

    ``Phi((sqrt(n_positive) |expected - null| - z_a sqrt(V(null))) / sqrt(V(expected)))``
    with ``ratio = n_negative / n_positive`` (pROC's ``power.roc.test`` with ``ncases``,
    ``ncontrols`` and ``auc``). See :func:`sample_size_auc`.

    Returns
    -------
    AUCPlan
        With the unrounded counts and ``target_power`` None.

    Examples
    --------
    pROC: ``power.roc.test(ncases=41, ncontrols=72, auc=0.73)`` gives 0.9897453.

    >>> round(power_auc(0.73, n_positive=41, n_negative=72).power, 7)
    0.9897453

    References
    ----------
    Obuchowski NA. Invest Radiol 1994;29:238-243. doi:10.1097/00004424-199402000-00020
    Robin X, et al. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    """
    theta, theta0, alpha, alt = _auc_inputs(expected, null, significance_level, alternative)
    n_pos = _whole(n_positive, "n_positive", 1)
    n_neg = _whole(n_negative, "n_negative", 1)
    return AUCPlan(
        n_positive=n_pos,
        n_negative=n_neg,
        n_positive_unrounded=None,
        n_negative_unrounded=None,
        power=_auc_power(theta, theta0, n_pos, n_neg, alpha, alt),
        expected=theta,
        null=theta0,
        ratio=n_neg / n_pos,
        significance_level=alpha,
        target_power=None,
        alternative=alt,
    )


@validate_params(
    {
        "n_positive": [Whole(1)],
        "n_negative": [Whole(1)],
        "null": [UNIT_INTERVAL],
        "significance_level": [UNIT_INTERVAL],
        "power": [UNIT_INTERVAL],
        "alternative": [Options(_AUC_ALTERNATIVES)],
    }
)
def detectable_auc(
    *,
    n_positive: int,
    n_negative: int,
    null: float = 0.5,
    significance_level: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
) -> AUCPlan:
    """Smallest AUC (largest, for ``"less"``) the one-AUC test detects with ``power``.

    Solves :func:`power_auc` for ``expected`` (pROC's ``power.roc.test`` with ``ncases``,
    ``ncontrols``, ``sig.level`` and ``power``, which solves with ``uniroot`` to about
    1e-4; here to 1e-12).

    Returns
    -------
    AUCPlan
        ``expected`` is the detectable AUC; ``power`` equals ``target_power``.

    Raises
    ------
    ValueError
        A parameter outside its range, or no AUC short of 1 (above 0, for ``"less"``)
        reaches the power with these counts.

    Examples
    --------
    pROC: ``power.roc.test(ncases=41, ncontrols=72, sig.level=0.05, power=0.95)`` gives
    ``auc = 0.6961`` (printed).

    >>> round(detectable_auc(n_positive=41, n_negative=72, power=0.95).expected, 4)
    0.6961

    References
    ----------
    Obuchowski NA. Invest Radiol 1994;29:238-243. doi:10.1097/00004424-199402000-00020
    Robin X, et al. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    """
    theta0 = _unit(null, "null")
    alpha = _unit(significance_level, "significance_level")
    alt = _choice(alternative, _AUC_ALTERNATIVES, "alternative")
    target = _unit(power, "power")
    n_pos = _whole(n_positive, "n_positive", 1)
    n_neg = _whole(n_negative, "n_negative", 1)
    eps = 1e-12
    lo, hi = (eps, theta0 - eps) if alt == "less" else (theta0 + eps, 1.0 - eps)
    far = lo if alt == "less" else hi

    def gap(theta: float) -> float:
        return _auc_power(theta, theta0, n_pos, n_neg, alpha, alt) - target

    if gap(far) < 0:
        raise ValueError(
            f"no AUC {'above 0' if alt == 'less' else 'below 1'} reaches power {target!r} "
            f"with n_positive={n_pos} and n_negative={n_neg} against null={theta0!r}; the "
            f"best is {_auc_power(far, theta0, n_pos, n_neg, alpha, alt):.4f}"
        )
    theta = float(optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps))
    return AUCPlan(
        n_positive=n_pos,
        n_negative=n_neg,
        n_positive_unrounded=None,
        n_negative_unrounded=None,
        power=_auc_power(theta, theta0, n_pos, n_neg, alpha, alt),
        expected=theta,
        null=theta0,
        ratio=n_neg / n_pos,
        significance_level=alpha,
        target_power=target,
        alternative=alt,
    )


# --------------------------------------------------------------------------- two AUCs
@dataclass(frozen=True)
class PairedAUCPlan(ResultMixin):
    """Positives and negatives for comparing two AUCs measured on the same cases.

    Attributes
    ----------
    n_positive, n_negative : int
    n_positive_unrounded, n_negative_unrounded : float or None
    power : float
        At the rounded counts.
    auc_1, auc_2 : float
        Anticipated AUCs of test 1 (the new test) and test 2 (the comparator).
    margin : float
        Non-inferiority margin (0: superiority / difference).
    correlation_positive, correlation_negative : float
        Correlation of the two tests' (binormal latent) scores in positives and in
        negatives.
    b_1, b_2 : float
        Binormal slope parameters ``B = sd_negatives / sd_positives``.
    ratio, significance_level : float
    target_power : float or None
    alternative : str
    variance_null, variance_alternative : float
        ``n_positive`` times the variance of the AUC difference under the null and the
        alternative (``V0 = 2 V1 - 2 C12``, ``VA = V1 + V2 - 2 C12``).
    method : str
        ``"obuchowski_mcclish"``.
    """

    n_positive: int
    n_negative: int
    n_positive_unrounded: float | None
    n_negative_unrounded: float | None
    power: float
    auc_1: float
    auc_2: float
    margin: float
    correlation_positive: float
    correlation_negative: float
    b_1: float
    b_2: float
    ratio: float
    significance_level: float
    target_power: float | None
    alternative: str
    variance_null: float
    variance_alternative: float
    method: str = "obuchowski_mcclish"


def _fg(a: float, b: float) -> tuple[float, float]:
    """Partial derivatives of the binormal AUC ``Phi(a / sqrt(1 + b^2))`` in a and b."""
    e2 = 1.0 + b * b
    e1 = math.exp(-a * a / (2.0 * e2))
    return e1 / math.sqrt(2.0 * math.pi * e2), -e1 * a * b / math.sqrt(2.0 * math.pi * e2**3)


def _binormal_var(a: float, b: float, k: float) -> float:
    f, g = _fg(a, b)
    return f * f * (1.0 + b * b / k + a * a / 2.0) + g * g * b * b * (1.0 + k) / (2.0 * k)


def _binormal_cov(
    a1: float, b1: float, a2: float, b2: float, rn: float, ra: float, k: float
) -> float:
    f1, g1 = _fg(a1, b1)
    f2, g2 = _fg(a2, b2)
    return (
        f1 * f2 * (ra + rn * b1 * b2 / k + ra * ra * a1 * a2 / 2.0)
        + g1 * g2 * (b1 * b2 * (rn * rn + k * ra * ra) / (2.0 * k))
        + f1 * g2 * (ra * ra * a1 * b2 / 2.0)
        + f2 * g1 * (ra * ra * a2 * b1 / 2.0)
    )


def _correlation(value: Any, name: str) -> float:
    out = _number(value, name)
    if not -1.0 < out < 1.0:
        raise ValueError(f"{name} must be in (-1, 1), got {value!r}")
    return out


def _paired_auc_setup(
    auc_1: Any,
    auc_2: Any,
    correlation: Any,
    correlation_negative: Any,
    b_1: Any,
    b_2: Any,
    margin: Any,
    significance_level: Any,
    alternative: Any,
) -> dict[str, Any]:
    t1, t2 = _unit(auc_1, "auc_1"), _unit(auc_2, "auc_2")
    ra = _correlation(correlation, "correlation")
    rn = (
        ra
        if correlation_negative is None
        else _correlation(correlation_negative, "correlation_negative")
    )
    s1, s2 = _positive(b_1, "b_1"), _positive(b_2, "b_2")
    m = _number(margin, "margin")
    if not 0.0 <= m < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    alpha = _unit(significance_level, "significance_level")
    alt = _choice(alternative, _PAIRED_ALTERNATIVES, "alternative")
    effect = t1 - t2 + m
    if (m > 0 or alt == "greater") and effect <= 0:
        raise ValueError(
            f"the design cannot succeed: auc_1 - auc_2 + margin must be > 0 for a "
            f"one-directional (non-inferiority or 'greater') hypothesis; got "
            f"{t1!r} - {t2!r} + {m!r} = {effect:.4g}"
        )
    if effect == 0:
        raise ValueError(f"auc_1 and auc_2 must differ when margin is 0; both are {t1!r}")
    return {
        "t1": t1,
        "t2": t2,
        "ra": ra,
        "rn": rn,
        "b1": s1,
        "b2": s2,
        "margin": m,
        "alpha": alpha,
        "alt": alt,
        "effect": abs(effect),
        "a1": _norm_ppf(t1) * math.sqrt(1.0 + s1 * s1),
        "a2": _norm_ppf(t2) * math.sqrt(1.0 + s2 * s2),
    }


def _paired_auc_variances(s: dict[str, Any], k: float) -> tuple[float, float]:
    v1 = _binormal_var(s["a1"], s["b1"], k)
    v2 = _binormal_var(s["a2"], s["b2"], k)
    c12 = _binormal_cov(s["a1"], s["b1"], s["a2"], s["b2"], s["rn"], s["ra"], k)
    v0, va = 2.0 * v1 - 2.0 * c12, v1 + v2 - 2.0 * c12
    if v0 <= 0 or va <= 0:
        raise ValueError(
            f"the binormal parameters give a non-positive variance of the AUC difference "
            f"(null 2 V1 - 2 C12 = {v0:.4g}, alternative V1 + V2 - 2 C12 = {va:.4g}): the "
            f"covariance of the two AUCs exceeds the variance of test 1's; this variance "
            f"function does not apply to so high a correlation with so different AUCs "
            f"(lower the correlation or check the B parameters)"
        )
    return v0, va


def _paired_auc_power(s: dict[str, Any], n_pos: float, n_neg: float) -> tuple[float, float, float]:
    v0, va = _paired_auc_variances(s, n_neg / n_pos)
    z_a = _z_alpha(s["alpha"], s["alt"])
    pw = _norm_cdf((math.sqrt(n_pos) * s["effect"] - z_a * math.sqrt(v0)) / math.sqrt(va))
    return pw, v0, va


@validate_params(
    {
        "auc_1": [UNIT_INTERVAL],
        "auc_2": [UNIT_INTERVAL],
        "correlation": [_CORRELATION],
        "correlation_negative": [_CORRELATION, None],
        "b_1": [_POSITIVE],
        "b_2": [_POSITIVE],
        "margin": [_MARGIN],
        "ratio": [_POSITIVE],
        "significance_level": [UNIT_INTERVAL],
        "power": [UNIT_INTERVAL],
        "alternative": [Options(_PAIRED_ALTERNATIVES)],
    }
)
def sample_size_paired_auc(
    auc_1: float,
    auc_2: float,
    *,
    correlation: float,
    correlation_negative: float | None = None,
    b_1: float = 1.0,
    b_2: float = 1.0,
    margin: float = 0.0,
    ratio: float = 1.0,
    significance_level: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
) -> PairedAUCPlan:
    """Cases to compare two AUCs measured on the same cases (paired design).

    Binormal model for each test (``A = Phi^-1(auc) sqrt(1 + B^2)``) with correlated
    latent scores; the variances ``V1, V2`` and covariance ``C12`` of the two AUC
    estimates (times ``n_positive``) are Obuchowski & McClish's (1997) functions, as
    in pROC's ``power.roc.test`` with a list of binormal parameters. Then
    ``n_positive = (z_a sqrt(V0) + z_power sqrt(VA))^2 / (auc_1 - auc_2 + margin)^2``
    with ``V0 = 2 V1 - 2 C12`` (null: two tests like test 1) and
    ``VA = V1 + V2 - 2 C12``, and ``n_negative = ratio * n_positive``.

    The hypothesis is ``H1: auc_1 - auc_2 > -margin``. With ``margin = 0`` and
    ``alternative="two-sided"`` it is pROC's test of a difference (either direction);
    with ``margin > 0`` it is non-inferiority of test 1, shown by the lower bound of
    the two-sided ``1 - significance_level`` interval (``"two-sided"``) or by a
    one-sided test at ``significance_level`` (``"greater"``).

    As for :func:`sample_size_auc`, the binormal variances overstate those of empirical
    AUCs at high AUCs, so the plans are conservative for a DeLong analysis
    (:func:`compare_auc`): simulated power 0.86-0.98 at a target of 0.80 in
    ``tests/stats/planning/test_planning_simulation.py``. The null variance
    ``2 V1 - 2 C12`` can turn negative for a strongly correlated pair with very different
    AUCs; that design raises ValueError.

    Parameters
    ----------
    auc_1, auc_2 : float
        Anticipated AUCs of the new test and the comparator.
    correlation : float
        Correlation of the two tests' scores in positives, and in negatives unless
        ``correlation_negative`` is given (pROC's ``ra`` and ``rn``).
    correlation_negative : float, optional
    b_1, b_2 : float
        Binormal ``B`` (standard deviation of negatives over that of positives).
    margin : float
        Non-inferiority margin, ``>= 0``.
    ratio : float
        Negatives per positive.
    significance_level, power : float
    alternative : {"two-sided", "greater"}

    Returns
    -------
    PairedAUCPlan

    Examples
    --------
    >>> plan = sample_size_paired_auc(0.85, 0.80, correlation=0.5)
    >>> plan.n_positive, plan.n_negative
    (410, 410)

    References
    ----------
    Obuchowski NA, McClish DK. Sample size determination for diagnostic accuracy
    studies involving binormal ROC curve indices. Stat Med 1997;16:1529-1542.
    doi:10.1002/(SICI)1097-0258(19970715)16:13<1529::AID-SIM565>3.0.CO;2-H
    Robin X, et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    """
    s = _paired_auc_setup(
        auc_1,
        auc_2,
        correlation,
        correlation_negative,
        b_1,
        b_2,
        margin,
        significance_level,
        alternative,
    )
    k = _positive(ratio, "ratio")
    target = _unit(power, "power")
    v0, va = _paired_auc_variances(s, k)
    z_a, z_b = _z_alpha(s["alpha"], s["alt"]), _norm_ppf(target)
    raw = (z_a * math.sqrt(v0) + z_b * math.sqrt(va)) ** 2 / s["effect"] ** 2
    n_pos, n_neg = max(_ceil(raw), 1), max(_ceil(k * raw), 1)
    pw, _, _ = _paired_auc_power(s, n_pos, n_neg)
    return PairedAUCPlan(
        n_positive=n_pos,
        n_negative=n_neg,
        n_positive_unrounded=raw,
        n_negative_unrounded=k * raw,
        power=pw,
        auc_1=s["t1"],
        auc_2=s["t2"],
        margin=s["margin"],
        correlation_positive=s["ra"],
        correlation_negative=s["rn"],
        b_1=s["b1"],
        b_2=s["b2"],
        ratio=k,
        significance_level=s["alpha"],
        target_power=target,
        alternative=s["alt"],
        variance_null=v0,
        variance_alternative=va,
    )


@validate_params(
    {
        "auc_1": [UNIT_INTERVAL],
        "auc_2": [UNIT_INTERVAL],
        "n_positive": [Whole(1)],
        "n_negative": [Whole(1)],
        "correlation": [_CORRELATION],
        "correlation_negative": [_CORRELATION, None],
        "b_1": [_POSITIVE],
        "b_2": [_POSITIVE],
        "margin": [_MARGIN],
        "significance_level": [UNIT_INTERVAL],
        "alternative": [Options(_PAIRED_ALTERNATIVES)],
    }
)
def power_paired_auc(
    auc_1: float,
    auc_2: float,
    *,
    n_positive: int,
    n_negative: int,
    correlation: float,
    correlation_negative: float | None = None,
    b_1: float = 1.0,
    b_2: float = 1.0,
    margin: float = 0.0,
    significance_level: float = 0.05,
    alternative: str = "two-sided",
) -> PairedAUCPlan:
    """Power of the paired two-AUC comparison with the given case counts.

    ``Phi((sqrt(n_positive) (auc_1 - auc_2 + margin) - z_a sqrt(V0)) / sqrt(VA))`` with
    ``ratio = n_negative / n_positive``; see :func:`sample_size_paired_auc`.

    Returns
    -------
    PairedAUCPlan
        With the unrounded counts and ``target_power`` None.

    Examples
    --------
    >>> p = power_paired_auc(0.85, 0.80, n_positive=410, n_negative=410, correlation=0.5)
    >>> round(p.power, 4)
    0.8008

    References
    ----------
    Obuchowski NA, McClish DK. Stat Med 1997;16:1529-1542.
    doi:10.1002/(SICI)1097-0258(19970715)16:13<1529::AID-SIM565>3.0.CO;2-H
    """
    s = _paired_auc_setup(
        auc_1,
        auc_2,
        correlation,
        correlation_negative,
        b_1,
        b_2,
        margin,
        significance_level,
        alternative,
    )
    n_pos = _whole(n_positive, "n_positive", 1)
    n_neg = _whole(n_negative, "n_negative", 1)
    pw, v0, va = _paired_auc_power(s, n_pos, n_neg)
    return PairedAUCPlan(
        n_positive=n_pos,
        n_negative=n_neg,
        n_positive_unrounded=None,
        n_negative_unrounded=None,
        power=pw,
        auc_1=s["t1"],
        auc_2=s["t2"],
        margin=s["margin"],
        correlation_positive=s["ra"],
        correlation_negative=s["rn"],
        b_1=s["b1"],
        b_2=s["b2"],
        ratio=n_neg / n_pos,
        significance_level=s["alpha"],
        target_power=None,
        alternative=s["alt"],
        variance_null=v0,
        variance_alternative=va,
    )


# --------------------------------------------------------------------------- two proportions
@dataclass(frozen=True)
class PairedProportionsPlan(ResultMixin):
    """Cases for comparing two proportions (e.g. sensitivities) on the same cases.

    Attributes
    ----------
    n : int
        Cases of the relevant class (positives for sensitivities).
    n_total : int or None
        ``ceil(n / prevalence)``.
    n_unrounded : float or None
    power : float
        At ``n``.
    p_1, p_2 : float
        Anticipated proportions of test 1 (new) and test 2 (comparator).
    margin : float
        Non-inferiority margin (0: difference / superiority).
    discordance : float
        ``P(test 1 positive, test 2 negative) + P(test 1 negative, test 2 positive)``.
    correlation : float
        Correlation (phi) of the two binary results implied by the discordance.
    variance_null, variance_alternative : float
        ``n`` times the variance of the estimated difference under the null
        (restricted maximum likelihood at ``p_1 - p_2 = -margin``) and under the
        alternative (``discordance - (p_1 - p_2)^2``).
    significance_level : float
    target_power : float or None
    alternative : str
    prevalence : float or None
    method : str
        ``"connor"`` (margin 0) or ``"nam"`` (margin > 0).
    """

    n: int
    n_total: int | None
    n_unrounded: float | None
    power: float
    p_1: float
    p_2: float
    margin: float
    discordance: float
    correlation: float
    variance_null: float
    variance_alternative: float
    significance_level: float
    target_power: float | None
    alternative: str
    prevalence: float | None
    method: str


def _paired_cells(
    p1: float, p2: float, discordance: Any, correlation: Any
) -> tuple[float, float, float, float]:
    """Return ``(p11, p10, p01, p00)`` from the marginals and a discordance or correlation."""
    if (discordance is None) == (correlation is None):
        raise ValueError(
            "give exactly one of discordance and correlation; got "
            f"discordance={discordance!r}, correlation={correlation!r}"
        )
    delta = p1 - p2
    if discordance is not None:
        psi = _unit(discordance, "discordance")
        p10, p01 = (psi + delta) / 2.0, (psi - delta) / 2.0
        p11 = p1 - p10
    else:
        rho = _number(correlation, "correlation")
        if not -1.0 <= rho <= 1.0:
            raise ValueError(f"correlation must be in [-1, 1], got {correlation!r}")
        p11 = p1 * p2 + rho * math.sqrt(p1 * (1.0 - p1) * p2 * (1.0 - p2))
        p10, p01 = p1 - p11, p2 - p11
    p00 = 1.0 - p11 - p10 - p01
    cells = (p11, p10, p01, p00)
    tol = 1e-12
    if min(cells) < -tol:
        given = (
            f"discordance={discordance!r}"
            if discordance is not None
            else f"correlation={correlation!r}"
        )
        raise ValueError(
            f"{given} is impossible with p_1={p1!r} and p_2={p2!r}: it implies the cell "
            f"probabilities (both positive, only test 1, only test 2, both negative) = "
            f"({p11:.4g}, {p10:.4g}, {p01:.4g}, {p00:.4g}); the discordance must lie "
            f"between |p_1 - p_2| = {abs(delta):.4g} and "
            f"{min(p1 + p2, 2.0 - p1 - p2):.4g}"
        )
    out = tuple(max(c, 0.0) for c in cells)
    return out[0], out[1], out[2], out[3]


def _restricted_variance(p10: float, p01: float, delta0: float) -> float:
    """``n`` Var of the paired difference at the restricted MLE under ``p10 - p01 = delta0``.

    Maximises the multinomial likelihood of the cell proportions subject to the null;
    the profile score in ``q = p01`` gives ``2 q^2 + B q + C = 0`` with
    ``B = -(p10 + p01) + delta0 (2 - p10 + p01)`` and ``C = -p01 delta0 (1 - delta0)``
    (Nam 1997; Tango 1998). Returns ``psi0 - delta0^2`` with ``psi0 = 2 q + delta0``.
    """
    b = -(p10 + p01) + delta0 * (2.0 - p10 + p01)
    c = -p01 * delta0 * (1.0 - delta0)
    q = (-b + math.sqrt(b * b - 8.0 * c)) / 4.0
    psi0 = 2.0 * q + delta0
    return psi0 - delta0 * delta0


def _paired_prop_setup(
    p_1: Any,
    p_2: Any,
    discordance: Any,
    correlation: Any,
    margin: Any,
    significance_level: Any,
    alternative: Any,
) -> dict[str, Any]:
    p1, p2 = _unit(p_1, "p_1"), _unit(p_2, "p_2")
    m = _number(margin, "margin")
    if not 0.0 <= m < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    alpha = _unit(significance_level, "significance_level")
    alt = _choice(alternative, _PAIRED_ALTERNATIVES, "alternative")
    p11, p10, p01, p00 = _paired_cells(p1, p2, discordance, correlation)
    delta = p1 - p2
    effect = delta + m
    if (m > 0 or alt == "greater") and effect <= 0:
        raise ValueError(
            f"the design cannot succeed: p_1 - p_2 + margin must be > 0 for a "
            f"one-directional (non-inferiority or 'greater') hypothesis; got "
            f"{p1!r} - {p2!r} + {m!r} = {effect:.4g}"
        )
    if effect == 0:
        raise ValueError(f"p_1 and p_2 must differ when margin is 0; both are {p1!r}")
    psi = p10 + p01
    var_a = psi - delta * delta
    if var_a <= 0:
        raise ValueError(
            f"the two tests never disagree (discordance {psi!r}): the estimated "
            f"difference has no variance and no sample size applies"
        )
    # the null boundary p10 - p01 = -margin; at margin 0 this is Connor's psi
    var_0 = _restricted_variance(p10, p01, -m) if m > 0 else psi
    sd_1 = math.sqrt(p1 * (1.0 - p1))
    sd_2 = math.sqrt(p2 * (1.0 - p2))
    rho = (p11 - p1 * p2) / (sd_1 * sd_2)
    return {
        "p1": p1,
        "p2": p2,
        "margin": m,
        "alpha": alpha,
        "alt": alt,
        "psi": psi,
        "rho": rho,
        "effect": abs(effect),
        "var_0": var_0,
        "var_a": var_a,
        "method": "nam" if m > 0 else "connor",
    }


def _paired_prop_power(s: dict[str, Any], n: float) -> float:
    z_a = _z_alpha(s["alpha"], s["alt"])
    return _norm_cdf(
        (math.sqrt(n) * s["effect"] - z_a * math.sqrt(s["var_0"])) / math.sqrt(s["var_a"])
    )


@validate_params(
    {
        "p_1": [UNIT_INTERVAL],
        "p_2": [UNIT_INTERVAL],
        "discordance": [UNIT_INTERVAL, None],
        "correlation": [Interval(Real, -1, 1, closed="both"), None],
        "margin": [_MARGIN],
        "significance_level": [UNIT_INTERVAL],
        "power": [UNIT_INTERVAL],
        "alternative": [Options(_PAIRED_ALTERNATIVES)],
        "prevalence": [_PREVALENCE, None],
    }
)
def sample_size_paired_proportions(
    p_1: float,
    p_2: float,
    *,
    discordance: float | None = None,
    correlation: float | None = None,
    margin: float = 0.0,
    significance_level: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    prevalence: float | None = None,
) -> PairedProportionsPlan:
    """Cases to compare two sensitivities (or specificities) measured on the same cases.

    With ``delta = p_1 - p_2`` and the discordance ``psi`` (the probability that the
    tests disagree on a case; give it, or the correlation of the two binary results):

    - ``margin = 0`` (Connor 1987, the McNemar test):
      ``n = (z_a sqrt(psi) + z_power sqrt(psi - delta^2))^2 / delta^2``.
    - ``margin > 0`` (non-inferiority of test 1, ``H1: p_1 - p_2 > -margin``; Nam 1997):
      ``n = (z_a sqrt(V0) + z_power sqrt(psi - delta^2))^2 / (delta + margin)^2`` where
      ``V0`` is the variance at the restricted maximum-likelihood cell probabilities
      under ``p_1 - p_2 = -margin`` (the score test of Nam and Tango).

    ``z_a`` is ``z_{1 - alpha/2}`` for ``"two-sided"`` (for non-inferiority: the lower
    bound of the two-sided interval) and ``z_{1 - alpha}`` for ``"greater"``; the power
    counts the tail of the anticipated difference.

    Parameters
    ----------
    p_1, p_2 : float
        Anticipated proportions of the new test and the comparator, in (0, 1).
    discordance : float, optional
        ``P(only test 1 positive) + P(only test 2 positive)``, between
        ``|p_1 - p_2|`` and ``min(p_1 + p_2, 2 - p_1 - p_2)``.
    correlation : float, optional
        Correlation (phi) of the two binary results; ``p11 = p_1 p_2 + rho
        sqrt(p_1 (1 - p_1) p_2 (1 - p_2))``. Exactly one of ``discordance`` and
        ``correlation``.
    margin : float
        Non-inferiority margin, ``>= 0``.
    significance_level, power : float
    alternative : {"two-sided", "greater"}
    prevalence : float, optional
        Share of the relevant class among all cases.

    Returns
    -------
    PairedProportionsPlan

    Examples
    --------
    Connor's (1987, p. 209) example: discordant probabilities 0.45 and 0.05.

    >>> sample_size_paired_proportions(0.5, 0.9, discordance=0.5).n
    23

    References
    ----------
    Connor RJ. Sample size for testing differences in proportions for the
    paired-sample design. Biometrics 1987;43:207-211. doi:10.2307/2531961
    Lachin JM. Power and sample size evaluation for the McNemar test with application
    to matched case-control studies. Stat Med 1992;11:1239-1251.
    doi:10.1002/sim.4780110909
    Nam J. Establishing equivalence of two treatments and sample size requirements in
    matched-pairs design. Biometrics 1997;53:1422-1430. doi:10.2307/2533508
    Tango T. Equivalence test and confidence interval for the difference in
    proportions for the paired-sample design. Stat Med 1998;17:891-908.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<891::AID-SIM780>3.0.CO;2-B
    """
    s = _paired_prop_setup(
        p_1, p_2, discordance, correlation, margin, significance_level, alternative
    )
    target = _unit(power, "power")
    prev = _prevalence(prevalence)
    z_a, z_b = _z_alpha(s["alpha"], s["alt"]), _norm_ppf(target)
    raw = (z_a * math.sqrt(s["var_0"]) + z_b * math.sqrt(s["var_a"])) ** 2 / s["effect"] ** 2
    n = max(_ceil(raw), 1)
    return PairedProportionsPlan(
        n=n,
        n_total=_total(n, prev),
        n_unrounded=raw,
        power=_paired_prop_power(s, n),
        p_1=s["p1"],
        p_2=s["p2"],
        margin=s["margin"],
        discordance=s["psi"],
        correlation=s["rho"],
        variance_null=s["var_0"],
        variance_alternative=s["var_a"],
        significance_level=s["alpha"],
        target_power=target,
        alternative=s["alt"],
        prevalence=prev,
        method=s["method"],
    )


@validate_params(
    {
        "p_1": [UNIT_INTERVAL],
        "p_2": [UNIT_INTERVAL],
        "n": [Whole(1)],
        "discordance": [UNIT_INTERVAL, None],
        "correlation": [Interval(Real, -1, 1, closed="both"), None],
        "margin": [_MARGIN],
        "significance_level": [UNIT_INTERVAL],
        "alternative": [Options(_PAIRED_ALTERNATIVES)],
        "prevalence": [_PREVALENCE, None],
    }
)
def power_paired_proportions(
    p_1: float,
    p_2: float,
    *,
    n: int,
    discordance: float | None = None,
    correlation: float | None = None,
    margin: float = 0.0,
    significance_level: float = 0.05,
    alternative: str = "two-sided",
    prevalence: float | None = None,
) -> PairedProportionsPlan:
    """Power of the paired comparison of two proportions with ``n`` cases.

    ``Phi((sqrt(n) (p_1 - p_2 + margin) - z_a sqrt(V0)) / sqrt(psi - delta^2))``; see
    :func:`sample_size_paired_proportions`.

    Returns
    -------
    PairedProportionsPlan
        With ``n_unrounded`` and ``target_power`` None.

    Examples
    --------
    >>> round(power_paired_proportions(0.5, 0.9, n=23, discordance=0.5).power, 4)
    0.8194

    References
    ----------
    Connor RJ. Biometrics 1987;43:207-211. doi:10.2307/2531961
    Nam J. Biometrics 1997;53:1422-1430. doi:10.2307/2533508
    """
    s = _paired_prop_setup(
        p_1, p_2, discordance, correlation, margin, significance_level, alternative
    )
    m = _whole(n, "n", 1)
    prev = _prevalence(prevalence)
    return PairedProportionsPlan(
        n=m,
        n_total=_total(m, prev),
        n_unrounded=None,
        power=_paired_prop_power(s, m),
        p_1=s["p1"],
        p_2=s["p2"],
        margin=s["margin"],
        discordance=s["psi"],
        correlation=s["rho"],
        variance_null=s["var_0"],
        variance_alternative=s["var_a"],
        significance_level=s["alpha"],
        target_power=None,
        alternative=s["alt"],
        prevalence=prev,
        method=s["method"],
    )


# --------------------------------------------------------------------------- design effect
@dataclass(frozen=True)
class DesignEffect(ResultMixin):
    """Variance inflation when patients contribute several cases.

    Attributes
    ----------
    design_effect : float
        ``1 + ((1 + cv^2) m - 1) icc``.
    icc : float
        Intra-class correlation of the case-level outcome within a patient.
    mean_cluster_size : float
        Mean cases per patient ``m``.
    cv : float
        Coefficient of variation of the cluster sizes (0: all equal).
    n_independent : int or None
        Cases a plan needs under independence (the ``n`` given).
    n_cases : int or None
        ``ceil(n_independent * design_effect)``.
    n_clusters : int or None
        Patients to enrol, ``ceil(n_cases / mean_cluster_size)``.
    """

    design_effect: float
    icc: float
    mean_cluster_size: float
    cv: float
    n_independent: int | None = None
    n_cases: int | None = None
    n_clusters: int | None = None


def _cluster_sizes(values: ArrayLike) -> NDArray[np.float64]:
    raw = np.asarray(values, dtype=object)
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError(f"cluster_sizes must be a non-empty 1-D array, got shape {raw.shape}")
    for i, v in enumerate(raw.tolist()):
        ok = (
            isinstance(v, int | float | np.number)
            and not isinstance(v, bool | np.bool_)
            and math.isfinite(float(v))
            and float(v) >= 1
            and float(v).is_integer()
        )
        if not ok:
            raise ValueError(f"cluster_sizes must be whole numbers >= 1, found {v!r} at index {i}")
    return raw.astype(np.float64)


@validate_params(
    {
        "icc": [Interval(Real, 0, 1, closed="both")],
        "mean_cluster_size": [Interval(Real, 1, None, closed="left"), None],
        "cv": [Interval(Real, 0, None, closed="left")],
        "n": [Whole(1), None],
    }
)
def design_effect(
    icc: float,
    *,
    mean_cluster_size: float | None = None,
    cv: float = 0.0,
    cluster_sizes: ArrayLike | None = None,
    n: int | None = None,
) -> DesignEffect:
    """Design effect for patients (clusters) contributing several cases.

    ``DE = 1 + ((1 + cv^2) m - 1) icc`` with ``m`` the mean cluster size and ``cv`` the
    coefficient of variation of the cluster sizes (Eldridge et al. 2006); with equal
    sizes (``cv = 0``) this is Donner & Klar's ``1 + (m - 1) icc``. For a proportion
    estimated by pooling all cases, ``DE`` is exactly the ratio of its variance to the
    binomial variance when the sizes are ``cluster_sizes``
    (``(1 + cv^2) m = sum(m_i^2) / sum(m_i)``, ``cv`` with divisor ``k``).

    Parameters
    ----------
    icc : float
        Intra-class correlation, in [0, 1].
    mean_cluster_size : float, optional
        Mean cases per patient, ``>= 1``.
    cv : float
        Coefficient of variation of the cluster sizes, ``>= 0`` (with
        ``mean_cluster_size``).
    cluster_sizes : array-like of int, optional
        Cases per patient (e.g. counted from a pilot manifest); gives ``m`` and ``cv``.
        Exactly one of ``mean_cluster_size`` and ``cluster_sizes``.
    n : int, optional
        Cases a plan needs under independence, to inflate.

    Returns
    -------
    DesignEffect

    Examples
    --------
    >>> de = design_effect(0.1, mean_cluster_size=2, n=139)
    >>> de.design_effect, de.n_cases, de.n_clusters
    (1.1, 153, 77)

    References
    ----------
    Donner A, Birkett N, Buck C. Randomization by cluster: sample size requirements
    and analysis. Am J Epidemiol 1981;114:906-914.
    doi:10.1093/oxfordjournals.aje.a113261
    Donner A, Klar N. Design and Analysis of Cluster Randomization Trials in Health
    Research. London: Arnold; 2000 (ISBN 0-340-69153-0).
    Eldridge SM, Ashby D, Kerry S. Sample size for cluster randomized trials: effect
    of coefficient of variation of cluster size and analysis method. Int J Epidemiol
    2006;35:1292-1300. doi:10.1093/ije/dyl129
    """
    rho = _number(icc, "icc")
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"icc must be in [0, 1], got {icc!r}")
    if (mean_cluster_size is None) == (cluster_sizes is None):
        raise ValueError(
            "give exactly one of mean_cluster_size and cluster_sizes; got "
            f"mean_cluster_size={mean_cluster_size!r}, cluster_sizes="
            f"{'None' if cluster_sizes is None else 'an array'}"
        )
    if cluster_sizes is not None:
        if cv != 0.0:
            raise ValueError(f"cv is computed from cluster_sizes; do not give both (cv={cv!r})")
        sizes = _cluster_sizes(cluster_sizes)
        m = float(sizes.mean())
        spread = float(sizes.std() / m)
    else:
        m = _number(mean_cluster_size, "mean_cluster_size")
        if m < 1.0:
            raise ValueError(f"mean_cluster_size must be >= 1, got {mean_cluster_size!r}")
        spread = _number(cv, "cv")
        if spread < 0.0:
            raise ValueError(f"cv must be >= 0, got {cv!r}")
    de = 1.0 + ((1.0 + spread * spread) * m - 1.0) * rho
    if n is None:
        return DesignEffect(design_effect=de, icc=rho, mean_cluster_size=m, cv=spread)
    n_ind = _whole(n, "n", 1)
    n_cases = _ceil(n_ind * de)
    return DesignEffect(
        design_effect=de,
        icc=rho,
        mean_cluster_size=m,
        cv=spread,
        n_independent=n_ind,
        n_cases=n_cases,
        n_clusters=_ceil(n_cases / m),
    )


# --------------------------------------------------------------------------- MRMC
@dataclass(frozen=True)
class MRMCPlan(ResultMixin):
    """A planned MRMC study (OR random-readers random-cases test of two modalities).

    Attributes
    ----------
    n_readers : int
    n_cases : int or None
        Fewest cases reaching ``target_power`` (None when no number up to
        ``max_cases`` does: reader variability dominates).
    power : float or None
        Achieved at ``n_cases``.
    achievable : bool
    effect : float
        Difference in reader-averaged figure of merit to detect.
    target_power : float
    confidence_level : float
        ``1 - alpha`` of the two-sided test.
    df_den, noncentrality : float or None
        Of the planned test at ``n_cases`` (Hillis 2011).
    """

    n_readers: int
    n_cases: int | None
    power: float | None
    achievable: bool
    effect: float
    target_power: float
    confidence_level: float
    df_den: float | None = None
    noncentrality: float | None = None


@dataclass(frozen=True)
class MRMCTradeoff(ResultMixin):
    """Readers x cases trade-off: the fewest cases for each number of readers.

    Attributes
    ----------
    rows : tuple of MRMCPlan
        One per reader count, in the order asked.
    effect, target_power, confidence_level : float
    pilot_n_cases : int
        Cases in the pilot the variance components come from.
    variance_components : dict
        The OR components used (``var_tr, var_error, cov1, cov2, cov3``).
    """

    rows: tuple[MRMCPlan, ...]
    effect: float
    target_power: float
    confidence_level: float
    pilot_n_cases: int
    variance_components: dict[str, float] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The table: ``n_readers, n_cases, power, achievable, df_den, noncentrality``."""
        cols = ["n_readers", "n_cases", "power", "achievable", "df_den", "noncentrality"]
        out = pd.DataFrame([{c: getattr(r, c) for c in cols} for r in self.rows], columns=cols)
        out["n_cases"] = out["n_cases"].astype("Int64")
        for c in ("power", "df_den", "noncentrality"):
            out[c] = out[c].astype("Float64")
        return out


_OR_KEYS = ("var_tr", "var_error", "cov1", "cov2", "cov3")


def _mrmc_components(
    pilot: Any, pilot_n_cases: int | None, fom: str, threshold: float | None, covariance: str
) -> tuple[dict[str, float], int]:
    """OR variance components and the pilot's case count from a frame, result or dict."""
    if isinstance(pilot, pd.DataFrame):
        if pilot_n_cases is not None:
            raise ValueError(
                "pilot_n_cases is taken from the pilot readings; do not give it "
                f"with a readings frame (got {pilot_n_cases!r})"
            )
        if "modality" in pilot.columns:
            mods = pd.unique(pilot["modality"])
            if len(mods) != 2:
                raise ValueError(
                    f"the pilot readings must have exactly two modalities for a two-modality "
                    f"power analysis; found {len(mods)}: {sorted(map(str, mods))}"
                )
        pilot = mrmc_analysis(
            pilot, fom=fom, method="or", covariance=covariance, threshold=threshold
        )
    comps, c0 = variance_components_dict(pilot, pilot_n_cases)
    return {k: comps[k] for k in _OR_KEYS}, c0


@validate_params(
    {
        "n_readers": [Whole(2)],
        "n_cases": [Whole(2)],
        "confidence_level": [UNIT_INTERVAL],
        "fom": [Options(ROC_FOMS + FROC_FOMS)],
        "threshold": [Real, None],
        "covariance": [Options(COVARIANCES)],
    }
)
def power_mrmc(
    pilot: Any,
    *,
    effect: float,
    n_readers: int,
    n_cases: int,
    confidence_level: float = 0.95,
    pilot_n_cases: int | None = None,
    fom: str = "auc",
    threshold: float | None = None,
    covariance: str = "jackknife",
) -> MRMCPower:
    """Power of a planned two-modality MRMC study (Hillis, Obuchowski & Berbaum 2011).

    Parameters
    ----------
    pilot : pandas.DataFrame, MRMCResult or dict
        A pilot readings frame (``reader, modality, case, truth, score``, two
        modalities; analysed here by :func:`validation.stats.mrmc_analysis` with
        ``method="or"``), the OR result of such an analysis, or declared OR
        variance components ``var_tr, var_error, cov1, cov2, cov3`` (then
        ``pilot_n_cases`` is required).
    effect : float
        Difference in reader-averaged figure of merit to detect.
    n_readers, n_cases : int
        The planned study.
    confidence_level : float
        ``1 - alpha`` of the two-sided test.
    pilot_n_cases : int, optional
        Cases in the pilot (taken from the analysis otherwise).
    fom, threshold, covariance
        Passed to :func:`validation.stats.mrmc_analysis` for a readings frame.

    Returns
    -------
    MRMCPower

    Examples
    --------
    >>> vc = {"var_tr": 2e-4, "var_error": 8e-4, "cov1": 3.5e-4, "cov2": 3.4e-4, "cov3": 2.4e-4}
    >>> 0 < power_mrmc(vc, effect=0.05, n_readers=5, n_cases=114, pilot_n_cases=114).power < 1
    True

    References
    ----------
    Hillis SL, Obuchowski NA, Berbaum KS. Power estimation for multireader ROC methods:
    an updated and unified approach. Acad Radiol 2011;18:129-142.
    doi:10.1016/j.acra.2010.09.007
    """
    comps, c0 = _mrmc_components(pilot, pilot_n_cases, fom, threshold, covariance)
    return mrmc_power(
        comps,
        effect=_number(effect, "effect"),
        n_readers=n_readers,
        n_cases=n_cases,
        confidence_level=confidence_level,
        pilot_n_cases=c0,
    )


def _plans(
    comps: dict[str, float],
    c0: int,
    effect: float,
    target: float,
    readers: list[int],
    level: float,
    max_cases: int,
) -> tuple[MRMCPlan, ...]:
    table = mrmc_sample_size(
        comps,
        effect=effect,
        power=target,
        n_readers=readers,
        confidence_level=level,
        pilot_n_cases=c0,
        max_cases=max_cases,
    )
    rows = []
    for r, achievable, n in zip(
        table["n_readers"], table["achievable"], table["n_cases"], strict=True
    ):
        if not achievable:
            rows.append(
                MRMCPlan(
                    n_readers=int(r),
                    n_cases=None,
                    power=None,
                    achievable=False,
                    effect=effect,
                    target_power=target,
                    confidence_level=level,
                )
            )
            continue
        p = mrmc_power(
            comps,
            effect=effect,
            n_readers=int(r),
            n_cases=int(n),
            confidence_level=level,
            pilot_n_cases=c0,
        )
        rows.append(
            MRMCPlan(
                n_readers=int(r),
                n_cases=int(n),
                power=p.power,
                achievable=True,
                effect=effect,
                target_power=target,
                confidence_level=level,
                df_den=p.df_den,
                noncentrality=p.noncentrality,
            )
        )
    return tuple(rows)


def _mrmc_plan_inputs(
    effect: Any, power: Any, confidence_level: Any, max_cases: Any
) -> tuple[float, float, float, int]:
    d = _number(effect, "effect")
    if d == 0:
        raise ValueError("effect must be non-zero to plan a sample size, got 0")
    return (
        d,
        _unit(power, "power"),
        _unit(confidence_level, "confidence_level"),
        _whole(max_cases, "max_cases", 2),
    )


@validate_params(
    {
        "n_readers": [Whole(2)],
        "power": [UNIT_INTERVAL],
        "confidence_level": [UNIT_INTERVAL],
        "max_cases": [Whole(2)],
        "fom": [Options(ROC_FOMS + FROC_FOMS)],
        "threshold": [Real, None],
        "covariance": [Options(COVARIANCES)],
    }
)
def sample_size_mrmc(
    pilot: Any,
    *,
    effect: float,
    n_readers: int,
    power: float = 0.8,
    confidence_level: float = 0.95,
    pilot_n_cases: int | None = None,
    max_cases: int = 100_000,
    fom: str = "auc",
    threshold: float | None = None,
    covariance: str = "jackknife",
) -> MRMCPlan:
    """Fewest cases for a planned MRMC study with ``n_readers`` readers.

    See :func:`power_mrmc` for ``pilot`` and the other parameters.

    Raises
    ------
    ValueError
        A parameter outside its range, or no number of cases up to ``max_cases``
        reaches ``power`` with this many readers (the message says so: add readers).

    Examples
    --------
    >>> vc = {"var_tr": 2e-4, "var_error": 8e-4, "cov1": 3.5e-4, "cov2": 3.4e-4, "cov3": 2.4e-4}
    >>> sample_size_mrmc(vc, effect=0.05, n_readers=10, pilot_n_cases=114).achievable
    True

    References
    ----------
    Hillis SL, Obuchowski NA, Berbaum KS. Acad Radiol 2011;18:129-142.
    doi:10.1016/j.acra.2010.09.007
    """
    d, target, level, cap = _mrmc_plan_inputs(effect, power, confidence_level, max_cases)
    r = _whole(n_readers, "n_readers", 2)
    comps, c0 = _mrmc_components(pilot, pilot_n_cases, fom, threshold, covariance)
    (plan,) = _plans(comps, c0, d, target, [r], level, cap)
    if not plan.achievable:
        top = mrmc_power(
            comps, effect=d, n_readers=r, n_cases=cap, confidence_level=level, pilot_n_cases=c0
        ).power
        raise ValueError(
            f"the design cannot reach power {target!r} with {r} readers: even "
            f"max_cases={cap} cases give {top:.4f} (reader variability dominates); add "
            f"readers or revise the effect"
        )
    return plan


@validate_params(
    {
        "power": [UNIT_INTERVAL],
        "confidence_level": [UNIT_INTERVAL],
        "max_cases": [Whole(2)],
        "fom": [Options(ROC_FOMS + FROC_FOMS)],
        "threshold": [Real, None],
        "covariance": [Options(COVARIANCES)],
    }
)
def mrmc_tradeoff(
    pilot: Any,
    *,
    effect: float,
    power: float = 0.8,
    n_readers: Iterable[int] = range(2, 21),
    confidence_level: float = 0.95,
    pilot_n_cases: int | None = None,
    max_cases: int = 100_000,
    fom: str = "auc",
    threshold: float | None = None,
    covariance: str = "jackknife",
) -> MRMCTradeoff:
    """Readers x cases trade-off table: the fewest cases for each number of readers.

    Rows whose reader count cannot reach the power with ``max_cases`` cases are kept
    with ``achievable=False``. See :func:`power_mrmc` for the parameters.

    Returns
    -------
    MRMCTradeoff

    Examples
    --------
    >>> vc = {"var_tr": 2e-4, "var_error": 8e-4, "cov1": 3.5e-4, "cov2": 3.4e-4, "cov3": 2.4e-4}
    >>> t = mrmc_tradeoff(vc, effect=0.05, n_readers=[4, 8], pilot_n_cases=114)
    >>> [row.n_readers for row in t.rows]
    [4, 8]

    References
    ----------
    Hillis SL, Obuchowski NA, Berbaum KS. Acad Radiol 2011;18:129-142.
    doi:10.1016/j.acra.2010.09.007
    """
    d, target, level, cap = _mrmc_plan_inputs(effect, power, confidence_level, max_cases)
    readers = [_whole(r, "n_readers", 2) for r in n_readers]
    if not readers:
        raise ValueError("n_readers must list at least one reader count")
    comps, c0 = _mrmc_components(pilot, pilot_n_cases, fom, threshold, covariance)
    return MRMCTradeoff(
        rows=_plans(comps, c0, d, target, readers, level, cap),
        effect=d,
        target_power=target,
        confidence_level=level,
        pilot_n_cases=c0,
        variance_components=comps,
    )

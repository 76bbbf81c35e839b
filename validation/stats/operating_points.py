"""Choosing an operating threshold on tuning data by a declared rule, and its bootstrap spread.

A model that outputs a score needs a threshold before it can call a case positive. The
threshold must be fixed *before* the locked test set is scored, on independent tuning
data, by a rule declared in advance (FDA, *Clinical Performance Assessment: Considerations
for Computer-Assisted Detection Devices*, 2020, section on operating points). Three rules:

``sensitivity``
    the highest threshold whose sensitivity on the tuning data is at least ``target``
    (the most specific point that reaches the sensitivity goal);
``specificity``
    the lowest threshold whose specificity on the tuning data is at least ``target``
    (the most sensitive point that reaches the specificity goal);
``youden``
    the observed score maximising Youden's J = sensitivity + specificity - 1 (highest
    among ties), as :func:`validation.stats.roc.youden` except that "call nothing
    positive" is never chosen.

Conventions are those of :mod:`validation.stats.roc`: a case is positive iff
``score >= threshold``, and the threshold returned is always an observed score, so the
classification of the tuning data at the threshold is exactly the one reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.errors import UndefinedMetricError
from validation.stats._checks import (
    as_binary,
    as_rng,
    as_scores,
    check_confidence_level,
    check_same_length,
)
from validation.stats._results import Estimate, ResultMixin
from validation.stats.bootstrap import bootstrap_weights

__all__ = ["SELECTION_RULES", "SelectedThreshold", "select_threshold", "threshold_bootstrap"]

#: The rules :func:`select_threshold` knows.
SELECTION_RULES = ("sensitivity", "specificity", "youden")

# Tolerance when turning a target proportion into a count: 0.9 * 30 is 27.000000000000004
# in binary floating point, and must need 27 cases, not 28.
_COUNT_TOL = 1e-9


@dataclass(frozen=True)
class SelectedThreshold(ResultMixin):
    """A threshold chosen by a rule, and what it does on the data it was chosen on.

    Attributes
    ----------
    rule : str
        ``"sensitivity"``, ``"specificity"`` or ``"youden"``.
    target : float or None
        The sensitivity or specificity goal (``None`` for ``youden``).
    threshold : float
        An observed score; a case is positive iff ``score >= threshold``.
    sensitivity, specificity : float
        On the selection data at ``threshold``.
    tp, fn, tn, fp : int
        The 2x2 counts on the selection data at ``threshold``.
    """

    rule: str
    target: float | None
    threshold: float
    sensitivity: float
    specificity: float
    tp: int
    fn: int
    tn: int
    fp: int

    @property
    def n_positive(self) -> int:
        """Positive cases in the selection data."""
        return self.tp + self.fn

    @property
    def n_negative(self) -> int:
        """Negative cases in the selection data."""
        return self.tn + self.fp


def _check_rule(rule: str, target: float | None) -> float | None:
    if rule not in SELECTION_RULES:
        raise ValueError(f"rule must be one of {list(SELECTION_RULES)}, got {rule!r}")
    if rule == "youden":
        if target is not None:
            raise ValueError(f"rule 'youden' takes no target, got target={target!r}")
        return None
    if target is None:
        raise ValueError(f"rule {rule!r} needs a target in (0, 1), got None")
    value = float(target)
    if not 0.0 < value < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    return value


def _needed(target: float, n: int) -> int:
    """Smallest count k with k / n >= target."""
    return max(1, math.ceil(target * n - _COUNT_TOL))


def _select(y: NDArray[np.int8], s: NDArray[np.float64], rule: str, target: float | None) -> float:
    """The threshold of ``rule`` on validated data with both classes present."""
    if rule == "sensitivity":
        assert target is not None
        pos = np.sort(s[y == 1])[::-1]
        return float(pos[_needed(target, pos.size) - 1])
    if rule == "specificity":
        assert target is not None
        neg = np.sort(s[y == 0])
        k = _needed(target, neg.size)
        # specificity(t) = #{negatives < t} / N: t must lie above the k-th lowest negative
        above = s[s > neg[k - 1]]
        if above.size == 0:
            raise UndefinedMetricError(
                f"no threshold reaches specificity {target:g} while calling any case positive: "
                f"{k} of the {neg.size} negatives must score below it, and the {k}-th lowest "
                f"negative score ({neg[k - 1]:g}) is the highest score"
            )
        return float(above.min())
    # Youden's J over the observed scores only (roc.youden also considers +inf, "call
    # nothing positive", which ties at J = 0 for a useless score); ties: the highest.
    # J is compared in integers (tp * N - fp * P), so exact ties stay ties.
    uniq, inv = np.unique(s, return_inverse=True)
    pos = np.bincount(inv.reshape(-1), weights=y, minlength=uniq.size).astype(np.int64)
    tot = np.bincount(inv.reshape(-1), minlength=uniq.size).astype(np.int64)
    tp = np.cumsum(pos[::-1])  # threshold = uniq[::-1][i]: cases scoring at least it
    fp = np.cumsum((tot - pos)[::-1])
    n_pos, n_neg = int(tp[-1]), int(fp[-1])
    j = tp * n_neg - fp * n_pos
    return float(uniq[::-1][int(np.argmax(j))])


def _validated(
    y_true: ArrayLike, y_score: ArrayLike
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    y = as_binary(y_true)
    s = as_scores(y_score, name="y_score")
    check_same_length(y_true=y, y_score=s)
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0 or n_pos == y.size:
        which = "positive (1)" if n_pos == 0 else "negative (0)"
        raise UndefinedMetricError(
            f"an operating threshold cannot be selected: y_true has no {which} cases "
            f"(all {y.size} are {1 - int(n_pos == 0)})"
        )
    return y, s


def select_threshold(
    y_true: ArrayLike, y_score: ArrayLike, *, rule: str, target: float | None = None
) -> SelectedThreshold:
    """Choose an operating threshold on tuning data by a declared rule.

    Parameters
    ----------
    y_true : array-like of {0, 1}
        Reference standard of the tuning cases, 1 = diseased.
    y_score : array-like of float
        Model scores, higher = more suspicious.
    rule : {"sensitivity", "specificity", "youden"}
        ``sensitivity``: the highest threshold with sensitivity >= ``target``;
        ``specificity``: the lowest threshold with specificity >= ``target``;
        ``youden``: maximal Youden's J (highest threshold among ties).
    target : float, optional
        The goal in (0, 1) for ``sensitivity`` and ``specificity``; not allowed for
        ``youden``.

    Returns
    -------
    SelectedThreshold
        The threshold (an observed score; positive iff ``score >= threshold``) and the
        2x2 table it gives on these data.

    Raises
    ------
    UndefinedMetricError
        The data lack a class, or no threshold that calls any case positive reaches the
        specificity target (the highest score is a negative one that must be called
        negative).
    ValueError
        Unknown rule, a target outside (0, 1), a target with ``youden``, bad labels or
        scores.

    References
    ----------
    .. [1] Youden WJ. Index for rating diagnostic tests. Cancer 1950;3:32-35.
       doi:10.1002/1097-0142(1950)3:1<32::AID-CNCR2820030106>3.0.CO;2-3
    .. [2] Pepe MS. The Statistical Evaluation of Medical Tests for Classification and
       Prediction. Oxford University Press, 2003, section 4.2 (operating points on the
       ROC curve). ISBN 978-0-19-856582-6.

    Examples
    --------
    >>> sel = select_threshold([0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.5, 0.4, 0.6, 0.9],
    ...                        rule="sensitivity", target=0.6)
    >>> sel.threshold, round(sel.sensitivity, 3), round(sel.specificity, 3)
    (0.6, 0.667, 1.0)
    """
    goal = _check_rule(rule, target)
    y, s = _validated(y_true, y_score)
    thr = _select(y, s, rule, goal)
    called = s >= thr
    tp = int(np.count_nonzero(called & (y == 1)))
    fp = int(np.count_nonzero(called & (y == 0)))
    n_pos = int(np.count_nonzero(y))
    n_neg = int(y.size - n_pos)
    return SelectedThreshold(
        rule=rule,
        target=goal,
        threshold=thr,
        sensitivity=tp / n_pos,
        specificity=(n_neg - fp) / n_neg,
        tp=tp,
        fn=n_pos - tp,
        tn=n_neg - fp,
        fp=fp,
    )


def threshold_bootstrap(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    rule: str,
    target: float | None = None,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    clusters: ArrayLike | None = None,
) -> Estimate:
    """How much the selected threshold moves over bootstrap resamples of the tuning data.

    The selection of :func:`select_threshold` is repeated on ``n_resamples`` bootstrap
    resamples; the spread of the resampled thresholds says how stable the operating point
    is (a threshold on a steep part of the score distribution, or chosen on few cases,
    moves a lot).

    Parameters
    ----------
    y_true, y_score : array-like
        The tuning data.
    rule, target
        As :func:`select_threshold`.
    n_resamples : int
        Bootstrap resamples (at least 2).
    confidence_level : float
        Level of the percentile interval.
    rng : Generator, int, SeedSequence or None
        Source of randomness.
    clusters : array-like, optional
        One cluster label per case (``patient_id``): whole patients are resampled,
        stratified by whether the patient has a positive case; without clusters, cases
        are resampled stratified by class. Either way every resample keeps the number of
        positive units.

    Returns
    -------
    Estimate
        ``estimate`` the threshold selected on the data, ``ci_low``/``ci_high`` the
        percentile interval of the resampled thresholds (linear interpolation, R type 7),
        ``se`` their standard deviation, ``method = "bootstrap_percentile"``, ``n`` the
        number of cases; ``extra`` holds ``rule``, ``target``, ``n_resamples``,
        ``n_undefined_resamples`` (resamples where the rule had no answer, dropped),
        ``median``, ``min``, ``max`` and ``resampling``.

    Raises
    ------
    UndefinedMetricError
        As :func:`select_threshold` on the data, or fewer than 2 resamples gave a
        threshold.
    ValueError
        Bad arguments.

    References
    ----------
    .. [1] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993
       (percentile interval, ch. 13).
    .. [2] Obuchowski NA. Nonparametric analysis of clustered ROC curve data.
       Biometrics 1997;53:567-578. doi:10.2307/2533960 (resampling patients).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 100)
    >>> e = threshold_bootstrap(y, rng.normal(size=200) + y, rule="sensitivity", target=0.9,
    ...                         n_resamples=200, rng=1)
    >>> bool(e.ci_low <= e.estimate <= e.ci_high), e.method
    (True, 'bootstrap_percentile')
    """
    goal = _check_rule(rule, target)
    level = check_confidence_level(confidence_level)
    n_res = int(n_resamples)
    if n_res < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples!r}")
    y, s = _validated(y_true, y_score)
    est = _select(y, s, rule, goal)
    extra: dict[str, Any] = {"rule": rule, "target": goal, "n_resamples": n_res}
    if clusters is None:
        weights = bootstrap_weights(y.size, strata=y, n_resamples=n_res, rng=as_rng(rng))
        extra["resampling"] = "cases, stratified by class"
    else:
        labels = np.asarray(clusters)
        check_same_length(y_true=y, clusters=labels)
        _, codes = np.unique(labels, return_inverse=True)
        codes = codes.reshape(-1)
        any_pos = np.zeros(int(codes.max()) + 1, dtype=bool)
        np.logical_or.at(any_pos, codes, y == 1)
        weights = bootstrap_weights(
            codes, strata=any_pos[codes].astype(np.int8), n_resamples=n_res, rng=as_rng(rng)
        )
        extra["resampling"] = "patients (clusters), stratified by whether they have a positive case"
        extra["n_clusters"] = int(any_pos.size)
    reps: list[float] = []
    undefined = 0
    index = np.arange(y.size)
    for chunk in weights:
        for w in chunk:
            take = np.repeat(index, w)
            yy, ss = y[take], s[take]
            n_pos = int(np.count_nonzero(yy))
            if n_pos == 0 or n_pos == yy.size:
                undefined += 1
                continue
            try:
                reps.append(_select(yy, ss, rule, goal))
            except UndefinedMetricError:
                undefined += 1
    extra["n_undefined_resamples"] = undefined
    if len(reps) < 2:
        raise UndefinedMetricError(
            f"threshold bootstrap failed: only {len(reps)} of {n_res} resamples gave a threshold"
        )
    arr = np.asarray(reps)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(arr, [a, 1.0 - a])
    extra.update(median=float(np.median(arr)), min=float(arr.min()), max=float(arr.max()))
    return Estimate(
        estimate=est,
        ci_low=float(lo),
        ci_high=float(hi),
        confidence_level=level,
        method="bootstrap_percentile",
        n=int(y.size),
        se=float(np.std(arr, ddof=1)),
        extra=extra,
    )

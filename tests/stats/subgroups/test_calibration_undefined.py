"""Calibration intercept and slope where one of them has no finite MLE (issue 13).

* Separation (complete or quasi-complete, e.g. n = 2 with one case per class): no finite
  slope exists (Albert & Anderson 1984); radval returned a huge slope with an enormous SE.
  Now: ``slope`` None with the reason, in the summary and in per-group rows.
* Constant predictions: calibration-in-the-large is defined (R:
  ``glm(y ~ 1, offset = qlogis(p), family = binomial)``), in closed form
  ``a = logit(mean(y)) - logit(p)``, ``se = 1 / sqrt(n ybar (1 - ybar))``; radval refused
  both. Now only the slope is undefined.

References for the intercept: that closed form, and a 40-digit Newton solution of the
score equation ``sum(y - expit(a + logit(p))) = 0`` (mpmath), with
``se = 1 / sqrt(sum mu (1 - mu))``.
"""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.errors import UndefinedMetricError
from validation.stats.calibration import calibration_intercept_slope, calibration_summary

Z95 = 1.959963984540054


def mp_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """40-digit MLE of a in logit P(y=1) = a + logit(p), and its model SE.

    The score ``g(a) = sum(y) - sum(expit(a + lp))`` decreases strictly and changes sign
    on ``[logit(ybar) - max(lp) - 1, logit(ybar) - min(lp) + 1]``: a bracketing solver
    (Illinois) finds its root.
    """
    mpmath.mp.dps = 40
    lp = [mpmath.log(mpmath.mpf(float(q)) / (1 - mpmath.mpf(float(q)))) for q in p]
    ybar = mpmath.mpf(int(np.sum(y))) / len(y)
    centre = mpmath.log(ybar / (1 - ybar))
    lo, hi = centre - max(lp) - 1, centre - min(lp) + 1

    def g(a):
        return sum(int(yi) - 1 / (1 + mpmath.exp(-(a + x))) for yi, x in zip(y, lp, strict=True))

    a = mpmath.findroot(g, (lo, hi), solver="illinois", tol=mpmath.mpf(10) ** -60)
    mu = [1 / (1 + mpmath.exp(-(a + x))) for x in lp]
    return float(a), float(1 / mpmath.sqrt(sum(m * (1 - m) for m in mu)))


@pytest.mark.parametrize(
    ("y", "p", "kind"),
    [
        ([0, 1], [0.3, 0.6], "completely"),  # n = 2, one per class
        ([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.6, 0.9], "completely"),
        ([1, 1, 0, 0], [0.1, 0.2, 0.6, 0.9], "completely"),  # reversed: positives lower
        ([0, 0, 1, 1], [0.1, 0.3, 0.3, 0.7], "quasi-completely"),
    ],
)
def test_separation_gives_no_slope_and_says_why(y, p, kind):
    y, p = np.array(y), np.array(p)
    fit = calibration_intercept_slope(y, p)
    a, b = fit
    assert b is None and fit.slope is None
    assert fit.slope_reason is not None
    assert fit.slope_reason.startswith(
        f"calibration slope is undefined: the predictions separate the outcomes {kind}"
    )
    assert fit.slope_reason.endswith("so the logistic fit has no finite maximum-likelihood slope")
    want, se = mp_intercept(y, p)
    assert a.estimate == pytest.approx(want, abs=1e-9)
    assert a.se == pytest.approx(se, rel=1e-8)


def test_separation_message_in_full():
    fit = calibration_intercept_slope([0, 1], [0.3, 0.6])
    assert fit.slope_reason == (
        "calibration slope is undefined: the predictions separate the outcomes completely: every "
        "positive case has a higher predicted probability than every negative case (boundary "
        "p = 0.6), so the logistic fit has no finite maximum-likelihood slope"
    )


def test_overlap_by_one_case_still_has_a_finite_slope():
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.9])
    a, b = calibration_intercept_slope(y, p)
    assert b is not None and math.isfinite(b.estimate) and b.se < 10


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.7, 0.9])),
        min_size=2,
        max_size=12,
    )
)
def test_slope_undefined_exactly_when_a_threshold_separates_the_classes(data):
    y = np.array([d[0] for d in data])
    p = np.array([d[1] for d in data])
    if y.min() == y.max():
        with pytest.raises(UndefinedMetricError):
            calibration_intercept_slope(y, p)
        return
    fit = calibration_intercept_slope(y, p)
    # twin: some cut c with every positive on one side and every negative on the other
    sep = any(
        (p[y == 1] >= c).all()
        and (p[y == 0] <= c).all()
        or (p[y == 1] <= c).all()
        and (p[y == 0] >= c).all()
        for c in p
    )
    assert (fit.slope is None) == sep
    assert fit.intercept.estimate == pytest.approx(mp_intercept(y, p)[0], abs=1e-8)


@pytest.mark.parametrize(
    ("y", "p0"), [([0, 1, 1, 0, 1], 0.3), ([1, 0, 0, 0], 0.5), ([0, 0, 1] * 20, 0.9)]
)
def test_constant_predictions_give_the_intercept_only(y, p0):
    y = np.array(y)
    p = np.full(len(y), p0)
    fit = calibration_intercept_slope(y, p)
    ybar = y.mean()
    want = math.log(ybar / (1 - ybar)) - math.log(p0 / (1 - p0))
    se = 1 / math.sqrt(len(y) * ybar * (1 - ybar))
    assert fit.intercept.estimate == pytest.approx(want, abs=1e-10)
    assert fit.intercept.se == pytest.approx(se, rel=1e-9)
    assert (fit.intercept.ci_low, fit.intercept.ci_high) == pytest.approx(
        (want - Z95 * se, want + Z95 * se), abs=1e-8
    )
    assert fit.intercept.method == "logistic_offset_wald"
    assert fit.slope is None
    assert (
        fit.slope_reason == "calibration slope is undefined: all predicted probabilities are equal"
    )


def test_summary_and_group_rows_carry_the_intercept_and_the_slope_reason():
    rng = np.random.default_rng(3)
    n = 120
    sex = np.array(["F"] * 60 + ["M"] * 60, dtype=object)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    y[60:62] = [0, 1]
    p = rng.uniform(0.05, 0.95, n)
    p[:60] = np.where(y[:60] == 1, 0.8, 0.2)  # group F: predictions separate the outcomes
    res = calibration_summary(y, p, groups=pd.DataFrame({"sex": sex}), n_resamples=50, rng=1)
    assert res.intercept is not None and res.slope is not None  # overall: overlap
    rows = res.by_group.set_index(["group", "measure"])
    assert rows.loc[("F", "intercept"), "status"] == "ok"
    assert rows.loc[("F", "slope"), "status"] == "not_estimable"
    assert rows.loc[("F", "slope"), "reason"].startswith(
        "calibration slope is undefined: the predictions separate the outcomes completely"
    )
    assert rows.loc[("M", "slope"), "status"] == "ok"
    const = calibration_summary(y[:30], np.full(30, 0.4), n_resamples=50, rng=1)
    assert const.intercept is not None and const.slope is None
    assert const.undefined == {
        "slope": "calibration slope is undefined: all predicted probabilities are equal"
    }
    out = json.loads(json.dumps(const.to_dict(), allow_nan=False))
    assert out["slope"] is None and out["intercept"]["method"] == "logistic_offset_wald"
    assert out["undefined"]["slope"].startswith("calibration slope is undefined")


def test_study_record_and_report_show_the_reason():
    from validation.report._analyses import calibration_section
    from validation.study.analyses import calibration_record

    warnings: list[str] = []
    y = np.array([0, 1] * 15)
    rec = calibration_record(
        y,
        np.where(y == 1, 0.7, 0.2),
        warnings,
        clusters=None,
        rng=np.random.default_rng(0),
        n_resamples=50,
    )
    assert rec is not None and warnings == []
    assert rec["slope"] is None and rec["intercept"] is not None
    view = calibration_section({"calibration": rec})
    assert view is not None
    rows = {s["label"]: s for s in view["stats"]}
    assert rows["Calibration slope (ideal 1)"]["result"] == "not estimable"
    assert rows["Calibration slope (ideal 1)"]["method"].startswith(
        "calibration slope is undefined"
    )
    assert "Calibration intercept (ideal 0)" in rows

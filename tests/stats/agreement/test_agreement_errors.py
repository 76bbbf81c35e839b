"""Exact messages for bad options (ValueError naming the parameter) and undefined
statistics (UndefinedMetricError), and the JSON form of the results."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from validation.errors import UndefinedMetricError
from validation.stats import agreement as ag


def _ratings(rows: list[list]) -> pd.DataFrame:
    return pd.DataFrame(
        [(f"c{i}", f"r{j}", v) for i, row in enumerate(rows) for j, v in enumerate(row)],
        columns=["case", "rater", "label"],
    )


GOOD = _ratings([[1, 1, 2], [2, 2, 2], [1, 2, 1], [1, 1, 1]])


def _raises(exc: type[Exception], message: str, fn, *args, **kwargs) -> None:
    with pytest.raises(exc, match=re.escape(message)):
        fn(*args, **kwargs)


# --- bad options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "kwargs", "message"),
    [
        (
            ag.cohen_kappa,
            {"weights": "cubic"},
            "weights must be one of (None, 'linear', 'quadratic'), got 'cubic'",
        ),
        (ag.cohen_kappa, {"confidence_level": 95}, "confidence_level must be in (0, 1), got 95"),
    ],
)
def test_cohen_kappa_option_errors(fn, kwargs: dict, message: str) -> None:
    _raises(ValueError, message, fn, [1, 2, 1], [1, 2, 2], **kwargs)


def test_cohen_kappa_input_errors() -> None:
    _raises(
        ValueError,
        "a and b must have the same length, got a=3, b=2",
        ag.cohen_kappa,
        [1, 2, 1],
        [1, 2],
    )
    _raises(
        ValueError,
        "label 3 at row 2 is not one of labels [1, 2]",
        ag.cohen_kappa,
        [1, 2, 3],
        [1, 2, 2],
        labels=[1, 2],
    )
    _raises(
        ValueError,
        "labels must be distinct, got [1, 1]",
        ag.cohen_kappa,
        [1, 2],
        [1, 1],
        labels=[1, 1],
    )
    _raises(
        ValueError,
        "label values cannot be put in order ([1, 'a']...); pass "
        "labels=[...] listing the categories in order",
        ag.cohen_kappa,
        [1, "a", 1],
        ["a", "a", 1],
        weights="linear",
    )
    _raises(ValueError, "a must be 1-D, got shape (2, 2)", ag.cohen_kappa, np.ones((2, 2)), [1, 2])


@pytest.mark.parametrize(
    ("fn", "kwargs", "message"),
    [
        (
            ag.krippendorff_alpha,
            {"level": "binary"},
            "level must be one of ('nominal', 'ordinal', 'interval', 'ratio'), got 'binary'",
        ),
        (
            ag.krippendorff_alpha,
            {"ci_method": "basic"},
            "ci_method must be one of ('percentile', 'bca'), got 'basic'",
        ),
        (ag.krippendorff_alpha, {"n_resamples": 1}, "n_resamples must be an integer >= 2, got 1"),
        (
            ag.percent_agreement,
            {"definition": "majority"},
            "definition must be one of ('unanimous', 'pairwise'), got 'majority'",
        ),
        (
            ag.percent_agreement,
            {"ci_method": "gwet_linearization"},
            "ci_method (definition='unanimous') must be one of ('wilson', 'wilson_cc', "
            "'clopper_pearson', 'agresti_coull', 'jeffreys', 'wald'), got 'gwet_linearization'",
        ),
        (
            ag.percent_agreement,
            {"definition": "pairwise", "ci_method": "wilson"},
            "ci_method (definition='pairwise') must be one of ('gwet_linearization',), got 'wilson'",
        ),
        (ag.fleiss_kappa, {"confidence_level": 0.0}, "confidence_level must be in (0, 1), got 0.0"),
    ],
)
def test_multi_rater_option_errors(fn, kwargs: dict, message: str) -> None:
    _raises(ValueError, message, fn, GOOD, **kwargs)


@pytest.mark.parametrize(
    "fn", [ag.fleiss_kappa, ag.gwet_ac1, ag.percent_agreement, ag.krippendorff_alpha]
)
def test_ratings_table_errors(fn) -> None:
    _raises(
        ValueError,
        "ratings must be a pandas DataFrame with columns 'case', 'rater', 'label', got ndarray",
        fn,
        np.ones((3, 2)),
    )
    _raises(
        ValueError,
        "ratings has no column 'label' (its columns: ['case', 'rater', "
        "'score']); name the column with label=",
        fn,
        GOOD.rename(columns={"label": "score"}),
    )
    dup = pd.concat([GOOD, GOOD.iloc[[4]]], ignore_index=True)
    _raises(
        ValueError,
        "ratings has more than one row for case 'c1' and rater 'r1' (rows 4 "
        "and 12); expected at most one rating per case and rater",
        fn,
        dup,
    )
    no_rater = GOOD.copy()
    no_rater.loc[3, "rater"] = None
    _raises(
        ValueError,
        "ratings column 'rater' is missing at row 3; every row needs a rater",
        fn,
        no_rater,
    )
    empty = GOOD.assign(label=None)
    _raises(
        ValueError, "ratings holds no rating: column 'label' is empty or all missing", fn, empty
    )


def test_user_column_names_are_accepted() -> None:
    df = GOOD.rename(columns={"case": "study_uid", "rater": "reader", "label": "birads"})
    kw = {"case": "study_uid", "rater": "reader", "label": "birads"}
    assert ag.fleiss_kappa(df, **kw) == ag.fleiss_kappa(GOOD)
    assert ag.gwet_ac1(df, **kw) == ag.gwet_ac1(GOOD)
    assert ag.krippendorff_alpha(df, n_resamples=20, rng=0, **kw) == ag.krippendorff_alpha(
        GOOD, n_resamples=20, rng=0
    )


def test_alpha_label_errors() -> None:
    words = _ratings([["a", "b"], ["a", "a"]])
    _raises(
        ValueError,
        "level='interval' needs numeric labels, found ['a', 'b']...",
        ag.krippendorff_alpha,
        words,
        level="interval",
    )
    neg = _ratings([[-1, 2], [2, 2]])
    _raises(
        ValueError,
        "level='ratio' needs non-negative labels, found -1.0",
        ag.krippendorff_alpha,
        neg,
        level="ratio",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"method": "parametric"},
            "method must be one of ('exact', 'approximate', 'bootstrap', 'mover'), got 'parametric'",
        ),
        (
            {"repeated": [1, 1, 2, 2], "method": "exact"},
            "method must be 'mover' or 'bootstrap' when repeated is given (the exact and "
            "approximate intervals assume one pair per subject), got 'exact'",
        ),
        (
            {"method": "mover"},
            "method='mover' is the repeated-measures interval; give repeated= "
            "(subject ids) or use 'exact'",
        ),
        (
            {"method": "bootstrap", "bootstrap_ci": "basic"},
            "bootstrap_ci must be one of ('bca', 'percentile'), got 'basic'",
        ),
        ({"loa_coverage": 95}, "loa_coverage must be in (0, 1), got 95"),
        (
            {"repeated": [1, 2, 3, 4]},
            "repeated: every subject has one pair; omit repeated for one pair per subject",
        ),
        ({"repeated": [1, 2, 3]}, "inputs must have the same length, got measured=4, repeated=3"),
    ],
)
def test_bland_altman_option_errors(kwargs: dict, message: str) -> None:
    _raises(
        ValueError, message, ag.bland_altman, [1.0, 2.0, 3.0, 4.5], [1.1, 2.2, 2.9, 4.0], **kwargs
    )


def test_bland_altman_input_errors() -> None:
    _raises(
        ValueError,
        "log=True needs positive values, reference is 0.0 at index 1",
        ag.bland_altman,
        [1.0, 2.0],
        [1.0, 0.0],
        log=True,
    )
    _raises(
        ValueError,
        "measured must be finite, found nan at index 0",
        ag.bland_altman,
        [float("nan"), 2.0],
        [1.0, 2.0],
    )
    _raises(
        ValueError,
        "inputs must have the same length, got measured=2, reference=3",
        ag.bland_altman,
        [1.0, 2.0],
        [1.0, 2.0, 3.0],
    )


def test_reliability_input_errors() -> None:
    _raises(
        ValueError,
        "form must be one of ('ICC1', 'ICC2', 'ICC3', 'ICC1k', 'ICC2k', 'ICC3k'), got 'ICC(2,1)'",
        ag.icc,
        np.ones((3, 2)),
        form="ICC(2,1)",
    )
    tidy = pd.DataFrame({"case": [1, 1, 2], "rater": ["A", "B", "A"], "value": [1.0, 2.0, 3.0]})
    _raises(
        ValueError,
        "ratings: the ICC needs every case rated by every rater; case 2 has no rating by rater 'B'",
        ag.icc,
        tidy,
    )
    _raises(
        ValueError,
        "ratings must be a tidy DataFrame or a 2-D array (cases x raters), got shape (3,)",
        ag.icc,
        [1.0, 2.0, 3.0],
    )
    bad = tidy.assign(value=["1", "x", "3"])
    _raises(
        ValueError,
        "ratings column 'value' must hold finite numbers, found 'x' at row 1",
        ag.icc,
        bad,
    )
    _raises(
        ValueError,
        "error_ratio must be a finite number > 0, got 0",
        ag.deming_regression,
        [1.0, 2.0, 3.0],
        [1.0, 2.0, 3.0],
        error_ratio=0,
    )
    _raises(
        ValueError,
        "measurements must be a tidy DataFrame or a 2-D array (subjects x "
        "replicates), got shape (3,)",
        ag.repeatability_coefficient,
        [1.0, 2.0, 3.0],
    )
    _raises(
        ValueError,
        "measurements column 'value' must hold finite numbers, found 'x' at row 1",
        ag.repeatability_coefficient,
        pd.DataFrame({"subject": [1, 1], "value": ["2", "x"]}),
    )


# --- undefined statistics -------------------------------------------------------------------


def test_one_category_is_undefined() -> None:
    same = _ratings([[1, 1], [1, 1], [1, 1]])
    _raises(
        UndefinedMetricError,
        "Fleiss' kappa is undefined: every rating is 1 (one category only)",
        ag.fleiss_kappa,
        same,
    )
    _raises(
        UndefinedMetricError,
        "Gwet's AC1 is undefined: every rating is 1 (one category "
        "only); declare the scale's categories with labels=[...]",
        ag.gwet_ac1,
        same,
    )
    _raises(
        UndefinedMetricError,
        "Krippendorff's alpha is undefined: all pairable ratings "
        "have the same value (expected disagreement is 0)",
        ag.krippendorff_alpha,
        same,
    )
    _raises(
        UndefinedMetricError,
        "Cohen's kappa is undefined: both raters put all 3 cases in "
        "category 'x' (chance agreement is 1)",
        ag.cohen_kappa,
        ["x"] * 3,
        ["x"] * 3,
    )
    _raises(
        UndefinedMetricError,
        "Cohen's kappa is 0 whatever the other rater says when "
        "rater a puts all 3 cases in category 'x'; its large-sample variance is 0 and "
        "there is no interval",
        ag.cohen_kappa,
        ["x"] * 3,
        ["x", "y", "x"],
    )
    _raises(
        UndefinedMetricError,
        "Cohen's kappa has no interval under perfect agreement "
        "(3 of 3 cases): kappa is 1 and its large-sample variance is 0; report percent "
        "agreement with a Wilson interval instead",
        ag.cohen_kappa,
        ["x", "y", "x"],
        ["x", "y", "x"],
    )
    assert ag.gwet_ac1(same, labels=[0, 1]).estimate == 1.0  # defined with a declared scale


def test_no_case_with_two_ratings_is_undefined() -> None:
    single = _ratings([[1, None], [None, 2], [1, None]])
    for fn in (ag.fleiss_kappa, ag.gwet_ac1, ag.percent_agreement):
        _raises(
            UndefinedMetricError,
            "agreement is undefined: no case was rated by two or more raters",
            fn,
            single,
        )
    _raises(
        UndefinedMetricError,
        "Krippendorff's alpha is undefined: no case was rated by two or more raters",
        ag.krippendorff_alpha,
        single,
    )
    _raises(
        UndefinedMetricError,
        "Cohen's kappa is undefined without a case rated by both raters",
        ag.cohen_kappa,
        [1, None],
        [None, 2],
    )


def test_quantitative_undefined() -> None:
    _raises(
        UndefinedMetricError,
        "limits of agreement need at least 2 pairs, got 1",
        ag.bland_altman,
        [1.0],
        [2.0],
    )
    _raises(
        UndefinedMetricError,
        "Lin's CCC interval needs at least 3 pairs, got 2",
        ag.lins_ccc,
        [1.0, 2.0],
        [1.0, 2.0],
    )
    _raises(
        UndefinedMetricError,
        "Lin's CCC is undefined: y does not vary",
        ag.lins_ccc,
        [1.0, 2.0, 3.0],
        [2.0, 2.0, 2.0],
    )
    _raises(
        UndefinedMetricError,
        "the Fisher-z interval of Lin's CCC is undefined at rho_c = 1.0, r = 1.0",
        ag.lins_ccc,
        [1.0, 2.0, 3.0],
        [1.0, 2.0, 3.0],
    )
    _raises(
        UndefinedMetricError,
        "the ICC is undefined: no residual variation (MSE = 0)",
        ag.icc,
        np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
    )
    _raises(
        UndefinedMetricError,
        "the ICC needs at least 2 cases and 2 raters, got 1 x 3",
        ag.icc,
        np.array([[1.0, 2.0, 3.0]]),
    )
    _raises(
        UndefinedMetricError,
        "the repeatability coefficient needs a subject with two or more replicates",
        ag.repeatability_coefficient,
        np.array([[1.0, np.nan], [2.0, np.nan]]),
    )
    _raises(
        UndefinedMetricError,
        "the repeatability coefficient is 0: every subject's replicates are identical",
        ag.repeatability_coefficient,
        np.array([[1.0, 1.0], [2.0, 2.0]]),
    )
    _raises(
        UndefinedMetricError,
        "Deming regression is undefined: the two methods have zero covariance",
        ag.deming_regression,
        [1.0, 2.0, 1.0],
        [1.0, 2.0, 3.0],
    )
    _raises(
        UndefinedMetricError,
        "Deming regression needs at least 3 pairs, got 2",
        ag.deming_regression,
        [1.0, 2.0],
        [1.0, 2.0],
    )
    _raises(
        UndefinedMetricError,
        "Passing-Bablok regression (1983) assumes a positive "
        "relation between the methods; Kendall's tau is -1.0",
        ag.passing_bablok,
        [3.0, 2.0, 1.0],
        [1.0, 2.0, 3.0],
    )


# --- results to JSON -------------------------------------------------------------------------


def test_results_serialise_to_json() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(50, 10, 30)
    meas = ref + rng.normal(1, 2, 30)
    ba = ag.bland_altman(meas, ref)
    d = ba.to_dict()
    json.dumps(d)
    assert set(d) == {
        "bias",
        "loa_low",
        "loa_high",
        "sd",
        "loa_coverage",
        "method",
        "n",
        "n_subjects",
        "log",
        "proportional_bias",
        "ratio",
        "extra",
    }
    assert d["loa_high"]["method"] == "exact_carkeet_2015"
    assert d["proportional_bias"]["method"] == "ols_difference_on_mean"
    fit = ag.passing_bablok(meas, ref)
    json.dumps(fit.to_dict())
    assert fit.to_dict()["slope"]["method"] == "passing_bablok_1983"
    assert fit.bias_at(50.0) == pytest.approx(
        fit.intercept.estimate + (fit.slope.estimate - 1) * 50.0
    )
    for est in (
        ag.fleiss_kappa(GOOD),
        ag.krippendorff_alpha(GOOD, n_resamples=20, rng=0),
        ag.cohen_kappa([1, 2, 1, 2, 2], [1, 2, 2, 2, 1]),
        ag.icc(np.c_[ref, meas]),
    ):
        json.dumps(est.to_dict())


# --- docstring examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        "validation.stats.agreement.adjudication",
        "validation.stats.agreement.alpha",
        "validation.stats.agreement.bland_altman",
        "validation.stats.agreement.categorical",
        "validation.stats.agreement.regression",
        "validation.stats.agreement.reliability",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0

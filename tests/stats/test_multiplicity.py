"""Tests of validation.stats.multiplicity.

Reference: the 15 p-values of Benjamini & Hochberg (1995, J R Stat Soc B 57:289,
section 4), where BH rejects 4 hypotheses at 0.05 and the Bonferroni-type
procedures (Bonferroni, Holm, Hochberg) reject 3. Twins: each adjustment written
as its textbook loop (as R's p.adjust defines them) and the sequential
fixed-sequence procedure, on random p-values with ties, zeros and ones.
"""

from __future__ import annotations

import doctest
import re
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from validation.stats import multiplicity as mult_mod
from validation.stats.multiplicity import (
    MultiplicityResult,
    adjust_pvalues,
    fixed_sequence,
    multiplicity_test,
)

BH_1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.0000,
]


@pytest.mark.parametrize(
    ("method", "n_rejected"), [("fdr_bh", 4), ("bonferroni", 3), ("holm", 3), ("hochberg", 3)]
)
def test_benjamini_hochberg_1995_example(method: str, n_rejected: int) -> None:
    r = multiplicity_test(BH_1995, method=method, significance_level=0.05)
    assert sum(r.reject) == n_rejected
    assert r.reject[:n_rejected] == (True,) * n_rejected


def _twin(p: list[float], method: str) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    if method == "bonferroni":
        return [min(1.0, m * v) for v in p]
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):  # rank 0 = smallest
            running = max(running, min(1.0, (m - rank) * p[i]))
            out[i] = running
        return out
    running = 1.0
    for rank in range(m - 1, -1, -1):  # step-up from the largest
        i = order[rank]
        factor = (m - rank) if method == "hochberg" else m / (rank + 1)
        running = min(running, min(1.0, factor * p[i]))
        out[i] = running
    return out


pvals = st.lists(
    st.one_of(st.sampled_from([0.0, 0.01, 0.05, 0.5, 1.0]), st.floats(0.0, 1.0)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(p=pvals, method=st.sampled_from(["bonferroni", "holm", "hochberg", "fdr_bh"]))
def test_adjust_pvalues_match_loop_twins(p: list[float], method: str) -> None:
    got = adjust_pvalues(p, method=method)
    assert isinstance(got, np.ndarray) and got.shape == (len(p),)
    np.testing.assert_allclose(got, _twin(p, method), rtol=1e-12, atol=1e-15)
    assert np.all(got >= np.asarray(p) - 1e-15) and np.all(got <= 1.0)


@settings(max_examples=100, deadline=None)
@given(p=pvals, level=st.sampled_from([0.01, 0.05, 0.1]))
def test_rejections_nest_and_match_statsmodels(p: list[float], level: float) -> None:
    rej = {
        m: multiplicity_test(p, method=m, significance_level=level).reject
        for m in ("bonferroni", "holm", "hochberg")
    }
    for i in range(len(p)):
        assert rej["bonferroni"][i] <= rej["holm"][i] <= rej["hochberg"][i]
    for ours, theirs in (("holm", "holm"), ("hochberg", "simes-hochberg"), ("fdr_bh", "fdr_bh")):
        r = multiplicity_test(p, method=ours, significance_level=level)
        # multipletests calls gc.collect() on every Holm call (slow); skip that here only
        with mock.patch("gc.collect", lambda *args: 0):
            sm_reject, sm_adj, _, _ = multipletests(p, alpha=level, method=theirs)
        np.testing.assert_allclose(r.p_adjusted, sm_adj, rtol=1e-12, atol=1e-300)
        # a decision may differ from statsmodels' only when the adjusted p ties the level
        for mine, sm, adj in zip(r.reject, sm_reject, r.p_adjusted, strict=True):
            assert mine == bool(sm) or abs(adj - level) < 1e-12


def _sequence_twin(p: list[float], level: float) -> list[bool]:
    out = []
    going = True
    for v in p:
        going = going and v <= level
        out.append(going)
    return out


@settings(max_examples=200, deadline=None)
@given(p=pvals, level=st.sampled_from([0.025, 0.05, 0.1]))
def test_fixed_sequence_matches_sequential_twin(p: list[float], level: float) -> None:
    r = fixed_sequence(p, significance_level=level)
    assert list(r.reject) == _sequence_twin(p, level)
    assert list(r.p_adjusted) == list(np.maximum.accumulate(p))
    assert r == multiplicity_test(p, method="fixed_sequence", significance_level=level)


def test_fixed_sequence_stops_at_first_failure() -> None:
    r = fixed_sequence([0.001, 0.2, 0.0001], significance_level=0.05)
    assert r.reject == (True, False, False)
    assert r.p_adjusted == (0.001, 0.2, 0.2)
    assert r.method == "fixed_sequence" and r.significance_level == 0.05
    assert r.to_dict() == {
        "p_adjusted": [0.001, 0.2, 0.2],
        "reject": [True, False, False],
        "method": "fixed_sequence",
        "significance_level": 0.05,
    }
    with pytest.raises(AttributeError):
        r.method = "holm"  # type: ignore[misc]
    assert isinstance(r, MultiplicityResult)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: adjust_pvalues([0.1, 1.2], method="holm"),
            "p-values must be in [0, 1], found 1.2 at index 1",
        ),
        (
            lambda: adjust_pvalues([0.1, float("nan")], method="holm"),
            "p-values must be in [0, 1], found nan at index 1",
        ),
        (lambda: adjust_pvalues([], method="holm"), "p-values must not be empty"),
        (lambda: adjust_pvalues([[0.1]], method="holm"), "p-values must be 1-D, got shape (1, 1)"),
        (
            lambda: adjust_pvalues([0.1], method="BH"),
            "method must be one of ('bonferroni', 'holm', 'hochberg', 'fdr_bh'), got 'BH'",
        ),
        (
            lambda: multiplicity_test([0.1], method="sidak"),
            "method must be one of ('bonferroni', 'holm', 'hochberg', 'fdr_bh', 'fixed_sequence'), got 'sidak'",
        ),
        (
            lambda: fixed_sequence([0.1], significance_level=0),
            "significance_level must be in (0, 1), got 0",
        ),
        (lambda: adjust_pvalues(["a"], method="holm"), "p-values must be numbers, got ['a']"),
    ],
)
def test_error_messages(call, message) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_docstring_examples_run() -> None:
    result = doctest.testmod(mult_mod, raise_on_error=False, verbose=False)
    assert result.attempted >= 5 and result.failed == 0

"""The bootstrap kernel behind subgroup_table against slow, obviously-correct twins."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.stats.subgroups.cells import FN, FP, TN, TP, Engine, ratio, run


def pair_sum(y, s, w):
    """Twin: sum over all (positive, negative) pairs of w_i w_j [s_i > s_j] (+1/2 ties)."""
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    total = 0.0
    for i in pos:
        for j in neg:
            h = 1.0 if s[i] > s[j] else (0.5 if s[i] == s[j] else 0.0)
            total += w[i] * w[j] * h
    return total


@st.composite
def data(draw):
    n = draw(st.integers(1, 40))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    tied = draw(st.booleans())
    if tied:
        s = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=float)
    else:
        s = np.array(draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=n, max_size=n)))
    pred = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    raw = [np.array(draw(st.lists(st.integers(0, k), min_size=n, max_size=n))) for k in (2, 1)]
    codes = [np.unique(r, return_inverse=True)[1] for r in raw]
    w = np.array(draw(st.lists(st.integers(0, 3), min_size=3 * n, max_size=3 * n)), dtype=float)
    return y, s, pred, codes, w.reshape(3, n)


@settings(max_examples=60, deadline=None)
@given(data())
def test_counts_and_pair_sums_match_twins(d):
    y, s, pred, codes, w = d
    eng = Engine(y, pred, s, codes)
    counts, pairs, rest = eng.process(w)
    for r in range(w.shape[0]):
        assert np.isclose(pairs[r, 0], pair_sum(y, s, w[r]), atol=1e-9)
        assert rest[r, 0] == 0.0
        for c, off in zip(codes, eng.offsets, strict=True):
            for g in range(int(c.max()) + 1):
                m = c == g
                u = off + g
                assert np.isclose(pairs[r, u], pair_sum(y[m], s[m], w[r, m]), atol=1e-9)
                assert np.isclose(rest[r, u], pair_sum(y[~m], s[~m], w[r, ~m]), atol=1e-9)
                wr = w[r]
                assert counts[r, u, TP] == wr[m & (y == 1) & (pred == 1)].sum()
                assert counts[r, u, FN] == wr[m & (y == 1) & (pred == 0)].sum()
                assert counts[r, u, TN] == wr[m & (y == 0) & (pred == 0)].sum()
                assert counts[r, u, FP] == wr[m & (y == 0) & (pred == 1)].sum()


def test_without_predictions_counts_hold_classes():
    y = np.array([1, 0, 1, 1, 0])
    eng = Engine(y, None, None, [np.array([0, 0, 1, 1, 1])])
    counts, pairs, rest = eng.process(np.ones((1, 5)))
    assert pairs is None and rest is None
    assert counts[0, 0].tolist() == [3.0, 0.0, 2.0, 0.0]
    assert counts[0, 1].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_run_concatenates_chunks_and_ratio_marks_undefined():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.1, 0.4, 0.5])
    eng = Engine(y, y, s, [np.array([0, 0, 1, 1])])
    out = run(eng, [np.ones((2, 4)), np.ones(4)])
    assert out.counts.shape == (3, eng.n_units, 4)
    assert out.pair is not None and out.pair[:, 0].tolist() == [3.0, 3.0, 3.0]
    r = ratio(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    assert np.isnan(r[0]) and r[1] == 0.5

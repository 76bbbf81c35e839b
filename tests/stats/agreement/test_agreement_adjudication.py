"""Adjudication of the reference standard: every rule, every path, ties, the STARD counts.

Twin: a per-case implementation written directly from the rule definitions, run on
random truthing tables (hypothesis).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.stats.agreement import ADJUDICATION_PATHS, adjudicate


def _frame(reads: dict[Any, dict[str, Any]]) -> pd.DataFrame:
    rows = [(case, rater, label) for case, by in reads.items() for rater, label in by.items()]
    return pd.DataFrame(rows, columns=["case", "rater", "label"])


def _paths(result) -> dict[Any, tuple[Any, str]]:
    ref = result.reference
    return {c: (lab, p) for c, lab, p in zip(ref["case"], ref["label"], ref["path"], strict=True)}


def test_majority_paths_and_counts() -> None:
    t = _frame(
        {
            1: {"A": 1, "B": 1, "C": 1},
            2: {"A": 1, "B": 0, "C": 0},
            3: {"A": 1},
            4: {"A": None, "B": None},
        }
    )
    r = adjudicate(t, rule="majority")
    assert _paths(r) == {
        1: (1, "unanimous"),
        2: (0, "majority"),
        3: (1, "single_read"),
        4: (None, "unresolved"),
    }
    assert r.counts == {
        "unanimous": 1,
        "single_read": 1,
        "majority": 1,
        "by_rule": 0,
        "adjudicated": 0,
        "unresolved": 1,
    }
    assert list(r.counts) == list(ADJUDICATION_PATHS)
    assert r.n_cases == 4 and sum(r.counts.values()) == 4
    assert r.reference["n_reads"].tolist() == [3, 3, 1, 0]
    assert r.reference["n_agree"].tolist() == [3, 2, 1, 0]
    assert r.on_tie == "error"
    assert r.resolved["case"].tolist() == [1, 2, 3]


def test_majority_tie_raises_by_default_with_the_first_tied_case() -> None:
    t = _frame({1: {"A": 1, "B": 1}, 2: {"A": 1, "B": 0}, 3: {"A": "x", "B": "y", "C": "z"}})
    msg = (
        "rule='majority': 2 case(s) have no strict majority (first: case 2 with reads "
        "{1: 1, 0: 1}); declare on_tie='adjudicator' or on_tie='unresolved'"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        adjudicate(t, rule="majority")


def test_majority_tie_goes_to_the_adjudicator_or_stays_unresolved() -> None:
    t = _frame({1: {"A": 1, "B": 0, "ADJ": 1}, 2: {"A": 1, "B": 0}, 3: {"A": 0, "B": 0, "ADJ": 1}})
    r = adjudicate(t, rule="majority", adjudicator="ADJ", on_tie="adjudicator")
    assert _paths(r) == {1: (1, "adjudicated"), 2: (None, "unresolved"), 3: (0, "unanimous")}
    assert r.n_adjudicator_reads_unused == 1  # case 3 needed no adjudication
    assert r.reference["n_reads"].tolist() == [2, 2, 2]  # the adjudicator is not a vote
    u = adjudicate(t, rule="majority", adjudicator="ADJ", on_tie="unresolved")
    assert _paths(u)[1] == (None, "unresolved")
    assert u.counts["unresolved"] == 2 and u.n_adjudicator_reads_unused == 2


def test_consensus_with_adjudicator() -> None:
    t = _frame(
        {
            "a": {"R1": "benign", "R2": "benign"},
            "b": {"R1": "benign", "R2": "malignant", "R3": "benign", "ADJ": "malignant"},
            "c": {"R1": "benign", "R2": "malignant"},
            "d": {"R1": "malignant", "ADJ": "benign"},
        }
    )
    r = adjudicate(t, rule="consensus_with_adjudicator", adjudicator="ADJ")
    assert _paths(r) == {
        "a": ("benign", "unanimous"),
        "b": ("malignant", "adjudicated"),
        "c": (None, "unresolved"),
        "d": ("malignant", "single_read"),
    }
    assert r.n_adjudicator_reads_unused == 1
    assert r.reference.loc[r.reference["case"] == "b", "n_agree"].item() == 1
    assert r.to_dict() == {
        "rule": "consensus_with_adjudicator",
        "on_tie": None,
        "adjudicator": "ADJ",
        "n_cases": 4,
        "counts": {
            "unanimous": 1,
            "single_read": 1,
            "majority": 0,
            "by_rule": 0,
            "adjudicated": 1,
            "unresolved": 1,
        },
        "n_adjudicator_reads_unused": 1,
    }


@pytest.mark.parametrize(("rule", "expected"), [("any_positive", "pos"), ("all_positive", "neg")])
def test_any_and_all_positive(rule: str, expected: str) -> None:
    t = _frame(
        {
            1: {"A": "pos", "B": "neg", "C": "neg"},
            2: {"A": "neg", "B": "neg"},
            3: {"A": "pos", "B": "pos"},
        }
    )
    r = adjudicate(t, rule=rule, positive="pos")
    assert _paths(r) == {1: (expected, "by_rule"), 2: ("neg", "unanimous"), 3: ("pos", "unanimous")}
    assert r.counts["by_rule"] == 1


def test_binary_rules_need_binary_labels() -> None:
    t = _frame({1: {"A": 0, "B": 1}, 2: {"A": 2, "B": 1}})
    msg = (
        "rules 'any_positive' and 'all_positive' need binary labels: 1 (positive=) and "
        "one other value, found 2 others in column 'label': [0, 2]"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        adjudicate(t, rule="any_positive")


def test_user_column_names() -> None:
    t = pd.DataFrame(
        {"study": [7, 7, 8, 8], "truther": ["x", "y", "x", "y"], "finding": [1, 1, 0, 1]}
    )
    r = adjudicate(t, rule="any_positive", case="study", rater="truther", label="finding")
    assert _paths(r) == {7: (1, "unanimous"), 8: (1, "by_rule")}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"rule": "vote"},
            "rule must be one of ('majority', 'consensus_with_adjudicator', "
            "'any_positive', 'all_positive'), got 'vote'",
        ),
        (
            {"rule": "any_positive", "on_tie": "error"},
            "on_tie is only used by rule='majority', got on_tie='error' with rule='any_positive'",
        ),
        (
            {"rule": "majority", "on_tie": "coin"},
            "on_tie must be one of ('error', 'adjudicator', 'unresolved'), got 'coin'",
        ),
        (
            {"rule": "consensus_with_adjudicator"},
            "rule='consensus_with_adjudicator' needs adjudicator= (the adjudicator's rater id)",
        ),
        (
            {"rule": "majority", "on_tie": "adjudicator"},
            "on_tie='adjudicator' needs adjudicator= (the adjudicator's rater id)",
        ),
        (
            {"rule": "all_positive", "adjudicator": "ADJ"},
            "rule='all_positive' does not use an adjudicator, got adjudicator='ADJ'",
        ),
    ],
)
def test_option_errors(kwargs: dict, message: str) -> None:
    t = _frame({1: {"A": 1, "B": 1}})
    with pytest.raises(ValueError, match=re.escape(message)):
        adjudicate(t, **kwargs)


def test_table_errors() -> None:
    dup = pd.DataFrame({"case": [1, 1], "rater": ["A", "A"], "label": [1, 0]})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "truthing has more than one row for case 1 and rater 'A' (rows 0 and 1); "
            "expected at most one rating per case and rater"
        ),
    ):
        adjudicate(dup, rule="majority")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "truthing has no column 'rater' (its columns: ['case', 'reader', 'label']); "
            "name the column with rater="
        ),
    ):
        adjudicate(pd.DataFrame({"case": [1], "reader": ["A"], "label": [1]}), rule="majority")
    with pytest.raises(
        ValueError,
        match=re.escape("truthing column 'case' is missing at row 1; every row needs a case"),
    ):
        adjudicate(
            pd.DataFrame({"case": [1, None], "rater": ["A", "B"], "label": [1, 1]}), rule="majority"
        )
    with pytest.raises(
        ValueError,
        match=re.escape(
            "truthing must be a pandas DataFrame with columns 'case', 'rater', 'label', got list"
        ),
    ):
        adjudicate([1, 2], rule="majority")  # type: ignore[arg-type]


# --- twin ---------------------------------------------------------------------------------


def _twin(
    reads: dict[int, dict[str, int | None]], rule: str, on_tie: str | None, adjudicator: str | None
) -> dict[int, tuple[Any, str]]:
    out = {}
    for case, by in reads.items():
        votes = [v for r, v in by.items() if r != adjudicator and v is not None]
        adj = by.get(adjudicator) if adjudicator else None
        if not votes:
            out[case] = (None, "unresolved")
            continue
        if len(set(votes)) == 1:
            out[case] = (votes[0], "single_read" if len(votes) == 1 else "unanimous")
            continue
        if rule == "any_positive":
            out[case] = (1, "by_rule")
            continue
        if rule == "all_positive":
            out[case] = (0, "by_rule")
            continue
        top, count = Counter(votes).most_common(1)[0]
        if rule == "majority" and 2 * count > len(votes):
            out[case] = (top, "majority")
            continue
        if rule == "majority" and on_tie == "unresolved":
            out[case] = (None, "unresolved")
            continue
        out[case] = (adj, "adjudicated") if adj is not None else (None, "unresolved")
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 40),
        st.dictionaries(
            st.sampled_from(["A", "B", "C", "D", "ADJ"]),
            st.one_of(st.none(), st.integers(0, 1)),
            min_size=1,
            max_size=5,
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(
        [
            ("majority", "adjudicator"),
            ("majority", "unresolved"),
            ("consensus_with_adjudicator", None),
            ("any_positive", None),
            ("all_positive", None),
        ]
    ),
)
def test_adjudication_equals_per_case_twin(reads: dict, rule_tie: tuple) -> None:
    rule, tie = rule_tie
    adjudicator = None if rule in ("any_positive", "all_positive") else "ADJ"
    if adjudicator is None:
        reads = {
            c: {r: v for r, v in by.items() if r != "ADJ"} or {"A": None} for c, by in reads.items()
        }
    r = adjudicate(_frame(reads), rule=rule, adjudicator=adjudicator, on_tie=tie)
    assert _paths(r) == _twin(reads, rule, tie, adjudicator)
    assert sum(r.counts.values()) == r.n_cases == len(reads)

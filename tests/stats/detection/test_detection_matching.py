"""Matching rules: hand-built edge cases for each criterion and policy, plus twins.

Twins: a plain-Python greedy matcher written from the rule's definition, and a
brute-force maximum matching (all assignments enumerated) that the Hungarian
assignment must attain at every score threshold.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.stats import MatchingRule, match_detections


def _boxes(rows: list[tuple], cols: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=cols.split())


# ------------------------------------------------------------------ criteria


def test_iou_threshold_is_inclusive() -> None:
    truth = _boxes([("a", 1, 0, 0, 1, 1)], "case_id lesion_id x0 y0 x1 y1")
    marks = _boxes([("a", 0, 0, 2, 1, 0.9)], "case_id x0 y0 x1 y1 score")  # IoU exactly 0.5
    m = match_detections(marks, truth, cases=["a"], rule=MatchingRule("iou", iou_threshold=0.5))
    assert m.mark_status.tolist() == ["tp"]
    m = match_detections(marks, truth, cases=["a"], rule=MatchingRule("iou", iou_threshold=0.5001))
    assert m.mark_status.tolist() == ["fp"]


def test_far_box_is_never_a_hit() -> None:
    truth = _boxes([("a", 1, 0, 0, 10, 10)], "case_id lesion_id x0 y0 x1 y1")
    marks = _boxes([("a", 100, 100, 110, 110, 0.9)], "case_id x0 y0 x1 y1 score")
    for rule in (
        MatchingRule("iou", iou_threshold=0.1),
        MatchingRule("center_in_box"),
        MatchingRule("center_distance", max_distance=20),
    ):
        assert match_detections(marks, truth, cases=["a"], rule=rule).mark_status.tolist() == ["fp"]


def test_center_in_box_bounds_are_inclusive() -> None:
    truth = _boxes([("a", 1, 0, 0, 10, 10)], "case_id lesion_id x0 y0 x1 y1")
    marks = _boxes(
        [("a", 10, 10, 0.9), ("a", 0, 5, 0.8), ("a", 10.0001, 5, 0.7)], "case_id x y score"
    )
    m = match_detections(marks, truth, cases=["a"], rule=MatchingRule("center_in_box"))
    # first mark (on the corner) takes the lesion; second is inside too -> double; third outside
    assert m.mark_status.tolist() == ["tp", "double", "fp"]


def test_center_distance_is_strict_and_uses_radius_column() -> None:
    truth = pd.DataFrame(
        {"case_id": ["a"], "lesion_id": [1], "x": [0.0], "y": [0.0], "radius": [5.0]}
    )
    on_edge = pd.DataFrame({"case_id": ["a"], "x": [3.0], "y": [4.0], "score": [1.0]})  # d = 5
    inside = on_edge.assign(x=[2.9999])
    rule = MatchingRule("center_distance")  # radius of each lesion (LUNA16)
    assert match_detections(on_edge, truth, cases=["a"], rule=rule).mark_status.tolist() == ["fp"]
    assert match_detections(inside, truth, cases=["a"], rule=rule).mark_status.tolist() == ["tp"]
    fixed = MatchingRule("center_distance", max_distance=5.0001)
    assert match_detections(on_edge, truth, cases=["a"], rule=fixed).mark_status.tolist() == ["tp"]


def test_center_distance_3d() -> None:
    truth = pd.DataFrame(
        {"case_id": ["a"], "lesion_id": [1], "x": [0.0], "y": [0.0], "z": [0.0], "radius": [2.0]}
    )
    marks = pd.DataFrame(
        {
            "case_id": ["a", "a"],
            "x": [1.0, 1.0],
            "y": [1.0, 1.0],
            "z": [1.0, 1.5],
            "score": [0.5, 0.9],
        }
    )
    m = match_detections(marks, truth, cases=["a"], rule=MatchingRule("center_distance"))
    # d = sqrt(3) = 1.73 < 2 hits; d = sqrt(4.25) = 2.06 misses
    assert m.mark_status.tolist() == ["tp", "fp"]


def test_point_in_mask_rounds_to_nearest_pixel() -> None:
    mask = np.zeros((6, 8), dtype=np.int16)
    mask[1:3, 1:3] = 1
    mask[4, 5:8] = 2
    truth = pd.DataFrame({"case_id": ["a", "a"], "lesion_id": [1, 2]})
    marks = pd.DataFrame(
        {
            "case_id": ["a"] * 5,
            "x": [1.6, 6.0, 3.4, 50.0, 4.5],
            "y": [2.4, 4.0, 2.0, 2.0, 4.0],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5],
        }
    )
    m = match_detections(
        marks, truth, cases=["a", "b"], rule=MatchingRule("point_in_mask"), lesion_masks={"a": mask}
    )
    # (1.6, 2.4) -> pixel [2, 2] label 1; (6, 4) -> label 2; (3.4, 2) -> [2, 3] = 0;
    # off the image; (4.5, 4) rounds half up to x = 5 -> label 2 again (double)
    assert m.mark_status.tolist() == ["tp", "tp", "fp", "fp", "double"]
    assert m.marks_table()["lesion_id"].tolist() == ["1", "2", "", "", ""]


# ------------------------------------------------------------------ policies


def test_greedy_and_hungarian_differ_as_declared() -> None:
    truth = _boxes(
        [("a", 1, 0, 0, 10, 10), ("a", 2, 4, 0, 14, 10)], "case_id lesion_id x0 y0 x1 y1"
    )
    # A (0.9) has its centre in both boxes, nearer lesion 1; B (0.5) only in lesion 1
    marks = _boxes([("a", 4.5, 5, 0.9), ("a", 1, 5, 0.5)], "case_id x y score")
    g = match_detections(marks, truth, cases=["a"], rule=MatchingRule("center_in_box"))
    assert g.mark_status.tolist() == ["tp", "double"]
    assert g.lesions_table()["detected"].tolist() == [True, False]
    h = match_detections(
        marks, truth, cases=["a"], rule=MatchingRule("center_in_box", assignment="hungarian")
    )
    assert h.mark_status.tolist() == ["tp", "tp"]
    assert h.lesion_score.tolist() == [0.5, 0.9]


def test_double_detection_policy() -> None:
    truth = _boxes([("a", 1, 0, 0, 10, 10)], "case_id lesion_id x0 y0 x1 y1")
    marks = _boxes([("a", 5, 5, 0.9), ("a", 6, 6, 0.4)], "case_id x y score")
    as_fp = match_detections(
        marks, truth, cases=["a"], rule=MatchingRule("center_in_box", double_detections="fp")
    )
    dropped = match_detections(
        marks, truth, cases=["a"], rule=MatchingRule("center_in_box", double_detections="ignore")
    )
    assert as_fp.mark_status.tolist() == dropped.mark_status.tolist() == ["tp", "double"]
    assert as_fp.counted_fp.tolist() == [False, True]
    assert dropped.counted_fp.tolist() == [False, False]


def test_ignore_lesions_are_neither_tp_nor_fp() -> None:
    truth = pd.DataFrame(
        {
            "case_id": ["a", "a"],
            "lesion_id": [1, 2],
            "x0": [0, 20],
            "y0": [0, 20],
            "x1": [10, 30],
            "y1": [10, 30],
            "ignore": [0, 1],
        }
    )
    marks = _boxes([("a", 25, 25, 0.9), ("a", 5, 5, 0.8), ("a", 50, 50, 0.7)], "case_id x y score")
    m = match_detections(marks, truth, cases=["a"], rule=MatchingRule("center_in_box"))
    assert m.mark_status.tolist() == ["ignored", "tp", "fp"]
    assert m.counted_fp.tolist() == [False, False, True]
    assert m.counts()["n_lesions"] == 1 and m.counts()["n_ignored_lesions"] == 1


def test_mark_on_real_and_ignore_lesion_is_tp() -> None:
    truth = pd.DataFrame(
        {
            "case_id": ["a", "a"],
            "lesion_id": [1, 2],
            "x0": [0, 0],
            "y0": [0, 0],
            "x1": [10, 10],
            "y1": [10, 10],
            "ignore": [True, False],
        }
    )
    marks = _boxes([("a", 5, 5, 0.9)], "case_id x y score")
    m = match_detections(marks, truth, cases=["a"], rule=MatchingRule("center_in_box"))
    assert m.mark_status.tolist() == ["tp"] and m.marks_table()["lesion_id"].tolist() == ["2"]


def test_weights_normalised_within_case() -> None:
    truth = pd.DataFrame(
        {
            "case_id": ["a", "a", "b"],
            "lesion_id": [1, 2, 1],
            "x": [0, 9, 0],
            "y": [0, 9, 0],
            "radius": [1, 1, 1],
            "weight": [1, 3, 7],
        }
    )
    m = match_detections(
        truth.iloc[:0][["case_id"]].assign(x=[], y=[], score=[]),
        truth,
        cases=["a", "b"],
        rule=MatchingRule("center_distance"),
    )
    assert m.lesion_weight.tolist() == [0.25, 0.75, 1.0]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"criterion": "overlap"}, "criterion must be one of"),
        ({"criterion": "iou"}, r"needs iou_threshold in \(0, 1\]"),
        ({"criterion": "iou", "iou_threshold": 1.5}, "needs iou_threshold"),
        ({"criterion": "center_in_box", "iou_threshold": 0.5}, "only used with criterion 'iou'"),
        ({"criterion": "center_distance", "max_distance": -1.0}, "positive number"),
        (
            {"criterion": "iou", "iou_threshold": 0.5, "assignment": "optimal"},
            "assignment must be one of",
        ),
        (
            {"criterion": "iou", "iou_threshold": 0.5, "double_detections": "tp"},
            "double_detections must be one of",
        ),
    ],
)
def test_rule_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MatchingRule(**kwargs)


def test_bad_input_messages() -> None:
    truth = _boxes([("a", 1, 0, 0, 1, 1)], "case_id lesion_id x0 y0 x1 y1")
    marks = _boxes([("z", 0, 0, 2, 1, 0.9)], "case_id x0 y0 x1 y1 score")
    rule = MatchingRule("iou", iou_threshold=0.5)
    with pytest.raises(ValueError, match="case_id 'z' at row 0 is not in cases"):
        match_detections(marks, truth, cases=["a"], rule=rule)
    with pytest.raises(ValueError, match="case_id 'a' at row 0 is not in cases"):
        match_detections(marks.assign(case_id="b"), truth, cases=["b"], rule=rule)
    with pytest.raises(ValueError, match="needs box marks"):
        match_detections(
            pd.DataFrame({"case_id": ["a"], "x": [0], "y": [0], "score": [1]}),
            truth,
            cases=["a"],
            rule=rule,
        )
    with pytest.raises(ValueError, match="'score' must be finite"):
        match_detections(marks.assign(case_id="a", score=np.nan), truth, cases=["a"], rule=rule)
    with pytest.raises(ValueError, match="x1 < x0"):
        match_detections(marks.assign(case_id="a", x1=-1), truth, cases=["a"], rule=rule)
    with pytest.raises(ValueError, match="needs lesion_masks"):
        match_detections(
            marks.assign(case_id="a"), truth, cases=["a"], rule=MatchingRule("point_in_mask")
        )
    with pytest.raises(ValueError, match="appears twice"):
        match_detections(
            marks.assign(case_id="a"), pd.concat([truth, truth]), cases=["a"], rule=rule
        )
    with pytest.raises(ValueError, match="needs max_distance in the rule or a 'radius' column"):
        match_detections(
            marks.assign(case_id="a"), truth, cases=["a"], rule=MatchingRule("center_distance")
        )


# ------------------------------------------------------------------ twins


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _hit(rule: MatchingRule, mk: tuple, ls: tuple) -> tuple[bool, float]:
    cx, cy = (mk[0] + mk[2]) / 2, (mk[1] + mk[3]) / 2
    lx, ly = (ls[0] + ls[2]) / 2, (ls[1] + ls[3]) / 2
    d = math.hypot(cx - lx, cy - ly)
    if rule.criterion == "iou":
        v = _iou(mk, ls)
        return v >= rule.iou_threshold, v  # type: ignore[operator]
    if rule.criterion == "center_in_box":
        return ls[0] <= cx <= ls[2] and ls[1] <= cy <= ls[3], 1 / (1 + d)
    return d < rule.max_distance, 1 - d / rule.max_distance  # type: ignore[operator]


def _slow_greedy(rule: MatchingRule, marks: list[tuple], lesions: list[tuple]) -> list[str]:
    order = sorted(range(len(marks)), key=lambda i: (-marks[i][4], i))
    taken: set[int] = set()
    status = ["fp"] * len(marks)
    for i in order:
        cands = []
        for j, ls in enumerate(lesions):
            h, q = _hit(rule, marks[i], ls)
            if h:
                cands.append((-q, j))
        free = [j for _, j in sorted(cands) if j not in taken]
        if free:
            taken.add(free[0])
            status[i] = "tp"
        elif cands:
            status[i] = "double"
    return status


def _max_matching(rule: MatchingRule, marks: list[tuple], lesions: list[tuple]) -> int:
    best = 0
    n = len(marks)
    for perm in itertools.permutations(list(range(len(lesions))) + [None] * n, n):
        best = max(
            best,
            sum(
                1
                for i, j in enumerate(perm)
                if j is not None and _hit(rule, marks[i], lesions[j])[0]
            ),
        )
    return best


coord = st.integers(0, 6).map(float)


@st.composite
def tiny_case(draw: st.DrawFn) -> tuple[list[tuple], list[tuple]]:
    def box() -> tuple:
        x0, y0 = draw(coord), draw(coord)
        return (x0, y0, x0 + draw(st.integers(1, 4)), y0 + draw(st.integers(1, 4)))

    lesions = [box() for _ in range(draw(st.integers(1, 3)))]
    marks = [box() + (float(draw(st.integers(1, 3))),) for _ in range(draw(st.integers(1, 4)))]
    return marks, lesions


rules = st.sampled_from(
    [
        MatchingRule("iou", iou_threshold=0.2),
        MatchingRule("center_in_box"),
        MatchingRule("center_distance", max_distance=2.0),
    ]
)


def _frames(marks: list[tuple], lesions: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    mf = pd.DataFrame(marks, columns=["x0", "y0", "x1", "y1", "score"]).assign(case_id="c")
    tf = pd.DataFrame(lesions, columns=["x0", "y0", "x1", "y1"]).assign(
        case_id="c", lesion_id=range(1, len(lesions) + 1)
    )
    return mf, tf


@settings(max_examples=60, deadline=None)
@given(tiny_case(), rules)
def test_greedy_matches_plain_loop_twin(data: tuple, rule: MatchingRule) -> None:
    marks, lesions = data
    mf, tf = _frames(marks, lesions)
    got = match_detections(mf, tf, cases=["c"], rule=rule).mark_status.tolist()
    assert got == _slow_greedy(rule, marks, lesions)


@settings(max_examples=60, deadline=None)
@given(tiny_case(), rules)
def test_hungarian_is_maximum_at_every_threshold(data: tuple, rule: MatchingRule) -> None:
    marks, lesions = data
    mf, tf = _frames(marks, lesions)
    hr = MatchingRule(
        rule.criterion,
        iou_threshold=rule.iou_threshold,
        max_distance=rule.max_distance,
        assignment="hungarian",
    )
    h = match_detections(mf, tf, cases=["c"], rule=hr)
    g = match_detections(mf, tf, cases=["c"], rule=rule)
    for t in sorted({m[4] for m in marks}):
        keep = [m for m in marks if m[4] >= t]
        n_h = int(((h.mark_status == "tp") & (h.mark_score >= t)).sum())
        n_g = int(((g.mark_status == "tp") & (g.mark_score >= t)).sum())
        assert n_h == _max_matching(rule, keep, lesions)
        assert n_g <= n_h
        # and matching only the marks above t gives the same count (threshold consistency)
        mk, tk = _frames(keep, lesions)
        again = match_detections(mk, tk, cases=["c"], rule=hr)
        assert int((again.mark_status == "tp").sum()) == n_h


def test_match_to_dict_is_json_ready() -> None:
    import json

    truth = _boxes([("a", 1, 0, 0, 10, 10), ("b", 1, 0, 0, 4, 4)], "case_id lesion_id x0 y0 x1 y1")
    marks = _boxes([("a", 5, 5, 0.9), ("a", 50, 50, 0.3)], "case_id x y score")
    m = match_detections(marks, truth, cases=["a", "b"], rule=MatchingRule("center_in_box"))
    d = json.loads(json.dumps(m.to_dict()))
    assert d["counts"]["n_tp"] == 1 and d["counts"]["n_fp"] == 1 and d["counts"]["n_lesions"] == 2
    assert [r["status"] for r in d["marks"]] == ["tp", "fp"]
    assert [r["score"] for r in d["lesions"]] == [0.9, None]


def test_empty_weights_mean_equal_and_partial_weights_fail() -> None:
    truth = pd.DataFrame(
        {
            "case_id": ["a", "a", "b"],
            "lesion_id": [1, 2, 1],
            "x": [0, 9, 0],
            "y": [0, 9, 0],
            "radius": [1, 1, 1],
            "weight": [np.nan, np.nan, 2.0],
        }
    )
    none = pd.DataFrame({"case_id": [], "x": [], "y": [], "score": []})
    m = match_detections(none, truth, cases=["a", "b"], rule=MatchingRule("center_distance"))
    assert m.lesion_weight.tolist() == [0.5, 0.5, 1.0]
    with pytest.raises(
        ValueError, match="column 'weight' must be a number > 0, found nan at row 1"
    ):
        match_detections(
            none,
            truth.assign(weight=[1.0, np.nan, 1.0]),
            cases=["a", "b"],
            rule=MatchingRule("center_distance"),
        )

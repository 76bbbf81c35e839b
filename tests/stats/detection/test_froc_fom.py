"""FROC figures of merit against RJafroc and a brute-force twin.

Reference: RJafroc ``UtilFigureOfMerit(dataset01, FOM = "wAFROC")`` (values quoted
in issue 6): BT reader 1 = 0.7602704, DM reader 5 = 0.6836962. The highest-rating
AUC of ``dataset04`` must equal the Wilcoxon AUC of RJafroc's
``DfFroc2Roc(dataset04)`` (``zanca_fed_inferred_roc.csv``), computed by sklearn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from validation.errors import UndefinedMetricError
from validation.stats import FomArrays, froc_figure_of_merit, froc_fom_arrays

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"
FOMS = ("wafroc", "afroc", "wafroc1", "afroc1", "hr_auc")


def _load(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(DATA / f"{name}.csv"), pd.read_csv(DATA / f"{name}_truth.csv")


def test_wafroc_matches_rjafroc_dataset01() -> None:
    marks, truth = _load("chakraborty_svahn_tony_froc")
    res = froc_figure_of_merit(marks, truth, fom="wafroc")
    assert list(res.columns) == ["modality", "reader", "fom"]
    assert len(res) == 10
    val = res.set_index(["modality", "reader"])["fom"]
    assert val[("BT", "1")] == pytest.approx(0.7602704, abs=5e-8)
    assert val[("DM", "5")] == pytest.approx(0.6836962, abs=5e-8)


def test_hr_auc_equals_inferred_roc_auc_dataset04() -> None:
    marks, truth = _load("zanca_fed_froc")
    res = froc_figure_of_merit(marks, truth, fom="hr_auc").set_index(["modality", "reader"])
    roc = pd.read_csv(DATA / "zanca_fed_inferred_roc.csv")
    # DfFroc2Roc renumbers the readers 1, 3, 4, 5 of dataset04 as 1..4.
    froc_readers = sorted(marks["reader"].unique())
    assert len(froc_readers) == 4
    for (mod, rd), g in roc.groupby(["modality", "reader"]):
        key = (str(mod), str(froc_readers[int(rd) - 1]))
        assert res.loc[key, "fom"] == pytest.approx(
            roc_auc_score(g["truth"], g["score"]), abs=1e-12
        )


# ---------------------------------------------------------------- brute force twin


def _psi(x: float, y: float) -> float:
    return 1.0 if y > x else (0.5 if y == x else 0.0)


def brute_fom(marks: pd.DataFrame, truth: pd.DataFrame, fom: str, mod: str, rdr: str) -> float:
    """FOM straight from RJafroc's definitions: explicit loops, no vectorisation."""
    t = truth.copy()
    t["case"] = t["case"].astype(str)
    m = marks[(marks["modality"].astype(str) == mod) & (marks["reader"].astype(str) == rdr)]
    cases = list(dict.fromkeys(t["case"]))
    abnormal = {c: bool((t.loc[t["case"] == c, "truth"] == 1).any()) for c in cases}
    lesions = [(str(r.case), int(r.lesion)) for r in t.itertuples() if r.truth == 1]
    n_les = {c: sum(1 for cc, _ in lesions if cc == c) for c in cases}
    weight = {}
    for r in t.itertuples():
        if r.truth == 1:
            w = r.weight if "weight" in t.columns and not pd.isna(r.weight) else np.nan
            weight[(str(r.case), int(r.lesion))] = 1.0 / n_les[str(r.case)] if np.isnan(w) else w
    fp = {}
    for c in cases:
        s = [float(r.score) for r in m.itertuples() if str(r.case) == c and r.lesion == 0]
        fp[c] = max(s) if s else -np.inf
    ll = {}
    for c, lid in lesions:
        s = [float(r.score) for r in m.itertuples() if str(r.case) == c and r.lesion == lid]
        ll[(c, lid)] = max(s) if s else -np.inf
    normals = [c for c in cases if not abnormal[c]]
    abns = [c for c in cases if abnormal[c]]
    if fom == "hr_auc":
        tot = 0.0
        for k1 in normals:
            for k2 in abns:
                h = max([fp[k2]] + [ll[(c, lid)] for c, lid in lesions if c == k2])
                tot += _psi(fp[k1], h)
        return tot / (len(normals) * len(abns))
    negs = normals if fom in ("wafroc", "afroc") else cases
    tot = 0.0
    for k1 in negs:
        for c, lid in lesions:
            w = weight[(c, lid)] if fom.startswith("w") else 1.0
            tot += w * _psi(fp[k1], ll[(c, lid)])
    den = len(abns) if fom.startswith("w") else len(lesions)
    return tot / (len(negs) * den)


@st.composite
def froc_data(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    k1 = draw(st.integers(2, 4))
    k2 = draw(st.integers(2, 4))
    rows = [{"case": k, "truth": 0, "lesion": 0, "weight": np.nan} for k in range(1, k1 + 1)]
    for k in range(k1 + 1, k1 + k2 + 1):
        nl = draw(st.integers(1, 3))
        weighted = draw(st.booleans())
        raw = [draw(st.integers(1, 4)) for _ in range(nl)]
        for lid in range(1, nl + 1):
            w = raw[lid - 1] / sum(raw) if weighted else np.nan
            rows.append({"case": k, "truth": 1, "lesion": lid, "weight": w})
    truth = pd.DataFrame(rows)
    score = st.integers(1, 4).map(float)  # few levels: many ties
    marks = []
    for mod in ("A", "B"):
        for rdr in ("1", "2"):
            for r in truth.itertuples():
                n_nl = draw(st.integers(0, 2))
                for _ in range(n_nl):
                    marks.append((rdr, mod, r.case, r.truth, draw(score), 0))
                if r.truth == 1:
                    for _ in range(draw(st.integers(0, 2))):  # 0, 1 or a double mark
                        marks.append((rdr, mod, r.case, 1, draw(score), r.lesion))
    if not marks:
        marks.append(("1", "A", 1, 0, 1.0, 0))
    return pd.DataFrame(
        marks, columns=["reader", "modality", "case", "truth", "score", "lesion"]
    ), truth


@settings(max_examples=30, deadline=None)
@given(froc_data(), st.sampled_from(FOMS))
def test_fom_and_jackknife_match_brute_force(
    data: tuple[pd.DataFrame, pd.DataFrame], fom: str
) -> None:
    marks, truth = data
    fa = froc_fom_arrays(marks, truth, fom=fom)
    for i, mod in enumerate(fa.modalities):
        for j, rdr in enumerate(fa.readers):
            assert fa.fom[i, j] == pytest.approx(brute_fom(marks, truth, fom, mod, rdr), abs=1e-12)
            # jackknife against deleting each case and recomputing
            for k, case in enumerate(fa.cases):
                t2 = truth[truth["case"].astype(str) != case]
                m2 = marks[marks["case"].astype(str) != case]
                assert fa.jackknife[i, j, k] == pytest.approx(
                    brute_fom(m2, t2, fom, mod, rdr), abs=1e-12
                )


def test_jackknife_dataset01_brute_force_deletion_spot_check() -> None:
    marks, truth = _load("chakraborty_svahn_tony_froc")
    fa = froc_fom_arrays(marks, truth, fom="wafroc")
    assert fa.jackknife.shape == (2, 5, 185)
    assert fa.cases[:3] == ["1", "2", "3"]
    for k in (0, 95, 96, 184):
        case = fa.cases[k]
        res = froc_figure_of_merit(
            marks[marks["case"].astype(str) != case],
            truth[truth["case"].astype(str) != case],
            fom="wafroc",
        )
        np.testing.assert_allclose(fa.jackknife[:, :, k].ravel(), res["fom"].to_numpy(), atol=1e-12)


def test_fom_arrays_shape_and_dict() -> None:
    marks, truth = _load("chakraborty_svahn_tony_froc")
    fa = froc_fom_arrays(marks, truth, fom="afroc")
    assert isinstance(fa, FomArrays)
    assert fa.modalities == ["BT", "DM"]
    assert fa.readers == ["1", "2", "3", "4", "5"]
    d = fa.to_dict()
    assert d["fom_name"] == "afroc" and len(d["jackknife"][0][0]) == 185
    with pytest.raises(AttributeError):
        fa.fom_name = "x"  # type: ignore[misc]


def test_unmarked_lesions_and_no_normal_marks_tie_at_minus_infinity() -> None:
    truth = pd.DataFrame(
        {"case": [1, 2], "truth": [0, 1], "lesion": [0, 1], "weight": [np.nan, 1.0]}
    )
    marks = pd.DataFrame(
        {"reader": [1], "modality": ["A"], "case": [1], "truth": [0], "score": [1.0], "lesion": [0]}
    )
    # lesion unmarked (-inf) below the normal case's NL: 0
    assert froc_figure_of_merit(marks, truth)["fom"].iloc[0] == 0.0
    marks2 = marks.assign(case=[2], truth=[1], lesion=[0])
    # no NL on the normal case and lesion unmarked: -inf vs -inf counts 0.5
    assert froc_figure_of_merit(marks2, truth)["fom"].iloc[0] == 0.5


def test_bad_inputs_raise_with_messages() -> None:
    marks, truth = _load("chakraborty_svahn_tony_froc")
    with pytest.raises(ValueError, match="fom must be one of"):
        froc_figure_of_merit(marks, truth, fom="jafroc")
    with pytest.raises(ValueError, match=r"missing \['lesion'\]"):
        froc_figure_of_merit(marks.drop(columns="lesion"), truth)
    bad = marks.copy()
    bad.loc[0, "case"] = 9999
    with pytest.raises(ValueError, match="case '9999' at row 0 is not in the truth table"):
        froc_figure_of_merit(bad, truth)
    bad = marks.copy()
    bad.loc[bad.index[bad["lesion"] > 0][0], "lesion"] = 7
    with pytest.raises(ValueError, match="marks lesion 7 of case"):
        froc_figure_of_merit(bad, truth)
    t2 = truth.copy()
    t2.loc[t2.index[t2["truth"] == 1][0], "weight"] = 0.5
    with pytest.raises(ValueError, match="must sum to 1"):
        froc_figure_of_merit(marks, t2)
    bad = marks.copy()
    bad.loc[0, "score"] = np.nan
    with pytest.raises(ValueError, match="score' must be finite"):
        froc_figure_of_merit(bad, truth)


def test_no_normal_case_is_undefined() -> None:
    truth = pd.DataFrame({"case": [1, 2], "truth": [1, 1], "lesion": [1, 1]})
    marks = pd.DataFrame(
        {"reader": [1], "modality": ["A"], "case": [1], "truth": [1], "score": [1.0], "lesion": [1]}
    )
    with pytest.raises(UndefinedMetricError, match="undefined"):
        froc_figure_of_merit(marks, truth, fom="wafroc")
    # wafroc1 takes FPs from all cases, so it is defined here
    assert froc_figure_of_merit(marks, truth, fom="wafroc1")["fom"].iloc[0] == pytest.approx(0.75)


def test_missing_or_zero_weights_are_equal_weights() -> None:
    marks, truth = _load("zanca_fed_froc")
    expected = froc_figure_of_merit(marks, truth.assign(weight=np.nan), fom="wafroc")["fom"]
    zero = truth.assign(weight=np.where(truth["truth"] == 1, 0.0, np.nan))
    got = froc_figure_of_merit(marks, zero, fom="wafroc")["fom"]
    np.testing.assert_allclose(got, expected, atol=1e-15)
    multi = truth.groupby("case")["lesion"].transform("size") > 1
    # the file's weights are equal within each case, so all three agree
    np.testing.assert_allclose(
        froc_figure_of_merit(marks, truth, fom="wafroc")["fom"], expected, atol=1e-6
    )
    assert multi.any()
    weights_missing_column = truth.drop(columns="weight")
    np.testing.assert_allclose(
        froc_figure_of_merit(marks, weights_missing_column, fom="wafroc")["fom"],
        expected,
        atol=1e-15,
    )

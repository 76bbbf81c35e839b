"""Findings from TID 1500 SR (validation.data.dicom_sr) on real highdicom reports."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import pytest
from dicom_support import FINDING, ct_series, dciodvfy_errors, make_sr, roi_group, save

from validation.data.dicom_sr import read_sr_findings
from validation.errors import InputError

SUSPICION = hd.sr.CodedConcept("RID49493", "RADLEX", "Suspicion")
HIGH = hd.sr.CodedConcept("RID5645", "RADLEX", "High")
LOW = hd.sr.CodedConcept("RID5643", "RADLEX", "Low")
BOX = ("POLYLINE", [[10, 12], [30, 12], [30, 40], [10, 40], [10, 12]])


@pytest.fixture
def ct() -> list:
    return ct_series(n_slices=1, rows=64, cols=64, spacing=0.5)


def test_regions_become_boxes_or_points_with_scores(ct: list, tmp_path: Path) -> None:
    groups = [
        roi_group(ct[0], BOX, tracking="n1", score=0.75),
        roi_group(ct[0], ("POINT", [[5, 6]]), tracking="n2", score=0.5),
        roi_group(ct[0], ("CIRCLE", [[20, 20], [23, 24]]), tracking="n3", score=0.25),
        roi_group(ct[0], BOX, tracking="organ", finding=FINDING, score=0.125),
    ]
    path = save(make_sr(ct, groups), tmp_path / "sr.dcm")
    assert dciodvfy_errors(path) == []
    got = read_sr_findings(
        path, findings=["SCT:27925004"], score="DCM:111047", where="marks.csv, row 1"
    )
    assert got.study_uid == ct[0].StudyInstanceUID
    assert got.rows == [
        {"tracking_id": "n1", "x0": 10.0, "y0": 12.0, "x1": 30.0, "y1": 40.0, "score": 0.75},
        {"tracking_id": "n2", "x": 5.0, "y": 6.0, "score": 0.5},
        {"tracking_id": "n3", "x0": 15.0, "y0": 15.0, "x1": 25.0, "y1": 25.0, "score": 0.25},
    ]
    # by code meaning, every finding, no score (lesion truth)
    every = read_sr_findings(path, findings=[], score=None, where="t")
    assert [r["tracking_id"] for r in every.rows] == ["n1", "n2", "n3", "organ"]
    assert all("score" not in r for r in every.rows)
    named = read_sr_findings(path, findings=["Lung"], score="Probability of cancer", where="t")
    assert [r["score"] for r in named.rows] == [0.125]


def test_qualitative_evaluation_scored_by_declared_codes(ct: list, tmp_path: Path) -> None:
    groups = [
        roi_group(ct[0], BOX, tracking="a", qualitative=(SUSPICION, HIGH)),
        roi_group(ct[0], BOX, tracking="b", qualitative=(SUSPICION, LOW)),
    ]
    path = save(make_sr(ct, groups), tmp_path / "sr.dcm")
    codes = {"RADLEX:RID5645": 0.9, "Low": 0.2}
    got = read_sr_findings(path, findings=[], score="Suspicion", score_codes=codes, where="t")
    assert [r["score"] for r in got.rows] == [0.9, 0.2]
    with pytest.raises(InputError) as exc:
        read_sr_findings(path, findings=[], score="Suspicion", score_codes={"High": 1}, where="t")
    assert str(exc.value) == (
        f"t: DICOM SR {path}, measurement group 2 (tracking id 'b', finding SCT:27925004 "
        "(Nodule)): qualitative evaluation RADLEX:RID49493 (Suspicion) has value "
        "RADLEX:RID5643 (Low), which detection.dicom_sr.score_codes does not map "
        "(mapped: ['High'])"
    )


def test_missing_score_names_file_and_content_item(ct: list, tmp_path: Path) -> None:
    groups = [roi_group(ct[0], BOX, tracking="n1", score=0.5), roi_group(ct[0], BOX, tracking="n2")]
    path = save(make_sr(ct, groups), tmp_path / "sr.dcm")
    with pytest.raises(InputError) as exc:
        read_sr_findings(path, findings=[], score="DCM:111047", where="marks.csv, row 4")
    assert str(exc.value) == (
        f"marks.csv, row 4: DICOM SR {path}, measurement group 2 (tracking id 'n2', finding "
        "SCT:27925004 (Nodule)): expected a numeric measurement or qualitative evaluation "
        "'DCM:111047' (detection.dicom_sr.score), found none"
    )


def test_not_an_sr_is_an_input_error(ct: list, tmp_path: Path) -> None:
    path = save(ct[0], tmp_path / "ct.dcm")
    with pytest.raises(InputError, match=r"^t: .*ct.dcm is not a readable TID 1500 measurement"):
        read_sr_findings(path, findings=[], score=None, where="t")

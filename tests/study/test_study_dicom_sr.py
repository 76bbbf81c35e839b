"""A detection study run from TID 1500 SR marks and lesions gives the table run's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dicom_support import ct_series, make_sr, roi_group, save
from study_support import build_layout, lean, without_planning

from validation.errors import InputError
from validation.protocol.lock import lock_protocol
from validation.results import read_results_document as load_results
from validation.study import check_study_protocol, run_study

DETECTION = """detection:
  marks: ../scores/{marks}
  lesions: ../data/test/{lesions}
{sr}  rule: {{criterion: iou, iou_threshold: 0.3}}
  threshold: 0.5
  endpoints:
    - id: lesion_sensitivity
      role: secondary
      metric: sensitivity
    - id: fp_rate
      role: secondary
      metric: fp_per_image
"""
SR = "  dicom_sr: {findings: ['SCT:27925004'], score: 'DCM:111047'}\n"


def _box(r: pd.Series) -> tuple[str, list[list[float]]]:
    x0, y0, x1, y1 = (float(r[k]) for k in ("x0", "y0", "x1", "y1"))
    return ("POLYLINE", [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])


def _to_sr(root: Path) -> None:
    """Marks and lesions (rounded to SR's 32-bit floats) as one SR per case and as tables."""
    test, scores = root / "data" / "test", root / "scores"
    marks = pd.read_parquet(scores / "marks.parquet")
    lesions = pd.read_csv(test / "lesions.csv")
    for t in (marks, lesions):
        for k in ("x0", "y0", "x1", "y1"):
            t[k] = t[k].astype(np.float32).astype(float)
    marks.to_csv(scores / "marks32.csv", index=False)
    lesions.to_csv(test / "lesions32.csv", index=False)
    mark_rows, lesion_rows = [], []
    for cid in pd.read_csv(test / "manifest.csv")["case_id"]:
        ct = ct_series(n_slices=1, rows=256, cols=256, spacing=0.5)
        m = marks[marks["case_id"] == cid]
        groups = [
            roi_group(ct[0], _box(r), tracking=f"m{i}", score=float(r["score"]))
            for i, (_, r) in enumerate(m.iterrows())
        ]
        if groups:  # a case without marks has no report (highdicom needs a measurement)
            save(make_sr(ct, groups), scores / "sr" / f"{cid}.dcm")
            mark_rows.append({"case_id": cid, "sr_path": f"sr/{cid}.dcm"})
        les = lesions[lesions["case_id"] == cid]
        if len(les):
            truth = [
                roi_group(ct[0], _box(r), tracking=str(r["lesion_id"])) for _, r in les.iterrows()
            ]
            save(make_sr(ct, truth), test / "truth" / f"{cid}.dcm")
            lesion_rows.append({"case_id": cid, "sr_path": f"truth/{cid}.dcm"})
    pd.DataFrame(mark_rows).to_csv(scores / "marks_sr.csv", index=False)
    pd.DataFrame(lesion_rows).to_csv(test / "lesions_sr.csv", index=False)


def _protocol(root: Path, name: str, *, marks: str, lesions: str, sr: str) -> Path:
    # the test set is smaller than the demo protocol's sample-size plan
    text = without_planning(lean((root / "protocols" / "triage_standalone.yaml").read_text()))
    block = DETECTION.format(marks=marks, lesions=lesions, sr=sr)
    proto = root / "protocols" / name
    proto.write_text(text.replace("multiplicity:\n", block + "multiplicity:\n", 1))
    lock_protocol(proto)
    return proto


def test_sr_detection_study_matches_the_table_study(tmp_path: Path) -> None:
    root = build_layout(tmp_path / "demo", n=60)
    _to_sr(root)
    table = _protocol(root, "t.yaml", marks="marks32.csv", lesions="lesions32.csv", sr="")
    dicom = _protocol(root, "d.yaml", marks="marks_sr.csv", lesions="lesions_sr.csv", sr=SR)
    assert check_study_protocol(dicom) == []
    a = load_results(run_study(table, out_dir=root / "a", render=False).results_path)
    b = load_results(run_study(dicom, out_dir=root / "b", render=False).results_path)
    assert a["detection"]["sensitivity"]["estimate"] > 0.5
    for key in ("sensitivity", "fp_per_image", "counts", "curve", "cpm", "afroc", "wafroc"):
        assert key in a["detection"] and b["detection"][key] == a["detection"][key], key
    ea = {e["id"]: e for e in a["endpoints"]}
    eb = {e["id"]: e for e in b["endpoints"]}
    assert eb["lesion_sensitivity"]["estimate"] == ea["lesion_sensitivity"]["estimate"]


def test_sr_without_a_declared_score_is_an_exit_2_error(tmp_path: Path) -> None:
    root = build_layout(tmp_path / "demo", n=20)
    _to_sr(root)
    proto = _protocol(
        root, "d.yaml", marks="marks_sr.csv", lesions="lesions_sr.csv", sr="  dicom_sr: {}\n"
    )
    message = (
        f"{root / 'scores' / 'marks_sr.csv'}: lists DICOM SR files (column 'sr_path'); "
        "expected detection.dicom_sr with a score concept (detection.dicom_sr.score) "
        "in the protocol"
    )
    with pytest.raises(InputError) as exc:
        run_study(proto, out_dir=root / "b", render=False)
    assert str(exc.value) == message
    # `radval protocol check` finds it too, at the marks key
    found = [p.format(proto.name) for p in check_study_protocol(proto)]
    assert len(found) == 1 and found[0].endswith(f": detection.marks: {message}")

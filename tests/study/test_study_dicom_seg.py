"""A segmentation study run from DICOM SEG masks gives the NIfTI run's numbers; geometry
mismatches are exit-2 errors and a prediction on another grid is resampled and reported."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from dicom_support import ct_series, make_seg, save
from study_support import SEGMENTATION, lean, make_masks

from validation.errors import InputError
from validation.protocol.lock import lock_protocol
from validation.protocol.schema import Segmentation
from validation.report.render import render_html
from validation.results import read_results_document as load_results
from validation.study import check_study_protocol, run_study
from validation.study.dicom_masks import load_mask_pair

POLICY = {"both_empty": "best", "reference_empty": "worst", "prediction_empty": "worst"}


def _seg_protocol(layout: Path, write_protocol, name: str) -> Path:
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    text = text.replace("multiplicity:\n", SEGMENTATION + "multiplicity:\n", 1).replace(
        "order: [auc_primary, sensitivity_primary, specificity_primary]",
        "order: [auc_primary, sensitivity_primary, specificity_primary, dice_primary]",
    )
    proto = write_protocol(name, text)
    lock_protocol(proto)
    return proto


def _nifti_to_seg(layout: Path, *, mixed: bool) -> None:
    """Rewrite the 12 NIfTI mask pairs as DICOM SEG over one-slice CTs (0.5 mm pixels)."""
    test = layout / "data" / "test"
    manifest = pd.read_csv(test / "manifest.csv", dtype=str, keep_default_na=False)
    preds = pd.read_csv(layout / "scores" / "seg" / "predictions.csv", dtype=str)
    for i, cid in enumerate(preds["case_id"]):
        ct = ct_series(n_slices=1, rows=24, cols=24, spacing=0.5)
        ref = np.asarray(nib.load(test / "masks" / f"{cid}.nii.gz").dataobj)[:, :, 0]
        pred = np.asarray(nib.load(layout / "scores" / "seg" / f"{cid}.nii.gz").dataobj)[:, :, 0]
        save(make_seg(ct, pred[None]), layout / "scores" / "seg" / f"{cid}.seg.dcm")
        preds.loc[i, "mask_path"] = f"{cid}.seg.dcm"
        if not mixed:
            save(make_seg(ct, ref[None]), test / "masks" / f"{cid}.seg.dcm")
            manifest.loc[manifest["case_id"] == cid, "mask_path"] = f"masks/{cid}.seg.dcm"
    manifest.to_csv(test / "manifest.csv", index=False)
    preds.to_csv(layout / "scores" / "seg" / "predictions.csv", index=False)


@pytest.mark.parametrize("mixed", [False, True], ids=["seg-vs-seg", "nifti-ref-seg-pred"])
def test_dicom_seg_study_matches_the_nifti_study(layout: Path, write_protocol, mixed) -> None:
    make_masks(layout)
    nifti = run_study(
        _seg_protocol(layout, write_protocol, "a.yaml"), out_dir=layout / "a", render=False
    )
    _nifti_to_seg(layout, mixed=mixed)
    dicom = run_study(
        _seg_protocol(layout, write_protocol, "b.yaml"), out_dir=layout / "b", render=False
    )
    a, b = load_results(nifti.results_path), load_results(dicom.results_path)
    for key in ("estimates", "per_case", "n_valid", "n_excluded", "status_counts"):
        assert b["segmentation"][key] == a["segmentation"][key], key
    assert "resampled" not in b["segmentation"]
    eps = {e["id"]: e for e in b["endpoints"]}
    assert eps["dice_primary"]["estimate"] == pytest.approx((10 * 112 / 128 + 2 * 1.0) / 12)


def _spec() -> Segmentation:
    return Segmentation.model_validate(
        {
            "predictions": "p.csv",
            "empty_policy": POLICY,
            "endpoints": [{"id": "d", "role": "secondary", "metric": "dice"}],
        }
    )


def test_prediction_on_another_grid_is_resampled_and_said(tmp_path: Path) -> None:
    fine = ct_series(n_slices=2, rows=12, cols=12, spacing=1.0)
    frame = fine[0].FrameOfReferenceUID
    # 3 mm pixels whose first centre is 1 mm into the fine grid, same slices and frame
    coarse = ct_series(n_slices=2, rows=4, cols=4, spacing=3.0, origin=(1, 1, 0), frame_uid=frame)
    small = np.zeros((2, 4, 4), dtype=bool)
    small[0, 1:3, 1:3] = True
    ref = np.kron(small, np.ones((1, 3, 3), dtype=bool))
    ref_path = save(make_seg(fine, ref), tmp_path / "ref.dcm")
    pred_path = save(make_seg(coarse, small), tmp_path / "pred.dcm")
    pred, got_ref, zooms, note = load_mask_pair(
        ref_path, pred_path, _spec(), case_id="C1", ref_where="m", pred_where="p"
    )
    assert got_ref.shape == (2, 12, 12) and zooms == (2.0, 1.0, 1.0)
    assert (pred == got_ref).all() and pred.sum() == 36
    assert note == (
        "DICOM SEG pred.dcm (segment 1 'nodule'): grid (2, 4, 4) spacing (2, 3, 3) mm "
        "resampled (nearest neighbour) onto DICOM SEG ref.dcm (segment 1 'nodule') grid "
        "(2, 12, 12) spacing (2, 1, 1) mm"
    )


def test_other_frame_of_reference_is_an_input_error(tmp_path: Path) -> None:
    a = ct_series(n_slices=1, rows=8, cols=8, spacing=1.0)
    b = ct_series(n_slices=1, rows=8, cols=8, spacing=1.0)
    mask = np.zeros((1, 8, 8), dtype=bool)
    mask[0, 2:4, 2:4] = True
    ref_path = save(make_seg(a, mask), tmp_path / "ref.dcm")
    pred_path = save(make_seg(b, mask), tmp_path / "pred.dcm")
    with pytest.raises(InputError) as exc:
        load_mask_pair(ref_path, pred_path, _spec(), case_id="C7", ref_where="m", pred_where="p")
    assert str(exc.value) == (
        f"case C7: DICOM SEG pred.dcm (segment 1 'nodule') is in frame of reference "
        f"{b[0].FrameOfReferenceUID}, expected the reference's {a[0].FrameOfReferenceUID} "
        "(DICOM SEG ref.dcm (segment 1 'nodule'))"
    )


def test_protocol_check_reads_seg_headers(layout: Path, write_protocol) -> None:
    make_masks(layout)
    _nifti_to_seg(layout, mixed=False)
    proto = _seg_protocol(layout, write_protocol, "c.yaml")
    assert check_study_protocol(proto) == []
    # a CT image where a SEG is expected, and a SEG with two segments but none chosen
    seg_dir = layout / "scores" / "seg"
    ct = ct_series(n_slices=1, rows=24, cols=24, spacing=0.5)
    save(ct[0], seg_dir / "C0000.seg.dcm")
    two = np.zeros((1, 24, 24, 2), dtype=bool)
    two[0, 1:3, 1:3, 0] = two[0, 5:9, 5:9, 1] = True
    save(make_seg(ct, two, labels=("a", "b")), seg_dir / "C0001.seg.dcm")
    got = [p.format(proto.name) for p in check_study_protocol(proto)]
    where = f"{seg_dir / 'predictions.csv'}, case_id"
    assert got == [
        f"c.yaml:57: segmentation.predictions: {where} 'C0000', column 'mask_path': "
        f"{seg_dir / 'C0000.seg.dcm'} is not a DICOM SEG: expected SOP class "
        "1.2.840.10008.5.1.4.1.1.66.4, found 1.2.840.10008.5.1.4.1.1.2",
        f"c.yaml:57: segmentation.predictions: {where} 'C0001', column 'mask_path': "
        f"DICOM SEG {seg_dir / 'C0001.seg.dcm'} has 2 segments (1: 'a' (SCT:27925004 Nodule); "
        "2: 'b' (SCT:27925004 Nodule)); set segmentation.segment to a label or code",
    ]


def test_resampled_prediction_is_in_results_and_report(layout: Path, write_protocol) -> None:
    make_masks(layout)
    _nifti_to_seg(layout, mixed=False)
    test, seg_dir = layout / "data" / "test", layout / "scores" / "seg"
    fine = ct_series(n_slices=1, rows=24, cols=24, spacing=0.5)
    frame = fine[0].FrameOfReferenceUID
    coarse = ct_series(
        n_slices=1, rows=8, cols=8, spacing=1.5, origin=(0.5, 0.5, 0), frame_uid=frame
    )
    small = np.zeros((1, 8, 8), dtype=bool)
    small[0, 2:5, 2:4] = True
    save(make_seg(fine, np.kron(small, np.ones((1, 3, 3), dtype=bool))), test / "masks" / "x.dcm")
    save(make_seg(coarse, small), seg_dir / "x.dcm")
    manifest = pd.read_csv(test / "manifest.csv", dtype=str, keep_default_na=False)
    manifest.loc[manifest["case_id"] == "C0000", "mask_path"] = "masks/x.dcm"
    manifest.to_csv(test / "manifest.csv", index=False)
    preds = pd.read_csv(seg_dir / "predictions.csv", dtype=str)
    preds.loc[preds["case_id"] == "C0000", "mask_path"] = "x.dcm"
    preds.to_csv(seg_dir / "predictions.csv", index=False)
    run = run_study(_seg_protocol(layout, write_protocol, "r.yaml"), out_dir=layout / "r")
    seg = load_results(run.results_path)["segmentation"]
    assert [r["case_id"] for r in seg["resampled"]] == ["C0000"]
    assert seg["resampled"][0]["note"].startswith("DICOM SEG x.dcm (segment 1 'nodule'): grid ")
    first = next(r for r in seg["per_case"] if r["case_id"] == "C0000")
    assert first["dice"] == pytest.approx(1.0)  # the block-expanded prediction is the reference
    page = render_html(layout / "r")
    assert "1 predicted DICOM SEG mask(s) were on another grid" in page


def test_seg_prediction_against_a_3d_nifti_reference_in_patient_space(tmp_path: Path) -> None:
    # a dcm2niix-style NIfTI: array (column, row, slice), RAS affine = LPS flipped in x and y
    ct = ct_series(n_slices=3, rows=12, cols=10, spacing=0.8, origin=(4.0, -2.0, 10.0))
    mask = np.zeros((3, 12, 10), dtype=bool)
    mask[1, 2:6, 3:8] = True
    mask[2, 7:9, 1:3] = True
    lps = np.array(
        [[0.8, 0, 0, 4.0], [0, 0.8, 0, -2.0], [0, 0, 2.0, 10.0], [0, 0, 0, 1]], dtype=float
    )
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    nib.save(
        nib.Nifti1Image(mask.transpose(2, 1, 0).astype(np.uint8), ras), tmp_path / "ref.nii.gz"
    )
    seg_path = save(make_seg(ct, mask), tmp_path / "pred.dcm")
    pred, ref, zooms, note = load_mask_pair(
        tmp_path / "ref.nii.gz", seg_path, _spec(), case_id="C1", ref_where="m", pred_where="p"
    )
    assert ref.shape == (10, 12, 3) and zooms == pytest.approx((0.8, 0.8, 2.0))
    assert (pred == ref).all() and ref.sum() == mask.sum()
    assert note is not None and "onto NIfTI ref.nii.gz grid (10, 12, 3)" in note
    # the same NIfTI one slice off in z: the prediction no longer lines up
    shifted = ras.copy()
    shifted[2, 3] += 2.0
    nib.save(
        nib.Nifti1Image(mask.transpose(2, 1, 0).astype(np.uint8), shifted),
        tmp_path / "off.nii.gz",
    )
    pred2, ref2, _, _ = load_mask_pair(
        tmp_path / "off.nii.gz", seg_path, _spec(), case_id="C1", ref_where="m", pred_where="p"
    )
    assert not (pred2 == ref2).all()


def test_projection_grids_must_share_the_pixel_spacing(tmp_path: Path) -> None:
    ct = ct_series(n_slices=1, rows=24, cols=24, spacing=0.6)
    mask = np.zeros((1, 24, 24), dtype=bool)
    mask[0, 3:9, 4:8] = True
    seg_path = save(make_seg(ct, mask), tmp_path / "pred.dcm")
    affine = np.diag([0.5, 0.5, 1.0, 1.0])
    nib.save(nib.Nifti1Image(mask[0].astype(np.uint8)[:, :, None], affine), tmp_path / "r.nii.gz")
    with pytest.raises(InputError) as exc:
        load_mask_pair(
            tmp_path / "r.nii.gz", seg_path, _spec(), case_id="C3", ref_where="m", pred_where="p"
        )
    assert str(exc.value) == (
        "case C3: DICOM SEG pred.dcm (segment 1 'nodule') has pixel spacing (0.6, 0.6) mm, "
        "expected the reference NIfTI r.nii.gz's (0.5, 0.5) mm"
    )

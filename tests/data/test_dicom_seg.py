"""DICOM SEG read as masks (validation.data.dicom_seg) on real highdicom objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dicom_support import ct_series, dciodvfy_errors, make_seg, save

from validation.data.dicom_seg import is_dicom_file, read_seg, resample_nearest
from validation.errors import InputError


@pytest.fixture
def series() -> list:
    return ct_series(n_slices=3, rows=12, cols=12, spacing=0.8)


def _mask() -> np.ndarray:
    m = np.zeros((3, 12, 12), dtype=bool)
    m[1, 2:5, 3:7] = True
    m[2, 6:9, 6:8] = True
    return m


def test_binary_seg_reads_back_with_its_geometry(series: list, tmp_path: Path) -> None:
    path = save(make_seg(series, _mask()), tmp_path / "seg.dcm")
    assert dciodvfy_errors(path) == []
    assert is_dicom_file(path) and not is_dicom_file(tmp_path)
    got = read_seg(path, segment=None, where="t")
    assert got.frame_of_reference_uid == series[0].FrameOfReferenceUID
    assert got.referenced_series_uids == (series[0].SeriesInstanceUID,)
    assert got.spacing == (2.0, 0.8, 0.8)
    # the affine maps each mask voxel to the position of the source pixel it labels
    for k, j, i in np.argwhere(got.array):
        x, y, z, _ = got.affine @ np.array([k, j, i, 1.0])
        src = next(s for s in series if abs(float(s.ImagePositionPatient[2]) - z) < 1e-6)
        assert _mask()[series.index(src), round(y / 0.8), round(x / 0.8)]
    assert got.array.sum() == _mask().sum()


def test_segment_chosen_by_label_code_or_number(series: list, tmp_path: Path) -> None:
    two = np.stack([_mask(), np.roll(_mask(), 3, axis=2)], axis=-1)
    path = save(make_seg(series, two, labels=("lesion", "organ")), tmp_path / "seg.dcm")
    a = read_seg(path, segment="lesion", where="t")
    b = read_seg(path, segment="2", where="t")
    assert (a.segment_number, b.segment_number) == (1, 2)
    assert a.array.sum() == b.array.sum() and not (a.array == b.array).all()
    with pytest.raises(InputError) as exc:
        read_seg(path, segment=None, where="predictions.csv, case C1")
    assert str(exc.value).startswith(
        f"predictions.csv, case C1: DICOM SEG {path} has 2 segments (1: 'lesion' "
        "(SCT:27925004 Nodule); 2: 'organ' (SCT:27925004 Nodule)); set segmentation.segment"
    )
    with pytest.raises(InputError, match="found 2 segments"):
        read_seg(path, segment="SCT:27925004", where="t")
    with pytest.raises(InputError, match="matching segmentation.segment 'liver'.*found no segment"):
        read_seg(path, segment="liver", where="t")


def test_fractional_seg_binarised_at_the_declared_threshold(series: list, tmp_path: Path) -> None:
    prob = _mask() * 0.6
    path = save(make_seg(series, prob, fractional=True), tmp_path / "frac.dcm")
    assert dciodvfy_errors(path) == []
    assert read_seg(path, segment=None, threshold=0.5, where="t").array.sum() == _mask().sum()
    assert read_seg(path, segment=None, threshold=0.7, where="t").fractional
    assert not read_seg(path, segment=None, threshold=0.7, where="t").array.any()


def test_not_a_seg_is_a_clear_input_error(series: list, tmp_path: Path) -> None:
    ct = save(series[0], tmp_path / "ct.dcm")
    with pytest.raises(InputError, match=r"^t: .*ct.dcm is not a readable DICOM SEG \(expected "):
        read_seg(ct, segment=None, where="t")
    with pytest.raises(InputError, match=r"^t: DICOM SEG file .*missing.dcm does not exist$"):
        read_seg(tmp_path / "missing.dcm", segment=None, where="t")


def test_resample_nearest_matches_block_expansion() -> None:
    # a 4x4 grid of 3 mm voxels whose first centre sits 1 mm into a 12x12 grid of 1 mm voxels
    coarse = np.random.default_rng(0).random((1, 4, 4)) > 0.5
    src = np.diag([1.0, 3.0, 3.0, 1.0])
    src[:3, 3] = [0.0, 1.0, 1.0]
    got = resample_nearest(coarse, src, shape=(1, 12, 12), target_affine=np.eye(4))
    assert (got == np.kron(coarse, np.ones((1, 3, 3), dtype=bool))).all()
    # target voxels beyond the source grid are outside the mask, never edge-extended
    full = np.ones((1, 4, 4), dtype=bool)
    wider = resample_nearest(full, src, shape=(1, 14, 14), target_affine=np.eye(4))
    assert wider[:, :12, :12].all() and not wider[:, 12:, :].any() and not wider[:, :, 12:].any()

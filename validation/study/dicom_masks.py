"""Pairs of segmentation masks where either side may be a DICOM SEG.

NIfTI/``.npy`` pairs are read as before (:func:`validation.study.tables.load_mask`). When
either mask is a DICOM SEG its geometry is checked against the other's: the same frame of
reference (when both declare one), and for volumes the voxel-to-patient mapping (spacing,
orientation, position). A prediction on a different grid in the same frame of reference is
resampled onto the reference mask's grid by nearest neighbour, and the record says so.
Projection images (no frame of reference) must have the same ``(rows, columns)`` grid; a
2-D NIfTI/``.npy`` mask is indexed ``(row, column)`` like the DICOM pixel array.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from validation.data.dicom_seg import (
    is_dicom_file,
    read_seg,
    resample_nearest,
    same_grid,
    seg_problems,
)
from validation.errors import InputError
from validation.io import resolve_inside
from validation.protocol.schema import Segmentation
from validation.study.tables import blank, load_mask

#: NIfTI's RAS+ world to DICOM's LPS+ patient coordinates.
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class _Grid:
    array: np.ndarray
    affine: np.ndarray | None
    spacing: tuple[float, ...]
    frame_uid: str | None
    what: str


def _grid(path: Path, seg: Segmentation, where: str) -> _Grid:
    if is_dicom_file(path):
        m = read_seg(path, segment=seg.segment, threshold=seg.fractional_threshold, where=where)
        what = f"DICOM SEG {path.name} (segment {m.segment_number} {m.segment_label!r})"
        return _Grid(m.array, m.affine, m.spacing, m.frame_of_reference_uid, what)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")) and path.is_file():
        arr, zooms = load_mask(path, seg.spacing_mm, where)
        img: Any = nib.load(str(path))
        if arr.ndim == 3:
            affine = _RAS_TO_LPS @ np.asarray(img.affine, dtype=float)
            return _Grid(arr, affine, zooms, None, f"NIfTI {path.name}")
        return _Grid(arr, None, zooms, None, f"NIfTI {path.name}")
    arr, zooms = load_mask(path, seg.spacing_mm, where)
    return _Grid(arr, None, zooms, None, f"mask {path.name}")


def _squeezed(
    array: np.ndarray, spacing: tuple[float, ...]
) -> tuple[np.ndarray, tuple[float, ...]]:
    keep = [i for i, d in enumerate(array.shape) if d != 1]
    zooms = tuple(spacing[i] for i in keep) if len(spacing) == array.ndim else spacing
    return np.squeeze(array), zooms


def load_mask_pair(
    ref_path: Path,
    pred_path: Path,
    seg: Segmentation,
    *,
    case_id: str,
    ref_where: str,
    pred_where: str,
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], str | None]:
    """``(prediction, reference, spacing_mm, note)`` on the reference mask's grid.

    ``note`` is ``None`` unless the prediction was resampled onto the reference grid.
    """
    if not (is_dicom_file(ref_path) or is_dicom_file(pred_path)):
        ref, zooms = load_mask(ref_path, seg.spacing_mm, ref_where)
        pred, _ = load_mask(pred_path, seg.spacing_mm, pred_where)
        if pred.shape != ref.shape:
            raise InputError(
                f"case {case_id}: predicted mask shape {pred.shape} differs from the "
                f"reference {ref.shape}"
            )
        return pred, ref, zooms, None
    ref_g = _grid(ref_path, seg, ref_where)
    pred_g = _grid(pred_path, seg, pred_where)
    if ref_g.frame_uid and pred_g.frame_uid and ref_g.frame_uid != pred_g.frame_uid:
        raise InputError(
            f"case {case_id}: {pred_g.what} is in frame of reference {pred_g.frame_uid}, "
            f"expected the reference's {ref_g.frame_uid} ({ref_g.what})"
        )
    note = None
    if ref_g.affine is not None and pred_g.affine is not None:
        pred = pred_g.array
        if not same_grid(pred.shape, pred_g.affine, ref_g.array.shape, ref_g.affine):
            pred = resample_nearest(
                pred_g.array, pred_g.affine, shape=ref_g.array.shape, target_affine=ref_g.affine
            )
            if pred_g.array.any() and not pred.any():
                raise InputError(
                    f"case {case_id}: {pred_g.what} does not overlap the grid of "
                    f"{ref_g.what}; expected both on the same patient coordinates"
                )
            note = (
                f"{pred_g.what}: grid {pred_g.array.shape} spacing "
                f"{_mm(pred_g.spacing)} resampled (nearest neighbour) onto {ref_g.what} "
                f"grid {ref_g.array.shape} spacing {_mm(ref_g.spacing)}"
            )
        ref, zooms = _squeezed(ref_g.array, ref_g.spacing)
        return np.squeeze(pred), ref, zooms, note
    ref, zooms = _squeezed(ref_g.array, ref_g.spacing)
    pred = np.squeeze(pred_g.array)
    if pred.shape != ref.shape:
        raise InputError(
            f"case {case_id}: {pred_g.what} has grid {pred.shape}, expected the reference "
            f"{ref_g.what}'s {ref.shape} (without a frame of reference on both sides the "
            "grids must be equal)"
        )
    pred_zooms = _squeezed(pred_g.array, pred_g.spacing)[1]
    if len(zooms) != ref.ndim:
        zooms = pred_zooms
    elif len(pred_zooms) == len(zooms) and not np.allclose(pred_zooms, zooms, atol=1e-3):
        raise InputError(
            f"case {case_id}: {pred_g.what} has pixel spacing {_mm(pred_zooms)}, expected the "
            f"reference {ref_g.what}'s {_mm(zooms)}"
        )
    return pred, ref, zooms, note


def _mm(spacing: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{s:g}" for s in spacing) + ") mm"


def dicom_seg_problems(
    preds: pd.DataFrame,
    seg: Segmentation,
    frame: pd.DataFrame,
    predictions_path: Path,
    manifest_path: Path,
) -> list[tuple[tuple[str, ...], str]]:
    """``(YAML path, message)`` for every DICOM SEG mask (reference or predicted) whose
    header is not a SEG with the protocol's segment (``radval protocol check``)."""
    out: list[tuple[tuple[str, ...], str]] = []
    pred_of = dict(zip(preds["case_id"].astype(str), preds["mask_path"], strict=True))
    for row, (cid, ref_rel) in enumerate(
        zip(frame["case_id"].astype(str), frame[seg.reference_column], strict=True)
    ):
        if blank(ref_rel) or cid not in pred_of:
            continue
        pairs = (
            (
                ("segmentation", "reference_column"),
                manifest_path.parent,
                str(ref_rel),
                f"{manifest_path}, row {row + 1} (case_id {cid!r}), column "
                f"{seg.reference_column!r}",
            ),
            (
                ("segmentation", "predictions"),
                predictions_path.parent,
                str(pred_of[cid]),
                f"{predictions_path}, case_id {cid!r}, column 'mask_path'",
            ),
        )
        for loc, folder, rel, where in pairs:
            try:
                path = resolve_inside(folder, rel, folder="its table's folder", where=where)
            except InputError:
                continue  # reported by predictions_problems and the run
            if is_dicom_file(path):
                out += [(loc, m) for m in seg_problems(path, segment=seg.segment, where=where)]
    return out

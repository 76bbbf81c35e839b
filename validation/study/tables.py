"""The user's tables a study reads besides the manifest and the scores.

Readings (reader study), detection marks and lesion truth, segmentation predictions and
their masks: each is read through the protocol's column mapping, and each has a
``*_problems`` function listing every problem in it, which ``radval protocol check``
reports in one pass and the run refuses (:mod:`.checks`, :mod:`.analyses`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from validation.data.readings import load_readings, select_modalities, validate_readings
from validation.errors import InputError, ReadingsError
from validation.io import path_escape_reason
from validation.protocol.schema import Detection, ReaderStudy, Segmentation
from validation.study.inputs import map_columns, missing_columns_message, read_table, show_value

__all__ = [
    "blank",
    "lesions_problems",
    "load_mask",
    "marks_problems",
    "predictions_problems",
    "read_detection_table",
    "read_predictions",
    "read_readings",
    "readings_problems",
]


def read_readings(path: Path, columns: dict[str, str] | None) -> pd.DataFrame:
    """Readings in the tidy form, through the protocol's ``reader_study.columns`` mapping.

    Without a mapping any format :func:`validation.data.readings.load_readings` reads; with
    one, a tidy CSV or Parquet table whose columns are renamed first. Identifiers are text.
    """

    if not columns:
        readings = load_readings(path)
    else:
        frame = read_table(path, "readings", text=("reader", "modality", "case"), columns=columns)
        frame, problems = map_columns(frame, columns, path=path, where="reader_study.columns")
        if problems:
            raise ReadingsError(problems[0])
        frame.index = pd.RangeIndex(1, len(frame) + 1)
        frame.attrs["source"] = str(path)
        readings = validate_readings(frame, design=None)
    return readings.assign(
        reader=readings["reader"].astype(str), modality=readings["modality"].astype(str)
    )


def readings_problems(rs: ReaderStudy, readings: pd.DataFrame, path: Path) -> list[str]:
    """Problems of tidy readings against the protocol's reader study: modalities, the AI reader."""

    problems = []
    humans = readings if rs.ai_reader is None else readings[readings["reader"] != rs.ai_reader]
    for mod in (rs.test_modality, rs.reference_modality):
        if mod not in set(humans["modality"]):
            problems.append(
                f"{path}: modality {mod!r} (reader_study) is not in the readings; found "
                f"{sorted(set(humans['modality']))}"
            )
    if rs.ai_reader is not None:
        if rs.ai_reader not in set(readings["reader"]):
            problems.append(
                f"{path}: reader {rs.ai_reader!r} (reader_study.ai_reader) is not in the readings; "
                f"readers are {sorted(set(readings['reader']))}"
            )
        else:
            try:
                select_modalities(
                    readings, [rs.ai_modality or rs.reference_modality], ai_reader=rs.ai_reader
                )
            except ReadingsError as exc:
                problems.append(f"{exc} (see reader_study.ai_reader and ai_modality)")
    return problems


_BOX = ("x0", "y0", "x1", "y1")
_POINT = ("x", "y")


def _unknown_ids(ids: pd.Series, known: set[str] | frozenset[str], path: Path) -> list[str]:
    unknown = sorted(set(ids.astype(str)) - set(known))
    if not unknown:
        return []
    return [
        f"{path}: {len(unknown)} case_id(s) are not in the test-set manifest, e.g. {unknown[0]!r}"
    ]


def _finite_problems(frame: pd.DataFrame, cols: list[str], path: Path) -> list[str]:
    out = []
    for col in cols:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad)

            out.append(
                f"{path}: row {rows[0] + 1}, field {col!r}: expected a finite number, found "
                f"{show_value(frame[col].iloc[rows[0]])}"
                + (f" ({rows.size} rows)" if rows.size > 1 else "")
            )
    return out


def _geometry(cols: set[str]) -> list[str] | None:
    if set(_BOX) <= cols:
        return list(_BOX) + [c for c in ("z0", "z1") if c in cols]
    if set(_POINT) <= cols:
        return list(_POINT) + [c for c in ("z",) if c in cols]
    return None


def read_detection_table(
    path: Path, what: str, columns: dict[str, str] | None, where: str
) -> pd.DataFrame:
    """A marks or lesion-truth table with the protocol's column mapping applied."""

    frame = read_table(path, what, text=("case_id", "lesion_id"), columns=columns)
    frame, problems = map_columns(frame, columns, path=path, where=where)
    if problems:
        raise InputError(problems[0])
    return frame


def marks_problems(
    marks: pd.DataFrame, path: Path, *, known: set[str] | frozenset[str] | None
) -> list[str]:
    """Every problem of a marks table: columns, numbers, case ids not in the manifest."""
    cols = {str(c) for c in marks.columns}
    geometry = _geometry(cols)
    missing = [c for c in ("case_id", "score") if c not in cols]
    if missing or geometry is None:
        return [
            f"{path}: expected columns case_id, score and a box (x0, y0, x1, y1) or a point (x, y) "
            f"(detection.marks_columns maps other names); "
            + (f"missing {missing}, " if missing else "")
            + ("no box or point columns, " if geometry is None else "")
            + f"found {sorted(cols)}"
        ]
    problems = _finite_problems(marks, ["score", *geometry], path)
    if known is not None:
        problems += _unknown_ids(marks["case_id"], known, path)
    return problems


def lesions_problems(
    lesions: pd.DataFrame, path: Path, *, det: Detection, known: set[str] | frozenset[str] | None
) -> list[str]:
    """Every problem of a lesion-truth table: columns the rule needs, numbers, ids."""
    cols = {str(c) for c in lesions.columns}
    geometry = _geometry(cols)
    missing = [c for c in ("case_id", "lesion_id") if c not in cols]
    rule = det.rule
    if (
        rule.criterion in ("iou", "center_in_box")
        and geometry is not None
        and geometry[0] == "x"
        and "radius" not in cols
    ):
        geometry = None  # points alone cannot be hit by a box overlap or a centre-in-box rule
    if missing or geometry is None:
        need = (
            "a box (x0, y0, x1, y1) or a centre (x, y) with radius"
            if rule.criterion != "center_distance"
            else "a box (x0, y0, x1, y1) or a centre (x, y)"
        )
        return [
            f"{path}: expected columns case_id, lesion_id and {need} for rule {rule.criterion!r} "
            f"(detection.lesions_columns maps other names); "
            + (f"missing {missing}, " if missing else "")
            + ("no usable geometry columns, " if geometry is None else "")
            + f"found {sorted(cols)}"
        ]
    problems = []
    if rule.criterion == "center_distance" and rule.max_distance is None and "radius" not in cols:
        problems.append(
            f"{path}: rule center_distance without max_distance needs a 'radius' column; found {sorted(cols)}"
        )
    problems += _finite_problems(lesions, geometry + (["radius"] if "radius" in cols else []), path)
    key = lesions["case_id"].astype(str) + "\x00" + lesions["lesion_id"].astype(str)
    dup = key.duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        problems.append(
            f"{path}: row {row + 1}, field 'lesion_id': lesion {lesions['lesion_id'].astype(str).iloc[row]!r} of "
            f"case {lesions['case_id'].astype(str).iloc[row]!r} appears twice"
        )
    if known is not None:
        problems += _unknown_ids(lesions["case_id"], known, path)
    return problems


def load_mask(
    path: Path, spacing: list[float] | None, where: str
) -> tuple[np.ndarray, tuple[float, ...]]:
    """A binary mask and its voxel spacing (mm): NIfTI via nibabel, or ``.npy`` with ``spacing_mm``."""
    if not path.is_file():
        raise InputError(f"{where}: mask file {path} does not exist")
    name = path.name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            img: Any = nib.load(str(path))
            arr = np.asarray(img.dataobj)
            zooms = tuple(float(z) for z in img.header.get_zooms()[: arr.ndim])
        elif name.endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
            zooms = ()
        else:
            raise InputError(f"{where}: mask {path} must be NIfTI (.nii, .nii.gz) or .npy")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable mask is bad input
        raise InputError(f"{where}: cannot read mask {path}: {exc}") from None
    if zooms:
        zooms = tuple(z for z, d in zip(zooms, arr.shape, strict=False) if d != 1)
    arr = np.squeeze(arr)
    if spacing is not None:
        if len(spacing) != arr.ndim:
            raise InputError(
                f"{where}: mask {path} has {arr.ndim} dimensions, spacing_mm has {len(spacing)}"
            )
        zooms = tuple(float(s) for s in spacing)
    elif len(zooms) != arr.ndim:
        raise InputError(
            f"{where}: mask {path} carries no voxel spacing; set segmentation.spacing_mm"
        )
    values = np.unique(arr)
    if not np.isin(values, (0, 1)).all():
        raise InputError(f"{where}: mask {path} is not binary (values {values[:5].tolist()})")
    return arr.astype(bool), zooms


def blank(value: Any) -> bool:
    return (
        value is None
        or (not isinstance(value, str) and bool(pd.isna(value)))
        or str(value).strip() == ""
    )


def read_predictions(path: Path, columns: dict[str, str] | None) -> pd.DataFrame:
    """The segmentation predictions table with the protocol's column mapping applied."""

    frame = read_table(path, "predictions", text=("case_id", "mask_path"), columns=columns)
    frame, problems = map_columns(frame, columns, path=path, where="segmentation.columns")
    if problems:
        raise InputError(problems[0])
    return frame


def predictions_problems(
    preds: pd.DataFrame,
    seg: Segmentation,
    frame: pd.DataFrame,
    *,
    predictions_path: Path,
    manifest_path: Path,
    known: set[str] | frozenset[str],
) -> list[tuple[tuple[str, ...], str]]:
    """``(YAML path, message)`` of every problem of a segmentation predictions table.

    Columns, duplicate and unknown case ids, the manifest's reference-mask column, every
    analysed case with a reference mask but no prediction, and mask files that do not
    exist (reference and predicted; their contents are read by the run).
    """

    where = ("segmentation", "predictions")
    missing = [c for c in ("case_id", "mask_path") if c not in preds.columns]
    if missing:
        return [
            (
                where,
                missing_columns_message(
                    predictions_path,
                    missing,
                    [str(c) for c in preds.columns],
                    names=("case_id", "mask_path"),
                    where="segmentation.columns",
                    mapping=seg.columns,
                ),
            )
        ]
    out: list[tuple[tuple[str, ...], str]] = []
    ids = preds["case_id"].astype(str)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        out.append(
            (
                where,
                f"{predictions_path}: row {row + 1}, field 'case_id': duplicate case_id {ids.iloc[row]!r}",
            )
        )
    out += [(where, m) for m in _unknown_ids(ids, known, predictions_path)]
    if seg.reference_column not in frame.columns:
        out.append(
            (
                ("segmentation", "reference_column"),
                f"{manifest_path}: column {seg.reference_column!r} (segmentation.reference_column) is missing; "
                f"columns are {[str(c) for c in frame.columns]}",
            )
        )
        return out
    pred_of = dict(zip(ids, preds["mask_path"], strict=True))
    no_pred: list[str] = []
    no_ref_file: list[tuple[int, str]] = []
    no_pred_file: list[str] = []
    for row, (cid, ref_rel) in enumerate(
        zip(frame["case_id"].astype(str), frame[seg.reference_column], strict=True)
    ):
        if blank(ref_rel):
            continue
        # a path that leaves its table's folder is refused and never looked at (not even stat)
        escape = path_escape_reason(
            manifest_path.parent, str(ref_rel), folder="the manifest's folder"
        )
        if escape is not None:
            out.append(
                (
                    ("segmentation", "reference_column"),
                    f"{manifest_path}, row {row + 1} (case_id {cid!r}), column {seg.reference_column!r}: {escape}",
                )
            )
        elif not (manifest_path.parent / str(ref_rel)).is_file():
            no_ref_file.append((row, str(ref_rel)))
        rel = pred_of.get(cid)
        if rel is None or blank(rel):
            no_pred.append(cid)
            continue
        escape = path_escape_reason(
            predictions_path.parent, str(rel), folder="the predictions table's folder"
        )
        if escape is not None:
            out.append(
                (where, f"{predictions_path}, case_id {cid!r}, column 'mask_path': {escape}")
            )
        elif not (predictions_path.parent / str(rel)).is_file():
            no_pred_file.append(cid)
    if no_pred:
        out.append(
            (
                where,
                f"{predictions_path}: no predicted mask for case_id {no_pred[0]!r}"
                + (
                    f" ({len(no_pred)} cases with a reference mask have none)"
                    if len(no_pred) > 1
                    else ""
                ),
            )
        )
    if no_pred_file:
        cid = no_pred_file[0]
        out.append(
            (
                where,
                f"{predictions_path}: case {cid!r}, field 'mask_path': mask file "
                f"{predictions_path.parent / str(pred_of[cid])} does not exist"
                + (f" ({len(no_pred_file)} missing files)" if len(no_pred_file) > 1 else ""),
            )
        )
    if no_ref_file:
        row, rel = no_ref_file[0]
        out.append(
            (
                ("segmentation", "reference_column"),
                f"{manifest_path}: case {str(frame['case_id'].iloc[row])!r}, field {seg.reference_column!r}: "
                f"reference mask file {manifest_path.parent / rel} does not exist"
                + (f" ({len(no_ref_file)} missing files)" if len(no_ref_file) > 1 else ""),
            )
        )
    return out

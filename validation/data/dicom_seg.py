"""DICOM Segmentation (SEG) objects as binary masks, with their geometry.

A device's segmentation output (or a reference segmentation drawn in a PACS viewer) is
read with highdicom (:func:`highdicom.seg.segread`), one segment chosen by its label or
code, fractional segments binarised at a declared threshold, and returned with what is
needed to check it against the other mask of its pair: the frame of reference, the
voxel-to-patient affine (LPS, millimetres) and the referenced series/instances.

References
----------
DICOM PS3.3 A.51 (Segmentation IOD) and C.8.20 (Segmentation module).
Herrmann MD et al. Highdicom: a Python library for standardized encoding of image
annotations and machine learning model outputs in pathology and radiology. J Digit
Imaging 2022;35:1719-1737. doi:10.1007/s10278-022-00683-y
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from scipy import ndimage

from validation.errors import InputError

#: SOP Class UID of the Segmentation Storage IOD.
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass(frozen=True)
class SegMask:
    """One segment of a DICOM SEG as a binary mask.

    ``array`` is indexed ``(slice, row, column)`` for a volume (``affine`` maps those
    indices to patient LPS millimetres) and ``(frame, row, column)`` for projection
    images without a frame of reference (``affine`` is ``None``). ``spacing`` is the
    voxel size in mm along the array's axes.
    """

    array: np.ndarray
    affine: np.ndarray | None
    spacing: tuple[float, ...]
    frame_of_reference_uid: str | None
    referenced_series_uids: tuple[str, ...]
    referenced_instance_uids: tuple[str, ...]
    segment_number: int
    segment_label: str
    fractional: bool


def is_dicom_file(path: Path) -> bool:
    """True when ``path`` is a file with the DICOM Part 10 preamble (``DICM`` at byte 128)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _code_text(item: Any) -> tuple[str, str]:
    seq = getattr(item, "SegmentedPropertyTypeCodeSequence", None)
    if not seq:
        return "", ""
    code = seq[0]
    return f"{code.CodingSchemeDesignator}:{code.CodeValue}", str(code.CodeMeaning)


def _segments_text(seg: Any) -> str:
    parts = []
    for item in seg.SegmentSequence:
        code, meaning = _code_text(item)
        parts.append(f"{item.SegmentNumber}: {item.SegmentLabel!r} ({code} {meaning})")
    return "; ".join(parts)


def _choose_segment(seg: Any, segment: str | None, where: str, path: Path) -> tuple[int, str]:
    items = list(seg.SegmentSequence)
    if segment is None:
        if len(items) == 1:
            return int(items[0].SegmentNumber), str(items[0].SegmentLabel)
        raise InputError(
            f"{where}: DICOM SEG {path} has {len(items)} segments "
            f"({_segments_text(seg)}); set segmentation.segment to a label or code"
        )
    hits = []
    for item in items:
        code, meaning = _code_text(item)
        if segment in (str(item.SegmentLabel), code, meaning, str(item.SegmentNumber)):
            hits.append(item)
    if len(hits) != 1:
        found = "no segment" if not hits else f"{len(hits)} segments"
        raise InputError(
            f"{where}: DICOM SEG {path}: expected exactly one segment matching "
            f"segmentation.segment {segment!r} (label, code 'SCHEME:VALUE', code meaning or "
            f"number), found {found}; segments are {_segments_text(seg)}"
        )
    return int(hits[0].SegmentNumber), str(hits[0].SegmentLabel)


def _referenced(seg: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    series: list[str] = []
    instances: list[str] = []
    for s in getattr(seg, "ReferencedSeriesSequence", []) or []:
        series.append(str(s.SeriesInstanceUID))
        for i in getattr(s, "ReferencedInstanceSequence", []) or []:
            instances.append(str(i.ReferencedSOPInstanceUID))
    return tuple(series), tuple(instances)


def read_seg(path: Path, *, segment: str | None, threshold: float = 0.5, where: str) -> SegMask:
    """Read one segment of a DICOM SEG file as a binary mask with its geometry.

    Parameters
    ----------
    path
        The SEG file.
    segment
        Segment label, code (``"SCHEME:VALUE"``, e.g. ``"SCT:52988006"``), code meaning or
        segment number; ``None`` takes the only segment (an error when there are several).
    threshold
        A FRACTIONAL segment's voxel counts as inside when its value (rescaled to [0, 1])
        is ``>= threshold``; BINARY segments are used as they are.
    where
        Where the path came from (file, row, column), for messages.

    Raises
    ------
    InputError
        Not a readable DICOM SEG, no (or an ambiguous) matching segment, no geometry.
    """
    if not path.is_file():
        raise InputError(f"{where}: DICOM SEG file {path} does not exist")
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:  # noqa: BLE001 - anything unreadable is bad input
        raise InputError(
            f"{where}: {path} is not a readable DICOM SEG (expected SOP class "
            f"{SEG_SOP_CLASS}): {exc}"
        ) from None
    number, label = _choose_segment(seg, segment, where, path)
    fractional = str(seg.SegmentationType) == "FRACTIONAL"
    series, instances = _referenced(seg)
    frame_uid = getattr(seg, "FrameOfReferenceUID", None)
    affine: np.ndarray | None
    try:
        if frame_uid is not None:
            volume = seg.get_volume(segment_numbers=[number], dtype=np.float64)
            values = np.asarray(volume.array)[..., 0]
            affine = np.asarray(volume.affine, dtype=float)
            spacing = tuple(float(s) for s in volume.spacing)
        else:
            values = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=list(instances),
                segment_numbers=[number],
                dtype=np.float64,
            )[..., 0]
            affine = None
            measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
            spacing = (1.0, *(float(s) for s in measures.PixelSpacing))
    except Exception as exc:  # noqa: BLE001 - highdicom rejects inconsistent geometry
        raise InputError(
            f"{where}: DICOM SEG {path}, segment {number} ({label!r}): cannot build the mask "
            f"on its source geometry: {exc}"
        ) from None
    mask = values >= threshold if fractional else values > 0
    return SegMask(
        array=mask,
        affine=affine,
        spacing=spacing,
        frame_of_reference_uid=None if frame_uid is None else str(frame_uid),
        referenced_series_uids=series,
        referenced_instance_uids=instances,
        segment_number=number,
        segment_label=label,
        fractional=fractional,
    )


def seg_problems(path: Path, *, segment: str | None, where: str) -> list[str]:
    """What a header-only look finds wrong with a DICOM SEG (for ``radval protocol check``).

    The SOP class, the chosen segment and a frame of reference or referenced instances;
    the pixel data is decoded only by the run (:func:`read_seg`).
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - anything unreadable is bad input
        return [f"{where}: {path} is not a readable DICOM file: {exc}"]
    sop = str(getattr(ds, "SOPClassUID", ""))
    if sop != SEG_SOP_CLASS:
        return [
            f"{where}: {path} is not a DICOM SEG: expected SOP class {SEG_SOP_CLASS}, "
            f"found {sop or 'none'}"
        ]
    if not getattr(ds, "SegmentSequence", None):
        return [f"{where}: DICOM SEG {path} has no SegmentSequence"]
    try:
        _choose_segment(ds, segment, where, path)
    except InputError as exc:
        return [str(exc)]
    if getattr(ds, "FrameOfReferenceUID", None) is None and not _referenced(ds)[1]:
        return [
            f"{where}: DICOM SEG {path} has neither a FrameOfReferenceUID nor referenced "
            "source instances; its geometry cannot be checked"
        ]
    return []


def resample_nearest(
    array: np.ndarray,
    affine: np.ndarray,
    *,
    shape: tuple[int, ...],
    target_affine: np.ndarray,
) -> np.ndarray:
    """A 3-D binary mask resampled onto another grid by nearest neighbour.

    Both affines map ``(i, j, k)`` voxel indices to the same patient coordinate system;
    voxels of the target grid outside the source grid are outside the mask.
    """
    matrix = np.linalg.inv(affine) @ target_affine
    out = ndimage.affine_transform(
        array.astype(np.uint8),
        matrix[:3, :3],
        offset=matrix[:3, 3],
        output_shape=shape,
        order=0,
        mode="grid-constant",
        cval=0,
    )
    return out.astype(bool)


def same_grid(
    shape_a: tuple[int, ...],
    affine_a: np.ndarray,
    shape_b: tuple[int, ...],
    affine_b: np.ndarray,
    *,
    atol_mm: float = 1e-3,
) -> bool:
    """Same shape and the same voxel-to-patient mapping (to ``atol_mm``)."""
    return tuple(shape_a) == tuple(shape_b) and bool(np.allclose(affine_a, affine_b, atol=atol_mm))

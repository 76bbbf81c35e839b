"""Detection marks and lesion annotations from DICOM Structured Reports (TID 1500).

A CAD device or an annotation tool reports each finding as a TID 1410 planar ROI
measurement group: an image region (SCOORD ``POINT``, ``POLYLINE``, ``CIRCLE``,
``ELLIPSE`` or ``MULTIPOINT`` on one source image, in pixel coordinates ``(column, row)``),
a finding type code, and measurements / qualitative evaluations, one of which carries the
device's confidence. Read with highdicom (:func:`highdicom.sr.srread`); every group the
protocol asks for becomes one row: a point ``(x, y)`` or the region's bounding box
``(x0, y0, x1, y1)``, its ``score`` and its tracking identifier.

References
----------
DICOM PS3.16 TID 1500 (Measurement Report) and TID 1410 (Planar ROI Measurements and
Qualitative Evaluations); PS3.3 C.18.6 (Spatial Coordinates).
Herrmann MD et al. J Digit Imaging 2022;35:1719-1737. doi:10.1007/s10278-022-00683-y
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np

from validation.errors import InputError


@dataclass(frozen=True)
class SRFindings:
    """The findings of one SR: its study and one dict per measurement group kept."""

    study_uid: str
    rows: list[dict[str, Any]]


def code_matches(concept: Any, key: str) -> bool:
    """True when ``key`` is the concept's ``SCHEME:VALUE`` or its code meaning."""
    if concept is None:
        return False
    scheme = str(getattr(concept, "scheme_designator", ""))
    value = str(getattr(concept, "value", ""))
    meaning = str(getattr(concept, "meaning", ""))
    return key in (f"{scheme}:{value}", meaning)


def _code_text(concept: Any) -> str:
    if concept is None:
        return "none"
    return f"{concept.scheme_designator}:{concept.value} ({concept.meaning})"


def _geometry(roi: Any, label: str) -> dict[str, float]:
    if not isinstance(roi, hd.sr.ImageRegion):
        kind = "no image region" if roi is None else f"a {type(roi).__name__}"
        raise InputError(
            f"{label}: expected a 2-D image region (SCOORD on one source image), found {kind}"
        )
    data = np.asarray(roi.value, dtype=float).reshape(-1, 2)
    kind = str(roi.GraphicType)
    if kind == "POINT":
        return {"x": float(data[0, 0]), "y": float(data[0, 1])}
    if kind == "CIRCLE":
        r = float(np.hypot(*(data[1] - data[0])))
        cx, cy = data[0]
        return {"x0": cx - r, "y0": cy - r, "x1": cx + r, "y1": cy + r}
    lo, hi = data.min(axis=0), data.max(axis=0)
    return {"x0": float(lo[0]), "y0": float(lo[1]), "x1": float(hi[0]), "y1": float(hi[1])}


def _score(group: Any, label: str, score: str, score_codes: Mapping[str, float] | None) -> float:
    for m in group.get_measurements():
        if code_matches(m.name, score):
            return float(m.value)
    for q in group.get_qualitative_evaluations():
        if code_matches(q.name, score):
            for key, value in (score_codes or {}).items():
                if code_matches(q.value, key):
                    return float(value)
            raise InputError(
                f"{label}: qualitative evaluation {_code_text(q.name)} has value "
                f"{_code_text(q.value)}, which detection.dicom_sr.score_codes does not map "
                f"(mapped: {sorted(score_codes or {})})"
            )
    found = [_code_text(m.name) for m in group.get_measurements()]
    found += [_code_text(q.name) for q in group.get_qualitative_evaluations()]
    raise InputError(
        f"{label}: expected a numeric measurement or qualitative evaluation {score!r} "
        f"(detection.dicom_sr.score), found {found or 'none'}"
    )


def read_sr_findings(
    path: Path,
    *,
    findings: Sequence[str],
    score: str | None,
    score_codes: Mapping[str, float] | None = None,
    where: str,
) -> SRFindings:
    """The planar-ROI findings of a TID 1500 measurement report.

    Parameters
    ----------
    path
        The SR file (Comprehensive, Comprehensive 3D or Enhanced SR).
    findings
        Finding type codes (``SCHEME:VALUE``) or code meanings to keep; empty keeps all.
    score
        Concept name (code or meaning) of the numeric measurement or qualitative
        evaluation giving each finding's score; ``None`` (lesion truth) reads no score.
    score_codes
        Score of each qualitative evaluation value (code or meaning).
    where
        Where the path came from, for messages.

    Raises
    ------
    InputError
        Not a readable SR, or a kept group without an image region or its score; the
        message names the file and the measurement group (number, tracking identifier).
    """
    if not path.is_file():
        raise InputError(f"{where}: DICOM SR file {path} does not exist")
    try:
        sr = hd.sr.srread(path)
        content: Any = sr.content
        groups = content.get_planar_roi_measurement_groups()
    except Exception as exc:  # noqa: BLE001 - anything unreadable is bad input
        raise InputError(
            f"{where}: {path} is not a readable TID 1500 measurement report: {exc}"
        ) from None
    rows: list[dict[str, Any]] = []
    for n, group in enumerate(groups, start=1):
        if findings and not any(code_matches(group.finding_type, f) for f in findings):
            continue
        tracking = str(group.tracking_identifier or f"group {n}")
        label = (
            f"{where}: DICOM SR {path}, measurement group {n} (tracking id {tracking!r}, "
            f"finding {_code_text(group.finding_type)})"
        )
        row: dict[str, Any] = {"tracking_id": tracking, **_geometry(group.roi, label)}
        if score is not None:
            row["score"] = _score(group, label, score, score_codes)
        rows.append(row)
    return SRFindings(study_uid=str(sr.StudyInstanceUID), rows=rows)

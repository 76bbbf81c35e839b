"""Marks and lesion tables that list DICOM SR files instead of one row per mark.

A table with columns ``case_id, sr_path`` (paths relative to the table's folder) and a
``detection.dicom_sr`` block in the protocol is expanded into the ordinary marks/lesions
table: one row per TID 1410 planar ROI group of each SR (:mod:`validation.data.dicom_sr`).
Each SR must belong to its case: when the manifest has a ``study_uid`` column, the SR's
StudyInstanceUID must equal it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from validation.data.dicom_sr import read_sr_findings
from validation.errors import InputError
from validation.io import resolve_inside
from validation.protocol.schema import Detection

#: The column of a marks/lesions table that names SR files.
SR_COLUMN = "sr_path"


def lists_sr(table: pd.DataFrame) -> bool:
    """True when ``table`` names DICOM SR files (``case_id, sr_path``), not marks."""
    return SR_COLUMN in table.columns


def expand_sr_table(
    table: pd.DataFrame,
    path: Path,
    what: str,
    det: Detection,
    manifest: pd.DataFrame | None,
) -> pd.DataFrame:
    """The marks (``what == "marks"``) or lesions read from the SR files ``table`` lists.

    Lesions get ``lesion_id`` from the group's tracking identifier. A table without an
    ``sr_path`` column is returned as it is.
    """
    if not lists_sr(table):
        return table
    spec = det.dicom_sr
    if spec is None or (what == "marks" and spec.score is None):
        raise InputError(
            f"{path}: lists DICOM SR files (column {SR_COLUMN!r}); expected "
            "detection.dicom_sr with a score concept (detection.dicom_sr.score) in the protocol"
        )
    if "case_id" not in table.columns:
        raise InputError(
            f"{path}: expected columns case_id, {SR_COLUMN}; "
            f"found {[str(c) for c in table.columns]}"
        )
    study_of: dict[str, str] = {}
    if manifest is not None and "study_uid" in manifest.columns:
        study_of = dict(
            zip(manifest["case_id"].astype(str), manifest["study_uid"].astype(str), strict=True)
        )
    rows = []
    for i, (cid, rel) in enumerate(
        zip(table["case_id"].astype(str), table[SR_COLUMN], strict=True)
    ):
        where = f"{path}, row {i + 1} (case_id {cid!r}), column {SR_COLUMN!r}"
        sr_path = resolve_inside(path.parent, str(rel), where=where)
        found = read_sr_findings(
            sr_path,
            findings=spec.findings,
            score=spec.score if what == "marks" else None,
            score_codes=spec.score_codes,
            where=where,
        )
        expected = study_of.get(cid)
        if expected is not None and expected != found.study_uid:
            raise InputError(
                f"{where}: DICOM SR {sr_path} belongs to study {found.study_uid}, expected "
                f"case {cid}'s study_uid {expected} (manifest)"
            )
        for row in found.rows:
            tracking = row.pop("tracking_id")
            extra = {"lesion_id": tracking} if what == "lesions" else {}
            rows.append({"case_id": cid, **extra, **row})
    columns = ["case_id"] + (["lesion_id"] if what == "lesions" else [])
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)

"""The ``results.json`` document of a run, assembled from what the stages produced.

Nothing here computes a statistic: the blocks come from :mod:`.endpoints`,
:mod:`.analyses` and :mod:`.inputs`; this module arranges them in the layout of
:class:`validation.results.Results` and adds the study's provenance (R2, R23).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from validation import __version__, audit
from validation.protocol.load import LoadedProtocol
from validation.protocol.lock import Lock
from validation.protocol.schema import Protocol
from validation.results import SCHEMA_ID, jsonable
from validation.study.analyses import characteristics
from validation.study.inputs import Cases, environment, file_ref

__all__ = ["Analyses", "InputFiles", "build_document", "flow_record", "run_inputs"]


@dataclass
class InputFiles:
    """The files a run read, as ``results.json`` ``inputs`` records (``None`` when unused)."""

    manifest: dict[str, Any]
    scores: dict[str, Any] | None = None
    baseline_scores: dict[str, Any] | None = None
    readings: dict[str, Any] | None = None
    lesions: dict[str, Any] | None = None
    marks: dict[str, Any] | None = None
    segmentation_predictions: dict[str, Any] | None = None
    model_card: dict[str, Any] | None = None
    baseline_model_card: dict[str, Any] | None = None
    truthing: dict[str, Any] | None = None
    measurements: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``inputs`` block, in its documented key order."""
        return dict(self.__dict__)


@dataclass
class Analyses:
    """The analysis blocks of a run (``None`` when the protocol plans none)."""

    roc: dict[str, Any] | None = None
    confusion_matrix: dict[str, Any] | None = None
    subgroups: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    reader_study: dict[str, Any] | None = None
    detection: dict[str, Any] | None = None
    segmentation: dict[str, Any] | None = None
    planning: dict[str, Any] | None = None
    truthing: dict[str, Any] | None = None
    measurement: dict[str, Any] | None = None
    gallery: dict[str, Any] | None = None


def flow_record(
    n_assessed: int,
    cases: Cases,
    rule_lines: list[dict[str, Any]],
    *,
    threshold: float | None,
    confusion: dict[str, Any] | None,
) -> dict[str, Any]:
    """The STARD flow: every assessed case is analysed or excluded with a reason."""
    excluded = [line for line in rule_lines + cases.excluded if line["n"] > 0]
    flow: dict[str, Any] = {
        "assessed": int(n_assessed),
        "excluded": excluded,
        "analysed": int(len(cases.frame)),
        "imputed": cases.imputed,
        "missing_outputs": len({f["case_id"] for f in cases.failures}),
        "threshold": threshold,
    }
    if flow["assessed"] != flow["analysed"] + sum(line["n"] for line in excluded):
        raise RuntimeError(
            f"the case flow does not add up: {flow['assessed']} assessed, {flow['analysed']} "
            f"analysed, excluded {excluded}"
        )
    if confusion is not None:
        flow.update({k: confusion[k] for k in ("tp", "fp", "tn", "fn")})
    return flow


def _data_summary(proto: Protocol, cases: Cases, flow: dict[str, Any]) -> dict[str, Any]:
    y_true = cases.y_true
    n_pos = int(np.sum(y_true))
    return {
        "n_cases": int(len(cases.frame)),
        "n_patients": int(len(set(cases.clusters))) if cases.clusters is not None else None,
        "n_positive": n_pos,
        "n_negative": int(len(y_true) - n_pos),
        "flow": flow,
        "characteristics": characteristics(cases.frame, proto.test_set.label_column, proto),
    }


def _study_block(proto: Protocol) -> dict[str, Any]:
    s = proto.study
    return {
        "id": s.id,
        "title": s.title,
        "version": s.version,
        "sponsor": s.sponsor,
        "intended_use": s.intended_use,
        "population": s.population,
        "description": s.description,
        "intended_users": s.intended_users,
        "reference_standard": s.reference_standard,
        "sample_size_justification": s.sample_size_justification,
    }


def _protocol_block(loaded: LoadedProtocol, proto: Protocol, lock: Lock | None) -> dict[str, Any]:
    deviations = lock.deviations if lock is not None else []
    return {
        "path": str(loaded.path),
        "sha256": loaded.sha256,
        "resolved": proto.model_dump(mode="json"),
        "lock": lock.summary() if lock is not None else None,
        "deviations": [
            {k: d.get(k) for k in ("id", "description", "declared_at", "declared_by")}
            for d in deviations
        ],
    }


def build_document(
    *,
    loaded: LoadedProtocol,
    proto: Protocol,
    lock: Lock | None,
    models: tuple[dict[str, Any] | None, dict[str, Any] | None],
    inputs: InputFiles,
    timings: dict[str, Any],
    verdict: dict[str, Any],
    cases: Cases,
    flow: dict[str, Any],
    endpoints: list[dict[str, Any]],
    comparisons: list[dict[str, Any]],
    analyses: Analyses,
    warnings: list[str],
) -> dict[str, Any]:
    """The whole ``results.json`` document, JSON-ready (NaN as null, inf as ``"inf"``)."""
    document: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "radval_version": __version__,
        "study": _study_block(proto),
        "protocol": _protocol_block(loaded, proto, lock),
        "model": models[0],
        "baseline_model": models[1],
        "inputs": inputs.as_dict(),
        "environment": environment(),
        "seed": proto.seed,
        "timings": timings,
        "verdict": verdict,
        "data_summary": _data_summary(proto, cases, flow),
        "endpoints": endpoints,
        "roc": analyses.roc,
        "confusion_matrix": analyses.confusion_matrix,
        "subgroups": analyses.subgroups,
        "calibration": analyses.calibration,
        "comparisons": comparisons,
        "reader_study": analyses.reader_study,
        "detection": analyses.detection,
        "segmentation": analyses.segmentation,
        "planning": analyses.planning,
        "truthing": analyses.truthing,
        "measurement": analyses.measurement,
        "gallery": analyses.gallery,
        "failures": cases.failures,
        "audit": {"log": audit.AUDIT_FILE, "head_hash": None},
        "warnings": warnings,
    }
    out: dict[str, Any] = jsonable(document)
    return out


def run_inputs(loaded: LoadedProtocol, inputs: InputFiles) -> dict[str, str]:
    """The sha256 of every input, for the ``run`` audit entry."""
    out = {"protocol.yaml": loaded.sha256, "manifest": inputs.manifest["sha256"]}
    for key, ref in inputs.as_dict().items():
        if key != "manifest" and ref is not None:
            out[key] = ref["sha256"]
    return out


def file_ref_or_none(path: Path | None, declared: str | None) -> dict[str, Any] | None:
    """A ``file_ref`` for a file the run read, ``None`` when it read none."""
    return file_ref(path, declared) if path is not None else None

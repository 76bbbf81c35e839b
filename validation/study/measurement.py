"""The measurement-agreement stage: a measuring device against a reference measurement (R7).

A protocol's ``measurement`` block names the device's measurements (``case_id, value``,
under the user's column names) and the manifest column holding each case's reference
measurement. :func:`measurement_problems` lists every problem of the file (shared by
``radval protocol check`` and the run); :func:`measurement_record` computes the
Bland-Altman bias and limits of agreement (repeated-measures form when a patient has
several cases), Lin's CCC and the ICC with :mod:`validation.stats.agreement`, overall and
per declared subgroup, and decides each endpoint's criterion on its confidence bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError, UndefinedMetricError
from validation.protocol.schema import MEASUREMENTS_COLUMNS, Measurement
from validation.stats._results import Estimate
from validation.stats.agreement import BlandAltman, bland_altman, icc, lins_ccc
from validation.study.criteria import EndpointOutcome, bound_holds
from validation.study.inputs import (
    Cases,
    map_columns,
    missing_columns_message,
    read_table,
    show_value,
)

__all__ = ["measurement_problems", "measurement_record", "read_measurements"]

_WHERE = "measurement.columns"
_EST_KEYS = ("estimate", "ci_low", "ci_high", "confidence_level", "method", "n", "se")


def read_measurements(path: Path, meas: Measurement) -> tuple[pd.DataFrame, list[str]]:
    """The measurements table with radval's column names and the problems that stop its use."""
    raw = read_table(path, "measurements", text=("case_id",), columns=meas.columns)
    frame, problems = map_columns(raw, meas.columns, path=path, where=_WHERE)
    if problems:
        return frame, problems
    missing = [c for c in MEASUREMENTS_COLUMNS if c not in frame.columns]
    if missing:
        found = [str(c) for c in frame.columns]
        return frame, [
            missing_columns_message(
                path, missing, found, names=MEASUREMENTS_COLUMNS, where=_WHERE, mapping=meas.columns
            )
        ]
    return frame[list(MEASUREMENTS_COLUMNS)].assign(case_id=lambda f: f["case_id"].astype(str)), []


def _numbers(values: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=np.float64)


def _log_problems(
    values: np.ndarray, path: Path, ref: np.ndarray, manifest: pd.DataFrame, where: str, col: str
) -> list[str]:
    """Non-positive measurements or references, which a log-scale analysis cannot take."""
    out = []
    bad = np.flatnonzero(np.isfinite(values) & (values <= 0))
    if bad.size:
        out.append(
            f"{path}: row {bad[0] + 1}: expected a positive value (measurement.log), "
            f"found {values[bad[0]]:g}"
        )
    bad = np.flatnonzero(np.isfinite(ref) & (ref <= 0))
    if bad.size:
        out.append(
            f"{where}: case_id {manifest['case_id'].iloc[bad[0]]!r}, field {col!r}: expected a "
            f"positive value (measurement.log), found {ref[bad[0]]:g}"
        )
    return out


def measurement_problems(
    frame: pd.DataFrame,
    meas: Measurement,
    path: Path,
    *,
    manifest: pd.DataFrame,
    manifest_path: Path,
    known: frozenset[str],
) -> list[str]:
    """Every problem of a measurements table against the (kept) manifest; empty: usable."""
    out: list[str] = []
    values = _numbers(frame["value"])
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        out.append(
            f"{path}: row {bad[0] + 1}, field 'value': expected a finite number, found "
            f"{show_value(frame['value'].iloc[bad[0]])}"
        )
    dup = np.flatnonzero(frame["case_id"].duplicated().to_numpy())
    if dup.size:
        out.append(f"{path}: row {dup[0] + 1}: case_id {frame['case_id'].iloc[dup[0]]!r} repeated")
    unknown = sorted(set(frame["case_id"]) - set(known))
    if unknown:
        out.append(
            f"{path}: {len(unknown)} case_id(s) are not in the test-set manifest, "
            f"e.g. {unknown[0]!r}"
        )
    col = meas.reference_column
    if col not in manifest.columns:
        out.append(
            f"{manifest_path}: column {col!r} (measurement.reference_column) is missing; "
            f"columns are {[str(c) for c in manifest.columns]}"
        )
        return out
    ref = _numbers(manifest[col])
    given = manifest[col].notna().to_numpy() & (manifest[col].astype(str).str.strip() != "")
    bad = np.flatnonzero(given & ~np.isfinite(ref))
    if bad.size:
        out.append(
            f"{manifest_path}: case_id {manifest['case_id'].iloc[bad[0]]!r}, field {col!r}: "
            "expected a finite number or an empty cell, found "
            f"{show_value(manifest[col].iloc[bad[0]])}"
        )
    measured = set(frame["case_id"])
    lacking = [
        c
        for c, g in zip(manifest["case_id"].astype(str), given, strict=True)
        if g and c not in measured
    ]
    if lacking:
        out.append(
            f"{path}: {len(lacking)} analysed case(s) with a reference measurement have no "
            f"measurement, e.g. case_id {lacking[0]!r}"
        )
    if meas.log:
        out += _log_problems(values, path, ref, manifest, str(manifest_path), col)
    return out


def _pairs(meas: Measurement, frame: pd.DataFrame, cases: Cases) -> pd.DataFrame:
    """One row per analysed case with a reference: case_id, cluster, measured, reference."""
    table = cases.frame.reset_index(drop=True)
    given = table[meas.reference_column].notna() & (
        table[meas.reference_column].astype(str).str.strip() != ""
    )
    value_of = dict(zip(frame["case_id"], _numbers(frame["value"]), strict=True))
    ids = table["case_id"].astype(str)
    pairs = pd.DataFrame(
        {
            "case_id": ids,
            "cluster": cases.clusters if cases.clusters is not None else ids.to_numpy(),
            "measured": [value_of.get(c, np.nan) for c in ids],
            "reference": _numbers(table[meas.reference_column]),
        }
    )
    for col in meas.subgroups:
        pairs[f"subgroup:{col}"] = table[col].astype(str).to_numpy()
    return pairs[given.to_numpy()].reset_index(drop=True)


def _estimates(meas: Measurement, pairs: pd.DataFrame) -> tuple[dict[str, Estimate], BlandAltman]:
    """Bias, limits, CCC and ICC of one set of pairs (raises UndefinedMetricError/ValueError)."""
    level = meas.confidence_level
    repeated = pairs["cluster"].duplicated().any()
    ba = bland_altman(
        pairs["measured"].to_numpy(),
        pairs["reference"].to_numpy(),
        confidence_level=level,
        log=meas.log,
        repeated=pairs["cluster"].to_numpy() if repeated else None,
        method=None if repeated else meas.loa_method,
    )
    long = pd.concat(
        [
            pd.DataFrame({"case": pairs["case_id"], "rater": "device", "value": pairs["measured"]}),
            pd.DataFrame(
                {"case": pairs["case_id"], "rater": "reference", "value": pairs["reference"]}
            ),
        ]
    )
    out = {
        "bias": ba.bias,
        "loa_low": ba.loa_low,
        "loa_high": ba.loa_high,
        "ccc": lins_ccc(pairs["measured"], pairs["reference"], confidence_level=level),
        "icc": icc(long, form=meas.icc_form, confidence_level=level),
    }
    return out, ba


def _subgroups(meas: Measurement, pairs: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for col in meas.subgroups:
        for level, part in pairs.groupby(f"subgroup:{col}", sort=True):
            row: dict[str, Any] = {"attribute": col, "level": str(level), "n": int(len(part))}
            try:
                ests, _ = _estimates(meas, part)
            except (UndefinedMetricError, ValueError) as exc:
                row.update({"metrics": None, "not_estimable_reason": str(exc)})
            else:
                row["metrics"] = {k: _est(e) for k, e in ests.items()}
                row["not_estimable_reason"] = None
            rows.append(row)
    return rows


def _est(est: Estimate) -> dict[str, Any]:
    d = est.to_dict()
    return {k: d.get(k) for k in _EST_KEYS}


def _outcomes(
    meas: Measurement, ests: dict[str, Estimate] | None, reason: str | None
) -> dict[str, EndpointOutcome]:
    unit = f" {meas.unit}" if meas.unit else ""
    outcomes: dict[str, EndpointOutcome] = {}
    for ep in meas.endpoints:
        rec: dict[str, Any] = {
            "id": ep.id,
            "role": ep.role,
            "prespecified": ep.prespecified,
            "metric": f"measurement_{ep.metric}",
            **dict.fromkeys(_EST_KEYS),
            "confidence_level": meas.confidence_level,
            "p_value": None,
            "p_adjusted": None,
            "hypothesis": None,
            "criterion": None,
            "decision": "informational",
            "details": {"quantity": meas.quantity, "unit": meas.unit, "log": meas.log},
        }
        out = EndpointOutcome(rec)
        if ep.accept is not None:
            a = ep.accept
            rec["criterion"] = {
                "kind": "bound",
                "holds": None,
                "text": f"{a.bound} of {ep.metric} of {meas.quantity} "
                f"({meas.confidence_level:.0%} CI) {a.op} {a.value:g}{unit}",
            }
        if ests is None:
            out.estimable = False
            rec["decision"] = "not_estimable"
            rec["details"]["reason"] = reason
        else:
            rec.update(_est(ests[ep.metric]))
            if ep.accept is not None:
                out.bound_holds = bound_holds(ep.accept, ests[ep.metric])
        outcomes[ep.id] = out
    return outcomes


def measurement_record(
    meas: Measurement,
    path: Path,
    cases: Cases,
    *,
    manifest_path: Path,
) -> tuple[dict[str, Any], dict[str, EndpointOutcome]]:
    """The ``measurement`` block of ``results.json`` and its endpoints' outcomes.

    Raises
    ------
    InputError
        The measurements file's first problem (see :func:`measurement_problems`), or no
        analysed case with a reference measurement.
    """
    frame, problems = read_measurements(path, meas)
    problems = problems or measurement_problems(
        frame,
        meas,
        path,
        manifest=cases.frame,
        manifest_path=manifest_path,
        known=cases.manifest_ids or frozenset(cases.frame["case_id"].astype(str)),
    )
    if problems:
        raise InputError(problems[0])
    pairs = _pairs(meas, frame, cases)
    if pairs.empty:
        raise InputError(
            f"{manifest_path}: no analysed case has a reference measurement in column "
            f"{meas.reference_column!r}"
        )
    ests: dict[str, Estimate] | None
    reason = None
    ba_dict: dict[str, Any] = {}
    try:
        ests, ba = _estimates(meas, pairs)
        ba_dict = ba.to_dict()
    except (UndefinedMetricError, ValueError) as exc:
        ests, reason = None, str(exc)
    record: dict[str, Any] = {
        "quantity": meas.quantity,
        "unit": meas.unit,
        "n": int(len(pairs)),
        "n_subjects": int(pairs["cluster"].nunique()),
        "reference_column": meas.reference_column,
        "icc_form": meas.icc_form,
        "bland_altman": ba_dict,
        "ccc": _est(ests["ccc"]) if ests else None,
        "icc": _est(ests["icc"]) if ests else None,
        "not_estimable_reason": reason,
        "points": [
            {"case_id": c, "measured": float(m), "reference": float(r)}
            for c, m, r in zip(pairs["case_id"], pairs["measured"], pairs["reference"], strict=True)
        ],
        "subgroups": _subgroups(meas, pairs),
    }
    return record, _outcomes(meas, ests, reason)

"""The reference-standard truthing stage: truthers' reads -> agreement and the reference (R6).

A protocol's ``test_set.truthing`` block names a tidy truthing file (one row per read:
``case_id, truther, label``, under the user's column names), the adjudication rule and the
agreement statistics to report. :func:`truthing_problems` lists every problem of the file
(``radval protocol check`` and the run share it); :func:`truthing_stage` computes the
inter-truther agreement (adjudicator excluded) with :mod:`validation.stats.agreement`,
derives the reference standard by the declared rule and either checks it against the
manifest's label (``use: check``) or makes it the label (``use: derive``, unresolved cases
excluded in the STARD flow). Nothing here computes a statistic itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError, UndefinedMetricError
from validation.protocol.schema import TRUTHING_COLUMNS, Truthing
from validation.stats.agreement import (
    ADJUDICATION_PATHS,
    Adjudication,
    adjudicate,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
)
from validation.study.inputs import (
    file_ref,
    map_columns,
    missing_columns_message,
    read_table,
    show_value,
    stream,
)

__all__ = [
    "TruthingOutcome",
    "derive_labels",
    "read_truthing",
    "truthing_problems",
    "truthing_stage",
]

#: Flow line reason of cases whose reference standard the rule left unresolved.
UNRESOLVED_REASON = "reference standard unresolved by the adjudication rule"
NO_READS_REASON = "no truthing read"
_WHERE = "test_set.truthing.columns"


@dataclass(frozen=True)
class TruthingOutcome:
    """What the truthing stage produced for the run."""

    record: dict[str, Any]
    frame: pd.DataFrame
    flow_lines: list[dict[str, Any]]
    file: dict[str, Any]
    warnings: list[str]


def read_truthing(path: Path, truthing: Truthing) -> tuple[pd.DataFrame, list[str]]:
    """The truthing file with radval's column names, every value as stripped text.

    Returns the table (``case_id, truther, label``) and the problems that stop its use
    (a mapped column absent, a required column missing).
    """
    raw = read_table(path, "truthing", text=TRUTHING_COLUMNS, columns=truthing.columns)
    frame, problems = map_columns(raw, truthing.columns, path=path, where=_WHERE)
    if problems:
        return frame, problems
    missing = [c for c in TRUTHING_COLUMNS if c not in frame.columns]
    if missing:
        found = [str(c) for c in frame.columns]
        message = missing_columns_message(
            path, missing, found, names=TRUTHING_COLUMNS, where=_WHERE, mapping=truthing.columns
        )
        return frame, [message]
    out = frame[list(TRUTHING_COLUMNS)].copy()
    for col in TRUTHING_COLUMNS:
        out[col] = [None if _blank(v) else str(v).strip() for v in out[col]]
    return out, []


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return not str(value).strip()


def _content_problems(
    frame: pd.DataFrame, truthing: Truthing, path: Path, known: frozenset[str] | None
) -> list[str]:
    out: list[str] = []
    for col in TRUTHING_COLUMNS:
        bad = np.flatnonzero(frame[col].isna().to_numpy())
        if bad.size:
            out.append(
                f"{path}: row {bad[0] + 1}, field {col!r}: expected a value, found an empty cell"
                + (f" ({bad.size} rows)" if bad.size > 1 else "")
            )
    if out:
        return out
    dup = np.flatnonzero(frame.duplicated(["case_id", "truther"]).to_numpy())
    if dup.size:
        row = frame.iloc[dup[0]]
        out.append(
            f"{path}: row {dup[0] + 1}: truther {row['truther']!r} reads case_id "
            f"{row['case_id']!r} twice; expected one read per truther and case"
        )
    if known is not None:
        unknown = sorted(set(frame["case_id"]) - set(known))
        if unknown:
            out.append(
                f"{path}: {len(unknown)} case_id(s) are not in the test-set manifest, "
                f"e.g. {unknown[0]!r}"
            )
    if truthing.categories is not None:
        scale = [str(c) for c in truthing.categories]
        off = np.flatnonzero(~frame["label"].isin(scale).to_numpy())
        if off.size:
            out.append(
                f"{path}: row {off[0] + 1}, field 'label': expected one of {scale} "
                f"(test_set.truthing.categories), found {show_value(frame['label'].iloc[off[0]])}"
            )
    if truthing.alpha_level in ("interval", "ratio") and "krippendorff_alpha" in (
        truthing.statistics
    ):
        numbers = pd.to_numeric(frame["label"], errors="coerce").to_numpy(dtype=np.float64)
        off = np.flatnonzero(~np.isfinite(numbers))
        if off.size:
            out.append(
                f"{path}: row {off[0] + 1}, field 'label': expected a number "
                f"(alpha_level {truthing.alpha_level}), found "
                f"{show_value(frame['label'].iloc[off[0]])}"
            )
    return out


def _design_problems(frame: pd.DataFrame, truthing: Truthing, path: Path) -> list[str]:
    out: list[str] = []
    truthers = sorted(set(frame["truther"]))
    adj = truthing.adjudicator
    if adj is not None and adj not in truthers:
        out.append(
            f"{path}: the adjudicator {adj!r} (test_set.truthing.adjudicator) has no read; "
            f"truthers found: {truthers}"
        )
    primary = [t for t in truthers if t != adj]
    if not primary:
        out.append(f"{path}: no truther besides the adjudicator {adj!r}")
    if "cohen_kappa" in truthing.statistics and len(primary) != 2:
        out.append(
            f"{path}: cohen_kappa needs exactly two truthers (adjudicator excluded), found "
            f"{len(primary)}: {primary}; use fleiss_kappa or gwet_ac1 for more"
        )
    if truthing.rule in ("any_positive", "all_positive"):
        labels = sorted(set(frame.loc[frame["truther"] != adj, "label"]))
        others = [v for v in labels if v != str(truthing.positive)]
        if len(others) > 1:
            out.append(
                f"{path}: rule {truthing.rule} needs binary reads: positive "
                f"{str(truthing.positive)!r} and one other label, found {labels}"
            )
    return out


def truthing_problems(
    frame: pd.DataFrame, truthing: Truthing, path: Path, *, known: frozenset[str] | None
) -> list[str]:
    """Every problem of a truthing table read by :func:`read_truthing` (empty: usable)."""
    out = _content_problems(frame, truthing, path, known)
    if out:
        return out
    return _design_problems(frame, truthing, path)


def _statistic(
    name: str, reads: pd.DataFrame, truthing: Truthing, seed: int, n_resamples: int
) -> dict[str, Any]:
    level = truthing.confidence_level
    labels = [str(c) for c in truthing.categories] if truthing.categories is not None else None
    kw: dict[str, Any] = {"case": "case_id", "rater": "truther", "label": "label"}
    if name == "cohen_kappa":
        wide = reads.pivot(index="case_id", columns="truther", values="label").dropna()
        a, b = (wide[c].to_numpy() for c in wide.columns)
        est = cohen_kappa(a, b, labels=labels, confidence_level=level)
    elif name == "fleiss_kappa":
        est = fleiss_kappa(reads, confidence_level=level, **kw)
    elif name == "gwet_ac1":
        est = gwet_ac1(reads, labels=labels, confidence_level=level, **kw)
    elif name == "percent_agreement":
        est = percent_agreement(reads, confidence_level=level, **kw)
    else:
        data = reads
        if truthing.alpha_level in ("interval", "ratio"):
            data = reads.assign(label=pd.to_numeric(reads["label"]))
        est = krippendorff_alpha(
            data,
            level=truthing.alpha_level,
            labels=labels if truthing.alpha_level in ("nominal", "ordinal") else None,
            confidence_level=level,
            n_resamples=n_resamples,
            rng=stream(seed, "truthing", name),
            **kw,
        )
    return {"statistic": name, **est.to_dict(), "not_estimable_reason": None}


def _agreement(
    reads: pd.DataFrame, truthing: Truthing, seed: int, n_resamples: int
) -> list[dict[str, Any]]:
    out = []
    for name in truthing.statistics:
        try:
            out.append(_statistic(name, reads, truthing, seed, n_resamples))
        except UndefinedMetricError as exc:
            out.append(
                {
                    "statistic": name,
                    "estimate": None,
                    "ci_low": None,
                    "ci_high": None,
                    "confidence_level": truthing.confidence_level,
                    "method": None,
                    "n": None,
                    "not_estimable_reason": str(exc),
                }
            )
    return out


def _check(reference: pd.DataFrame, frame: pd.DataFrame, label_column: str) -> dict[str, Any]:
    """The adjudicated reference against the manifest's label, case by case."""
    # a label that is not 0 or 1 is reported by the run's label check, not compared here
    labels = pd.to_numeric(frame[label_column], errors="coerce")
    manifest = {
        cid: int(v)
        for cid, v in zip(frame["case_id"].astype(str), labels, strict=True)
        if v in (0, 1)
    }
    resolved = reference[reference["reference"].notna()]
    discordant = [
        {"case_id": cid, "manifest": manifest[cid], "adjudicated": int(ref)}
        for cid, ref in zip(resolved["case_id"], resolved["reference"], strict=True)
        if cid in manifest and manifest[cid] != int(ref)
    ]
    compared = int(resolved["case_id"].isin(list(manifest)).sum())
    return {"n_compared": compared, "n_discordant": len(discordant), "discordant": discordant}


def _adjudicated(
    reads: pd.DataFrame, truthing: Truthing, path: Path
) -> tuple[Adjudication, pd.DataFrame]:
    """The adjudication and its per-case table with ``reference`` (1, 0 or missing)."""
    positive = str(truthing.positive)
    try:
        adj = adjudicate(
            reads,
            rule=truthing.rule,
            case="case_id",
            rater="truther",
            label="label",
            adjudicator=truthing.adjudicator,
            on_tie=truthing.on_tie,
            positive=positive,
        )
    except ValueError as exc:  # a majority tie under on_tie: error
        raise InputError(f"{path}: {exc}") from None
    table = adj.reference.rename(columns={"case": "case_id"})
    ref = [None if lab is None else int(str(lab) == positive) for lab in table["label"]]
    return adj, table.assign(reference=pd.array(ref, dtype="Int64"))


def derive_labels(
    reads: pd.DataFrame, truthing: Truthing, frame: pd.DataFrame, label_column: str, path: Path
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``frame`` with the adjudicated reference as ``label_column`` (``use: derive``).

    Cases without a read or whose reference is unresolved are dropped and returned as
    STARD flow lines.
    """
    _, table = _adjudicated(reads[reads["case_id"].isin(set(frame["case_id"]))], truthing, path)
    derived = dict(zip(table["case_id"], table["reference"], strict=True))
    ids = frame["case_id"].astype(str)
    no_reads = ~ids.isin(list(derived))
    unresolved = ids.map(lambda c: c in derived and pd.isna(derived[c])).astype(bool)
    keep = ~(no_reads | unresolved)
    lines = [
        {"reason": reason, "n": int(mask.sum()), "rule": "test_set.truthing"}
        for reason, mask in ((NO_READS_REASON, no_reads), (UNRESOLVED_REASON, unresolved))
    ]
    out = frame[keep.to_numpy()].copy()
    out[label_column] = [int(derived[c]) for c in out["case_id"].astype(str)]
    return out.reset_index(drop=True), lines


def truthing_stage(
    truthing: Truthing,
    path: Path,
    frame: pd.DataFrame,
    *,
    label_column: str,
    known: frozenset[str],
    seed: int,
    n_resamples: int,
) -> TruthingOutcome:
    """Agreement, adjudication and the reference standard of the analysed cases.

    ``frame`` is the manifest after the protocol's exclusions. With ``use: derive`` the
    returned frame carries the adjudicated reference in ``label_column`` and has lost the
    cases without one (returned as STARD flow lines); with ``use: check`` it is ``frame``
    unchanged and the record lists every case whose manifest label differs.

    Raises
    ------
    InputError
        The truthing file's first problem (see :func:`truthing_problems`).
    """
    reads, problems = read_truthing(path, truthing)
    problems = problems or truthing_problems(reads, truthing, path, known=known)
    if problems:
        raise InputError(problems[0])
    analysed = set(frame["case_id"].astype(str))
    reads = reads[reads["case_id"].isin(analysed)]
    primary = reads[reads["truther"] != truthing.adjudicator]
    positive = str(truthing.positive)
    adj, table = _adjudicated(reads, truthing, path)
    record: dict[str, Any] = {
        "file": truthing.file,
        "rule": truthing.rule,
        "use": truthing.use,
        "positive": positive,
        "adjudicator": truthing.adjudicator,
        "truthers": sorted(set(primary["truther"])),
        "n_reads": int(len(primary)),
        "n_adjudicator_reads": int(len(reads) - len(primary)),
        "n_cases": int(table.shape[0]),
        "agreement": _agreement(primary, truthing, seed, n_resamples),
        "adjudication": adj.to_dict(),
        "paths": [{"path": p, "n": int(adj.counts.get(p, 0))} for p in ADJUDICATION_PATHS],
        "reference": {
            "n_positive": int((table["reference"] == 1).sum()),
            "n_negative": int((table["reference"] == 0).sum()),
            "n_unresolved": int(table["reference"].isna().sum()),
        },
        "n_analysed_without_reads": len(analysed - set(table["case_id"])),
        "check": None,
    }
    warnings: list[str] = []
    if truthing.use == "check":
        record["check"] = _check(table, frame, label_column)
        n = record["check"]["n_discordant"]
        if n:
            warnings.append(
                f"the adjudicated reference standard differs from the manifest's "
                f"{label_column!r} in {n} case(s) (results.json truthing.check)"
            )
        return TruthingOutcome(record, frame, [], file_ref(path, truthing.file), warnings)
    out, lines = derive_labels(reads, truthing, frame, label_column, path)
    return TruthingOutcome(record, out, lines, file_ref(path, truthing.file), warnings)

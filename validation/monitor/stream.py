"""Reading production batches, late labels and the reference tables.

A *stream folder* (``radval monitor run --stream DIR``) holds production batch files and,
as they arrive, label files, found by the protocol's globs (``stream.batches``,
``stream.labels``; default ``batches/*`` and ``labels/*``), CSV or Parquet, read in name
order. A **batch** has one row per case: ``case_id``, ``time`` (ISO 8601; a time without
an offset is taken as UTC), ``score`` (finite) and the watched header attributes (an empty
value is the category ``(missing)``). A **label file** has ``case_id`` and ``label`` (0/1)
for cases already in the stream, possibly for a sample only. Columns may be renamed
(``stream.columns``). Every problem raises :class:`~validation.errors.InputError` naming
the file, the row (1-based data row, header not counted), the column, what was expected
and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError
from validation.io import path_escape_reason, sha256_file
from validation.monitor.protocol import LoadedMonitorProtocol, Stream
from validation.tables import read_table

MISSING = "(missing)"
_TRUE = {"1", "1.0", "true", "True", "TRUE"}
_FALSE = {"0", "0.0", "false", "False", "FALSE"}


class StreamError(InputError):
    """A production batch, label file or reference table is invalid."""


def find_files(stream_dir: Path, pattern: str, *, what: str) -> list[tuple[str, Path]]:
    """``(name relative to the stream folder, path)`` of the files matching ``pattern``, sorted.

    A pattern or a match that leaves the stream folder (``..``, an absolute path, a symbolic
    link pointing outside) is refused.
    """
    if not stream_dir.is_dir():
        raise StreamError(f"stream folder {stream_dir} does not exist or is not a folder")
    reason = path_escape_reason(
        stream_dir, pattern.replace("*", "x").replace("?", "x"), folder="the stream folder"
    )
    if reason is not None:
        raise StreamError(f"{what} pattern {pattern!r}: {reason}")
    out = []
    for path in sorted(stream_dir.glob(pattern)):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(stream_dir).as_posix()
        problem = path_escape_reason(stream_dir, rel, folder="the stream folder")
        if problem is not None:
            raise StreamError(f"{what} file {path}: {problem}")
        out.append((rel, path))
    return out


def _rename(
    frame: pd.DataFrame,
    columns: dict[str, str] | None,
    needed: tuple[str, ...],
    path: Path,
    what: str,
) -> pd.DataFrame:
    mapping = dict(columns or {})
    frame = frame.rename(columns={v: k for k, v in mapping.items()})
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        names = [f"'{mapping.get(c, c)}'" + (f" ({c})" if c in mapping else "") for c in missing]
        raise StreamError(
            f"{path}: {what} lacks column(s) {', '.join(names)}; found {[str(c) for c in frame.columns]}"
            + ("" if mapping else " (map your column names with `columns` in the protocol)")
        )
    return frame


def _col(columns: dict[str, str] | None, name: str) -> str:
    own = (columns or {}).get(name)
    return f"column '{own}' ({name})" if own else f"column '{name}'"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _case_ids(frame: pd.DataFrame, path: Path, columns: dict[str, str] | None) -> list[str]:
    ids = [_text(v) for v in frame["case_id"].tolist()]
    seen: dict[str, int] = {}
    for i, cid in enumerate(ids):
        if not cid:
            raise StreamError(
                f"{path}: row {i + 1}, {_col(columns, 'case_id')}: expected a case id, "
                "found an empty value"
            )
        if cid in seen:
            raise StreamError(
                f"{path}: row {i + 1}, {_col(columns, 'case_id')}: duplicate case id "
                f"{cid!r} (first at row {seen[cid] + 1})"
            )
        seen[cid] = i
    return ids


def _times(series: pd.Series, path: Path, columns: dict[str, str] | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series
        if getattr(out.dt, "tz", None) is None:
            out = out.dt.tz_localize("UTC")
        else:
            out = out.dt.tz_convert("UTC")
    else:
        text = series.map(_text)
        out = pd.to_datetime(
            text.where(text != "", None), utc=True, format="ISO8601", errors="coerce"
        )
    bad = out.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StreamError(
            f"{path}: row {i + 1}, {_col(columns, 'time')}: expected an ISO 8601 time "
            f"(e.g. 2026-03-01T08:30:00Z), found {_text(series.iloc[i])!r}"
        )
    return out.dt.as_unit("us")


def _scores(series: pd.Series, path: Path, columns: dict[str, str] | None) -> np.ndarray:
    values = pd.to_numeric(
        series.map(lambda v: v if not isinstance(v, str) else v.strip() or None), errors="coerce"
    ).to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StreamError(
            f"{path}: row {i + 1}, {_col(columns, 'score')}: expected a finite number, "
            f"found {_text(series.iloc[i])!r}"
            + (f" ({int(bad.sum())} such rows)" if bad.sum() > 1 else "")
        )
    return values


def _labels(
    series: pd.Series, path: Path, columns: dict[str, str] | None, ids: list[str]
) -> np.ndarray:
    out = np.empty(len(series), dtype=np.int8)
    for i, v in enumerate(series.tolist()):
        t = _text(v) if not isinstance(v, bool) else ("1" if v else "0")
        if t in _TRUE:
            out[i] = 1
        elif t in _FALSE:
            out[i] = 0
        else:
            raise StreamError(
                f"{path}: row {i + 1} (case_id {ids[i]!r}), {_col(columns, 'label')}: "
                f"expected 0 or 1, found {t!r}"
            )
    return out


def _read(path: Path, what: str) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        return read_table(path, what=what)
    return read_table(path, what=what, dtype=str, keep_default_na=False)


@dataclass(frozen=True)
class Batch:
    """One production batch as read: cases sorted by time (stable), with their file rows."""

    name: str
    sha256: str
    case_id: list[str]
    time: pd.Series
    score: np.ndarray
    attributes: dict[str, list[str]]
    row: np.ndarray  # 1-based data row of each case in the file


def read_batch(path: Path, name: str, stream: Stream) -> Batch:
    """Read and check one production batch (see the module docstring)."""
    frame = _rename(
        _read(path, "production batch"),
        stream.columns,
        ("case_id", "time", "score", *stream.attributes),
        path,
        "production batch",
    )
    if frame.empty:
        raise StreamError(f"{path}: the production batch has no rows")
    ids = _case_ids(frame, path, stream.columns)
    times = _times(frame["time"], path, stream.columns)
    scores = _scores(frame["score"], path, stream.columns)
    attrs = {a: [(_text(v) or MISSING) for v in frame[a].tolist()] for a in stream.attributes}
    order = np.argsort(times.to_numpy(), kind="stable")
    return Batch(
        name=name,
        sha256=sha256_file(path),
        case_id=[ids[i] for i in order],
        time=times.iloc[order].reset_index(drop=True),
        score=scores[order],
        attributes={a: [v[i] for i in order] for a, v in attrs.items()},
        row=order + 1,
    )


@dataclass(frozen=True)
class Labels:
    """One label file as read."""

    name: str
    sha256: str
    case_id: list[str]
    label: np.ndarray
    row: np.ndarray


def read_labels(path: Path, name: str, stream: Stream) -> Labels:
    """Read and check one label file (``case_id``, ``label``)."""
    frame = _rename(
        _read(path, "label file"), stream.columns, ("case_id", "label"), path, "label file"
    )
    if frame.empty:
        raise StreamError(f"{path}: the label file has no rows")
    ids = _case_ids(frame, path, stream.columns)
    labels = _labels(frame["label"], path, stream.columns, ids)
    return Labels(
        name=name,
        sha256=sha256_file(path),
        case_id=ids,
        label=labels,
        row=np.arange(1, len(ids) + 1),
    )


@dataclass(frozen=True)
class ReferenceData:
    """The reference period's scores, labels (when available) and header attributes."""

    score: np.ndarray
    label: np.ndarray | None
    attributes: dict[str, list[str]]
    n: int


def read_reference(loaded: LoadedMonitorProtocol) -> ReferenceData:
    """Read the reference scores (and manifest): every scored case, its label and attributes.

    The manifest, when given, must list every scored case; its label column (when present)
    must be 0/1. Watched attributes come from the manifest, else from the scores table.
    """
    ref = loaded.protocol.reference
    spath = loaded.resolve(ref.scores)
    scores_frame = _rename(
        _read(spath, "reference scores"),
        ref.columns,
        ("case_id", "score"),
        spath,
        "reference scores table",
    )
    if scores_frame.empty:
        raise StreamError(f"{spath}: the reference scores table has no rows")
    ids = _case_ids(scores_frame, spath, ref.columns)
    score = _scores(scores_frame["score"], spath, ref.columns)
    table = scores_frame
    tpath = spath
    if ref.manifest is not None:
        mpath = loaded.resolve(ref.manifest)
        manifest = _read(mpath, "reference manifest")
        if "case_id" not in manifest.columns:
            raise StreamError(f"{mpath}: the reference manifest lacks column 'case_id'")
        mids = [_text(v) for v in manifest["case_id"].tolist()]
        index = {cid: i for i, cid in enumerate(mids)}
        absent = [cid for cid in ids if cid not in index]
        if absent:
            raise StreamError(
                f"{spath}: {len(absent)} scored case(s) are not in the reference "
                f"manifest {mpath}, e.g. {absent[0]!r}"
            )
        table = manifest.iloc[[index[c] for c in ids]].reset_index(drop=True)
        tpath = mpath
    label = None
    if ref.label_column in table.columns:
        label = _labels(table[ref.label_column], tpath, {"label": ref.label_column}, ids)
    attrs: dict[str, list[str]] = {}
    for a in loaded.protocol.stream.attributes:
        if a not in table.columns:
            raise StreamError(
                f"{tpath}: the reference has no column '{a}', a watched header attribute "
                "(stream.attributes); the category mix needs it in the reference"
            )
        attrs[a] = [(_text(v) or MISSING) for v in table[a].tolist()]
    return ReferenceData(score=score, label=label, attributes=attrs, n=len(ids))

"""Manifests: load and validate, build from a DICOM folder, check train/test leakage.

A manifest (CSV or Parquet) lists one image per row: ``case_id`` (unique),
``patient_id`` (the cluster unit, pseudonymised), ``path`` (relative to the
manifest's folder, which it must not leave), the reference-standard label column(s)
(0/1) and optional attributes (``study_uid``, ``site``, ``manufacturer``,
``manufacturer_model``, ``sex``, ``age``, ``race``, ``ethnicity``, ``view``,
``body_part``, ``sha256`` ...). The column reference is ``data_manifests/README.md``.

Every problem is reported as ``<file>: row <n> (case_id '<id>'), column '<col>':
<what was expected>, found <what was found>``, where **row is the line number in the
CSV file** (the header is line 1, the first case line 2; blank lines count as lines).
For a Parquet file, row ``n`` is record ``n - 1`` (1-based), i.e. the line it would
have in a CSV export.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from validation.data.dicom import read_header
from validation.errors import DicomReadError, ManifestError
from validation.io import path_escape_reason, sha256_file, write_bytes_atomic
from validation.tables import CsvReport, header_problem, restore, restore_frame, write_csv

__all__ = [
    "BUILD_COLUMNS",
    "LABEL_KEYS",
    "REQUIRED_COLUMNS",
    "LeakageReport",
    "Manifest",
    "build_manifest",
    "check_leakage",
    "load_manifest",
    "manifest_columns",
    "manifest_problems",
    "pseudonymise_id",
    "write_manifest",
]

#: Columns every manifest must have (plus the label columns when labels are required).
REQUIRED_COLUMNS = ("case_id", "patient_id", "path")
#: Columns :func:`build_manifest` writes, in order (label columns follow ``path``).
BUILD_COLUMNS = (
    "case_id",
    "patient_id",
    "path",
    "study_uid",
    "series_uid",
    "site",
    "manufacturer",
    "manufacturer_model",
    "modality",
    "sex",
    "age",
    "view",
    "body_part",
    "rows",
    "columns",
    "sha256",
)
#: Key columns a labels file may use to join onto built rows, in order of preference.
LABEL_KEYS = ("case_id", "path", "sop_instance_uid", "study_uid", "patient_id")

#: Ages (years) a manifest may hold; anything else can never be a patient's age.
AGE_RANGE = (0.0, 150.0)

_TEXT_COLUMNS = ("case_id", "patient_id", "path", "sha256", "study_uid", "mask_path")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# ------------------------------------------------------------------------ small helpers


def pseudonymise_id(value: str, salt: str) -> str:
    """Return a salted, keyed hash of an identifier: ``'P-'`` + 16 hex digits.

    HMAC-SHA256 keyed with ``salt``, truncated to 64 bits. The same value and salt
    always give the same pseudonym, so manifests built with the same salt can be
    checked for shared patients; without the salt, the original ID cannot be found
    by hashing candidate IDs (a plain unsalted hash of an MRN can).

    Examples
    --------
    >>> pseudonymise_id("12345", "site-secret")
    'P-85ccf140ebdaa9e4'
    """
    if not salt:
        raise ValueError("pseudonymise_id needs a non-empty salt")
    digest = hmac.new(salt.encode("utf-8"), str(value).encode("utf-8"), hashlib.sha256)
    return "P-" + digest.hexdigest()[:16]


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike[str]) -> CsvReport:
    """Write a manifest atomically: Parquet for a ``.parquet`` suffix, else CSV.

    The CSV is UTF-8 with a header line, no index column and ``\\n`` line endings,
    written by :func:`validation.tables.write_csv`: a text cell starting with ``=``, ``+``,
    ``-``, ``@``, tab or CR gets a leading ``'`` (CSV-injection guard), which
    :func:`load_manifest` removes again. The returned report counts those cells.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> write_manifest(pd.DataFrame({"case_id": ["a"]}), out).n_neutralised
    0
    >>> open(out).read()
    'case_id\\na\\n'
    """
    target = Path(path)
    if target.suffix.lower() in (".parquet", ".pq"):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_bytes_atomic(target, buffer.getvalue())
        return CsvReport(target, len(frame))
    return write_csv(frame, target)


# ------------------------------------------------------------------------ loading


@dataclass(frozen=True, eq=False)
class Manifest:
    """A validated manifest.

    ``frame`` has one row per case; ``case_id`` and ``patient_id`` are ``str``, label
    columns are integers 0/1 (nullable ``Int64`` when labels were not required and
    some are missing), ``age`` (if present) is float. ``root`` is the manifest's
    folder, against which ``path`` is resolved.
    """

    path: Path
    root: Path
    frame: pd.DataFrame
    label_columns: tuple[str, ...]
    rows: tuple[int, ...] = field(default=(), repr=False)

    def file_path(self, case_id: str) -> Path:
        """Absolute path of a case's image."""
        value = self.frame.loc[self.frame["case_id"] == case_id, "path"]
        if value.empty:
            raise KeyError(case_id)
        return self.root / str(value.iloc[0])


def _read_table(path: Path, text_columns: Sequence[str]) -> tuple[pd.DataFrame, list[int]]:
    """Read CSV/Parquet; return the frame and each row's CSV line number."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            problem = header_problem(path, pq.read_schema(path).names)
            if problem is None:
                frame = pd.read_parquet(path)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ManifestError(f"{path}: not a readable Parquet file ({first})") from None
        if problem is not None:
            raise ManifestError(problem)
        return frame.reset_index(drop=True), [i + 2 for i in range(len(frame))]
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            lines: list[int] = []
            start = reader.line_num + 1
            for record in reader:
                if record and any(cell.strip() for cell in record):
                    lines.append(start)
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not a UTF-8 text CSV file ({exc.reason})") from exc
    except csv.Error as exc:
        raise ManifestError(f"{path}: not a readable CSV file ({exc})") from exc
    if header is None:
        raise ManifestError(f"{path}: empty file (expected a header line with column names)")
    problem = header_problem(path, [restore(c.strip()) for c in header])
    if problem is not None:
        raise ManifestError(problem)
    dtypes = {c: str for c in text_columns}
    try:
        frame = pd.read_csv(
            path,
            dtype=dtypes,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            skip_blank_lines=True,
        )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ManifestError(f"{path}: not a readable CSV file ({first})") from None
    frame = restore_frame(frame)
    if len(lines) != len(frame):  # whitespace-only lines: fall back to record order
        lines = [i + 2 for i in range(len(frame))]
    return frame, lines


def manifest_columns(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The column names of a CSV or Parquet manifest (header only; no validation)."""
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"{p}: file not found")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return tuple(str(n).strip() for n in pq.read_schema(p).names)
        with open(p, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ManifestError(f"{p}: not a readable manifest ({first})") from None
    return tuple(restore(c.strip()) for c in header)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_text(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _binary(value: Any) -> int | None:
    """0/1 from '0', '1', '0.0', '1.0', 0, 1, True, False; None otherwise."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value) if value in (0, 1) else None
    if isinstance(value, float | np.floating):
        return int(value) if value in (0.0, 1.0) else None
    text = str(value).strip()
    if text in ("0", "1"):
        return int(text)
    if text in ("0.0", "1.0"):
        return int(float(text))
    return None


def valid_age(value: Any) -> float | None:
    """``value`` as an age in years when it is a number in :data:`AGE_RANGE`, else None.

    The one age rule of ``manifest check`` and ``manifest build`` (which leaves an
    impossible Patient Age blank, with a note, instead of writing it).

    Examples
    --------
    >>> valid_age("45"), valid_age(999), valid_age("-3"), valid_age("nan")
    (45.0, None, None, None)
    """
    try:
        age = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return age if AGE_RANGE[0] <= age <= AGE_RANGE[1] else None


def _escapes(root: Path, value: str) -> str | None:
    """Why ``value`` is not a safe relative path inside ``root`` (None if it is)."""
    return path_escape_reason(root, value, folder="the manifest's folder")


def manifest_problems(
    path: str | os.PathLike[str],
    *,
    label_columns: Sequence[str] = ("label",),
    require_labels: bool = True,
    check_files: bool = True,
    verify_hashes: bool = False,
) -> tuple[Manifest | None, list[str]]:
    """Validate a manifest and return ``(manifest or None, every problem found)``.

    :func:`load_manifest` raises the first problem; ``radval manifest check`` prints
    them all. The manifest is ``None`` when a problem prevents building it (a
    missing file or a missing required column); otherwise it is returned even with
    row problems, for reporting.
    """
    p = Path(path)
    labels = tuple(label_columns)
    if not p.exists():
        return None, [f"{p}: file not found"]
    if p.is_dir():
        return None, [f"{p}: expected a manifest file, found a directory"]
    frame, lines = _read_table(p, (*_TEXT_COLUMNS, *labels))
    return _frame_problems(
        p,
        frame,
        lines,
        root=p.parent,
        labels=labels,
        require_labels=require_labels,
        check_files=check_files,
        verify_hashes=verify_hashes,
    )


def _frame_problems(
    p: Path,
    frame: pd.DataFrame,
    lines: Sequence[int],
    *,
    root: Path,
    labels: tuple[str, ...],
    require_labels: bool,
    check_files: bool,
    verify_hashes: bool,
) -> tuple[Manifest | None, list[str]]:
    """The checks of :func:`manifest_problems` on a table already read (or just built).

    ``p`` names the table in messages; ``lines`` are the rows' CSV line numbers; paths
    are resolved against ``root``. :func:`build_manifest` runs the same checks on what it
    is about to return, so that ``manifest build`` never writes what ``manifest check``
    rejects.
    """
    frame.columns = [str(c).strip() for c in frame.columns]
    required = list(REQUIRED_COLUMNS) + (list(labels) if require_labels else [])
    found = ", ".join(frame.columns) or "none"
    for column in required:
        if column not in frame.columns:
            return None, [f"{p}: missing required column '{column}' (found columns: {found})"]
    if frame.empty:
        return None, [f"{p}: no rows (expected at least one case below the header)"]
    duplicated = [c for c in frame.columns if list(frame.columns).count(c) > 1]
    if duplicated:
        return None, [f"{p}: column '{duplicated[0]}' appears more than once in the header"]

    problems: list[str] = []
    first_row: dict[str, int] = {}
    case_ids: list[str] = []
    label_values: dict[str, list[int | None]] = {c: [] for c in labels if c in frame.columns}
    ages: list[float | None] = []
    has_age = "age" in frame.columns
    has_sha = "sha256" in frame.columns
    has_mask = "mask_path" in frame.columns

    for position, row in enumerate(frame.itertuples(index=False, name=None)):
        record = dict(zip(frame.columns, row, strict=True))
        line = lines[position]
        case_id = _as_text(record["case_id"])
        case_ids.append(case_id)
        where = f"{p}: row {line} (case_id '{case_id}')"
        if not case_id:
            problems.append(f"{p}: row {line}, column 'case_id': expected a case ID, found ''")
        elif case_id in first_row:
            problems.append(
                f"{where}, column 'case_id': expected a unique case ID, found a duplicate "
                f"of row {first_row[case_id]}"
            )
        else:
            first_row[case_id] = line
        if not _as_text(record["patient_id"]):
            problems.append(f"{where}, column 'patient_id': expected a patient ID, found ''")
        rel = _as_text(record["path"])
        file_ok = False
        if not rel:
            problems.append(f"{where}, column 'path': expected a relative file path, found ''")
        else:
            escape = _escapes(root, rel)
            if escape is not None:
                problems.append(f"{where}, column 'path': {escape}")
            elif check_files or verify_hashes:
                target = root / rel
                if not target.exists():
                    problems.append(
                        f"{where}, column 'path': expected an existing file, found no file "
                        f"at '{rel}'"
                    )
                elif not target.is_file():
                    kind = "a directory" if target.is_dir() else "something that is not a file"
                    problems.append(
                        f"{where}, column 'path': expected a file, found {kind} at '{rel}'"
                    )
                else:
                    file_ok = True
        if has_mask and not _missing(record["mask_path"]):
            mask_rel = _as_text(record["mask_path"])
            escape = _escapes(root, mask_rel)
            if escape is not None:
                problems.append(f"{where}, column 'mask_path': {escape}")
            elif check_files and not (root / mask_rel).is_file():
                problems.append(
                    f"{where}, column 'mask_path': expected an existing file, found no file "
                    f"at '{mask_rel}'"
                )
        for column in label_values:
            raw = record[column]
            if _missing(raw):
                label_values[column].append(None)
                if require_labels:
                    problems.append(f"{where}, column '{column}': missing label (expected 0 or 1)")
                continue
            value = _binary(raw)
            label_values[column].append(value)
            if value is None:
                problems.append(
                    f"{where}, column '{column}': expected 0 or 1, found '{_as_text(raw)}'"
                )
        if has_age:
            raw_age = record["age"]
            if _missing(raw_age):
                ages.append(None)
            else:
                age = valid_age(raw_age)
                ages.append(age)
                if age is None:
                    problems.append(
                        f"{where}, column 'age': expected an age in years ({AGE_RANGE[0]:g} to "
                        f"{AGE_RANGE[1]:g}), found '{_as_text(raw_age)}'"
                    )
        if has_sha and not _missing(record["sha256"]):
            digest = _as_text(record["sha256"]).lower()
            if not _SHA256.match(digest):
                problems.append(
                    f"{where}, column 'sha256': expected 64 hexadecimal digits, found "
                    f"'{_as_text(record['sha256'])}'"
                )
            elif verify_hashes and file_ok:
                actual = sha256_file(root / rel)
                if actual != digest:
                    problems.append(
                        f"{where}, column 'sha256': expected the file's hash {digest}, found "
                        f"{actual} (the file has changed)"
                    )
        elif verify_hashes and file_ok:
            problems.append(f"{where}, column 'sha256': expected a sha256 to verify, found ''")

    out = frame.copy()
    out["case_id"] = pd.Series(case_ids, dtype=object).astype(str)
    out["patient_id"] = [_as_text(v) for v in frame["patient_id"]]
    out["path"] = [_as_text(v) for v in frame["path"]]
    for column, values in label_values.items():
        if all(v is not None for v in values):
            out[column] = np.asarray(values, dtype=np.int64)
        else:
            out[column] = pd.array(values, dtype="Int64")
    if has_age:
        out["age"] = np.array([np.nan if a is None else a for a in ages], dtype=float)
    if has_sha:
        out["sha256"] = [_as_text(v).lower() for v in frame["sha256"]]
    manifest = Manifest(
        path=p, root=root, frame=out, label_columns=tuple(label_values), rows=tuple(lines)
    )
    return manifest, problems


def load_manifest(
    path: str | os.PathLike[str],
    *,
    label_columns: Sequence[str] = ("label",),
    require_labels: bool = True,
    check_files: bool = True,
    verify_hashes: bool = False,
) -> Manifest:
    """Load a CSV or Parquet manifest and validate it.

    Parameters
    ----------
    path
        The manifest; ``.parquet`` / ``.pq`` files are read as Parquet, others as CSV.
    label_columns
        Reference-standard columns; each value must be 0 or 1.
    require_labels
        Require every label column to exist and be filled in. With ``False``, a
        missing column or value is allowed (e.g. before labels are joined).
    check_files
        Require every ``path`` to name an existing file.
    verify_hashes
        Recompute each file's sha256 and compare it with the ``sha256`` column.

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        The first problem found, naming the file, row (CSV line) and column; when
        there are more, the message says how many (``radval manifest check`` lists
        them all).

    Examples
    --------
    >>> m = load_manifest("data_manifests/example/manifest.csv")  # doctest: +SKIP
    >>> m.frame[["case_id", "label"]].head(2)  # doctest: +SKIP
    """
    manifest, problems = manifest_problems(
        path,
        label_columns=label_columns,
        require_labels=require_labels,
        check_files=check_files,
        verify_hashes=verify_hashes,
    )
    if problems:
        more = len(problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ManifestError(problems[0] + suffix)
    assert manifest is not None
    return manifest


# ------------------------------------------------------------------------ leakage


@dataclass(frozen=True)
class LeakageReport:
    """Overlap between a test manifest and a training manifest.

    ``shared_patients`` / ``shared_studies``: sorted IDs present in both;
    ``identical_images``: ``(test case_id, train case_id)`` pairs with the same
    sha256; ``not_checked``: checks that could not be made and why.
    """

    shared_patients: tuple[str, ...]
    shared_studies: tuple[str, ...]
    identical_images: tuple[tuple[str, str], ...]
    not_checked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no patient, study or image is shared."""
        return not (self.shared_patients or self.shared_studies or self.identical_images)


def _hashes(manifest: Manifest) -> pd.Series | None:
    frame = manifest.frame
    if "sha256" in frame.columns and all(bool(v) for v in frame["sha256"]):
        return frame["sha256"]
    files = [manifest.root / p for p in frame["path"]]
    if all(f.is_file() for f in files):
        return pd.Series([sha256_file(f) for f in files], index=frame.index)
    return None


def check_leakage(test: Manifest, train: Manifest) -> LeakageReport:
    """Find patients, studies and byte-identical images shared by two manifests.

    Patients are compared by ``patient_id`` (so both manifests must be pseudonymised
    with the same salt), studies by ``study_uid`` when both have it, images by
    ``sha256`` (computed from the files when a manifest has no complete sha256
    column).

    Examples
    --------
    >>> report = check_leakage(test_manifest, train_manifest)  # doctest: +SKIP
    >>> report.ok  # doctest: +SKIP
    True
    """
    a, b = test.frame, train.frame
    patients = tuple(sorted(set(a["patient_id"]) & set(b["patient_id"])))
    not_checked: list[str] = []
    studies: tuple[str, ...] = ()
    if "study_uid" in a.columns and "study_uid" in b.columns:
        sa = {_as_text(v) for v in a["study_uid"]} - {""}
        sb = {_as_text(v) for v in b["study_uid"]} - {""}
        studies = tuple(sorted(sa & sb))
    else:
        not_checked.append("studies: a manifest has no 'study_uid' column")
    images: tuple[tuple[str, str], ...] = ()
    ha, hb = _hashes(test), _hashes(train)
    if ha is None or hb is None:
        not_checked.append(
            "identical images: a manifest has no complete 'sha256' column and its files "
            "are not all present"
        )
    else:
        by_hash: dict[str, list[str]] = {}
        for case, digest in zip(b["case_id"], hb, strict=True):
            by_hash.setdefault(str(digest), []).append(str(case))
        pairs = [
            (str(case), other)
            for case, digest in zip(a["case_id"], ha, strict=True)
            for other in by_hash.get(str(digest), [])
        ]
        images = tuple(sorted(pairs))
    return LeakageReport(patients, studies, images, tuple(not_checked))


# ------------------------------------------------------------------------ building


def _walk(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files under ``folder`` (sorted; hidden ones skipped) and ``(relative path, reason)``
    for each entry that is a symbolic link leading outside ``folder``.

    Links to folders are not followed (``os.walk``); a link to a folder outside is
    reported all the same, so that nothing outside is silently part of the walk.
    """
    files: list[Path] = []
    outside: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = sorted(n for n in filenames if not n.startswith("."))
        for name in [*dirnames, *names]:
            entry = Path(dirpath) / name
            if not entry.is_symlink():
                continue
            rel = entry.relative_to(folder).as_posix()
            reason = path_escape_reason(folder, rel, folder=str(folder))
            if reason is not None:
                outside.append((rel, reason))
        files.extend(Path(dirpath) / name for name in names)
    return files, outside


def _not_regular(file: Path) -> str | None:
    """Why ``file`` is not a regular file that can be read (None when it is one)."""
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    return None if stat.S_ISREG(mode) else "not a regular file (a FIFO, socket or device)"


def _load_labels(path: Path) -> tuple[pd.DataFrame, str]:
    if not path.exists():
        raise ManifestError(f"{path}: file not found")
    frame, lines = _read_table(path, LABEL_KEYS)
    frame.columns = [str(c).strip() for c in frame.columns]
    key = next((k for k in LABEL_KEYS if k in frame.columns), None)
    if key is None:
        found = ", ".join(frame.columns) or "none"
        raise ManifestError(
            f"{path}: missing key column (expected one of {', '.join(LABEL_KEYS)}; "
            f"found columns: {found})"
        )
    if len(frame.columns) < 2:
        raise ManifestError(f"{path}: no label column besides the key column '{key}'")
    frame[key] = [_as_text(v) for v in frame[key]]
    if key in ("case_id", "path", "sop_instance_uid"):
        seen: dict[str, int] = {}
        for value, line in zip(frame[key], lines, strict=True):
            if not value:
                raise ManifestError(f"{path}: row {line}, column '{key}': expected a key, found ''")
            if value in seen:
                raise ManifestError(
                    f"{path}: row {line}, column '{key}': expected a unique key, found a "
                    f"duplicate of row {seen[value]} ('{value}')"
                )
            seen[value] = line
    else:  # one label per study or patient: all its rows must agree
        labels = [c for c in frame.columns if c != key]
        first = frame.drop_duplicates(subset=[key])
        merged = frame.merge(first, on=key, suffixes=("", "__first"))
        for column in labels:
            a = merged[column].astype(str)
            b = merged[f"{column}__first"].astype(str)
            bad = np.flatnonzero((a != b).to_numpy())
            if bad.size:
                line = lines[int(bad[0])]
                raise ManifestError(
                    f"{path}: row {line}, column '{column}': expected the same value for every "
                    f"row of one {key.replace('_', ' ')}, found conflicting values"
                )
        frame = first.reset_index(drop=True)
    return frame, key


def build_manifest(
    dicom_dir: str | os.PathLike[str],
    *,
    labels_path: str | os.PathLike[str] | None = None,
    salt: str,
    progress: Callable[[int, int], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> pd.DataFrame:
    """Build a manifest from a folder of DICOM files.

    Walks ``dicom_dir`` recursively (sorted; hidden files and folders skipped), reads
    each file's header (no pixel decoding), hashes it (sha256) and writes one row per
    image with ``path`` relative to ``dicom_dir`` (so write the manifest into
    ``dicom_dir`` itself, or move paths accordingly). ``case_id`` is the file name
    without its ``.dcm`` suffix when those are unique, else the relative path
    without it. ``patient_id`` is :func:`pseudonymise_id` of the DICOM Patient ID
    with ``salt``; no patient name or original ID is written. ``site`` is the
    Institution Name; ``age`` is in years from Patient Age.

    Labels: ``labels_path`` is a CSV/Parquet file with one key column (the first of
    ``case_id``, ``path``, ``sop_instance_uid``, ``study_uid``, ``patient_id``
    present; ``patient_id`` there means the *original* DICOM Patient ID, used only
    for the join) and one or more label columns, which are added after ``path``.
    Images without a label get an empty value; labels that match no image are
    reported through ``on_skip``.

    Files that cannot be read, or that hold no image, are left out and reported as
    ``on_skip(relative path, reason)``; the list is also in
    ``frame.attrs["skipped"]``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BUILD_COLUMNS` with label columns inserted after ``path``.

    Raises
    ------
    ManifestError
        ``dicom_dir`` is not a folder, holds no readable image, or the labels file is
        invalid.

    Examples
    --------
    >>> frame = build_manifest("dicoms/", salt="site-secret")  # doctest: +SKIP
    """

    if not salt:
        raise ManifestError("a pseudonymisation salt is required (got an empty salt)")
    folder = Path(dicom_dir)
    if not folder.is_dir():
        raise ManifestError(f"{folder}: expected a folder of DICOM files, found no such folder")
    files, outside = _walk(folder)
    if outside:
        rel, _ = outside[0]
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        raise ManifestError(
            f"{folder / rel}: a symbolic link that leads outside {folder} (to "
            f"{os.path.realpath(folder / rel)}){more}; refused: a manifest may only name "
            "files inside its folder (remove the link or copy the file in)"
        )
    skipped: list[tuple[str, str]] = []

    def skip(rel: str, reason: str) -> None:
        skipped.append((rel, reason))
        if on_skip is not None:
            on_skip(rel, reason)

    records: list[dict[str, Any]] = []
    raw_ids: list[str | None] = []
    sops: list[str] = []
    for done, file in enumerate(files, start=1):
        rel = file.relative_to(folder).as_posix()
        not_regular = _not_regular(file)
        try:
            if not_regular is not None:  # a FIFO or device would block: never opened
                raise DicomReadError(not_regular)
            header = read_header(file)
        except DicomReadError as exc:
            skip(rel, str(exc).removeprefix(f"{file}: "))
        else:
            if header.rows is None or header.columns is None:
                skip(rel, "no image (the header has no Rows/Columns)")
            else:
                raw_ids.append(header.patient_id)
                sops.append(header.sop_instance_uid or "")
                age = header.age_years
                if age is not None and valid_age(age) is None:
                    # the same rule as manifest check: never write an impossible age
                    skip(
                        rel,
                        f"kept, but its Patient Age ({age:g} years) is not a possible "
                        f"age ({AGE_RANGE[0]:g} to {AGE_RANGE[1]:g}): age left blank",
                    )
                    age = None
                records.append(
                    {
                        "path": rel,
                        "study_uid": header.study_uid,
                        "series_uid": header.series_uid,
                        "site": header.institution,
                        "manufacturer": header.manufacturer,
                        "manufacturer_model": header.manufacturer_model,
                        "modality": header.modality,
                        "sex": header.sex,
                        "age": None if age is None else round(age, 2),
                        "view": header.view,
                        "body_part": header.body_part,
                        "rows": header.rows,
                        "columns": header.columns,
                        "sha256": sha256_file(file),
                    }
                )
        if progress is not None:
            progress(done, len(files))
    if not records:
        raise ManifestError(f"{folder}: no readable DICOM image found ({len(files)} file(s))")

    stems = [
        re.sub(r"\.dcm$", "", PurePosixPath(r["path"]).name, flags=re.IGNORECASE) for r in records
    ]
    unique_stems = len(set(stems)) == len(stems)
    for record, stem in zip(records, stems, strict=True):
        record["case_id"] = (
            stem if unique_stems else re.sub(r"\.dcm$", "", record["path"], flags=re.IGNORECASE)
        )
    for record, raw in zip(records, raw_ids, strict=True):
        if raw:
            record["patient_id"] = pseudonymise_id(raw, salt)
        else:
            # No Patient ID: the image is its own cluster, pseudonymised by its path.
            record["patient_id"] = pseudonymise_id(f"no-patient-id:{record['path']}", salt)
            skip(record["path"], "kept, but it has no Patient ID: treated as its own patient")

    frame = pd.DataFrame(records)
    columns = list(BUILD_COLUMNS)
    if labels_path is not None:
        labels, key = _load_labels(Path(labels_path))
        label_cols = [c for c in labels.columns if c != key]
        clash = [c for c in label_cols if c in BUILD_COLUMNS]
        if clash:
            raise ManifestError(
                f"{labels_path}: column '{clash[0]}' would overwrite a column read from the "
                "DICOM headers (rename it)"
            )
        join = {
            "case_id": frame["case_id"],
            "path": frame["path"],
            "sop_instance_uid": pd.Series(sops),
            "study_uid": frame["study_uid"].fillna(""),
            "patient_id": pd.Series([r or "" for r in raw_ids]),
        }[key].astype(str)
        table = labels.set_index(key)
        for column in label_cols:
            frame[column] = join.map(table[column]).to_numpy()
        unmatched = sorted(set(table.index) - set(join))
        if unmatched:
            shown = ", ".join(f"'{u}'" for u in unmatched[:3]) if key != "patient_id" else ""
            more = f" (e.g. {shown})" if shown else ""
            skip(str(labels_path), f"{len(unmatched)} label row(s) match no image by '{key}'{more}")
        unlabelled = int((~join.isin(set(table.index))).sum())
        if unlabelled:
            skip(
                str(labels_path),
                f"{unlabelled} image(s) have no row in it (by '{key}'): their label "
                "column(s) are left blank",
            )
        columns = columns[:3] + label_cols + columns[3:]
    frame = frame[columns]
    # Build and check agree: the rows about to be returned pass manifest check's row rules
    # (a 'label' column must hold 0/1 where filled, paths stay inside the folder, ...).
    checked_labels = ("label",) if "label" in frame.columns else ()
    _, problems = _frame_problems(
        Path(f"manifest built from {folder}"),
        frame.copy(),
        [i + 2 for i in range(len(frame))],
        root=folder,
        labels=checked_labels,
        require_labels=False,
        check_files=True,
        verify_hashes=False,
    )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        source = f"; the values come from {labels_path}" if labels_path is not None else ""
        raise ManifestError(f"{problems[0]}{more}{source}; nothing written")
    frame.attrs["skipped"] = list(skipped)
    return frame

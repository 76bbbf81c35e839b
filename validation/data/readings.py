"""Reader-study readings: loading, importers and validation.

The tidy form (``DESIGN.md`` §3) has one row per reading with the columns
``reader, modality, case, truth, score``. ``reader``, ``modality`` and ``case`` are
identifiers kept as strings; ``truth`` is 0 (non-diseased) or 1 (diseased);
``score`` is a number where higher means more suspicion of disease.

Importers convert the file formats of the established tools to that form:

* tidy ``.csv`` (radval's own form, and the reference datasets);
* the Iowa OR-DBM MRMC ``.csv`` (``reader,treatment,case,truth,rating``);
* the iMRMC ``.imrmc`` format (header, ``BEGIN DATA:``, ``reader,case,modality,score``;
  truth rows have reader ``-1`` and modality ``truth``);
* the Iowa OR-DBM / LABMRMC ``.lrc`` format;
* the JAFROC / RJafroc Excel workbook (sheets ``Truth``/``NL``/``LL`` or the older
  ``TRUTH``/``FP``/``TP``), read with openpyxl.

References
----------
Chakraborty DP. RJafroc: Artificial Intelligence Systems and Observer Performance
(R package; ``DfReadDataFile``). https://github.com/dpc10ster/RJafroc
Gallas BD et al. iMRMC: Multi-Reader, Multi-Case Analysis Methods (FDA/CDRH).
https://github.com/DIDSR/iMRMC
Smith BJ, Hillis SL. MRMCaov (R package). https://github.com/brian-j-smith/MRMCaov
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import ReadingsError
from validation.stats.mrmc.readings import (
    COLUMNS,
    DESIGNS,
    detect_design,
    location,
    select_modalities,
    validate_readings,
)
from validation.tables import header_problem, read_csv_header, restore_frame

__all__ = [
    "select_modalities",
    "COLUMNS",
    "DESIGNS",
    "detect_design",
    "load_readings",
    "load_froc_readings",
    "validate_readings",
]

FORMATS = ("csv", "ordbm", "imrmc", "lrc", "jafroc")


def _line(n: int) -> str:
    return f"line {n}"


# ----------------------------------------------------------------------------- loading
def load_readings(path: str | Path, *, format: str | None = None) -> pd.DataFrame:
    """Load a readings file into the tidy form ``reader, modality, case, truth, score``.

    Parameters
    ----------
    path : str or Path
        The file to read.
    format : {"csv", "ordbm", "imrmc", "lrc", "jafroc"}, optional
        The file format. By default it follows the extension: ``.imrmc``, ``.lrc``,
        ``.xlsx`` (JAFROC), and ``.csv`` which is tidy unless its header is the
        OR-DBM one (``reader,treatment,case,truth,rating``).

    Returns
    -------
    pandas.DataFrame
        Tidy readings; identifiers are strings, ``truth`` int, ``score`` float. The
        index is the row of the source file the reading came from (1 = first data
        row), and ``frame.attrs["source"]`` names the file.

    Raises
    ------
    ReadingsError
        If the file is missing, malformed or fails :func:`validate_readings` with
        ``design=None`` (the basic checks: columns, truth, scores, duplicates, a case
        with two truths).

    Examples
    --------
    >>> frame = load_readings("tests/data/reader_studies/van_dyke.csv")  # doctest: +SKIP
    >>> sorted(frame["modality"].unique())  # doctest: +SKIP
    ['0', '1']
    """
    p = Path(path)
    if not p.is_file():
        raise ReadingsError(f"{p}: readings file not found (expected an existing file)")
    fmt = format or _format_from_path(p)
    if fmt not in FORMATS:
        raise ReadingsError(f"{p}: unknown readings format {fmt!r}; expected one of {FORMATS}")
    try:
        if fmt in ("csv", "ordbm"):
            frame = _read_csv(p, fmt)
        elif fmt == "imrmc":
            frame = _read_imrmc(p)
        elif fmt == "lrc":
            frame = _read_lrc(p)
        else:
            frame = _read_jafroc(p)
    except ReadingsError:
        raise
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, KeyError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReadingsError(f"{p}: cannot read as {fmt} readings: {msg}") from exc
    frame.attrs["source"] = str(p)
    return validate_readings(frame, design=None)


def _format_from_path(p: Path) -> str:
    ext = p.suffix.lower()
    if ext == ".imrmc":
        return "imrmc"
    if ext == ".lrc":
        return "lrc"
    if ext in (".xlsx", ".xlsm"):
        return "jafroc"
    if ext == ".csv":
        with p.open("r", encoding="utf-8-sig", errors="replace") as fh:
            header = [h.strip().strip('"').lower() for h in fh.readline().split(",")]
        if "treatment" in header and "rating" in header:
            return "ordbm"
        return "csv"
    raise ReadingsError(
        f"{p}: cannot tell the readings format from extension {ext!r}; expected .csv, "
        ".imrmc, .lrc or .xlsx (or pass format=)"
    )


def _read_text_table(p: Path, **options: Any) -> pd.DataFrame:
    """A CSV file as text cells: duplicate header columns refused, formula guards undone."""
    problem = header_problem(p, read_csv_header(p))
    if problem is not None:
        raise ReadingsError(problem)
    raw = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig", **options)
    raw.columns = [str(c).strip() for c in raw.columns]
    return restore_frame(raw)


def _read_csv(p: Path, fmt: str) -> pd.DataFrame:
    raw = _read_text_table(p, skipinitialspace=True)
    if fmt == "ordbm":
        lower = {c.lower(): c for c in raw.columns}
        need = ("reader", "treatment", "case", "truth", "rating")
        missing = [c for c in need if c not in lower]
        if missing:
            raise ReadingsError(f"{p}: OR-DBM csv lacks column(s) {missing}; expected {need}")
        raw = raw.rename(
            columns={
                lower["treatment"]: "modality",
                lower["rating"]: "score",
                lower["reader"]: "reader",
                lower["case"]: "case",
                lower["truth"]: "truth",
            }
        )
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ReadingsError(
            f"{p}: missing column(s) {missing}; expected columns {list(COLUMNS)}, "
            f"found {list(raw.columns)}"
        )
    extra = [c for c in raw.columns if c not in COLUMNS]
    frame = raw[list(COLUMNS) + extra].copy()
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def _read_imrmc(p: Path) -> pd.DataFrame:
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    start = None
    for i, line in enumerate(lines):
        if line.strip().upper().startswith("BEGIN DATA"):
            start = i + 1
            break
    if start is None:
        raise ReadingsError(f"{p}: no 'BEGIN DATA:' line; expected the iMRMC format")
    truth: dict[str, tuple[str, int]] = {}
    rows: list[tuple[str, str, str, str, int]] = []
    for i in range(start, len(lines)):
        text = lines[i].strip()
        if not text:
            continue
        fields = [f.strip() for f in text.split(",")]
        lineno = i + 1
        if len(fields) != 4:
            raise ReadingsError(
                f"{location(str(p), _line(lineno))}: expected 4 comma-separated fields "
                f"reader,case,modality,score; found {len(fields)}"
            )
        reader, case, modality, score = fields
        if reader == "-1" or modality.lower() == "truth":
            if case in truth:
                raise ReadingsError(
                    f"{location(str(p), _line(lineno), 'score')}: case {case!r} has a second truth row"
                )
            truth[case] = (score, lineno)
        else:
            rows.append((reader, modality, case, score, lineno))
    out = []
    index = []
    for reader, modality, case, score, lineno in rows:
        if case not in truth:
            raise ReadingsError(
                f"{location(str(p), _line(lineno), 'case')}: case {case!r} has no truth row "
                "(reader -1, modality truth)"
            )
        t = truth[case][0]
        try:
            t = str(int(float(t)))
        except ValueError:
            pass
        out.append((reader, modality, case, t, score))
        index.append(lineno)
    frame = pd.DataFrame(out, columns=list(COLUMNS), index=[f"line {n}" for n in index])
    return frame


_LRC_DATA = re.compile(r"^\s*[-+0-9.eE]")


def _read_lrc(p: Path) -> pd.DataFrame:
    """Iowa LABMRMC format: title; per reader an ID line; modality names (quoted) and
    L/S direction flags after the first reader ID; non-diseased rows, ``*``, diseased
    rows, ``*``; ``#`` ends the file. Cases are numbered by position (non-diseased
    1..K1, diseased K1+1..K), as RJafroc does."""
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    i = 1
    modalities: list[str] | None = None
    directions: list[str] | None = None
    out: list[tuple[str, str, str, str, float]] = []
    index: list[int] = []
    n_normal: int | None = None
    n_abnormal: int | None = None

    def next_line(j: int) -> int:
        while j < len(lines) and not lines[j].strip():
            j += 1
        return j

    i = next_line(i)
    while i < len(lines) and lines[i].strip() != "#":
        reader = lines[i].strip().strip('"')
        i = next_line(i + 1)
        if i < len(lines) and '"' in lines[i]:
            names = re.findall(r'"([^"]*)"', lines[i])
            if modalities is not None and names != modalities:
                raise ReadingsError(
                    f"{location(str(p), _line(i + 1))}: modality names {names} differ from {modalities}"
                )
            modalities = names
            i = next_line(i + 1)
        if modalities is None:
            raise ReadingsError(
                f"{location(str(p), _line(i + 1))}: expected the quoted modality names"
            )
        if i < len(lines) and set(lines[i].split()) <= {"L", "S", "l", "s"} and lines[i].split():
            directions = [d.upper() for d in lines[i].split()]
            if len(directions) != len(modalities):
                raise ReadingsError(
                    f"{location(str(p), _line(i + 1))}: expected {len(modalities)} L/S flags, "
                    f"found {len(directions)}"
                )
            i = next_line(i + 1)
        if directions is None:
            directions = ["L"] * len(modalities)
        for truth in ("0", "1"):
            k = 0
            while i < len(lines) and lines[i].strip() != "*":
                if not lines[i].strip():
                    i += 1
                    continue
                if not _LRC_DATA.match(lines[i]):
                    raise ReadingsError(
                        f"{location(str(p), _line(i + 1))}: expected {len(modalities)} ratings or '*', "
                        f"found {lines[i].strip()[:40]!r}"
                    )
                tokens = lines[i].split()
                if len(tokens) < len(modalities):
                    raise ReadingsError(
                        f"{location(str(p), _line(i + 1))}: expected {len(modalities)} ratings, "
                        f"found {len(tokens)}"
                    )
                k += 1
                for m, name in enumerate(modalities):
                    try:
                        value = float(tokens[m])
                    except ValueError as exc:
                        raise ReadingsError(
                            f"{location(str(p), _line(i + 1), name)}: expected a numeric rating, "
                            f"found {tokens[m]!r}"
                        ) from exc
                    if directions[m] == "S":
                        value = -value
                    case_no = k if truth == "0" else (n_normal or 0) + k
                    out.append((reader, name, str(case_no), truth, value))
                    index.append(i + 1)
                i += 1
            if i >= len(lines):
                raise ReadingsError(f"{p}: unexpected end of file; expected '*' after ratings")
            if truth == "0":
                if n_normal is None:
                    n_normal = k
                elif k != n_normal:
                    raise ReadingsError(
                        f"{location(str(p), _line(i + 1))}: reader {reader!r} has {k} non-diseased "
                        f"cases, expected {n_normal}"
                    )
            else:
                if n_abnormal is None:
                    n_abnormal = k
                elif k != n_abnormal:
                    raise ReadingsError(
                        f"{location(str(p), _line(i + 1))}: reader {reader!r} has {k} diseased "
                        f"cases, expected {n_abnormal}"
                    )
            i = next_line(i + 1)
    if not out:
        raise ReadingsError(f"{p}: no ratings found; expected the Iowa LRC format")
    frame = pd.DataFrame(out, columns=list(COLUMNS), index=[f"line {n}" for n in index])
    return frame


def _sheet_rows(wb: Any, names: Iterable[str]) -> tuple[str, list[tuple[Any, ...]]] | None:
    lookup = {ws.title.strip().lower(): ws for ws in wb.worksheets}
    for name in names:
        ws = lookup.get(name)
        if ws is not None:
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()
            rows = [
                r
                for r in ws.iter_rows(values_only=True)
                if any(v is not None and str(v).strip() != "" for v in r)
            ]
            return ws.title, rows
    return None


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_jafroc_tables(p: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (marks, truth): marks ``reader, modality, case, score, lesion`` and truth
    ``case, lesion, weight``, with sheet-and-row labels kept for messages."""
    import openpyxl  # lazy: only this importer needs it

    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        try:
            truth_sheet = _sheet_rows(wb, ("truth",))
            nl_sheet = _sheet_rows(wb, ("nl", "fp"))
            ll_sheet = _sheet_rows(wb, ("ll", "tp"))
        finally:
            wb.close()
    except ReadingsError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl errors: not a workbook
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ReadingsError(
            f"{p}: not a readable Excel workbook (.xlsx); expected a JAFROC workbook, "
            f"found a file openpyxl cannot open ({type(exc).__name__}: {first})"
        ) from None
    if truth_sheet is None or nl_sheet is None or ll_sheet is None:
        raise ReadingsError(
            f"{p}: expected JAFROC sheets Truth, NL (or FP) and LL (or TP); one or more are missing"
        )

    def table(sheet: tuple[str, list[tuple[Any, ...]]], need: tuple[str, ...]) -> pd.DataFrame:
        title, rows = sheet
        if not rows:
            return pd.DataFrame(columns=[*need, "_row"])
        header = [str(h).strip().lower() if h is not None else "" for h in rows[0]]
        cols = []
        for n in need:
            if n not in header:
                raise ReadingsError(
                    f"{p}: sheet {title!r} lacks column {n!r}; found {[h for h in header if h]}"
                )
            cols.append(header.index(n))
        data = [
            [_cell(r[c]) if c < len(r) and r[c] is not None else "" for c in cols] for r in rows[1:]
        ]
        frame = pd.DataFrame(data, columns=list(need))
        frame["_row"] = [f"sheet {title!r} row {j}" for j in range(2, len(rows) + 1)]
        return frame

    truth = table(truth_sheet, ("caseid", "lesionid", "weight"))
    nl = table(
        nl_sheet,
        ("readerid", "modalityid", "caseid", "nl_rating")
        if "nl_rating" in [str(h).strip().lower() for h in nl_sheet[1][0]]
        else ("readerid", "modalityid", "caseid", "fp_rating"),
    )
    ll_header = [str(h).strip().lower() for h in ll_sheet[1][0]] if ll_sheet[1] else []
    ll = table(
        ll_sheet,
        (
            "readerid",
            "modalityid",
            "caseid",
            "lesionid",
            "ll_rating" if "ll_rating" in ll_header else "tp_rating",
        ),
    )
    nl = nl.rename(columns={nl.columns[3]: "score"})
    nl["lesion"] = "0"
    ll = ll.rename(columns={ll.columns[4]: "score", "lesionid": "lesion"})
    marks = pd.concat([nl, ll], ignore_index=True).rename(
        columns={"readerid": "reader", "modalityid": "modality", "caseid": "case"}
    )
    truth = truth.rename(columns={"caseid": "case", "lesionid": "lesion"})
    return marks, truth


def _read_jafroc(p: Path) -> pd.DataFrame:
    marks, truth = _read_jafroc_tables(p)
    diseased = set(truth.loc[truth["lesion"] != "0", "case"])
    cases = set(truth["case"])
    n_lesions = truth[truth["lesion"] != "0"].groupby("case").size()
    unknown = marks.loc[~marks["case"].isin(cases)]
    if len(unknown):
        r = unknown.iloc[0]
        raise ReadingsError(f"{p}: {r['_row']}, field 'CaseID': case {r['case']!r} is not in Truth")
    if (n_lesions > 1).any() or marks.duplicated(["reader", "modality", "case"]).any():
        raise ReadingsError(
            f"{p}: this JAFROC workbook holds FROC data (several marks or lesions per case); "
            "expected ROC data with one rating per reader, modality and case — load it with "
            "load_froc_readings"
        )
    out = pd.DataFrame(
        {
            "reader": marks["reader"],
            "modality": marks["modality"],
            "case": marks["case"],
            "truth": ["1" if c in diseased else "0" for c in marks["case"]],
            "score": marks["score"],
        }
    )
    out.index = pd.Index(marks["_row"].to_list())
    # RJafroc orders non-diseased cases first; keep a stable, readable order.
    return out


def load_froc_readings(
    path: str | Path, truth_path: str | Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load FROC marks and lesion truth.

    Parameters
    ----------
    path : str or Path
        Either a JAFROC workbook (``.xlsx``) or the marks CSV
        ``reader,modality,case,truth,score,lesion``.
    truth_path : str or Path, optional
        The truth CSV ``case,truth,lesion,weight``; by default ``<name>_truth.csv``
        beside a marks CSV.

    Returns
    -------
    (marks, truth) : tuple of pandas.DataFrame
        ``marks`` with columns ``reader, modality, case, truth, score, lesion`` and
        ``truth`` with ``case, truth, lesion, weight``; identifiers as strings.

    Examples
    --------
    >>> marks, truth = load_froc_readings("zanca_fed_froc.csv")  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise ReadingsError(f"{p}: FROC marks file not found")
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        marks, truth = _read_jafroc_tables(p)
        diseased = set(truth.loc[truth["lesion"] != "0", "case"])
        marks["truth"] = ["1" if c in diseased else "0" for c in marks["case"]]
        marks = marks[["reader", "modality", "case", "truth", "score", "lesion"]]
        truth = truth.assign(truth=["1" if c in diseased else "0" for c in truth["case"]])
        truth = truth[["case", "truth", "lesion", "weight"]]
        truth_src = str(p)
    else:
        tp = Path(truth_path) if truth_path is not None else p.with_name(p.stem + "_truth.csv")
        if not tp.is_file():
            raise ReadingsError(f"{tp}: FROC truth file not found")
        tables = []
        for src in (p, tp):
            try:
                tables.append(_read_text_table(src))
            except ReadingsError:
                raise
            except (
                UnicodeDecodeError,
                pd.errors.ParserError,
                pd.errors.EmptyDataError,
                OSError,
            ) as exc:
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ReadingsError(f"{src}: cannot read as a FROC CSV file: {msg}") from None
        marks, truth = tables
        truth_src = str(tp)
        need_m = ("reader", "modality", "case", "truth", "score", "lesion")
        need_t = ("case", "truth", "lesion", "weight")
        for frame, need, src in ((marks, need_m, p), (truth, need_t, tp)):
            missing = [c for c in need if c not in frame.columns]
            if missing:
                raise ReadingsError(f"{src}: missing column(s) {missing}; expected {list(need)}")
    marks = marks.copy()
    bad = pd.to_numeric(marks["score"], errors="coerce")
    if bad.isna().any() or not np.isfinite(bad.to_numpy(dtype=float)).all():
        j = int(np.flatnonzero(~np.isfinite(bad.to_numpy(dtype=float)))[0])
        raise ReadingsError(
            f"{location(str(p), j + 1, 'score')}: expected a number, found {marks['score'].iloc[j]!r}"
        )
    marks["score"] = bad.astype(float)
    truth = truth.copy()
    for frame, where in ((marks, str(p)), (truth, truth_src)):
        values = frame["truth"].astype(str).str.strip()
        wrong = ~values.isin(("0", "1"))
        if wrong.any():
            j = int(np.flatnonzero(wrong.to_numpy())[0])
            raise ReadingsError(
                f"{location(where, j + 1, 'truth')}: expected 0 or 1, found {frame['truth'].iloc[j]!r}"
            )
        frame["truth"] = values.astype(int)
    truth["weight"] = pd.to_numeric(truth["weight"].replace("", np.nan), errors="coerce")
    marks.attrs["source"] = str(p)
    return marks.reset_index(drop=True), truth.reset_index(drop=True)

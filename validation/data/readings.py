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

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import ReadingsError
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

COLUMNS = ("reader", "modality", "case", "truth", "score")
DESIGNS = (
    "fully_crossed", "split_plot", "cases_in_modalities", "partially_paired",
    "readers_in_modalities",
)
FORMATS = ("csv", "ordbm", "imrmc", "lrc", "jafroc")


def _rowname(row: Any) -> str:
    """``row N`` for data rows (1 = first row under the header); labels such as
    ``line 7`` (text formats) or ``sheet 'TP' row 5`` (workbooks) are kept as they are."""
    return row if isinstance(row, str) else f"row {row}"


def _line(n: int) -> str:
    return f"line {n}"


def _where(source: str | None, row: Any = None, field: str | None = None) -> str:
    parts = [source or "readings"]
    if row is not None:
        parts.append(_rowname(row))
    if field is not None:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def _source(frame: pd.DataFrame) -> str | None:
    src = frame.attrs.get("source")
    return str(src) if src is not None else None


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
            columns={lower["treatment"]: "modality", lower["rating"]: "score",
                     lower["reader"]: "reader", lower["case"]: "case", lower["truth"]: "truth"}
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
                f"{_where(str(p), _line(lineno))}: expected 4 comma-separated fields "
                f"reader,case,modality,score; found {len(fields)}"
            )
        reader, case, modality, score = fields
        if reader == "-1" or modality.lower() == "truth":
            if case in truth:
                raise ReadingsError(
                    f"{_where(str(p), _line(lineno), 'score')}: case {case!r} has a second truth row"
                )
            truth[case] = (score, lineno)
        else:
            rows.append((reader, modality, case, score, lineno))
    out = []
    index = []
    for reader, modality, case, score, lineno in rows:
        if case not in truth:
            raise ReadingsError(
                f"{_where(str(p), _line(lineno), 'case')}: case {case!r} has no truth row "
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
                    f"{_where(str(p), _line(i + 1))}: modality names {names} differ from {modalities}"
                )
            modalities = names
            i = next_line(i + 1)
        if modalities is None:
            raise ReadingsError(f"{_where(str(p), _line(i + 1))}: expected the quoted modality names")
        if i < len(lines) and set(lines[i].split()) <= {"L", "S", "l", "s"} and lines[i].split():
            directions = [d.upper() for d in lines[i].split()]
            if len(directions) != len(modalities):
                raise ReadingsError(
                    f"{_where(str(p), _line(i + 1))}: expected {len(modalities)} L/S flags, "
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
                        f"{_where(str(p), _line(i + 1))}: expected {len(modalities)} ratings or '*', "
                        f"found {lines[i].strip()[:40]!r}"
                    )
                tokens = lines[i].split()
                if len(tokens) < len(modalities):
                    raise ReadingsError(
                        f"{_where(str(p), _line(i + 1))}: expected {len(modalities)} ratings, "
                        f"found {len(tokens)}"
                    )
                k += 1
                for m, name in enumerate(modalities):
                    try:
                        value = float(tokens[m])
                    except ValueError as exc:
                        raise ReadingsError(
                            f"{_where(str(p), _line(i + 1), name)}: expected a numeric rating, "
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
                        f"{_where(str(p), _line(i + 1))}: reader {reader!r} has {k} non-diseased "
                        f"cases, expected {n_normal}"
                    )
            else:
                if n_abnormal is None:
                    n_abnormal = k
                elif k != n_abnormal:
                    raise ReadingsError(
                        f"{_where(str(p), _line(i + 1))}: reader {reader!r} has {k} diseased "
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
            rows = [r for r in ws.iter_rows(values_only=True)
                    if any(v is not None and str(v).strip() != "" for v in r)]
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
            f"{p}: expected JAFROC sheets Truth, NL (or FP) and LL (or TP); "
            "one or more are missing"
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
        data = [[_cell(r[c]) if c < len(r) and r[c] is not None else "" for c in cols]
                for r in rows[1:]]
        frame = pd.DataFrame(data, columns=list(need))
        frame["_row"] = [f"sheet {title!r} row {j}" for j in range(2, len(rows) + 1)]
        return frame

    truth = table(truth_sheet, ("caseid", "lesionid", "weight"))
    nl = table(nl_sheet, ("readerid", "modalityid", "caseid", "nl_rating")
               if "nl_rating" in [str(h).strip().lower() for h in nl_sheet[1][0]]
               else ("readerid", "modalityid", "caseid", "fp_rating"))
    ll_header = [str(h).strip().lower() for h in ll_sheet[1][0]] if ll_sheet[1] else []
    ll = table(ll_sheet, ("readerid", "modalityid", "caseid", "lesionid",
                          "ll_rating" if "ll_rating" in ll_header else "tp_rating"))
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


def load_froc_readings(path: str | Path, truth_path: str | Path | None = None
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
            except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError,
                    OSError) as exc:
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
            f"{_where(str(p), j + 1, 'score')}: expected a number, found {marks['score'].iloc[j]!r}"
        )
    marks["score"] = bad.astype(float)
    truth = truth.copy()
    for frame, where in ((marks, str(p)), (truth, truth_src)):
        values = frame["truth"].astype(str).str.strip()
        wrong = ~values.isin(("0", "1"))
        if wrong.any():
            j = int(np.flatnonzero(wrong.to_numpy())[0])
            raise ReadingsError(
                f"{_where(where, j + 1, 'truth')}: expected 0 or 1, found {frame['truth'].iloc[j]!r}"
            )
        frame["truth"] = values.astype(int)
    truth["weight"] = pd.to_numeric(truth["weight"].replace("", np.nan), errors="coerce")
    marks.attrs["source"] = str(p)
    return marks.reset_index(drop=True), truth.reset_index(drop=True)


# --------------------------------------------------------------------------- validation
def validate_readings(frame: pd.DataFrame, *, design: str | None = "fully_crossed",
                      source: str | None = None) -> pd.DataFrame:
    """Check tidy readings and return a clean copy (string IDs, int truth, float score).

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``reader, modality, case, truth, score`` (others are kept).
    design : {"fully_crossed", "split_plot", "cases_in_modalities", "partially_paired", \
"readers_in_modalities"} or None
        The declared study design, checked against the data:

        * ``fully_crossed`` — every reader reads every case in every modality;
        * ``split_plot`` — cases nested in readers: each case is read by one reader,
          in every modality;
        * ``cases_in_modalities`` — each case is read in one modality only, by every
          reader of that modality;
        * ``partially_paired`` — every reader reads every modality, but a case may be
          read in only some modalities (as in MRMCaov's Kundel data);
        * ``readers_in_modalities`` — each reader reads one modality only (readers
          nested in modalities, e.g. iMRMC's "readers split by modality" data);
        * ``None`` — only the basic checks.
    source : str, optional
        The file name for messages (default ``frame.attrs["source"]``).

    Returns
    -------
    pandas.DataFrame
        A validated copy with ``attrs["source"]`` kept.

    Raises
    ------
    ReadingsError
        Naming the file, row and field: a missing column, a truth that is not 0/1, a
        non-numeric or non-finite score, a duplicate reading, a case with two truths,
        or data that do not match the declared design (e.g. a reader missing a
        modality in a fully crossed design).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"reader": ["a", "a"], "modality": ["x", "x"], "case": ["1", "2"],
    ...                   "truth": [0, 1], "score": [0.2, 0.9]})
    >>> validate_readings(f)["score"].tolist()
    [0.2, 0.9]
    """
    src = source or _source(frame)
    if design is not None and design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS} or None, got {design!r}")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ReadingsError(
            f"{_where(src)}: missing column(s) {missing}; expected {list(COLUMNS)}, "
            f"found {list(frame.columns)}"
        )
    if len(frame) == 0:
        raise ReadingsError(f"{_where(src)}: no readings; expected at least one row")
    out = frame.copy()
    for col in ("reader", "modality", "case"):
        values = out[col]
        blank = values.isna() | (values.astype(str).str.strip() == "")
        if blank.any():
            row = out.index[int(np.flatnonzero(blank.to_numpy())[0])]
            raise ReadingsError(f"{_where(src, row, col)}: expected an identifier, found blank")
        out[col] = _ident_column(values)
    truth = _numeric(out["truth"])
    bad = ~truth.isin((0, 1))
    if bad.any():
        j = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReadingsError(
            f"{_where(src, out.index[j], 'truth')}: expected 0 or 1, found {out['truth'].iloc[j]!r}"
        )
    out["truth"] = truth.astype(int)
    raw_score = out["score"]
    score = _numeric(raw_score)
    bad = ~np.isfinite(score.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ReadingsError(
            f"{_where(src, out.index[j], 'score')}: expected a finite number, "
            f"found {raw_score.iloc[j]!r}"
        )
    out["score"] = score.astype(float)
    dup = out.duplicated(["reader", "modality", "case"], keep="first")
    if dup.any():
        j = int(np.flatnonzero(dup.to_numpy())[0])
        r = out.iloc[j]
        first = out.index[
            int(np.flatnonzero(
                ((out["reader"] == r["reader"]) & (out["modality"] == r["modality"])
                 & (out["case"] == r["case"])).to_numpy())[0])
        ]
        raise ReadingsError(
            f"{_where(src, out.index[j], 'case')}: duplicate reading of case {r['case']!r} by "
            f"reader {r['reader']!r} in modality {r['modality']!r} (first at {_rowname(first)}); "
            "expected one reading per reader, modality and case"
        )
    truths = out.groupby("case", sort=False)["truth"].nunique()
    two = truths[truths > 1]
    if len(two):
        case = two.index[0]
        rows = out.index[(out["case"] == case).to_numpy()]
        vals = out.loc[out["case"] == case, "truth"]
        j = int(np.flatnonzero((vals != vals.iloc[0]).to_numpy())[0])
        raise ReadingsError(
            f"{_where(src, rows[j], 'truth')}: case {case!r} has two truths "
            f"({vals.iloc[0]} at {_rowname(rows[0])}, {vals.iloc[j]} here); expected one truth "
            "per case"
        )
    out.attrs["source"] = src
    if design is not None:
        _check_design(out, design, src)
    return out


def _numeric(values: pd.Series) -> pd.Series:
    """Numbers as float (non-numbers become NaN); numeric columns pass straight through."""
    if values.dtype.kind in "iufb":
        return values.astype(float)
    return pd.to_numeric(values.astype(str).str.strip(), errors="coerce").astype(float)


def _ident_column(values: pd.Series) -> pd.Series:
    """Identifiers as strings, vectorised (integer-valued floats lose their ``.0``)."""
    kind = values.dtype.kind
    if kind in "iu":
        return values.astype(str)
    if kind == "f":
        v = values.to_numpy(dtype=float)
        if np.all(v == np.round(v)):
            return pd.Series(v.astype(np.int64).astype(str), index=values.index)
    elif pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values.astype(str).str.strip()
    return pd.Series([_ident(v) for v in values], index=values.index, dtype=str)


def _ident(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def detect_design(frame: pd.DataFrame) -> str:
    """Return the design of validated tidy readings, as MRMCaov detects it.

    ``fully_crossed`` when every reader reads every case in every modality;
    ``split_plot`` when each case is read by exactly one reader;
    ``cases_in_modalities`` when each case is read in exactly one modality;
    ``partially_paired`` when every reader reads every modality but cases are missing;
    ``readers_in_modalities`` when each reader reads exactly one modality.

    Raises
    ------
    ReadingsError
        When some reader does not read some modality (e.g. readers split by modality):
        no OR/DBM design covers those data.
    """
    src = _source(frame)
    readers = frame["reader"].unique()
    modalities = frame["modality"].unique()
    pairs = frame.groupby(["reader", "modality"]).size()
    mods_per_reader = frame.groupby("reader")["modality"].nunique()
    if len(modalities) > 1 and (mods_per_reader == 1).all():
        return "readers_in_modalities"
    if len(pairs) != len(readers) * len(modalities):
        have = set(pairs.index)
        r, m = next((r, m) for r in readers for m in modalities if (r, m) not in have)
        raise ReadingsError(
            f"{_where(src)}: reader {r!r} has no readings in modality {m!r}; the OR and DBM "
            "analyses need every reader to read every modality, or each reader to read "
            "exactly one modality (readers nested in modalities)"
        )
    cases = frame["case"].unique()
    if len(frame) == len(readers) * len(modalities) * len(cases):
        return "fully_crossed"
    readers_per_case = frame.groupby("case")["reader"].nunique()
    if (readers_per_case == 1).all():
        return "split_plot"
    mods_per_case = frame.groupby("case")["modality"].nunique()
    if (mods_per_case == 1).all():
        return "cases_in_modalities"
    return "partially_paired"


def _check_design(frame: pd.DataFrame, design: str, src: str | None) -> None:
    readers = sorted(frame["reader"].unique())
    modalities = sorted(frame["modality"].unique())
    cases = frame["case"].unique()
    have_rm = set(zip(frame["reader"], frame["modality"], strict=True))
    if design == "readers_in_modalities":
        per_reader = frame.groupby("reader")["modality"].nunique()
        multi = per_reader[per_reader > 1]
        if len(multi):
            raise ReadingsError(
                f"{_where(src, None, 'modality')}: reader {multi.index[0]!r} reads "
                f"{multi.iloc[0]} modalities; readers nested in modalities need each reader "
                "to read one modality"
            )
        return
    for r in readers:
        for m in modalities:
            if (r, m) not in have_rm:
                raise ReadingsError(
                    f"{_where(src, None, 'modality')}: reader {r!r} is missing modality {m!r} "
                    f"in a design declared {design}; expected every reader to read every "
                    f"modality ({modalities})"
                )
    if design == "fully_crossed":
        counts = frame.groupby(["reader", "modality"])["case"].nunique()
        short = counts[counts < len(cases)]
        if len(short):
            r, m = short.index[0]
            read = set(frame.loc[(frame["reader"] == r) & (frame["modality"] == m), "case"])
            missing = next(c for c in cases if c not in read)
            raise ReadingsError(
                f"{_where(src, None, 'case')}: reader {r!r} in modality {m!r} has no reading of "
                f"case {missing!r} ({short.iloc[0]} of {len(cases)} cases read); a fully "
                "crossed design needs every reader to read every case in every modality"
            )
    elif design == "split_plot":
        per_case = frame.groupby("case")["reader"].nunique()
        shared = per_case[per_case > 1]
        if len(shared):
            raise ReadingsError(
                f"{_where(src, None, 'case')}: case {shared.index[0]!r} is read by "
                f"{shared.iloc[0]} readers; a split-plot design (cases nested in readers) "
                "needs each case read by one reader"
            )
        per_case_m = frame.groupby("case")["modality"].nunique()
        short = per_case_m[per_case_m < len(modalities)]
        if len(short):
            raise ReadingsError(
                f"{_where(src, None, 'modality')}: case {short.index[0]!r} is read in "
                f"{short.iloc[0]} of {len(modalities)} modalities; a split-plot design needs "
                "each case read in every modality by its reader"
            )
    elif design == "cases_in_modalities":
        per_case = frame.groupby("case")["modality"].nunique()
        shared = per_case[per_case > 1]
        if len(shared):
            raise ReadingsError(
                f"{_where(src, None, 'case')}: case {shared.index[0]!r} is read in "
                f"{shared.iloc[0]} modalities; cases nested in modalities need each case "
                "in one modality"
            )
        per_case_r = frame.groupby("case")["reader"].nunique()
        short = per_case_r[per_case_r < len(readers)]
        if len(short):
            raise ReadingsError(
                f"{_where(src, None, 'reader')}: case {short.index[0]!r} is read by "
                f"{short.iloc[0]} of {len(readers)} readers; cases nested in modalities need "
                "every reader to read every case of its modality"
            )


def select_modalities(frame: pd.DataFrame, modalities: Iterable[str], *,
                      ai_reader: str | None = None) -> pd.DataFrame:
    """Keep the human readers' readings in ``modalities``; bring a standalone AI along.

    A readings file often holds the AI's standalone scores under a modality of their
    own (``standalone``) beside the readers' ``unaided`` and ``aided`` sessions. For an
    analysis of some modalities, the readers' rows are filtered; the AI reader's rows
    are kept from the one requested modality when it read it, else from its only
    modality, relabelled to the requested one (an AI-vs-readers comparison needs
    exactly one modality).

    Parameters
    ----------
    frame : DataFrame
        Tidy readings ``reader, modality, case, truth, score``.
    modalities : iterable of str
        The modalities to keep (compared as text).
    ai_reader : str, optional
        The standalone AI's reader ID.

    Returns
    -------
    DataFrame
        The selected readings (a copy).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"reader": ["R1", "R1", "AI"], "modality": ["unaided", "aided",
    ...                    "standalone"], "case": [1, 1, 1], "truth": [1, 1, 1],
    ...                    "score": [0.2, 0.4, 0.9]})
    >>> select_modalities(df, ["unaided"], ai_reader="AI")["modality"].tolist()
    ['unaided', 'unaided']
    """
    wanted = [str(m) for m in modalities]
    source = _source(frame) or "readings"
    mods = frame["modality"].astype(str)
    present = sorted(set(mods))
    missing = [m for m in wanted if m not in present]
    if missing:
        raise ReadingsError(
            f"{source}: modality {missing[0]!r} is not in the readings; found {present}"
        )
    readers = frame["reader"].astype(str)
    is_ai = readers == str(ai_reader) if ai_reader is not None else pd.Series(False, frame.index)
    humans = frame[~is_ai & mods.isin(wanted)]
    if ai_reader is None:
        return humans.copy()
    ai_rows = frame[is_ai]
    if ai_rows.empty:
        raise ReadingsError(f"{source}: reader {ai_reader!r} (the AI) has no readings")
    if len(wanted) != 1:
        raise ReadingsError(
            f"{source}: comparing the AI with the readers needs exactly one modality, "
            f"got {wanted}"
        )
    ai_mods = ai_rows["modality"].astype(str)
    if wanted[0] in set(ai_mods):
        ai_rows = ai_rows[ai_mods == wanted[0]]
    elif ai_mods.nunique() > 1:
        raise ReadingsError(
            f"{source}: the AI reader {ai_reader!r} read {sorted(set(ai_mods))}, none of "
            f"which is {wanted[0]!r}; expected it to read {wanted[0]!r} or one modality only"
        )
    return pd.concat([humans, ai_rows.assign(modality=wanted[0])]).copy()

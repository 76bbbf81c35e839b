"""Tables radval reads and writes: one CSV writer, one reader guard.

**Writing.** Every CSV file radval writes (manifests, lesion tables, inference
failures, demo readings) goes through :func:`write_csv`, which applies the OWASP
CSV-injection rule: a *text* cell (or column name) that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is written with a single quote in front
(``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``), so a spreadsheet shows it as text
instead of evaluating it as a formula. Numbers are never touched: numeric columns
(``age`` = -1.5 stays ``-1.5``) and text that is a plain number (a case ID ``-12``,
which a spreadsheet reads as a number, not a formula). A text cell that already starts
with quotes before such a character gets one more quote, so that reading back is
exact. The report (:class:`CsvReport`) counts the cells changed per column, for the
caller to warn about.

**Reading.** :func:`read_table` reads the CSV or Parquet tables radval takes as input
(scores, marks, lesions, predictions, failures); CSV cells and column names written
that way are restored (one leading quote removed from ``'=...``), and a header that
names a column twice is refused (pandas would silently rename the second one
``name.1``). :func:`header_problem` is the one duplicate-column check, for readers that
parse CSV themselves (manifests, readings).

References
----------
OWASP. CSV Injection. https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError
from validation.io import write_text_atomic

__all__ = [
    "FORMULA_TRIGGERS",
    "CsvReport",
    "header_problem",
    "neutralise",
    "read_csv_header",
    "read_table",
    "restore",
    "restore_frame",
    "write_csv",
]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_QUOTED = re.compile(r"^'+[=+\-@\t\r]")


def neutralise(text: str) -> str:
    """The cell as written: ``text`` with a leading ``'`` when a spreadsheet could run it.

    Examples
    --------
    >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-12"), neutralise("GE")
    ('\\'=HYPERLINK("http://x")', '-12', 'GE')
    """
    core = text.lstrip("'")
    if not core.startswith(FORMULA_TRIGGERS):
        return text
    if core == text and _NUMBER.match(text):
        return text  # a plain number: a spreadsheet reads it as a number, not a formula
    return "'" + text


def restore(text: str) -> str:
    """The value :func:`neutralise` was given: one leading ``'`` removed from ``'=...``.

    Examples
    --------
    >>> restore("'=1+1"), restore("''=x"), restore("'abc")
    ('=1+1', "'=x", "'abc")
    """
    return text[1:] if _QUOTED.match(text) else text


@dataclass(frozen=True)
class CsvReport:
    """What :func:`write_csv` wrote: the file, its rows and the cells it neutralised.

    ``neutralised`` maps a column name (``"<header>"`` for column names themselves) to the
    number of its cells that were written with a leading quote.
    """

    path: Path
    n_rows: int
    neutralised: dict[str, int] = field(default_factory=dict)

    @property
    def n_neutralised(self) -> int:
        """Cells written with a leading quote, in all columns."""
        return sum(self.neutralised.values())

    def warning(self) -> str | None:
        """A one-line warning for the user, or ``None`` when nothing was changed."""
        if not self.neutralised:
            return None
        columns = ", ".join(f"'{c}' ({n})" for c, n in self.neutralised.items())
        return (
            f"{self.path}: {self.n_neutralised} text cell(s) started with =, +, -, @, tab or "
            f"CR and were written with a leading ' so that a spreadsheet shows them as text "
            f"(CSV-injection guard; radval reads them back unchanged): {columns}"
        )


def _is_text_column(series: pd.Series) -> bool:
    return series.dtype == object or isinstance(series.dtype, pd.StringDtype)


def _field(text: str) -> str:
    """One CSV field: quoted when it holds a comma, a quote, LF or CR.

    (The standard library's writer leaves a lone CR unquoted when lines end with LF, and
    a reader then splits the row there; a header value may well hold a CR.)
    """
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _cell(value: Any) -> str:
    """A value as pandas' ``to_csv`` writes it: missing as empty, floats by ``repr``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value)


def csv_text(frame: pd.DataFrame) -> tuple[str, dict[str, int]]:
    """The CSV text of ``frame`` (header, no index, ``\\n`` line ends) and the cells changed."""
    changed: dict[str, int] = {}
    names = [str(c) for c in frame.columns]
    header = [neutralise(n) for n in names]
    n_header = sum(a != b for a, b in zip(names, header, strict=True))
    if n_header:
        changed["<header>"] = n_header
    columns: list[list[str]] = []
    for position, name in enumerate(names):
        column = frame.iloc[:, position]
        if _is_text_column(column):
            cells = []
            for value in column:
                if isinstance(value, str):
                    cell = neutralise(value)
                    if cell != value:
                        changed[name] = changed.get(name, 0) + 1
                    cells.append(cell)
                else:
                    cells.append(_cell(value))
        else:
            cells = [_cell(v) for v in column]
        columns.append(cells)
    lines = [",".join(_field(h) for h in header)]
    for row in zip(*columns, strict=True):
        line = ",".join(_field(c) for c in row)
        lines.append('""' if line == "" else line)  # a lone empty field is not a blank line
    return "\n".join(lines) + "\n", changed


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> CsvReport:
    """Write ``frame`` as UTF-8 CSV atomically, neutralising formula cells; see the module.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> report = write_csv(pd.DataFrame({"site": ["=cmd|' /C calc'!A0"], "age": [-1.5]}), out)
    >>> open(out).read(), report.neutralised
    ("site,age\\n'=cmd|' /C calc'!A0,-1.5\\n", {'site': 1})
    """
    text, changed = csv_text(frame)
    target = Path(path)
    write_text_atomic(target, text)
    return CsvReport(target, len(frame), changed)


def write_csv_rows(
    header: Sequence[str], rows: Iterable[Sequence[Any]], path: str | os.PathLike[str]
) -> CsvReport:
    """Write rows of plain values (no DataFrame) through :func:`write_csv`."""
    return write_csv(pd.DataFrame([list(r) for r in rows], columns=list(header)), path)


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`neutralise` on a frame read from CSV: column names and text cells."""
    out = frame.copy()
    out.columns = [restore(c) if isinstance(c, str) else c for c in frame.columns]
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if not _is_text_column(column):
            continue
        mask = column.map(lambda v: isinstance(v, str) and v.startswith("'"))
        if bool(mask.any()):
            restored = [restore(v) if isinstance(v, str) else v for v in column]
            out.isetitem(position, pd.Series(restored, index=out.index, dtype=column.dtype))
    return out


def read_csv_header(path: str | os.PathLike[str]) -> list[str]:
    """The column names on a CSV file's first line (stripped; empty for an empty file)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return [c.strip() for c in next(csv.reader(handle), [])]


def header_problem(path: str | os.PathLike[str], names: Sequence[Any]) -> str | None:
    """``"<path>: column 'x' appears more than once in the header"`` or ``None``."""
    seen: set[str] = set()
    for name in (str(n).strip() for n in names):
        if name in seen:
            return f"{path}: column '{name}' appears more than once in the header"
        seen.add(name)
    return None


def read_table(path: str | os.PathLike[str], *, what: str, **csv_options: Any) -> pd.DataFrame:
    """Read a CSV or Parquet input table; refuse unreadable files and duplicate columns.

    Parameters
    ----------
    path
        ``.parquet`` / ``.pq`` files are read as Parquet, anything else as CSV (UTF-8).
    what
        What the table is, for messages (``"scores"``, ``"marks"``).
    **csv_options
        Passed to :func:`pandas.read_csv`.

    Raises
    ------
    InputError
        ``"<what> file <path> does not exist"``, ``"cannot read <what> file <path>: ..."``
        or a duplicate column (:func:`header_problem`).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file {p} does not exist")
    if p.is_dir():
        raise InputError(f"{what} file {p}: expected a file, found a directory")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            names = list(pq.read_schema(p).names)
            problem = header_problem(p, names)
            if problem is None:
                return pd.read_parquet(p)
        else:
            problem = header_problem(p, read_csv_header(p))
            if problem is None:
                frame = pd.read_csv(io.StringIO(p.read_text(encoding="utf-8-sig")), **csv_options)
                return restore_frame(frame)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read {what} file {p}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot read {what} file {p}: {first}") from None
    raise InputError(problem)

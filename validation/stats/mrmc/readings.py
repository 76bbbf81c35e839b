"""The tidy readings contract of a reader study, checked for the MRMC analyses.

A readings table has one row per reading: ``reader, modality, case, truth, score``
(``DESIGN.md`` §3). :func:`validate_readings` checks it and the declared design,
:func:`detect_design` infers the design, :func:`select_modalities` keeps chosen
modalities. File formats are read by :mod:`validation.data.readings`, which returns
this form.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import ReadingsError

__all__ = [
    "COLUMNS",
    "DESIGNS",
    "detect_design",
    "frame_source",
    "location",
    "row_name",
    "select_modalities",
    "validate_readings",
]

COLUMNS = ("reader", "modality", "case", "truth", "score")
DESIGNS = (
    "fully_crossed",
    "split_plot",
    "cases_in_modalities",
    "partially_paired",
    "readers_in_modalities",
)


def row_name(row: Any) -> str:
    """``row N`` for data rows (1 = first row under the header); labels such as
    ``line 7`` (text formats) or ``sheet 'TP' row 5`` (workbooks) are kept as they are."""
    return row if isinstance(row, str) else f"row {row}"


def location(source: str | None, row: Any = None, field: str | None = None) -> str:
    parts = [source or "readings"]
    if row is not None:
        parts.append(row_name(row))
    if field is not None:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def frame_source(frame: pd.DataFrame) -> str | None:
    src = frame.attrs.get("source")
    return str(src) if src is not None else None


# --------------------------------------------------------------------------- validation
def validate_readings(
    frame: pd.DataFrame, *, design: str | None = "fully_crossed", source: str | None = None
) -> pd.DataFrame:
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
    src = source or frame_source(frame)
    if design is not None and design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS} or None, got {design!r}")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ReadingsError(
            f"{location(src)}: missing column(s) {missing}; expected {list(COLUMNS)}, "
            f"found {list(frame.columns)}"
        )
    if len(frame) == 0:
        raise ReadingsError(f"{location(src)}: no readings; expected at least one row")
    out = frame.copy()
    for col in ("reader", "modality", "case"):
        values = out[col]
        blank = values.isna() | (values.astype(str).str.strip() == "")
        if blank.any():
            row = out.index[int(np.flatnonzero(blank.to_numpy())[0])]
            raise ReadingsError(f"{location(src, row, col)}: expected an identifier, found blank")
        out[col] = _ident_column(values)
    truth = _numeric(out["truth"])
    bad = ~truth.isin((0, 1))
    if bad.any():
        j = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReadingsError(
            f"{location(src, out.index[j], 'truth')}: expected 0 or 1, "
            f"found {out['truth'].iloc[j]!r}"
        )
    out["truth"] = truth.astype(int)
    raw_score = out["score"]
    score = _numeric(raw_score)
    bad = ~np.isfinite(score.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ReadingsError(
            f"{location(src, out.index[j], 'score')}: expected a finite number, "
            f"found {raw_score.iloc[j]!r}"
        )
    out["score"] = score.astype(float)
    dup = out.duplicated(["reader", "modality", "case"], keep="first")
    if dup.any():
        j = int(np.flatnonzero(dup.to_numpy())[0])
        r = out.iloc[j]
        first = out.index[
            int(
                np.flatnonzero(
                    (
                        (out["reader"] == r["reader"])
                        & (out["modality"] == r["modality"])
                        & (out["case"] == r["case"])
                    ).to_numpy()
                )[0]
            )
        ]
        raise ReadingsError(
            f"{location(src, out.index[j], 'case')}: duplicate reading of case {r['case']!r} by "
            f"reader {r['reader']!r} in modality {r['modality']!r} (first at {row_name(first)}); "
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
            f"{location(src, rows[j], 'truth')}: case {case!r} has two truths "
            f"({vals.iloc[0]} at {row_name(rows[0])}, {vals.iloc[j]} here); expected one truth "
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
    src = frame_source(frame)
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
            f"{location(src)}: reader {r!r} has no readings in modality {m!r}; the OR and DBM "
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
                f"{location(src, None, 'modality')}: reader {multi.index[0]!r} reads "
                f"{multi.iloc[0]} modalities; readers nested in modalities need each reader "
                "to read one modality"
            )
        return
    for r in readers:
        for m in modalities:
            if (r, m) not in have_rm:
                raise ReadingsError(
                    f"{location(src, None, 'modality')}: reader {r!r} is missing modality {m!r} "
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
                f"{location(src, None, 'case')}: reader {r!r} in modality {m!r} has no reading of "
                f"case {missing!r} ({short.iloc[0]} of {len(cases)} cases read); a fully "
                "crossed design needs every reader to read every case in every modality"
            )
    elif design == "split_plot":
        per_case = frame.groupby("case")["reader"].nunique()
        shared = per_case[per_case > 1]
        if len(shared):
            raise ReadingsError(
                f"{location(src, None, 'case')}: case {shared.index[0]!r} is read by "
                f"{shared.iloc[0]} readers; a split-plot design (cases nested in readers) "
                "needs each case read by one reader"
            )
        per_case_m = frame.groupby("case")["modality"].nunique()
        short = per_case_m[per_case_m < len(modalities)]
        if len(short):
            raise ReadingsError(
                f"{location(src, None, 'modality')}: case {short.index[0]!r} is read in "
                f"{short.iloc[0]} of {len(modalities)} modalities; a split-plot design needs "
                "each case read in every modality by its reader"
            )
    elif design == "cases_in_modalities":
        per_case = frame.groupby("case")["modality"].nunique()
        shared = per_case[per_case > 1]
        if len(shared):
            raise ReadingsError(
                f"{location(src, None, 'case')}: case {shared.index[0]!r} is read in "
                f"{shared.iloc[0]} modalities; cases nested in modalities need each case "
                "in one modality"
            )
        per_case_r = frame.groupby("case")["reader"].nunique()
        short = per_case_r[per_case_r < len(readers)]
        if len(short):
            raise ReadingsError(
                f"{location(src, None, 'reader')}: case {short.index[0]!r} is read by "
                f"{short.iloc[0]} of {len(readers)} readers; cases nested in modalities need "
                "every reader to read every case of its modality"
            )


def select_modalities(
    frame: pd.DataFrame, modalities: Iterable[str], *, ai_reader: str | None = None
) -> pd.DataFrame:
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
    source = frame_source(frame) or "readings"
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
            f"{source}: comparing the AI with the readers needs exactly one modality, got {wanted}"
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

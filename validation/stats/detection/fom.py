"""FROC figures of merit (AFROC, wAFROC, AFROC1, wAFROC1, highest-rating AUC).

The figures of merit are those of RJafroc (Chakraborty 2017) computed from tidy
reader-study FROC data, with their leave-one-case-out jackknife in closed form.

Every FOM here is a weighted Wilcoxon statistic between a set of *negative*
ratings (one per contributing case: the highest non-lesion localization rating,
``-inf`` when the case has no such mark) and a set of *positive* ratings (one per
lesion, or one per abnormal case for ``hr_auc``; ``-inf`` when unmarked)::

    FOM = sum_i sum_j w_j * psi(n_i, p_j) / (N_neg * D)
    psi(x, y) = 1 if y > x, 0.5 if y == x (including -inf == -inf), 0 otherwise

| fom     | negatives (cases)    | positives                   | w_j           | D         |
|---------|----------------------|-----------------------------|---------------|-----------|
| wafroc  | normal cases, max NL | lesions, max LL             | lesion weight | K2        |
| afroc   | normal cases, max NL | lesions, max LL             | 1             | L (total) |
| wafroc1 | all cases, max NL    | lesions, max LL             | lesion weight | K2        |
| afroc1  | all cases, max NL    | lesions, max LL             | 1             | L (total) |
| hr_auc  | normal cases, max NL | abnormal cases, max(NL, LL) | 1             | K2        |

Deleting case ``k`` removes its negative and its positives; with ``R_k`` the
negative's row sum, ``C_k`` the column sums of its positives and ``X_k`` their
shared term, the numerator becomes ``T - R_k - C_k + X_k``. Row and column sums
come from one sort each (``searchsorted``), so the whole jackknife costs
``O((N + P) log(N + P))`` per reader and modality instead of the
``O(K * N * P)`` of deletion and recomputation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from validation.errors import UndefinedMetricError
from validation.stats._checks import required
from validation.stats._params import Options, validate_params
from validation.stats._results import ResultMixin

FROC_FOMS = ("wafroc", "afroc", "wafroc1", "afroc1", "hr_auc")
_MARK_COLUMNS = ("reader", "modality", "case", "truth", "score", "lesion")
_TRUTH_COLUMNS = ("case", "truth", "lesion")
_WEIGHT_TOLERANCE = 1e-3


def _show(value: Any) -> str:
    """repr of a cell value, numpy scalars shown as Python values (``nan``, ``2``)."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return repr(value)


@dataclass(frozen=True, eq=False)
class FomArrays(ResultMixin):
    """FROC figures of merit per modality and reader with their case jackknife.

    Attributes
    ----------
    modalities : list of str
        Modality IDs, in order of first appearance in the marks.
    readers : list of str
        Reader IDs, in order of first appearance in the marks.
    cases : list of str
        Case IDs in the order of the truth table (normal and abnormal cases).
    fom : ndarray, shape (M, R)
        The figure of merit of each modality and reader.
    jackknife : ndarray, shape (M, R, C)
        ``jackknife[m, r, k]`` is the figure of merit with case ``cases[k]`` removed.
    fom_name : str
        Which figure of merit (``"wafroc"``, ``"afroc"``, ...).
    """

    modalities: list[str]
    readers: list[str]
    cases: list[str]
    fom: NDArray[np.float64]
    jackknife: NDArray[np.float64]
    fom_name: str = "wafroc"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (nested lists), ``fom_name`` first.

        Overrides the generic form only for the key order ``results.json`` has always had.
        """
        return {
            "fom_name": self.fom_name,
            "modalities": list(self.modalities),
            "readers": list(self.readers),
            "cases": list(self.cases),
            "fom": self.fom.tolist(),
            "jackknife": self.jackknife.tolist(),
        }


def wilcoxon_fom_jackknife(
    neg_value: NDArray[np.float64],
    neg_case: NDArray[np.intp],
    pos_value: NDArray[np.float64],
    pos_weight: NDArray[np.float64],
    pos_case: NDArray[np.intp],
    case_denominator: NDArray[np.float64],
    n_cases: int,
    *,
    jackknife: bool = True,
) -> tuple[float, NDArray[np.float64] | None]:
    """Weighted Wilcoxon FOM and its leave-one-case-out values in closed form.

    ``neg_case``/``pos_case`` index cases ``0..n_cases-1``; each case has at most one
    negative. ``case_denominator[k]`` is case ``k``'s share of ``D``. Raises
    :class:`UndefinedMetricError` when the FOM or a deletion has no negatives or
    no positives.
    """
    n_neg = neg_value.size
    d_total = float(case_denominator.sum())
    if n_neg == 0 or d_total <= 0:
        raise UndefinedMetricError(
            "FROC figure of merit undefined: expected at least one case contributing a "
            f"false-positive rating and one with lesions, found {n_neg} and {d_total:g}"
        )
    ns = np.sort(neg_value)
    less = np.searchsorted(ns, pos_value, side="left")
    less_eq = np.searchsorted(ns, pos_value, side="right")
    col = less + 0.5 * (less_eq - less)  # sum_i psi(n_i, p_j)
    order = np.argsort(pos_value, kind="stable")
    ps = pos_value[order]
    cw = np.concatenate(([0.0], np.cumsum(pos_weight[order])))
    w_total = cw[-1]
    lo = cw[np.searchsorted(ps, neg_value, side="left")]
    hi = cw[np.searchsorted(ps, neg_value, side="right")]
    row = (w_total - hi) + 0.5 * (hi - lo)  # sum_j w_j psi(n_i, p_j)
    total = float(np.dot(pos_weight, col))
    if not jackknife:
        return total / (n_neg * d_total), None

    neg_of_case = np.full(n_cases, np.nan)
    neg_of_case[neg_case] = neg_value
    has_neg = np.zeros(n_cases, dtype=np.float64)
    has_neg[neg_case] = 1.0
    own_neg = neg_of_case[pos_case]
    shared = np.where(
        np.isnan(own_neg),
        0.0,
        np.where(pos_value > own_neg, 1.0, np.where(pos_value == own_neg, 0.5, 0.0)),
    )
    row_k = np.bincount(neg_case, weights=row, minlength=n_cases)
    col_k = np.bincount(pos_case, weights=pos_weight * col, minlength=n_cases)
    x_k = np.bincount(pos_case, weights=pos_weight * shared, minlength=n_cases)
    denom = (n_neg - has_neg) * (d_total - case_denominator)
    if np.any(denom <= 0):
        k = int(np.flatnonzero(denom <= 0)[0])
        raise UndefinedMetricError(
            "FROC jackknife undefined: removing case index "
            f"{k} leaves no false-positive-rating case or no lesion"
        )
    jack = (total - row_k - col_k + x_k) / denom
    return total / (n_neg * d_total), jack


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} must have columns {list(columns)}; missing {missing}, found {list(df.columns)}"
        )


def _as_id(series: pd.Series) -> pd.Series:
    """IDs as strings; integral floats (``1.0``) become ``"1"`` (vectorised by unique value)."""

    def conv(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    labels = np.array([conv(v) for v in uniques], dtype=object)
    return pd.Series(labels[codes], index=series.index, dtype=object)


def _as_int(series: pd.Series, what: str, column: str) -> NDArray[np.int64]:
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() | (values != np.round(values))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{what}: column {column!r} must hold integers, "
            f"found {_show(series.iloc[i])} at row {i}"
        )
    return values.to_numpy().astype(np.int64)


@dataclass(frozen=True)
class _Prepared:
    modalities: list[str]
    readers: list[str]
    cases: list[str]
    abnormal: NDArray[np.bool_]  # (C,)
    lesion_case: NDArray[np.intp]  # (L,)
    lesion_weight: NDArray[np.float64]  # (L,)
    nl_max: NDArray[np.float64]  # (M, R, C) highest NL rating, -inf if none
    ll: NDArray[np.float64]  # (M, R, L) highest LL rating, -inf if unmarked


@dataclass(frozen=True)
class _Truth:
    cases: list[str]
    case_index: dict[str, int]
    abnormal: NDArray[np.bool_]  # (C,)
    lesion_case: NDArray[np.intp]  # (L,)
    lesion_id: NDArray[np.int64]  # (L,)
    lesion_weight: NDArray[np.float64]  # (L,)


def _truth_frame(truth: pd.DataFrame) -> pd.DataFrame:
    t = pd.DataFrame(
        {
            "case": _as_id(truth["case"]),
            "truth": _as_int(truth["truth"], "truth", "truth"),
            "lesion": _as_int(truth["lesion"], "truth", "lesion"),
        }
    )
    if not np.isin(t["truth"], (0, 1)).all():
        i = int(np.flatnonzero(~np.isin(t["truth"], (0, 1)))[0])
        raise ValueError(
            f"truth: column 'truth' must be 0 or 1, found {t['truth'].iloc[i]} at row {i}"
        )
    if "weight" in truth.columns:
        t["weight"] = pd.to_numeric(truth["weight"], errors="coerce").to_numpy()
    else:
        t["weight"] = np.nan
    case_truth = t.groupby("case", sort=False)["truth"].agg(["min", "max"])
    mixed = case_truth.index[case_truth["min"] != case_truth["max"]]
    if len(mixed):
        raise ValueError(f"truth: case {mixed[0]!r} has rows with both truth 0 and truth 1")
    normal_rows = t[t["truth"] == 0]
    if (normal_rows["lesion"] != 0).any():
        c = normal_rows.loc[normal_rows["lesion"] != 0, "case"].iloc[0]
        raise ValueError(f"truth: non-diseased case {c!r} must have lesion 0, found a lesion > 0")
    return t


def _lesion_weights(
    w: NDArray[np.float64],
    lesion_case: NDArray[np.intp],
    cases: list[str],
    abnormal: NDArray[np.bool_],
) -> NDArray[np.float64]:
    n_les = np.bincount(lesion_case, minlength=len(cases))
    # A case whose weights are all 0 has unspecified weights (the JAFROC/RJafroc
    # Excel convention): equal weights, like a case with no weights.
    zero_sum = np.bincount(lesion_case, weights=np.abs(np.nan_to_num(w)), minlength=len(cases))
    w = np.where(zero_sum[lesion_case] == 0, np.nan, w)
    given = ~np.isnan(w)
    given_cases = np.unique(lesion_case[given])
    partial = np.bincount(lesion_case[given], minlength=len(cases))
    bad_partial = given_cases[partial[given_cases] != n_les[given_cases]]
    if bad_partial.size:
        raise ValueError(
            f"truth: case {cases[bad_partial[0]]!r} has weights for some lesions but not all"
        )
    if (w[given] <= 0).any():
        raise ValueError("truth: lesion weights must be > 0")
    w = np.where(given, w, 1.0 / n_les[lesion_case])
    wsum = np.bincount(lesion_case, weights=w, minlength=len(cases))
    off = abnormal & (np.abs(wsum - 1.0) > _WEIGHT_TOLERANCE)
    if off.any():
        k = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"truth: lesion weights of case {cases[k]!r} must sum to 1, found {wsum[k]:.6g}"
        )
    return w


def _prepare_truth(truth: pd.DataFrame) -> _Truth:
    t = _truth_frame(truth)
    cases = list(dict.fromkeys(t["case"]))
    case_index = {c: i for i, c in enumerate(cases)}
    les = t[t["truth"] == 1]
    if (les["lesion"] <= 0).any():
        c = les.loc[les["lesion"] <= 0, "case"].iloc[0]
        raise ValueError(
            f"truth: diseased case {c!r} must have lesion IDs > 0, found {les['lesion'].min()}"
        )
    dup = les.duplicated(["case", "lesion"])
    if dup.any():
        r = les[dup].iloc[0]
        raise ValueError(f"truth: lesion {r['lesion']} of case {r['case']!r} appears twice")
    abnormal = np.zeros(len(cases), dtype=bool)
    lesion_case = np.array([case_index[c] for c in les["case"]], dtype=np.intp)
    abnormal[lesion_case] = True
    w = _lesion_weights(les["weight"].to_numpy(dtype=np.float64), lesion_case, cases, abnormal)
    return _Truth(cases, case_index, abnormal, lesion_case, les["lesion"].to_numpy(), w)


def _marks_frame(marks: pd.DataFrame, tr: _Truth) -> tuple[pd.DataFrame, NDArray[np.intp]]:
    """The marks with checked columns, and the case index of every mark."""
    m = pd.DataFrame(
        {
            "reader": _as_id(marks["reader"]),
            "modality": _as_id(marks["modality"]),
            "case": _as_id(marks["case"]),
            "truth": _as_int(marks["truth"], "marks", "truth"),
            "lesion": _as_int(marks["lesion"], "marks", "lesion"),
            "score": pd.to_numeric(marks["score"], errors="coerce"),
        }
    )
    bad_score = ~np.isfinite(m["score"].to_numpy(dtype=np.float64))
    if bad_score.any():
        i = int(np.flatnonzero(bad_score)[0])
        raise ValueError(
            "marks: column 'score' must be finite numbers, found "
            f"{_show(marks['score'].iloc[i])} at row {i}"
        )
    unknown = ~m["case"].isin(tr.case_index)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ValueError(f"marks: case {m['case'].iloc[i]!r} at row {i} is not in the truth table")
    mc = m["case"].map(tr.case_index).to_numpy(dtype=np.intp)
    wrong_truth = m["truth"].to_numpy() != tr.abnormal[mc].astype(np.int64)
    if wrong_truth.any():
        i = int(np.flatnonzero(wrong_truth)[0])
        raise ValueError(
            f"marks: row {i} gives truth {m['truth'].iloc[i]} for case {m['case'].iloc[i]!r}, "
            f"the truth table says {int(tr.abnormal[mc[i]])}"
        )
    return m, mc


def _lesion_index(m: pd.DataFrame, mc: NDArray[np.intp], tr: _Truth) -> NDArray[np.intp]:
    """The truth-table index of the lesion each mark localizes (-1: a non-lesion mark)."""
    mark_les = m["lesion"].to_numpy()
    ll_rows = mark_les > 0
    lidx = np.full(len(m), -1, dtype=np.intp)
    if ll_rows.any():
        key_index = pd.MultiIndex.from_arrays([tr.lesion_case, tr.lesion_id])
        found = key_index.get_indexer(pd.MultiIndex.from_arrays([mc[ll_rows], mark_les[ll_rows]]))
        if (found < 0).any():
            row = int(np.flatnonzero(ll_rows)[np.flatnonzero(found < 0)[0]])
            raise ValueError(
                f"marks: row {row} marks lesion {mark_les[row]} of case {m['case'].iloc[row]!r}, "
                "which is not in the truth table"
            )
        lidx[ll_rows] = found
    if (mark_les < 0).any():
        i = int(np.flatnonzero(mark_les < 0)[0])
        raise ValueError(
            "marks: lesion must be 0 (non-lesion) or a lesion ID > 0, found "
            f"{mark_les[i]} at row {i}"
        )
    return lidx


def _prepare(marks: pd.DataFrame, truth: pd.DataFrame) -> _Prepared:
    _require_columns(marks, _MARK_COLUMNS, "marks")
    _require_columns(truth, _TRUTH_COLUMNS, "truth")
    tr = _prepare_truth(truth)
    m, mc = _marks_frame(marks, tr)
    lidx = _lesion_index(m, mc, tr)
    ll_rows = lidx >= 0
    modalities = list(dict.fromkeys(m["modality"]))
    readers = list(dict.fromkeys(m["reader"]))
    if not modalities:
        raise ValueError("marks: expected at least one mark, found none")
    mi = m["modality"].map({v: i for i, v in enumerate(modalities)}).to_numpy(dtype=np.intp)
    ri = m["reader"].map({v: i for i, v in enumerate(readers)}).to_numpy(dtype=np.intp)
    score = m["score"].to_numpy(dtype=np.float64)
    n_m, n_r, n_c, n_l = len(modalities), len(readers), len(tr.cases), tr.lesion_case.size
    nl_max = np.full(n_m * n_r * n_c, -np.inf)
    nl = ~ll_rows
    np.maximum.at(nl_max, (mi[nl] * n_r + ri[nl]) * n_c + mc[nl], score[nl])
    ll = np.full(n_m * n_r * n_l, -np.inf)
    # A lesion marked more than once keeps its highest rating (RJafroc stores one LL per lesion).
    np.maximum.at(ll, (mi[ll_rows] * n_r + ri[ll_rows]) * n_l + lidx[ll_rows], score[ll_rows])
    return _Prepared(
        modalities=modalities,
        readers=readers,
        cases=tr.cases,
        abnormal=tr.abnormal,
        lesion_case=tr.lesion_case,
        lesion_weight=tr.lesion_weight,
        nl_max=nl_max.reshape(n_m, n_r, n_c),
        ll=ll.reshape(n_m, n_r, n_l),
    )


def _fom_one(
    p: _Prepared, m: int, r: int, fom: str, jackknife: bool
) -> tuple[float, NDArray[np.float64] | None]:
    n_c = len(p.cases)
    nl = p.nl_max[m, r]
    normal = np.flatnonzero(~p.abnormal)
    allc = np.arange(n_c)
    if fom in ("wafroc", "afroc", "hr_auc"):
        neg_case = normal
    else:
        neg_case = allc
    if fom == "hr_auc":
        tp = np.full(n_c, -np.inf)
        np.maximum.at(tp, p.lesion_case, p.ll[m, r])
        tp = np.maximum(tp, nl)
        pos_case = np.flatnonzero(p.abnormal)
        pos_value = tp[pos_case]
        pos_weight = np.ones(pos_case.size)
        case_den = p.abnormal.astype(np.float64)
    else:
        pos_case = p.lesion_case
        pos_value = p.ll[m, r]
        if fom.startswith("w"):
            pos_weight = p.lesion_weight
            case_den = p.abnormal.astype(np.float64)
        else:
            pos_weight = np.ones(pos_case.size)
            case_den = np.bincount(pos_case, minlength=n_c).astype(np.float64)
    return wilcoxon_fom_jackknife(
        nl[neg_case],
        neg_case,
        pos_value,
        pos_weight,
        pos_case,
        case_den,
        n_c,
        jackknife=jackknife,
    )


def _check_fom(fom: str) -> str:
    if fom not in FROC_FOMS:
        raise ValueError(f"fom must be one of {FROC_FOMS}, got {fom!r}")
    return fom


@validate_params(
    {
        "fom": [Options(FROC_FOMS)],
    }
)
def froc_fom_arrays(marks: pd.DataFrame, truth: pd.DataFrame, *, fom: str = "wafroc") -> FomArrays:
    """FROC figure of merit per modality and reader, with its case jackknife.

    For the OR and DBM significance tests of :mod:`validation.stats.mrmc`: the
    FOM matrix and the leave-one-case-out pseudo-values' ingredients, computed in
    closed form (see the module docstring), over all cases, normal and abnormal.

    Parameters
    ----------
    marks : DataFrame
        One row per mark: ``reader, modality, case, truth, score, lesion``;
        ``lesion = 0`` is a non-lesion localization (NL), ``lesion > 0`` the ID of
        the lesion hit (LL). IDs are compared as strings. A lesion marked twice
        keeps its highest rating. Readers and modalities are fully crossed; a
        reader with no mark on a case simply has no row.
    truth : DataFrame
        One row per lesion: ``case, truth, lesion`` and optional ``weight``;
        a non-diseased case has one row with ``lesion = 0``. Missing weights (or
        all 0 in a case, the JAFROC convention) are equal (``1 / lesions``); given
        weights must be > 0 and sum to 1 per case (within 0.001).
    fom : {"wafroc", "afroc", "wafroc1", "afroc1", "hr_auc"}
        The figure of merit as RJafroc defines it (``wAFROC``, ``AFROC``,
        ``wAFROC1``, ``AFROC1``, ``HrAuc``).

    Returns
    -------
    FomArrays

    Raises
    ------
    UndefinedMetricError
        When the FOM, or the FOM with one case removed, has no normal (or
        contributing) case or no lesion.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.DataFrame({"case": [1, 2, 3, 4], "truth": [0, 0, 1, 1],
    ...                       "lesion": [0, 0, 1, 1], "weight": [None, None, 1.0, 1.0]})
    >>> marks = pd.DataFrame({"reader": [1, 1, 1], "modality": ["A"] * 3,
    ...                       "case": [1, 3, 4], "truth": [0, 1, 1],
    ...                       "score": [2.0, 3.0, 1.0], "lesion": [0, 1, 1]})
    >>> fa = froc_fom_arrays(marks, truth, fom="wafroc")
    >>> float(fa.fom[0, 0]), fa.jackknife[0, 0].tolist()
    (0.75, [1.0, 0.5, 0.5, 1.0])

    References
    ----------
    Chakraborty DP, Berbaum KS. Observer studies involving detection and
    localization: modeling, analysis, and validation. Med Phys 2004;31(8):2313-2330.
    doi:10.1118/1.1769352.
    Chakraborty DP. Observer Performance Methods for Diagnostic Imaging. CRC Press,
    2017. doi:10.1201/9781351228190. RJafroc ``UtilFigureOfMerit`` (GitHub
    dpc10ster/RJafroc).
    """
    p = _prepare(marks, truth)
    n_m, n_r, n_c = len(p.modalities), len(p.readers), len(p.cases)
    out = np.empty((n_m, n_r))
    jack = np.empty((n_m, n_r, n_c))
    for m in range(n_m):
        for r in range(n_r):
            value, jk = _fom_one(p, m, r, fom, True)
            out[m, r], jack[m, r] = value, required(jk, "the jackknife")
    return FomArrays(
        modalities=p.modalities,
        readers=p.readers,
        cases=p.cases,
        fom=out,
        jackknife=jack,
        fom_name=fom,
    )


@validate_params(
    {
        "fom": [Options(FROC_FOMS)],
    }
)
def froc_figure_of_merit(
    marks: pd.DataFrame, truth: pd.DataFrame, *, fom: str = "wafroc"
) -> pd.DataFrame:
    """FROC figure of merit of each modality and reader (RJafroc definitions).

    Parameters
    ----------
    marks, truth : DataFrame
        Tidy FROC data as for :func:`froc_fom_arrays`.
    fom : {"wafroc", "afroc", "wafroc1", "afroc1", "hr_auc"}
        ``wafroc``: lesion-weighted AFROC area, FPs from normal cases only (the
        recommended FOM); ``afroc``: unweighted; ``wafroc1``/``afroc1``: FPs
        from all cases; ``hr_auc``: highest-rating inferred ROC AUC.

    Returns
    -------
    DataFrame
        Columns ``modality, reader, fom``, one row per modality and reader.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.DataFrame({"case": [1, 2], "truth": [0, 1], "lesion": [0, 1],
    ...                       "weight": [None, 1.0]})
    >>> marks = pd.DataFrame({"reader": ["r1"], "modality": ["A"], "case": [2],
    ...                       "truth": [1], "score": [4.0], "lesion": [1]})
    >>> froc_figure_of_merit(marks, truth)
      modality reader  fom
    0        A     r1  1.0

    References
    ----------
    Chakraborty DP. Observer Performance Methods for Diagnostic Imaging. CRC Press,
    2017. doi:10.1201/9781351228190; RJafroc ``UtilFigureOfMerit``.
    """
    p = _prepare(marks, truth)
    rows = [
        {"modality": mod, "reader": rd, "fom": _fom_one(p, i, j, fom, False)[0]}
        for i, mod in enumerate(p.modalities)
        for j, rd in enumerate(p.readers)
    ]
    return pd.DataFrame(rows, columns=["modality", "reader", "fom"])

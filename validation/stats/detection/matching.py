"""Mark-to-lesion matching for detection endpoints: an explicit, frozen rule.

A *mark* is a detection (box ``x0, y0, x1, y1`` or point ``x, y``, optional ``z``)
with a score; a *lesion* is a truth object (box, centre + radius, or a label in a
mask). Which marks hit which lesions is decided by :class:`MatchingRule`; the
one-to-one assignment and the fate of marks that are not assigned are declared
there too, so two studies with the same rule count the same hits.

Every mark ends with one status:

``tp``
    assigned to a (non-ignored) lesion; the lesion's rating is the mark's score.
``double``
    hits only lesions already assigned to higher-scored marks (a second mark on
    a found lesion); counted as a false positive or dropped, as the rule says.
``ignored``
    not assigned and hits an ``ignore`` lesion: neither TP nor FP.
``fp``
    hits no lesion.

Both assignments are consistent across thresholds: the marks counted at a
threshold ``t`` are exactly those the same rule would count on the marks with
score ``>= t``, so one matching serves the whole FROC curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from validation.stats._checks import required
from validation.stats._results import ResultMixin

CRITERIA = ("iou", "center_in_box", "center_distance", "point_in_mask")
ASSIGNMENTS = ("greedy", "hungarian")
DOUBLE_POLICIES = ("fp", "ignore")
STATUSES = ("tp", "fp", "double", "ignored")


@dataclass(frozen=True)
class MatchingRule(ResultMixin):
    """How marks are matched to lesions (declare it in the protocol, before unblinding).

    Parameters
    ----------
    criterion : {"iou", "center_in_box", "center_distance", "point_in_mask"}
        When a mark *hits* a lesion:

        * ``iou``: box IoU ``>= iou_threshold`` (marks and lesions must be boxes;
          a lesion given as centre + radius is the box centre +- radius);
        * ``center_in_box``: the mark's centre lies inside the lesion box, bounds
          included (``x0 <= cx <= x1``);
        * ``center_distance``: Euclidean distance between the mark's and the
          lesion's centres ``< max_distance`` (strict), or ``< radius`` of each
          lesion when ``max_distance`` is None (LUNA16);
        * ``point_in_mask``: the mark's centre, rounded to the nearest pixel
          (``mask[round(y), round(x)]``, ``mask[round(z), round(y), round(x)]``
          in 3-D), carries the lesion's label in the case's label mask.
    iou_threshold : float, optional
        Required for ``iou``, in (0, 1].
    max_distance : float, optional
        For ``center_distance``, in the marks' coordinate units.
    assignment : {"greedy", "hungarian"}
        ``greedy``: marks in descending score (ties: input order) each take the
        best free lesion they hit (highest IoU, else nearest centre), as COCO
        does. ``hungarian``: the assignment maximising the number of matched
        marks at every threshold at once (max-weight matching with score-rank
        weights, ``scipy.optimize.linear_sum_assignment``; ties in lesion choice
        go to the better overlap).
    double_detections : {"fp", "ignore"}
        A mark whose lesions are all taken by higher-scored marks: counted as a
        false positive (``fp``, RJafroc/JAFROC convention) or dropped (``ignore``,
        CAMELYON16 convention).

    Notes
    -----
    Marks that are not assigned and hit a lesion flagged ``ignore`` are neither
    true nor false positives, and ignored lesions are not in the sensitivity
    denominator.

    Examples
    --------
    >>> rule = MatchingRule(criterion="iou", iou_threshold=0.3)
    >>> rule.to_dict()["assignment"]
    'greedy'
    """

    criterion: Literal["iou", "center_in_box", "center_distance", "point_in_mask"]
    iou_threshold: float | None = None
    max_distance: float | None = None
    assignment: Literal["greedy", "hungarian"] = "greedy"
    double_detections: Literal["fp", "ignore"] = "fp"

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(f"assignment must be one of {ASSIGNMENTS}, got {self.assignment!r}")
        if self.double_detections not in DOUBLE_POLICIES:
            raise ValueError(
                f"double_detections must be one of {DOUBLE_POLICIES}, "
                f"got {self.double_detections!r}"
            )
        if self.criterion == "iou":
            t = self.iou_threshold
            if t is None or not 0.0 < float(t) <= 1.0:
                raise ValueError(f"criterion 'iou' needs iou_threshold in (0, 1], got {t!r}")
        elif self.iou_threshold is not None:
            raise ValueError(
                f"iou_threshold is only used with criterion 'iou', got criterion {self.criterion!r}"
            )
        if self.criterion == "center_distance":
            r = self.max_distance
            if r is not None and not (np.isfinite(r) and float(r) > 0):
                raise ValueError(f"max_distance must be a positive number, got {r!r}")
        elif self.max_distance is not None:
            raise ValueError(
                "max_distance is only used with criterion 'center_distance', "
                f"got criterion {self.criterion!r}"
            )


@dataclass(frozen=True, eq=False)
class DetectionMatch(ResultMixin):
    """The outcome of matching marks to lesions, per mark and per lesion.

    Attributes
    ----------
    rule : MatchingRule
    cases : list of str
        All images (case IDs as strings), including those without marks or lesions.
    mark_case, mark_score, mark_status, mark_lesion : ndarray
        Per mark: case index, score, status (``tp, fp, double, ignored``) and the
        index of its assigned lesion (-1 if none); in input order.
    lesion_case, lesion_id, lesion_weight, lesion_ignore, lesion_score : ndarray
        Per lesion: case index, ID (string), relative weight (sums to 1 over the
        non-ignored lesions of a case), ignore flag and rating (the assigned
        mark's score, ``-inf`` when missed).
    """

    rule: MatchingRule
    cases: list[str]
    mark_case: NDArray[np.intp]
    mark_score: NDArray[np.float64]
    mark_status: NDArray[np.str_]
    mark_lesion: NDArray[np.intp]
    lesion_case: NDArray[np.intp]
    lesion_id: NDArray[np.str_]
    lesion_weight: NDArray[np.float64]
    lesion_ignore: NDArray[np.bool_]
    lesion_score: NDArray[np.float64]

    @property
    def counted_fp(self) -> NDArray[np.bool_]:
        """Marks that count as false positives under the rule."""
        fp = self.mark_status == "fp"
        if self.rule.double_detections == "fp":
            fp = fp | (self.mark_status == "double")
        return fp

    def marks_table(self) -> pd.DataFrame:
        """Per-mark table: ``case_id, score, status, lesion_id, counted_fp``."""
        les = np.where(self.mark_lesion >= 0, self.lesion_id[np.maximum(self.mark_lesion, 0)], "")
        return pd.DataFrame(
            {
                "case_id": np.asarray(self.cases, dtype=object)[self.mark_case],
                "score": self.mark_score,
                "status": self.mark_status,
                "lesion_id": les,
                "counted_fp": self.counted_fp,
            }
        )

    def lesions_table(self) -> pd.DataFrame:
        """Per-lesion table: ``case_id, lesion_id, weight, ignore, detected, score``."""
        return pd.DataFrame(
            {
                "case_id": np.asarray(self.cases, dtype=object)[self.lesion_case],
                "lesion_id": self.lesion_id,
                "weight": self.lesion_weight,
                "ignore": self.lesion_ignore,
                "detected": np.isfinite(self.lesion_score),
                "score": self.lesion_score,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: rule, counts, and the per-mark and per-lesion tables.

        Overrides the generic form: the arrays are written as two tables of records.
        """
        marks = self.marks_table()
        lesions = self.lesions_table().astype(object).to_dict(orient="records")
        for rec in lesions:  # a missed lesion has no rating: None, not -inf
            rec["score"] = float(rec["score"]) if np.isfinite(rec["score"]) else None
        return {
            "rule": self.rule.to_dict(),
            "counts": self.counts(),
            "marks": marks.astype(object).to_dict(orient="records"),
            "lesions": lesions,
        }

    def counts(self) -> dict[str, int]:
        """Numbers of images, lesions and marks by status."""
        st = self.mark_status
        return {
            "n_images": len(self.cases),
            "n_lesions": int((~self.lesion_ignore).sum()),
            "n_ignored_lesions": int(self.lesion_ignore.sum()),
            "n_marks": int(st.size),
            "n_tp": int((st == "tp").sum()),
            "n_fp": int((st == "fp").sum()),
            "n_double": int((st == "double").sum()),
            "n_ignored_marks": int((st == "ignored").sum()),
        }


# ----------------------------------------------------------------------------- input


def _show(value: Any) -> str:
    """repr of a cell value, numpy scalars shown as Python values (``nan``, ``2``)."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return repr(value)


def _ids(values: Any) -> NDArray[np.object_]:
    def conv(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return np.array([conv(v) for v in values], dtype=object)


def _num(df: pd.DataFrame, col: str, what: str) -> NDArray[np.float64]:
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what}: column {col!r} must be finite numbers, "
            f"found {_show(df[col].iloc[i])} at row {i}"
        )
    return v


def _geometry(
    df: pd.DataFrame, what: str, *, allow_radius: bool
) -> tuple[str, NDArray[np.float64] | None, NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """Return (kind, lo (n, d), hi (n, d), radius) with kind in box, point, centre_radius, none."""
    cols = set(df.columns)
    if {"x0", "y0", "x1", "y1"} <= cols:
        axes = ["x", "y", "z"] if {"z0", "z1"} <= cols else ["x", "y"]
        lo = (
            np.column_stack([_num(df, f"{a}0", what) for a in axes])
            if len(df)
            else np.empty((0, len(axes)))
        )
        hi = (
            np.column_stack([_num(df, f"{a}1", what) for a in axes])
            if len(df)
            else np.empty((0, len(axes)))
        )
        bad = (hi < lo).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{what}: row {i} has a box with x1 < x0, y1 < y0 or z1 < z0")
        radius = _num(df, "radius", what) if "radius" in cols else None
        return "box", lo, hi, radius
    if {"x", "y"} <= cols:
        axes = ["x", "y", "z"] if "z" in cols else ["x", "y"]
        c = (
            np.column_stack([_num(df, a, what) for a in axes])
            if len(df)
            else np.empty((0, len(axes)))
        )
        if allow_radius and "radius" in cols:
            r = _num(df, "radius", what)
            if (r <= 0).any():
                i = int(np.flatnonzero(r <= 0)[0])
                raise ValueError(
                    f"{what}: column 'radius' must be > 0, found {_show(r[i])} at row {i}"
                )
            return "centre_radius", c - r[:, None], c + r[:, None], r
        return "point", c, c, None
    return "none", None, None, None


def _prepare_truth(
    truth: pd.DataFrame, case_index: Mapping[str, int]
) -> tuple[pd.DataFrame, NDArray[np.intp], NDArray[np.float64], NDArray[np.bool_]]:
    if not isinstance(truth, pd.DataFrame):
        raise TypeError(f"truth must be a pandas DataFrame, got {type(truth).__name__}")
    missing = [c for c in ("case_id", "lesion_id") if c not in truth.columns]
    if missing:
        raise ValueError(
            f"truth must have columns case_id, lesion_id; missing {missing}, "
            f"found {list(truth.columns)}"
        )
    cid = _ids(truth["case_id"])
    unknown = [i for i, c in enumerate(cid) if c not in case_index]
    if unknown:
        raise ValueError(f"truth: case_id {cid[unknown[0]]!r} at row {unknown[0]} is not in cases")
    lcase = np.array([case_index[c] for c in cid], dtype=np.intp)
    lid = _ids(truth["lesion_id"])
    key = pd.Series([f"{a}\x00{b}" for a, b in zip(cid, lid, strict=True)])
    if key.duplicated().any():
        i = int(np.flatnonzero(key.duplicated().to_numpy())[0])
        raise ValueError(f"truth: lesion_id {lid[i]!r} of case {cid[i]!r} appears twice (row {i})")
    if "ignore" in truth.columns:
        ig_raw = truth["ignore"]
        ig_num = pd.to_numeric(ig_raw.map(lambda v: {True: 1, False: 0}.get(v, v)), errors="coerce")
        bad = ~ig_num.isin([0, 1])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                "truth: column 'ignore' must be 0/1 or true/false, "
                f"found {_show(ig_raw.iloc[i])} at row {i}"
            )
        ignore = ig_num.to_numpy().astype(bool)
    else:
        ignore = np.zeros(len(truth), dtype=bool)
    n_cases = len(case_index)
    counted = (~ignore).astype(np.float64)
    if "weight" in truth.columns:
        w = pd.to_numeric(truth["weight"], errors="coerce").to_numpy(dtype=np.float64)
        # a case with no weight at all (empty cells) gets equal weights
        given = np.bincount(
            lcase, weights=(~np.isnan(w) & ~ignore).astype(np.float64), minlength=n_cases
        )
        w = np.where(given[lcase] == 0, 1.0, w)
        bad = ~ignore & ~(np.isfinite(w) & (w > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                "truth: column 'weight' must be a number > 0, "
                f"found {_show(truth['weight'].iloc[i])} at row {i}"
            )
        w = np.where(ignore, 0.0, w)
    else:
        w = counted.copy()
    wsum = np.bincount(lcase, weights=w, minlength=n_cases)
    weight = np.where(ignore, 0.0, w / np.where(wsum[lcase] > 0, wsum[lcase], 1.0))
    return pd.DataFrame({"case_id": cid, "lesion_id": lid}), lcase, weight, ignore


# -------------------------------------------------------------------------- matching


def _pairs(
    mark_case: NDArray[np.intp], lesion_case: NDArray[np.intp]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """All (mark, lesion) index pairs on the same case."""
    m = pd.DataFrame({"c": mark_case, "mi": np.arange(mark_case.size)})
    lf = pd.DataFrame({"c": lesion_case, "li": np.arange(lesion_case.size)})
    p = m.merge(lf, on="c", how="inner", sort=False)
    return p["mi"].to_numpy(dtype=np.intp), p["li"].to_numpy(dtype=np.intp)


def _hits(
    rule: MatchingRule,
    marks: pd.DataFrame,
    truth: pd.DataFrame,
    mark_case: NDArray[np.intp],
    lesion_case: NDArray[np.intp],
    cases: list[str],
    lesion_masks: Mapping[Any, Any] | None,
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """Hit pairs (mark, lesion) and their quality in [0, 1] (higher is better)."""
    mkind, mlo, mhi, _ = _geometry(marks, "marks", allow_radius=False)
    if mkind == "none" or mlo is None or mhi is None:
        raise ValueError(
            "marks must have box columns x0, y0, x1, y1 or point columns x, y; "
            f"found {list(marks.columns)}"
        )
    centre = (mlo + mhi) / 2.0
    if rule.criterion == "point_in_mask":
        if lesion_masks is None:
            raise ValueError(
                "criterion 'point_in_mask' needs lesion_masks (case_id -> label array)"
            )
        return _mask_hits(centre, mark_case, truth, lesion_case, cases, lesion_masks)
    tkind, tlo, thi, trad = _geometry(truth, "truth", allow_radius=True)
    if tkind == "none" or tlo is None or thi is None:
        raise ValueError(
            f"criterion {rule.criterion!r} needs lesion geometry in truth: box columns "
            f"x0, y0, x1, y1 or centre columns x, y (+ radius); found {list(truth.columns)}"
        )
    if tlo.shape[1] != mlo.shape[1]:
        raise ValueError(
            f"marks have {mlo.shape[1]} coordinates and truth has {tlo.shape[1]}; "
            "both must be 2-D or 3-D"
        )
    mi, li = _pairs(mark_case, lesion_case)
    if rule.criterion == "iou":
        if mkind != "box":
            raise ValueError("criterion 'iou' needs box marks (x0, y0, x1, y1), got points")
        if tkind == "point":
            raise ValueError(
                "criterion 'iou' needs lesion boxes or centre + radius in truth, got points"
            )
        inter = np.prod(
            np.clip(np.minimum(mhi[mi], thi[li]) - np.maximum(mlo[mi], tlo[li]), 0.0, None), axis=1
        )
        union = np.prod(mhi[mi] - mlo[mi], axis=1) + np.prod(thi[li] - tlo[li], axis=1) - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        hit = iou >= required(rule.iou_threshold, "iou_threshold")
        quality = iou
    elif rule.criterion == "center_in_box":
        if tkind == "point":
            raise ValueError(
                "criterion 'center_in_box' needs lesion boxes or centre + radius in truth, "
                "got points"
            )
        c = centre[mi]
        hit = ((c >= tlo[li]) & (c <= thi[li])).all(axis=1)
        d = np.linalg.norm(c - (tlo[li] + thi[li]) / 2.0, axis=1)
        quality = 1.0 / (1.0 + d)
    else:  # center_distance
        d = np.linalg.norm(centre[mi] - (tlo[li] + thi[li]) / 2.0, axis=1)
        if rule.max_distance is not None:
            r = np.full(d.shape, float(rule.max_distance))
        elif trad is not None:
            r = trad[li]
        else:
            raise ValueError(
                "criterion 'center_distance' needs max_distance in the rule or a 'radius' "
                "column in truth"
            )
        hit = d < r
        quality = 1.0 - d / r
    return mi[hit], li[hit], np.clip(quality[hit], 0.0, 1.0)


def _mask_hits(
    centre: NDArray[np.float64],
    mark_case: NDArray[np.intp],
    truth: pd.DataFrame,
    lesion_case: NDArray[np.intp],
    cases: list[str],
    lesion_masks: Mapping[Any, Any],
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    masks = {str(k): v for k, v in lesion_masks.items()}
    lid = _ids(truth["lesion_id"])
    lookup: dict[tuple[int, int], int] = {}
    for j, (c, lab) in enumerate(zip(lesion_case, lid, strict=True)):
        try:
            label = int(lab)
        except ValueError:
            raise ValueError(
                f"truth: with lesion_masks the lesion_id must be the integer label, found {lab!r}"
            ) from None
        lookup[(int(c), label)] = j
    out_m: list[int] = []
    out_l: list[int] = []
    for i in range(mark_case.size):
        arr = masks.get(cases[mark_case[i]])
        if arr is None:
            continue
        a = np.asarray(arr)
        if a.ndim != centre.shape[1]:
            raise ValueError(
                f"lesion_masks[{cases[mark_case[i]]!r}] has {a.ndim} dimensions, "
                f"the marks have {centre.shape[1]} coordinates"
            )
        idx = np.floor(centre[i][::-1] + 0.5).astype(np.int64)  # (z,) y, x order
        if (idx < 0).any() or (idx >= np.array(a.shape)).any():
            continue
        lab = int(a[tuple(idx)])
        hit = lookup.get((int(mark_case[i]), lab)) if lab != 0 else None
        if hit is not None:
            out_m.append(i)
            out_l.append(hit)
    return np.array(out_m, dtype=np.intp), np.array(out_l, dtype=np.intp), np.ones(len(out_m))


def _assign(
    rule: MatchingRule,
    score: NDArray[np.float64],
    mi: NDArray[np.intp],
    li: NDArray[np.intp],
    quality: NDArray[np.float64],
    lesion_ignore: NDArray[np.bool_],
    n_marks: int,
    n_lesions: int,
) -> tuple[NDArray[np.str_], NDArray[np.intp]]:
    # mark order: descending score, ties by input order
    rank = np.empty(n_marks, dtype=np.int64)
    rank[np.lexsort((np.arange(n_marks), -score))] = np.arange(n_marks)
    real = ~lesion_ignore[li]
    rm, rl, rq = mi[real], li[real], quality[real]
    mark_lesion = np.full(n_marks, -1, dtype=np.intp)
    if rm.size:
        if rule.assignment == "greedy":
            order = np.lexsort((rl, -rq, rank[rm]))
            taken = np.zeros(n_lesions, dtype=bool)
            for m, les in zip(rm[order].tolist(), rl[order].tolist(), strict=True):
                if mark_lesion[m] < 0 and not taken[les]:
                    mark_lesion[m] = les
                    taken[les] = True
        else:
            _hungarian(rm, rl, rq, rank, mark_lesion)
    hits_real = np.zeros(n_marks, dtype=bool)
    hits_real[rm] = True
    hits_ignored = np.zeros(n_marks, dtype=bool)
    hits_ignored[mi[~real]] = True
    status = np.full(n_marks, "fp", dtype="<U7")
    status[hits_real] = "double"
    status[hits_ignored] = "ignored"
    status[mark_lesion >= 0] = "tp"
    return status, mark_lesion


def _hungarian(
    rm: NDArray[np.intp],
    rl: NDArray[np.intp],
    rq: NDArray[np.float64],
    rank: NDArray[np.int64],
    mark_lesion: NDArray[np.intp],
) -> None:
    """Max-weight matching per connected case, weights = score rank (+ overlap tie-break).

    Vertex weights on marks that are distinct and positive make the optimum the
    matroid-greedy set, which is a maximum matching among the marks above every
    threshold (Edmonds 1971); the overlap term (< 1 in total) only picks lesions.
    """
    df = pd.DataFrame({"m": rm, "l": rl, "q": rq})
    for _, g in df.groupby(_component(rm, rl), sort=False):
        marks_u, mloc = np.unique(g["m"].to_numpy(), return_inverse=True)
        les_u, lloc = np.unique(g["l"].to_numpy(), return_inverse=True)
        k = min(marks_u.size, les_u.size)
        # larger weight for higher-scored marks: rank 0 is the highest score
        mw = (rank.max() + 1 - rank[marks_u]).astype(np.float64)
        val = np.zeros((marks_u.size, les_u.size))
        val[mloc, lloc] = mw[mloc] + g["q"].to_numpy() / (k + 1.0)
        r_idx, c_idx = linear_sum_assignment(val, maximize=True)
        ok = val[r_idx, c_idx] > 0
        mark_lesion[marks_u[r_idx[ok]]] = les_u[c_idx[ok]]


def _component(rm: NDArray[np.intp], rl: NDArray[np.intp]) -> NDArray[np.intp]:
    """Connected-component label of each pair in the mark-lesion hit graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    mu, mloc = np.unique(rm, return_inverse=True)
    lu, lloc = np.unique(rl, return_inverse=True)
    n = mu.size + lu.size
    g = coo_matrix((np.ones(rm.size), (mloc, mu.size + lloc)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return np.asarray(labels[mloc], dtype=np.intp)


def match_detections(
    marks: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    cases: Sequence[Any],
    rule: MatchingRule,
    lesion_masks: Mapping[Any, Any] | None = None,
) -> DetectionMatch:
    """Match detection marks to lesions under an explicit rule.

    Parameters
    ----------
    marks : DataFrame
        One row per mark: ``case_id, score`` and a box ``x0, y0, x1, y1`` (plus
        ``z0, z1`` in 3-D) or a point ``x, y`` (plus ``z``).
    truth : DataFrame
        One row per lesion: ``case_id, lesion_id`` and a box ``x0, y0, x1, y1``
        (``z0, z1``), or a centre ``x, y`` (``z``) with ``radius``; optional
        ``weight`` (relative, normalised within each case; equal when absent or
        empty for the whole case) and
        ``ignore`` (0/1: a lesion whose marks are neither TP nor FP and which is not
        in the sensitivity denominator). With ``lesion_masks`` only ``case_id,
        lesion_id`` are needed and ``lesion_id`` is the label value.
    cases : sequence
        Every image of the test set (the FP-per-image denominator), including
        images with no mark and no lesion. IDs are compared as strings.
    rule : MatchingRule
    lesion_masks : mapping, optional
        ``case_id -> integer label array`` (``[y, x]`` or ``[z, y, x]``) for
        ``point_in_mask``.

    Returns
    -------
    DetectionMatch

    Examples
    --------
    >>> import pandas as pd
    >>> marks = pd.DataFrame({"case_id": ["a", "a", "b"], "x0": [0, 20, 5],
    ...     "y0": [0, 20, 5], "x1": [10, 30, 9], "y1": [10, 30, 9], "score": [0.9, 0.8, 0.4]})
    >>> truth = pd.DataFrame({"case_id": ["a"], "lesion_id": [1],
    ...     "x0": [1], "y0": [1], "x1": [11], "y1": [11]})
    >>> m = match_detections(marks, truth, cases=["a", "b"],
    ...                      rule=MatchingRule("iou", iou_threshold=0.5))
    >>> m.mark_status.tolist()
    ['tp', 'fp', 'fp']

    References
    ----------
    Chakraborty DP. Observer Performance Methods for Diagnostic Imaging. CRC Press,
    2017 (proximity criterion, LL/NL marks). doi:10.1201/9781351228190.
    Setio AAA et al. Validation, comparison, and combination of algorithms for
    automatic detection of pulmonary nodules in CT images: the LUNA16 challenge.
    Med Image Anal 2017;42:1-13. doi:10.1016/j.media.2017.06.015.
    Edmonds J. Matroids and the greedy algorithm. Math Program 1971;1:127-136.
    """
    if not isinstance(rule, MatchingRule):
        raise TypeError(f"rule must be a MatchingRule, got {type(rule).__name__}")
    if not isinstance(marks, pd.DataFrame):
        raise TypeError(f"marks must be a pandas DataFrame, got {type(marks).__name__}")
    for col in ("case_id", "score"):
        if col not in marks.columns:
            raise ValueError(f"marks must have a column {col!r}; found {list(marks.columns)}")
    case_list = list(_ids(list(cases)))
    if not case_list:
        raise ValueError("cases must list at least one image, got none")
    if len(set(case_list)) != len(case_list):
        dup = pd.Series(case_list)[pd.Series(case_list).duplicated()].iloc[0]
        raise ValueError(f"cases must be unique, {dup!r} appears twice")
    case_index = {c: i for i, c in enumerate(case_list)}
    mcid = _ids(marks["case_id"])
    unknown = [i for i, c in enumerate(mcid) if c not in case_index]
    if unknown:
        raise ValueError(f"marks: case_id {mcid[unknown[0]]!r} at row {unknown[0]} is not in cases")
    mark_case = np.array([case_index[c] for c in mcid], dtype=np.intp)
    score = _num(marks, "score", "marks")
    ttab, lesion_case, weight, ignore = _prepare_truth(truth, case_index)
    mi, li, q = _hits(
        rule,
        marks.reset_index(drop=True),
        truth.reset_index(drop=True),
        mark_case,
        lesion_case,
        case_list,
        lesion_masks,
    )
    status, mark_lesion = _assign(rule, score, mi, li, q, ignore, score.size, lesion_case.size)
    lesion_score = np.full(lesion_case.size, -np.inf)
    tp = mark_lesion >= 0
    lesion_score[mark_lesion[tp]] = score[tp]
    return DetectionMatch(
        rule=rule,
        cases=case_list,
        mark_case=mark_case,
        mark_score=score,
        mark_status=status,
        mark_lesion=mark_lesion,
        lesion_case=lesion_case,
        lesion_id=np.asarray(ttab["lesion_id"].to_numpy(), dtype=str),
        lesion_weight=weight,
        lesion_ignore=ignore,
        lesion_score=lesion_score,
    )

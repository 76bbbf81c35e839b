"""Subgroups: attributes, age bands, partitions of the cases, intersections, units.

The group side of :func:`validation.stats.subgroups.subgroup_table` (in the spirit of
fairlearn's ``metrics/_group_feature.py``): each attribute column becomes a label per case
with a display order, numeric ages become right-open bands, declared intersections become
partitions of their own, and every group of every partition (after the overall
population) becomes one *unit* of the analysis with its case counts.

:func:`age_bands` and :func:`age_band_labels` are the one banding of ages in radval:
bands are right-open ``[b_i, b_{i+1})`` and integer edges are labelled ``"40-49"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from validation.stats._params import validate_params

__all__ = ["AGE_BAND", "INTERSECTION_SEP", "UNKNOWN", "age_band_labels", "age_bands"]

#: The group of cases whose attribute value is missing (never dropped).
UNKNOWN = "unknown"
#: Joins attribute names (``"sex & site"``) and group labels (``"F & A"``) of intersections.
INTERSECTION_SEP = " & "
#: The attribute derived from the numeric age column by the declared age bands.
AGE_BAND = "age_band"


# ---------------------------------------------------------------------------- age bands


def format_edge(x: float) -> str:
    """An age-band edge as written in labels and settings: ``"40"``, ``"40.5"``, ``"inf"``."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def check_age_bins(age_bins: Sequence[float]) -> list[float]:
    """Return the band edges as floats after checking they are strictly increasing."""
    try:
        edges = [float(b) for b in age_bins]
    except (TypeError, ValueError):
        raise ValueError(
            f"age_bins must be a sequence of numbers (band edges), got {age_bins!r}"
        ) from None
    if len(edges) < 2:
        raise ValueError(f"age_bins must have at least 2 edges, got {len(edges)}")
    if any(math.isnan(e) for e in edges) or any(
        b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)
    ):
        raise ValueError(f"age_bins must be strictly increasing, got {list(age_bins)!r}")
    if math.isinf(edges[0]) and edges[0] > 0:
        raise ValueError(f"age_bins must start below +inf, got {list(age_bins)!r}")
    return edges


def age_band_labels(age_bins: Sequence[float]) -> list[str]:
    """Labels of the right-open age bands ``[b_i, b_{i+1})`` for declared edges.

    Integer edges give ``"40-49"`` (``[40, 50)``); an infinite last edge gives
    ``"80+"``; non-integer edges give ``"[40.5, 50)"``.

    Examples
    --------
    >>> age_band_labels([0, 40, 50, 65, float("inf")])
    ['0-39', '40-49', '50-64', '65+']
    """
    edges = check_age_bins(age_bins)
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if math.isinf(hi) and float(lo).is_integer():
            labels.append(f"{int(lo)}+")
        elif float(lo).is_integer() and float(hi).is_integer():
            labels.append(f"{int(lo)}-{int(hi) - 1}")
        else:
            labels.append(f"[{format_edge(lo)}, {format_edge(hi)})")
    return labels


@validate_params({"outside": [str, None]})
def age_bands(
    ages: ArrayLike, age_bins: Sequence[float], *, outside: str | None = None
) -> NDArray[np.object_]:
    """The age band of every case: right-open bands ``[b_i, b_{i+1})``.

    The one banding function of radval: :func:`subgroup_table` and the study runner use
    it, so that a band has the same label everywhere (those of :func:`age_band_labels`).

    Parameters
    ----------
    ages : array-like of float
        One age per case; NaN (or None) is a missing age.
    age_bins : sequence of float
        Strictly increasing band edges; the last may be ``inf``.
    outside : str, optional
        Label for an age outside ``[age_bins[0], age_bins[-1])``; by default such an age
        is an error.

    Returns
    -------
    ndarray of str (object)
        The band label of each case; ``"unknown"`` where the age is missing.

    Raises
    ------
    ValueError
        Edges not strictly increasing, a value that is not a number, or an age outside
        the bands (unless ``outside`` names a label), with the row (0-based).

    Examples
    --------
    >>> age_bands([39, 40, 64.5, None, 80], [0, 40, 65, float("inf")]).tolist()
    ['0-39', '40-64', '40-64', 'unknown', '65+']
    """
    edges = check_age_bins(age_bins)
    names = age_band_labels(edges)
    try:
        v = np.asarray(pd.to_numeric(pd.Series(ages, dtype=object)), dtype=np.float64)
    except (TypeError, ValueError):
        raw = pd.Series(ages, dtype=object)
        bad = pd.to_numeric(raw, errors="coerce").isna().to_numpy() & ~raw.isna().to_numpy()
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"ages must be numbers to derive age bands, found {raw.iloc[i]!r} at row {i}"
        ) from None
    if v.ndim != 1:
        raise ValueError(f"ages must be 1-D, got shape {v.shape}")
    missing = np.isnan(v)
    out = ~missing & ((v < edges[0]) | (v >= edges[-1]))
    if out.any() and outside is None:
        i = int(np.flatnonzero(out)[0])
        raise ValueError(
            f"age {format_edge(v[i])} at row {i} lies outside the declared age_bins "
            f"[{format_edge(edges[0])}, {format_edge(edges[-1])})"
        )
    inside = ~missing & ~out
    idx = np.searchsorted(np.asarray(edges), np.where(inside, v, edges[0]), side="right") - 1
    labels = np.asarray(names, dtype=object)[idx]
    labels[missing] = UNKNOWN
    labels[out] = outside
    return labels


# --------------------------------------------------------------------------- attributes


@dataclass
class Attribute:
    """One attribute: a group label per case and the display order of the groups."""

    name: str
    labels: NDArray[np.object_]  # one label per case
    order: list[str]  # display order of the groups


def _value_label(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _with_unknown_last(order: list[str], labels: NDArray[np.object_]) -> list[str]:
    seen = set(labels.tolist())
    out = [c for c in dict.fromkeys(order) if c in seen and c != UNKNOWN]
    if UNKNOWN in seen:
        out.append(UNKNOWN)
    return out


def _categorical(name: str, col: pd.Series) -> Attribute:
    missing = col.isna().to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [_value_label(c) for c in col.cat.categories]
        raw = col.astype(object)
    else:
        raw = col.astype(object)
        present = pd.unique(raw[~missing])
        try:
            present = sorted(present)
        except TypeError:
            present = sorted(present, key=str)
        cats = [_value_label(c) for c in present]
    labels = np.array(
        [UNKNOWN if m else _value_label(v) for v, m in zip(raw, missing, strict=True)], dtype=object
    )
    return Attribute(name, labels, _with_unknown_last(cats, labels))


def _age_attribute(col: pd.Series, age_bins: Sequence[float], column: str) -> Attribute:
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna().to_numpy() & ~col.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"groups column {column!r} must be numeric to derive age bands, "
            f"found {col.iloc[i]!r} at row {i}"
        )
    labels = age_bands(values.to_numpy(dtype=np.float64), age_bins)
    return Attribute(AGE_BAND, labels, _with_unknown_last(age_band_labels(age_bins), labels))


def prepare_attributes(
    groups: Any, n: int, age_bins: Sequence[float] | None, age_column: str
) -> dict[str, Attribute]:
    """Every column of ``groups`` as an :class:`Attribute` (``age_column`` banded)."""
    if not isinstance(groups, pd.DataFrame):
        raise ValueError(
            "groups must be a pandas DataFrame of attribute columns (one row per case), "
            f"got {type(groups).__name__}"
        )
    if len(groups) != n:
        raise ValueError(
            f"groups has {len(groups)} rows but y_true has {n} cases; expected one row per case"
        )
    if groups.shape[1] == 0:
        raise ValueError("groups has no attribute columns")
    if age_bins is not None:
        check_age_bins(age_bins)
    attrs: dict[str, Attribute] = {}
    for col in groups.columns:
        name = str(col)
        series = groups[col].reset_index(drop=True)
        if name == age_column:
            if age_bins is None:
                if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                    raise ValueError(
                        f"groups column {name!r} is numeric; declare age_bins "
                        "(e.g. [0, 40, 50, 60, 70, inf]) to derive age bands"
                    )
                attrs[name] = _categorical(name, series)
            else:
                attrs[AGE_BAND] = _age_attribute(series, age_bins, name)
            continue
        if name in attrs:
            raise ValueError(f"groups has two columns named {name!r}")
        attrs[name] = _categorical(name, series)
    if age_bins is not None and AGE_BAND not in attrs:
        raise ValueError(
            f"age_bins were declared but groups has no {age_column!r} column; "
            f"columns: {', '.join(map(str, groups.columns))}"
        )
    return attrs


def analysed_name(name: Any, attrs: Mapping[str, Attribute], age_column: str) -> str:
    """The analysed attribute a declared name refers to (the age column means its bands)."""
    return AGE_BAND if (name == age_column and AGE_BAND in attrs) else str(name)


# --------------------------------------------------------------------------- partitions


@dataclass
class Partition:
    """An attribute or an intersection: a group code per case and the groups in order."""

    name: str
    members: tuple[str, ...]
    order: list[str]
    codes: NDArray[np.intp]
    labels: NDArray[np.object_]


def _intersection_names(
    inter: Sequence[str], attrs: Mapping[str, Attribute], age_column: str
) -> tuple[str, ...]:
    if isinstance(inter, str):
        raise ValueError(f"each intersection must be a sequence of attribute names, got {inter!r}")
    names = tuple(analysed_name(x, attrs, age_column) for x in inter)
    if len(names) < 2:
        raise ValueError(f"intersection {tuple(inter)!r} must name at least two attributes")
    if len(set(names)) != len(names):
        raise ValueError(f"intersection {tuple(inter)!r} names an attribute twice")
    for x in names:
        if x not in attrs:
            raise ValueError(
                f"intersection {tuple(inter)!r} names unknown attribute {x!r}; "
                f"attributes: {', '.join(attrs)}"
            )
    return names


def _intersection(name: str, names: tuple[str, ...], comps: list[Attribute]) -> Partition:
    mult = 1
    key = np.zeros(len(comps[0].labels), dtype=np.int64)
    for a in reversed(comps):
        lookup = {g: i for i, g in enumerate(a.order)}
        key += mult * np.fromiter(
            (lookup[x] for x in a.labels), dtype=np.int64, count=len(a.labels)
        )
        mult *= len(a.order)
    uniq, codes = np.unique(key, return_inverse=True)
    order = []
    for k in uniq:
        rem = int(k)
        parts_lab = []
        for a in reversed(comps):
            parts_lab.append(a.order[rem % len(a.order)])
            rem //= len(a.order)
        order.append(INTERSECTION_SEP.join(reversed(parts_lab)))
    labels = np.asarray(order, dtype=object)[codes]
    return Partition(name, names, order, codes.astype(np.intp), labels)


def make_partitions(
    attrs: Mapping[str, Attribute], intersections: Sequence[Sequence[str]], age_column: str
) -> list[Partition]:
    """One partition per attribute, then one per declared intersection."""
    parts: list[Partition] = []
    for a in attrs.values():
        lookup = {g: i for i, g in enumerate(a.order)}
        codes = np.fromiter((lookup[x] for x in a.labels), dtype=np.intp, count=len(a.labels))
        parts.append(Partition(a.name, (a.name,), a.order, codes, a.labels))
    seen = {p.name for p in parts}
    for inter in intersections:
        names = _intersection_names(inter, attrs, age_column)
        name = INTERSECTION_SEP.join(names)
        if name in seen:
            raise ValueError(f"intersection {name!r} is declared twice")
        seen.add(name)
        parts.append(_intersection(name, names, [attrs[x] for x in names]))
    return parts


def resolve_prespecified(
    prespecified: Sequence[str | Sequence[str]],
    attrs: Mapping[str, Attribute],
    parts: Sequence[Partition],
    age_column: str,
) -> set[str]:
    """The analysed partitions declared before the data were seen."""
    part_names = [p.name for p in parts]
    pre = set()
    for item in prespecified:
        nm = (
            item
            if isinstance(item, str)
            else INTERSECTION_SEP.join(analysed_name(x, attrs, age_column) for x in item)
        )
        nm = analysed_name(nm, attrs, age_column)
        if nm not in part_names:
            raise ValueError(
                f"prespecified names {nm!r}, which is not an analysed attribute; "
                f"analysed: {', '.join(part_names)}"
            )
        pre.add(nm)
    return pre


def resolve_reference(
    reference: Mapping[str, str] | None,
    attrs: Mapping[str, Attribute],
    parts: Sequence[Partition],
    age_column: str,
) -> dict[str, str]:
    """The declared reference group of each partition (absent: the rest of the cases)."""
    part_names = [p.name for p in parts]
    refs: dict[str, str] = {}
    for attr, grp in (reference or {}).items():
        nm = analysed_name(attr, attrs, age_column)
        match = [p for p in parts if p.name == nm]
        if not match:
            raise ValueError(
                f"reference names attribute {attr!r}, which is not analysed; "
                f"analysed: {', '.join(part_names)}"
            )
        if str(grp) not in match[0].order:
            raise ValueError(
                f"reference group {grp!r} for attribute {attr!r} does not occur; "
                f"groups: {', '.join(match[0].order)}"
            )
        refs[nm] = str(grp)
    return refs


# -------------------------------------------------------------------------------- units


def _cells(
    codes: NDArray[np.intp], y: NDArray[np.int8], pred: NDArray[np.int8] | None
) -> tuple[NDArray[np.intp], NDArray[np.int8], NDArray[np.int8], NDArray[np.float64]]:
    """Collapse cases to distinct (group, truth, call) cells with their case counts.

    fairlearn's ``MetricFrame`` converts its columns element by element in every
    metric call (about 1 s per frame at 20,000 cases in fairlearn 0.15), so it is
    fed these cells, at most ``4 k`` rows, with the counts as ``sample_weight``:
    every count and rate it computes is then exactly the case-level one.
    """
    p = np.zeros_like(y) if pred is None else pred
    key = (codes.astype(np.int64) * 2 + y) * 2 + p
    uniq, cnt = np.unique(key, return_counts=True)
    return (
        (uniq // 4).astype(np.intp),
        ((uniq // 2) % 2).astype(np.int8),
        (uniq % 2).astype(np.int8),
        cnt.astype(np.float64),
    )


def _w_n(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    return float(np.sum(sample_weight))


def _w_pos(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    return float(np.sum(np.asarray(sample_weight)[np.asarray(y_true) == 1]))


def _w_neg(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    return float(np.sum(np.asarray(sample_weight)[np.asarray(y_true) == 0]))


def group_counts(part: Partition, y: NDArray[np.int8]) -> pd.DataFrame:
    """n, n_pos, n_neg per group of ``part``, disaggregated by fairlearn's MetricFrame."""
    from fairlearn.metrics import MetricFrame

    code, yt, _, w = _cells(part.codes, y, None)
    funcs = {"n": _w_n, "n_pos": _w_pos, "n_neg": _w_neg}
    mf = MetricFrame(
        metrics=funcs,
        y_true=yt,
        y_pred=yt,
        sensitive_features=pd.Series(np.asarray(part.order, dtype=object)[code], name=part.name),
        sample_params={k: {"sample_weight": w} for k in funcs},
    )
    by = mf.by_group
    by.index = [str(i) for i in by.index]
    return by.reindex(part.order).round().astype(np.int64)


@dataclass(frozen=True)
class Units:
    """The units of a subgroup analysis: the overall population, then every group.

    Unit 0 is ``("overall", "all")``; the groups of partition ``k`` are the units
    ``offsets[k] ... offsets[k] + len(parts[k].order) - 1``.
    """

    attribute: list[str]
    group: list[str]
    masks: list[NDArray[np.bool_] | None]  # None: every case
    counts: list[tuple[int, int, int]]  # n, n_pos, n_neg
    offsets: list[int]
    prespecified: list[bool]
    n_cases: int

    def __len__(self) -> int:
        return len(self.attribute)

    def subset(self, u: int) -> NDArray[np.bool_]:
        """The cases of unit ``u`` as a boolean mask."""
        m = self.masks[u]
        return np.ones(self.n_cases, dtype=bool) if m is None else m


def build_units(parts: Sequence[Partition], y: NDArray[np.int8], pre: set[str]) -> Units:
    """The overall population and every group of every partition, with case counts."""
    n = len(y)
    attribute, group = ["overall"], ["all"]
    masks: list[NDArray[np.bool_] | None] = [None]
    counts = [(n, int(y.sum()), int(n - y.sum()))]
    offsets = []
    for p in parts:
        offsets.append(len(attribute))
        gc = group_counts(p, y)
        for g_i, g in enumerate(p.order):
            attribute.append(p.name)
            group.append(g)
            masks.append(p.codes == g_i)
            row = gc.loc[g]
            counts.append((int(row["n"]), int(row["n_pos"]), int(row["n_neg"])))
    prespecified = [True] + [p.name in pre for p in parts for _ in p.order]
    return Units(attribute, group, masks, counts, offsets, prespecified, n)

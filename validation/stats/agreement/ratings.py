"""Tidy ratings tables for the agreement statistics: checks, category codes, counts.

A ratings table is a long DataFrame with one row per (case, rater) rating: a case
identifier, a rater identifier and the rating (a category label, or a number for the
quantitative statistics). Column names are the caller's. A missing rating is either an
absent row or a row whose rating is missing (NaN/None); both mean "this rater did not
rate this case" and are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__: list[str] = []


def plain(value: Any) -> Any:
    """``value`` with numpy scalars turned into Python ones, for readable messages."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


def check_frame(frame: Any, columns: Sequence[tuple[str, str]], *, name: str) -> pd.DataFrame:
    """Check ``frame`` is a DataFrame with the named columns; return those columns.

    ``columns`` holds (keyword, column name) pairs so the message can say which
    keyword renames a column.
    """
    if not isinstance(frame, pd.DataFrame):
        wanted = ", ".join(repr(c) for _, c in columns)
        raise ValueError(
            f"{name} must be a pandas DataFrame with columns {wanted}, got {type(frame).__name__}"
        )
    for keyword, column in columns:
        if column not in frame.columns:
            raise ValueError(
                f"{name} has no column {column!r} (its columns: {list(frame.columns)}); "
                f"name the column with {keyword}="
            )
    return frame[[c for _, c in columns]]


def check_ids(frame: pd.DataFrame, id_columns: Sequence[str], *, name: str) -> None:
    """Identifiers must be present and each id combination must occur once."""
    for column in id_columns:
        bad = frame[column].isna().to_numpy()
        if bad.any():
            row = frame.index[int(np.flatnonzero(bad)[0])]
            raise ValueError(
                f"{name} column {column!r} is missing at row {plain(row)!r}; every row needs "
                f"a {column}"
            )
    dup = frame.duplicated(list(id_columns), keep=False).to_numpy()
    if dup.any():
        first = int(np.flatnonzero(dup)[0])
        key = tuple(frame[c].iloc[first] for c in id_columns)
        same = np.flatnonzero(
            np.logical_and.reduce(
                [(frame[c] == k).to_numpy() for c, k in zip(id_columns, key, strict=True)]
            )
        )
        rows = [frame.index[int(i)] for i in same[:2]]
        desc = " and ".join(f"{c} {plain(k)!r}" for c, k in zip(id_columns, key, strict=True))
        raise ValueError(
            f"{name} has more than one row for {desc} (rows {plain(rows[0])!r} and "
            f"{plain(rows[1])!r}); "
            "expected at most one rating per " + " and ".join(id_columns)
        )


def category_order(
    values: pd.Series, labels: Sequence[Any] | None, *, name: str, ordered: bool
) -> list[Any]:
    """The categories in order: ``labels`` if given, an ordered Categorical's
    categories, else the sorted distinct values.

    With ``ordered=True`` (weighted kappa, ordinal alpha) unsortable values without
    ``labels`` are an error; otherwise they keep their order of first appearance.
    """
    if labels is not None:
        cats = list(labels)
        if len(cats) == 0:
            raise ValueError("labels must name at least one category, got an empty sequence")
        if len(set(cats)) != len(cats) or pd.Index(cats).has_duplicates:
            raise ValueError(f"labels must be distinct, got {plain(cats)!r}")
        present = values.dropna()
        known = pd.Index(cats)
        unknown = ~present.isin(known).to_numpy()
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise ValueError(
                f"{name} {plain(present.iloc[i])!r} at row {plain(present.index[i])!r} is not "
                "one of "
                f"labels {plain(cats)!r}"
            )
        return cats
    if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype.ordered:
        return list(values.dtype.categories)
    distinct = list(pd.unique(values.dropna()))
    try:
        return sorted(distinct)
    except TypeError:
        if ordered:
            raise ValueError(
                f"{name} values cannot be put in order ({plain(distinct[:4])!r}...); pass "
                "labels=[...] "
                "listing the categories in order"
            ) from None
        return distinct


def codes_of(values: pd.Series, categories: list[Any]) -> NDArray[np.intp]:
    """Integer code of each (non-missing) value in ``categories``."""
    index = pd.Index(categories)
    codes = index.get_indexer(pd.Index(values.to_numpy(dtype=object)))
    if (codes < 0).any():  # pragma: no cover - category_order guarantees membership
        raise AssertionError("a value is not among the categories")
    return codes.astype(np.intp)


@dataclass(frozen=True)
class RatingCounts:
    """Ratings reduced to a cases x categories count table.

    ``counts[i, k]`` is the number of raters who put case ``i`` in category ``k``.
    """

    counts: NDArray[np.int64]
    categories: list[Any]
    cases: NDArray[Any]
    n_ratings: int
    n_raters: int
    n_missing: int

    @property
    def raters_per_case(self) -> NDArray[np.int64]:
        return self.counts.sum(axis=1)


def rating_counts(
    ratings: Any,
    *,
    case: str,
    rater: str,
    label: str,
    labels: Sequence[Any] | None = None,
    ordered: bool = False,
) -> RatingCounts:
    """Check a tidy ratings table and count ratings per case and category.

    Rows whose rating is missing are dropped and counted (``n_missing``); cases left
    without any rating are dropped.
    """
    frame = check_frame(
        ratings, (("case", case), ("rater", rater), ("label", label)), name="ratings"
    )
    check_ids(frame, (case, rater), name="ratings")
    present = frame[label].notna().to_numpy()
    n_missing = int((~present).sum())
    kept = frame.loc[present]
    if kept.empty:
        raise ValueError(f"ratings holds no rating: column {label!r} is empty or all missing")
    cats = category_order(frame[label], labels, name=label, ordered=ordered)
    label_codes = codes_of(kept[label], cats)
    case_codes, case_ids = pd.factorize(kept[case], sort=False)
    n_cases, q = len(case_ids), len(cats)
    flat = np.bincount(case_codes * q + label_codes, minlength=n_cases * q)
    return RatingCounts(
        counts=flat.reshape(n_cases, q).astype(np.int64),
        categories=cats,
        cases=np.asarray(case_ids),
        n_ratings=int(kept.shape[0]),
        n_raters=int(kept[rater].nunique()),
        n_missing=n_missing,
    )


def as_label_series(values: Any, *, name: str) -> pd.Series:
    """A 1-D sequence of labels as a Series with positional index."""
    if isinstance(values, pd.Series):
        series = values.reset_index(drop=True)
    else:
        if isinstance(values, pd.Categorical):
            series = pd.Series(values)
        else:
            arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
            if arr.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
            series = pd.Series(arr)
    return series

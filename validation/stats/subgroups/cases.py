"""The case-level arrays of a subgroup analysis: truth, scores, calls and patients."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from validation.stats._checks import as_binary, as_scores, check_same_length
from validation.stats.registry import MetricSpec


@dataclass(frozen=True)
class Cases:
    """Truth, score (or 0/1 call), the call at the threshold and the patient of every case.

    ``pred`` is None only when no threshold metric is analysed and the values are not
    all 0/1; ``clusters`` is None when cases are independent.
    """

    y: NDArray[np.int8]
    values: NDArray[np.float64]
    pred: NDArray[np.int8] | None
    clusters: NDArray[Any] | None

    @property
    def n(self) -> int:
        """Number of cases."""
        return len(self.y)

    def for_metric(self, spec: MetricSpec) -> NDArray[Any]:
        """What ``spec`` is computed from: the scores, or the 0/1 calls."""
        if spec.kind == "score":
            return self.values
        if self.pred is None:
            raise RuntimeError(f"threshold metric {spec.name!r} reached the analysis without calls")
        return self.pred

    def clusters_of(self, mask: NDArray[np.bool_]) -> NDArray[Any] | None:
        """The clusters of the cases in ``mask`` (None for independent cases)."""
        return None if self.clusters is None else self.clusters[mask]


def check_truth_and_values(
    y_true: ArrayLike, y_score_or_pred: ArrayLike
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """``y_true`` as 0/1 and ``y_score_or_pred`` as finite floats, same non-zero length."""
    yt = as_binary(y_true)
    values = as_scores(y_score_or_pred, name="y_score_or_pred")
    n = check_same_length(y_true=yt, y_score_or_pred=values)
    if n == 0:
        raise ValueError("y_true is empty; expected at least one case")
    return yt, values


def _predictions(
    values: NDArray[np.float64], specs: Sequence[MetricSpec], threshold: float | None
) -> NDArray[np.int8] | None:
    if threshold is not None:
        thr = float(threshold)
        if not math.isfinite(thr):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        return (values >= thr).astype(np.int8)
    if any(s.kind == "threshold" for s in specs):
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            names = tuple(s.name for s in specs if s.kind == "threshold")
            raise ValueError(
                f"metrics {names} need 0/1 predictions: pass threshold= or give "
                f"y_score_or_pred as 0/1 predictions; found {float(values[i])!r} at index {i}"
            )
        return values.astype(np.int8)
    if np.isin(values, (0.0, 1.0)).all():
        return values.astype(np.int8)
    return None


def make_cases(
    yt: NDArray[np.int8],
    values: NDArray[np.float64],
    specs: Sequence[MetricSpec],
    *,
    threshold: float | None,
    clusters: ArrayLike | None,
) -> Cases:
    """Check the clusters and derive the calls (at ``threshold``, or the 0/1 values)."""
    cl: NDArray[Any] | None = None
    if clusters is not None:
        cl = np.asarray(clusters)
        check_same_length(y_true=yt, clusters=cl)
        if pd.isna(cl).any():
            i = int(np.flatnonzero(pd.isna(cl))[0])
            raise ValueError(f"clusters must not contain missing values, found one at index {i}")
    return Cases(yt, values, _predictions(values, specs, threshold), cl)

"""Empirical ROC points per reader and the reader-averaged ROC curve.

Private module of :mod:`validation.stats.mrmc` (public names are re-exported there).

References
----------
Fawcett T. An introduction to ROC analysis. Pattern Recognit Lett 2006;27:861-874.
doi:10.1016/j.patrec.2005.10.010
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from validation.errors import ReadingsError
from validation.stats._params import Integral, Interval, validate_params
from validation.stats.mrmc.data import natural_order
from validation.stats.mrmc.readings import validate_readings

__all__ = ["average_roc_curve", "reader_roc_points"]


# ------------------------------------------------------------------------ ROC points
def reader_roc_points(readings: pd.DataFrame) -> pd.DataFrame:
    """Empirical ROC operating points of every reader in every modality.

    Returns
    -------
    pandas.DataFrame
        Columns ``modality, reader, threshold, fpr, tpr``; per curve the points run
        from (0, 0) (threshold ``inf``) to (1, 1), one per distinct score, a reading
        being positive when ``score >= threshold``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"reader": "a", "modality": "x", "case": ["1", "2"],
    ...                   "truth": [0, 1], "score": [1.0, 2.0]})
    >>> reader_roc_points(f)[["fpr", "tpr"]].values.tolist()
    [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    """
    frame = validate_readings(readings, design=None)
    rows = []
    for (m, r), part in frame.groupby(["modality", "reader"], sort=False):
        y = part["truth"].to_numpy()
        s = part["score"].to_numpy(dtype=float)
        n1, n0 = int(y.sum()), int((1 - y).sum())
        if n1 == 0 or n0 == 0:
            raise ReadingsError(
                f"ROC of reader {r!r} in modality {m!r} needs diseased and non-diseased "
                f"cases; found {n1} and {n0}"
            )
        thresholds = np.unique(s)[::-1]
        tp = np.array([(s[y == 1] >= t).sum() for t in thresholds]) / n1
        fp = np.array([(s[y == 0] >= t).sum() for t in thresholds]) / n0
        rows.append(
            pd.DataFrame(
                {
                    "modality": m,
                    "reader": r,
                    "threshold": np.r_[np.inf, thresholds],
                    "fpr": np.r_[0.0, fp],
                    "tpr": np.r_[0.0, tp],
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    order = {v: i for i, v in enumerate(natural_order(out["modality"].unique()))}
    rorder = {v: i for i, v in enumerate(natural_order(out["reader"].unique()))}
    key = out["modality"].map(order) * 10**6 + out["reader"].map(rorder)
    return out.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


@validate_params(
    {
        "n_points": [Interval(Integral, 2, None, closed="left")],
    }
)
def average_roc_curve(readings: pd.DataFrame, *, n_points: int = 101) -> pd.DataFrame:
    """Reader-averaged ROC curve per modality (vertical averaging at fixed FPR).

    Each reader's empirical ROC curve (straight lines between operating points) is
    evaluated at ``n_points`` equally spaced false-positive rates and the TPRs are
    averaged over readers. At an FPR where a curve jumps vertically the upper TPR
    is used.

    Returns
    -------
    pandas.DataFrame
        Columns ``modality, fpr, tpr``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"reader": ["a", "a", "b", "b"], "modality": "x",
    ...                   "case": ["1", "2", "1", "2"], "truth": [0, 1, 0, 1],
    ...                   "score": [1.0, 2.0, 2.0, 1.0]})
    >>> average_roc_curve(f, n_points=3)["tpr"].tolist()
    [0.5, 0.5, 1.0]

    References
    ----------
    Fawcett T. An introduction to ROC analysis. Pattern Recognit Lett 2006;27:861-874.
    doi:10.1016/j.patrec.2005.10.010
    """
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2, got {n_points}")
    pts = reader_roc_points(readings)
    grid = np.linspace(0.0, 1.0, n_points)
    rows = []
    for m in pts["modality"].unique():
        curves = []
        for _, part in pts[pts["modality"] == m].groupby("reader", sort=False):
            curves.append(_polyline_tpr(part["fpr"].to_numpy(), part["tpr"].to_numpy(), grid))
        rows.append(pd.DataFrame({"modality": m, "fpr": grid, "tpr": np.mean(curves, axis=0)}))
    return pd.concat(rows, ignore_index=True)


def _polyline_tpr(
    fpr: NDArray[np.float64], tpr: NDArray[np.float64], grid: NDArray[np.float64]
) -> NDArray[np.float64]:
    """TPR of the empirical ROC polyline at each grid FPR (upper value at vertical jumps)."""
    u = np.unique(fpr)
    low = np.array([tpr[fpr == v].min() for v in u])
    high = np.array([tpr[fpr == v].max() for v in u])
    i = np.clip(np.searchsorted(u, grid, side="right") - 1, 0, len(u) - 1)
    nxt = np.minimum(i + 1, len(u) - 1)
    span = u[nxt] - u[i]
    frac = np.where(span > 0, (grid - u[i]) / np.where(span > 0, span, 1.0), 0.0)
    return np.asarray(high[i] + frac * (low[nxt] - high[i]))

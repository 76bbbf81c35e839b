"""Window performance of verified cases: sensitivity, specificity, PPV (Wilson), AUC (DeLong)."""

from __future__ import annotations

__all__ = ["WINDOW_METRICS", "window_performance"]

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from validation.errors import UndefinedMetricError
from validation.stats._checks import as_binary, as_scores, check_same_length
from validation.stats._results import Estimate
from validation.stats.proportions import ppv, sensitivity, specificity
from validation.stats.roc import roc_auc

#: The metrics :func:`window_performance` computes.
WINDOW_METRICS = ("sensitivity", "specificity", "ppv", "auc")


def window_performance(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    threshold: float,
    metrics: Sequence[str] = WINDOW_METRICS,
    confidence_level: float = 0.95,
) -> dict[str, Estimate | str]:
    """Performance of the verified cases of one window at the locked threshold.

    A case is called positive when ``score >= threshold``. Sensitivity, specificity and PPV
    come with Wilson intervals (:func:`validation.stats.sensitivity` ...), the AUC with
    DeLong's interval (:func:`validation.stats.roc_auc`). A metric that is undefined on
    the window (no verified positive, no positive call ...) maps to the reason, never to
    NaN.

    Only verified cases may be passed: performance on a verified subset is unbiased for
    the window only when verification does not depend on the score or the truth (the
    monitoring report states this caveat).

    Returns
    -------
    dict
        ``metric -> Estimate`` or ``metric -> "not estimable: <reason>"``.
    """
    t = as_binary(y_true, name="y_true")
    s = as_scores(y_score, name="y_score")
    check_same_length(y_true=t, y_score=s)
    pred = (s >= float(threshold)).astype(np.int8)
    out: dict[str, Estimate | str] = {}
    for name in metrics:
        try:
            if name == "sensitivity":
                out[name] = sensitivity(t, pred, confidence_level=confidence_level)
            elif name == "specificity":
                out[name] = specificity(t, pred, confidence_level=confidence_level)
            elif name == "ppv":
                out[name] = ppv(t, pred, confidence_level=confidence_level)
            elif name == "auc":
                out[name] = roc_auc(t, s, method="delong", confidence_level=confidence_level)
            else:
                raise ValueError(f"metric must be one of {WINDOW_METRICS}, got {name!r}")
        except UndefinedMetricError as exc:
            out[name] = f"not estimable: {exc}"
    return out

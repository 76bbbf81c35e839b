"""Post-market monitoring statistics: control charts with computed limits, drift, window performance.

Pure functions (arrays in, frozen results out) behind ``radval monitor``
(:mod:`validation.monitor`):

* control charts for case-level 0/1 indicators (a miss among verified positives, a false
  positive among verified negatives, a positive call) with limits computed for a declared
  in-control ARL: :func:`bernoulli_cusum_design`, :func:`bernoulli_ewma_design` and their
  ``*_arl`` and ``*_path`` functions; charts for standardised window statistics:
  :func:`normal_cusum_design`, :func:`normal_ewma_design` (see
  :mod:`validation.stats._monitoring_charts` for the Markov chains and their references);
* drift without labels: :func:`population_stability_index`, :func:`ks_drift`,
  :func:`wasserstein_drift`, :func:`positive_rate_shift`, :func:`category_shift`
  (:mod:`validation.stats._monitoring_drift`);
* :func:`window_performance`: sensitivity, specificity, PPV (Wilson) and AUC (DeLong) of
  the verified cases of a window, each an :class:`~validation.stats.Estimate` or the reason
  it is not estimable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from validation.errors import UndefinedMetricError
from validation.stats._checks import as_binary, as_scores, check_same_length
from validation.stats._monitoring_charts import (
    ChartPath,
    CusumDesign,
    EwmaDesign,
    NormalChartDesign,
    bernoulli_cusum_arl,
    bernoulli_cusum_design,
    bernoulli_cusum_path,
    bernoulli_ewma_arl,
    bernoulli_ewma_design,
    bernoulli_ewma_path,
    normal_cusum_arl,
    normal_cusum_design,
    normal_cusum_path,
    normal_ewma_arl,
    normal_ewma_design,
    normal_ewma_path,
)
from validation.stats._monitoring_drift import (
    CategoryShift,
    PositiveRateShift,
    PsiResult,
    category_shift,
    ks_drift,
    population_stability_index,
    positive_rate_shift,
    psi_bins,
    wasserstein_drift,
)
from validation.stats._results import Estimate
from validation.stats.proportions import ppv, sensitivity, specificity
from validation.stats.roc import roc_auc

__all__ = [
    "ChartPath",
    "CusumDesign",
    "EwmaDesign",
    "NormalChartDesign",
    "bernoulli_cusum_arl",
    "bernoulli_cusum_design",
    "bernoulli_cusum_path",
    "bernoulli_ewma_arl",
    "bernoulli_ewma_design",
    "bernoulli_ewma_path",
    "normal_cusum_arl",
    "normal_cusum_design",
    "normal_cusum_path",
    "normal_ewma_arl",
    "normal_ewma_design",
    "normal_ewma_path",
    "CategoryShift",
    "PositiveRateShift",
    "PsiResult",
    "category_shift",
    "ks_drift",
    "population_stability_index",
    "positive_rate_shift",
    "psi_bins",
    "wasserstein_drift",
    "WINDOW_METRICS",
    "window_performance",
]

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

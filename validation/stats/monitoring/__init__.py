"""Post-market monitoring statistics: control charts with computed limits, drift, window performance.

Pure functions (arrays in, frozen results out) behind ``radval monitor``
(:mod:`validation.monitor`):

* control charts for case-level 0/1 indicators (a miss among verified positives, a false
  positive among verified negatives, a positive call) with limits computed for a declared
  in-control ARL: :func:`bernoulli_cusum_design`, :func:`bernoulli_ewma_design` and their
  ``*_arl`` and ``*_path`` functions; charts for standardised window statistics:
  :func:`normal_cusum_design`, :func:`normal_ewma_design` (see
  :mod:`validation.stats.monitoring.charts` for the Markov chains and their references);
* drift without labels: :func:`population_stability_index`, :func:`ks_drift`,
  :func:`wasserstein_drift`, :func:`positive_rate_shift`, :func:`category_shift`
  (:mod:`validation.stats.monitoring.drift`);
* :func:`window_performance`: sensitivity, specificity, PPV (Wilson) and AUC (DeLong) of
  the verified cases of a window, each an :class:`~validation.stats.Estimate` or the reason
  it is not estimable.
"""

from validation.stats.monitoring.charts import (
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
from validation.stats.monitoring.drift import (
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
from validation.stats.monitoring.window import WINDOW_METRICS, window_performance

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

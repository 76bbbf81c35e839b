"""Subgroup performance: guardrailed tables with CIs, disparities, fairness measures and
heterogeneity tests.

Modules: :mod:`.table` (``subgroup_table``, the orchestrator), :mod:`.cells` (the per-group
estimate engine).
"""

from validation.stats.subgroups.table import (
    MetricSpec,
    SubgroupAnalysis,
    age_band_labels,
    get_metric,
    list_metrics,
    register_metric,
    subgroup_table,
)

__all__ = [
    "MetricSpec",
    "SubgroupAnalysis",
    "age_band_labels",
    "get_metric",
    "list_metrics",
    "register_metric",
    "subgroup_table",
]

"""Subgroup performance: guardrailed tables with CIs, disparities, fairness measures and
heterogeneity tests.

Modules: :mod:`.table` (``subgroup_table``, the orchestrator, and its result), over
:mod:`.cases` (case-level arrays), :mod:`.groups` (attributes, age bands, partitions,
units), :mod:`.replicates` (the shared patient-level bootstrap), :mod:`.cells` (its
vectorised kernel), :mod:`.estimates` (guardrails and cell estimates), :mod:`.disparity`
(disparities and fairness measures) and :mod:`.heterogeneity` (tests across groups).
"""

from validation.stats.subgroups.groups import age_band_labels, age_bands
from validation.stats.subgroups.table import (
    MetricSpec,
    SubgroupAnalysis,
    get_metric,
    list_metrics,
    register_metric,
    subgroup_table,
)

__all__ = [
    "MetricSpec",
    "SubgroupAnalysis",
    "age_band_labels",
    "age_bands",
    "get_metric",
    "list_metrics",
    "register_metric",
    "subgroup_table",
]

"""ROC analysis: AUC with DeLong / Obuchowski / bootstrap CIs, curves, partial AUC,
operating points, and paired / unpaired / performance-goal AUC tests.

Conventions (as pROC with ``direction="<"``, ``levels=c(0, 1)``): label 1 is the
positive (diseased) class, a higher score is more suspicious, and a case is called
positive at threshold ``t`` iff ``score >= t``. Ties between a positive and a negative
count one half. Functions raise :class:`validation.errors.UndefinedMetricError` when
the data hold no positive or no negative case, never return NaN.

Written by hand (not scikit-learn) because no installed library gives DeLong,
Obuchowski or fast bootstrap intervals; the AUC itself is checked against
``sklearn.metrics.roc_auc_score`` and R's pROC in the tests.
"""

from validation.stats.roc._delong import Placements, midrank_placements
from validation.stats.roc.auc import roc_auc
from validation.stats.roc.compare import auc_test, compare_auc, compare_auc_unpaired
from validation.stats.roc.points import (
    OperatingPoint,
    RocCurve,
    partial_auc,
    partial_auc_ci,
    roc_curve,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    youden,
)

__all__ = [
    "Placements",
    "midrank_placements",
    "roc_auc",
    "compare_auc",
    "compare_auc_unpaired",
    "auc_test",
    "RocCurve",
    "roc_curve",
    "partial_auc",
    "partial_auc_ci",
    "OperatingPoint",
    "sensitivity_at_specificity",
    "specificity_at_sensitivity",
    "youden",
]

"""Agreement statistics and adjudication of the reference standard.

Public API (implementation in the private ``_agreement_*`` modules, split for size):

Categorical ratings (truthers' reads, readers' categories)
    :func:`cohen_kappa` (two raters, plain or weighted; Fleiss-Cohen-Everitt 1969
    interval), :func:`fleiss_kappa` and :func:`gwet_ac1` (several raters, missing
    ratings allowed; Gwet 2008 linearisation interval), :func:`percent_agreement`
    (unanimous with a binomial interval, or pairwise), :func:`krippendorff_alpha`
    (nominal/ordinal/interval/ratio; bootstrap over cases).
Reference standard
    :func:`adjudicate` -> :class:`Adjudication`: ``majority``,
    ``consensus_with_adjudicator``, ``any_positive``, ``all_positive``, with the
    number of cases decided by each path for the STARD flow.
Quantitative measurements (a measuring device against a reference)
    :func:`bland_altman` -> :class:`BlandAltman` (exact Carkeet 2015 or approximate
    Bland-Altman 1999 limit intervals, proportional bias, repeated measures of
    Bland-Altman 2007), :func:`lins_ccc`, :func:`icc` (Shrout-Fleiss forms named as
    R psych), :func:`deming_regression` and :func:`passing_bablok` ->
    :class:`MethodComparisonFit`, :func:`repeatability_coefficient` (QIBA).

Ratings tables are tidy DataFrames, one row per rating (``case, rater, label`` or
``case, rater, value``; the column names are keyword options). Every function raises
:class:`validation.errors.UndefinedMetricError` where its statistic is undefined (one
category only, no variation) and ``ValueError`` naming the parameter for bad options.
"""

from validation.stats.agreement.adjudication import (
    ADJUDICATION_PATHS,
    ADJUDICATION_RULES,
    TIE_POLICIES,
    Adjudication,
    adjudicate,
)
from validation.stats.agreement.alpha import ALPHA_LEVELS, krippendorff_alpha
from validation.stats.agreement.bland_altman import (
    BLAND_ALTMAN_METHODS,
    BlandAltman,
    bland_altman,
)
from validation.stats.agreement.categorical import (
    KAPPA_WEIGHTS,
    PERCENT_AGREEMENT_DEFINITIONS,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    percent_agreement,
)
from validation.stats.agreement.regression import (
    MethodComparisonFit,
    deming_regression,
    passing_bablok,
)
from validation.stats.agreement.reliability import (
    ICC_FORMS,
    icc,
    lins_ccc,
    repeatability_coefficient,
)

__all__ = [
    "ADJUDICATION_PATHS",
    "ADJUDICATION_RULES",
    "ALPHA_LEVELS",
    "BLAND_ALTMAN_METHODS",
    "ICC_FORMS",
    "KAPPA_WEIGHTS",
    "PERCENT_AGREEMENT_DEFINITIONS",
    "TIE_POLICIES",
    "Adjudication",
    "BlandAltman",
    "MethodComparisonFit",
    "adjudicate",
    "bland_altman",
    "cohen_kappa",
    "deming_regression",
    "fleiss_kappa",
    "gwet_ac1",
    "icc",
    "krippendorff_alpha",
    "lins_ccc",
    "passing_bablok",
    "percent_agreement",
    "repeatability_coefficient",
]

"""The public surface of :mod:`validation.stats` is explicit and does not shrink.

``PUBLIC_BEFORE`` is ``sorted(n for n in dir(validation.stats) if not n.startswith("_"))``
captured before the stats redesign (issue 14), when the package still used star imports.
Every name stays importable from ``validation.stats``; names added since are listed in
``ADDED`` so that a change of the public surface is a deliberate edit of this file.
"""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import validation.stats as stats

SUBMODULES = [
    "agreement",
    "bootstrap",
    "calibration",
    "detection",
    "hypothesis",
    "monitoring",
    "mrmc",
    "multiplicity",
    "operating_points",
    "planning",
    "proportions",
    "registry",
    "roc",
    "segmentation",
    "subgroups",
]
PUBLIC_BEFORE = [
    "ADJUDICATION_PATHS",
    "ADJUDICATION_RULES",
    "ALPHA_LEVELS",
    "AUCPlan",
    "Adjudication",
    "BLAND_ALTMAN_METHODS",
    "BlandAltman",
    "CAMELYON16_FP_RATES",
    "CPM_FP_RATES",
    "CalibrationFit",
    "CalibrationResult",
    "Comparison",
    "ConfusionCounts",
    "DesignEffect",
    "DetectionMatch",
    "DetectionResult",
    "EMPTY_MASK_ACTIONS",
    "EmptyMaskPolicy",
    "Estimate",
    "FROC_FOMS",
    "FomArrays",
    "FrocBand",
    "FrocCurve",
    "GoalPlan",
    "ICC_FORMS",
    "KAPPA_WEIGHTS",
    "LikelihoodRatios",
    "MRMCPlan",
    "MRMCPower",
    "MRMCResult",
    "MRMCTradeoff",
    "MULTIPLICITY_METHODS",
    "MatchingRule",
    "MethodComparisonFit",
    "MetricSpec",
    "MultiplicityResult",
    "OperatingPoint",
    "PERCENT_AGREEMENT_DEFINITIONS",
    "PLANNING_INTERVALS",
    "PROPORTION_CI_METHODS",
    "PairedAUCPlan",
    "PairedProportionsPlan",
    "Placements",
    "PrecisionPlan",
    "PredictiveValues",
    "RocCurve",
    "SEGMENTATION_METRICS",
    "SegmentationSummary",
    "SubgroupAnalysis",
    "TIE_POLICIES",
    "TestResult",
    "UndefinedMetricError",
    "accuracy",
    "adjudicate",
    "adjust_pvalues",
    "age_band_labels",
    "auc_test",
    "average_roc_curve",
    "bland_altman",
    "bootstrap_interval",
    "bootstrap_weights",
    "calibration_bins",
    "calibration_intercept_slope",
    "calibration_summary",
    "cohen_kappa",
    "compare_auc",
    "compare_auc_unpaired",
    "confusion_counts",
    "deming_regression",
    "design_effect",
    "detectable_auc",
    "evaluate_detection",
    "expected_calibration_error",
    "fixed_sequence",
    "fleiss_kappa",
    "froc_analysis",
    "froc_curve",
    "froc_figure_of_merit",
    "froc_fom_arrays",
    "get_metric",
    "gwet_ac1",
    "icc",
    "interval_level",
    "jackknife_acceleration",
    "krippendorff_alpha",
    "likelihood_ratios",
    "lins_ccc",
    "list_metrics",
    "match_detections",
    "mcnemar",
    "midrank_placements",
    "mrmc_analysis",
    "mrmc_noninferiority",
    "mrmc_power",
    "mrmc_sample_size",
    "mrmc_tradeoff",
    "multiplicity_test",
    "negative_likelihood_ratio",
    "npv",
    "paired_noninferiority",
    "paired_proportion_difference",
    "partial_auc",
    "partial_auc_ci",
    "passing_bablok",
    "percent_agreement",
    "positive_likelihood_ratio",
    "power_auc",
    "power_goal",
    "power_mrmc",
    "power_paired_auc",
    "power_paired_proportions",
    "ppv",
    "predictive_values",
    "proportion_ci",
    "proportion_ci_clustered",
    "proportion_test",
    "reader_foms",
    "reader_roc_points",
    "reader_vs_ai",
    "register_metric",
    "repeatability_coefficient",
    "roc_auc",
    "roc_curve",
    "sample_size_auc",
    "sample_size_goal",
    "sample_size_mrmc",
    "sample_size_paired_auc",
    "sample_size_paired_proportions",
    "sample_size_precision",
    "segmentation_metrics",
    "sensitivity",
    "sensitivity_at_specificity",
    "specificity",
    "specificity_at_sensitivity",
    "subgroup_table",
    "summarize_segmentation",
    "unpaired_noninferiority",
    "weighted_auc",
    "youden",
]
ADDED: list[str] = [
    "jsonable",  # the one JSON conversion (NaN -> null), shared with validation.results
    "age_bands",  # the one banding function (issue 14)
    "MRMCTest",  # MRMCResult.tests values, formerly dicts
    "ReaderVsAI",  # reader_vs_ai's result, formerly a dict
    "CategoryShift",  # post-market monitoring (issue 20)
    "ChartPath",  # post-market monitoring (issue 20)
    "CusumDesign",  # post-market monitoring (issue 20)
    "EwmaDesign",  # post-market monitoring (issue 20)
    "NormalChartDesign",  # post-market monitoring (issue 20)
    "PositiveRateShift",  # post-market monitoring (issue 20)
    "PsiResult",  # post-market monitoring (issue 20)
    "WINDOW_METRICS",  # post-market monitoring (issue 20)
    "bernoulli_cusum_arl",  # post-market monitoring (issue 20)
    "bernoulli_cusum_design",  # post-market monitoring (issue 20)
    "bernoulli_cusum_path",  # post-market monitoring (issue 20)
    "bernoulli_ewma_arl",  # post-market monitoring (issue 20)
    "bernoulli_ewma_design",  # post-market monitoring (issue 20)
    "bernoulli_ewma_path",  # post-market monitoring (issue 20)
    "category_shift",  # post-market monitoring (issue 20)
    "ks_drift",  # post-market monitoring (issue 20)
    "normal_cusum_arl",  # post-market monitoring (issue 20)
    "normal_cusum_design",  # post-market monitoring (issue 20)
    "normal_cusum_path",  # post-market monitoring (issue 20)
    "normal_ewma_arl",  # post-market monitoring (issue 20)
    "normal_ewma_design",  # post-market monitoring (issue 20)
    "normal_ewma_path",  # post-market monitoring (issue 20)
    "population_stability_index",  # post-market monitoring (issue 20)
    "positive_rate_shift",  # post-market monitoring (issue 20)
    "psi_bins",  # post-market monitoring (issue 20)
    "wasserstein_drift",  # post-market monitoring (issue 20)
    "window_performance",  # post-market monitoring (issue 20)
    "SELECTION_RULES",  # operating points on a tuning split (issue 12)
    "SelectedThreshold",  # operating points on a tuning split (issue 12)
    "select_threshold",  # operating points on a tuning split (issue 12)
    "threshold_bootstrap",  # operating points on a tuning split (issue 12)
]


def _public() -> set[str]:
    return {n for n in dir(stats) if not n.startswith("_")}


def test_every_public_name_of_before_is_still_importable() -> None:
    missing = [n for n in PUBLIC_BEFORE + SUBMODULES if n not in _public()]
    assert missing == []


def test_public_surface_is_exactly_before_plus_added() -> None:
    assert _public() == set(PUBLIC_BEFORE) | set(SUBMODULES) | set(ADDED)


def test_all_lists_every_public_object_and_no_module() -> None:
    assert sorted(stats.__all__) == sorted(set(PUBLIC_BEFORE) | set(ADDED))
    assert len(stats.__all__) == len(set(stats.__all__))
    for name in SUBMODULES:
        assert isinstance(getattr(stats, name), types.ModuleType)
        assert importlib.import_module(f"validation.stats.{name}") is getattr(stats, name)


def test_no_star_imports_in_stats() -> None:
    root = Path(stats.__file__).parent
    stars = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
    ]
    assert stars == []

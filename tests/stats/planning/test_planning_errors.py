"""Study planning: bad parameters and impossible designs raise ValueError naming the cause."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from validation.data.readings import load_readings
from validation.stats import (
    design_effect,
    detectable_auc,
    mrmc_analysis,
    mrmc_tradeoff,
    power_auc,
    power_goal,
    power_mrmc,
    power_paired_auc,
    power_paired_proportions,
    sample_size_auc,
    sample_size_goal,
    sample_size_mrmc,
    sample_size_paired_auc,
    sample_size_paired_proportions,
    sample_size_precision,
)

READERS = Path(__file__).resolve().parents[2] / "data" / "reader_studies"
VC = {"var_tr": 2e-4, "var_error": 8e-4, "cov1": 3.5e-4, "cov2": 3.4e-4, "cov3": 2.4e-4}


def _raises(message: str, func: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        func(*args, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expected": 1.2, "half_width": 0.05}, "expected must be in (0, 1), got 1.2"),
        ({"expected": 0, "half_width": 0.05}, "expected must be in (0, 1), got 0"),
        ({"expected": "0.9", "half_width": 0.05}, "expected must be in (0, 1), got '0.9'"),
        ({"expected": True, "half_width": 0.05}, "expected must be in (0, 1), got True"),
        ({"expected": float("nan"), "half_width": 0.05}, "expected must be in (0, 1), got nan"),
        ({"expected": 0.9, "half_width": 0}, "half_width must be in (0, 1), got 0"),
        (
            {"expected": 0.9, "half_width": 0.05, "confidence_level": 95},
            "confidence_level must be in (0, 1), got 95",
        ),
        (
            {"expected": 0.9, "half_width": 0.05, "prevalence": 0},
            "prevalence must be in (0, 1], got 0",
        ),
        (
            {"expected": 0.9, "half_width": 0.05, "prevalence": 1.5},
            "prevalence must be in (0, 1], got 1.5",
        ),
    ],
)
def test_precision_errors(kwargs: dict[str, Any], message: str) -> None:
    _raises(message, sample_size_precision, **kwargs)


def test_prevalence_one_is_allowed() -> None:
    assert sample_size_precision(0.9, 0.05, prevalence=1).n_total == 139


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"expected": 0.8, "goal": 0.8},
            "goal must be below expected (the lower bound can only be expected to exceed a goal the "
            "true value exceeds); got goal=0.8 >= expected=0.8",
        ),
        (
            {"expected": 0.8, "goal": 0.9},
            "goal must be below expected (the lower bound can only be expected to exceed a goal the "
            "true value exceeds); got goal=0.9 >= expected=0.8",
        ),
        ({"expected": 0.9, "goal": 0}, "goal must be in (0, 1), got 0"),
        ({"expected": 0.9, "goal": 0.8, "power": 1}, "power must be in (0, 1), got 1"),
        ({"expected": 0.9, "goal": 0.8, "power": 80}, "power must be in (0, 1), got 80"),
        (
            {"expected": 0.9, "goal": 0.8, "method": "score"},
            "method must be one of ('normal', 'exact'), got 'score'",
        ),
        (
            {"expected": 0.9, "goal": 0.8, "interval": "wilson"},
            "interval applies to method='exact' only; got interval='wilson' with method='normal'",
        ),
        (
            {"expected": 0.9, "goal": 0.8, "method": "exact", "interval": "wald_cc"},
            "interval must be one of ('clopper_pearson', 'wilson', 'wilson_cc', 'agresti_coull', "
            "'jeffreys', 'wald'), got 'wald_cc'",
        ),
        (
            {"expected": 0.9, "goal": 0.8, "method": "exact", "max_n": 0},
            "max_n must be a whole number >= 1, got 0",
        ),
    ],
)
def test_goal_errors(kwargs: dict[str, Any], message: str) -> None:
    _raises(message, sample_size_goal, **kwargs)


def test_goal_beyond_max_n_is_an_impossible_design() -> None:
    _raises(
        "no sample size up to max_n=100 gives 0.8 power (and keeps it up to twice that "
        "size) for expected=0.81 against goal=0.8; the best power found is 0.0415. Raise "
        "max_n or revise the design",
        sample_size_goal,
        0.81,
        0.8,
        method="exact",
        max_n=100,
    )


@pytest.mark.parametrize(
    ("n", "message"),
    [
        (0, "n must be a whole number >= 1, got 0"),
        (2.5, "n must be a whole number >= 1, got 2.5"),
        (True, "n must be a whole number >= 1, got True"),
    ],
)
def test_power_goal_errors(n: Any, message: str) -> None:
    _raises(message, power_goal, 0.9, 0.8, n=n)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expected": 0.5}, "expected must differ from null; both are 0.5"),
        (
            {"expected": 0.6, "null": 0.7, "alternative": "greater"},
            "alternative='greater' needs expected > null; got expected=0.6 < null=0.7",
        ),
        (
            {"expected": 0.8, "null": 0.7, "alternative": "less"},
            "alternative='less' needs expected < null; got expected=0.8 > null=0.7",
        ),
        (
            {"expected": 0.8, "alternative": "one.sided"},
            "alternative must be one of ('two-sided', 'greater', 'less'), got 'one.sided'",
        ),
        ({"expected": 0.8, "ratio": 0}, "ratio must be a finite number > 0, got 0"),
        ({"expected": 0.8, "significance_level": 0}, "significance_level must be in (0, 1), got 0"),
        ({"expected": 1.0}, "expected must be in (0, 1), got 1.0"),
        ({"expected": 0.8, "null": 1}, "null must be in (0, 1), got 1"),
    ],
)
def test_auc_errors(kwargs: dict[str, Any], message: str) -> None:
    _raises(message, sample_size_auc, **kwargs)


def test_power_auc_errors() -> None:
    _raises(
        "n_positive must be a whole number >= 1, got 0", power_auc, 0.8, n_positive=0, n_negative=10
    )
    _raises(
        "n_negative must be a whole number >= 1, got -3",
        power_auc,
        0.8,
        n_positive=10,
        n_negative=-3,
    )


def test_detectable_auc_errors() -> None:
    _raises(
        "no AUC below 1 reaches power 0.99 with n_positive=2 and n_negative=2 against "
        "null=0.5; the best is 0.0000",
        detectable_auc,
        n_positive=2,
        n_negative=2,
        power=0.99,
    )
    _raises(
        "n_negative must be a whole number >= 1, got 0", detectable_auc, n_positive=3, n_negative=0
    )
    _raises(
        "alternative must be one of ('two-sided', 'greater', 'less'), got 'both'",
        detectable_auc,
        n_positive=30,
        n_negative=30,
        alternative="both",
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0.85, 0.8), {"correlation": 1}, "correlation must be in (-1, 1), got 1"),
        (
            (0.85, 0.8),
            {"correlation": 0.5, "correlation_negative": -1.5},
            "correlation_negative must be in (-1, 1), got -1.5",
        ),
        ((0.85, 0.8), {"correlation": 0.5, "margin": -0.1}, "margin must be in [0, 1), got -0.1"),
        (
            (0.7, 0.8),
            {"correlation": 0.5, "margin": 0.05},
            "the design cannot succeed: auc_1 - auc_2 + margin must be > 0 for a one-directional "
            "(non-inferiority or 'greater') hypothesis; got 0.7 - 0.8 + 0.05 = -0.05",
        ),
        (
            (0.8, 0.85),
            {"correlation": 0.5, "alternative": "greater"},
            "the design cannot succeed: auc_1 - auc_2 + margin must be > 0 for a one-directional "
            "(non-inferiority or 'greater') hypothesis; got 0.8 - 0.85 + 0.0 = -0.05",
        ),
        (
            (0.8, 0.8),
            {"correlation": 0.5},
            "auc_1 and auc_2 must differ when margin is 0; both are 0.8",
        ),
        (
            (0.85, 0.8),
            {"correlation": 0.5, "alternative": "less"},
            "alternative must be one of ('two-sided', 'greater'), got 'less'",
        ),
        ((0.85, 0.8), {"correlation": 0.5, "b_1": 0}, "b_1 must be a finite number > 0, got 0"),
        (
            (0.85, 0.8),
            {"correlation": 0.5, "ratio": -1},
            "ratio must be a finite number > 0, got -1",
        ),
        (
            (0.9375, 0.75),
            {"correlation": 0.875},
            "the binormal parameters give a non-positive variance of the AUC difference (null 2 V1 - "
            "2 C12 = -0.0002273, alternative V1 + V2 - 2 C12 = 0.09339): the covariance of the two "
            "AUCs exceeds the variance of test 1's; this variance function does not apply to so "
            "high a correlation with so different AUCs (lower the correlation or check the B "
            "parameters)",
        ),
    ],
)
def test_paired_auc_errors(args: tuple[float, float], kwargs: dict[str, Any], message: str) -> None:
    _raises(message, sample_size_paired_auc, *args, **kwargs)


def test_power_paired_auc_errors() -> None:
    _raises(
        "n_positive must be a whole number >= 1, got 1.5",
        power_paired_auc,
        0.85,
        0.8,
        n_positive=1.5,
        n_negative=10,
        correlation=0.5,
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            (0.9, 0.8),
            {},
            "give exactly one of discordance and correlation; got discordance=None, "
            "correlation=None",
        ),
        (
            (0.9, 0.8),
            {"discordance": 0.2, "correlation": 0.3},
            "give exactly one of discordance and correlation; got discordance=0.2, correlation=0.3",
        ),
        (
            (0.9, 0.5),
            {"discordance": 0.2},
            "discordance=0.2 is impossible with p_1=0.9 and p_2=0.5: it implies the cell "
            "probabilities (both positive, only test 1, only test 2, both negative) = (0.6, 0.3, "
            "-0.1, 0.2); the discordance must lie between |p_1 - p_2| = 0.4 and 0.6",
        ),
        (
            (0.9, 0.5),
            {"correlation": 0.9},
            "correlation=0.9 is impossible with p_1=0.9 and p_2=0.5: it implies the cell "
            "probabilities (both positive, only test 1, only test 2, both negative) = (0.585, 0.315, "
            "-0.085, 0.185); the discordance must lie between |p_1 - p_2| = 0.4 and 0.6",
        ),
        ((0.9, 0.8), {"correlation": 1.2}, "correlation must be in [-1, 1], got 1.2"),
        ((0.9, 0.8), {"discordance": 0}, "discordance must be in (0, 1), got 0"),
        (
            (0.8, 0.8),
            {"correlation": 1.0, "margin": 0.05},
            "the two tests never disagree (discordance 0.0): the estimated difference has no "
            "variance and no sample size applies",
        ),
        (
            (0.8, 0.9),
            {"discordance": 0.2, "margin": 0.05},
            "the design cannot succeed: p_1 - p_2 + margin must be > 0 for a one-directional "
            "(non-inferiority or 'greater') hypothesis; got 0.8 - 0.9 + 0.05 = -0.05",
        ),
        (
            (0.8, 0.8),
            {"discordance": 0.2},
            "p_1 and p_2 must differ when margin is 0; both are 0.8",
        ),
        ((0.9, 0.8), {"discordance": 0.2, "margin": 1}, "margin must be in [0, 1), got 1"),
        (
            (0.9, 0.8),
            {"discordance": 0.2, "alternative": "less"},
            "alternative must be one of ('two-sided', 'greater'), got 'less'",
        ),
    ],
)
def test_paired_proportions_errors(
    args: tuple[float, float], kwargs: dict[str, Any], message: str
) -> None:
    _raises(message, sample_size_paired_proportions, *args, **kwargs)


def test_power_paired_proportions_errors() -> None:
    _raises(
        "n must be a whole number >= 1, got 0",
        power_paired_proportions,
        0.9,
        0.8,
        n=0,
        discordance=0.2,
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1.5,), {"mean_cluster_size": 2}, "icc must be in [0, 1], got 1.5"),
        (
            (0.1,),
            {},
            "give exactly one of mean_cluster_size and cluster_sizes; got "
            "mean_cluster_size=None, cluster_sizes=None",
        ),
        (
            (0.1,),
            {"mean_cluster_size": 2, "cluster_sizes": [1, 2]},
            "give exactly one of mean_cluster_size and cluster_sizes; got mean_cluster_size=2, "
            "cluster_sizes=an array",
        ),
        (
            (0.1,),
            {"mean_cluster_size": 0.5},
            "mean_cluster_size must be a finite number >= 1, got 0.5",
        ),
        ((0.1,), {"mean_cluster_size": 2, "cv": -1}, "cv must be a finite number >= 0, got -1"),
        (
            (0.1,),
            {"cluster_sizes": [2, 0]},
            "cluster_sizes must be whole numbers >= 1, found 0 at index 1",
        ),
        (
            (0.1,),
            {"cluster_sizes": [2, 1.5]},
            "cluster_sizes must be whole numbers >= 1, found 1.5 at index 1",
        ),
        (
            (0.1,),
            {"cluster_sizes": ["a"]},
            "cluster_sizes must be whole numbers >= 1, found 'a' at index 0",
        ),
        (
            (0.1,),
            {"cluster_sizes": []},
            "cluster_sizes must be a non-empty 1-D array, got shape (0,)",
        ),
        (
            (0.1,),
            {"cluster_sizes": [1, 2], "cv": 0.5},
            "cv is computed from cluster_sizes; do not give both (cv=0.5)",
        ),
        ((0.1,), {"mean_cluster_size": 2, "n": 0}, "n must be a whole number >= 1, got 0"),
    ],
)
def test_design_effect_errors(args: tuple[float], kwargs: dict[str, Any], message: str) -> None:
    _raises(message, design_effect, *args, **kwargs)


# ------------------------------------------------------------------------- MRMC
@pytest.fixture(scope="module")
def van_dyke():
    return load_readings(READERS / "van_dyke.csv")


def test_mrmc_needs_two_modalities(van_dyke) -> None:
    three = van_dyke.copy()
    three.loc[three["reader"] == three["reader"].iloc[0], "modality"] = "2"
    with pytest.raises(
        ValueError,
        match=re.escape(
            "the pilot readings must have exactly two modalities for a two-modality power "
            "analysis; found 3: ['0', '1', '2']"
        ),
    ):
        power_mrmc(three, effect=0.05, n_readers=5, n_cases=100)


def test_mrmc_input_errors(van_dyke) -> None:
    _raises(
        "pilot_n_cases is taken from the pilot readings; do not give it with a readings "
        "frame (got 50)",
        power_mrmc,
        van_dyke,
        effect=0.05,
        n_readers=5,
        n_cases=100,
        pilot_n_cases=50,
    )
    _raises(
        "pilot_n_cases (the pilot study's number of cases) is required with a dict of "
        "components and must be >= 2; got None",
        power_mrmc,
        VC,
        effect=0.05,
        n_readers=5,
        n_cases=100,
    )
    _raises(
        "effect must be non-zero to plan a sample size, got 0",
        sample_size_mrmc,
        VC,
        effect=0,
        n_readers=5,
        pilot_n_cases=114,
    )
    _raises(
        "n_readers must be a whole number >= 2, got 1",
        sample_size_mrmc,
        VC,
        effect=0.05,
        n_readers=1,
        pilot_n_cases=114,
    )
    _raises(
        "n_readers must list at least one reader count",
        mrmc_tradeoff,
        VC,
        effect=0.05,
        n_readers=[],
        pilot_n_cases=114,
    )
    _raises(
        "power must be in (0, 1), got 1.5",
        mrmc_tradeoff,
        VC,
        effect=0.05,
        power=1.5,
        pilot_n_cases=114,
    )
    dbm = mrmc_analysis(van_dyke, method="dbm")
    _raises(
        "power needs OR variance components (method='or')",
        power_mrmc,
        dbm,
        effect=0.05,
        n_readers=5,
        n_cases=100,
    )


def test_mrmc_unreachable_power_is_an_impossible_design(van_dyke) -> None:
    effect = 0.9408373590982286 - 0.897037037037037
    with pytest.raises(
        ValueError,
        match=r"^the design cannot reach power 0\.8 with 3 readers: "
        r"even max_cases=100000 cases give 0\.\d{4} \(reader variability "
        r"dominates\); add readers or revise the effect$",
    ):
        sample_size_mrmc(van_dyke, effect=effect, n_readers=3)

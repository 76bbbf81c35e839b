"""Study planning against R and published values.

R values: ``planning_reference.json`` beside this file, written by
``Rscript tests/stats/planning/planning_reference.R > tests/stats/planning/planning_reference.json``
with R 4.2.2 and Debian bookworm's pROC 1.18.0, epiR 2.0.57, jsonlite 1.8.4 (versions in the
file's ``meta``): epiR ``epi.ssdxsesp`` (precision), pROC ``power.roc.test`` (one AUC from
``auc``/``kappa``/``power`` or ``ncases``/``ncontrols``; two AUCs from a list of binormal
parameters), base R ``qbeta``/``dbinom``/``binom.test`` (exact goal power curves),
``optimize`` (restricted MLE for paired proportions) and the Connor (1987) closed form.
Published values: Connor (1987) p. 209 as quoted by powerandsamplesize.com's McNemar
calculator (discordant probabilities 0.45 and 0.05, alpha 0.05 two-sided, power 0.8: 23
pairs) and RJafroc 1.2.0.9000's vignette "Chapter 11, Vignette 4" (Van Dyke data, OR
method, effect = the observed difference, ``SsPowerGivenJK(dataset02, FOM = "Wilcoxon",
J = 6, K = 251, method = "ORH")`` and ``SsPowerTable``; repository dpc10ster/RJafroc,
``docs/articles/Ch11Vig4SampleSize.html``).
"""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import special

import validation.stats.planning as planning_mod
from validation.data.readings import load_readings
from validation.stats import (
    detectable_auc,
    mrmc_tradeoff,
    power_auc,
    power_goal,
    power_mrmc,
    power_paired_auc,
    power_paired_proportions,
    proportion_ci,
    sample_size_auc,
    sample_size_goal,
    sample_size_mrmc,
    sample_size_paired_auc,
    sample_size_paired_proportions,
    sample_size_precision,
)
from validation.stats.planning import _restricted_variance

HERE = Path(__file__).resolve().parent
REF: dict[str, Any] = json.loads((HERE / "planning_reference.json").read_text())
READERS = HERE.parents[1] / "data" / "reader_studies"


def _alt(r_alternative: str) -> str:
    return {"two.sided": "two-sided", "one.sided": "greater"}[r_alternative]


def test_reference_file_names_its_producer() -> None:
    meta = REF["meta"]
    assert meta["packages"] == {"pROC": "1.18.0", "epiR": "2.0.57", "jsonlite": "1.8.4"}
    assert meta["r_version"].startswith("R version 4.2.2")
    assert (HERE / "planning_reference.R").is_file()


# ------------------------------------------------------------------------- precision
@pytest.mark.parametrize(
    "case",
    REF["precision"],
    ids=lambda c: f"{c['expected']}-{c['half_width']}-{c['prevalence']}-{c['confidence_level']}",
)
def test_precision_matches_epir(case: dict[str, Any]) -> None:
    plan = sample_size_precision(
        case["expected"],
        case["half_width"],
        confidence_level=case["confidence_level"],
        prevalence=case["prevalence"],
    )
    assert plan.n_unrounded == pytest.approx(case["n_fractional"], rel=1e-12)
    assert plan.n == case["n_epir"]
    # the total divides the rounded n (epiR divides the unrounded one, so it can be lower)
    assert plan.n_total == math.ceil(case["n_epir"] / case["prevalence"])
    assert case["total_epir"] <= plan.n_total
    assert plan.n_total * case["prevalence"] >= plan.n
    assert (plan.n_total - 1) * case["prevalence"] < plan.n


# ------------------------------------------------------------------------- goal
@pytest.mark.parametrize(
    "case",
    REF["goal"],
    ids=lambda c: f"{c['expected']}-{c['goal']}-{c['power']}-{c['confidence_level']}",
)
def test_goal_matches_r(case: dict[str, Any]) -> None:
    p, g, pw, level = case["expected"], case["goal"], case["power"], case["confidence_level"]
    normal = sample_size_goal(p, g, power=pw, confidence_level=level)
    assert normal.n_unrounded == pytest.approx(case["normal_unrounded"], rel=1e-12)
    assert normal.n == math.ceil(case["normal_unrounded"])
    assert normal.power == pytest.approx(case["normal_power_at_n"], abs=1e-12)
    exact = sample_size_goal(p, g, power=pw, confidence_level=level, method="exact")
    assert (exact.n, exact.n_stable) == (case["exact_n"], case["exact_n_stable"])
    assert exact.power == pytest.approx(case["exact_power"], abs=1e-12)
    assert exact.interval == "clopper_pearson"
    # the whole power curve R computed, n = 1, 2, ...
    curve = [
        power_goal(p, g, n=n, confidence_level=level).power
        for n in range(1, len(case["curve"]) + 1)
    ]
    assert curve == pytest.approx(case["curve"], abs=1e-12)


def test_goal_curve_saw_tooths_so_the_stable_n_matters() -> None:
    (case,) = [c for c in REF["goal"] if (c["expected"], c["goal"], c["power"]) == (0.9, 0.8, 0.8)]
    n, stable = case["exact_n"], case["exact_n_stable"]
    assert (n, stable) == (107, 113)
    curve = case["curve"]
    assert curve[n - 1] >= 0.8 > min(curve[n : stable - 1])  # power drops again after n


@pytest.mark.parametrize("case", REF["binom_test_bounds"], ids=lambda c: f"{c['x']}/{c['n']}")
def test_exact_search_uses_the_same_bound_as_binom_test(case: dict[str, Any]) -> None:
    for level, key in ((0.95, "low95"), (0.90, "low90")):
        low = proportion_ci(
            case["x"], case["n"], method="clopper_pearson", confidence_level=level
        ).ci_low
        assert low == pytest.approx(case[key], abs=1e-12)
        vec = planning_mod._lower_bounds(
            *(planning_mod.np.array([v]) for v in (case["x"], case["n"])), "clopper_pearson", level
        )[0]
        assert vec == pytest.approx(case[key], abs=1e-12)


# ------------------------------------------------------------------------- one AUC
@pytest.mark.parametrize(
    "case", REF["auc_n"], ids=lambda c: f"{c['auc']}-{c['kappa']}-{c['power']}-{c['alternative']}"
)
def test_auc_sample_size_matches_proc(case: dict[str, Any]) -> None:
    plan = sample_size_auc(
        case["auc"],
        ratio=case["kappa"],
        power=case["power"],
        significance_level=case["sig.level"],
        alternative=_alt(case["alternative"]),
    )
    assert plan.n_positive_unrounded == pytest.approx(case["ncases"], rel=1e-12)
    assert plan.n_negative_unrounded == pytest.approx(case["ncontrols"], rel=1e-12)
    assert plan.n_positive == math.ceil(case["ncases"])
    assert plan.n_negative == math.ceil(case["ncontrols"])
    assert plan.power >= case["power"]


@pytest.mark.parametrize(
    "case",
    REF["auc_power"],
    ids=lambda c: f"{c['ncases']}-{c['ncontrols']}-{c['auc']}-{c['alternative']}-{c['sig.level']}",
)
def test_auc_power_matches_proc(case: dict[str, Any]) -> None:
    plan = power_auc(
        case["auc"],
        n_positive=case["ncases"],
        n_negative=case["ncontrols"],
        significance_level=case["sig.level"],
        alternative=_alt(case["alternative"]),
    )
    assert plan.power == pytest.approx(case["power"], abs=1e-12)


@pytest.mark.parametrize(
    "case",
    REF["auc_detectable"],
    ids=lambda c: f"{c['ncases']}-{c['ncontrols']}-{c['power']}-{c['alternative']}",
)
def test_detectable_auc_matches_proc(case: dict[str, Any]) -> None:
    alt = _alt(case["alternative"])
    plan = detectable_auc(
        n_positive=case["ncases"],
        n_negative=case["ncontrols"],
        power=case["power"],
        alternative=alt,
    )
    # pROC's uniroot stops at its default tolerance (about 1e-4 in the AUC)
    assert plan.expected == pytest.approx(case["auc"], abs=1e-4)
    assert plan.power == pytest.approx(case["power"], abs=1e-12)
    assert power_auc(
        plan.expected, n_positive=case["ncases"], n_negative=case["ncontrols"], alternative=alt
    ).power == pytest.approx(case["power"], abs=1e-12)


def test_auc_proc_help_page_examples() -> None:
    # pROC 1.18.0 ?power.roc.test: power.roc.test(ncases=41, ncontrols=72, auc=0.73)
    # -> power = 0.9897453; power.roc.test(auc=0.73, sig.level=0.05, power=0.95, kappa=1.7)
    # -> ncases = 29.6702, ncontrols = 50.43933 (printed values)
    assert power_auc(0.73, n_positive=41, n_negative=72).power == pytest.approx(0.9897453, abs=5e-8)
    plan = sample_size_auc(0.73, power=0.95, ratio=1.7)
    assert plan.n_positive_unrounded == pytest.approx(29.6702, abs=5e-5)
    assert plan.n_negative_unrounded == pytest.approx(50.43933, abs=5e-6)


# ------------------------------------------------------------------------- two AUCs
def _auc(a: float, b: float) -> float:
    return float(special.ndtr(a / math.sqrt(1.0 + b * b)))


@pytest.mark.parametrize(
    "case", REF["paired_auc"], ids=lambda c: f"{c['A1']}-{c['A2']}-{c['kappa']}-{c['alternative']}"
)
def test_paired_auc_matches_proc(case: dict[str, Any]) -> None:
    auc_1, auc_2 = _auc(case["A1"], case["B1"]), _auc(case["A2"], case["B2"])
    assert auc_1 - auc_2 == pytest.approx(case["delta"], abs=1e-15)
    alt = _alt(case["alternative"])
    if alt == "greater" and auc_1 < auc_2:
        # pROC's one-sided test is direction-free (delta^2); radval's "greater" is not
        with pytest.raises(ValueError, match="the design cannot succeed"):
            sample_size_paired_auc(auc_1, auc_2, correlation=case["ra"], alternative=alt)
        return
    kw = {
        "correlation": case["ra"],
        "correlation_negative": case["rn"],
        "b_1": case["B1"],
        "b_2": case["B2"],
        "alternative": alt,
    }
    plan = sample_size_paired_auc(auc_1, auc_2, ratio=case["kappa"], power=case["power"], **kw)
    assert plan.n_positive_unrounded == pytest.approx(case["ncases"], rel=1e-10)
    assert plan.n_negative_unrounded == pytest.approx(case["ncontrols"], rel=1e-10)
    assert plan.power >= case["power"]
    at_80 = power_paired_auc(
        auc_1, auc_2, n_positive=80, n_negative=round(80 * case["kappa"]), **kw
    )
    assert at_80.power == pytest.approx(case["power_at_80"], abs=1e-12)


# ------------------------------------------------------------------------- two proportions
def test_connor_published_example() -> None:
    # Connor (1987) p. 209: p10 = 0.05, p01 = 0.45, alpha = 0.05 two-sided, power 0.8 -> 23
    # (and 23 one-sided at power 0.9)
    assert sample_size_paired_proportions(0.5, 0.9, discordance=0.5).n == 23
    assert (
        sample_size_paired_proportions(
            0.9, 0.5, discordance=0.5, power=0.9, alternative="greater"
        ).n
        == 23
    )


@pytest.mark.parametrize("case", REF["connor"], ids=lambda c: f"{c['p10']}-{c['p01']}-{c['sided']}")
def test_connor_matches_r(case: dict[str, Any]) -> None:
    p10, p01 = case["p10"], case["p01"]
    alt = "two-sided" if case["sided"] == 2 else "greater"
    if alt == "greater" and p10 < p01:
        p10, p01 = p01, p10  # the one-sided hypothesis is that test 1 is better
    p_1, p_2 = 0.5 + p10, 0.5 + p01  # any marginals with p1 - p2 = p10 - p01
    plan = sample_size_paired_proportions(
        p_1,
        p_2,
        discordance=p10 + p01,
        alternative=alt,
        significance_level=case["alpha"],
        power=case["power"],
    )
    assert plan.n_unrounded == pytest.approx(case["n"], rel=1e-12)
    assert plan.method == "connor"
    assert (
        power_paired_proportions(p_1, p_2, n=plan.n, discordance=p10 + p01, alternative=alt).power
        >= case["power"]
    )


@pytest.mark.parametrize(
    "case", REF["restricted"], ids=lambda c: f"{c['p10']}-{c['p01']}-{c['delta0']}"
)
def test_restricted_mle_matches_r_optimize(case: dict[str, Any]) -> None:
    # R's optimize() has tol 1e-13 on p01 but a flat likelihood: agree to 1e-7
    got = _restricted_variance(case["p10"], case["p01"], case["delta0"])
    assert got == pytest.approx(case["var0"], abs=1e-7)


# ------------------------------------------------------------------------- MRMC
@pytest.fixture(scope="module")
def van_dyke():
    return load_readings(READERS / "van_dyke.csv")


VAN_DYKE_EFFECT = 0.9408373590982286 - 0.897037037037037  # the observed OR difference


def test_mrmc_power_matches_rjafroc_vignette(van_dyke) -> None:
    # SsPowerGivenJK(dataset02, FOM="Wilcoxon", J=6, K=251, method="ORH", option="RRRC"):
    # power 0.8005403, ncp 8.91, ddf 16.1
    p = power_mrmc(van_dyke, effect=VAN_DYKE_EFFECT, n_readers=6, n_cases=251)
    assert p.power == pytest.approx(0.8005403, abs=5e-8)
    assert p.noncentrality == pytest.approx(8.91, abs=0.005)
    assert p.df_den == pytest.approx(16.1, abs=0.05)


def test_mrmc_tradeoff_matches_rjafroc_power_table(van_dyke) -> None:
    # SsPowerTable(dataset02, FOM="Wilcoxon", method="ORH", option="RRRC"): readers -> cases
    # (3 readers: ">2000"; RJafroc stops at 2000 cases, radval searches to max_cases)
    published = {
        4: 1089,
        5: 344,
        6: 251,
        7: 211,
        8: 188,
        9: 173,
        10: 163,
        20: 126,
        60: 107,
        100: 103,
    }
    table = mrmc_tradeoff(van_dyke, effect=VAN_DYKE_EFFECT, n_readers=[3, *published])
    assert table.rows[0].n_readers == 3
    assert not table.rows[0].achievable and table.rows[0].n_cases is None
    assert {r.n_readers: r.n_cases for r in table.rows[1:]} == published
    assert all(r.power is not None and r.power >= 0.8 for r in table.rows[1:])
    # SsSampleSizeKGivenJ(dataset02, FOM="Wilcoxon", J=10, method="ORH", option="RRRC"):
    # K = 163, power 0.8015625
    ten = sample_size_mrmc(van_dyke, effect=VAN_DYKE_EFFECT, n_readers=10)
    assert (ten.n_cases, ten.n_readers) == (163, 10)
    assert ten.power == pytest.approx(0.8015625, abs=5e-8)
    frame = table.to_frame()
    assert list(frame.columns) == [
        "n_readers",
        "n_cases",
        "power",
        "achievable",
        "df_den",
        "noncentrality",
    ]
    assert frame["n_cases"].isna().tolist() == [True] + [False] * len(published)
    assert table.pilot_n_cases == 114
    assert json.loads(json.dumps(table.to_dict()))["rows"][1]["n_cases"] == 1089


def test_docstring_examples_run() -> None:
    result = doctest.testmod(planning_mod, raise_on_error=False, verbose=False)
    assert result.attempted >= 20 and result.failed == 0

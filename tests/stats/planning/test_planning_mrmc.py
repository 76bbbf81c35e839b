"""MRMC planning wrappers: the same answer from a readings frame, an OR analysis and its
declared variance components (published values: test_planning_reference.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from validation.data.readings import load_readings
from validation.stats import (
    mrmc_analysis,
    mrmc_power,
    mrmc_tradeoff,
    power_mrmc,
    sample_size_mrmc,
)

READERS = Path(__file__).resolve().parents[2] / "data" / "reader_studies"


@pytest.fixture(scope="module")
def van_dyke():
    return load_readings(READERS / "van_dyke.csv")


def test_frame_result_and_components_agree(van_dyke) -> None:
    result = mrmc_analysis(van_dyke)
    declared = {
        k: result.variance_components[k] for k in ("var_tr", "var_error", "cov1", "cov2", "cov3")
    }
    kw = {"effect": 0.05, "n_readers": 7, "n_cases": 180}
    a = power_mrmc(van_dyke, **kw)
    b = power_mrmc(result, **kw)
    c = power_mrmc(declared, pilot_n_cases=114, **kw)
    assert a == b == c == mrmc_power(result, **kw)
    plans = [
        sample_size_mrmc(src, effect=0.05, n_readers=7, **extra)
        for src, extra in ((van_dyke, {}), (result, {}), (declared, {"pilot_n_cases": 114}))
    ]
    assert plans[0] == plans[1] == plans[2]


def test_sample_size_is_the_fewest_cases(van_dyke) -> None:
    plan = sample_size_mrmc(van_dyke, effect=0.05, n_readers=8, power=0.9)
    assert plan.n_cases is not None and plan.power is not None and plan.power >= 0.9
    below = power_mrmc(van_dyke, effect=0.05, n_readers=8, n_cases=plan.n_cases - 1)
    assert below.power < 0.9
    at = power_mrmc(van_dyke, effect=0.05, n_readers=8, n_cases=plan.n_cases)
    assert (at.df_den, at.noncentrality) == (plan.df_den, plan.noncentrality)
    d = plan.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["target_power"] == 0.9 and d["achievable"] is True


def test_tradeoff_more_readers_never_need_more_cases(van_dyke) -> None:
    table = mrmc_tradeoff(van_dyke, effect=0.06, n_readers=range(2, 16))
    cases = [r.n_cases for r in table.rows if r.achievable]
    assert cases == sorted(cases, reverse=True)
    assert [r.n_readers for r in table.rows] == list(range(2, 16))
    assert table.variance_components.keys() == {"var_tr", "var_error", "cov1", "cov2", "cov3"}
    assert table.to_frame()["n_readers"].tolist() == list(range(2, 16))

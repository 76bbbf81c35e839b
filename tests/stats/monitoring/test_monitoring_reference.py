"""Control-chart ARLs and limits against R's spc 0.6.7 (``monitoring_reference.json``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from validation.stats import (
    bernoulli_ewma_arl,
    normal_cusum_arl,
    normal_cusum_design,
    normal_ewma_arl,
    normal_ewma_design,
)
from validation.stats.monitoring.charts import _poisson_cusum_arl

REF = json.loads((Path(__file__).parent / "monitoring_reference.json").read_text())


def test_reference_file_records_its_provenance() -> None:
    assert REF["meta"]["packages"]["spc"] == "0.6.7"
    assert "monitoring_reference.R" in REF["meta"]["command"]


@pytest.mark.parametrize(
    "case", REF["pois_cusum"], ids=lambda c: f"mu{c['mu']}-k{c['km']}-h{c['hm']}-m{c['m']}"
)
def test_integer_cusum_chain_matches_pois_cusum_arl(case: dict) -> None:
    got = _poisson_cusum_arl(
        case["mu"], k_num=int(case["km"]), h_num=int(case["hm"]), resolution=int(case["m"])
    )
    assert got == pytest.approx(case["arl"], rel=1e-9)


@pytest.mark.parametrize(
    "case", REF["p_ewma"], ids=lambda c: f"l{c['lambda']}-N{c['ucl_num']}-p{c['p']}"
)
def test_bernoulli_ewma_arl_matches_p_ewma_arl(case: dict) -> None:
    got = bernoulli_ewma_arl(
        case["p"],
        lam=case["lambda"],
        ucl_num=int(case["ucl_num"]),
        resolution=int(case["d_res"]),
        z0=case["z0"],
    )
    assert got == pytest.approx(case["arl"], rel=1e-9)


@pytest.mark.parametrize("case", REF["xcusum"], ids=lambda c: f"k{c['k']}-h{c['h']}-mu{c['mu']}")
def test_normal_cusum_arl_matches_xcusum_arl(case: dict) -> None:
    got = normal_cusum_arl(case["mu"], k=case["k"], h=case["h"])
    assert got == pytest.approx(case["arl"], rel=1e-4)


@pytest.mark.parametrize("case", REF["xcusum_crit"], ids=lambda c: f"k{c['k']}-L0{c['L0']}")
def test_normal_cusum_limit_matches_xcusum_crit(case: dict) -> None:
    design = normal_cusum_design(k=case["k"], arl0=case["L0"])
    assert design.limit == pytest.approx(case["h"], abs=2e-4)
    assert design.arl0 == pytest.approx(case["L0"], rel=1e-8)


@pytest.mark.parametrize(
    "case", REF["xewma"], ids=lambda c: f"l{c['lambda']}-c{c['c']}-mu{c['mu']}-zr{c['zr']}"
)
def test_normal_ewma_arl_matches_xewma_arl(case: dict) -> None:
    got = normal_ewma_arl(case["mu"], lam=case["lambda"], c=case["c"], zr=case["zr"])
    assert got == pytest.approx(case["arl"], rel=2e-4)


@pytest.mark.parametrize(
    "case", REF["xewma_crit"], ids=lambda c: f"l{c['lambda']}-L0{c['L0']}-zr{c['zr']}"
)
def test_normal_ewma_limit_matches_xewma_crit(case: dict) -> None:
    design = normal_ewma_design(lam=case["lambda"], arl0=case["L0"], zr=case["zr"])
    assert design.c == pytest.approx(case["c"], abs=5e-4)
    assert design.limit == pytest.approx(
        case["c"] * math.sqrt(case["lambda"] / (2 - case["lambda"])), abs=5e-4
    )

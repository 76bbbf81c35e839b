"""Designs beyond fully crossed, checked against a brute-force twin of MRMCaov's method.

MRMCaov (``mrmc`` with the jackknife) deletes each case from every reader-modality
group that read it, recomputes the AUCs, takes ``(C-1)/C`` times the cross-products
over all ``C`` cases, then zeroes the covariances a design cannot estimate (split
plot: Cov2 = Cov3 = 0; cases nested in modalities: Cov1 = Cov3 = 0). The twin below
does exactly that with pair-counting AUCs.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from validation.data.readings import load_readings
from validation.stats.mrmc import mrmc_analysis

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"


def auc_of(truth: np.ndarray, score: np.ndarray) -> float:
    """AUC by counting every diseased x non-diseased pair (ties 1/2)."""
    pos = score[truth == 1]
    neg = score[truth == 0]
    return float(np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])))


def brute_force(frame: pd.DataFrame, design: str):
    mods = sorted(frame["modality"].unique(), key=lambda s: (float(s), s))
    rdrs = sorted(frame["reader"].unique(), key=lambda s: (float(s), s))
    cases = list(dict.fromkeys(frame["case"]))
    groups = list(itertools.product(mods, rdrs))
    parts = [frame[(frame.modality == m) & (frame.reader == r)] for m, r in groups]
    arrays = [(p["case"].to_numpy(), p["truth"].to_numpy(), p["score"].to_numpy()) for p in parts]
    fom = np.array([auc_of(t, x) for _, t, x in arrays])
    jack = np.empty((len(cases), len(groups)))
    for k, case in enumerate(cases):
        for g, (ids, t, x) in enumerate(arrays):
            keep = ids != case  # delete the case wherever it was read
            jack[k, g] = auc_of(t[keep], x[keep])
    c = len(cases)
    centred = jack - jack.mean(axis=0)
    cov = (c - 1) / c * centred.T @ centred
    same_m = np.array([[a[0] == b[0] for b in groups] for a in groups])
    same_r = np.array([[a[1] == b[1] for b in groups] for a in groups])
    var = np.mean(np.diag(cov))
    cov1 = cov[~same_m & same_r].mean()
    cov2 = cov[same_m & ~same_r].mean()
    cov3 = cov[~same_m & ~same_r].mean()
    if design == "split_plot":
        cov2 = cov3 = 0.0
    if design == "cases_in_modalities":
        cov1 = cov3 = 0.0
    theta = fom.reshape(len(mods), len(rdrs))
    t, r = theta.shape
    ms_t = r * np.sum((theta.mean(1) - theta.mean()) ** 2) / (t - 1)
    resid = theta - theta.mean(1, keepdims=True) - theta.mean(0, keepdims=True) + theta.mean()
    ms_tr = np.sum(resid**2) / ((t - 1) * (r - 1))
    den = ms_tr + r * max(cov2 - cov3, 0)
    f = ms_t / den
    ddf = den**2 / (ms_tr**2 / ((t - 1) * (r - 1)))
    return {
        "F": f,
        "ddf": ddf,
        "p": stats.f.sf(f, t - 1, ddf),
        "var": var,
        "cov1": cov1,
        "cov2": cov2,
        "cov3": cov3,
    }


@pytest.mark.parametrize(
    ("name", "design"),
    [
        ("van_dyke_cases_nested_in_readers.csv", "split_plot"),
        ("van_dyke_cases_nested_in_modalities.csv", "cases_in_modalities"),
        ("kundel_icu_cxr.csv", "partially_paired"),
    ],
)
def test_design_matches_brute_force_mrmcaov_twin(name, design):
    frame = load_readings(DATA / name)
    res = mrmc_analysis(frame)
    assert res.design == design
    twin = brute_force(frame, design)
    t = res.tests["RRRC"]
    assert t.statistic == pytest.approx(twin["F"], rel=1e-10)
    assert t.df_den == pytest.approx(twin["ddf"], rel=1e-10)
    assert t.p_value == pytest.approx(twin["p"], rel=1e-9)
    vc = res.variance_components
    assert vc["var_error"] == pytest.approx(twin["var"], rel=1e-10)
    for k in ("cov1", "cov2", "cov3"):
        assert vc[k] == pytest.approx(twin[k], abs=1e-14)


def test_split_plot_same_aucs_as_crossed_but_no_reader_covariance():
    crossed = mrmc_analysis(load_readings(DATA / "van_dyke.csv"))
    nested = mrmc_analysis(load_readings(DATA / "van_dyke_cases_nested_in_readers.csv"))
    np.testing.assert_allclose(nested.fom["fom"], crossed.fom["fom"], atol=1e-15)
    assert nested.variance_components["cov2"] == 0 and nested.variance_components["cov3"] == 0
    # with Cov2 = Cov3 = 0 the RRRC test reduces to MS(T)/MS(T:R) on (1, 4) df
    assert nested.tests["RRRC"].df_den == pytest.approx(4.0)
    assert nested.tests["RRRC"].statistic == pytest.approx(nested.tests["RRFC"].statistic)


def test_delong_refuses_non_crossed_designs():
    frame = load_readings(DATA / "kundel_icu_cxr.csv")
    with pytest.raises(ValueError, match="DeLong covariance needs fully crossed data"):
        mrmc_analysis(frame, covariance="delong")
    assert math.isfinite(mrmc_analysis(frame, covariance="unbiased").tests["RRRC"].statistic)


def test_dbm_refuses_non_crossed_designs():
    frame = load_readings(DATA / "van_dyke_cases_nested_in_modalities.csv")
    with pytest.raises(ValueError, match="DBM needs fully crossed data"):
        mrmc_analysis(frame, method="dbm")


def test_readers_nested_in_modalities_against_one_way_formulas():
    frame = load_readings(DATA / "imrmc_sim_readers_split_by_modality.csv")
    res = mrmc_analysis(frame)
    assert res.design == "readers_in_modalities"
    f = res.fom
    a = f.loc[f.modality == "testA", "fom"].to_numpy()
    b = f.loc[f.modality == "testB", "fom"].to_numpy()
    assert len(a) == len(b) == 5
    # one-way ANOVA (scipy) for MS(T)/MS(R(T)): fixed-cases test = classical F
    f_oneway = stats.f_oneway(a, b)
    assert res.tests["RRFC"].statistic == pytest.approx(f_oneway.statistic, rel=1e-10)
    assert res.tests["RRFC"].p_value == pytest.approx(f_oneway.pvalue, rel=1e-9)
    vc = res.variance_components
    assert vc["cov1"] == 0 and vc["n0"] == pytest.approx(5.0)
    # RRRC: var(diff) = (1/5 + 1/5)(MS(R(T)) + 5 max(Cov2 - Cov3, 0))
    ms_r = (np.var(a, ddof=1) + np.var(b, ddof=1)) / 2
    den = ms_r + 5 * max(vc["cov2"] - vc["cov3"], 0)
    (c,) = res.tests["RRRC"].comparisons
    assert c.difference == pytest.approx(a.mean() - b.mean())
    assert c.se == pytest.approx(math.sqrt(0.4 * den), rel=1e-12)
    assert c.df == pytest.approx(den**2 / (ms_r**2 / 8), rel=1e-12)
    # Cov2 / Cov3 / Var from a brute-force jackknife over the 80 shared cases
    cases = list(dict.fromkeys(frame["case"]))
    readers = [f"reader{i}" for i in range(1, 11)]
    mod_of = {r: frame.loc[frame.reader == r, "modality"].iloc[0] for r in readers}
    jack = np.empty((len(cases), len(readers)))
    arrays = [
        (p["case"].to_numpy(), p["truth"].to_numpy(), p["score"].to_numpy())
        for p in (frame[frame.reader == r] for r in readers)
    ]
    for k, case in enumerate(cases):
        for g, (ids, t, x) in enumerate(arrays):
            keep = ids != case
            jack[k, g] = auc_of(t[keep], x[keep])
    n = len(cases)
    centred = jack - jack.mean(axis=0)
    cov = (n - 1) / n * centred.T @ centred
    same = np.array([[mod_of[x] == mod_of[y] for y in readers] for x in readers])
    off = ~np.eye(10, dtype=bool)
    assert vc["cov2"] == pytest.approx(cov[same & off].mean(), rel=1e-10)
    assert vc["cov3"] == pytest.approx(cov[~same].mean(), rel=1e-10)
    assert vc["var_error"] == pytest.approx(np.mean(np.diag(cov)), rel=1e-10)
    assert res.readers[-1] == "reader10"  # natural order
    assert list(res.fom["reader"][:5]) == ["reader1", "reader2", "reader3", "reader4", "reader5"]

"""MRMC analyses against published reference values.

Reference values: RJafroc 2.1.3 (``StSignificanceTesting(dataset02, FOM = "Wilcoxon",
method = "OR", covEstMethod = "jackknife")``, ``StSignificanceTestingCadVsRad(dataset09,
FOM = "Wilcoxon", method = "1T-RRRC" / "1T-RRFC")``) and MRMCaov 0.3.0
(``mrmc(empirical_auc(truth, rating), treatment, reader, case, data = VanDyke)`` with
``cov = jackknife`` and ``cov = DeLong``); the two packages agree. Values as quoted in
radval issue 4. Data: ``tests/data/reader_studies`` (see its README for sources).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from validation.data.readings import load_readings
from validation.stats.mrmc import mrmc_analysis, reader_vs_ai

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"
TOL = 1e-9


@pytest.fixture(scope="module")
def van_dyke():
    return load_readings(DATA / "van_dyke.csv")


@pytest.fixture(scope="module")
def vd_or(van_dyke):
    return mrmc_analysis(van_dyke)


def test_van_dyke_reader_averaged_aucs(vd_or):
    means = vd_or.fom.groupby("modality")["fom"].mean()
    assert means["0"] == pytest.approx(0.897037037037037, abs=TOL)
    assert means["1"] == pytest.approx(0.9408373590982286, abs=TOL)
    assert [e.estimate for e in vd_or.modality_foms] == pytest.approx(
        [0.897037037037037, 0.9408373590982286], abs=TOL
    )
    assert list(vd_or.fom.columns) == ["modality", "reader", "fom"]
    assert len(vd_or.fom) == 10


def test_van_dyke_or_jackknife_rrrc(vd_or):
    t = vd_or.tests["RRRC"]
    assert t.statistic == pytest.approx(4.456318693157262, abs=TOL)
    assert t.df_num == 1
    assert t.df_den == pytest.approx(15.259674589141751, abs=TOL)
    assert t.p_value == pytest.approx(0.051665685819294094, abs=TOL)
    (c,) = t.comparisons
    assert (c.modality_a, c.modality_b) == ("0", "1")
    assert c.difference == pytest.approx(-0.043800322061191665, abs=TOL)
    assert c.ci_low == pytest.approx(-0.08795949856655466, abs=TOL)
    assert c.ci_high == pytest.approx(0.0003588544441713304, abs=TOL)
    assert c.p_value == pytest.approx(0.051665685819294094, abs=TOL)
    assert c.df == pytest.approx(15.259674589141751, abs=TOL)
    assert c.statistic**2 == pytest.approx(4.456318693157262, abs=1e-8)


def test_van_dyke_or_variance_components(vd_or):
    vc = vd_or.variance_components
    expected = {
        "var_r": 0.0015349993451339147,
        "var_tr": 0.0002004025235814584,
        "cov1": 0.00034661370944073214,
        "cov2": 0.00034407482886088914,
        "cov3": 0.00023902837089215378,
        "var_error": 0.0008022882655720671,
    }
    for key, value in expected.items():
        assert vc[key] == pytest.approx(value, abs=TOL), key


def test_van_dyke_fixed_readers(vd_or):
    t = vd_or.tests["FRRC"]
    assert t.statistic == pytest.approx(5.475953242477172, abs=TOL)
    assert t.p_value == pytest.approx(0.019279843070754366, abs=TOL)
    assert math.isinf(t.df_den)
    assert t.comparisons[0].df is None  # a z test


def test_van_dyke_delong(van_dyke):
    t = mrmc_analysis(van_dyke, covariance="delong").tests["RRRC"]
    assert t.statistic == pytest.approx(4.484854321820782, abs=TOL)
    assert t.df_den == pytest.approx(15.066107938873072, abs=TOL)


def test_dbm_equals_or_jackknife_rrrc(van_dyke, vd_or):
    """Hillis et al. 2005: DBM on (normalised) jackknife pseudovalues = OR jackknife RRRC."""
    dbm = mrmc_analysis(van_dyke, method="dbm")
    a, b = dbm.tests["RRRC"], vd_or.tests["RRRC"]
    for key in ("statistic", "df_den", "p_value"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), abs=TOL)
    ca, cb = a.comparisons[0], b.comparisons[0]
    assert (ca.ci_low, ca.ci_high) == pytest.approx((cb.ci_low, cb.ci_high), abs=TOL)
    assert set(dbm.variance_components) >= {
        "var_r",
        "var_c",
        "var_tr",
        "var_tc",
        "var_rc",
        "var_error",
    }


def test_cad_vs_radiologists():
    frame = load_readings(DATA / "hupse_karssemeijer_cad_roc.csv")
    out = reader_vs_ai(frame, ai_reader="1")
    rrrc, rrfc = out.rrrc, out.rrfc
    assert rrrc.estimate_b == pytest.approx(0.8169270833333333, abs=TOL)
    assert rrrc.estimate_a == pytest.approx(0.8486631944444445, abs=TOL)
    assert rrrc.difference == pytest.approx(0.8486631944444445 - 0.8169270833333333, abs=TOL)
    assert rrrc.statistic == pytest.approx(0.9928688833840893, abs=TOL)
    assert rrrc.df == pytest.approx(877.886378333107, abs=1e-7)
    assert rrrc.p_value == pytest.approx(0.3210474342573218, abs=TOL)
    assert rrrc.ci_low == pytest.approx(-0.030998768774553, abs=TOL)
    assert rrrc.ci_high == pytest.approx(0.0944709909967753, abs=TOL)
    assert rrfc.statistic == pytest.approx(3.2135050069514195, abs=TOL)
    assert rrfc.df == 8
    assert rrfc.p_value == pytest.approx(0.012359087627749392, abs=TOL)


def test_to_dict_is_json_ready(vd_or):
    d = vd_or.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["tests"]["FRRC"]["df_den"] == "inf"
    assert back["tests"]["RRRC"]["comparisons"][0]["difference"] == pytest.approx(
        -0.043800322061191665, abs=TOL
    )
    assert set(back["variance_components"]) >= {
        "var_r",
        "var_tr",
        "cov1",
        "cov2",
        "cov3",
        "var_error",
    }


def test_result_is_frozen(vd_or):
    with pytest.raises(AttributeError):
        vd_or.method = "dbm"  # type: ignore[misc]


def test_three_modalities_all_pairs_and_overall_f():
    """Five modalities: 10 pairwise differences, sorted order, one overall F."""
    frame = load_readings(DATA / "zanca_fed_inferred_roc.csv")
    res = mrmc_analysis(frame)
    comps = res.tests["RRRC"].comparisons
    assert [(c.modality_a, c.modality_b) for c in comps] == [
        (a, b) for i, a in enumerate("12345") for b in "12345"[i + 1 :]
    ]
    means = res.fom.groupby("modality")["fom"].mean()
    for c in comps:
        assert c.difference == pytest.approx(means[c.modality_a] - means[c.modality_b])
    assert res.tests["RRRC"].df_num == 4
    # the overall F is MS(T) / denominator; check against the components
    vc = res.variance_components
    den = vc["ms_tr"] + len(res.readers) * max(vc["cov2"] - vc["cov3"], 0)
    assert res.tests["RRRC"].statistic == pytest.approx(vc["ms_t"] / den)


def test_froc_wafroc_path_uses_detection_arrays():
    """FROC FOMs come from validation.stats.detection.froc_fom_arrays (helper E)."""
    import pandas as pd

    from validation.stats.detection import froc_fom_arrays

    marks = pd.read_csv(DATA / "zanca_fed_froc.csv", dtype=str)
    truth = pd.read_csv(DATA / "zanca_fed_froc_truth.csv", dtype=str)
    res = mrmc_analysis(marks, fom="wafroc", truth=truth)
    fa = froc_fom_arrays(marks, truth, fom="wafroc")
    direct = {
        (m, r): fa.fom[i, j] for i, m in enumerate(fa.modalities) for j, r in enumerate(fa.readers)
    }
    for row in res.fom.itertuples():
        assert row.fom == pytest.approx(direct[(row.modality, row.reader)], abs=1e-15)
    # RJafroc documents wAFROC of dataset04 treatment 1 reader 1 as 0.7792667
    assert res.fom.iloc[0]["fom"] == pytest.approx(0.7792667, abs=1e-7)
    # DBM and OR agree for any jackknife FOM (Hillis et al. 2005)
    dbm = mrmc_analysis(marks, fom="wafroc", truth=truth, method="dbm")
    assert dbm.tests["RRRC"].statistic == pytest.approx(res.tests["RRRC"].statistic, rel=1e-9)
    assert np.isfinite(res.tests["RRRC"].p_value)


def test_reader_vs_ai_on_froc_marks():
    """1T analysis on a FROC FOM: the same formulas, FOM arrays from detection."""
    import pandas as pd

    from validation.stats.detection import froc_fom_arrays

    marks = pd.read_csv(DATA / "zanca_fed_froc.csv", dtype=str)
    truth = pd.read_csv(DATA / "zanca_fed_froc_truth.csv", dtype=str)
    out = reader_vs_ai(marks, ai_reader="1", fom="wafroc", truth=truth, modality="1")
    fa = froc_fom_arrays(marks[marks["modality"] == "1"], truth, fom="wafroc")
    a = fa.readers.index("1")
    d = np.delete(fa.fom[0], a) - fa.fom[0, a]
    assert out.rrfc.difference == pytest.approx(d.mean(), abs=1e-14)
    assert out.rrfc.statistic == pytest.approx(
        d.mean() / math.sqrt(np.var(d, ddof=1) / len(d)), rel=1e-12
    )
    assert out.rrfc.df == len(d) - 1


def test_per_modality_intervals_follow_the_single_treatment_formulas(van_dyke, vd_or):
    """RRRC: se^2 = MS(R)/R + max(Cov2, 0), df = (MS(R) + R max(Cov2,0))^2 / (MS(R)^2/(R-1));
    FRRC: se^2 = (Var + (R-1) max(Cov2, 0)) / R, normal; RRFC: se^2 = MS(R)/R on R-1 df
    (MRMCaov mrmc_tests; RJafroc ciAvgRdrEachTrt*). Jackknife covariances by deletion."""
    from scipy import stats

    foms = vd_or.fom
    cases = list(dict.fromkeys(van_dyke["case"]))
    for i, m in enumerate(["0", "1"]):
        part = van_dyke[van_dyke.modality == m]
        readers = sorted(part.reader.unique())
        jack = np.empty((len(readers), len(cases)))
        for a, r in enumerate(readers):
            pr = part[part.reader == r].set_index("case").loc[cases]
            t, x = pr["truth"].to_numpy(), pr["score"].to_numpy()
            for k in range(len(cases)):
                keep = np.arange(len(cases)) != k
                pos, neg = x[keep & (t == 1)], x[keep & (t == 0)]
                jack[a, k] = np.mean((pos[:, None] > neg) + 0.5 * (pos[:, None] == neg))
        c = len(cases)
        cen = jack - jack.mean(axis=1, keepdims=True)
        cov = (c - 1) / c * cen @ cen.T
        r_ = len(readers)
        var = np.mean(np.diag(cov))
        cov2 = cov[~np.eye(r_, dtype=bool)].mean()
        theta = foms[foms.modality == m]["fom"].to_numpy()
        ms_r = np.var(theta, ddof=1)
        se = math.sqrt(ms_r / r_ + max(cov2, 0))
        df = (ms_r + r_ * max(cov2, 0)) ** 2 / (ms_r**2 / (r_ - 1))
        e = vd_or.tests["RRRC"].modality_foms[i]
        assert e.extra["modality"] == m
        assert e.se == pytest.approx(se, rel=1e-10)
        assert e.extra["df"] == pytest.approx(df, rel=1e-10)
        q = stats.t.ppf(0.975, df)
        assert (e.ci_low, e.ci_high) == pytest.approx(
            (theta.mean() - q * se, theta.mean() + q * se), abs=1e-12
        )
        f = vd_or.tests["FRRC"].modality_foms[i]
        assert f.se == pytest.approx(math.sqrt((var + (r_ - 1) * max(cov2, 0)) / r_), rel=1e-10)
        g = vd_or.tests["RRFC"].modality_foms[i]
        assert g.se == pytest.approx(math.sqrt(ms_r / r_), rel=1e-12)
        assert g.extra["df"] == r_ - 1

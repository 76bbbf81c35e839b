"""Reader FOMs, ROC points and averaged curves, non-inferiority, option errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from validation.data.readings import load_readings
from validation.errors import ReadingsError
from validation.stats.mrmc import (
    average_roc_curve,
    mrmc_analysis,
    mrmc_noninferiority,
    reader_foms,
    reader_roc_points,
    reader_vs_ai,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"


@pytest.fixture(scope="module")
def vd():
    return load_readings(DATA / "van_dyke.csv")


def test_reader_aucs_match_scikit_learn(vd):
    foms = reader_foms(vd)
    for row in foms.itertuples():
        part = vd[(vd.modality == row.modality) & (vd.reader == row.reader)]
        assert row.fom == pytest.approx(roc_auc_score(part["truth"], part["score"]), abs=1e-15)


def test_sensitivity_specificity_at_threshold(vd):
    sens = reader_foms(vd, fom="sensitivity", threshold=3)
    spec = reader_foms(vd, fom="specificity", threshold=3)
    for s, p in zip(sens.itertuples(), spec.itertuples(), strict=True):
        part = vd[(vd.modality == s.modality) & (vd.reader == s.reader)]
        pos = part[part.truth == 1]
        neg = part[part.truth == 0]
        assert s.fom == pytest.approx((pos.score >= 3).mean())
        assert p.fom == pytest.approx((neg.score < 3).mean())
    spec_res = mrmc_analysis(vd, fom="specificity", threshold=3)
    assert spec_res.n_cases == 69
    with pytest.raises(ValueError, match="needs a decision threshold"):
        mrmc_analysis(vd, fom="sensitivity")


def test_roc_points_match_scikit_learn(vd):
    pts = reader_roc_points(vd)
    part = vd[(vd.modality == "1") & (vd.reader == "3")]
    fpr, tpr, _ = roc_curve(part["truth"], part["score"], drop_intermediate=False)
    got = pts[(pts.modality == "1") & (pts.reader == "3")]
    np.testing.assert_allclose(got["fpr"], fpr)
    np.testing.assert_allclose(got["tpr"], tpr)


def test_average_curve_is_mean_of_reader_polylines(vd):
    grid_n = 11
    avg = average_roc_curve(vd, n_points=grid_n)
    pts = reader_roc_points(vd)
    grid = np.linspace(0, 1, grid_n)
    for m in ("0", "1"):
        curves = []
        for r in sorted(vd.reader.unique()):
            p = pts[(pts.modality == m) & (pts.reader == r)]
            # readers' curves have no vertical runs inside the grid except at fpr 0
            curves.append(np.interp(grid, p["fpr"], p["tpr"]))
        expected = np.mean(curves, axis=0)
        got = avg[avg.modality == m]["tpr"].to_numpy()
        np.testing.assert_allclose(got[1:], expected[1:], atol=1e-12)
        assert got[-1] == 1.0
        assert np.all(np.diff(got) >= -1e-12)
    # with a fine grid the area under the averaged curve approaches the mean AUC
    fine = average_roc_curve(vd, n_points=20001)
    mean_auc = reader_foms(vd).groupby("modality")["fom"].mean()
    for m in ("0", "1"):
        f = fine[fine.modality == m]
        assert np.trapezoid(f["tpr"], f["fpr"]) == pytest.approx(mean_auc[m], abs=1e-3)


def test_noninferiority_and_superiority(vd):
    res = mrmc_analysis(vd)
    (c,) = res.tests["RRRC"].comparisons
    ni = mrmc_noninferiority(vd, modality_test="1", modality_reference="0", margin=0.05)
    assert ni.difference == pytest.approx(-c.difference)
    assert (ni.ci_low, ni.ci_high) == pytest.approx((-c.ci_high, -c.ci_low))
    assert ni.margin == -0.05 and ni.alternative == "greater"
    assert ni.statistic == pytest.approx((ni.difference + 0.05) / c.se)
    assert ni.extra["conclusion"] is True
    # the conclusion is the one-sided test at (1 - level) / 2
    sup = mrmc_noninferiority(
        vd, modality_test="1", modality_reference="0", margin=0.0, alternative="superiority"
    )
    assert sup.p_value == pytest.approx(c.p_value / 2)
    assert sup.extra["conclusion"] == (sup.p_value < 0.025)
    rev = mrmc_noninferiority(vd, modality_test="0", modality_reference="1", margin=0.01)
    assert rev.extra["conclusion"] is False
    assert rev.p_value > 0.5


def test_option_errors(vd):
    with pytest.raises(ValueError, match="method must be one of"):
        mrmc_analysis(vd, method="xyz")
    with pytest.raises(ValueError, match="covariance must be one of"):
        mrmc_analysis(vd, covariance="xyz")
    with pytest.raises(ValueError, match="uses jackknife pseudovalues"):
        mrmc_analysis(vd, method="dbm", covariance="delong")
    with pytest.raises(ValueError, match="is for fom='auc'"):
        mrmc_analysis(vd, fom="sensitivity", threshold=3, covariance="delong")
    with pytest.raises(ValueError, match="confidence_level"):
        mrmc_analysis(vd, confidence_level=95)
    one = vd[vd.modality == "0"]
    with pytest.raises(ReadingsError, match="at least 2 modalities and 2 readers"):
        mrmc_analysis(one)
    with pytest.raises(ReadingsError, match="AI reader 'nobody' not found"):
        reader_vs_ai(one, ai_reader="nobody")
    with pytest.raises(ValueError, match="choose one with modality="):
        reader_vs_ai(vd, ai_reader="0")


def test_bootstrap_covariance_is_reproducible_and_close_to_jackknife(vd):
    a = mrmc_analysis(vd, covariance="bootstrap", rng=11, n_resamples=500)
    b = mrmc_analysis(vd, covariance="bootstrap", rng=11, n_resamples=500)
    assert a.tests["RRRC"].statistic == b.tests["RRRC"].statistic
    j = mrmc_analysis(vd)
    assert a.variance_components["var_error"] == pytest.approx(
        j.variance_components["var_error"], rel=0.25
    )
    assert a.extra["n_resamples"] == 500


def test_confidence_level_changes_only_intervals(vd):
    a = mrmc_analysis(vd, confidence_level=0.9)
    b = mrmc_analysis(vd)
    ca, cb = a.tests["RRRC"].comparisons[0], b.tests["RRRC"].comparisons[0]
    assert ca.p_value == cb.p_value
    assert ca.ci_high - ca.ci_low < cb.ci_high - cb.ci_low
    assert ca.confidence_level == 0.9
    assert not math.isnan(ca.se)


def test_reader_vs_ai_with_modality_choice(vd):
    out = reader_vs_ai(vd, ai_reader="0", modality="1")
    foms = reader_foms(vd)
    f1 = foms[foms.modality == "1"].set_index("reader")["fom"]
    assert out.rrrc.estimate_b == pytest.approx(f1["0"])
    assert out.rrrc.difference == pytest.approx(f1.drop("0").mean() - f1["0"])

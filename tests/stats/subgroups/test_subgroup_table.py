"""subgroup_table: cells equal the case-level functions on the subset; groups, bands,
guardrails, labels and exact error messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validation.errors import UndefinedMetricError, UnknownMetricError
from validation.stats import bootstrap_interval, bootstrap_weights, subgroup_table
from validation.stats.registry import get_metric, list_metrics
from validation.stats.subgroups import age_band_labels, age_bands

ALL = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "auc")


def _mask(groups: pd.DataFrame, attribute: str, group: str) -> np.ndarray:
    if attribute == "overall":
        return np.ones(len(groups), dtype=bool)
    m = np.ones(len(groups), dtype=bool)
    for col, val in zip(attribute.split(" & "), group.split(" & "), strict=True):
        lab = groups[col].astype(object).where(groups[col].notna(), "unknown").astype(str)
        m &= (lab == val).to_numpy()
    return m


@st.composite
def datasets(draw):
    n = draw(st.integers(8, 80))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    s = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=float) / 6
    sex = draw(st.lists(st.sampled_from(["F", "M", None]), min_size=n, max_size=n))
    site = draw(st.lists(st.sampled_from([1, 2, 3]), min_size=n, max_size=n))
    return y, s, pd.DataFrame({"sex": sex, "site": site})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_every_cell_equals_the_metric_on_its_subset(d):
    y, s, groups = d
    res = subgroup_table(
        y,
        s,
        groups,
        metrics=ALL,
        threshold=0.5,
        intersections=[("sex", "site")],
        min_n=1,
        min_pos=1,
        min_neg=1,
        disparity=False,
    )
    pred = (s >= 0.5).astype(int)
    assert len(res.table) == len(ALL) * (
        1
        + groups["sex"].nunique(dropna=False)
        + groups["site"].nunique()
        + len(groups.astype(str).drop_duplicates())
    )
    for row in res.table.itertuples():
        m = _mask(groups, row.attribute, row.group)
        assert (row.n, row.n_pos, row.n_neg) == (m.sum(), y[m].sum(), m.sum() - y[m].sum())
        spec = get_metric(row.metric)
        yv = s if spec.kind == "score" else pred
        try:
            est = spec.compute(y[m], yv[m], method=spec.default_ci_method, confidence_level=0.95)
        except UndefinedMetricError:
            assert row.status == "not_estimable" and row.reason
            assert math.isnan(row.estimate)
            continue
        if row.status == "not_estimable":  # only the guardrails may refuse a defined metric
            assert "min_" in row.reason
            continue
        assert (row.estimate, row.ci_low, row.ci_high) == (est.estimate, est.ci_low, est.ci_high)
        assert row.method == est.method and row.denominator == est.n


def test_missing_values_are_an_explicit_unknown_group_never_dropped():
    rng = np.random.default_rng(3)
    n = 300
    y = rng.integers(0, 2, n)
    groups = pd.DataFrame(
        {"sex": rng.choice(["F", "M", None], n), "site": rng.choice([1.0, 2.0, np.nan], n)}
    )
    res = subgroup_table(y, y.astype(float), groups, metrics=("sensitivity",), disparity=False)
    t = res.table
    for attr in ("sex", "site"):
        sub = t[t.attribute == attr]
        assert sub["n"].sum() == n
        assert sub["group"].iloc[-1] == "unknown"
        assert sub.loc[sub.group == "unknown", "n"].item() == groups[attr].isna().sum()
    assert set(t[t.attribute == "site"].group) == {"1", "2", "unknown"}


def test_age_bands_are_right_open_with_declared_labels():
    assert age_band_labels([0, 40, 50, float("inf")]) == ["0-39", "40-49", "50+"]
    assert age_band_labels([18, 40.5, 90]) == ["[18, 40.5)", "[40.5, 90)"]
    ages = [39.9, 40, 49.99, 50, None, 80, 12, 45]
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    groups = pd.DataFrame({"age": ages})
    res = subgroup_table(
        y,
        y,
        groups,
        metrics=("accuracy",),
        age_bins=[0, 40, 50, float("inf")],
        min_n=0,
        min_pos=0,
        min_neg=0,
        disparity=False,
    )
    t = res.table[res.table.attribute == "age_band"].set_index("group")["n"]
    assert t.to_dict() == {"0-39": 2, "40-49": 3, "50+": 2, "unknown": 1}
    assert res.settings["age_band_labels"] == ["0-39", "40-49", "50+"]


def test_age_bands_is_the_one_banding_the_table_uses():
    edges = [0, 40, 50, 65, float("inf")]
    ages = np.array([0, 39.999, 40, 49.5, 50, 64.99, 65, 101, np.nan])
    bands = age_bands(ages, edges)
    assert bands.tolist() == [
        "0-39",
        "0-39",
        "40-49",
        "40-49",
        "50-64",
        "50-64",
        "65+",
        "65+",
        "unknown",
    ]
    assert set(bands[:-1]) == set(age_band_labels(edges))  # labels agree everywhere
    # brute-force twin of the right-open rule [b_i, b_{i+1})
    for a, label in zip(ages[:-1], bands[:-1], strict=True):
        (i,) = [i for i in range(len(edges) - 1) if edges[i] <= a < edges[i + 1]]
        assert label == age_band_labels(edges)[i]
    groups = pd.DataFrame({"age": ages})
    y = np.arange(len(ages)) % 2
    res = subgroup_table(
        y,
        y,
        groups,
        metrics=("accuracy",),
        age_bins=edges,
        min_n=0,
        min_pos=0,
        min_neg=0,
        disparity=False,
    )
    t = res.table[res.table.attribute == "age_band"].set_index("group")["n"]
    assert t.to_dict() == pd.Series(bands).value_counts().reindex(t.index).to_dict()


def test_age_bands_outside_the_edges():
    with pytest.raises(ValueError) as e:
        age_bands([30, 100], [0, 100])
    assert str(e.value) == "age 100 at row 1 lies outside the declared age_bins [0, 100)"
    assert age_bands([30, 100, -1, None], [0, 100], outside="out_of_bands").tolist() == [
        "0-99",
        "out_of_bands",
        "out_of_bands",
        "unknown",
    ]
    with pytest.raises(ValueError) as e:
        age_bands([30, "old"], [0, 100])
    assert str(e.value) == "ages must be numbers to derive age bands, found 'old' at row 1"
    with pytest.raises(ValueError) as e:
        age_bands([30], [0, 100], outside=1)
    assert str(e.value) == "outside must be a str, got 1"


def test_intersections_cover_observed_combinations_only():
    groups = pd.DataFrame(
        {
            "sex": ["F", "F", "M", "M", None, "F"],
            "manufacturer": ["GE", "Philips", "GE", "GE", "GE", "GE"],
        }
    )
    y = np.array([1, 0, 1, 0, 1, 0])
    res = subgroup_table(
        y,
        y,
        groups,
        metrics=("accuracy",),
        intersections=[("sex", "manufacturer")],
        min_n=0,
        min_pos=0,
        min_neg=0,
        disparity=False,
    )
    inter = res.table[res.table.attribute == "sex & manufacturer"]
    assert inter["group"].tolist() == ["F & GE", "F & Philips", "M & GE", "unknown & GE"]
    assert inter["n"].tolist() == [2, 1, 2, 1]


def test_guardrails_make_small_cells_not_estimable_with_the_reason():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40), np.zeros(40), np.ones(3), np.zeros(30)].astype(int)
    site = ["A"] * 80 + ["B"] * 33
    s = rng.uniform(size=y.size)
    res = subgroup_table(
        y,
        s,
        pd.DataFrame({"site": site}),
        metrics=("sensitivity", "specificity", "auc"),
        threshold=0.5,
        min_n=20,
        min_pos=10,
        min_neg=10,
        n_resamples=100,
        rng=1,
    )
    b = res.table[(res.table.attribute == "site") & (res.table.group == "B")].set_index("metric")
    assert b.loc["sensitivity", "status"] == "not_estimable"
    assert b.loc["sensitivity", "reason"] == "n_pos=3 < min_pos=10"
    assert math.isnan(b.loc["sensitivity", "estimate"])
    assert b.loc["specificity", "status"] == "ok"  # specificity needs negatives only
    assert b.loc["auc", "reason"] == "n_pos=3 < min_pos=10"
    row = [r for r in res.to_dict()["rows"] if r["group"] == "B" and r["metric"] == "auc"][0]
    assert row["estimate"] is None and row["status"] == "not_estimable"
    d = res.disparity.set_index(["group", "metric"])
    assert d.loc[("B", "auc"), "status"] == "not_estimable"
    assert d.loc[("B", "auc"), "reason"] == "group: n_pos=3 < min_pos=10"
    assert d.loc[("A", "auc"), "reason"] == "reference: n_pos=3 < min_pos=10"
    h = res.heterogeneity.set_index("metric")
    assert h.loc["auc", "status"] == "not_estimable" and h.loc["auc", "groups_excluded"] == "B"


def test_prespecified_and_exploratory_are_labelled():
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 2, n)
    groups = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "site": rng.choice(["A", "B"], n)})
    res = subgroup_table(
        y,
        rng.uniform(size=n),
        groups,
        threshold=0.5,
        prespecified=["site"],
        intersections=[("sex", "site")],
        n_resamples=100,
        rng=2,
    )
    lab = res.table.groupby("attribute")["prespecified"].unique().to_dict()
    assert lab == {"overall": [True], "sex": [False], "site": [True], "sex & site": [False]}
    assert set(res.disparity.loc[res.disparity.prespecified, "attribute"]) == {"site"}
    assert res.settings["prespecified"] == ["site"]


def test_to_dict_is_strict_json():
    rng = np.random.default_rng(2)
    n = 200
    y = rng.integers(0, 2, n)
    groups = pd.DataFrame({"sex": rng.choice(["F", "M", None], n)})
    res = subgroup_table(
        y, rng.uniform(size=n), groups, threshold=0.5, metrics=ALL, min_n=80, n_resamples=50, rng=3
    )
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert set(out) == {
        "rows",
        "disparity",
        "heterogeneity",
        "fairness",
        "multiplicity",
        "settings",
    }
    assert out["multiplicity"] == "holm"
    assert {
        "attribute",
        "group",
        "metric",
        "n",
        "n_pos",
        "n_neg",
        "estimate",
        "ci_low",
        "ci_high",
        "status",
        "reason",
        "prespecified",
    } <= set(out["rows"][0])


def test_clustered_bootstrap_cells_equal_a_brute_force_twin():
    rng = np.random.default_rng(5)
    n_pat = 120
    per = rng.integers(1, 3, n_pat)
    pid = np.repeat(np.arange(n_pat), per)
    n = pid.size
    y = rng.integers(0, 2, n)
    s = y + rng.normal(0, 1.2, n)
    site = np.repeat(rng.choice(["A", "B"], n_pat), per)
    groups = pd.DataFrame({"site": site})
    res = subgroup_table(
        y,
        s,
        groups,
        metrics=("sensitivity", "auc"),
        threshold=0.5,
        clusters=pid,
        n_resamples=300,
        rng=11,
        min_n=1,
        min_pos=1,
        min_neg=1,
    )
    assert res.settings["ci_methods"] == {"sensitivity": "bootstrap", "auc": "bootstrap"}
    boot_rng, _ = np.random.default_rng(11).spawn(2)
    w = np.vstack(list(bootstrap_weights(pid, n_resamples=300, rng=boot_rng))).astype(float)
    pred = (s >= 0.5).astype(int)
    m = site == "A"
    sens = (w[:, m] @ ((y[m] == 1) & (pred[m] == 1))) / (w[:, m] @ (y[m] == 1))
    pos, neg = m & (y == 1), m & (y == 0)
    h = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
    auc = np.einsum("bi,ij,bj->b", w[:, pos], h, w[:, neg]) / (w[:, pos].sum(1) * w[:, neg].sum(1))
    row = res.table[(res.table.group == "A")].set_index("metric")
    for name, reps in (("sensitivity", sens), ("auc", auc)):
        point = (
            get_metric(name)
            .compute(
                y[m],
                (pred if name == "sensitivity" else s)[m],
                method=get_metric(name).default_ci_method,
            )
            .estimate
        )
        lo, hi = bootstrap_interval(point, reps, method="percentile")
        assert row.loc[name, "estimate"] == point
        assert row.loc[name, "ci_low"] == pytest.approx(lo, abs=1e-12)
        assert row.loc[name, "ci_high"] == pytest.approx(hi, abs=1e-12)
        assert row.loc[name, "method"] == "cluster_bootstrap_percentile"
    # the disparity of A against the rest (= B) uses the same resamples: paired by design
    mb = ~m
    sens_b = (w[:, mb] @ ((y[mb] == 1) & (pred[mb] == 1))) / (w[:, mb] @ (y[mb] == 1))
    d = res.disparity.set_index(["group", "metric"]).loc[("A", "sensitivity")]
    diff_point = sens[0] * 0 + (
        ((y[m] == 1) & (pred[m] == 1)).sum() / (y[m] == 1).sum()
        - ((y[mb] == 1) & (pred[mb] == 1)).sum() / (y[mb] == 1).sum()
    )
    lo, hi = bootstrap_interval(diff_point, sens - sens_b, method="percentile")
    assert d["difference"] == pytest.approx(diff_point, abs=1e-14)
    assert (d["difference_ci_low"], d["difference_ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    se = np.std(sens - sens_b, ddof=1)
    from scipy.stats import norm

    assert d["p_value"] == pytest.approx(2 * norm.sf(abs(diff_point) / se), rel=1e-10)


def test_disparity_against_a_declared_reference_group():
    rng = np.random.default_rng(8)
    n = 600
    y = rng.integers(0, 2, n)
    man = rng.choice(["GE", "Philips", "Siemens"], n)
    s = y + rng.normal(0, 1, n)
    res = subgroup_table(
        y,
        s,
        pd.DataFrame({"manufacturer": man}),
        metrics=("specificity", "auc"),
        threshold=0.5,
        reference={"manufacturer": "GE"},
        n_resamples=200,
        rng=4,
    )
    d = res.disparity.set_index(["group", "metric"])
    assert set(d.index.get_level_values(0)) == {"Philips", "Siemens"}
    pred = s >= 0.5
    for g in ("Philips", "Siemens"):
        spec = lambda mask: ((y[mask] == 0) & ~pred[mask]).sum() / (y[mask] == 0).sum()  # noqa: E731
        assert d.loc[(g, "specificity"), "reference"] == "GE"
        assert d.loc[(g, "specificity"), "difference"] == pytest.approx(
            spec(man == g) - spec(man == "GE")
        )
        auc_g = get_metric("auc").compute(y[man == g], s[man == g], method="delong").estimate
        auc_r = get_metric("auc").compute(y[man == "GE"], s[man == "GE"], method="delong").estimate
        assert d.loc[(g, "auc"), "difference"] == pytest.approx(auc_g - auc_r, abs=1e-12)
        assert d.loc[(g, "auc"), "ratio"] == pytest.approx(auc_g / auc_r, abs=1e-12)


def test_multiplicity_is_applied_within_each_family():
    from validation.stats import adjust_pvalues

    rng = np.random.default_rng(9)
    n = 500
    y = rng.integers(0, 2, n)
    groups = pd.DataFrame(
        {"sex": rng.choice(["F", "M"], n), "site": rng.choice(["A", "B", "C"], n)}
    )
    s = rng.uniform(size=n)
    for method in ("holm", "fdr_bh"):
        res = subgroup_table(
            y,
            s,
            groups,
            threshold=0.5,
            prespecified=["site"],
            multiplicity=method,
            n_resamples=100,
            rng=1,
        )
        for fam in (True, False):
            sub = res.disparity[
                (res.disparity.prespecified == fam) & (res.disparity.status == "ok")
            ]
            assert np.allclose(
                sub.p_adjusted, adjust_pvalues(sub.p_value.to_numpy(), method=method)
            )
    res = subgroup_table(y, s, groups, threshold=0.5, multiplicity="none", n_resamples=50, rng=1)
    ok = res.disparity.status == "ok"
    assert (res.disparity.loc[ok, "p_adjusted"] == res.disparity.loc[ok, "p_value"]).all()


# ------------------------------------------------------------------ exact messages


def _small():
    y = np.array([0, 1, 0, 1])
    return y, np.array([0.1, 0.9, 0.4, 0.6]), pd.DataFrame({"sex": ["F", "M", "F", "M"]})


def test_error_messages():
    y, s, g = _small()
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g.iloc[:3], threshold=0.5)
    assert str(e.value) == "groups has 3 rows but y_true has 4 cases; expected one row per case"
    with pytest.raises(UnknownMetricError) as e:
        subgroup_table(y, s, g, metrics=("sensitivity", "f1"), threshold=0.5)
    assert str(e.value) == f"unknown metric 'f1'; known metrics: {', '.join(list_metrics())}"
    with pytest.raises(
        ValueError,
        match=r"^groups must be a pandas DataFrame of attribute columns \(one row per case\), got dict$",
    ):
        subgroup_table(y, s, {"sex": ["F"] * 4}, threshold=0.5)
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, metrics=("sensitivity",))
    assert str(e.value) == (
        "metrics ('sensitivity',) need 0/1 predictions: pass threshold= or give "
        "y_score_or_pred as 0/1 predictions; found 0.1 at index 0"
    )
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, intersections=[("sex", "site")])
    assert (
        str(e.value)
        == "intersection ('sex', 'site') names unknown attribute 'site'; attributes: sex"
    )
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, prespecified=["race"])
    assert (
        str(e.value)
        == "prespecified names 'race', which is not an analysed attribute; analysed: sex"
    )
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, reference={"sex": "X"})
    assert str(e.value) == "reference group 'X' for attribute 'sex' does not occur; groups: F, M"
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, multiplicity="sidak")
    assert str(e.value) == (
        "multiplicity must be one of ('holm', 'fdr_bh', 'bonferroni', 'hochberg', 'none'), got 'sidak'"
    )
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, ci_method={"auc": "wilson"})
    assert str(e.value) == (
        "ci_method 'wilson' is not valid for metric 'auc'; valid: ('delong', 'delong_logit', 'bootstrap')"
    )
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, min_pos=-1)
    assert str(e.value) == "min_pos must be a non-negative integer, got -1"
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, pd.DataFrame({"age": [30, 41, 52, 63]}), threshold=0.5)
    assert str(e.value) == (
        "groups column 'age' is numeric; declare age_bins (e.g. [0, 40, 50, 60, 70, inf]) "
        "to derive age bands"
    )
    with pytest.raises(ValueError) as e:
        subgroup_table(
            y, s, pd.DataFrame({"age": [30, 41, 120, 63]}), threshold=0.5, age_bins=[0, 50, 100]
        )
    assert str(e.value) == "age 120 at row 2 lies outside the declared age_bins [0, 100)"
    with pytest.raises(ValueError) as e:
        subgroup_table(
            y, s, pd.DataFrame({"age": [30, "old", 1, 63]}), threshold=0.5, age_bins=[0, 50, 100]
        )
    assert (
        str(e.value)
        == "groups column 'age' must be numeric to derive age bands, found 'old' at row 1"
    )
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, age_bins=[0, 50, 40])
    assert str(e.value) == "age_bins must be strictly increasing, got [0, 50, 40]"
    with pytest.raises(ValueError) as e:
        subgroup_table(y, s, g, threshold=0.5, clusters=[1, 2, 3])
    assert str(e.value) == "inputs must have the same length, got y_true=4, clusters=3"


def test_bootstrap_cell_with_a_single_positive_still_has_its_point_estimate():
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.1, 0.4, 0.2, 0.8, 0.3, 0.7, 0.6, 0.5, 0.35])
    site = np.array(["A"] * 4 + ["B"] * 6)
    res = subgroup_table(
        y,
        s,
        pd.DataFrame({"site": site}),
        metrics=("auc",),
        ci_method="bootstrap",
        min_n=1,
        min_pos=1,
        min_neg=1,
        n_resamples=200,
        rng=0,
    )
    a = res.table[res.table.group == "A"].iloc[0]
    assert a.status == "ok" and a.estimate == 1.0  # the one positive outranks all 3 negatives
    assert a.method == "bootstrap_percentile"


def test_to_dict_validates_against_the_results_schema_subgroups_block():
    from pathlib import Path

    import jsonschema

    import validation

    schema = json.loads(
        (Path(validation.__file__).parent / "schemas" / "results.schema.json").read_text()
    )
    sub = {"$defs": schema.get("$defs", {}), **schema["properties"]["subgroups"]}
    rng = np.random.default_rng(12)
    n = 300
    y = rng.integers(0, 2, n)
    groups = pd.DataFrame(
        {"sex": rng.choice(["F", "M", None], n), "site": rng.choice(["A", "B"], n)}
    )
    res = subgroup_table(
        y,
        rng.uniform(size=n),
        groups,
        threshold=0.5,
        metrics=ALL,
        min_n=60,
        intersections=[("sex", "site")],
        n_resamples=50,
        rng=1,
    )
    jsonschema.validate(json.loads(json.dumps(res.to_dict(), allow_nan=False)), sub)

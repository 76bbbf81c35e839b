"""The subgroup view model: 'Where performance is lower', call-outs, forest rows, model card.

Built from hand-written ``subgroups`` blocks whose expected readings are worked out by
hand below (each group's difference CI against zero, each cell's CI against the primary
criterion), so every assertion can fail if a rule is read the wrong way round.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from validation.report import charts
from validation.report._model_card import model_card_view
from validation.report._subgroups import _signed, lower_performance, subgroups_section, tone

SVG = "{http://www.w3.org/2000/svg}"
LONG = "manufacturer & sex: Borealis Imaging Diagnostics Corporation & F"


def cell(attr: str, group: str, metric: str, est: float | None, lo: float | None,
         hi: float | None, *, n: int = 100, pre: bool = True, status: str = "ok",
         reason: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "attribute": attr, "group": group, "metric": metric, "estimate": est, "ci_low": lo,
        "ci_high": hi, "n": n, "n_pos": n // 2, "n_neg": n - n // 2, "status": status,
        "reason": reason, "prespecified": pre, "confidence_level": 0.95, "method": "bootstrap",
    }  # fmt: skip


def disp(attr: str, group: str, metric: str, diff: float, lo: float, hi: float, *,
         weaker: bool, flagged: bool = False, pre: bool = True) -> dict[str, Any]:  # fmt: skip
    return {
        "attribute": attr, "group": group, "metric": metric, "difference": diff,
        "difference_ci_low": lo, "difference_ci_high": hi, "estimate": 0.5,
        "reference_estimate": 0.5 - diff, "weaker": weaker, "flagged": flagged,
        "prespecified": pre, "status": "ok", "reason": "", "p_value": 0.01, "p_adjusted": 0.03,
        "reference": "rest",
    }  # fmt: skip


def document() -> dict[str, Any]:
    rows = [
        cell("overall", "all", "sensitivity", 0.85, 0.80, 0.90, n=400),
        cell("site", "B", "sensitivity", 0.70, 0.60, 0.79),  # lower, gap -0.20
        cell("site", "A", "sensitivity", 0.92, 0.88, 0.96),  # higher
        cell("site", "C", "sensitivity", 0.81, 0.72, 0.88),  # CI of diff spans 0
        cell("sex", "F", "sensitivity", 0.78, 0.70, 0.86),  # lower, gap -0.10, flagged
        cell("sex", "M", "sensitivity", 0.88, 0.84, 0.92),
        cell("scanner", "X", "sensitivity", 0.60, 0.50, 0.70, pre=False),  # exploratory
        cell(
            "site",
            "D",
            "sensitivity",
            None,
            None,
            None,
            n=8,
            status="not_estimable",
            reason="n 8 < min_n 20",
        ),  # fmt: skip
        cell("sex & age", LONG, "sensitivity", 0.76, 0.60, 0.74),  # below criterion only
    ]
    disparity = [
        disp("site", "B", "sensitivity", -0.20, -0.30, -0.10, weaker=True),
        disp("site", "A", "sensitivity", 0.09, 0.03, 0.15, weaker=False),
        disp("site", "C", "sensitivity", -0.05, -0.12, 0.02, weaker=True),
        disp("sex", "F", "sensitivity", -0.10, -0.18, -0.02, weaker=True, flagged=True),
        disp("scanner", "X", "sensitivity", -0.30, -0.40, -0.20, weaker=True, pre=False),
        disp("sex & age", LONG, "sensitivity", -0.04, -0.15, 0.07, weaker=True),
    ]
    return {
        "subgroups": {
            "rows": rows,
            "disparity": disparity,
            "multiplicity": "holm",
            "settings": {"confidence_level": 0.95},
            "guardrails": {"max_disparity": 0.1},
            "max_disparity_exceeded": [
                {"attribute": "site", "group": "B", "metric": "sensitivity", "difference": -0.2},
                {"attribute": "site", "group": "A", "metric": "auc", "difference": 0.12},
            ],
        },
        "protocol": {
            "resolved": {
                "endpoints": [
                    {
                        "id": "sens",
                        "role": "primary",
                        "metric": "sensitivity",
                        "accept": {"bound": "ci_low", "op": ">=", "value": 0.75},
                    },  # fmt: skip
                ]
            }
        },
        "endpoints": [],
    }


def test_tone_reads_the_stored_difference_interval() -> None:
    assert tone(disp("a", "g", "m", -0.2, -0.3, -0.1, weaker=True)) == "lower"
    assert tone(disp("a", "g", "m", 0.2, 0.1, 0.3, weaker=False)) == "higher"
    assert tone(disp("a", "g", "m", -0.2, -0.3, 0.0, weaker=True)) == ""
    assert tone({"status": "not_estimable"}) == "" and tone(None) == ""


def test_where_performance_is_lower_worst_first_prespecified_only() -> None:
    lower = lower_performance(document())
    assert lower is not None
    labels = [i["label"] for i in lower["items"]]
    # B (gap 0.20) before F (gap 0.10); the exploratory scanner and C (CI spans 0) are
    # left out; the long intersection is listed (whole CI 0.60-0.74 below 0.75), last
    assert labels == ["site: B", "sex: F", f"sex & age: {LONG}"]
    b, f, long = lower["items"]
    assert b["gap"] == "\u22120.200 (95% CI \u22120.300 to \u22120.100)"
    assert b["rest"] == "0.700" and b["counts"] == "n = 100, 50 positive, 50 negative"
    assert f["flagged"] and not b["flagged"]
    assert long["gap"] is None
    assert long["criterion"] == (
        "the whole CI is below the acceptance value 0.75 of primary endpoint sens"
    )
    # overall, the exploratory and the not-estimable cells are not counted as checked
    assert lower["n_checked"] == 6


def test_where_performance_is_lower_says_none() -> None:
    doc = document()
    doc["subgroups"]["disparity"] = [
        d | {"difference_ci_high": 0.01} for d in doc["subgroups"]["disparity"]
    ]
    doc["protocol"]["resolved"]["endpoints"] = []
    lower = lower_performance(doc)
    assert lower is not None and lower["items"] == []
    assert lower_performance({"subgroups": None}) is None


def test_callouts_split_lower_and_higher() -> None:
    view = subgroups_section(document())
    assert view is not None
    assert [(c["label"], c["flagged"]) for c in view["lower"]] == [
        ("scanner: X", False),  # exploratory groups are called out too, marked so
        ("site: B", False),
        ("sex: F", True),
    ]
    assert [c["label"] for c in view["higher"]] == ["site: A"]
    assert view["lower"][1]["exceeds_max"] and not view["lower"][2]["exceeds_max"]
    # a point difference past the maximum whose CI is not one-sided is named apart
    assert view["inconclusive"] == [{"label": "site: A", "metric": "AUC", "difference": "+0.120"}]


def test_forest_rows_grouped_sorted_with_full_labels() -> None:
    view = subgroups_section(document())
    assert view is not None
    (plot,) = view["plots"]
    assert [(r["attribute"], r["group"]) for r in plot["table"]] == [
        ("overall", "all"),
        ("site", "A"),
        ("site", "B"),
        ("site", "C"),
        ("site", "D"),
        ("sex", "F"),
        ("sex", "M"),
        ("scanner", "X"),
        ("sex & age", LONG),
    ]
    root = ET.fromstring(str(plot["svg"]))
    lines = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert all("\u2026" not in t for t in lines)  # nothing is cut
    first = lines.index("manufacturer & sex: Borealis Imaging")  # wrapped at 40 characters
    assert " ".join(lines[first : first + 2]) == LONG
    assert "scanner (exploratory)" in lines
    # every row carries a tooltip; the flagged one says so; the not-estimable one its reason
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any(t.startswith("sex: F") and t.endswith("flagged") for t in titles)
    assert any("not estimable: n 8 < min_n 20" in t for t in titles)
    # the overall estimate is the labelled reference line
    assert "overall 0.850" in lines
    # markers: lower = down triangle in vermillion, higher = up triangle in green
    fills = [p.get("fill") for p in root.iter(f"{SVG}polygon")]
    assert fills.count(charts.VERMILLION) == 3 and fills.count(charts.GREEN) == 1


def test_forest_wraps_long_labels_onto_lines() -> None:
    label = "word " * 30
    svg = charts.forest_plot(
        [charts.ForestRow(label.strip(), 0.5, 0.4, 0.6, "0.5")],
        title="t",
        desc="d",
        reference=None,
        reference_label="",
        xlabel="x",
        label_chars=40,
    )
    texts = [t.text for t in ET.fromstring(str(svg)).iter(f"{SVG}text")]
    wrapped = [t for t in texts if t and t.startswith("word")]
    assert len(wrapped) == 4 and all(len(t) <= 40 for t in wrapped)
    assert " ".join(wrapped) == label.strip()


def test_model_card_panels_keep_every_field() -> None:
    card = {
        "schema": "radval.model_card/1",
        "card": {"intended_use": "Triage <b>", "limitations": "Synthetic only", "owners": []},
        "training_data": {"n_cases": 10, "site_counts": {"A": 6, "B": 4}},
        "training": {"software": {"torch": "2.1"}, "seed": 1},
        "model": {"name": "m", "network_args": {"depth": 3}},
        "extra_field": 0.25,
    }
    view = model_card_view(card)
    panels = {p["title"]: dict(p["rows"]) for p in view["panels"]}
    assert panels["Intended use"] == {"Intended use": "Triage <b>"}
    assert panels["Training data"] == {"Training set": "n cases: 10; site counts: A 6, B 4"}
    assert panels["Limitations"] == {"Limitations": "Synthetic only"}
    assert panels["Software and model"]["Training"] == "seed: 1; software: torch 2.1"
    assert panels["Performance (development)"] == {}
    assert view["other"] == [("extra_field", "0.2500"), ("model.network_args.depth", "3")]


def test_a_named_reference_group_is_named() -> None:
    doc = document()
    for d in doc["subgroups"]["disparity"]:
        if d["attribute"] == "sex":
            d["reference"] = "M"
    lower = lower_performance(doc)
    view = subgroups_section(doc)
    assert lower is not None and view is not None
    assert [i["ref"] for i in lower["items"][:2]] == ["the rest", "reference group M"]
    assert [c["ref"] for c in view["lower"]] == ["the rest", "the rest", "reference group M"]
    assert not view["all_rest"] and subgroups_section(document())["all_rest"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-0.177, "\u22120.177"),
        (0.095, "+0.095"),
        (0.0, "0.000"),
        (-0.0003, "\u22120.0003"),  # a CI bound just below zero never reads as 0.000
        (2e-7, "+0.0000002"),
        (-1e-15, "0.000"),  # rounding noise
    ],
)
def test_signed_differences_keep_their_sign(value: float, text: str) -> None:
    assert _signed(value) == text

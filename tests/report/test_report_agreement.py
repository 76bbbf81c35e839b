"""The truthing and measurement view models and the Bland-Altman chart (validation.report.agreement)."""

from __future__ import annotations

import math
import re

from validation.report.agreement import bland_altman_chart, measurement_section, truthing_section

LINES = {
    "bias": {"estimate": 1.0, "ci_low": 0.5, "ci_high": 1.5, "confidence_level": 0.9},
    "loa_low": {"estimate": -4.0, "ci_low": -5.0, "ci_high": -3.2},
    "loa_high": {"estimate": 6.0, "ci_low": 5.1, "ci_high": 7.0},
}


def _y_of(svg: str, stroke: str) -> list[float]:
    return [
        float(m.group(1))
        for m in re.finditer(rf'<line x1="[^"]+" y1="([^"]+)" [^>]*stroke="{stroke}"', svg)
    ]


def test_chart_draws_bias_limits_bands_and_every_pair() -> None:
    points = [(10.0, 0.0), (20.0, 2.0), (30.0, -1.0), (40.0, 5.5)]
    svg = str(
        bland_altman_chart(
            points, LINES, xlabel="Mean <x>", ylabel="Diff & y", title="T <b>", desc="D"
        )
    )
    assert svg.count("<circle ") == len(points) + 1  # the pairs and the legend marker
    # three CI bands (light grey rectangles) plus the legend swatch
    assert svg.count('fill="#d9d9d9"') == 4
    assert "<title>T &lt;b&gt;</title>" in svg and "Diff &amp; y" in svg and "<b>" not in svg
    assert "90% CI of each line" in svg
    bias_y = _y_of(svg, "#0072B2")
    loa_y = _y_of(svg, "#E69F00")
    assert len(bias_y) == 2 and len(loa_y) == 3  # bias + legend; two limits + legend
    # SVG y grows downwards: the upper limit is drawn above the bias, the lower one below
    upper, lower = sorted(loa_y[:2])
    assert upper < bias_y[0] < lower
    assert svg == str(
        bland_altman_chart(
            points, LINES, xlabel="Mean <x>", ylabel="Diff & y", title="T <b>", desc="D"
        )
    )


def test_measurement_section_plots_log_ratios_when_the_analysis_is_logged() -> None:
    doc = {
        "measurement": {
            "quantity": "volume",
            "unit": "mL",
            "n": 2,
            "n_subjects": 2,
            "bland_altman": {**LINES, "log": True, "method": "exact_carkeet_2015"},
            "points": [
                {"case_id": "a", "measured": 2.0, "reference": 1.0},
                {"case_id": "b", "measured": 1.0, "reference": 2.0},
            ],
            "subgroups": [
                {
                    "attribute": "site",
                    "level": "x",
                    "n": 1,
                    "metrics": None,
                    "not_estimable_reason": "one pair",
                }
            ],
        }
    }
    d = measurement_section(doc)
    assert d is not None and d["log"] is True
    svg = str(d["plot"])
    assert "ln(measured / reference)" in svg
    assert d["rows"][0]["result"] == "1.000 (90% CI 0.500\u20131.500)"
    # the two pairs are ln 2 above and below zero: symmetric about the no-difference line
    zero = _y_of(svg, "#6b6b6b")[0]
    ys = [float(y) for y in re.findall(r'<circle cx="[^"]+" cy="([^"]+)"', svg)[:2]]
    assert math.isclose(ys[0] - zero, zero - ys[1], abs_tol=0.02)
    assert d["rows"][0]["label"] == "Bias (mean difference) (mL)"
    assert d["subgroups"][0]["reason"] == "one pair"
    assert measurement_section({}) is None and truthing_section({}) is None


def test_truthing_section_lists_not_estimable_statistics_and_caps_discordant_cases() -> None:
    doc = {
        "truthing": {
            "rule": "majority",
            "use": "check",
            "truthers": ["a", "b", "c"],
            "agreement": [
                {
                    "statistic": "fleiss_kappa",
                    "estimate": None,
                    "ci_low": None,
                    "ci_high": None,
                    "not_estimable_reason": "one category only",
                },
            ],
            "paths": [{"path": "majority", "n": 3}],
            "reference": {"n_positive": 1, "n_negative": 2, "n_unresolved": 0},
            "check": {
                "n_compared": 60,
                "n_discordant": 60,
                "discordant": [
                    {"case_id": str(i), "manifest": 0, "adjudicated": 1} for i in range(60)
                ],
            },
        }
    }
    d = truthing_section(doc)
    assert d is not None
    assert d["agreement"][0]["label"] == "Fleiss' kappa"
    assert d["agreement"][0]["reason"] == "one category only"
    assert d["paths"] == [{"label": "Decided by majority", "n": 3}]
    assert d["rule"] == "majority of the truthers' reads"
    assert len(d["discordant"]) == 50 and d["discordant_capped"]

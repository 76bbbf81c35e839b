"""Number formatting filters and the SVG chart writer (escaping, well-formed XML, stable bytes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from validation.report import charts
from validation.report.format import badge, ci_text, count, est_ci, num, pct, pvalue, wbr

SVG = "{http://www.w3.org/2000/svg}"
# any text that XML can carry (no C0 controls other than tab/newline, no surrogates)
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=40,
)


def test_number_filters() -> None:
    assert num(0.91234) == "0.912" and num(None) == "\u2014" and num("inf") == "\u221e"
    assert num(-0.0001) == "0.000" and num(2.5, 1) == "2.5" and num(3, 0) == "3"
    assert pvalue(0.0004) == "<0.001" and pvalue(0.04567) == "0.046" and pvalue(None) == "\u2014"
    assert pct(0.95) == "95%" and pct(0.4545, 1) == "45.5%" and count(12345) == "12,345"
    rec = {"estimate": 0.912, "ci_low": 0.874, "ci_high": 0.941, "confidence_level": 0.95}
    assert est_ci(rec) == "0.912 (95% CI 0.874\u20130.941)"
    assert ci_text({**rec, "confidence_level": 0.975}) == "97.5% CI 0.874\u20130.941"
    assert est_ci({**rec, "ci_low": None}) == "0.912" and est_ci(None) == "\u2014"
    assert (
        est_ci(
            {"difference": -0.05, "ci_low": -0.1, "ci_high": 0.0, "confidence_level": 0.9},
            "difference",
        )
        == "-0.050 (90% CI -0.100\u20130.000)"
    )


def test_badges_carry_words() -> None:
    assert str(badge("pass")) == '<span class="badge badge-pass">PASS</span>'
    assert (
        str(badge("not_estimable"))
        == '<span class="badge badge-not_estimable">NOT ESTIMABLE</span>'
    )
    assert str(badge("<x>")) == '<span class="badge badge-other">&lt;X&gt;</span>'
    assert str(wbr("auc_<b>")) == "auc_<wbr>&lt;b&gt;"


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(xml_text, min_size=1, max_size=4), title=xml_text)
def test_svg_text_is_escaped_and_round_trips(labels: list[str], title: str) -> None:
    rows = [
        charts.ForestRow(
            label=lab, estimate=0.5 if i % 2 else None, ci_low=0.4, ci_high=0.6, text=lab
        )
        for i, lab in enumerate(labels)
    ]
    svg = str(
        charts.forest_plot(
            rows, title=title, desc=title, reference=0.5, reference_label=title, xlabel="x"
        )
    )
    root = ET.fromstring(svg)  # well-formed XML whatever the strings were
    assert root.find(f"{SVG}title").text == title
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for lab in labels:
        assert lab in texts
    assert not any(el.tag.endswith("script") for el in root.iter())


def test_charts_are_deterministic_and_thin_long_curves() -> None:
    n = 20_000
    xs = [i / n for i in range(n + 1)]
    ys = [min(1.0, (i / n) ** 0.3) for i in range(n + 1)]
    series = [charts.Series("model", xs, ys)]
    a = charts.curve_chart(series, title="t", desc="d", xlabel="x", ylabel="y")
    b = charts.curve_chart(series, title="t", desc="d", xlabel="x", ylabel="y")
    assert a == b
    points = ET.fromstring(str(a)).find(f"{SVG}polyline").get("points").split()
    assert 100 < len(points) <= 2 * charts.MAX_POINTS
    assert points[0] == "52,310" and points[-1] == "410,24"  # both ends kept

"""The protocol's ``planning:`` block for the reader study (``method: mrmc``).

The plan must equal what :func:`validation.stats.sample_size_mrmc` gives for the inputs
(the statistics themselves are checked against Hillis, Obuchowski & Berbaum 2011 in
``tests/stats``), the power at the study's readers and cases must equal
:func:`validation.stats.power_mrmc` at those counts, and the reader study's readers and
cases are counted from the readings (the AI reader left out).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from study_support import lean, without_planning

from validation.protocol.load import check_text
from validation.protocol.lock import lock_protocol
from validation.protocol.sizing import compute_plan, plan_statement
from validation.results import load_results
from validation.stats import power_mrmc, sample_size_mrmc
from validation.study import check_study_protocol, run_study

#: Obuchowski-Rockette components of the Van Dyke et al. (1993) data (114 cases), as
#: ``radval mrmc tests/data/reader_studies/van_dyke.csv --json`` gives them.
VAN_DYKE = {
    "var_tr": 0.00020040252358145746,
    "var_error": 0.0008022882655720684,
    "cov1": 0.0003466137094407334,
    "cov2": 0.0003440748288608913,
    "cov3": 0.0002390283708921551,
}
COMPONENTS = "{" + ", ".join(f"{k}: {v!r}" for k, v in VAN_DYKE.items()) + "}"

BASE = """\
version: 1
study:
  id: s1
  title: T
  version: "1.0"
  intended_use: triage
  population: adults
test_set:
  manifest: ../data/test/manifest.csv
reader_study:
  id: aided_vs_unaided
  readings: ../readings/readings.csv
  confidence_level: 0.9
  hypothesis: {kind: non-inferiority, margin: 0.05, significance_level: 0.05}
endpoints:
  - id: sens
    role: secondary
    metric: sensitivity
model:
  scores: ../scores/candidate.parquet
  threshold: 0.5
seed: 1
"""


def _protocol(entry: str):
    proto, problems = check_text(BASE + "planning:\n  - " + entry + "\n")
    return proto, [p.format("p.yaml") for p in problems]


def test_plan_equals_the_statistics_with_defaults_from_the_reader_study() -> None:
    proto, problems = _protocol(
        "{endpoint: aided_vs_unaided, method: mrmc, effect: 0.05, readers: 10, "
        f"pilot_cases: 114, variance_components: {COMPONENTS}}}"
    )
    assert problems == []
    plan = compute_plan(proto, proto.planning[0])
    want = sample_size_mrmc(
        VAN_DYKE,
        effect=0.05,
        n_readers=10,
        power=0.8,
        confidence_level=0.9,  # the reader study's
        pilot_n_cases=114,
    )
    assert (plan.readers, plan.total, plan.positives, plan.negatives) == (
        10,
        want.n_cases,
        None,
        None,
    )
    assert plan.target_power == 0.8 and plan.power == pytest.approx(want.power)
    assert plan.power >= 0.8
    # one case fewer no longer reaches the power: the plan is the smallest
    fewer = power_mrmc(
        VAN_DYKE,
        effect=0.05,
        n_readers=10,
        n_cases=want.n_cases - 1,
        confidence_level=0.9,
        pilot_n_cases=114,
    )
    assert fewer.power < 0.8
    record = plan.to_dict()
    assert record["required"] == {
        "positives": None,
        "negatives": None,
        "total": want.n_cases,
        "readers": 10,
    }
    assert plan_statement(plan).startswith(
        f"With 10 readers each reading {want.n_cases} cases in both modalities"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            f"{{endpoint: sens, method: mrmc, effect: 0.05, readers: 5, pilot_cases: 114, "
            f"variance_components: {COMPONENTS}}}",
            "method 'mrmc' sizes the reader study; endpoint 'sens' is not the reader study "
            "(its id is 'aided_vs_unaided')",
        ),
        (
            "{endpoint: aided_vs_unaided, method: mrmc, effect: 0.05, readers: 5}",
            "method 'mrmc' needs variance_components, pilot_cases",
        ),
        (
            f"{{endpoint: aided_vs_unaided, method: mrmc, effect: 0.05, readers: 5, "
            f"pilot_cases: 114, expected: 0.9, variance_components: {COMPONENTS}}}",
            "method 'mrmc' does not use expected; it reads effect, readers, "
            "variance_components, pilot_cases, power, confidence_level",
        ),
        (
            "{endpoint: aided_vs_unaided, method: mrmc, effect: 0.05, readers: 5, "
            "pilot_cases: 114, variance_components: {var_tr: 0.001}}",
            "variance_components needs exactly var_tr, var_error, cov1, cov2, cov3; found var_tr",
        ),
        (
            f"{{endpoint: aided_vs_unaided, method: mrmc, effect: 0.05, readers: 5, "
            f"pilot_cases: 114, icc: 0.1, mean_cluster_size: 2, "
            f"variance_components: {COMPONENTS}}}",
            "method 'mrmc' takes no design effect",
        ),
        (
            "{endpoint: sens, method: goal}",
            "method 'goal' needs expected",
        ),
    ],
)
def test_mrmc_planning_problems(entry: str, message: str) -> None:
    _, problems = _protocol(entry)
    assert len(problems) == 1 and message in problems[0], problems


def test_an_unreachable_power_is_a_problem() -> None:
    """Reader variability that no number of cases overcomes is said at check time."""
    noisy = dict(VAN_DYKE, var_tr=0.01)
    text = "{" + ", ".join(f"{k}: {v!r}" for k, v in noisy.items()) + "}"
    _, problems = _protocol(
        "{endpoint: aided_vs_unaided, method: mrmc, effect: 0.02, readers: 3, "
        f"pilot_cases: 114, variance_components: {text}}}"
    )
    assert len(problems) == 1 and "cannot reach power 0.8 with 3 readers" in problems[0]


READER_PLAN = """planning:
  - endpoint: aided_vs_unaided
    method: mrmc
    effect: 0.06
    readers: 6
    pilot_cases: 114
    variance_components: {components}
"""


def _with_plan(layout: Path) -> Path:
    proto = layout / "protocols" / "reader_study.yaml"
    text = without_planning(proto.read_text())  # the example's own plan (5 readers) replaced
    text = lean(text) if "\nsubgroups:\n" in text else text
    text = text.replace("\nseed:", "\n" + READER_PLAN.format(components=COMPONENTS) + "seed:", 1)
    proto.write_text(text)
    return proto


def test_run_records_readers_and_cases_against_the_plan(layout: Path) -> None:
    proto = _with_plan(layout)
    lock_protocol(proto, actor="tester")
    out = run_study(proto, out_dir=layout / "studies" / "mrmc_plan")
    load_results(out.results_path)  # the typed model accepts the block
    doc = json.loads(out.results_path.read_text())
    (row,) = [r for r in doc["planning"]["endpoints"] if r["method"] == "mrmc"]
    readings = pd.read_csv(layout / "readings" / "readings.csv")
    humans = readings[readings["reader"] != "AI"]
    n_readers, n_cases = humans["reader"].nunique(), humans["case"].nunique()
    assert (n_readers, n_cases) == (4, 80)
    assert row["achieved"] == {
        "positives": None,
        "negatives": None,
        "total": n_cases,
        "readers": n_readers,
    }
    want = power_mrmc(
        VAN_DYKE,
        effect=0.06,
        n_readers=n_readers,
        n_cases=n_cases,
        confidence_level=0.95,
        pilot_n_cases=114,
    ).power
    assert row["achieved_power"] == pytest.approx(want)
    assert want < 0.8 and row["adequate"] is False  # 4 readers x 80 cases: short of the plan
    assert row["required"]["readers"] == 6 and row["required"]["total"] > 80
    html = out.report_path.read_text() if out.report_path else ""
    section = re.search(r'<section id="sec-planning".*?</section>', html, re.S)
    assert section is not None
    assert "Reader study: readers x cases" in section.group(0)
    assert f"readers: 4 of 6; cases per reader: 80 of {row['required']['total']}" in section.group(
        0
    )


def test_check_flags_a_reader_study_smaller_than_planned(layout: Path) -> None:
    proto = _with_plan(layout)
    problems = [p.format("p.yaml") for p in check_study_protocol(proto)]
    planned = [p for p in problems if "planning[" in p]
    assert len(planned) == 1, problems
    assert (
        "the reader study is smaller than planned for endpoint 'aided_vs_unaided' (mrmc): "
        in (planned[0])
    )
    assert "4 reader(s) x 80 case(s), the plan has 6 x" in planned[0]


def test_the_example_reader_study_plan(layout: Path) -> None:
    """The demo's reader-study protocol plans 5 readers; the test layout's readings (4
    readers x 80 cases) still reach 80% power for its effect of 0.08."""
    from validation.protocol.load import load_protocol

    proto = load_protocol(
        Path(__file__).resolve().parents[2] / "protocols" / "reader_study.yaml", files=False
    ).protocol
    (entry,) = proto.planning
    plan = compute_plan(proto, entry)
    want = sample_size_mrmc(
        entry.variance_components,
        effect=0.08,
        n_readers=5,
        confidence_level=0.95,
        pilot_n_cases=114,
    )
    assert (plan.readers, plan.total) == (5, want.n_cases) == (5, 62)
    assert check_study_protocol(layout / "protocols" / "reader_study.yaml") == []

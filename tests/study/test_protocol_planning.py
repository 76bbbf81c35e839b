"""The protocol's ``planning:`` block: defaults from the endpoint, exact problem messages,
and ``protocol check`` saying when the test set is smaller than planned.

Reference values: ``sample_size_goal(0.9, 0.75, power=0.9, method="exact",
interval="wilson")`` is checked against exact binomial sums in ``tests/stats/planning``;
here the plan must equal what the statistics give for the inputs the endpoint implies,
and the power at the test set must equal ``power_goal`` / ``power_auc`` at its counts.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from validation import demo
from validation.cli import main
from validation.data.synthetic import generate_synthetic_dataset
from validation.protocol.load import check_text, load_protocol
from validation.protocol.sizing import achieved_power, compute_plan, plan_statement
from validation.stats import (
    design_effect,
    power_auc,
    power_goal,
    sample_size_auc,
    sample_size_goal,
    sample_size_paired_auc,
    sample_size_paired_proportions,
    sample_size_precision,
)
from validation.study import check_study_protocol
from validation.study.planning import shortfall

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
model:
  scores: ../scores/candidate.parquet
  threshold: 0.5
baseline:
  scores: ../scores/baseline.parquet
  threshold: 0.5
endpoints:
  - id: sens
    role: primary
    metric: sensitivity
    ci: {method: wilson, confidence_level: 0.9}
    accept: {bound: ci_low, op: ">=", value: 0.75}
  - id: spec
    role: secondary
    metric: specificity
    ci: {method: wilson}
  - id: auc
    role: primary
    metric: auc
    test: {kind: superiority, null_value: 0.8, significance_level: 0.025}
  - id: sens_vs_base
    role: secondary
    metric: sensitivity
    compare_to: baseline
    test: {kind: non-inferiority, margin: 0.05, significance_level: 0.025}
  - id: auc_vs_base
    role: secondary
    metric: auc
    compare_to: baseline
    test: {kind: non-inferiority, margin: 0.02, significance_level: 0.025}
seed: 1
"""


def protocol(planning: str):
    proto, problems = check_text(BASE + "planning:\n" + planning)
    return proto, [p.format("p.yaml") for p in problems]


def test_goal_defaults_come_from_the_endpoint() -> None:
    proto, problems = protocol("  - {endpoint: sens, method: goal, expected: 0.9, power: 0.9}\n")
    assert problems == []
    plan = compute_plan(proto, proto.planning[0])
    assert plan.inputs == {
        "expected": 0.9,
        "goal": 0.75,
        "power": 0.9,
        "confidence_level": 0.9,
        "calculation": "exact",
        "interval": "wilson",
        "prevalence": None,
    }
    ref = sample_size_goal(
        0.9, 0.75, power=0.9, confidence_level=0.9, method="exact", interval="wilson"
    )
    assert plan.positives == ref.n_stable and plan.negatives is None
    assert plan.result == ref
    # the power at the planned count is the exact power there, at or above the target
    exact = power_goal(0.9, 0.75, n=ref.n_stable, confidence_level=0.9, interval="wilson")
    assert plan.power == pytest.approx(exact.power) and plan.power >= 0.9


def test_auc_defaults_from_the_test_and_ratio_from_prevalence() -> None:
    proto, problems = protocol(
        "  - {endpoint: auc, method: auc, expected: 0.9, power: 0.9, prevalence: 0.25}\n"
    )
    assert problems == []
    plan = compute_plan(proto, proto.planning[0])
    ref = sample_size_auc(
        0.9, null=0.8, ratio=3.0, significance_level=0.025, power=0.9, alternative="greater"
    )
    assert (plan.positives, plan.negatives) == (ref.n_positive, ref.n_negative)
    assert plan.total == ref.n_positive + ref.n_negative
    got = achieved_power(plan, n_positive=50, n_negative=300)
    want = power_auc(
        0.9, n_positive=50, n_negative=300, null=0.8, significance_level=0.025,
        alternative="greater",
    ).power  # fmt: skip
    assert got == pytest.approx(want)


def test_specificity_counts_negatives_and_design_effect_inflates() -> None:
    proto, problems = protocol(
        "  - {endpoint: spec, method: precision, expected: 0.85, half_width: 0.05,"
        " icc: 0.2, mean_cluster_size: 2.5}\n"
    )
    assert problems == []
    plan = compute_plan(proto, proto.planning[0])
    ref = sample_size_precision(0.85, 0.05)
    de = design_effect(0.2, mean_cluster_size=2.5).design_effect
    assert de == pytest.approx(1.3)
    assert plan.negatives == math.ceil(ref.n * 1.3 - 1e-9) and plan.positives is None
    assert plan.target_power is None and plan.power is None
    assert achieved_power(plan, n_positive=10, n_negative=10) is None
    assert "design effect of 1.3" in plan_statement(plan)


def test_paired_proportions_margin_from_the_test() -> None:
    proto, problems = protocol(
        "  - {endpoint: sens_vs_base, method: paired_proportions, expected: 0.9,"
        " comparator: 0.88, correlation: 0.5}\n"
    )
    assert problems == []
    plan = compute_plan(proto, proto.planning[0])
    ref = sample_size_paired_proportions(
        0.9, 0.88, correlation=0.5, margin=0.05, significance_level=0.025,
        alternative="greater",
    )  # fmt: skip
    assert plan.positives == ref.n and plan.inputs["margin"] == 0.05
    assert "non-inferiority with margin 0.05" in plan_statement(plan)


def test_paired_auc_and_the_normal_goal() -> None:
    proto, problems = protocol(
        "  - {endpoint: auc_vs_base, method: paired_auc, expected: 0.9, comparator: 0.9,"
        " correlation: 0.6, ratio: 2}\n"
        "  - {endpoint: sens, method: goal, expected: 0.9, calculation: normal}\n"
    )
    assert problems == []
    paired, normal = (compute_plan(proto, e) for e in proto.planning)
    ref = sample_size_paired_auc(
        0.9, 0.9, correlation=0.6, margin=0.02, ratio=2.0, significance_level=0.025,
        alternative="greater",
    )  # fmt: skip
    assert (paired.positives, paired.negatives) == (ref.n_positive, ref.n_negative)
    got = achieved_power(paired, n_positive=ref.n_positive, n_negative=ref.n_negative)
    assert got == pytest.approx(ref.power) and got >= 0.8
    want = sample_size_goal(0.9, 0.75, confidence_level=0.9, method="normal")
    assert normal.positives == want.n and normal.inputs["interval"] is None
    assert "by the normal approximation (Flahault et al. 2005)" in plan_statement(normal)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{endpoint: nope, method: goal, expected: 0.9}",
            "p.yaml:42: planning[0]: endpoint 'nope' is not a classification endpoint of this "
            "protocol; expected one of ['sens', 'spec', 'auc', 'sens_vs_base', 'auc_vs_base']",
        ),
        (
            "{endpoint: auc, method: goal, expected: 0.9}",
            "p.yaml:42: planning[0]: method 'goal' sizes a sensitivity or specificity "
            "endpoint; endpoint 'auc' has metric 'auc'",
        ),
        (
            "{endpoint: sens_vs_base, method: goal, expected: 0.9}",
            "p.yaml:42: planning[0]: endpoint 'sens_vs_base' compares with the baseline; plan "
            "it with paired_auc or paired_proportions, not 'goal'",
        ),
        (
            "{endpoint: spec, method: goal, expected: 0.9}",
            "p.yaml:42: planning[0]: method 'goal' needs `goal`: endpoint 'spec' has no "
            "`accept` on ci_low to take it from",
        ),
        (
            "{endpoint: sens, method: goal, expected: 0.7}",
            "p.yaml:42: planning[0]: goal must be below expected (the lower bound can only be "
            "expected to exceed a goal the true value exceeds); got goal=0.75 >= expected=0.7",
        ),
        (
            "{endpoint: sens, method: precision, expected: 0.9}",
            "p.yaml:42: planning[0]: method 'precision' needs half_width",
        ),
        (
            "{endpoint: sens, method: precision, expected: 0.9, half_width: 0.1, power: 0.9}",
            "p.yaml:42: planning[0]: method 'precision' does not use power; it "
            "reads expected, half_width, confidence_level, prevalence",
        ),
        (
            "{endpoint: sens, method: goal, expected: 0.9, icc: 0.1}",
            "p.yaml:42: planning[0]: a design effect needs both icc and mean_cluster_size",
        ),
        (
            "{endpoint: sens, method: goal, expected: 1.5}",
            "p.yaml:42: planning[0].expected: Input should be less than 1 (found 1.5)",
        ),
    ],
)
def test_planning_problems_are_reported_with_path_and_line(entry: str, message: str) -> None:
    _, problems = protocol(f"  - {entry}\n")
    assert problems == [message]


def test_an_endpoint_planned_twice() -> None:
    _, problems = protocol(
        "  - {endpoint: sens, method: goal, expected: 0.9}\n"
        "  - {endpoint: sens, method: goal, expected: 0.95}\n"
    )
    assert problems == ["p.yaml:43: planning[1].endpoint: endpoint 'sens' is planned twice"]


def _shrink(layout: Path, n_positive: int) -> None:
    """Keep only the first ``n_positive`` positive cases of the test set."""
    path = layout / "data" / "test" / "manifest.csv"
    frame = pd.read_csv(path)
    keep = (frame["label"] == 0) | (frame.groupby("label").cumcount() < n_positive)
    frame[keep].to_csv(path, index=False)


def test_check_passes_the_example_and_flags_a_small_test_set(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    assert check_study_protocol(proto) == []
    _shrink(layout, 60)
    manifest = (layout / "data" / "test" / "manifest.csv").resolve()
    problems = [
        p.format("p.yaml") for p in check_study_protocol(proto) if p.path.startswith("planning")
    ]
    power = power_goal(0.9, 0.75, n=60, interval="wilson").power
    assert power < 0.9
    first = (
        f"planning[0]: {manifest}: the test set is smaller than planned for endpoint "
        "'sensitivity_primary' (goal): it has 60 positive case(s), the plan needs 74; "
        f"power at these counts {power:.3f}, target 0.9"
    )
    assert len(problems) == 2
    assert problems[0].endswith(first)
    assert (
        "endpoint 'auc_primary' (auc): it has 60 positive case(s), the plan needs 82"
        in (problems[1])
    )


def test_the_demo_test_set_satisfies_the_triage_plan(tmp_path: Path) -> None:
    """`radval demo`'s test set (its sizes and seed) meets the example protocol's plan."""
    test = generate_synthetic_dataset(
        tmp_path / "test",
        n_cases=demo.TEST_CASES,
        seed=demo.TEST_SEED,
        image_size=demo.IMAGE_SIZE,
        id_prefix="T",
    )
    labels = pd.read_csv(test.manifest_path)["label"]
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    proto = load_protocol(
        Path(__file__).resolve().parents[2] / "protocols" / "triage_standalone.yaml", files=False
    ).protocol
    assert len(proto.planning) == 2
    for entry in proto.planning:
        assert shortfall(proto, entry, n_positive=n_pos, n_negative=n_neg) is None
    # and a test set of a quarter of the size would not
    assert shortfall(proto, proto.planning[1], n_positive=n_pos // 4, n_negative=n_neg // 4)


def test_protocol_check_cli_exits_2_on_a_small_test_set(
    layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    assert main(["protocol", "check", str(proto)]) == 0
    assert capsys.readouterr().out.startswith(f"{proto}: OK")
    _shrink(layout, 30)
    for name in ("candidate", "baseline"):  # scores only for the cases kept
        scores = layout / "scores" / f"{name}.parquet"
        kept = set(pd.read_csv(layout / "data" / "test" / "manifest.csv")["case_id"])
        table = pd.read_parquet(scores)
        table[table["case_id"].isin(kept)].to_parquet(scores)
    assert main(["protocol", "check", str(proto)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[-1] == f"radval: error: {proto}: 2 problem(s)"
    assert err[0].startswith(f"{proto}:7") and ": planning[0]: " in err[0]
    assert "it has 30 positive case(s), the plan needs 74; power at these counts" in err[0]
    assert ": planning[1]: " in err[1] and "the plan needs 82" in err[1]

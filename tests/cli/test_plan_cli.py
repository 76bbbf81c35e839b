"""`radval plan`: the counts and the plan in words, --json, and exit 2 with one line on bad input.

The numbers are those of :mod:`validation.stats.planning` (validated against pROC, R and
published tables in ``tests/stats/planning``); here the CLI must print exactly them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from validation.cli import main
from validation.data.readings import load_readings
from validation.stats import mrmc_tradeoff, sample_size_auc, sample_size_goal

REPO = Path(__file__).resolve().parents[2]
FRANKEN = REPO / "tests" / "data" / "reader_studies" / "franken.csv"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_goal_table_and_statement(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "goal", "--expected", "0.9", "--goal", "0.75", "--power", "0.9",
        "--interval", "wilson", "--prevalence", "0.3",
    )  # fmt: skip
    assert code == 0, err
    ref = sample_size_goal(0.9, 0.75, power=0.9, method="exact", interval="wilson", prevalence=0.3)
    assert (ref.n, ref.n_stable, ref.n_total_stable) == (63, 74, 247)
    assert "│ goal   │ 74        │ -         │ 247   │" in out
    assert (
        "With an expected sensitivity of 0.9, 74 positive cases (247 cases in all) give at "
        "least 90% power for the lower bound of the two-sided 95% confidence interval to "
        "exceed the goal 0.75, by an exact binomial search over the wilson interval "
        "(Chu & Cole 2007). The power first reaches the target at 63 cases but dips below it "
        "again (saw-tooth) until 74; the plan uses 74."
    ) in out.replace("\n", " ")


def test_auc_json_is_the_plan_record(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "auc", "--expected", "0.8", "--json")
    assert code == 0
    payload = json.loads(out)
    ref = sample_size_auc(0.8)
    assert payload["plan"] == json.loads(json.dumps(ref.to_dict()))
    assert payload["required"] == {"positives": 13, "negatives": 13, "total": 26}
    assert payload["inputs"]["alternative"] == "two-sided"
    assert payload["inputs"]["significance_level"] == 0.05
    assert payload["statement"].startswith("With an expected AUC of 0.8 against 0.5")


def test_one_sided_default_level_and_design_effect(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "auc", "--expected", "0.9", "--null", "0.8", "--alternative", "greater",
        "--icc", "0.5", "--cluster-size", "2", "--json",
    )  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    ref = sample_size_auc(0.9, null=0.8, significance_level=0.025, alternative="greater")
    assert payload["inputs"]["significance_level"] == 0.025
    assert payload["design_effect"]["design_effect"] == pytest.approx(1.5)
    assert payload["required"]["positives"] == -(-ref.n_positive * 3 // 2)


def test_mrmc_tradeoff_from_pilot_readings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "mrmc", "--readings", str(FRANKEN), "--effect", "0.05",
        "--readers", "4", "--readers", "8", "--json",
    )  # fmt: skip
    assert code == 0, err
    ref = mrmc_tradeoff(load_readings(FRANKEN), effect=0.05, n_readers=[4, 8])
    assert json.loads(out) == json.loads(json.dumps(ref.to_dict()))
    assert [r["n_cases"] for r in json.loads(out)["rows"]] == [r.n_cases for r in ref.rows]


def test_mrmc_from_declared_components(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    comps = {"var_tr": 2e-4, "var_error": 8e-4, "cov1": 4e-4, "cov2": 3e-4, "cov3": 2e-4}
    path = tmp_path / "components.json"
    path.write_text(json.dumps(comps))
    code, out, err = run(
        capsys, "mrmc", "--components", str(path), "--pilot-cases", "100", "--effect", "0.05",
        "--readers", "6",
    )  # fmt: skip
    assert code == 0, err
    ref = mrmc_tradeoff(comps, pilot_n_cases=100, effect=0.05, n_readers=[6])
    assert f"│ 6       │ {ref.rows[0].n_cases}" in out


def test_protocol_block(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "protocol", str(REPO / "protocols" / "triage_standalone.yaml"))
    assert code == 0, err
    assert "sensitivity_primary: With an expected sensitivity of 0.9, 74 positive" in out
    assert "auc_primary: With an expected AUC of 0.9 against 0.8 under the null, 82 positive" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["goal", "--expected", "0.7", "--goal", "0.75"],
            "radval: error: radval plan goal: goal must be below expected (the lower bound can "
            "only be expected to exceed a goal the true value exceeds); got goal=0.75 >= "
            "expected=0.7",
        ),
        (
            ["precision", "--expected", "0.9", "--half-width", "0.05", "--icc", "0.1"],
            "radval: error: a design effect needs both --icc and --cluster-size",
        ),
        (
            ["precision", "--expected", "1.2", "--half-width", "0.05"],
            "radval: error: radval plan precision: expected must be in (0, 1), got 1.2",
        ),
        (
            [
                "goal",
                "--expected",
                "0.9",
                "--goal",
                "0.8",
                "--calculation",
                "normal",
                "--interval",
                "wilson",
            ],
            "radval: error: --interval applies to --calculation exact only",
        ),
        (
            ["paired-proportions", "--expected", "0.9", "--comparator", "0.85"],
            "radval: error: give one of --correlation and --discordance",
        ),
        (
            ["mrmc", "--effect", "0.05"],
            "radval: error: give one of --readings (a pilot study) and --components",
        ),
        (
            ["mrmc", "--effect", "0.05", "--components", "c.json"],
            "radval: error: --components needs --pilot-cases (the pilot study's cases)",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.strip() == message


def test_protocol_without_planning_block(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    text = (REPO / "protocols" / "triage_standalone.yaml").read_text()
    path = tmp_path / "p.yaml"
    path.write_text(text[: text.index("planning:")] + text[text.index("seed:") :])
    code, _, err = run(capsys, "protocol", str(path))
    assert code == 2
    assert err.strip() == f"radval: error: {path}: the protocol has no `planning:` block"


def test_end_to_end_choices_and_nan_are_usage_errors(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "validation", "plan"]
    bad = subprocess.run(
        [*exe, "goal", "--expected", "0.9", "--goal", "0.8", "--calculation", "bogus"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "'bogus' is not one of 'exact', 'normal'" in bad.stderr
    nan = subprocess.run(
        [*exe, "auc", "--expected", "nan"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert nan.returncode == 2 and "expected a finite number, found nan" in nan.stderr
    ok = subprocess.run(
        [*exe, "precision", "--expected", "0.9", "--half-width", "0.05", "--metric",
         "specificity", "--json"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    payload = json.loads(ok.stdout)
    assert payload["required"] == {"positives": None, "negatives": 139, "total": None}

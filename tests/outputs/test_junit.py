"""JUnit XML of a study and a release gate: schema-valid, one test case per criterion and gate rule.

Every file is validated against ``junit_report.xsd`` (the JUnit layout CI systems read, written
for these tests) and parsed with junitparser 5. The studies are real runs of the study runner.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from outputs_support import JUNIT_XSD, cases, degraded_study, radval, validate_junit
from report_support import PROTOCOL, build_layout, make_study

from validation import audit
from validation.gate import run_gate
from validation.io import sha256_file
from validation.outputs.checks import gate_checks
from validation.outputs.junit import Suite, junit_xml
from validation.outputs.publish import Outputs, publish_gate, publish_study
from validation.protocol.lock import lock_protocol
from validation.results import read_results_document
from validation.study import StudyOutcome, run_study


def g4(x: float) -> str:
    return f"{x:.4g}"


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> StudyOutcome:
    """The report tests' full study (verdict FAIL: sensitivity_primary misses its goal)."""
    return make_study(tmp_path_factory.mktemp("junit_full"))


def publish(outcome: StudyOutcome, tmp: Path) -> tuple[Path, Path, list[str]]:
    lines: list[str] = []
    o = Outputs(junit=tmp / "radval.xml", summary=tmp / "radval.md")
    publish_study(
        o, study_dir=outcome.study_dir, report_path=outcome.report_path, echo=lines.append
    )
    return tmp / "radval.xml", tmp / "radval.md", lines


def test_study_junit_has_one_case_per_criterion_and_states_the_failure(
    full: StudyOutcome, tmp_path: Path
) -> None:
    junit, _, lines = publish(full, tmp_path)
    assert lines == [f"junit: {junit}", f"summary: {tmp_path / 'radval.md'}"]
    xml = validate_junit(junit)
    doc = read_results_document(full.study_dir)
    by = cases(xml)
    # primary and secondary endpoints with a criterion, and the verdict; not the informational
    # secondary `specificity` nor the exploratory ones
    assert sorted(by) == sorted(
        [
            "radval.full-study.primary::auc_primary",
            "radval.full-study.primary::sensitivity_primary",
            "radval.full-study.secondary::auc_noninferior",
            "radval.full-study.secondary::aided_vs_unaided",
            "radval.full-study.secondary::lesion_sensitivity",
            "radval.full-study.secondary::volume_loa_high",
            "radval.full-study::verdict",
        ]
    )
    (suite,) = list(xml)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (7, 2, 0, 0)
    assert suite.name == "radval run full-study"

    ep = next(e for e in doc["endpoints"] if e["id"] == "sensitivity_primary")
    assert ep["decision"] == "fail"
    (failure,) = by["radval.full-study.primary::sensitivity_primary"].result
    assert failure.message == (
        "FAIL: sensitivity_primary: ci_low of sensitivity (95% CI) >= 0.7: estimate "
        f"{g4(ep['estimate'])}; "
        f"95% CI {g4(ep['ci_low'])} to {g4(ep['ci_high'])}; bound ci_low {g4(ep['ci_low'])} < 0.7 "
        "(does not hold)"
    )
    assert failure.type == "radval.fail"
    assert failure.text.splitlines() == [
        "criterion: ci_low of sensitivity (95% CI) >= 0.7",
        f"estimate: {g4(ep['estimate'])} (sensitivity), 95% CI {g4(ep['ci_low'])} to "
        f"{g4(ep['ci_high'])}, "
        f"method {ep['method']}, n {ep['n']}",
        f"bound ci_low {g4(ep['ci_low'])} < 0.7 (does not hold)",
        "decision: FAIL",
    ]
    (verdict,) = by["radval.full-study::verdict"].result
    assert verdict.message == "FAIL: not every primary criterion holds: sensitivity_primary (FAIL)"
    # a passed criterion carries its record as system-out
    auc = by["radval.full-study.primary::auc_primary"]
    assert auc.is_passed and auc.system_out.startswith(
        "PASS: auc_primary: H1: auc > 0.75 (superiority)"
    )

    props = {p.name: p.value for p in suite.properties()}
    assert props == {
        "radval.protocol.id": "full-study",
        "radval.protocol.version": "2.1",
        "radval.protocol.sha256": doc["protocol"]["sha256"],
        "radval.protocol.locked": "true",
        "radval.results.sha256": sha256_file(full.study_dir / "results.json"),
        "radval.audit.head": audit.verify(full.study_dir).head_hash,
        "radval.verdict": "FAIL",
        "radval.version": doc["radval_version"],
        "radval.report": str(full.report_path),
    }


def test_not_tested_and_not_estimable_are_skipped_with_the_reason(tmp_path: Path) -> None:
    root = build_layout(tmp_path)
    text = PROTOCOL.replace(
        "order: [auc_primary, sensitivity_primary]", "order: [sensitivity_primary, auc_primary]"
    ).replace(
        "  - id: specificity\n",
        "  - id: ppv_never\n    role: secondary\n    metric: ppv\n"
        '    threshold: 1.0\n    ci: {method: wilson}\n    accept: {bound: ci_low, op: ">=", '
        "value: 0.5}\n  - id: specificity\n",
    )
    proto = root / "protocols" / "full.yaml"
    proto.write_text(text, encoding="utf-8")
    lock_protocol(proto)
    outcome = run_study(proto, out_dir=root / "studies" / "full", render=False)
    junit, _, _ = publish(outcome, tmp_path)
    by = cases(validate_junit(junit))
    doc = read_results_document(outcome.study_dir)
    rec = {e["id"]: e for e in doc["endpoints"]}
    assert (
        rec["auc_primary"]["decision"] == "not_tested"
        and rec["ppv_never"]["decision"] == "not_estimable"
    )

    (skipped,) = by["radval.full-study.primary::auc_primary"].result
    assert skipped.message == (
        "NOT TESTED: auc_primary: H1: auc > 0.75 (superiority), one-sided p < 0.025; and ci_low > "
        "0.75: "
        "not tested: the fixed sequence stopped at 'sensitivity_primary', which was not rejected"
    )
    assert skipped.type == "radval.not_tested"
    (skipped,) = by["radval.full-study.secondary::ppv_never"].result
    assert skipped.message == (
        "NOT ESTIMABLE: ppv_never: ci_low of ppv (95% CI) >= 0.5: "
        f"{rec['ppv_never']['details']['reason']}"
    )
    assert skipped.text.splitlines()[-2:] == [
        f"reason: {rec['ppv_never']['details']['reason']}",
        "decision: NOT ESTIMABLE",
    ]
    # a skipped primary still fails the verdict case: the report is red exactly when radval exits 1
    (verdict,) = by["radval.full-study::verdict"].result
    assert verdict.message == (
        "FAIL: not every primary criterion holds: sensitivity_primary (FAIL), "
        "auc_primary (NOT TESTED)"
    )


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("a\x1b[31mred\x00\x07", "a\\x1b[31mred\\x00\\x07"),
        ("]]><script>alert(1)</script>&amp;", "]]><script>alert(1)</script>&amp;"),
        ("x\ud7ff\ufffe\U0001f600", "x\ud7ff\\ufffe\U0001f600"),
    ],
)
def test_junit_carries_hostile_text_and_still_validates(
    layout: Path, tmp_path: Path, hostile: str, shown: str
) -> None:
    res = copy.deepcopy(run_gate(layout / "studies" / "released", layout / "studies" / "released"))
    res["subgroups"][0]["group"] = hostile
    path = tmp_path / "hostile.xml"
    path.write_text(
        junit_xml(
            [
                Suite(
                    name=f"gate {hostile}",
                    classname="radval.gate",
                    checks=gate_checks(res),
                    properties=[("radval.note", hostile)],
                )
            ]
        ),
        encoding="utf-8",
    )
    (suite,) = list(validate_junit(path))
    assert suite.name == f"gate {shown}"
    assert {p.name: p.value for p in suite.properties()} == {"radval.note": shown}
    cell = list(suite)[len(res["comparisons"])]
    assert cell.name == f"{res['subgroups'][0]['attribute']}={shown}"


def test_gate_junit_one_case_per_rule(layout: Path, tmp_path: Path) -> None:
    cand = layout / "studies" / "released"
    res = run_gate(cand, cand, out=tmp_path / "gate")
    lines: list[str] = []
    publish_gate(
        Outputs(junit=tmp_path / "gate.xml"),
        result=res,
        gate_dir=tmp_path / "gate",
        echo=lines.append,
    )
    xml = validate_junit(tmp_path / "gate.xml")
    (suite,) = list(xml)
    names = [(c.classname, c.name) for c in suite]
    comps = [("radval.gate.released.comparison", c["id"]) for c in res["comparisons"]]
    cells = [
        ("radval.gate.released.subgroup", f"{r['attribute']}={r['group']}")
        for r in res["subgroups"]
    ]
    assert names == [*comps, *cells, ("radval.gate.released", "release gate")]
    assert suite.failures == 0 and res["decision"] == "pass"
    assert suite.skipped == sum(r["status"] not in ("ok", "regression") for r in res["subgroups"])
    props = {p.name: p.value for p in suite.properties()}
    assert props["radval.gate.decision"] == "PASS"
    assert props["radval.gate.sha256"] == sha256_file(tmp_path / "gate" / "gate.json")
    assert props["radval.gate.audit.head"] == audit.verify(tmp_path / "gate").head_hash
    assert props["radval.results.sha256"] == sha256_file(cand / "results.json")
    auc = next(c for c in res["comparisons"] if c["id"] == "auc")
    out = next(c for c in suite if c.name == "auc").system_out
    assert out.splitlines()[0] == (
        f"PASS: auc non-inferiority: candidate {g4(auc['estimate_a'])} vs baseline "
        f"{g4(auc['estimate_b'])}, "
        f"difference +0 (95% CI {g4(auc['ci_low'])} to {g4(auc['ci_high'])}), margin 0.02, "
        "one-sided p "
        f"{auc['p_value']:.3g} (level 0.025)"
    )


def test_gate_failure_states_the_failed_rule(layout: Path) -> None:
    res = run_gate(degraded_study(layout), layout / "studies" / "released")
    assert res["decision"] == "fail"
    text = junit_xml([Suite(name="gate", classname="radval.gate", checks=gate_checks(res))])
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(ET.fromstring(text.split("\n", 1)[1]))
    auc = next(c for c in res["comparisons"] if c["id"] == "auc")
    root = ET.fromstring(text.split("\n", 1)[1])
    fail = root.find("./testsuite/testcase[@name='auc']/failure")
    assert fail is not None and fail.get("message") == (
        f"FAIL: auc non-inferiority: candidate {g4(auc['estimate_a'])} vs baseline "
        f"{g4(auc['estimate_b'])}, "
        f"difference {auc['difference']:+.4g} (95% CI {g4(auc['ci_low'])} to "
        f"{g4(auc['ci_high'])}), margin 0.02, "
        f"one-sided p {auc['p_value']:.3g} (level 0.025)"
    )
    verdict = root.find("./testsuite/testcase[@name='release gate']/failure")
    assert verdict is not None and verdict.get("message", "").startswith("FAIL: release gate: auc")


def test_cli_writes_outputs_when_a_criterion_fails_and_refuses_to_clobber_records(
    tmp_path: Path,
) -> None:
    root = build_layout(tmp_path)
    proto = root / "protocols" / "full.yaml"
    lock_protocol(proto)
    study = root / "studies" / "full"
    # an output that would replace a file the audit log records is refused before anything runs
    r = radval("run", proto, "--out", study, "--junit", study / "results.json")
    assert r.returncode == 2, r.stderr
    assert r.stderr == (
        f"radval: error: --junit {study / 'results.json'} would overwrite results.json, a file "
        f"radval records in {study.resolve()}; write the output elsewhere\n"
    )
    assert not study.exists()
    r = radval(
        "run", proto, "--out", study, "--junit", tmp_path / "o.xml", "--summary", tmp_path / "o.xml"
    )
    assert r.returncode == 2 and r.stderr == (
        f"radval: error: --junit and --summary name the same file "
        f"{tmp_path / 'o.xml'}; give each its own\n"
    )
    r = radval(
        "run",
        proto,
        "--out",
        study,
        "--no-report",
        "--junit",
        tmp_path / "ci" / "run.xml",
        "--summary",
        tmp_path / "ci" / "run.md",
    )
    assert r.returncode == 1, r.stderr  # sensitivity_primary fails: exit code unchanged
    assert r.stdout.splitlines()[-2:] == [
        f"junit: {tmp_path / 'ci' / 'run.xml'}",
        f"summary: {tmp_path / 'ci' / 'run.md'}",
    ]
    xml = validate_junit(tmp_path / "ci" / "run.xml")
    assert list(xml)[0].failures == 2
    assert "### radval run: **FAIL**" in (tmp_path / "ci" / "run.md").read_text()
    assert not list((tmp_path / "ci").glob(".*tmp"))  # atomic writes leave no temporary file
    doc = json.loads((study / "results.json").read_text())
    assert doc["verdict"]["decision"] == "fail"

"""The CI recipes of docs/ci.md, exercised as far as a machine without a CI service allows.

* Both files validate with ``check-jsonschema`` (PyPI) against the schemas it ships built in
  (``vendor.github-workflows``, ``vendor.gitlab-ci``; no network: the built-in schemas are
  files inside the package). actionlint is not installable here: its PyPI wrapper downloads a
  binary at build time.
* The GitHub workflow's ``run:`` steps are executed as the runner would (bash -eo pipefail, the
  workflow's own ``env:``, ``$GITHUB_STEP_SUMMARY``) in a demo-like checkout.
* The GitLab CI job is also checked for the keys GitLab reads and its ``script`` is executed
  the same way, for a passing and a failing candidate.

Steps that need the CI service itself (``uses:`` actions, the pip install) are not run; the
files they publish are checked to exist where the recipe points them.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from outputs_support import REPO, clean_env, validate_junit

from validation.protocol.lock import lock_protocol

GITHUB = REPO / "docs" / "ci" / "github-actions.yml"
GITLAB = REPO / "docs" / "ci" / "gitlab-ci.yml"
#: What the runner's job would have on PATH after the install step: this environment's radval.
BIN = str(Path(sys.executable).parent)


def load_workflow() -> dict[str, Any]:
    doc = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True)  # YAML 1.1 reads the key `on` as a boolean; GitHub reads it as "on"
    return doc


def check_jsonschema(builtin: str, path: Path, *opts: str) -> subprocess.CompletedProcess[str]:
    """``check-jsonschema --builtin-schema <builtin> <path>`` (a schema shipped in the package)."""
    cmd = [str(Path(BIN) / "check-jsonschema"), *opts, "--builtin-schema", builtin, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=clean_env())


def schema_check_fails(builtin: str, doc: dict[str, Any], path: Path, error: str) -> None:
    """``doc`` written to ``path`` fails the schema check with ``error`` among the errors."""
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    r = check_jsonschema(builtin, path, "--verbose")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Schema validation errors were encountered." in r.stdout + r.stderr
    assert error in r.stdout, r.stdout + r.stderr


def test_github_workflow_validates_against_the_workflow_schema(tmp_path: Path) -> None:
    r = check_jsonschema("vendor.github-workflows", GITHUB)
    assert (r.returncode, r.stdout.strip()) == (0, "ok -- validation done"), r.stdout + r.stderr
    # the check can fail: a job without runs-on, a misspelt key, a step with both run and uses
    doc = load_workflow()
    bad = copy.deepcopy(doc)
    del bad["jobs"]["release-gate"]["runs-on"]
    schema_check_fails(
        "vendor.github-workflows",
        bad,
        tmp_path / "no-runs-on.yml",
        "$.jobs['release-gate']: 'runs-on' is a required property",
    )
    bad = copy.deepcopy(doc)
    bad["jobs"]["release-gate"]["timeout_minutes"] = 60
    schema_check_fails(
        "vendor.github-workflows",
        bad,
        tmp_path / "misspelt.yml",
        "('timeout_minutes' was unexpected)",
    )
    bad = copy.deepcopy(doc)
    bad["jobs"]["release-gate"]["steps"][4]["uses"] = "actions/checkout@v4"
    schema_check_fails(
        "vendor.github-workflows",
        bad,
        tmp_path / "run-and-uses.yml",
        "$.jobs['release-gate'].steps[4]: ",
    )


def test_gitlab_job_validates_against_the_gitlab_ci_schema(tmp_path: Path) -> None:
    r = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert (r.returncode, r.stdout.strip()) == (0, "ok -- validation done"), r.stdout + r.stderr
    # the check can fail: a misspelt job key, artifacts kept at an unknown moment, a bad rule
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    bad = copy.deepcopy(doc)
    bad["radval-release-gate"]["scripts"] = bad["radval-release-gate"].pop("script")
    schema_check_fails(
        "vendor.gitlab-ci",
        bad,
        tmp_path / "misspelt.yml",
        "$['radval-release-gate']: Additional properties are not allowed "
        "('scripts' was unexpected)",
    )
    bad = copy.deepcopy(doc)
    bad["radval-release-gate"]["artifacts"]["when"] = "sometimes"
    schema_check_fails(
        "vendor.gitlab-ci",
        bad,
        tmp_path / "when.yml",
        "$['radval-release-gate'].artifacts.when: 'sometimes' is not one of",
    )
    bad = copy.deepcopy(doc)
    bad["radval-release-gate"]["rules"][0]["iff"] = bad["radval-release-gate"]["rules"][0].pop("if")
    schema_check_fails(
        "vendor.gitlab-ci",
        bad,
        tmp_path / "rule.yml",
        "$['radval-release-gate'].rules[0]: Additional properties are not allowed "
        "('iff' was unexpected)",
    )


def github_condition(expr: str, cwd: Path) -> bool:
    """Evaluate the step conditions the workflow uses (and refuse any other)."""
    inner = expr.strip()
    assert inner.startswith("${{") and inner.endswith("}}"), expr
    result = True
    for term in inner[3:-2].split("&&"):
        term = term.strip()
        m = re.fullmatch(r"hashFiles\('([^']+)'\) != ''", term)
        if term == "!cancelled()":
            continue
        assert m is not None, (
            f"the test does not know the condition {term!r}: teach github_condition"
        )
        result = result and any(cwd.glob(m.group(1)))
    return result


def run_script(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("tracking", [False, True])
def test_github_workflow_steps_run_the_locked_protocol_and_publish(
    layout: Path, tmp_path: Path, tracking: bool
) -> None:
    doc = load_workflow()
    lock_protocol(layout / "protocols" / "release_gate.yaml")  # committed with the protocol
    summary, output = tmp_path / "step_summary.md", tmp_path / "github_output"
    env = clean_env(
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_REPOSITORY="example/radiology-model",
        GITHUB_RUN_ID="77",
        CI="true",
    )
    for key, value in doc["env"].items():
        if "${{" not in str(value):  # secrets are not set in this repository's CI
            env[key] = str(value)
    if tracking:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ran = []
    for step in doc["jobs"]["release-gate"]["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue
        if "if" in step and not github_condition(step["if"], layout):
            continue
        r = run_script(step["run"], layout, env)
        assert r.returncode == 0, f"step {step['name']}: {r.stdout}{r.stderr}"
        ran.append(step["id"])
    assert ran == ["check", "run", "gate", "verify"]
    reports = layout / "radval-out" / "reports"
    publish = next(
        s
        for s in doc["jobs"]["release-gate"]["steps"]
        if s.get("name") == "Publish the JUnit reports"
    )
    xmls = sorted(layout.glob(publish["with"]["report_paths"]))
    assert [p.name for p in xmls] == ["radval-gate.xml", "radval-run.xml"]
    for p in xmls:
        assert list(validate_junit(p))[0].failures == 0
    text = summary.read_text(encoding="utf-8")
    assert (
        text == (reports / "radval-run.md").read_text() + (reports / "radval-gate.md").read_text()
    )
    assert text.startswith("### radval run: PASS: Change\\-control validation")
    assert "### radval release gate: PASS: release\\-gate vs released" in text
    assert (
        "[CI run 77 (artifacts)](https://github.com/example/radiology-model/actions/runs/77)"
        in text
    )
    upload = next(
        s
        for s in doc["jobs"]["release-gate"]["steps"]
        if s.get("uses", "").startswith("actions/upload")
    )
    assert (layout / upload["with"]["path"] / "candidate" / "results.json").is_file()
    assert ("MLflow run" in text) is tracking


def gitlab_job() -> dict[str, Any]:
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    assert list(doc) == ["radval-release-gate"]
    return dict(doc["radval-release-gate"])


def test_gitlab_job_has_the_keys_gitlab_reads() -> None:
    job = gitlab_job()
    assert set(job) <= {
        "stage",
        "image",
        "rules",
        "variables",
        "cache",
        "before_script",
        "script",
        "artifacts",
    }
    assert all(isinstance(line, str) for line in job["before_script"] + job["script"])
    assert job["artifacts"]["when"] == "always"  # the reports are kept when a criterion fails
    assert job["artifacts"]["reports"]["junit"] == "radval-out/reports/*.xml"
    assert all(isinstance(v, str) for v in job["variables"].values())


@pytest.mark.parametrize(("strict", "status"), [(False, 0), (True, 1)])
def test_gitlab_script_runs_the_locked_protocol_and_keeps_the_reports(
    layout: Path, strict: bool, status: int
) -> None:
    job = gitlab_job()
    proto = layout / "protocols" / "release_gate.yaml"
    if strict:  # a candidate that misses a criterion: exit 1, every report still written
        text = proto.read_text().replace(
            "kind: non-inferiority, margin: 0.02,", "kind: non-inferiority, margin: 0.0,"
        )
        assert text != proto.read_text()
        proto.write_text(text, encoding="utf-8")
    lock_protocol(proto)
    env = clean_env(
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", CI="true", CI_PROJECT_DIR=str(layout)
    )
    env.update(
        {k: str(v).replace("$CI_PROJECT_DIR", str(layout)) for k, v in job["variables"].items()}
    )
    r = run_script("\n".join(job["script"]), layout, env)
    assert r.returncode == status, r.stdout + r.stderr
    xmls = sorted(layout.glob(job["artifacts"]["reports"]["junit"]))
    assert [p.name for p in xmls] == ["radval-gate.xml", "radval-run.xml"]
    run_xml = validate_junit(layout / "radval-out" / "reports" / "radval-run.xml")
    assert list(run_xml)[0].failures == (2 if strict else 0)  # auc_noninferior and the verdict
    assert "### radval run:" in r.stdout and "### radval release gate:" in r.stdout
    for path in job["artifacts"]["paths"]:
        assert (layout / path / "candidate" / "results.json").is_file()

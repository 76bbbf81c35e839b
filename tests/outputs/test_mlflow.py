"""MLflow logging and promotion against real stores: a sqlite file and a local ``mlflow server``.

The commands run as a user runs them (``radval`` in a subprocess, the tracking URI in
``$MLFLOW_TRACKING_URI``); the stores are inspected with MLflow's own client. No mock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from outputs_support import (
    clean_env,
    degraded_study,
    free_port,
    radval,
    set_card_run,
    validate_junit,
)

from validation import audit
from validation.io import sha256_file
from validation.protocol.lock import lock_protocol

MODEL = "radval-demo-classifier"
SECRET = "s3cr3t-T0ken-never-shown"


def training_run(
    client: MlflowClient, experiment: str, name: str, artifacts: Path | None = None
) -> str:
    """A finished run standing for the run that trained a model (``radval train --mlflow``)."""
    exp = client.get_experiment_by_name(experiment)
    exp_id = (
        exp.experiment_id
        if exp is not None
        else client.create_experiment(
            experiment, artifact_location=None if artifacts is None else artifacts.as_uri()
        )
    )
    run = client.create_run(exp_id, run_name=f"train {name}")
    client.log_param(run.info.run_id, "model", name)
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def every_text(folder: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    )


def drop_two_outputs(layout: Path) -> list[str]:
    """Remove two candidates' scores: the study then records them in ``failures`` (case ids)."""
    path = layout / "scores" / "candidate.parquet"
    scores = pd.read_parquet(path)
    gone = scores["case_id"].iloc[:2].tolist()
    scores.iloc[2:].to_parquet(path)
    return [str(g) for g in gone]


def test_run_logs_to_the_model_cards_run_in_a_sqlite_store_without_case_data(
    layout: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run_id = training_run(client, "training", "candidate", tmp_path / "mlartifacts")
    set_card_run(layout, run_id)
    gone = drop_two_outputs(layout)
    proto = layout / "protocols" / "release_gate.yaml"
    lock_protocol(proto)
    study = layout / "studies" / "release_gate"
    env = clean_env(MLFLOW_TRACKING_URI=uri, MLFLOW_TRACKING_TOKEN=SECRET)
    r = radval(
        "run",
        proto,
        "--out",
        study,
        "--junit",
        tmp_path / "run.xml",
        "--summary",
        tmp_path / "run.md",
        "--mlflow",
        env=env,
        cwd=tmp_path,
    )
    # two worst-case imputed outputs cost the candidate its AUC non-inferiority: exit 1, and
    # every output is still written and logged
    assert r.returncode == 1, r.stderr
    doc = json.loads((study / "results.json").read_text())
    assert {f["case_id"] for f in doc["failures"]} == set(gone)  # the study holds per-case rows
    run = client.get_run(run_id)
    mlflow_line = next(line for line in r.stdout.splitlines() if line.startswith("mlflow:"))
    assert mlflow_line.startswith(
        f"mlflow: run {run_id} (model card, experiment {run.info.experiment_id}) at {uri}: "
    )

    # metrics: every primary and secondary endpoint's estimate, interval, p-values and difference
    expected: dict[str, float] = {}
    for ep in doc["endpoints"]:
        if ep["role"] in ("primary", "secondary"):
            for f in ("estimate", "ci_low", "ci_high", "p_value", "p_adjusted"):
                if ep[f] is not None:
                    expected[f"radval/release-gate/{ep['id']}/{f}"] = ep[f]
            comp = ep["details"].get("comparison")
            if comp:
                expected[f"radval/release-gate/{ep['id']}/difference"] = comp["difference"]
    assert run.data.metrics == expected
    tags = {k: v for k, v in run.data.tags.items() if k.startswith("radval/")}
    assert tags["radval/release-gate/verdict"] == "FAIL"
    assert tags["radval/release-gate/protocol_sha256"] == doc["protocol"]["sha256"]
    assert tags["radval/release-gate/results_sha256"] == sha256_file(study / "results.json")
    assert tags["radval/release-gate/audit_head"] == audit.verify(study).head_hash
    assert tags["radval/release-gate/auc_noninferior/decision"] == "fail"
    assert tags["radval/release-gate/withheld"] == (
        "per-case rows of results.json (2 at failures): logged results.aggregate.json instead; "
        "report.html (they list per-case rows)"
    )
    assert run.data.params == {"model": "candidate"}  # the training run's own record is untouched
    assert run.info.status == "FINISHED"

    names = sorted(a.path for a in client.list_artifacts(run_id, "radval/release-gate"))
    assert names == [
        "radval/release-gate/audit.head",
        "radval/release-gate/audit.jsonl",
        "radval/release-gate/results.aggregate.json",
    ]
    local = Path(client.download_artifacts(run_id, "radval", str(tmp_path / "downloaded")))
    logged = every_text(local)
    aggregate = json.loads((local / "release-gate" / "results.aggregate.json").read_text())
    assert aggregate["failures"] == [] and aggregate["mlflow_redaction"]["removed"] == [
        {"path": "failures", "rows": 2}
    ]
    assert aggregate["endpoints"] == doc["endpoints"]
    manifest = pd.read_csv(layout / "data" / "test" / "manifest.csv", dtype=str)
    assert (
        gone[0] in (study / "results.json").read_text()
        and gone[0] in (study / "report.html").read_text()
    )
    leaked = [v for v in [*manifest["case_id"], *manifest["patient_id"]] if v in logged]
    assert leaked == []
    # credentials never reach an output
    for text in (
        r.stdout,
        r.stderr,
        (tmp_path / "run.xml").read_text(),
        (tmp_path / "run.md").read_text(),
        logged,
    ):
        assert SECRET not in text
    assert f"MLflow run {run_id} \\(model card\\)" in (tmp_path / "run.md").read_text()
    validate_junit(tmp_path / "run.xml")


def test_demo_release_gate_logs_and_promotes_through_a_tracking_server(
    layout: Path, tmp_path: Path, tracking_server: str
) -> None:
    client = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    suffix = os.urandom(4).hex()  # the server is shared by the session's tests
    model = f"{MODEL}-{suffix}"
    base_run = training_run(client, f"training-{suffix}", "released")
    cand_run = training_run(client, f"training-{suffix}", "candidate")
    client.create_registered_model(model)
    v1 = client.create_model_version(model, f"runs:/{base_run}/model", run_id=base_run)
    v2 = client.create_model_version(model, f"runs:/{cand_run}/model", run_id=cand_run)
    client.set_registered_model_alias(model, "champion", v1.version)
    set_card_run(layout, cand_run)
    proto = layout / "protocols" / "release_gate.yaml"
    lock_protocol(proto)
    env = clean_env(MLFLOW_TRACKING_URI=tracking_server, MLFLOW_TRACKING_TOKEN=SECRET)
    out = tmp_path / "ci"
    study = layout / "studies" / "release_gate"
    r = radval(
        "run",
        proto,
        "--out",
        study,
        "--no-report",
        "--junit",
        out / "run.xml",
        "--summary",
        out / "run.md",
        "--mlflow",
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr

    gate = tmp_path / "gates" / "v2"
    r = radval(
        "gate",
        study,
        "--baseline",
        layout / "studies" / "released",
        "--out",
        gate,
        "--junit",
        out / "gate.xml",
        "--summary",
        out / "gate.md",
        "--mlflow",
        "--promote-model",
        model,
        "--promote-stage",
        "Production",
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    entries = audit.read_entries(gate)
    assert [e["action"] for e in entries] == ["gate", "promote"]
    promo = entries[-1]
    assert promo["inputs"] == {"gate.json": sha256_file(gate / "gate.json")}
    assert promo["details"] == {
        "registered_model": model,
        "version": str(v2.version),
        "alias": "champion",
        "previous_alias_version": str(v1.version),
        "stage": "Production",
        "previous_stage": "None",
        "run_id": cand_run,
        "tracking_uri": tracking_server,
        "gate_decision": "pass",
    }
    assert (
        f"promoted: registered model {model} version {v2.version} -> alias champion, stage "
        "Production "
        f"(alias moved from version {v1.version}); audit entry {promo['seq']} ({promo['hash']})"
    ) in r.stdout
    assert client.get_model_version_by_alias(model, "champion").version == v2.version
    assert client.get_model_version(model, v2.version).current_stage == "Production"
    assert radval("audit", "verify", gate).returncode == 0

    run = client.get_run(cand_run)
    assert run.data.tags["radval/release-gate/verdict"] == "PASS"
    assert run.data.tags["radval/gate/decision"] == "PASS"
    assert run.data.tags["radval/gate/audit_head"] == promo["hash"]
    assert run.data.tags["radval/gate/gate_sha256"] == sha256_file(gate / "gate.json")
    gate_doc = json.loads((gate / "gate.json").read_text())
    auc = next(c for c in gate_doc["comparisons"] if c["id"] == "auc")
    assert run.data.metrics["radval/gate/auc/difference"] == auc["difference"]
    assert sorted(a.path for a in client.list_artifacts(cand_run, "radval/gate")) == [
        "radval/gate/audit.head",
        "radval/gate/audit.jsonl",
        "radval/gate/gate.json",
    ]
    # no per-case rows in this study: results.json itself is logged
    assert "radval/release-gate/results.json" in {
        a.path for a in client.list_artifacts(cand_run, "radval/release-gate")
    }
    xml = validate_junit(out / "gate.xml")
    props = {p.name: p.value for s in xml for p in s.properties()}
    assert props["radval.gate.audit.head"] == promo["hash"]
    summary = (out / "gate.md").read_text()
    assert summary.startswith("### radval release gate: PASS: release\\-gate vs released\n")
    assert "promoted\\: registered model" in summary
    for text in (r.stdout, r.stderr, summary, (out / "gate.xml").read_text()):
        assert SECRET not in text

    # a version another run produced is never promoted, even after a PASS; the gate's files are
    # still written, the alias stays where it is and no promotion is recorded
    r = radval(
        "gate",
        study,
        "--baseline",
        layout / "studies" / "released",
        "--out",
        tmp_path / "gates" / "v1",
        "--junit",
        out / "gate-v1.xml",
        "--mlflow",
        "--promote-model",
        model,
        "--promote-version",
        str(v1.version),
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr == (
        f"radval: error: version {v1.version} of registered model {model!r} was produced by run "
        f"{base_run}, not by the candidate's run {cand_run}: refusing to promote another model\n"
    )
    assert list(validate_junit(out / "gate-v1.xml"))[0].failures == 0
    assert [e["action"] for e in audit.read_entries(tmp_path / "gates" / "v1")] == ["gate"]
    assert client.get_model_version_by_alias(model, "champion").version == v2.version

    # a failing candidate (no model card: a new run) is never promoted; the alias stays where it is
    r = radval(
        "gate",
        degraded_study(layout),
        "--baseline",
        layout / "studies" / "released",
        "--out",
        tmp_path / "gates" / "bad",
        "--mlflow",
        "--promote-model",
        model,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 1, r.stderr
    assert f"not promoted: the gate decided FAIL; registered model {model} is unchanged" in r.stdout
    assert (
        "View run" not in r.stdout
    )  # MLflow's own URL printing (from the tracking URI) is swallowed
    assert client.get_model_version_by_alias(model, "champion").version == v2.version
    assert [e["action"] for e in audit.read_entries(tmp_path / "gates" / "bad")] == ["gate"]
    new_run = next(
        line for line in r.stdout.splitlines() if line.startswith("mlflow: run ")
    ).split()[2]
    created = client.get_run(new_run)
    assert created.info.status == "FINISHED" and created.data.tags["radval/gate/decision"] == "FAIL"
    assert created.data.tags.get("radval/created_by", "").startswith("radval "), created.data.tags
    assert client.get_experiment(created.info.experiment_id).name == "radval"


def test_mlflow_errors_are_one_line_exit_2_and_never_show_credentials(
    layout: Path, tmp_path: Path
) -> None:
    proto = layout / "protocols" / "release_gate.yaml"
    lock_protocol(proto)
    study = layout / "studies" / "release_gate"
    r = radval("run", proto, "--out", study, "--mlflow", env=clean_env(), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == (
        "radval: error: --mlflow needs the tracking URI in $MLFLOW_TRACKING_URI (e.g. "
        "sqlite:///mlflow.db or http://127.0.0.1:5000); credentials, if any, in "
        "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD\n"
    )
    assert not study.exists()  # refused before anything ran

    # a server that does not answer: the JUnit report is still written, then exit 2
    port = free_port()
    env = clean_env(
        MLFLOW_TRACKING_URI=f"http://radval:pa55w0rd-in-uri@127.0.0.1:{port}",
        MLFLOW_TRACKING_PASSWORD="pa55w0rd-in-env",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="5",
    )
    r = radval(
        "run",
        proto,
        "--out",
        study,
        "--no-report",
        "--junit",
        tmp_path / "run.xml",
        "--mlflow",
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(
        f"radval: error: MLflow at http://127.0.0.1:{port}: cannot create a run in "
        "experiment 'radval': "
    )
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "pa55w0rd" not in r.stdout + r.stderr
    assert list(validate_junit(tmp_path / "run.xml"))[0].tests == 5
    assert "verdict: PASS" in r.stdout

    # the card's run and --mlflow-run-id disagree
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    card_run = training_run(client, "training", "candidate", tmp_path / "mlartifacts")
    other = training_run(client, "training", "other", tmp_path / "mlartifacts")
    set_card_run(layout, card_run)
    lock_protocol(proto, amend="the model card now names its MLflow run")
    r = radval(
        "run",
        proto,
        "--out",
        study,
        "--force",
        "--no-report",
        "--mlflow",
        "--mlflow-run-id",
        other,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr == (
        f"radval: error: --mlflow-run-id {other} differs from the run the model card names "
        f"({card_run}); the card's run produced the model: drop --mlflow-run-id or fix the card\n"
    )
    # a promotion is refused before the gate runs unless it can be recorded
    r = radval(
        "gate",
        study,
        "--baseline",
        layout / "studies" / "released",
        "--mlflow",
        "--promote-model",
        MODEL,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        cwd=tmp_path,
    )
    assert r.returncode == 2 and r.stderr == (
        "radval: error: --promote-model needs --out DIR: the promotion is recorded in the gate "
        "folder's audit log\n"
    )


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "https://user:pw@mlflow.example.org:8443/base?token=x#f",
            "https://mlflow.example.org:8443/base",
        ),
        ("sqlite:////data/mlflow.db", "sqlite:////data/mlflow.db"),
        ("databricks://profile", "databricks://profile"),
    ],
)
def test_redact_uri(uri: str, shown: str) -> None:
    from validation.outputs.mlflow_log import redact, redact_uri

    assert redact_uri(uri) == shown
    assert "pw" not in redact(f"cannot reach {uri} (via https://user:pw@elsewhere/x)", uri)

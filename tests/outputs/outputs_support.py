"""Helpers for the release-pipeline output tests (JUnit, Markdown summary, MLflow, CI recipes).

The study folders come from the study tests' demo-like layout (``study_support.build_layout``:
the repository's example protocols, including the demo's ``release_gate.yaml``, on a small
synthetic test set with candidate and baseline scores and model cards). ``released_study``
runs the released model's study the candidate is gated against.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xmlschema
from junitparser import JUnitXml
from study_support import SMALL_SUBGROUPS, THRESHOLD, build_layout, lean

from validation.protocol.lock import lock_protocol
from validation.study import run_study

REPO = Path(__file__).resolve().parents[2]
#: The JUnit XML schema the reports are validated against: written for these tests (its header
#: says where the format is documented).
JUNIT_XSD = Path(__file__).resolve().parent / "junit_report.xsd"
#: Environment variables a CI runner or a developer's shell may set that change what the
#: commands under test do; the tests set them explicitly or not at all.
_SCRUB = ("GITHUB_", "MLFLOW_", "RADVAL_", "DATABRICKS_", "CI")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without CI/MLflow variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def radval(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``radval`` in a subprocess (``python -m validation``)."""
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=dict(env) if env is not None else clean_env(),
        timeout=timeout,
    )


def released_study(layout: Path) -> Path:
    """Lock and run the released model's study (triage protocol, the baseline's scores and card)."""
    text = lean(
        (layout / "protocols" / "triage_standalone.yaml").read_text(),
        keep_subgroups=SMALL_SUBGROUPS,
    )
    text = (
        text.replace("../scores/candidate.parquet", "../scores/baseline.parquet")
        .replace("../model/model_card.json", "../baseline/model_card.json")
        .replace("id: triage-standalone", "id: released")
    )
    proto = layout / "protocols" / "released.yaml"
    proto.write_text(text, encoding="utf-8")
    lock_protocol(proto, actor="Test Locker")
    return run_study(proto, out_dir=layout / "studies" / "released", render=False).study_dir


def degraded_study(layout: Path, *, name: str = "degraded", noise: float = 0.6) -> Path:
    """Lock and run a candidate study whose scores are the baseline's plus noise (fails the gate).

    The study names no model card (so no MLflow run either): the protocol states the cards'
    locked threshold itself.
    """
    rng = np.random.default_rng(3)
    base = pd.read_parquet(layout / "scores" / "baseline.parquet")
    worse = np.clip(base["score"].to_numpy() + rng.normal(0, noise, size=len(base)), 0, 1)
    base.assign(score=worse).to_parquet(layout / "scores" / f"{name}.parquet")
    text = lean(
        (layout / "protocols" / "triage_standalone.yaml").read_text(),
        keep_subgroups=SMALL_SUBGROUPS,
    )
    text, n_cards = re.subn(
        r"(?m)^  card: \.\./model/model_card\.json.*$", f"  threshold: {THRESHOLD}", text
    )
    assert n_cards == 1, "the triage protocol's model card line was not found"
    text = text.replace("../scores/candidate.parquet", f"../scores/{name}.parquet").replace(
        "id: triage-standalone", f"id: {name}"
    )
    proto = layout / "protocols" / f"{name}.yaml"
    proto.write_text(text, encoding="utf-8")
    lock_protocol(proto, actor="Test Locker")
    return run_study(proto, out_dir=layout / "studies" / name, render=False).study_dir


def gate_layout(root: Path) -> Path:
    """A demo-like layout with the released study already run; the candidate runs in the test."""
    layout = build_layout(root)
    released_study(layout)
    return layout


def set_card_run(layout: Path, run_id: str, *, folder: str = "model") -> Path:
    """Write the candidate's model card as ``radval train --mlflow`` does (``mlflow.run_id``)."""
    path = layout / folder / "model_card.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    card["mlflow"] = {"run_id": run_id}
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def validate_junit(path: Path) -> JUnitXml:
    """Validate a JUnit file against ``junit_report.xsd`` and parse it with junitparser."""
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))
    return JUnitXml.fromfile(str(path))


def cases(xml: JUnitXml) -> dict[str, Any]:
    """``classname::name -> TestCase`` over every suite."""
    return {f"{c.classname}::{c.name}": c for suite in xml for c in suite}


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A real ``mlflow server`` on a loopback port (sqlite backend, proxied artifacts); its URI.

    The server is stopped by its process id when the block ends. Job execution (which needs
    the optional ``huey``) is switched off; nothing else about the server is changed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(folder / "server.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=folder,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {proc.returncode}: "
                    f"{(folder / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not answer /health within 120 s")
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)
        log.close()

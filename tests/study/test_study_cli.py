"""Every study command end to end through the CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from study_support import SMALL_SUBGROUPS, lean

from validation.protocol.lock import lock_protocol
from validation.study import run_study

REPO = Path(__file__).resolve().parents[2]


def radval(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=120,
    )


def test_cli_end_to_end(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    proto.write_text(lean(proto.read_text(), keep_subgroups=SMALL_SUBGROUPS))
    r = radval("protocol", "check", proto)
    assert r.returncode == 0 and r.stdout.splitlines() == [
        f"{proto}: OK",
        f"not locked yet (lock with: radval protocol lock {proto})",
    ], r.stderr

    bad = layout / "protocols" / "bad.yaml"
    bad.write_text(
        proto.read_text()
        .replace("role: primary", "role: primery", 1)
        .replace("seed: 20261130", "seed: -1")
    )
    r = radval("protocol", "check", bad)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[0].endswith(
        "endpoints[0].role: Input should be 'primary', 'secondary' or 'exploratory' (found 'primery')"
    )
    assert lines[1].endswith("seed: Input should be greater than or equal to 0 (found -1)")
    assert lines[-1] == f"radval: error: {bad}: 2 problem(s)"
    assert "Traceback" not in r.stderr

    out = layout / "studies" / "triage"
    r = radval("protocol", "lock", proto)
    assert r.returncode == 0 and "protocol sha256" in r.stdout
    r = radval("protocol", "deviation", proto, "--description", "site_b images re-exported")
    assert r.returncode == 0 and "deviation D1" in r.stdout

    r = radval("run", proto, "--out", out, "--no-report")
    assert r.returncode == 0, r.stderr
    assert "verdict: PASS" in r.stdout
    doc = json.loads((out / "results.json").read_text())
    assert doc["protocol"]["deviations"][0]["description"] == "site_b images re-exported"

    # an existing study folder: exit 2 with one line, no traceback
    r = radval("run", proto, "--out", out, "--no-report")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "pass --force" in r.stderr

    r = radval("audit", "verify", out)
    assert r.returncode == 0 and r.stdout.startswith("audit: OK (2 entries")
    r = radval(
        "sign",
        out,
        "--name",
        "Dr. Q. Reviewer",
        "--role",
        "Biostatistician",
        "--meaning",
        "approval",
    )
    assert r.returncode == 0, r.stderr
    signed = json.loads(r.stdout)
    assert signed["signed"] == "Dr. Q. Reviewer" and len(signed["results_sha256"]) == 64

    # tamper with the log: verify fails with exit 1
    log = out / "audit.jsonl"
    intact = log.read_text()
    entries = intact.splitlines()
    log.write_text("\n".join([entries[0], entries[2], entries[1]]) + "\n")
    r = radval("audit", "verify", out)
    assert r.returncode == 1 and "audit: FAILED" in r.stderr
    # the gate refuses a study whose audit log fails verification (exit 2, one line)
    r = radval("gate", out, "--baseline", out)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(
        f"radval: error: refusing to gate the candidate {out}: its audit log fails verification"
    )
    log.write_text(intact)

    # a failing primary: exit 1, results still written
    strict = layout / "protocols" / "strict.yaml"
    strict.write_text(proto.read_text().replace("value: 0.75", "value: 0.99"))
    lock_protocol(strict)
    r = radval("run", strict, "--out", layout / "studies" / "strict", "--no-report")
    assert r.returncode == 1 and "verdict: FAIL" in r.stdout
    assert (layout / "studies" / "strict" / "results.json").exists()

    # gate: a degraded candidate fails (exit 1); the released model against itself passes
    rng = np.random.default_rng(0)
    s = pd.read_parquet(layout / "scores" / "candidate.parquet")
    s.assign(score=np.clip(s["score"] + rng.normal(0, 0.7, len(s)), 0, 1)).to_parquet(
        layout / "scores" / "worse.parquet"
    )
    worse = layout / "protocols" / "worse.yaml"
    worse.write_text(proto.read_text().replace("candidate.parquet", "worse.parquet"))
    lock_protocol(worse)
    run_study(worse, out_dir=layout / "studies" / "worse", render=False)
    r = radval(
        "gate",
        layout / "studies" / "worse" / "results.json",
        "--baseline",
        out / "results.json",
        "--margin",
        "0.02",
    )
    assert r.returncode == 1 and "release gate: FAIL" in r.stdout, r.stdout + r.stderr
    r = radval("gate", out, "--baseline", out)
    assert r.returncode == 0 and "release gate: PASS" in r.stdout, r.stdout + r.stderr

    r = radval("protocol", "schema", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["title"].startswith("radval study protocol")

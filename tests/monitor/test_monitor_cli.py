"""``radval monitor`` end to end in a subprocess: exit codes 0 / 1 / 2, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from monitor_support import make_plan, write_month

from validation import audit


def radval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_lock_check_run_alarm_acknowledge(tmp_path: Path) -> None:
    proto = make_plan(tmp_path, lock=False)
    r = radval("monitor", "check", proto)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"{proto}: OK (3 chart(s); reference 600 cases, with labels)",
        f"not locked yet (lock with: radval monitor lock {proto})",
    ]
    r = radval("monitor", "lock", proto, "--actor", "qa")
    assert (
        r.returncode == 0
        and "protocol sha256" in r.stdout
        and "reference.scores sha256" in r.stdout
    )
    assert "match the lock" in radval("monitor", "check", proto).stdout
    stream, out = tmp_path / "stream", tmp_path / "out"
    write_month(stream, 1)
    r = radval(
        "monitor", "run", proto, "--stream", stream, "--out", out, "--as-of", "2026-02-01T00:00:00Z"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "run 1: 120 new case(s)" in r.stdout and "IN CONTROL: no open alarm" in r.stdout
    write_month(stream, 2, change_month=2, n=200)
    r = radval("monitor", "run", proto, "--stream", stream, "--out", out, "--as-of", "2026-03-01")
    assert r.returncode == 1, r.stdout + r.stderr
    assert (
        "ALARM A" in r.stdout
        and "new manufacturer_model not in the reference: 'OX-9 DR'" in r.stdout
    )
    assert r.stdout.strip().endswith("report.html")
    state = json.loads((out / "monitor.json").read_text())
    open_ids = [a["id"] for a in state["alarms"] if a["severity"] == "alarm"]
    for aid in open_ids:
        r = radval(
            "monitor",
            "acknowledge",
            out,
            "--alarm",
            aid,
            "--name",
            "Dr. Q",
            "--reason",
            "new scanner",
        )
        assert r.returncode == 0, r.stderr
    r = radval("monitor", "run", proto, "--stream", stream, "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    r = radval("sign", out, "--name", "Dr. <b>Q</b>", "--role", "PMS lead", "--meaning", "review")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["signs"] == "monitor.json"
    html = (out / "report.html").read_text()
    assert "Dr. &lt;b&gt;Q&lt;/b&gt;" in html and "<td>this record</td>" in html
    write_month(stream, 3, change_month=2, n=50)
    assert radval("monitor", "run", proto, "--stream", stream, "--out", out).returncode in (0, 1)
    assert "an earlier record (monitoring has continued since)" in (out / "report.html").read_text()
    assert radval("audit", "verify", out).returncode == 0
    assert [e["action"] for e in audit.read_entries(out)].count("acknowledge") == len(open_ids)


def test_bad_input_is_exit_2_with_one_line(tmp_path: Path) -> None:
    proto = make_plan(tmp_path)
    stream = tmp_path / "stream"
    write_month(stream, 1)
    (stream / "batches" / "2026-02.csv").write_text(
        "case_id,time,score,site,manufacturer,manufacturer_model\nX1,2026-02-02,nan,A,K,KX\n"
    )
    r = radval("monitor", "run", proto, "--stream", stream, "--out", tmp_path / "out")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert (
        r.stderr.startswith("radval: error: ")
        and "2026-02.csv: row 1, column 'score': expected a finite number, found 'nan'" in r.stderr
    )
    r = radval(
        "monitor", "run", proto, "--stream", stream, "--out", tmp_path / "out", "--as-of", "soon"
    )
    assert r.returncode == 2 and "--as-of: expected an ISO 8601 time, found 'soon'" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\n")
    r = radval("monitor", "check", bad)
    assert r.returncode == 2 and "line 1: version: Input should be 1" in r.stderr
    r = radval(
        "monitor",
        "acknowledge",
        tmp_path / "nothing",
        "--alarm",
        "A1",
        "--name",
        "x",
        "--reason",
        "y",
    )
    assert r.returncode == 2 and "holds no monitor.json: not a monitoring folder" in r.stderr

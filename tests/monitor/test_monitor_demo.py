"""``radval demo --monitoring``: six months, a scanner change in month four, the alarm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from validation.errors import InputError
from validation.monitor.simulate import CHANGE_MONTH, run_monitoring_demo


def test_monitoring_demo_is_quiet_before_the_change_and_alarms_after(tmp_path: Path) -> None:
    lines: list[str] = []
    demo = run_monitoring_demo(tmp_path / "demo", echo=lines.append)
    assert demo.exit_codes[: CHANGE_MONTH - 1] == [0, 0, 0] and demo.exit_codes[-1] == 1
    state = json.loads((demo.out / "monitor.json").read_text())
    alarms = [a for a in state["alarms"] if a["severity"] == "alarm"]
    assert alarms and min(a["run"] for a in alarms) == CHANGE_MONTH
    # every alarm concerns cases (or windows) after the change, none the months before it
    assert min(a["at"] for a in alarms) >= f"2026-0{CHANGE_MONTH}-01"
    rules = {a["rule"] for a in alarms}
    # the scanner change shows as a new model by name, a mix shift, a miss-rate CUSUM signal and a
    # sensitivity whose upper bound falls below the declared value
    assert {"new_category", "mix", "cusum:false_negative", "sensitivity<0.75"} <= rules
    assert any("'OX-9 DR'" in a["message"] for a in alarms)
    assert [w["id"] for w in state["windows"]] == [f"2026-0{m}" for m in range(1, 7)]
    assert len(lines) == 7 and "scanner change this month" in lines[CHANGE_MONTH]


def test_cli_demo_monitoring_exits_1_with_the_alarm(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "validation", "demo", "--monitoring", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1, r.stderr
    assert (
        "Monitoring report:" in r.stdout and (tmp_path / "d" / "monitor" / "report.html").is_file()
    )
    assert "month 4 (2026-04) (scanner change this month)" in r.stdout


def test_monitoring_demo_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("keep")
    with pytest.raises(InputError, match="already exists and is not empty"):
        run_monitoring_demo(tmp_path)
    with pytest.raises(InputError, match="does not look like one"):
        run_monitoring_demo(tmp_path, force=True)
    assert (tmp_path / "keep.txt").read_text() == "keep"

"""`radval report` end to end in a subprocess: exit codes, audit logging, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from validation import audit


def radval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", *args], capture_output=True, text=True, timeout=120
    )


def test_report_command_renders_html_and_pdf_and_logs_them(study_dir: Path) -> None:
    (study_dir / "report.html").unlink()
    before = len(audit.read_entries(study_dir))
    proc = radval("report", str(study_dir), "--pdf")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"report: {study_dir / 'report.html'}",
        f"report: {study_dir / 'report.pdf'}",
    ]
    assert (study_dir / "report.pdf").read_bytes().startswith(b"%PDF")
    entries = audit.read_entries(study_dir)
    assert [e["action"] for e in entries[before:]] == ["render", "render"]
    assert entries[-2]["outputs"] == {"report.html": audit.sha256_file(study_dir / "report.html")}
    assert entries[-1]["outputs"] == {"report.pdf": audit.sha256_file(study_dir / "report.pdf")}
    assert audit.verify(study_dir).ok


def test_report_command_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = radval("report", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == f"radval: error: study folder {tmp_path / 'nowhere'} does not exist"
    )
    assert "Traceback" not in proc.stderr


def test_report_command_unreadable_results(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from validation.cli import main

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    assert main(["report", str(tmp_path / "broken")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"radval: error: cannot read results file {tmp_path / 'broken' / 'results.json'}"
    )

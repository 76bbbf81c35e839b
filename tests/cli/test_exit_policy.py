"""The CLI's one exception policy, end to end in subprocesses (``DESIGN.md`` §9).

An unexpected exception in any command is exit 3 with one line on stderr naming the
crash log that holds the traceback (never Python's exit 1, which means "a criterion
failed"); ``--debug`` also prints the traceback. The fault is injected by replacing
the library function a command calls, in the child process only, and then running
the real console entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: command line -> the library function it calls (module, attribute)
COMMANDS: dict[str, tuple[list[str], str, str]] = {
    "manifest check": (
        ["manifest", "check", "m.csv"],
        "validation.data.manifest",
        "manifest_problems",
    ),
    "manifest build": (
        ["manifest", "build", ".", "--out", "built.csv", "--salt", "s3cret"],
        "validation.data.manifest",
        "build_manifest",
    ),
    "synth": (
        ["synth", "--out", "synth"],
        "validation.data.synthetic",
        "generate_synthetic_dataset",
    ),
    "mrmc": (["mrmc", "readings.csv"], "validation.data.readings", "load_readings"),
    "plan": (
        ["plan", "goal", "--expected", "0.9", "--goal", "0.8"],
        "validation.protocol.sizing",
        "plan_from_inputs",
    ),
    "protocol check": (
        ["protocol", "check", "p.yaml"],
        "validation.study",
        "check_study_protocol",
    ),
    "protocol lock": (["protocol", "lock", "p.yaml"], "validation.protocol.lock", "lock_protocol"),
    "run": (["run", "p.yaml", "--out", "study"], "validation.study", "run_study"),
    "gate": (["gate", "a.json", "--baseline", "b.json"], "validation.gate", "run_gate"),
    "report": (["report", "study"], "validation.report.render", "render_report"),
    "audit verify": (["audit", "verify", "study"], "validation.audit", "verify"),
}

_DRIVER = """
import importlib, os, sys
from validation.errors import UndefinedMetricError
module = importlib.import_module(sys.argv[1])
def injected(*args, **kwargs):
    if os.environ.get("FAULT") == "undefined":
        raise UndefinedMetricError("AUC is undefined: no positive case")
    raise RuntimeError("injected fault\\nsecond line")
setattr(module, sys.argv[2], injected)
sys.argv = ["radval", *sys.argv[3:]]
from validation.cli import run
run()
"""


def _run_faulty(
    cmd: str,
    tmp_path: Path,
    *extra: str,
    crash_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    args, module, attr = COMMANDS[cmd]
    environ = {k: v for k, v in os.environ.items() if k != "RADVAL_DEBUG"}
    environ.update({"RADVAL_CRASH_DIR": str(crash_dir or tmp_path / "crashes"), **(env or {})})
    return subprocess.run(
        [sys.executable, "-c", _DRIVER, module, attr, *extra, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=environ,
    )


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_an_internal_error_is_exit_3_with_one_line_and_a_crash_log(
    cmd: str, tmp_path: Path
) -> None:
    (tmp_path / "m.csv").write_text("case_id,patient_id,path\n")
    result = _run_faulty(cmd, tmp_path)
    assert result.returncode == 3, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    logs = sorted((tmp_path / "crashes").glob("*.log"))
    assert len(logs) == 1
    assert lines[0] == (
        f"radval: internal error (exit 3): RuntimeError: injected fault; traceback in "
        f"{logs[0]} (rerun with --debug to print it)"
    )
    assert "Traceback" not in result.stderr
    text = logs[0].read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: injected fault" in text
    assert f"command: radval {' '.join(COMMANDS[cmd][0])}".replace("s3cret", "<redacted>") in text
    assert "s3cret" not in text  # the pseudonymisation salt never reaches a log
    assert oct(logs[0].stat().st_mode & 0o777) == "0o600"


def test_debug_prints_the_traceback_too(tmp_path: Path) -> None:
    result = _run_faulty("mrmc", tmp_path, "--debug")
    assert result.returncode == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: injected fault" in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("radval: internal error (exit 3): RuntimeError: injected fault; traceback in ")
    )
    env_debug = _run_faulty("mrmc", tmp_path, env={"RADVAL_DEBUG": "1"})
    assert env_debug.returncode == 3 and "Traceback (most recent call last)" in env_debug.stderr


def test_without_a_writable_log_folder_the_traceback_goes_to_stderr(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the crash folder would be")
    result = _run_faulty("gate", tmp_path, crash_dir=blocker / "crashes")
    assert result.returncode == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "radval: internal error (exit 3): RuntimeError: injected fault; traceback above "
        "(no crash log could be written)"
    )


def test_input_errors_stay_exit_2_and_usage_errors_keep_their_code(tmp_path: Path) -> None:
    env = {**os.environ, "RADVAL_CRASH_DIR": str(tmp_path / "crashes")}
    result = subprocess.run(
        [sys.executable, "-m", "validation", "mrmc", "missing.csv"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "radval: error: missing.csv: readings file not found (expected an existing file)\n"
    )
    assert not (tmp_path / "crashes").exists()
    result = subprocess.run(
        [sys.executable, "-m", "validation", "mrmc"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2 and "Missing argument" in result.stderr


def test_main_maps_exceptions_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from validation.cli import ExitCode, main
    from validation.data import readings

    monkeypatch.setenv("RADVAL_CRASH_DIR", str(tmp_path))

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("not an input error")

    monkeypatch.setattr(readings, "load_readings", boom)
    assert main(["mrmc", "x.csv"]) == ExitCode.INTERNAL_ERROR == 3
    err = capsys.readouterr().err
    assert err.startswith("radval: internal error (exit 3): KeyError: 'not an input error'; ")
    assert len(list(tmp_path.glob("*.log"))) == 1


def test_an_undefined_result_that_stops_a_study_is_exit_2(tmp_path: Path) -> None:
    result = _run_faulty("run", tmp_path, env={"FAULT": "undefined"})
    assert result.returncode == 2
    assert result.stderr == "radval: error: AUC is undefined: no positive case\n"
    assert not (tmp_path / "crashes").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["gate", "a.json", "--baseline", "b.json", "--margin", "nan"],
        ["gate", "a.json", "--baseline", "b.json", "--proportion-margin", "inf"],
        ["gate", "a.json", "--baseline", "b.json", "--significance-level", "-inf"],
        ["mrmc", "r.csv", "--threshold", "nan"],
        ["mrmc", "r.csv", "--confidence-level", "nan"],
    ],
)
def test_nan_and_infinite_option_values_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "validation", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    option, value = args[-2], args[-1]
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Invalid value for '{option}': expected a finite number, found {float(value)}"
    )


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run radval with stderr on a pseudo-terminal (click strips escapes on pipes only)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "validation", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_hostile_values_cannot_drive_the_terminal(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(b"x")
    (tmp_path / "m.csv").write_text("case_id,patient_id,path,label\nc1,p1,a.dcm,\x1b[2J\x1b[31m1\n")
    code, err = _on_a_terminal(["manifest", "check", "m.csv"], tmp_path)
    assert code == 2 and "\x1b" not in err
    assert "column 'label': expected 0 or 1, found '\\x1b[2J\\x1b[31m1'" in err
    code, err = _on_a_terminal(["mrmc", "gone\x1b[8m.csv"], tmp_path)
    assert code == 2 and "\x1b" not in err
    assert err.strip() == (
        "radval: error: gone\\x1b[8m.csv: readings file not found (expected an existing file)"
    )

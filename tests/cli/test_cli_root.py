"""End-to-end checks of the root ``radval`` command (subprocess, as a user runs it)."""

from __future__ import annotations

import subprocess
import sys

from validation import __version__


def _radval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", *args], capture_output=True, text=True, timeout=120
    )


def test_version_prints_package_version() -> None:
    result = _radval("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"radval {__version__}"


def test_help_lists_every_area() -> None:
    result = _radval("--help")
    assert result.returncode == 0
    for command in ("demo", "manifest", "mrmc", "train", "predict", "run", "report", "gate"):
        assert command in result.stdout, command


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    result = _radval("no-such-command")
    assert result.returncode == 2
    assert "No such command 'no-such-command'" in result.stderr
    assert "Traceback" not in result.stderr

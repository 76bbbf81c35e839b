"""Fixtures for the study tests; the helpers live in ``study_support``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from study_support import build_layout


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A fresh demo-like folder."""
    return build_layout(tmp_path / "demo")


@pytest.fixture
def write_protocol(layout: Path) -> Callable[[str, str], Path]:
    """Write protocol text into ``layout/protocols/NAME`` and return its path."""

    def write(name: str, text: str) -> Path:
        path = layout / "protocols" / name
        path.write_text(text, encoding="utf-8")
        return path

    return write

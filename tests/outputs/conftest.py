"""Fixtures for the release-pipeline output tests; the helpers live in ``outputs_support``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# the study and report tests' fixture builders (their folders are not packages)
for _helpers in ("study", "report"):
    _path = str(Path(__file__).resolve().parents[1] / _helpers)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from outputs_support import gate_layout, mlflow_server  # noqa: E402


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A demo-like folder with the released model's study already run."""
    return gate_layout(tmp_path / "demo")


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a real ``mlflow server`` on loopback, shared by the session's tests."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri

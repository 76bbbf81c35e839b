"""Fixtures for the report tests; the helpers live in ``report_support``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_support import make_study

from validation.study import StudyOutcome


@pytest.fixture(scope="session")
def study_outcome(tmp_path_factory: pytest.TempPathFactory) -> StudyOutcome:
    """The outcome of one real study run per session."""
    return make_study(tmp_path_factory.mktemp("report_study"))


@pytest.fixture(scope="session")
def study_template(study_outcome: StudyOutcome) -> Path:
    """The session's study folder (do not modify; copy it with ``study_dir``)."""
    return study_outcome.study_dir


@pytest.fixture
def study_dir(study_template: Path, tmp_path: Path) -> Path:
    """A private copy of the session's study folder."""
    dest = tmp_path / "study"
    shutil.copytree(study_template, dest)
    return dest

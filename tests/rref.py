"""The R reference cases (``tests/reference/``), inputs regenerated and checked."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
REFERENCE = TESTS / "reference"
DATA = TESTS / "data"


@lru_cache(maxsize=1)
def _rref() -> dict[str, Any]:
    """Return the R reference file with every case's inputs filled in."""
    payload = json.loads((REFERENCE / "rref_public_cases.json").read_text())
    sys.path.insert(0, str(REFERENCE))
    try:
        from make_cases import generate_cases  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REFERENCE))
    full = {c["id"]: c for c in generate_cases(payload["seed"])}
    for case in payload["cases"]:
        regenerated = full[case["id"]]
        if regenerated["input_sha256"] != case["input_sha256"]:
            raise RuntimeError(f"regenerated inputs of {case['id']} do not match input_sha256")
        case["job"] = regenerated["job"]
    return payload


@pytest.fixture(scope="session")
def rref() -> dict[str, Any]:
    """The R harness's reference cases (``tests/reference/README.md``), inputs regenerated."""
    return _rref()


def rref_cases(category: str) -> list[dict[str, Any]]:
    """Return the reference cases of one category, for ``pytest.mark.parametrize``."""
    return [c for c in _rref()["cases"] if c["category"] == category]

"""Shared helpers of the agreement tests (a uniquely named module, see tests/conftest.py)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference"
DATA = HERE / "data"


@lru_cache(maxsize=1)
def r_reference() -> dict[str, Any]:
    """R's answers (``reference/agreement_reference.json``, see its README)."""
    return json.loads((REFERENCE / "agreement_reference.json").read_text())


def r_cases(kind: str) -> list[dict[str, Any]]:
    return [c for c in r_reference()["cases"] if c["kind"] == kind]


def tidy(matrix: Any, *, label: str = "label") -> pd.DataFrame:
    """A cases x raters matrix (None/NaN = missing) as a tidy ratings frame."""
    rows = []
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            rows.append((f"c{i}", f"r{j}", v))
    return pd.DataFrame(rows, columns=["case", "rater", label])


def pefr() -> pd.DataFrame:
    """Bland & Altman (1986) Table 1 (see data/README.md)."""
    return pd.read_csv(DATA / "bland_altman_1986_pefr.csv")

"""Shared fixtures. Helper modules sit beside the tests with unique names
(``rref``, ``study_support``, ``report_support``) because several ``conftest.py``
files would otherwise clash as one module named ``conftest``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rref import rref  # noqa: E402,F401  (the session fixture)

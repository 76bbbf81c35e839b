"""Shared fixtures. Helper modules sit beside the tests with unique names
(``rref``, ``study_support``, ``report_support``) because several ``conftest.py``
files would otherwise clash as one module named ``conftest``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rref import rref  # noqa: E402,F401  (the session fixture)

# CI runs the property tests on a fixed, reproducible set of examples (a failure there
# can be re-run exactly); a developer's run explores new random examples each time.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

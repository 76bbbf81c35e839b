"""Outputs beyond results.json and the report: CI reports, MLflow, the results as DICOM.

Pure writers over what ``radval run`` and ``radval gate`` already committed (the
``results.json`` document, the gate record and their audit logs); nothing here computes a
statistic or decides a criterion.

* :mod:`validation.outputs.checks`: one pass/fail/skipped check per criterion and gate rule;
* :mod:`validation.outputs.junit`: JUnit XML (the Ant/Surefire layout CI systems read);
* :mod:`validation.outputs.summary`: the Markdown summary (escaped; ``$GITHUB_STEP_SUMMARY``);
* :mod:`validation.outputs.mlflow_log`: MLflow metrics, tags, artifacts and model promotion;
* :mod:`validation.outputs.publish`: what the CLI calls after its own work.
* :mod:`validation.outputs.dicom_sr`: the results as a DICOM SR (and STOW-RS).
"""

from __future__ import annotations

from validation.outputs.checks import Check, gate_checks, study_checks
from validation.outputs.junit import Suite, junit_xml, write_junit
from validation.outputs.summary import gate_summary, md_escape, study_summary

__all__ = [
    "Check",
    "Suite",
    "gate_checks",
    "gate_summary",
    "junit_xml",
    "md_escape",
    "study_checks",
    "study_summary",
    "write_junit",
]

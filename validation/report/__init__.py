"""The audit-ready report: ``results.json`` (+ audit log) -> self-contained ``report.html`` / PDF.

:func:`render_report` writes the files; :func:`render_and_log` writes and logs them as one audit
commit (``radval report``, ``radval run`` and ``radval sign`` call it).
Templates live in ``validation/report/templates/`` (packaged with radval);
:mod:`validation.report.charts` draws the inline SVG charts and
:mod:`validation.report.format` formats every number.
"""

from __future__ import annotations

from validation.report.render import (
    REPORT_HTML,
    REPORT_PDF,
    render_and_log,
    render_html,
    render_pdf,
    render_report,
)

__all__ = [
    "REPORT_HTML",
    "REPORT_PDF",
    "render_and_log",
    "render_html",
    "render_pdf",
    "render_report",
]

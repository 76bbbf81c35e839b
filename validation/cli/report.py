"""`radval report`: render a study folder's results.json into report.html (and report.pdf).

``radval report STUDY_DIR [--pdf] [--templates DIR]`` reads ``results.json`` (and the
audit log for the sign-off block), writes ``report.html`` atomically, optionally
``report.pdf`` (WeasyPrint), and logs the render in the study's audit trail. A missing
or invalid ``results.json`` is bad input (exit 2); any other failure exits 3
(:func:`validation.cli.main`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report_cmd(
    study_dir: Annotated[Path, typer.Argument(help="Study folder holding results.json.")],
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write report.pdf (WeasyPrint).")] = False,
    templates: Annotated[
        Path | None,
        typer.Option("--templates", help="Folder of templates overriding the packaged ones."),
    ] = None,
) -> None:
    """Render report.html (and report.pdf) from a study folder's results.json."""
    from validation import audit
    from validation.report.render import REPORT_PDF, render_report

    path = render_report(study_dir, pdf=True if pdf else None, template_dir=templates)
    written = [path]
    if (study_dir / REPORT_PDF).is_file() and pdf:
        written.append(study_dir / REPORT_PDF)
    if (study_dir / audit.AUDIT_FILE).exists():
        for p in written:
            audit.record_render(study_dir, p)
    for p in written:
        typer.echo(f"report: {p}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("report")(report_cmd)

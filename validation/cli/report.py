"""`radval report`: render a study folder's results.json into report.html (and report.pdf).

``radval report STUDY_DIR [--pdf] [--templates DIR]`` reads ``results.json`` (and the
audit log for the sign-off block), writes ``report.html`` atomically, optionally
``report.pdf`` (WeasyPrint), and logs the render in the study's audit trail (one commit
per file). A missing or invalid ``results.json``, or a study folder whose audit log does not
verify or holds an interrupted write, is bad input (exit 2); any other failure exits 3.
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
    from validation.report.render import render_and_log, render_report

    if (study_dir / audit.AUDIT_FILE).exists():
        # refuses a folder that does not verify or holds an interrupted write (exit 2)
        written = render_and_log(study_dir, pdf=True if pdf else None, template_dir=templates)
    else:
        written = [render_report(study_dir, pdf=True if pdf else None, template_dir=templates)]
        typer.echo(
            f"radval: warning: {study_dir} has no audit log; the report is not logged", err=True
        )
    for p in written:
        typer.echo(f"report: {p}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("report")(report_cmd)

"""Render a study folder's ``results.json`` into a self-contained ``report.html`` (and PDF).

The report is one HTML file with inline CSS, inline SVG charts and one small inline script
(sorting and filtering tables; hash-allowed by its Content-Security-Policy): no script, font,
image or stylesheet is fetched from anywhere, so it opens offline for as long as the
file exists. Templates (``validation/report/templates/*.html.j2``) run in a jinja2
environment with autoescaping on and :class:`jinja2.StrictUndefined`; they do no
arithmetic, and every number passes through the filters of
:mod:`validation.report.format`. Every string that came from a manifest, protocol or
readings file is escaped (in HTML text, attributes and SVG text alike).

The rendering is deterministic: the same ``results.json`` and audit log give the same
bytes (no render time, no generated ids). ``render`` entries of the audit log are left
out of the report, so logging a render never changes the next one.

Example
-------
>>> from validation.report.render import render_report
>>> path = render_report("studies/triage")  # doctest: +SKIP
>>> path.name  # doctest: +SKIP
'report.html'
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from validation import audit
from validation.errors import AuditError, RadvalError, ReportError
from validation.io import sha256_file, write_bytes_atomic, write_text_atomic
from validation.report.context import build_context
from validation.report.format import FILTERS
from validation.report.gallery import gallery_images
from validation.results import RESULTS_FILE, read_results_document

REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
TEMPLATE = "report.html.j2"
SCRIPT = "report.js"

__all__ = [
    "REPORT_HTML",
    "REPORT_PDF",
    "make_environment",
    "pdf_document",
    "render_and_log",
    "render_html",
    "render_pdf",
    "render_report",
]


def make_environment(template_dir: str | Path | None = None) -> jinja2.Environment:
    """The jinja2 environment: packaged templates (optionally overridden), autoescape, strict.

    Parameters
    ----------
    template_dir : path, optional
        A folder whose templates take precedence over the packaged ones (same names:
        ``report.html.j2``, ``report.css`` ...), for a sponsor's house style.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        folder = Path(template_dir)
        if not folder.is_dir():
            raise ReportError(f"template folder {folder} does not exist")
        loaders.append(jinja2.FileSystemLoader(str(folder)))
    loaders.append(jinja2.PackageLoader("validation.report", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def _audit_state(study_dir: Path) -> tuple[list[dict[str, Any]], bool | None, str]:
    """The audit entries and whether the chain verifies (file hashes are not checked here:
    a re-render legitimately changes ``report.html``; the results file is checked against
    the signatures instead)."""

    if not (study_dir / audit.AUDIT_FILE).exists():
        return [], None, ""
    try:
        entries = audit.read_entries(study_dir)
        rep = audit.verify(study_dir, check_files=False)
    except AuditError as exc:
        return [], False, str(exc)
    pending = [
        n + audit.PENDING_SUFFIX
        for n in audit.COMMITTED_FILES
        if (study_dir / (n + audit.PENDING_SUFFIX)).exists()
    ]
    if rep.interrupted or pending:
        what = (
            rep.interrupted[0]
            if rep.interrupted
            else f"{pending[0]} is left by an interrupted write"
        )
        raise ReportError(
            f"refusing to render {study_dir}: {what}; run `radval audit recover {study_dir}` first"
        )
    return entries, not rep.problems, rep.problems[0] if rep.problems else ""


def render_html(study_dir: str | Path, *, template_dir: str | Path | None = None) -> str:
    """Render the report of a study folder to an HTML string (nothing is written)."""
    return _render(Path(study_dir), template_dir)[0]


def report_script(env: jinja2.Environment) -> tuple[Markup, str]:
    """The report's inline script (``report.js``) and its CSP source (``'sha256-...'``).

    The hash is computed from the script actually inlined (a ``--templates`` folder may
    override it), so the Content-Security-Policy allows exactly that script and nothing
    else. A script that could close its own element is refused.
    """
    if env.loader is None:
        raise ReportError("the report environment has no template loader")
    source = env.loader.get_source(env, SCRIPT)[0]
    if "</" in source or "<!--" in source:
        raise ReportError(f"{SCRIPT} must not contain '</' or '<!--' (it is inlined in HTML)")
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")
    return Markup(source), f"sha256-{digest}"  # trusted packaged/sponsor template text


def _render(study_dir: Path, template_dir: str | Path | None) -> tuple[str, dict[str, Any]]:
    folder = study_dir
    results = folder / RESULTS_FILE
    if not folder.is_dir():
        raise ReportError(f"study folder {folder} does not exist")
    doc = read_results_document(results)
    entries, chain_ok, problem = _audit_state(folder)
    images, gallery_problem = gallery_images(folder, doc)
    context = build_context(
        doc,
        entries=entries,
        results_sha256=sha256_file(results),
        chain_ok=chain_ok,
        chain_problem=problem,
        gallery_images=images,
        gallery_problem=gallery_problem,
    )
    env = make_environment(template_dir)
    context["report_script"], context["script_hash"] = report_script(env)
    return env.get_template(TEMPLATE).render(**context), doc


def pdf_document(html: str) -> Any:
    """Lay out report HTML as a WeasyPrint document (pages) without fetching any resource.

    Only ``data:`` URLs (the gallery's inline thumbnails) are read, by WeasyPrint's own
    fetcher limited to that scheme; any other URL is refused, so the PDF, like the HTML,
    needs nothing from anywhere.
    """
    import weasyprint
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("data",), allow_redirects=False)
    return weasyprint.HTML(string=html, url_fetcher=fetcher).render()


def render_pdf(html: str) -> bytes:
    """Render report HTML to PDF bytes with WeasyPrint (no resource is fetched)."""
    data = pdf_document(html).write_pdf()
    if not isinstance(data, bytes):
        raise RadvalError(
            f"WeasyPrint's write_pdf() returned {type(data).__name__}, expected the PDF's bytes"
        )
    return data


def render_report(
    study_dir: str | Path,
    *,
    pdf: bool | None = None,
    template_dir: str | Path | None = None,
) -> Path:
    """Render ``report.html`` (and ``report.pdf``) into a study folder; return the HTML path.

    Parameters
    ----------
    study_dir : path
        A study folder written by :func:`validation.study.run_study` (holds ``results.json``
        and, normally, ``audit.jsonl``).
    pdf : bool, optional
        Also write ``report.pdf`` (WeasyPrint). Default: what the protocol's ``report.pdf``
        says.
    template_dir : path, optional
        Templates that override the packaged ones.

    Returns
    -------
    Path
        The ``report.html`` written (atomically).

    Raises
    ------
    InputError
        The folder or its ``results.json`` is missing or does not match the schema.

    Notes
    -----
    This writes the files without logging them; :func:`render_and_log` writes and logs
    them as one commit, which ``radval report``, ``radval run`` and ``radval sign`` use.
    """
    folder = Path(study_dir)
    html, doc = _render(folder, template_dir)
    out = folder / REPORT_HTML
    write_text_atomic(out, html)
    if pdf is None:
        pdf = bool(((doc.get("protocol") or {}).get("resolved") or {}).get("report", {}).get("pdf"))
    if pdf:
        write_bytes_atomic(folder / REPORT_PDF, render_pdf(html))
    return out


def render_and_log(
    study_dir: str | Path,
    *,
    pdf: bool | None = None,
    template_dir: str | Path | None = None,
    actor: str | None = None,
) -> list[Path]:
    """Render the report into a study folder and log it: one ``render`` entry per file.

    Holds the folder's lock, refuses a folder whose audit log does not verify
    (:func:`validation.audit.require_intact`), and writes each file through
    :func:`validation.audit.commit_files`, so a report reaches the folder only together
    with the entry that records its sha256 and the ``results.json`` it shows.

    Returns
    -------
    list of Path
        ``report.html`` and, when written, ``report.pdf``.
    """
    folder = Path(study_dir)
    with audit.study_lock(folder, purpose="render"):
        audit.require_intact(folder, "render the report of")
        html, doc = _render(folder, template_dir)
        if pdf is None:
            pdf = bool(
                ((doc.get("protocol") or {}).get("resolved") or {}).get("report", {}).get("pdf")
            )
        files = [(REPORT_HTML, html.encode("utf-8"))]
        if pdf:
            files.append((REPORT_PDF, render_pdf(html)))
        results_sha = sha256_file(folder / RESULTS_FILE)
        written = []
        for name, data in files:
            audit.commit_files(
                folder,
                "render",
                {name: data},
                inputs={RESULTS_FILE: results_sha},
                details={"report": name},
                actor=actor,
            )
            written.append(folder / name)
        return written

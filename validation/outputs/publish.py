"""What ``radval run`` and ``radval gate`` call after their own work: JUnit, summary, MLflow.

:class:`Outputs` holds the requested outputs; :meth:`Outputs.check` refuses, before anything
is computed, an output path that would overwrite a file radval records (``results.json``,
``gate.json``, the report, the audit log), one path given twice, and ``--mlflow`` without
``$MLFLOW_TRACKING_URI`` or MLflow. :func:`publish_study` and :func:`publish_gate` then
write them from the study folder (or the gate record) the command just committed: the
MLflow logging (and a promotion) first, then the JUnit XML and the Markdown summary,
atomically (:mod:`validation.io`), also when a criterion failed and also when the MLflow
logging failed (its error is raised after the files are written). They never change the
command's exit code unless an output cannot be produced (:class:`PublishError`, exit 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation import audit
from validation.errors import PublishError
from validation.io import sha256_file, write_text_atomic
from validation.outputs import mlflow_log
from validation.outputs.checks import gate_checks, study_checks
from validation.outputs.junit import Suite, gate_properties, study_properties, write_junit
from validation.outputs.mlflow_log import Promotion
from validation.outputs.summary import append_step_summary, gate_summary, md_escape, study_summary
from validation.results import read_results_document

Echo = Callable[[str], None]
#: Files of a study or gate folder no output may replace.
PROTECTED = (*audit.COMMITTED_FILES, audit.AUDIT_FILE, audit.HEAD_FILE, audit.LOCK_FILE)


def _shown(path: str | Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


@dataclass(frozen=True)
class Outputs:
    """The CI and tracking outputs a command was asked for.

    Attributes
    ----------
    junit, summary : Path or None
        Where to write the JUnit XML and the Markdown summary (the summary is also
        appended to ``$GITHUB_STEP_SUMMARY`` when that is set).
    mlflow : bool
        Log to the MLflow tracking server ``$MLFLOW_TRACKING_URI`` names.
    mlflow_run_id : str or None
        The run to log to when the model card names none.
    promotion : Promotion or None
        ``radval gate`` only: the registered model version to promote on PASS.
    """

    junit: Path | None = None
    summary: Path | None = None
    mlflow: bool = False
    mlflow_run_id: str | None = None
    promotion: Promotion | None = None

    @property
    def requested(self) -> bool:
        """Whether any output was asked for."""
        return self.junit is not None or self.summary is not None or self.mlflow

    def check(self, *folders: Path | None, gate_out: Path | None = None) -> None:
        """Refuse bad requests before the command does its work (see the module docstring).

        ``folders`` are the study (or gate) folders whose records no output may replace;
        ``gate_out`` is ``radval gate --out`` (a promotion is recorded there, so it needs one).
        """
        named = [
            (opt, p)
            for opt, p in (("--junit", self.junit), ("--summary", self.summary))
            if p is not None
        ]
        if len(named) == 2 and named[0][1].resolve() == named[1][1].resolve():
            raise PublishError(
                f"--junit and --summary name the same file {named[0][1]}; give each its own"
            )
        for opt, path in named:
            if path.is_dir():
                raise PublishError(f"{opt} {path} is a folder; expected a file name")
            resolved = path.resolve()
            for folder in folders:
                if folder is None:
                    continue
                base = (folder if folder.is_dir() or not folder.suffix else folder.parent).resolve()
                if resolved.parent == base and (
                    resolved.name in PROTECTED or resolved.name.endswith(audit.PENDING_SUFFIX)
                ):
                    raise PublishError(
                        f"{opt} {path} would overwrite {resolved.name}, a file radval records in "
                        f"{base}; "
                        "write the output elsewhere"
                    )
        if self.mlflow_run_id is not None and not self.mlflow:
            raise PublishError("--mlflow-run-id needs --mlflow")
        if self.promotion is not None:
            if not self.mlflow:
                raise PublishError(
                    "--promote-model needs --mlflow (the registry is the tracking server's)"
                )
            if gate_out is None:
                raise PublishError(
                    "--promote-model needs --out DIR: the promotion is recorded in the gate "
                    "folder's audit log"
                )
            self.promotion.check()
        if self.mlflow:
            mlflow_log.connect()


def _write_files(o: Outputs, suite: Suite, summary: str, echo: Echo) -> None:
    if o.junit is not None:
        write_junit(o.junit, [suite])
        echo(f"junit: {o.junit}")
    if o.summary is not None:
        write_text_atomic(o.summary, summary)
        echo(f"summary: {o.summary}")
        appended = append_step_summary(summary)
        if appended is not None:
            echo("summary: appended to $GITHUB_STEP_SUMMARY")


def publish_study(o: Outputs, *, study_dir: Path, report_path: Path | None, echo: Echo) -> None:
    """Write a finished study's requested outputs (see the module docstring)."""
    study_dir = Path(study_dir)
    doc = read_results_document(study_dir)
    head = audit.require_intact(study_dir, "publish the results of").head_hash
    results_sha = sha256_file(study_dir / "results.json")
    checks = study_checks(doc)
    report = _shown(report_path) if report_path is not None else None
    lines: list[str] = []
    try:
        if o.mlflow:
            lines.append(_log_study_mlflow(o, doc, study_dir, results_sha, head, echo))
    finally:
        sid = str((doc.get("study") or {}).get("id"))
        timestamp = (doc.get("timings") or {}).get("finished_at")
        suite = Suite(
            name=f"radval run {sid}",
            classname=f"radval.{sid}",
            checks=checks,
            properties=study_properties(
                doc, results_sha256=results_sha, audit_head=head, report=report
            ),
            timestamp=timestamp,
        )
        text = study_summary(
            doc, results_sha256=results_sha, audit_head=head, report=report, checks=checks
        )
        _write_files(o, suite, text + "".join(f"\n{md_escape(line)}\n" for line in lines), echo)


def _log_study_mlflow(
    o: Outputs,
    doc: Mapping[str, Any],
    study_dir: Path,
    results_sha: str,
    head: str | None,
    echo: Echo,
) -> str:
    t = mlflow_log.connect()
    sid = str((doc.get("study") or {}).get("id"))
    run = mlflow_log.resolve_run(t, doc, run_id=o.mlflow_run_id, study_id=sid)
    ok = False
    try:
        log = mlflow_log.log_study(
            t, doc, study_dir=study_dir, results_sha256=results_sha, audit_head=head, run=run
        )
        ok = True
    finally:
        mlflow_log.finish(t, run, ok=ok)
    echo(log.describe())
    return f"MLflow run {run.run_id} ({run.source})"


def publish_gate(
    o: Outputs,
    *,
    result: Mapping[str, Any],
    gate_dir: Path | None,
    echo: Echo,
    actor: str | None = None,
) -> None:
    """Write a release gate's requested outputs; promote the candidate's version on PASS."""
    cand_path = Path(str((result.get("candidate") or {}).get("path")))
    cand_doc = read_results_document(cand_path)
    cand_dir = cand_path if cand_path.is_dir() else cand_path.parent
    report = next(
        (cand_dir / n for n in ("report.html", "report.pdf") if (cand_dir / n).is_file()), None
    )
    promotion_line: str | None = None
    notes: list[str] = []
    try:
        if o.mlflow:
            t = mlflow_log.connect()
            run = mlflow_log.resolve_run(
                t,
                cand_doc,
                run_id=o.mlflow_run_id,
                study_id=str((cand_doc.get("study") or {}).get("id")),
            )
            ok = False
            try:
                if o.promotion is not None:
                    promotion_line = _promote(o.promotion, t, run, result, gate_dir, actor)
                    echo(promotion_line)
                log = mlflow_log.log_gate(
                    t,
                    result,
                    gate_dir=gate_dir,
                    gate_sha256=sha256_file(gate_dir / "gate.json")
                    if gate_dir is not None
                    else None,
                    gate_audit_head=audit.verify(gate_dir).head_hash
                    if gate_dir is not None
                    else None,
                    run=run,
                )
                ok = True
            finally:
                mlflow_log.finish(t, run, ok=ok)
            echo(log.describe())
            notes.append(f"MLflow run {run.run_id} ({run.source})")
    finally:
        gate_sha = sha256_file(gate_dir / "gate.json") if gate_dir is not None else None
        gate_head = audit.verify(gate_dir).head_hash if gate_dir is not None else None
        checks = gate_checks(result)
        suite = Suite(
            name=f"radval gate {(result.get('candidate') or {}).get('study')} vs "
            f"{(result.get('baseline') or {}).get('study')}",
            classname=f"radval.gate.{(result.get('candidate') or {}).get('study')}",
            checks=checks,
            properties=gate_properties(
                result, cand_doc, gate_sha256=gate_sha, gate_audit_head=gate_head
            ),
        )
        text = gate_summary(
            result,
            gate_sha256=gate_sha,
            gate_audit_head=gate_head,
            report=_shown(report) if report is not None else None,
            promotion=promotion_line,
        )
        _write_files(o, suite, text + "".join(f"\n{md_escape(n)}\n" for n in notes), echo)


def _promote(
    p: Promotion,
    t: mlflow_log.Tracking,
    run: mlflow_log.RunRef,
    result: Mapping[str, Any],
    gate_dir: Path | None,
    actor: str | None,
) -> str:
    if result.get("decision") != "pass":
        return (
            f"not promoted: the gate decided {str(result.get('decision')).upper()}; registered "
            "model "
            f"{p.model} is unchanged"
        )
    if gate_dir is None:
        raise PublishError(
            "--promote-model needs --out DIR: the promotion is recorded in the gate folder's "
            "audit log"
        )
    entry = mlflow_log.promote(
        t,
        p,
        gate=result,
        gate_dir=gate_dir,
        run_id=None if run.created else run.run_id,
        actor=actor,
    )
    return mlflow_log.describe_promotion(entry)

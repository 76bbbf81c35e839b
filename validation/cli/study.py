"""`radval` commands for protocols, studies, release gates, the audit trail and sign-off.

``radval protocol check|lock|deviation|schema``, ``radval run``, ``radval gate``,
``radval audit verify`` and ``radval sign``. Each parses arguments and calls
:mod:`validation.protocol`, :mod:`validation.study`, :mod:`validation.gate` or
:mod:`validation.audit`. Exit codes follow ``DESIGN.md`` §9.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from validation.cli._common import finite, printable

_JUNIT_HELP = (
    "Also write a JUnit XML report here: one test case per primary and secondary criterion "
    "(and gate rule), written even when a criterion fails."
)
_SUMMARY_HELP = (
    "Also write a Markdown verdict summary here (and append it to $GITHUB_STEP_SUMMARY "
    "when that is set)."
)
_MLFLOW_HELP = (
    "Log endpoints (metrics), hashes and verdict (tags) and the files (artifacts) to MLflow: "
    "tracking URI from $MLFLOW_TRACKING_URI, credentials from MLflow's environment variables."
)
_MLFLOW_RUN_HELP = "MLflow run to log to when the model card names none (default: a new run)."


class SchemaFormat(StrEnum):
    """``radval protocol schema --format``."""

    json = "json"
    markdown = "markdown"


class Meaning(StrEnum):
    """``radval sign --meaning``: the meanings of ``validation.audit.SIGNATURE_MEANINGS``."""

    authorship = "authorship"
    review = "review"
    approval = "approval"
    responsibility = "responsibility"


protocol_app = typer.Typer(help="Check, lock and document study protocols.", no_args_is_help=True)
audit_app = typer.Typer(help="Verify a study's hash-chained audit trail.", no_args_is_help=True)


@protocol_app.command(
    "check",
    # the help is the docstring with its first paragraph on one line (typer keeps line breaks)
    help=(
        "Validate a protocol and the files it names; print every problem with its YAML path "
        "(exit 2 if any).\n\n"
        "With ``--files`` (the default) the contents of the files are checked too: the "
        "manifest's\nrows and the columns the protocol uses, the scores, readings, marks, "
        "lesions and\npredictions that exist (columns, numbers, case coverage against the "
        "manifest)."
    ),
)
def protocol_check(
    file: Annotated[Path, typer.Argument(help="Protocol YAML.")],
    files: Annotated[
        bool,
        typer.Option(
            "--files/--no-files", help="Also check the files it names and their contents."
        ),
    ] = True,
) -> None:
    """Validate a protocol and the files it names; print every problem with its YAML path
    (exit 2 if any).

    With ``--files`` (the default) the contents of the files are checked too: the manifest's
    rows and the columns the protocol uses, the scores, readings, marks, lesions and
    predictions that exist (columns, numbers, case coverage against the manifest).
    """
    from validation.protocol.load import check_protocol
    from validation.study import check_study_protocol

    problems = check_study_protocol(file) if files else check_protocol(file, files=False)
    if problems:
        for p in problems:
            typer.echo(printable(p.format(file)), err=True)
        typer.echo(f"radval: error: {file}: {len(problems)} problem(s)", err=True)
        raise typer.Exit(2)
    typer.echo(f"{file}: OK")
    from validation.protocol.load import load_protocol
    from validation.protocol.lock import lock_path_for, read_lock, verify_lock

    if load_protocol(file, files=False).protocol.report.gallery.enabled:
        typer.echo(
            "note: report.gallery is enabled: the report and gallery.json will show images of "
            "patients from the test set (protected health information; images whose header "
            "says BurnedInAnnotation YES are left out)"
        )

    lock_file = lock_path_for(file)
    if not lock_file.exists():
        typer.echo(f"not locked yet (lock with: radval protocol lock {file})")
        return
    lock = read_lock(lock_file)
    verify_lock(load_protocol(file, files=files), lock)  # a mismatch raises ProtocolError: exit 2
    hashed = f", {len(lock.inputs)} hashed input(s)" if lock.inputs else ""
    typer.echo(
        f"locked at {lock.locked_at} by {lock.data.get('locked_by')}; protocol, manifest{hashed} "
        "match the lock"
    )


@protocol_app.command("lock")
def protocol_lock(
    file: Annotated[Path, typer.Argument(help="Protocol YAML.")],
    amend: Annotated[str | None, typer.Option(help="Reason for amending an existing lock.")] = None,
    actor: Annotated[str | None, typer.Option(help="Who locks (default user@host).")] = None,
) -> None:
    """Lock a protocol: record its and its manifest's sha256 and the time."""
    from validation.protocol.load import load_protocol
    from validation.protocol.lock import OUTPUT_INPUTS, lock_protocol, lockable_inputs

    lock = lock_protocol(file, amend=amend, actor=actor)
    typer.echo(
        f"locked {file} -> {lock.path}\n  protocol sha256 {lock.protocol_sha256}\n"
        f"  manifest sha256 {lock.manifest_sha256}\n  locked at {lock.locked_at}"
    )
    hashed = lock.inputs
    for key, rec in hashed.items():
        files = f", {rec['n_files']} file(s)" if "n_files" in rec else ""
        typer.echo(
            f"  {key} sha256 {rec['sha256']} ({rec['path']}{files}): hashed, exists at lock time"
        )
    for key, rel in lockable_inputs(load_protocol(file)):
        if key not in hashed:
            typer.echo(f"  {key} ({rel}): not present yet, not hashed")
    present = [k for k in hashed if k in OUTPUT_INPUTS]
    if present:
        typer.echo(
            f"note: model outputs already exist at lock time ({', '.join(present)}); the lock "
            "records their sha256, `radval run` refuses them if they change, and the report says "
            "they existed",
            err=True,
        )


@protocol_app.command("deviation")
def protocol_deviation(
    file: Annotated[Path, typer.Argument(help="Locked protocol YAML.")],
    description: Annotated[str, typer.Option(help="What deviates from the locked plan, and why.")],
    actor: Annotated[str | None, typer.Option(help="Who declares it (default user@host).")] = None,
) -> None:
    """Declare a deviation from a locked protocol (recorded in the lock and the results)."""
    from validation.protocol.lock import declare_deviation

    rec = declare_deviation(file, description, actor=actor)
    typer.echo(f"deviation {rec['id']} declared at {rec['declared_at']}")


@protocol_app.command("schema")
def protocol_schema(
    format: Annotated[
        SchemaFormat, typer.Option("--format", help="The JSON Schema or the Markdown reference.")
    ] = SchemaFormat.json,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print the protocol JSON Schema or the Markdown reference generated from it."""
    from validation.io import write_text_atomic
    from validation.protocol.reference import protocol_json_schema_text, render_reference

    text = protocol_json_schema_text() if format is SchemaFormat.json else render_reference()
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(out, text)
        typer.echo(f"wrote {out}")


def run_cmd(
    protocol: Annotated[Path, typer.Argument(help="Locked protocol YAML.")],
    out: Annotated[Path, typer.Option("--out", help="Study folder to create.")],
    force: Annotated[bool, typer.Option(help="Re-run into an existing study folder.")] = False,
    unlocked: Annotated[
        bool, typer.Option(help="Allow an unlocked protocol (exploratory).")
    ] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Render the report.")] = True,
    lock: Annotated[
        Path | None, typer.Option(help="Lock file (default <protocol>.lock.json).")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help=_JUNIT_HELP)] = None,
    summary: Annotated[Path | None, typer.Option(help=_SUMMARY_HELP)] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow", help=_MLFLOW_HELP)] = False,
    mlflow_run_id: Annotated[str | None, typer.Option(help=_MLFLOW_RUN_HELP)] = None,
) -> None:
    """Run a locked protocol: exit 0 if every primary criterion holds, 1 if one fails,
    2 bad input.
    """
    from validation.outputs.publish import Outputs, publish_study
    from validation.study import run_study

    outputs = Outputs(junit=junit, summary=summary, mlflow=mlflow, mlflow_run_id=mlflow_run_id)
    outputs.check(out)

    outcome = run_study(
        protocol, out_dir=out, force=force, allow_unlocked=unlocked, render=report, lock_path=lock
    )
    for w in outcome.warnings:
        typer.echo(f"radval: warning: {w}", err=True)
    from validation.gate import decision_text

    for p in outcome.verdict["primary"]:
        typer.echo(f"  {p['endpoint_id']}: {decision_text(p['decision'])}")
    typer.echo(f"verdict: {outcome.verdict['decision'].upper()}  results: {outcome.results_path}")
    if outcome.report_path is not None:
        typer.echo(f"report: {outcome.report_path}")
    if outputs.requested:
        publish_study(
            outputs, study_dir=outcome.study_dir, report_path=outcome.report_path, echo=typer.echo
        )
    raise typer.Exit(outcome.exit_code)


def gate_cmd(
    candidate: Annotated[
        Path, typer.Argument(help="Candidate results.json (or its study folder).")
    ],
    baseline: Annotated[Path, typer.Option("--baseline", help="Released model's results.json.")],
    margin: Annotated[
        float, typer.Option(help="Non-inferiority margin on the AUC.", callback=finite)
    ] = 0.02,
    proportion_margin: Annotated[
        float,
        typer.Option(
            help="Non-inferiority margin on sensitivity and specificity.", callback=finite
        ),
    ] = 0.05,
    significance_level: Annotated[
        float | None,
        typer.Option(
            help="One-sided level of each test; intervals are two-sided at 1 - 2 x this level. "
            "Default: the candidate protocol's multiplicity.significance_level, as `radval run` "
            "uses.",
            callback=finite,
        ),
    ] = None,
    subgroups: Annotated[
        bool, typer.Option("--subgroups/--no-subgroups", help="Check subgroup regressions.")
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Gate folder: gate.json is committed there with its own audit log (sign it with "
            "`radval sign DIR`)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Gate again into a folder that holds a decision.")
    ] = False,
    junit: Annotated[Path | None, typer.Option(help=_JUNIT_HELP)] = None,
    summary: Annotated[Path | None, typer.Option(help=_SUMMARY_HELP)] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow", help=_MLFLOW_HELP)] = False,
    mlflow_run_id: Annotated[str | None, typer.Option(help=_MLFLOW_RUN_HELP)] = None,
    promote_model: Annotated[
        str | None,
        typer.Option(
            help="On PASS only, promote the candidate's version of this MLflow registered model "
            "(needs --mlflow and --out; recorded in the gate folder's audit log)."
        ),
    ] = None,
    promote_version: Annotated[
        str | None,
        typer.Option(
            help="The version to promote (default: the one the candidate's MLflow run produced)."
        ),
    ] = None,
    promote_alias: Annotated[
        str, typer.Option(help="Alias the promoted version gets.")
    ] = "champion",
    promote_stage: Annotated[
        str | None,
        typer.Option(
            help="Also move the version to this registry stage (e.g. Production), while MLflow "
            "has stages."
        ),
    ] = None,
) -> None:
    """Release gate: is the candidate non-inferior to the baseline on the same locked cases?"""
    from validation.gate import format_gate, run_gate
    from validation.outputs.mlflow_log import Promotion
    from validation.outputs.publish import Outputs, publish_gate

    promotion = (
        None
        if promote_model is None
        else Promotion(promote_model, promote_version, promote_alias, promote_stage)
    )
    outputs = Outputs(
        junit=junit,
        summary=summary,
        mlflow=mlflow,
        mlflow_run_id=mlflow_run_id,
        promotion=promotion,
    )
    outputs.check(candidate, baseline, out, gate_out=out)

    result = run_gate(
        candidate,
        baseline,
        margin=margin,
        proportion_margin=proportion_margin,
        significance_level=significance_level,
        subgroups=subgroups,
        out=out,
        force=force,
    )
    typer.echo(format_gate(result))
    if "audit_entry" in result:
        e = result["audit_entry"]
        typer.echo(
            f"gate record: {Path(e['folder']) / 'gate.json'} (audit entry {e['seq']}, {e['hash']})"
        )
    if outputs.requested:
        publish_gate(outputs, result=result, gate_dir=out, echo=typer.echo)
    raise typer.Exit(0 if result["decision"] == "pass" else 1)


@audit_app.command(
    "verify",
    help="Verify a study's audit log: exit 0 intact, 1 tampered, 2 unreadable or an "
    "interrupted write.",
)
def audit_verify(
    study_dir: Annotated[Path, typer.Argument(help="Study folder (or release-gate folder).")],
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="An entry hash recorded outside the folder (e.g. printed by `radval sign`); "
            "it must still be in the log. Repeatable.",
        ),
    ] = None,
    require_signoff: Annotated[
        bool,
        typer.Option(
            "--require-signoff",
            help="Exit 1 unless every signatory the protocol requires has signed "
            "the current results.",
        ),
    ] = False,
) -> None:
    """Verify a study's audit log: exit 0 intact, 1 tampered, 2 unreadable or an interrupted
    write.
    """
    from validation.audit import verify

    report = verify(study_dir, anchors=anchor or [])
    if not report.problems and not report.interrupted:
        typer.echo(f"audit: OK ({report.n_entries} entries, head {report.head_hash})")
    for s in report.signatures:
        state = (
            "signs these results" if s["signs_current"] else "signs ANOTHER version of the results"
        )
        typer.echo(
            f"signature: {s['printed_name']} ({s['role']}, {s['meaning']}) at {s['signed_at']}, "
            f"entry {s['seq']} {s['hash']}: {state}"
        )
    if report.missing_signatures:
        typer.echo(
            "sign-off: INCOMPLETE: no signature of the current results by required signatory "
            + ", ".join(report.missing_signatures)
        )
    if report.problems:
        for p in report.problems + report.interrupted:
            typer.echo(f"{study_dir}: {p}", err=True)
        typer.echo(f"audit: FAILED ({len(report.problems)} problem(s))", err=True)
        raise typer.Exit(1)
    if report.interrupted:
        for p in report.interrupted[1:]:
            typer.echo(f"{study_dir}: {p}", err=True)
        typer.echo(
            f"radval: error: {study_dir}: {report.interrupted[0]}; run `radval audit recover "
            f"{study_dir}` (the recovery is logged)",
            err=True,
        )
        raise typer.Exit(2)
    if require_signoff and report.missing_signatures:
        raise typer.Exit(1)


@audit_app.command("recover")
def audit_recover(study_dir: Annotated[Path, typer.Argument(help="Study folder.")]) -> None:
    """Complete or undo writes a crash left unfinished, and log what was done."""
    from validation.audit import recover

    entry = recover(study_dir)
    if entry is None:
        typer.echo(f"{study_dir}: nothing to recover")
        return
    for a in entry["details"]["actions"]:
        what = {k: v for k, v in a.items() if k not in ("kind", "content")}
        typer.echo(f"recovered: {a['kind']} {json.dumps(what, sort_keys=True)}")
    typer.echo(f"logged as entry {entry['seq']} ({entry['hash']})")


def sign_cmd(
    study_dir: Annotated[Path, typer.Argument(help="Study folder (or release-gate folder).")],
    name: Annotated[str, typer.Option(help="Signer's printed name.")],
    role: Annotated[
        str, typer.Option(help="Signer's role (one of the protocol's signatory roles).")
    ],
    meaning: Annotated[Meaning, typer.Option(help="What the signature means (21 CFR 11.50).")],
) -> None:
    """Sign a study's results (21 CFR 11.50 record in its audit log); re-render its report to
    show it.
    """
    from validation import audit
    from validation.errors import InputError

    with audit.study_lock(study_dir, purpose="sign") if study_dir.is_dir() else _no_lock():
        entry = audit.sign(study_dir, name=name, role=role, meaning=meaning.value)
        report = None
        if (study_dir / "monitor.json").is_file():  # a monitoring folder renders its own report
            from validation.monitor.runner import render_signed

            report = str(render_signed(study_dir))
        elif (study_dir / "report.html").is_file() or (study_dir / "report.pdf").is_file():
            from validation.report.render import render_and_log

            try:
                written = render_and_log(
                    study_dir, pdf=True if (study_dir / "report.pdf").is_file() else None
                )
            except InputError as exc:
                raise InputError(
                    f"the signature was recorded (entry {entry['seq']}), but the report could not "
                    f"be re-rendered to show it: {exc}; re-render it with `radval report "
                    f"{study_dir}`"
                ) from None
            report = str(written[0])
    d = entry["details"]
    record = next(
        (n for n in ("gate.json", "monitor.json") if n in entry["inputs"]), "results.json"
    )
    typer.echo(
        json.dumps(
            {
                "signed": d["printed_name"],
                "role": d["role"],
                "meaning": d["meaning"],
                "at": d["signed_at"],
                "signs": record,
                "results_sha256": entry["inputs"].get(record),
                "entry_hash": entry["hash"],
                "report": report,
            }
        )
    )
    if report is None and (study_dir / "results.json").is_file():
        typer.echo(
            f"radval: note: no report in {study_dir}; `radval report {study_dir}` renders one "
            "that shows the signature",
            err=True,
        )
    typer.echo(
        f"radval: keep the entry hash outside the study folder; `radval audit verify {study_dir} "
        f"--anchor {entry['hash']}` then proves the signature is still in the log",
        err=True,
    )


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(protocol_app, name="protocol")
    app.add_typer(audit_app, name="audit")
    # the help of these two is the docstring with its first line unwrapped (typer keeps breaks)
    app.command(
        "run",
        help="Run a locked protocol: exit 0 if every primary criterion holds, 1 if one fails, "
        "2 bad input.",
    )(run_cmd)
    app.command("gate")(gate_cmd)
    app.command(
        "sign",
        help="Sign a study's results (21 CFR 11.50 record in its audit log); re-render its "
        "report to show it.",
    )(sign_cmd)

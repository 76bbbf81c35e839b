"""`radval` commands for protocols, studies, release gates, the audit trail and sign-off.

``radval protocol check|lock|deviation|schema``, ``radval run``, ``radval gate``,
``radval audit verify`` and ``radval sign``. Each parses arguments and calls
:mod:`validation.protocol`, :mod:`validation.study`, :mod:`validation.gate` or
:mod:`validation.audit`. Exit codes follow ``DESIGN.md`` §9.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from validation.cli._common import finite, printable

protocol_app = typer.Typer(help="Check, lock and document study protocols.", no_args_is_help=True)
audit_app = typer.Typer(help="Verify a study's hash-chained audit trail.", no_args_is_help=True)

@protocol_app.command("check")
def protocol_check(
    file: Annotated[Path, typer.Argument(help="Protocol YAML.")],
    files: Annotated[bool, typer.Option("--files/--no-files", help="Also check the files it names.")] = True,
) -> None:
    """Validate a protocol; print every problem with its YAML path (exit 2 if any)."""
    from validation.protocol.load import check_protocol

    problems = check_protocol(file, files=files)
    if problems:
        for p in problems:
            typer.echo(printable(p.format(file)), err=True)
        typer.echo(f"radval: error: {file}: {len(problems)} problem(s)", err=True)
        raise typer.Exit(2)
    typer.echo(f"{file}: OK")
    from validation.protocol.load import load_protocol
    from validation.protocol.lock import lock_path_for, read_lock, verify_lock

    lock_file = lock_path_for(file)
    if not lock_file.exists():
        typer.echo(f"not locked yet (lock with: radval protocol lock {file})")
        return
    lock = read_lock(lock_file)
    verify_lock(load_protocol(file, files=files), lock)  # a mismatch raises ProtocolError: exit 2
    typer.echo(f"locked at {lock.locked_at} by {lock.data.get('locked_by')}; protocol and manifest match the lock")


@protocol_app.command("lock")
def protocol_lock(
    file: Annotated[Path, typer.Argument(help="Protocol YAML.")],
    amend: Annotated[str | None, typer.Option(help="Reason for amending an existing lock.")] = None,
    actor: Annotated[str | None, typer.Option(help="Who locks (default user@host).")] = None,
) -> None:
    """Lock a protocol: record its and its manifest's sha256 and the time."""
    from validation.protocol.lock import lock_protocol

    lock = lock_protocol(file, amend=amend, actor=actor)
    typer.echo(
        f"locked {file} -> {lock.path}\n  protocol sha256 {lock.protocol_sha256}\n"
        f"  manifest sha256 {lock.manifest_sha256}\n  locked at {lock.locked_at}"
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
    format: Annotated[str, typer.Option("--format", help="json or markdown.")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print the protocol JSON Schema or the Markdown reference generated from it."""
    from validation.errors import InputError
    from validation.io import write_text_atomic
    from validation.protocol.reference import protocol_json_schema_text, render_reference

    if format == "json":
        text = protocol_json_schema_text()
    elif format == "markdown":
        text = render_reference()
    else:
        raise InputError(f"--format must be json or markdown, got {format!r}")
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(out, text)
        typer.echo(f"wrote {out}")


def run_cmd(
    protocol: Annotated[Path, typer.Argument(help="Locked protocol YAML.")],
    out: Annotated[Path, typer.Option("--out", help="Study folder to create.")],
    force: Annotated[bool, typer.Option(help="Re-run into an existing study folder.")] = False,
    unlocked: Annotated[bool, typer.Option(help="Allow an unlocked protocol (exploratory).")] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Render the report.")] = True,
    lock: Annotated[Path | None, typer.Option(help="Lock file (default <protocol>.lock.json).")] = None,
) -> None:
    """Run a locked protocol: exit 0 if every primary criterion holds, 1 if one fails, 2 bad input."""
    from validation.study import run_study

    outcome = run_study(protocol, out_dir=out, force=force, allow_unlocked=unlocked,
                        render=report, lock_path=lock)
    for w in outcome.warnings:
        typer.echo(f"radval: warning: {w}", err=True)
    for p in outcome.verdict["primary"]:
        typer.echo(f"  {p['endpoint_id']}: {p['decision']}")
    typer.echo(f"verdict: {outcome.verdict['decision'].upper()}  results: {outcome.results_path}")
    if outcome.report_path is not None:
        typer.echo(f"report: {outcome.report_path}")
    raise typer.Exit(outcome.exit_code)


def gate_cmd(
    candidate: Annotated[Path, typer.Argument(help="Candidate results.json (or its study folder).")],
    baseline: Annotated[Path, typer.Option("--baseline", help="Released model's results.json.")],
    margin: Annotated[float, typer.Option(help="Non-inferiority margin on the AUC.",
                                          callback=finite)] = 0.02,
    proportion_margin: Annotated[
        float, typer.Option(help="Non-inferiority margin on sensitivity and specificity.",
                            callback=finite)
    ] = 0.05,
    significance_level: Annotated[float, typer.Option(help="One-sided level of each test.",
                                                      callback=finite)] = 0.025,
    subgroups: Annotated[bool, typer.Option("--subgroups/--no-subgroups",
                                            help="Check subgroup regressions.")] = True,
    out: Annotated[Path | None, typer.Option(help="Write the gate record (JSON) here.")] = None,
) -> None:
    """Release gate: is the candidate non-inferior to the baseline on the same locked cases?"""
    from validation.gate import format_gate, run_gate

    result = run_gate(
        candidate, baseline, margin=margin, proportion_margin=proportion_margin,
        significance_level=significance_level, subgroups=subgroups, out=out,
    )
    typer.echo(format_gate(result))
    raise typer.Exit(0 if result["decision"] == "pass" else 1)


@audit_app.command("verify")
def audit_verify(study_dir: Annotated[Path, typer.Argument(help="Study folder.")]) -> None:
    """Verify the hash chain of a study's audit log (exit 1 if it was tampered with)."""
    from validation.audit import verify

    report = verify(study_dir)
    if not report.ok:
        for p in report.problems:
            typer.echo(f"{study_dir}: {p}", err=True)
        typer.echo(f"audit: FAILED ({len(report.problems)} problem(s))", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit: OK ({report.n_entries} entries, head {report.head_hash})")


def sign_cmd(
    study_dir: Annotated[Path, typer.Argument(help="Study folder.")],
    name: Annotated[str, typer.Option(help="Signer's printed name.")],
    role: Annotated[str, typer.Option(help="Signer's role (one of the protocol's signatory roles).")],
    meaning: Annotated[str, typer.Option(help="authorship, review, approval or responsibility.")],
) -> None:
    """Sign a study's results: append a 21 CFR 11.50 signature record to its audit log."""
    from validation.audit import sign

    entry = sign(study_dir, name=name, role=role, meaning=meaning)
    d = entry["details"]
    typer.echo(json.dumps({"signed": d["printed_name"], "role": d["role"], "meaning": d["meaning"],
                           "at": d["signed_at"], "results_sha256": entry["inputs"].get("results.json"),
                           "entry_hash": entry["hash"]}))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(protocol_app, name="protocol")
    app.add_typer(audit_app, name="audit")
    app.command("run")(run_cmd)
    app.command("gate")(gate_cmd)
    app.command("sign")(sign_cmd)

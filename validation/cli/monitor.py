"""``radval monitor``: post-market monitoring (lock, check, run, acknowledge).

Thin wrappers over :mod:`validation.monitor`. Exit codes (``DESIGN.md`` §9): ``run`` exits 0
when no alarm is open (in control), 1 when an alarm is open (the report is still written),
2 for invalid input; 3 for an internal error through :func:`validation.cli.main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from validation.cli._common import printable

monitor_app = typer.Typer(
    help="Post-market monitoring: performance and drift of a released device (R25).",
    no_args_is_help=True,
)


@monitor_app.command("check")
def monitor_check(
    protocol: Annotated[Path, typer.Argument(help="Monitoring protocol YAML.")],
) -> None:
    """Validate a monitoring protocol and its reference files; report whether it is locked."""
    from validation.monitor.lock import hash_reference, read_monitor_lock, verify_monitor_lock
    from validation.monitor.protocol import load_monitor_protocol
    from validation.monitor.stream import read_reference
    from validation.protocol.lock import lock_path_for

    loaded = load_monitor_protocol(protocol)
    hash_reference(loaded)  # every reference file exists
    ref = read_reference(loaded)
    labels = "with labels" if ref.label is not None else "without labels"
    typer.echo(
        f"{protocol}: OK ({len(loaded.protocol.charts)} chart(s); reference {ref.n} cases, {labels})"
    )
    lock_file = lock_path_for(loaded.path)
    if not lock_file.exists():
        typer.echo(f"not locked yet (lock with: radval monitor lock {protocol})")
        return
    lock = read_monitor_lock(lock_file)
    verify_monitor_lock(loaded, lock)
    typer.echo(
        f"locked at {lock.locked_at} by {lock.data.get('locked_by')}; the plan and "
        f"{len(lock.reference)} reference file(s) match the lock"
    )


@monitor_app.command("lock")
def monitor_lock(
    protocol: Annotated[Path, typer.Argument(help="Monitoring protocol YAML.")],
    amend: Annotated[str | None, typer.Option(help="Reason for amending an existing lock.")] = None,
    actor: Annotated[str | None, typer.Option(help="Who locks (default user@host).")] = None,
) -> None:
    """Lock a monitoring protocol: record its and its reference files' sha256 and the time."""
    from validation.monitor.lock import lock_monitor_protocol

    lock = lock_monitor_protocol(protocol, amend=amend, actor=actor)
    typer.echo(f"locked {protocol} -> {lock.path}\n  protocol sha256 {lock.protocol_sha256}")
    for key, rec in lock.reference.items():
        typer.echo(f"  {key} sha256 {rec['sha256']}")
    typer.echo(f"  locked at {lock.locked_at}")


@monitor_app.command("run")
def monitor_run(
    protocol: Annotated[Path, typer.Argument(help="Locked monitoring protocol YAML.")],
    stream: Annotated[
        Path, typer.Option("--stream", help="Stream folder: production batches and label files.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Monitoring folder (created, or continued).")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Declare every case up to this ISO 8601 time delivered, so windows ending by "
            "then close (default: the latest case time).",
        ),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who runs it (default user@host).")] = None,
) -> None:
    """Monitor: read new batches and labels, advance the charts, close windows, log alarms.

    Incremental: re-running with new batches appends; what earlier runs recorded never
    changes. Exit 0 when no alarm is open, 1 when one is, 2 for invalid input.
    """
    from validation.monitor.runner import run_monitor

    outcome = run_monitor(protocol, stream_dir=stream, out_dir=out, as_of=as_of, actor=actor)
    run = outcome.run
    typer.echo(
        f"run {run['run']}: {run['n_cases_added']} new case(s), {run['n_labels_added']} new "
        f"label(s); {run['n_cases']} cases, {run['n_verified']} verified; windows closed: "
        f"{', '.join(run['windows_closed']) or 'none'}; data as of {run['as_of'] or '-'}"
    )
    for a in outcome.new_alarms:
        typer.echo(printable(f"  {a['severity'].upper()} {a['id']}: {a['message']}"))
    if outcome.open_alarms:
        typer.echo(
            f"ALARM: {len(outcome.open_alarms)} open alarm(s) "
            f"({', '.join(a['id'] for a in outcome.open_alarms[:10])}); investigate, then "
            f"`radval monitor acknowledge {out} --alarm ID --name NAME --reason TEXT`"
        )
    else:
        typer.echo("IN CONTROL: no open alarm")
    typer.echo(f"report: {(out / 'report.html').resolve()}")
    raise typer.Exit(outcome.exit_code)


@monitor_app.command("acknowledge")
def monitor_acknowledge(
    out: Annotated[Path, typer.Argument(help="Monitoring folder.")],
    alarm: Annotated[str, typer.Option("--alarm", help="Alarm id (A1, A2 ...).")],
    name: Annotated[str, typer.Option("--name", help="Printed name of who investigated.")],
    reason: Annotated[str, typer.Option("--reason", help="Outcome of the investigation.")],
    actor: Annotated[str | None, typer.Option(help="Who records it (default user@host).")] = None,
) -> None:
    """Record an alarm's investigation (audit-logged); it then no longer makes `run` exit 1."""
    from validation.monitor.runner import acknowledge_alarm

    rec = acknowledge_alarm(out, alarm, name=name, reason=reason, actor=actor)
    typer.echo(
        printable(
            f"acknowledged {rec['alarm']} by {rec['printed_name']} at {rec['acknowledged_at']}"
        )
    )


def register(app: typer.Typer) -> None:
    """Add ``radval monitor ...`` to the root app."""
    app.add_typer(monitor_app, name="monitor")

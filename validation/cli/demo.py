"""``radval demo``: the whole validation path on the built-in synthetic data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the demo into.")] = Path(
        "demo-study"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing demo folder.")
    ] = False,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Skip rendering the HTML reports.")
    ] = False,
    monitoring: Annotated[
        bool,
        typer.Option(
            "--monitoring",
            help="Instead: simulate six months of production with a "
            "scanner change in month four and monitor it (radval monitor; seconds, no "
            "training). Exit 1 when an alarm is open, as `radval monitor run`.",
        ),
    ] = False,
) -> None:
    """Run the whole path on synthetic data: DICOMs, training, scoring, readers, locked studies.

    Writes a synthetic multi-site training and test set, trains a candidate and a released
    baseline model (each choosing its operating threshold on a tuning split held out of
    training), locks the example protocols before any test score exists, scores the test
    set, simulates an MRMC reader study, runs the protocols, and writes results.json and
    report.html per study. Exit code 0 when every study came out as the demo intends (today:
    every primary criterion met), 1 otherwise.
    """
    if monitoring:
        from validation.monitor.simulate import run_monitoring_demo

        mon = run_monitoring_demo(out, force=force, echo=typer.echo)
        typer.echo(f"Monitoring report: {(mon.out / 'report.html').resolve()}")
        raise typer.Exit(mon.exit_code)
    from validation.demo import run_demo

    outcome = run_demo(out, force=force, echo=typer.echo, render=not no_report)
    typer.echo("")
    typer.echo(f"Demo folder: {outcome.root.resolve()}")
    for line in outcome.summary():
        typer.echo(line)
    typer.echo(f"Total: {sum(outcome.seconds.values()):.0f} s")
    if outcome.exit_code != 0:
        typer.echo(
            "radval demo: a study did not come out as the demo intends (see above)", err=True
        )
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``radval demo`` to the root app."""
    app.command("demo")(demo)

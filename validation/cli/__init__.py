"""The ``radval`` command line: thin wrappers that parse arguments and call the library.

Each area registers its commands from its own module (``data``, ``demo``, ``mrmc``, ``plan``,
``modeling``, ``study``, ``report``, ``results``, ``monitor``). :func:`main` runs the app through
:func:`validation.cli._common.run_app`, the one place that maps exceptions to exit codes
(``DESIGN.md`` §9): invalid input is exit 2 with one line, an internal error exit 3 with
one line and a crash log, never Python's exit 1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from validation import __version__
from validation.cli import data, demo, modeling, monitor, mrmc, plan, report, results, study
from validation.cli._common import DEBUG_ENV, STATE, ExitCode, run_app

__all__ = ["ExitCode", "app", "main", "run"]


app = typer.Typer(
    name="radval",
    help="Clinical validation and regulatory evaluation of radiology AI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"radval {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_version_callback,
            is_eager=True,
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="On an internal error, also print the traceback on "
            f"stderr (or set {DEBUG_ENV}=1).",
        ),
    ] = False,
) -> None:
    """Clinical validation and regulatory evaluation of radiology AI."""
    STATE["debug"] = debug


for _module in (demo, data, mrmc, plan, modeling, study, report, results, monitor):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code (the policy: :func:`_common.run_app`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return run_app(app, args)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

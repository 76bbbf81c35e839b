"""The ``radval`` command line: thin wrappers that parse arguments and call the library.

Each area registers its commands from its own module (``data``, ``mrmc``,
``modeling``, ``study``, ``report``). Invalid input (any
:class:`validation.errors.InputError`) prints one line to stderr and exits with
code 2, without a traceback (``DESIGN.md`` §9).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from validation import __version__
from validation.errors import InputError

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
        typer.Option("--version", help="Print the version and exit.", callback=_version_callback,
                     is_eager=True),
    ] = False,
) -> None:
    """Clinical validation and regulatory evaluation of radiology AI."""


def _register_all() -> None:
    from validation.cli import data, demo, modeling, mrmc, report, study

    for module in (demo, data, mrmc, modeling, study, report):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    try:
        code = app(args=argv, prog_name="radval", standalone_mode=False)
    except InputError as exc:
        typer.echo(f"radval: error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("radval: aborted", err=True)
        return 130
    except typer.TyperException as exc:
        # Usage errors (unknown command, bad option value) from typer's bundled click:
        # they know how to print themselves and carry their exit code (2 for usage).
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"radval: error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    return code if isinstance(code, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

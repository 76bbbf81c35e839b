"""The ``radval`` command line: thin wrappers that parse arguments and call the library.

Each area registers its commands from its own module (``data``, ``mrmc``,
``modeling``, ``study``, ``report``). :func:`main` is the one place that maps
exceptions to exit codes (``DESIGN.md`` §9), for every command:

* invalid input (any :class:`validation.errors.InputError`), or data on which a
  declared analysis is undefined and the study stops
  (:class:`validation.errors.UndefinedMetricError`): one line on stderr, exit 2, no
  traceback;
* any other exception (an internal error): one line on stderr, exit 3 (never 1, which
  means "a criterion failed"). The traceback goes to a crash log,
  ``$XDG_CACHE_HOME/radval/crashes/<UTC time>-<pid>.log`` (``~/.cache`` when
  ``XDG_CACHE_HOME`` is unset; ``RADVAL_CRASH_DIR`` overrides the folder), whose path
  the line names; ``radval --debug ...`` (or ``RADVAL_DEBUG=1``) also prints it on
  stderr. When no log can be written the traceback is printed on stderr instead.
"""

from __future__ import annotations

import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Annotated

import typer

from validation import __version__
from validation.cli._common import printable
from validation.errors import InputError, UndefinedMetricError


class ExitCode(IntEnum):
    """Process exit codes of every ``radval`` command (``DESIGN.md`` §9)."""

    OK = 0
    #: A pre-specified criterion failed (``monitor``: an alarm); outputs are still written.
    CRITERION_FAILED = 1
    #: Invalid input: one line naming the file, row and field.
    INPUT_ERROR = 2
    #: An internal error: a bug, not a verdict.
    INTERNAL_ERROR = 3
    #: Interrupted by the user (Ctrl-C).
    ABORTED = 130


#: Environment variable that turns on ``--debug`` (tracebacks on stderr).
DEBUG_ENV = "RADVAL_DEBUG"
#: Environment variable naming the folder crash logs are written to.
CRASH_DIR_ENV = "RADVAL_CRASH_DIR"
#: Options whose values are secrets: never written to a crash log.
_SECRET_OPTIONS = ("--salt",)

_state = {"debug": False}

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
    debug: Annotated[
        bool,
        typer.Option("--debug", help="On an internal error, also print the traceback on "
                     f"stderr (or set {DEBUG_ENV}=1)."),
    ] = False,
) -> None:
    """Clinical validation and regulatory evaluation of radiology AI."""
    _state["debug"] = debug


def _register_all() -> None:
    from validation.cli import data, demo, modeling, monitor, mrmc, report, study

    for module in (demo, data, mrmc, modeling, study, report, monitor):
        module.register(app)


_register_all()


def crash_dir() -> Path:
    """Folder crash logs are written to: ``$RADVAL_CRASH_DIR``, else the user's cache."""
    explicit = os.environ.get(CRASH_DIR_ENV)
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "radval" / "crashes"


def _redacted(argv: list[str]) -> list[str]:
    out: list[str] = []
    hide = False
    for arg in argv:
        if hide:
            out.append("<redacted>")
            hide = False
        elif arg in _SECRET_OPTIONS:
            out.append(arg)
            hide = True
        elif arg.startswith(tuple(f"{o}=" for o in _SECRET_OPTIONS)):
            out.append(arg.split("=", 1)[0] + "=<redacted>")
        else:
            out.append(arg)
    return out


def _write_crash_log(exc: BaseException, argv: list[str], text: str) -> Path | None:
    """Write the traceback and context to a new private file; ``None`` if that fails."""
    now = datetime.now(UTC)
    try:
        folder = crash_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{os.getpid()}.log"
        header = (
            f"radval {__version__} internal error at {now.isoformat()}\n"
            f"command: radval {' '.join(_redacted(argv))}\n"
            f"cwd: {os.getcwd()}\n"
            f"python {platform.python_version()} on {platform.platform()}\n\n"
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(header + text)
    except OSError:
        return None
    return path


def _internal_error(exc: BaseException, argv: list[str]) -> int:
    """Report an unexpected exception: one line on stderr, the traceback in a log; exit 3."""
    text = "".join(traceback.format_exception(exc))
    log = _write_crash_log(exc, argv, text)
    debug = _state["debug"] or os.environ.get(DEBUG_ENV, "").strip().lower() in (
        "1", "true", "yes", "on")
    if debug or log is None:
        typer.echo(text.rstrip("\n"), err=True)
    first = printable((str(exc).strip().splitlines() or [""])[0])
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if log is not None:
        where = f"traceback in {log}" + ("" if debug else " (rerun with --debug to print it)")
    else:
        where = "traceback above (no crash log could be written)"
    typer.echo(f"radval: internal error (exit 3): {what}; {where}", err=True)
    return int(ExitCode.INTERNAL_ERROR)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code.

    The one exception policy of the CLI: :class:`~validation.errors.InputError` (and an
    :class:`~validation.errors.UndefinedMetricError` that stops a study) is exit 2 with
    one line, any other exception exit 3 with one line and a crash log
    (see the module docstring), never Python's exit 1.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _state["debug"] = False
    try:
        code = app(args=args, prog_name="radval", standalone_mode=False)
    except (InputError, UndefinedMetricError) as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        text = printable("; ".join(lines) or type(exc).__name__)
        typer.echo(f"radval: error: {text}", err=True)
        return int(ExitCode.INPUT_ERROR)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("radval: aborted", err=True)
        return int(ExitCode.ABORTED)
    except typer.TyperException as exc:
        # Usage errors (unknown command, bad option value) from typer's bundled click:
        # they know how to print themselves and carry their exit code (2 for usage).
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"radval: error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("radval: aborted", err=True)
        return int(ExitCode.ABORTED)
    except Exception as exc:  # noqa: BLE001 - the one place internal errors become exit 3
        return _internal_error(exc, args)
    return code if isinstance(code, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

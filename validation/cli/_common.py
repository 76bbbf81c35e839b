"""What every command module shares: the exit codes, the one exception policy, option helpers.

:func:`run_app` is the one place that turns exceptions into exit codes
(``DESIGN.md`` §9), for every command, through :func:`validation.errors.exit_code_for`:

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

import math
import os
import platform
import traceback
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from validation import __version__
from validation.errors import ExitCode, exit_code_for

__all__ = ["DEBUG_ENV", "STATE", "ExitCode", "choice_values", "finite", "printable", "run_app"]

#: Environment variable that turns on ``--debug`` (tracebacks on stderr).
DEBUG_ENV = "RADVAL_DEBUG"
#: Environment variable naming the folder crash logs are written to.
CRASH_DIR_ENV = "RADVAL_CRASH_DIR"
#: Options whose values are secrets: never written to a crash log.
_SECRET_OPTIONS = ("--salt",)

#: Process-wide CLI state set by the root callback (``--debug``).
STATE: dict[str, Any] = {"debug": False}


def finite(value: float | None) -> float | None:
    """Option callback: refuse ``nan`` and ``inf`` (a usage error, exit 2).

    ``float("nan")`` parses, and a NaN margin or threshold compares false with every
    number, so a criterion could never fail; no option of radval accepts one.
    """
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"expected a finite number, found {value}")
    return value


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``, ``\\r``, ``\\x00``).

    Messages quote values from users' files; a hostile value must not move the cursor,
    recolour the terminal or hide the rest of the line (ANSI escape sequences, CR).
    """
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


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
    debug = STATE["debug"] or os.environ.get(DEBUG_ENV, "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    )
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


def run_app(app: typer.Typer, args: list[str]) -> int:
    """Run a typer app on ``args`` and return the exit code: the CLI's one exception policy."""
    STATE["debug"] = False
    try:
        code = app(args=args, prog_name="radval", standalone_mode=False)
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
        return int(getattr(exc, "exit_code", ExitCode.INPUT_ERROR))
    except KeyboardInterrupt:
        typer.echo("radval: aborted", err=True)
        return int(ExitCode.ABORTED)
    except Exception as exc:  # noqa: BLE001 - the one place exceptions become exit codes
        if exit_code_for(exc) is ExitCode.INPUT_ERROR:
            lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
            text = printable("; ".join(lines) or type(exc).__name__)
            typer.echo(f"radval: error: {text}", err=True)
            return int(ExitCode.INPUT_ERROR)
        return _internal_error(exc, args)
    return code if isinstance(code, int) else 0


def choice_values(enum: type[Enum]) -> list[str]:
    """The values of an option's Enum, for help texts and messages."""
    return [str(m.value) for m in enum]

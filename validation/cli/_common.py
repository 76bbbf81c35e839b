"""Helpers shared by the command modules (the exception policy itself is in ``__init__``)."""

from __future__ import annotations

import math

import typer


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

"""`radval results schema`: the JSON Schema of ``results.json``, generated from its typed model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from validation.io import write_text_atomic
from validation.results import results_schema_text

results_app = typer.Typer(help="The results.json document: its JSON Schema.")


@results_app.command("schema")
def schema_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Print the results.json JSON Schema (generated from validation.results.model)."""
    text = results_schema_text()
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_atomic(out, text)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(results_app, name="results")

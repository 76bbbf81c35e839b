"""`radval results schema|dicom`: the JSON Schema of ``results.json`` (generated from its typed
model), and a study's results as a DICOM SR (optionally stored with STOW-RS)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from validation.errors import InputError
from validation.io import write_bytes_atomic, write_text_atomic
from validation.results import results_schema_text

results_app = typer.Typer(help="The results.json document: its JSON Schema; as DICOM SR.")


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


@results_app.command("dicom")
def dicom_cmd(
    study_dir: Annotated[Path, typer.Argument(help="Study folder holding results.json.")],
    out: Annotated[Path, typer.Option("--out", help="The DICOM SR file to write.")],
    stow: Annotated[
        str | None,
        typer.Option(
            "--stow",
            help="Also store it at this DICOMweb service with STOW-RS (credentials only from "
            "RADVAL_DICOMWEB_TOKEN, or RADVAL_DICOMWEB_USER and RADVAL_DICOMWEB_PASSWORD).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
) -> None:
    """Write the verdict and primary/secondary estimates as a DICOM Comprehensive SR."""
    import io

    from validation.data.dicomweb import check_url, session_from_env
    from validation.outputs.dicom_sr import results_sr
    from validation.outputs.dicom_sr import stow as stow_sr
    from validation.results import read_results_document

    if out.exists() and not force:
        raise InputError(f"{out}: already exists (use --force to replace it)")
    url = check_url(stow) if stow else None
    ds = results_sr(read_results_document(study_dir))
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    write_bytes_atomic(out, buffer.getvalue())
    typer.echo(f"wrote {out} (SOP Instance UID {ds.SOPInstanceUID})")
    if url is not None:
        stow_sr(ds, url, session=session_from_env())
        typer.echo(f"stored {ds.SOPInstanceUID} at {url} (STOW-RS)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(results_app, name="results")

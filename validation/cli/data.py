"""`radval manifest build|check` and `radval synth`: the data area of the CLI.

Thin wrappers over :mod:`validation.data.manifest` and
:mod:`validation.data.synthetic`. Exit codes (``DESIGN.md`` §9): 0 clean, 1 leakage
found by ``manifest check --against``, 2 invalid input (one line per problem on
stderr, no traceback).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from validation.cli._common import finite, printable
from validation.errors import InputError

if TYPE_CHECKING:
    from validation.data.dicomweb import Retrieval

SALT_ENV = "RADVAL_PSEUDONYM_SALT"
_MAX_LISTED = 50

manifest_app = typer.Typer(
    name="manifest",
    help="Build a manifest from DICOM files, or validate one and check it for leakage.",
    no_args_is_help=True,
    add_completion=False,
)


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields a ``(done, total)`` callback."""
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise InputError(f"{path}: already exists (use --force to replace it)")


@manifest_app.command("build")
def build(
    dicom_dir: Annotated[
        Path,
        typer.Argument(help="Folder of DICOM files (searched recursively; hidden files skipped)."),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Manifest to write (.csv or .parquet), in DICOM_DIR or a folder above it."
        ),
    ],
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="CSV/Parquet with a key column (case_id, path, sop_instance_uid, "
            "study_uid or patient_id) and label column(s) to join.",
        ),
    ] = None,
    salt: Annotated[
        str | None,
        typer.Option(
            "--salt",
            envvar=SALT_ENV,
            show_envvar=True,
            help="Secret salt for pseudonymising patient IDs (keep it; use the same salt for "
            "manifests you want to compare for shared patients).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Fail (exit 2) instead of skipping files that cannot be read."
        ),
    ] = False,
    dicomweb: Annotated[
        str | None,
        typer.Option(
            "--dicomweb",
            help="First retrieve the test set from this DICOMweb service (QIDO-RS/WADO-RS) "
            "into DICOM_DIR (resumable). Credentials only from the environment: "
            "RADVAL_DICOMWEB_TOKEN, or RADVAL_DICOMWEB_USER and RADVAL_DICOMWEB_PASSWORD.",
        ),
    ] = None,
    study_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--study-filter",
            help="QIDO-RS study matching key as KEY=VALUE (repeatable), e.g. "
            "ModalitiesInStudy=CR or StudyDate=20240101-20241231.",
        ),
    ] = None,
) -> None:
    """Walk DICOM_DIR, read headers, hash files, pseudonymise patients, join labels."""
    from validation.data.manifest import build_manifest, write_manifest

    source = _retrieve(dicomweb, dicom_dir, study_filter) if dicomweb else None

    if not salt:
        raise InputError(
            f"no pseudonymisation salt: pass --salt SALT or set {SALT_ENV} (a secret kept "
            "by the site; patient IDs are replaced by salted hashes)"
        )
    folder = dicom_dir.resolve()
    target_dir = out.resolve().parent
    if not folder.is_dir():
        raise InputError(f"{dicom_dir}: expected a folder of DICOM files, found no such folder")
    if folder != target_dir and target_dir not in folder.parents:
        raise InputError(
            f"{out}: the manifest must be written in {dicom_dir} or a folder above it "
            "(paths in a manifest are relative to its folder and may not leave it)"
        )
    _refuse_existing(out, force)
    skipped: list[tuple[str, str]] = []

    def on_skip(rel: str, reason: str) -> None:
        skipped.append((rel, reason))

    with _progress("reading DICOM headers") as progress:
        frame = build_manifest(
            folder, labels_path=labels, salt=salt, progress=progress, on_skip=on_skip
        )
    # Notes about kept images or unmatched labels are warnings, not skipped files.
    unreadable = [
        rel for rel, reason in skipped if not reason.startswith("kept") and rel != str(labels)
    ]
    for rel, reason in skipped:
        typer.echo(f"radval: warning: {printable(f'{rel}: {reason}')}", err=True)
    if strict and unreadable:
        raise InputError(
            f"{len(unreadable)} file(s) could not be read (see above); "
            "nothing written because of --strict"
        )
    prefix = folder.relative_to(target_dir).as_posix()
    if prefix != ".":
        frame["path"] = [f"{prefix}/{p}" for p in frame["path"]]
    if source is not None:
        frame["source_url"], frame["retrieved_at"] = source.source_url, source.retrieved_at
    report = write_manifest(frame, out)
    warning = report.warning()
    if warning is not None:
        typer.echo(f"radval: warning: {printable(warning)}", err=True)
    typer.echo(
        f"wrote {out}: {len(frame)} image(s), {frame['patient_id'].nunique()} patient(s)"
        + (f", {len(unreadable)} file(s) skipped" if unreadable else "")
    )


def _retrieve(url: str, dicom_dir: Path, filters: list[str] | None) -> Retrieval:
    from validation.data.dicomweb import retrieve

    parsed: dict[str, str] = {}
    for item in filters or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--study-filter: expected KEY=VALUE, found {item!r}")
        parsed[key.strip()] = value.strip()
    with _progress("retrieving instances over DICOMweb") as progress:
        record = retrieve(url, dicom_dir, study_filter=parsed, progress=progress)
    typer.echo(
        f"retrieved {record.n_fetched} new instance(s) of {record.n_instances} in "
        f"{record.n_studies} study(ies) from {printable(record.source_url)} into {dicom_dir}"
    )
    return record


@manifest_app.command("check")
def check(
    manifest: Annotated[Path, typer.Argument(help="Manifest to validate (.csv or .parquet).")],
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="Label column (0/1); repeat for several. Default: 'label'."),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="Training manifest to check for shared patients, studies and "
            "byte-identical images (leakage).",
        ),
    ] = None,
    verify_hashes: Annotated[
        bool, typer.Option("--verify-hashes", help="Recompute every file's sha256 and compare.")
    ] = False,
) -> None:
    """Validate a manifest; with --against, report train/test leakage (exit 1 if any)."""
    from validation.data.manifest import check_leakage, manifest_columns, manifest_problems

    labels: tuple[str, ...] = tuple(label) if label else ("label",)
    notes: list[str] = []
    if not label and manifest.is_file() and "label" not in manifest_columns(manifest):
        labels = ()
        notes.append("no 'label' column: labels not checked (name one with --label)")
    loaded, problems = manifest_problems(
        manifest, label_columns=labels, verify_hashes=verify_hashes
    )
    if problems:
        for line in problems[:_MAX_LISTED]:
            typer.echo(f"radval: error: {printable(line)}", err=True)
        if len(problems) > _MAX_LISTED:
            typer.echo(
                f"radval: error: ... and {len(problems) - _MAX_LISTED} more problems", err=True
            )
        raise typer.Exit(2)
    assert loaded is not None
    frame = loaded.frame
    parts = [f"{len(frame)} case(s)", f"{frame['patient_id'].nunique()} patient(s)"]
    for column in loaded.label_columns:
        parts.append(f"{column}: {int(frame[column].sum())} positive")
    typer.echo(f"{manifest}: valid ({', '.join(parts)})")
    for note in notes:
        typer.echo(f"note: {note}")
    if against is None:
        return
    train, train_problems = manifest_problems(
        against, label_columns=(), require_labels=False, check_files=False
    )
    if train_problems:
        for line in train_problems[:_MAX_LISTED]:
            typer.echo(f"radval: error: {printable(line)}", err=True)
        raise typer.Exit(2)
    assert train is not None
    report = check_leakage(loaded, train)
    for note in report.not_checked:
        typer.echo(f"not checked: {note}")
    if report.ok:
        typer.echo(f"no leakage against {against}: no shared patients, studies or images")
        return
    typer.echo(f"LEAKAGE against {against}:")
    for name, items in (
        ("shared patients", report.shared_patients),
        ("shared studies", report.shared_studies),
    ):
        if items:
            shown = ", ".join(items[:10]) + (" ..." if len(items) > 10 else "")
            typer.echo(f"  {len(items)} {name}: {shown}")
    if report.identical_images:
        pairs = report.identical_images
        shown = ", ".join(f"{a} = {b}" for a, b in pairs[:10]) + (" ..." if len(pairs) > 10 else "")
        typer.echo(f"  {len(pairs)} identical images (test = train): {shown}")
    raise typer.Exit(1)


def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the set into.")],
    n_cases: Annotated[int, typer.Option("--n-cases", min=1, help="Number of images.")] = 400,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes).")] = 0,
    image_size: Annotated[
        int, typer.Option("--image-size", min=32, help="Rows = columns of every image.")
    ] = 256,
    prevalence: Annotated[
        float,
        typer.Option(
            "--prevalence",
            min=0.0,
            max=1.0,
            callback=finite,
            help="Share of patients with nodules.",
        ),
    ] = 0.3,
    id_prefix: Annotated[
        str,
        typer.Option(
            "--id-prefix",
            help="Prefix of case and patient identities (use another one for a "
            "disjoint training set).",
        ),
    ] = "T",
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty folder, replacing files.")
    ] = False,
) -> None:
    """Write the synthetic multi-site chest-radiograph test set (DICOM, manifest, lesions)."""
    from validation.data.synthetic import generate_synthetic_dataset

    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: expected a folder, found a file")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"{out}: folder is not empty (use --force to write into it)")
    if not id_prefix.isalnum():
        raise InputError(f"--id-prefix: expected letters and digits only, found {id_prefix!r}")
    with _progress("writing synthetic images") as progress:
        result = generate_synthetic_dataset(
            out,
            n_cases=n_cases,
            seed=seed,
            image_size=image_size,
            prevalence=prevalence,
            id_prefix=id_prefix,
            progress=progress,
        )
    typer.echo(
        f"wrote {result.n_cases} images to {result.root}; manifest "
        f"{result.manifest_path}, lesions {result.lesions_path}"
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(manifest_app, name="manifest")
    app.command("synth")(synth)


__all__ = ["SALT_ENV", "build", "check", "manifest_app", "register", "synth"]

"""The ``results.json`` document: its typed model, JSON Schema, reading and writing.

The study runner builds the document, :func:`validate_results` checks it against the
typed model (:class:`Results`) before it is written, :func:`dumps_results` serialises it
deterministically, and every reader (the report, the gate, the CI outputs) goes through
:func:`load_results`. The published JSON Schema is generated from the model
(:func:`results_json_schema`; ``radval results schema`` writes it and a test checks the
committed ``validation/schemas/results.schema.json`` is up to date).

Example
-------
>>> from validation.results import load_results
>>> res = load_results("studies/triage")  # doctest: +SKIP
>>> res.verdict.decision, [e.id for e in res.endpoints]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from validation.errors import InputError, ResultsSchemaError
from validation.results.model import SCHEMA_ID, Results
from validation.stats import jsonable

RESULTS_FILE = "results.json"

__all__ = [
    "RESULTS_FILE",
    "SCHEMA_ID",
    "Results",
    "dumps_results",
    "jsonable",
    "load_results",
    "read_results_document",
    "results_json_schema",
    "results_schema_text",
    "validate_results",
]


def results_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (draft 2020-12), generated from :class:`Results`."""
    schema = Results.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://radval.example/schemas/results.schema.json"
    schema["title"] = f"radval study results ({SCHEMA_ID})"
    schema["description"] = (
        "The results.json a `radval run` writes; see docs/results-json.md. Values a method "
        'does not define are null, never NaN; an infinite df is the string "inf". Generated '
        "from validation.results.model; do not edit by hand."
    )
    return schema


def results_schema_text() -> str:
    """:func:`results_json_schema` as stable, pretty JSON text."""
    return json.dumps(results_json_schema(), indent=2, sort_keys=True) + "\n"


def _problems(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:10]:
        where = "/".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def validate_results(document: Mapping[str, Any]) -> Results:
    """Check a document radval built against :class:`Results`; return the typed document.

    Raises
    ------
    validation.errors.ResultsSchemaError
        The document does not conform: an internal error (exit 3), never a user's fault.
    """
    try:
        return Results.model_validate(document)
    except ValidationError as exc:
        raise ResultsSchemaError(f"results do not match {SCHEMA_ID}: {_problems(exc)}") from None


def _results_path(path: str | Path) -> Path:
    file = Path(path)
    return file / RESULTS_FILE if file.is_dir() else file


def read_results_document(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (or a study folder's) and check it; return the plain document.

    Raises
    ------
    validation.errors.InputError
        The file is missing, is not UTF-8 JSON, or does not conform to the schema; the
        message names the file and the first problems.
    """
    file = _results_path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"results file {file} does not exist") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read results file {file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except RecursionError:
        raise InputError(f"cannot read results file {file}: JSON nested too deeply") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read results file {file}: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(
            f"{file}: results do not match {SCHEMA_ID}: expected a JSON object, "
            f"found {type(doc).__name__}"
        )
    try:
        Results.model_validate(doc)
    except ValidationError as exc:
        raise InputError(f"{file}: results do not match {SCHEMA_ID}: {_problems(exc)}") from None
    return doc


def load_results(path: str | Path) -> Results:
    """Read a ``results.json`` (or a study folder's) into the typed :class:`Results`."""
    return Results.model_validate(read_results_document(path))


def dumps_results(document: Mapping[str, Any] | Results) -> str:
    """Serialise a results document deterministically (sorted keys, no NaN, trailing newline)."""
    if isinstance(document, Results):
        document = document.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return (
        json.dumps(document, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
    )

"""The report's failure-case gallery section (R19): the cases behind the errors.

Reads the ``gallery`` block of ``results.json`` and the thumbnails of ``gallery.json``
(keyed by each image's sha256). The file is used only when its sha256 is the one
``results.json`` records; each image is used only when its own sha256 matches its key,
so the report never shows a picture the results do not name.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from validation.io import sha256_file
from validation.report.format import num

__all__ = ["gallery_images", "gallery_section"]

_ERROR_TEXT = {
    "false_negative": "false negative",
    "false_positive": "false positive",
    "missed_lesion": "missed lesion(s)",
    "false_mark": "false mark(s)",
    "segmentation": "segmentation",
}


def gallery_images(study_dir: Path, doc: Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
    """The base64 PNGs of the study's ``gallery.json`` and a problem, if any.

    Returns ``({}, None)`` when the results record no gallery; ``({}, reason)`` when the
    file is missing or differs from the one ``results.json`` records.
    """
    block = doc.get("gallery")
    if not isinstance(block, Mapping):
        return {}, None
    path = study_dir / Path(str(block.get("file") or "gallery.json")).name
    if not path.is_file():
        return {}, f"{path.name} is missing from the study folder, so no image is shown"
    if sha256_file(path) != block.get("sha256"):
        return {}, (
            f"{path.name} is not the file results.json records (sha256 differs), so no image "
            "is shown"
        )
    stored = json.loads(path.read_text(encoding="ascii")).get("images") or {}
    images: dict[str, str] = {}
    for key, text in stored.items():
        if hashlib.sha256(base64.b64decode(str(text), validate=True)).hexdigest() == key:
            images[str(key)] = str(text)
    return images, None


def _caption(case: Mapping[str, Any]) -> dict[str, Any]:
    truth = case.get("truth")
    return {
        "case_id": case.get("case_id"),
        "error": _ERROR_TEXT.get(str(case.get("error")), str(case.get("error"))),
        "truth": None if truth is None else ("positive" if truth else "negative"),
        "score": None if case.get("score") is None else num(case.get("score")),
        "detail": case.get("detail"),
        "window": case.get("window"),
    }


def gallery_section(
    doc: Mapping[str, Any], images: Mapping[str, str], problem: str | None = None
) -> dict[str, Any] | None:
    """The section's context (None when the protocol did not enable the gallery)."""
    block = doc.get("gallery")
    if not isinstance(block, Mapping):
        return None
    panels: list[dict[str, Any]] = []
    for p in block.get("panels") or []:
        lists = []
        for lst in p.get("lists") or []:
            cases = []
            for c in lst.get("cases") or []:
                key = c.get("image")
                shown = key is not None and key in images
                reason = c.get("not_shown")
                if key is not None and not shown:
                    reason = problem or "the image is missing from gallery.json"
                cases.append(
                    {
                        **_caption(c),
                        "src": f"data:image/png;base64,{images[key]}" if shown else None,
                        "width": c.get("width"),
                        "height": c.get("height"),
                        "not_shown": reason,
                    }
                )
            lists.append(
                {
                    "title": lst.get("title"),
                    "n_total": lst.get("n_total"),
                    "n_shown": len(cases),
                    "cases": cases,
                }
            )
        panels.append(
            {
                "id": f"gallery-{len(panels) + 1}",
                "kind": p.get("kind"),
                "title": p.get("title"),
                "why": p.get("why"),
                "n_cases": p.get("n_cases"),
                "lists": lists,
            }
        )
    return {
        "panel_ids": {p["title"]: p["id"] for p in panels if p["kind"] == "subgroup"},
        "warning": block.get("warning"),
        "problem": problem,
        "threshold": None if block.get("threshold") is None else num(block.get("threshold")),
        "settings": block.get("settings") or {},
        "n_images": block.get("n_images"),
        "panels": panels,
    }

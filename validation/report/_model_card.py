"""A model card (``radval.model_card/1``) arranged as a structured card for the report.

Five panels (intended use, training data, performance, limitations, software) with
readable field names, then every field not shown in a panel under "Other recorded
fields" as dotted keys, so nothing in the card is dropped. Only selects and words what
the card holds; computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from validation.report._helpers import flatten as _flatten
from validation.report._helpers import get as _get
from validation.report.format import ci_text, num

__all__ = ["model_card_view"]

Path = tuple[str, ...]
#: (panel title, [(row label, path into the card)]) in display order.
PANELS: tuple[tuple[str, tuple[tuple[str, Path], ...]], ...] = (
    (
        "Intended use",
        (
            ("Intended use", ("card", "intended_use")),
            ("Out of scope", ("card", "out_of_scope_use")),
            ("Task", ("model", "task")),
            ("Output classes", ("model", "classes")),
            ("Positive class", ("model", "positive_class")),
            ("Operating point", ("operating_point", "rationale")),
            ("Owners", ("card", "owners")),
        ),
    ),
    (
        "Training data",
        (
            ("Description", ("card", "training_data")),
            ("Training set", ("training_data",)),
            ("Tuning split", ("tuning_data",)),
            ("Validation set", ("validation_data",)),
            ("Declared test set", ("test_data_declared",)),
        ),
    ),
    (
        "Performance (development)",
        (
            ("Training metrics", ("metrics",)),
            ("Threshold selection", ("operating_point", "selection")),
            ("Threshold", ("operating_point", "threshold")),
            ("Threshold source", ("operating_point", "source")),
        ),
    ),
    (
        "Limitations",
        (
            ("Limitations", ("card", "limitations")),
            ("Ethical considerations", ("card", "ethical_considerations")),
            ("References", ("card", "references")),
        ),
    ),
    (
        "Software and model",
        (
            ("Model", ("model", "name")),
            ("Version", ("model", "version")),
            ("Description", ("model", "description")),
            ("Network", ("model", "network")),
            ("Parameters", ("model", "parameters")),
            ("Input", ("model", "input")),
            ("Training", ("training",)),
            ("Checkpoint", ("checkpoint",)),
            ("Spec sha256", ("spec_sha256",)),
        ),
    ),
)
#: keys that say what the card is rather than what the model is
SKIP: frozenset[Path] = frozenset({("schema",)})


def _words(key: str) -> str:
    return key.replace("_", " ")


def _selection(sel: Mapping[str, Any]) -> str:
    """The threshold-selection record in one sentence."""
    parts = [f"rule {sel.get('rule')}"]
    if sel.get("target") is not None:
        parts[0] += f" \u2265 {sel.get('target')}"
    if sel.get("on"):
        parts.append(f"on the {sel.get('on')} split")
    at = sel.get("at_threshold") or {}
    for key in ("sensitivity", "specificity"):
        e = at.get(key)
        if isinstance(e, Mapping):
            parts.append(f"{key} {num(e.get('estimate'))} ({ci_text(e)})")
    bs = sel.get("threshold_bootstrap")
    if isinstance(bs, Mapping):
        parts.append(f"threshold sd {num(bs.get('sd'), 4)} over {bs.get('n_resamples')} resamples")
    return "; ".join(parts)


def _text(value: Any, key: str = "") -> str:
    """A card value as readable text (mappings one level deep as ``key value`` pairs)."""
    if key == "selection" and isinstance(value, Mapping):
        return _selection(value)
    if isinstance(value, Mapping):
        items = []
        for k in sorted(value, key=str):
            v = value[k]
            if isinstance(v, Mapping):
                inner = ", ".join(f"{ik} {_text(iv)}" for ik, iv in sorted(v.items()))
                items.append(f"{_words(str(k))}: {inner}" if inner else f"{_words(str(k))}: \u2014")
            elif isinstance(v, list) and any(isinstance(x, Mapping) for x in v):
                items.append(f"{_words(str(k))}: {len(v)} item(s)")
            else:
                items.append(f"{_words(str(k))}: {_text(v)}")
        return "; ".join(items) or "\u2014"
    if isinstance(value, list):
        if any(isinstance(x, Mapping) for x in value):
            return "; ".join(_text(x) for x in value) or "\u2014"
        return ", ".join(_text(x) for x in value) or "\u2014"
    if isinstance(value, float):
        return num(value, 4)
    if value is None or value == "":
        return "\u2014"
    return str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def model_card_view(card: Mapping[str, Any]) -> dict[str, Any]:
    """Panels of a model card for the report, and the fields left over (dotted keys)."""
    used: set[Path] = set(SKIP)
    panels = []
    for title, fields in PANELS:
        rows = []
        for label, path in fields:
            value = _get(card, *path)
            used.add(path)
            if _empty(value):
                continue
            rows.append((label, _text(value, path[-1])))
        panels.append({"title": title, "rows": rows})
    other: list[tuple[str, str]] = []
    _rest(card, (), used, other)
    return {"panels": panels, "other": other, "schema": card.get("schema")}


def _rest(value: Any, path: Path, used: set[Path], out: list[tuple[str, str]]) -> None:
    """Flatten what no panel showed (a path is shown when it or an ancestor is used)."""
    if path and any(path[: len(u)] == u for u in used):
        return
    if isinstance(value, Mapping) and (not path or any(u[: len(path)] == path for u in used)):
        for k in sorted(value, key=str):
            _rest(value[k], (*path, str(k)), used, out)
        return
    if path:
        _flatten(".".join(path), value, out)

"""Small lookup and flattening helpers shared by the report's view-model builders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from validation.report.format import num

__all__: list[str] = []

METRIC_LABELS = {
    "auc": "AUC",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "PPV",
    "npv": "NPV",
    "accuracy": "Accuracy",
    "pauc": "Partial AUC",
}


def label(metric: Any) -> str:
    text = str(metric)
    return METRIC_LABELS.get(text, text.replace("_", " "))


def get(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(k)
    return obj


def is_estimate(v: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(v, Mapping) and "estimate" in v and "ci_low" in v


def flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """Key/value rows of a nested mapping (model card, variance components) for a table."""
    if isinstance(value, Mapping):
        for k in sorted(value, key=str):
            flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    elif isinstance(value, list):
        if all(not isinstance(v, (Mapping, list)) for v in value):
            out.append(
                (prefix, ", ".join(num(v) if isinstance(v, float) else str(v) for v in value))
            )
        else:
            for i, v in enumerate(value):
                flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(value, float):
        out.append((prefix, num(value, 4)))
    else:
        out.append((prefix, "\u2014" if value is None else str(value)))

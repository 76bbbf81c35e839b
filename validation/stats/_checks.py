"""Input validation shared by the statistics functions.

Messages say what was expected and what was found. Bad input raises
``ValueError`` (or :class:`validation.errors.UndefinedMetricError` when the input
is valid but the metric is undefined on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

ALTERNATIVES = ("two-sided", "less", "greater")

T = TypeVar("T")


def required(value: T | None, what: str) -> T:
    """``value``, which the caller's logic guarantees is set (a ``RuntimeError`` if not).

    For invariants that an ``assert`` would state: unlike ``assert`` it is not removed
    under ``python -O``, and the message says what was missing.
    """
    if value is None:
        raise RuntimeError(f"internal error: {what} is missing")
    return value


def check_confidence_level(confidence_level: float) -> float:
    """Return ``confidence_level`` as float after checking 0 < level < 1."""
    level = float(confidence_level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
    return level


def check_alternative(alternative: str) -> str:
    """Check ``alternative`` is one of 'two-sided', 'less', 'greater'."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def check_method(method: str, allowed: Sequence[str], *, what: str = "method") -> str:
    """Check a method name is in ``allowed``."""
    if method not in allowed:
        raise ValueError(f"{what} must be one of {tuple(allowed)}, got {method!r}")
    return method


def as_binary(values: ArrayLike, *, name: str = "y_true") -> NDArray[np.int8]:
    """Return a 1-D int8 array of 0/1 labels; reject anything else by value."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must contain only 0 and 1, got dtype {arr.dtype}")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must contain only 0 and 1, found {arr[idx].item()!r} at index {idx}"
        )
    return arr.astype(np.int8)


def as_scores(values: ArrayLike, *, name: str = "y_score") -> NDArray[np.float64]:
    """Return a 1-D finite float64 array."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite, found {arr[idx].item()!r} at index {idx}")
    return arr


def check_same_length(**arrays: Any) -> int:
    """Check all arrays have the same length; return it."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"inputs must have the same length, got {desc}")
    return next(iter(lengths.values()), 0)


def as_rng(rng: np.random.Generator | int | np.random.SeedSequence | None) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from a Generator, seed, SeedSequence or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)

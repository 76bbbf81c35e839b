"""Frozen result types shared by every statistics module.

All statistics in :mod:`validation.stats` return one of these (or a frozen
dataclass built on the same conventions). Fields that a method does not define
are ``None``, never NaN. ``to_dict`` gives a JSON-ready mapping for
``results.json``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _jsonable(value.item())
    return value


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    Attributes
    ----------
    estimate : float
        The point estimate.
    ci_low, ci_high : float
        Bounds of the two-sided interval at ``confidence_level``.
    confidence_level : float
        Nominal coverage of the interval, e.g. 0.95.
    method : str
        Name of the interval method (``"wilson"``, ``"delong"``, ``"bootstrap_bca"`` ...).
    n : int
        Number of units the estimate rests on (cases, or the metric's denominator).
    se : float or None
        Standard error where the method defines one.
    successes : int or None
        Numerator for proportions.
    extra : dict
        Method-specific details (e.g. number of clusters, bootstrap resamples).
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence_level: float
    method: str
    n: int
    se: float | None = None
    successes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Comparison:
    """A difference between two estimates with its CI and test.

    ``difference`` is always ``a - b``. ``df`` is ``None`` for a z test and
    ``math.inf`` only where a method reports an infinite denominator df.
    """

    difference: float
    ci_low: float
    ci_high: float
    statistic: float | None
    p_value: float | None
    confidence_level: float
    method: str
    df: float | None = None
    estimate_a: float | None = None
    estimate_b: float | None = None
    alternative: str = "two-sided"
    margin: float = 0.0
    se: float | None = None
    n: int | None = None
    modality_a: str | None = None
    modality_b: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test: statistic, p-value and the method that produced them."""

    __test__ = False  # not a pytest test class

    statistic: float | None
    p_value: float
    method: str
    df: float | None = None
    alternative: str = "two-sided"
    null_value: float | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence_level: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _jsonable(asdict(self))

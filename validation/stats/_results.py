"""The result family of :mod:`validation.stats`: one generic base and the shared results.

Every statistic returns a frozen dataclass that derives from :class:`ResultMixin`, defined
beside its function (scipy's ``stats/_binomtest.py`` convention): :class:`Estimate`,
:class:`Comparison` and :class:`TestResult` here, the others in their modules. Fields that
a method does not define are ``None``, never NaN.

:meth:`ResultMixin.to_dict` is generic over the dataclass fields and gives a JSON-ready
mapping for ``results.json``: nested results through their own ``to_dict``, arrays as
lists, mappings and sequences element by element, numpy scalars as Python numbers, and
``inf`` / ``-inf`` as the strings ``"inf"`` / ``"-inf"``. NaN is kept as it is (a result
that is not estimable says so with ``None`` and a reason, not with NaN). A result whose
``results.json`` block has another shape (tables as records, fields left out or renamed)
overrides ``to_dict`` and says so in its docstring.

:class:`LegacyItemAccess` lets a result that used to be a plain ``dict`` still be read as
one (``t["statistic"]``) for one release, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, ClassVar

import numpy as np


def jsonable(value: Any) -> Any:
    """``value`` made JSON-ready, recursively: the one conversion of radval.

    NaN becomes ``None`` (JSON has no NaN), an infinite number the string ``"inf"`` /
    ``"-inf"``; numpy scalars and arrays become Python values and lists, tuples lists,
    mapping keys strings and paths strings. ``validation.results`` writes ``results.json``
    with this same function.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # other numpy scalars
        return jsonable(value.item())
    return value


def to_json(value: Any) -> Any:
    """One field of a result as :meth:`ResultMixin.to_dict` writes it."""
    if isinstance(value, ResultMixin):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return jsonable(value)


class ResultMixin:
    """Base of every result dataclass in :mod:`validation.stats`."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the fields (``inf`` written as ``"inf"``)."""
        if not dataclasses.is_dataclass(self):
            raise TypeError(f"{type(self).__name__} is not a dataclass")
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}


class LegacyItemAccess:
    """Read-only ``dict``-style access to a result that used to be a plain ``dict``.

    ``result[key]``, ``result.get(key)``, ``keys()``, ``values()``, ``items()``, ``in``,
    ``len`` and iteration keep working for one release and warn with a
    ``DeprecationWarning``; use the attributes instead. ``_legacy_keys`` maps each old key
    to its attribute.
    """

    __slots__ = ()
    _legacy_keys: ClassVar[Mapping[str, str]] = {}

    def _warn(self) -> None:
        name = type(self).__name__
        warnings.warn(
            f"{name} is a dataclass now: read its attributes "
            f"({', '.join(self._legacy_keys.values())}); dict-style access is deprecated "
            "and will be removed in the next release",
            DeprecationWarning,
            stacklevel=3,
        )

    def __getitem__(self, key: str) -> Any:
        self._warn()
        try:
            return getattr(self, self._legacy_keys[key])
        except KeyError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        """``result[key]`` or ``default`` (deprecated)."""
        self._warn()
        attr = self._legacy_keys.get(key)
        return default if attr is None else getattr(self, attr)

    def keys(self) -> list[str]:
        """The old dict keys (deprecated)."""
        self._warn()
        return list(self._legacy_keys)

    def values(self) -> list[Any]:
        """The values of the old dict (deprecated)."""
        self._warn()
        return [getattr(self, a) for a in self._legacy_keys.values()]

    def items(self) -> list[tuple[str, Any]]:
        """The old dict's items (deprecated)."""
        self._warn()
        return [(k, getattr(self, a)) for k, a in self._legacy_keys.items()]

    def __contains__(self, key: object) -> bool:
        self._warn()
        return key in self._legacy_keys

    def __iter__(self) -> Iterator[str]:
        self._warn()
        return iter(list(self._legacy_keys))

    def __len__(self) -> int:
        self._warn()
        return len(self._legacy_keys)

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Estimate(ResultMixin):
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


@dataclass(frozen=True)
class Comparison(ResultMixin):
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


@dataclass(frozen=True)
class TestResult(ResultMixin):
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

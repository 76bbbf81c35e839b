"""Parameter constraints declared as data and checked by one decorator.

In the spirit of scikit-learn's ``utils/_param_validation.py`` (written here, not
imported): a public function states what each option accepts,

>>> @validate_params({
...     "method": [Options(("wilson", "wald"))],
...     "confidence_level": [Interval(Real, 0, 1, closed="neither")],
... })
... def f(x, *, method="wilson", confidence_level=0.95):
...     return x
>>> f(1, confidence_level=1.5)
Traceback (most recent call last):
...
ValueError: confidence_level must be in (0, 1), got 1.5

and the decorator raises ``ValueError`` naming the parameter, what it expected and what
it found, before the function body runs. A value passes when it satisfies any one of the
parameter's constraints. A constraint is an :class:`Options` (a fixed set of values, in
the order the message lists them), an :class:`Interval` (a real or integer range), a type
(``str``, ``bool``, ``Mapping`` ...: an ``isinstance`` check) or ``None``.

Defaults are not checked at call time (they are valid by construction; the test of
every public function checks them once). The constraints stay inspectable as the
wrapper's ``__param_constraints__`` (name -> tuple of constraints), which is what
``tests/stats/test_param_validation.py`` iterates over.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from numbers import Integral, Real
from typing import Any, Literal, TypeVar

import numpy as np

__all__ = [
    "ALTERNATIVES",
    "RESAMPLES",
    "UNIT_INTERVAL",
    "Integral",
    "Interval",
    "Options",
    "Real",
    "Whole",
    "validate_params",
]

F = TypeVar("F", bound=Callable[..., Any])

_MAX_SHOWN = 80


class Constraint:
    """A set of acceptable values for one parameter."""

    def is_satisfied_by(self, value: Any) -> bool:
        """Whether ``value`` is acceptable."""
        raise NotImplementedError

    def describe(self) -> str:
        """What is expected, as it reads after ``"<name> must be "``."""
        raise NotImplementedError


class Options(Constraint):
    """One of a fixed, ordered set of values (strings, ``None``, numbers).

    Membership is by equality for scalars only, so an array or a list never matches.
    """

    def __init__(self, options: Iterable[Any]) -> None:
        self.options = tuple(options)
        if not self.options:
            raise ValueError("Options needs at least one option")

    def is_satisfied_by(self, value: Any) -> bool:
        if value is not None and not isinstance(value, (str, int, float, np.generic)):
            return False
        if isinstance(value, (bool, np.bool_)) and not any(
            isinstance(o, (bool, np.bool_)) for o in self.options
        ):
            return False
        return any(value is o or (o is not None and value == o) for o in self.options)

    def describe(self) -> str:
        return f"one of {self.options!r}"

    def __repr__(self) -> str:
        return f"Options({self.options!r})"


class Interval(Constraint):
    """A real or integer number in a range (NaN and infinities never are).

    Parameters
    ----------
    kind : numbers.Real or numbers.Integral
        ``Integral`` accepts Python and numpy integers only; ``Real`` any finite real
        number (an unbounded side does not admit ``inf``). Booleans are neither.
    left, right : float or None
        Bounds; ``None`` is unbounded on that side.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval.
    """

    def __init__(
        self,
        kind: type,
        left: float | None,
        right: float | None,
        *,
        closed: Literal["left", "right", "both", "neither"],
    ) -> None:
        if kind not in (Real, Integral):
            raise ValueError(f"Interval kind must be Real or Integral, got {kind!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"Interval closed must be left/right/both/neither, got {closed!r}")
        if left is not None and right is not None and not left < right:
            raise ValueError(f"Interval needs left < right, got {left!r}, {right!r}")
        self.kind = kind
        self.left = left
        self.right = right
        self.closed = closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        x = float(value)  # type: ignore[arg-type]
        if not math.isfinite(x):
            return False
        if self.left is not None:
            if x < self.left or (x == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if x > self.right or (x == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        lo_in = self.closed in ("left", "both")
        hi_in = self.closed in ("right", "both")
        if self.left is not None and self.right is not None:
            lo = f"{'[' if lo_in else '('}{_num(self.left)}"
            hi = f"{_num(self.right)}{']' if hi_in else ')'}"
            return f"an integer in {lo}, {hi}" if self.kind is Integral else f"in {lo}, {hi}"
        if self.kind is Integral and self.right is None and self.left in (0, 1) and lo_in:
            return "a non-negative integer" if self.left == 0 else "a positive integer"
        if self.left is not None:
            bound = f"{'>=' if lo_in else '>'} {_num(self.left)}"
        elif self.right is not None:
            bound = f"{'<=' if hi_in else '<'} {_num(self.right)}"
        else:
            return "an integer" if self.kind is Integral else "a finite number"
        return f"an integer {bound}" if self.kind is Integral else f"a finite number {bound}"

    def __repr__(self) -> str:
        kind = "Integral" if self.kind is Integral else "Real"
        return f"Interval({kind}, {self.left!r}, {self.right!r}, closed={self.closed!r})"


class Whole(Constraint):
    """A whole number at least ``minimum``: an integer, or a float with an integer value.

    For planning inputs that are counts but may arrive as floats (``100.0``).
    """

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return False
        if isinstance(value, (int, np.integer)):
            return int(value) >= self.minimum
        if isinstance(value, (float, np.floating)) and math.isfinite(value):
            return float(value).is_integer() and float(value) >= self.minimum
        return False

    def describe(self) -> str:
        return f"a whole number >= {self.minimum}"

    def __repr__(self) -> str:
        return f"Whole({self.minimum!r})"


class _NoneConstraint(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"

    def __repr__(self) -> str:
        return "None"


class _Boolean(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "a bool"

    def __repr__(self) -> str:
        return "bool"


class _InstanceOf(Constraint):
    def __init__(self, kind: type) -> None:
        self.kind = kind

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.kind)

    def describe(self) -> str:
        name = self.kind.__name__
        return f"an {name}" if name[0].lower() in "aeiou" else f"a {name}"

    def __repr__(self) -> str:
        return self.kind.__name__


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def make_constraint(spec: Any) -> Constraint:
    """A :class:`Constraint` from its declaration (a constraint, a type or ``None``)."""
    if isinstance(spec, Constraint):
        return spec
    if spec is None:
        return _NoneConstraint()
    if spec is bool:
        return _Boolean()
    if isinstance(spec, type):
        return _InstanceOf(spec)
    raise TypeError(f"unknown parameter constraint {spec!r}")


def describe(constraints: Iterable[Constraint], value: Any = None) -> str:
    """What a list of constraints accepts, e.g. ``"in (0, 1) or None"``.

    For a ``value`` that is not None, ``None`` (the "not given" default) is left out of
    the description: ``"prevalence must be in (0, 1], got 1.5"``.
    """
    cs = list(constraints)
    if value is not None and len(cs) > 1:
        cs = [c for c in cs if not isinstance(c, _NoneConstraint)]
    parts = [c.describe() for c in cs]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def check_param(name: str, value: Any, constraints: tuple[Constraint, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` satisfies one of ``constraints``."""
    if not any(c.is_satisfied_by(value) for c in constraints):
        raise ValueError(f"{name} must be {describe(constraints, value)}, got {_shown(value)}")


def validate_params(constraints: Mapping[str, list[Any]]) -> Callable[[F], F]:
    """Decorate a function so that its declared parameters are checked on every call.

    Parameters
    ----------
    constraints : mapping of parameter name -> list of constraints
        A value passes when it satisfies any of the list. Every name must be a
        parameter of the decorated function.
    """
    parsed = {name: tuple(make_constraint(c) for c in cs) for name, cs in constraints.items()}

    def decorator(func: F) -> F:
        params = inspect.signature(func).parameters
        unknown = [n for n in parsed if n not in params]
        if unknown:
            raise TypeError(f"{func.__qualname__} has no parameter(s) {unknown} to constrain")
        positional = [
            p.name
            for p in params.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

        order = [n for n in params if n in parsed]  # checked in signature order

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = dict(zip(positional, args, strict=False))
            for name in order:
                if name in kwargs:
                    check_param(name, kwargs[name], parsed[name])
                elif name in given:
                    check_param(name, given[name], parsed[name])
            return func(*args, **kwargs)

        wrapper.__param_constraints__ = parsed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


#: Confidence and significance levels, probabilities: strictly between 0 and 1.
UNIT_INTERVAL = Interval(Real, 0, 1, closed="neither")
#: Bootstrap resamples.
RESAMPLES = Interval(Integral, 2, None, closed="left")
#: Alternative hypotheses of the tests (``_checks.ALTERNATIVES``' order).
ALTERNATIVES = Options(("two-sided", "less", "greater"))


def param_constraints(func: Any) -> dict[str, tuple[Constraint, ...]]:
    """The constraints a function declared with :func:`validate_params` ({} if none)."""
    return dict(getattr(func, "__param_constraints__", {}))

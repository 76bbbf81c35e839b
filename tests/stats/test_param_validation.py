"""Parameter validation declared as data (``validation.stats._params``), checked for every
public function of ``validation.stats`` at once.

1. Every constrained parameter of every public function: a value that violates all of its
   constraints raises ``ValueError`` whose message names the parameter and the value found,
   before the function does any work (the other arguments are placeholders).
2. Every public function with an option that has a string default (a method, an
   alternative, a column name ...) declares constraints for it, so a new function cannot
   forget; and every default satisfies its own constraints.
3. The constraint classes themselves: exact messages, NaN, booleans, numpy scalars.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

import validation.stats as stats
from validation.stats._params import (
    Constraint,
    Integral,
    Interval,
    Options,
    Real,
    Whole,
    _Boolean,
    _InstanceOf,
    _NoneConstraint,
    param_constraints,
    validate_params,
)

PUBLIC = {name: obj for name in stats.__all__ if inspect.isfunction(obj := getattr(stats, name))}
CONSTRAINED = {name: f for name, f in PUBLIC.items() if param_constraints(f)}

# candidate bad values, tried in order: the first that violates every constraint is used
CANDIDATES: list[Any] = [
    "__not_an_option__",
    1.5,
    -1.5,
    0,
    -3,
    math.nan,
    10**9,
    object(),
]


def _invalid(constraints: Sequence[Constraint]) -> Any:
    for value in CANDIDATES:
        if not any(c.is_satisfied_by(value) for c in constraints):
            return value
    raise AssertionError(f"no candidate violates {constraints}")


def _valid(constraints: Sequence[Constraint]) -> Any:
    c = constraints[0]
    if isinstance(c, Options):
        return c.options[0]
    if isinstance(c, Interval):
        lo = c.left if c.left is not None else (c.right - 10 if c.right is not None else 0)
        hi = c.right if c.right is not None else lo + 10
        mid = (lo + hi) / 2
        return int(math.ceil(lo)) + 1 if c.kind is Integral else mid
    if isinstance(c, Whole):
        return c.minimum + 1
    if isinstance(c, _NoneConstraint):
        return None
    if isinstance(c, _Boolean):
        return True
    if isinstance(c, _InstanceOf):
        if issubclass(str, c.kind):
            return "x"
        if c.kind in (Real, float):
            return 0.5
        if c.kind is Mapping:
            return {}
        if c.kind is Sequence:
            return ()
    raise AssertionError(f"no valid example for {c!r}")


CASES = [
    pytest.param(name, param, id=f"{name}-{param}")
    for name, f in sorted(CONSTRAINED.items())
    for param in param_constraints(f)
]


def test_the_public_functions_declare_their_constraints() -> None:
    unconstrained = sorted(set(PUBLIC) - set(CONSTRAINED))  # functions without options
    assert len(CONSTRAINED) >= 75, unconstrained


@pytest.mark.parametrize(("name", "param"), CASES)
def test_bad_value_raises_value_error_naming_the_parameter(name: str, param: str) -> None:
    func = CONSTRAINED[name]
    constraints = param_constraints(func)
    sig = inspect.signature(func)
    kwargs: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == param:
            continue
        if p.name in constraints:
            kwargs[p.name] = _valid(constraints[p.name])
        elif p.default is p.empty:
            kwargs[p.name] = None  # never reached: validation comes first
    bad = _invalid(constraints[param])
    kwargs[param] = bad
    with pytest.raises(ValueError) as info:
        func(**kwargs)
    message = str(info.value)
    assert message.startswith(f"{param} must be "), message
    assert message.endswith(f", got {bad!r}") or "got" in message, message


def _string_options(func: Callable[..., Any]) -> list[str]:
    return [
        p.name for p in inspect.signature(func).parameters.values() if isinstance(p.default, str)
    ]


def test_every_string_option_of_a_public_function_is_declared() -> None:
    missing = {
        name: [p for p in _string_options(f) if p not in param_constraints(f)]
        for name, f in PUBLIC.items()
    }
    assert {k: v for k, v in missing.items() if v} == {}


def test_every_default_satisfies_its_constraints() -> None:
    for name, f in CONSTRAINED.items():
        for p in inspect.signature(f).parameters.values():
            cs = param_constraints(f).get(p.name)
            if cs and p.default is not p.empty:
                assert any(c.is_satisfied_by(p.default) for c in cs), (name, p.name)


# ------------------------------------------------------------------ the constraints


@validate_params(
    {
        "method": [Options(("wilson", "wald"))],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "n_resamples": [Interval(Integral, 2, None, closed="left")],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "prevalence": [Interval(Real, 0, 1, closed="right"), None],
        "n": [Whole(1)],
        "column": [str],
        "flag": [bool],
    }
)
def _f(
    x: Any,
    *,
    method: str = "wilson",
    confidence_level: float = 0.95,
    n_resamples: int = 100,
    n_bins: int = 10,
    prevalence: float | None = None,
    n: int = 1,
    column: str = "case",
    flag: bool = False,
) -> Any:
    return x


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "score"}, "method must be one of ('wilson', 'wald'), got 'score'"),
        ({"confidence_level": 1.5}, "confidence_level must be in (0, 1), got 1.5"),
        ({"confidence_level": 95}, "confidence_level must be in (0, 1), got 95"),
        ({"confidence_level": math.nan}, "confidence_level must be in (0, 1), got nan"),
        ({"confidence_level": "0.95"}, "confidence_level must be in (0, 1), got '0.95'"),
        ({"confidence_level": True}, "confidence_level must be in (0, 1), got True"),
        ({"n_resamples": 1}, "n_resamples must be an integer >= 2, got 1"),
        ({"n_resamples": 200.0}, "n_resamples must be an integer >= 2, got 200.0"),
        ({"n_bins": 0}, "n_bins must be a positive integer, got 0"),
        ({"prevalence": 1.5}, "prevalence must be in (0, 1], got 1.5"),
        ({"prevalence": "x"}, "prevalence must be in (0, 1], got 'x'"),
        ({"n": 2.5}, "n must be a whole number >= 1, got 2.5"),
        ({"column": 3}, "column must be a str, got 3"),
        ({"flag": 1}, "flag must be a bool, got 1"),
    ],
)
def test_exact_messages(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        _f(0, **kwargs)
    assert str(info.value) == message


def test_accepted_values_including_numpy_scalars_and_none() -> None:
    assert (
        _f(
            1,
            confidence_level=np.float64(0.9),
            n_resamples=np.int64(5),
            prevalence=None,
            n=3.0,
            flag=np.True_,
            method="wald",
            column="c",
        )
        == 1
    )
    assert _f(x=2, prevalence=1.0) == 2


def test_long_values_are_cut_and_the_first_bad_parameter_in_signature_order_is_named() -> None:
    with pytest.raises(ValueError) as info:
        _f(0, method="m" * 200)
    assert str(info.value).endswith("...") and len(str(info.value)) < 200
    with pytest.raises(ValueError, match="^method must"):
        _f(0, n_resamples=0, method="x")


def test_a_constraint_on_a_missing_parameter_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="has no parameter"):
        validate_params({"nope": [str]})(lambda x: x)

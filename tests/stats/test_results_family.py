"""Every result of validation.stats is a frozen dataclass of one family (ResultMixin) with a
JSON-ready ``to_dict``; the generic ``to_dict`` writes what the hand-written ones wrote."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from dataclasses import asdict

import numpy as np
import pytest

import validation.stats as stats
from validation.stats import (
    Comparison,
    Estimate,
    OperatingPoint,
    RocCurve,
    TestResult,
    roc_curve,
    youden,
)
from validation.stats._results import ResultMixin, jsonable

# public dataclasses that are inputs or declarations, not results
NOT_RESULTS = {"MetricSpec"}


def _public_dataclasses() -> list[type]:
    return [
        obj
        for name in stats.__all__
        if inspect.isclass(obj := getattr(stats, name))
        and dataclasses.is_dataclass(obj)
        and name not in NOT_RESULTS
    ]


def test_every_public_result_is_a_frozen_result_mixin_dataclass() -> None:
    classes = _public_dataclasses()
    assert len(classes) >= 30
    for cls in classes:
        assert issubclass(cls, ResultMixin), cls.__name__
        assert cls.__dataclass_params__.frozen, cls.__name__  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "obj",
    [
        Estimate(
            0.5,
            0.4,
            math.inf,
            0.95,
            "wilson",
            10,
            se=np.float64(0.1),
            extra={
                "a": (1, np.int64(2)),
                "b": -math.inf,
                "c": [np.float32(0.5)],
                "d": {"e": math.nan},
            },
        ),
        Comparison(0.1, -0.1, 0.3, 1.2, 0.2, 0.95, "delong", df=math.inf, extra={"x": 1}),
        TestResult(None, 0.5, "exact", extra={"n": np.int64(3)}),
    ],
)
def test_generic_to_dict_is_the_former_jsonable_asdict(obj: ResultMixin) -> None:
    new, old = obj.to_dict(), jsonable(asdict(obj))  # type: ignore[call-overload]
    assert json.dumps(new) == json.dumps(old)
    assert [type(v) for v in new.values()] == [type(v) for v in old.values()]


def test_roc_curve_and_operating_point_gained_a_json_ready_to_dict() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    curve = roc_curve(y, s)
    d = curve.to_dict()
    assert isinstance(curve, RocCurve)
    assert d["thresholds"][0] == "inf" and d["fpr"] == curve.fpr.tolist()
    assert d["n_positive"] == 3 and d["n_negative"] == 3
    json.dumps(d, allow_nan=False)
    op = youden(y, s)
    assert isinstance(op, OperatingPoint)
    assert op.to_dict() == {f.name: getattr(op, f.name) for f in dataclasses.fields(op)}

"""The typed results.json model: the published schema is generated from it and agrees with it."""

from __future__ import annotations

import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from validation.errors import InputError, ResultsSchemaError
from validation.results import (
    dumps_results,
    jsonable,
    read_results_document,
    results_json_schema,
    results_schema_text,
    validate_results,
)

REPO = Path(__file__).resolve().parents[2]


def test_committed_schema_is_generated_from_the_model() -> None:
    committed = (REPO / "validation" / "schemas" / "results.schema.json").read_text("utf-8")
    assert committed == results_schema_text(), (
        "run: radval results schema --out validation/schemas/results.schema.json"
    )


def test_jsonable_never_writes_nan_and_spells_infinity() -> None:
    value = {
        1: np.float64("nan"),
        "b": (np.int64(3), np.float32(math.inf)),
        "c": np.array([-np.inf]),
        "d": np.bool_(True),
        "p": Path("x/y"),
    }
    assert jsonable(value) == {"1": None, "b": [3, "inf"], "c": ["-inf"], "d": True, "p": "x/y"}
    assert dumps_results({"b": 1, "a": [0.5]}) == '{\n  "a": [\n    0.5\n  ],\n  "b": 1\n}\n'


def test_validation_names_the_path_and_the_schema_agrees() -> None:
    with pytest.raises(ResultsSchemaError) as err:
        validate_results({"schema": "radval.results/2"})
    text = str(err.value)
    assert text.startswith("results do not match radval.results/1: schema: Input should be ")
    assert "radval_version: Field required" in text
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(results_json_schema()).validate(
            {"schema": "radval.results/2"}
        )


def test_reading_bad_files_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"results file .*missing.json does not exist"):
        read_results_document(tmp_path / "missing.json")
    bad = tmp_path / "results.json"
    bad.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_results_document(tmp_path)
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="expected a JSON object, found list"):
        read_results_document(bad)
    bad.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="cannot read results file"):
        read_results_document(bad)

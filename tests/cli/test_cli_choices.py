"""CLI option choices are Enums whose values are the library's own constants (issue 14)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from validation import audit
from validation.cli import app
from validation.cli.mrmc import Covariance, Fom, Method, ReadingsFormat
from validation.cli.study import Meaning, SchemaFormat
from validation.data.readings import FORMATS
from validation.stats.detection import FROC_FOMS
from validation.stats.mrmc.data import COVARIANCES, METHODS, ROC_FOMS


def test_choices_are_the_library_constants() -> None:
    assert [m.value for m in ReadingsFormat] == list(FORMATS)
    assert [m.value for m in Fom] == list(ROC_FOMS + FROC_FOMS)
    assert [m.value for m in Method] == list(METHODS)
    assert [m.value for m in Covariance] == list(COVARIANCES)
    assert [m.value for m in Meaning] == list(audit.SIGNATURE_MEANINGS)
    assert [m.value for m in SchemaFormat] == ["json", "markdown"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["mrmc", "r.csv", "--fom", "aucc"], "--fom"),
        (["mrmc", "r.csv", "--method", "anova"], "--method"),
        (["mrmc", "r.csv", "--covariance", "x"], "--covariance"),
        (["mrmc", "r.csv", "--format", "xlsx2"], "--format"),
        (["protocol", "schema", "--format", "yaml"], "--format"),
        (["sign", "s", "--name", "A", "--role", "r", "--meaning", "witness"], "--meaning"),
    ],
)
def test_a_value_outside_the_choices_is_exit_2_naming_the_option(
    args: list[str], option: str
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output

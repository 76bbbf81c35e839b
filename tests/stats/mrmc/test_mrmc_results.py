"""MRMCResult.tests values and reader_vs_ai's result are frozen dataclasses that still read
as the dicts they replaced (for one release, with a DeprecationWarning), and whose
``to_dict`` is the JSON of the old dicts key for key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from validation.data.readings import load_readings
from validation.stats import Comparison, MRMCTest, ReaderVsAI, mrmc_analysis, reader_vs_ai

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"
TEST_KEYS = (
    "statistic",
    "df_num",
    "df_den",
    "p_value",
    "distribution",
    "estimable",
    "reason",
    "comparisons",
    "modality_foms",
)


@pytest.fixture(scope="module")
def res():
    return mrmc_analysis(load_readings(DATA / "van_dyke.csv"))


@pytest.fixture(scope="module")
def vs():
    return reader_vs_ai(load_readings(DATA / "hupse_karssemeijer_cad_roc.csv"), ai_reader="1")


def test_tests_are_frozen_dataclasses_with_the_old_keys_as_fields(res):
    assert list(res.tests) == ["RRRC", "FRRC", "RRFC"]
    for t in res.tests.values():
        assert isinstance(t, MRMCTest)
        assert tuple(f.name for f in dataclasses.fields(t)) == TEST_KEYS
        with pytest.raises(dataclasses.FrozenInstanceError):
            t.statistic = 0.0  # type: ignore[misc]


def test_dict_style_access_still_works_and_warns(res):
    t = res.tests["RRRC"]
    with pytest.warns(DeprecationWarning, match=r"^MRMCTest is a dataclass now: read its attri"):
        assert t["statistic"] == t.statistic
    with pytest.warns(DeprecationWarning):
        assert t.get("estimable", False) is True
    with pytest.warns(DeprecationWarning):
        assert t.get("nope", 7) == 7
    with pytest.warns(DeprecationWarning):
        assert dict(t.items()) == {k: getattr(t, k) for k in TEST_KEYS}
    with pytest.warns(DeprecationWarning):
        assert list(t.keys()) == list(TEST_KEYS) and "p_value" in t
    with pytest.warns(DeprecationWarning), pytest.raises(KeyError, match="nope"):
        t["nope"]
    assert bool(t) is True  # truthiness does not go through the deprecated __len__


def test_mrmc_to_dict_is_the_old_json(res):
    """The JSON the dict-based tests gave: the non-list keys, then the two lists."""
    d = res.to_dict()
    for name, t in res.tests.items():
        old = {k: getattr(t, k) for k in TEST_KEYS[:-2]}
        old["df_den"] = "inf" if old["df_den"] == float("inf") else old["df_den"]
        old["comparisons"] = [c.to_dict() for c in t.comparisons]
        old["modality_foms"] = [e.to_dict() for e in t.modality_foms]
        assert json.dumps(d["tests"][name]) == json.dumps(old)
    assert list(d) == [
        "method",
        "covariance",
        "fom_name",
        "design",
        "confidence_level",
        "modalities",
        "readers",
        "n_cases",
        "fom",
        "variance_components",
        "tests",
        "modality_foms",
        "extra",
    ]
    json.dumps(d, allow_nan=False)


def test_reader_vs_ai_is_a_dataclass_readable_as_the_old_dict(vs):
    assert isinstance(vs, ReaderVsAI)
    assert isinstance(vs.rrrc, Comparison) and isinstance(vs.rrfc, Comparison)
    assert vs.rrrc.method == "1T-RRRC (readers - AI)"
    with pytest.warns(DeprecationWarning, match=r"^ReaderVsAI is a dataclass now"):
        assert vs["RRRC"] is vs.rrrc
    with pytest.warns(DeprecationWarning):
        assert [k for k, _ in vs.items()] == ["RRRC", "RRFC"]
    with pytest.warns(DeprecationWarning):
        assert {k: v.to_dict() for k, v in vs.items()} == vs.to_dict()
    assert json.dumps(vs.to_dict()) == json.dumps(
        {"RRRC": vs.rrrc.to_dict(), "RRFC": vs.rrfc.to_dict()}
    )

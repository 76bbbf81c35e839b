"""The JUnit XML schema the output tests validate against (``junit_report.xsd``) can fail.

The schema is written for these tests; its header cites where the format is documented.
Here it accepts a report written by another tool (junitparser) and one using every element
the consumers read, and rejects reports that break the layout they rely on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite
from outputs_support import JUNIT_XSD

#: A report using every element and the usual attributes.
FULL = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all" tests="4" failures="1" errors="1" skipped="1" time="1.5"
            timestamp="2026-12-04T10:00:00">
  <testsuite name="suite" tests="4" failures="1" errors="1" skipped="1" time="1.5"
             timestamp="2026-12-04T10:00:00" hostname="runner" id="0" package="pkg">
    <properties>
      <property name="radval.protocol.id" value="release-gate"/>
      <property name="empty" value=""/>
    </properties>
    <testcase classname="pkg.A" name="passes" time="0.5" file="a.py" line="3">
      <system-out>out</system-out>
      <system-err>err</system-err>
    </testcase>
    <testcase classname="pkg.A" name="fails" time="0.25">
      <failure message="expected 1, found 2" type="AssertionError">details</failure>
    </testcase>
    <testcase classname="pkg.A" name="errs" time="0">
      <error message="boom" type="RuntimeError"/>
    </testcase>
    <testcase classname="pkg.A" name="skips">
      <skipped message="not tested"/>
    </testcase>
    <system-out>suite out</system-out>
    <system-err>suite err</system-err>
  </testsuite>
</testsuites>
"""

BROKEN = {
    "root is not testsuites": ("<testsuites name", "<results name", "</testsuites>", "</results>"),
    "a testcase without a name": ('name="fails" ', "", None, None),
    "a suite without a test count": (
        '<testsuite name="suite" tests="4"',
        '<testsuite name="suite"',
        None,
        None,
    ),
    "a negative count": (
        'failures="1" errors="1" skipped="1" time="1.5"\n             timestamp',
        'failures="-1" errors="1" skipped="1" time="1.5"\n             timestamp',
        None,
        None,
    ),
    "a count that is not a number": (
        '<testsuites name="all" tests="4"',
        '<testsuites name="all" tests="four"',
        None,
        None,
    ),
    "a negative time": ('name="fails" time="0.25"', 'name="fails" time="-0.25"', None, None),
    "a failure outside a testcase": (
        "    <system-out>suite out</system-out>",
        '    <failure message="x"/>\n    <system-out>suite out</system-out>',
        None,
        None,
    ),
    "an unknown element in a testcase": (
        '<skipped message="not tested"/>',
        '<skipped message="not tested"/><flaky/>',
        None,
        None,
    ),
    "a property without a value": (
        '<property name="empty" value=""/>',
        '<property name="empty"/>',
        None,
        None,
    ),
    "properties after the test cases": (
        "    <system-out>suite out</system-out>",
        '    <properties><property name="a" value="b"/></properties>\n'
        "    <system-out>suite out</system-out>",
        None,
        None,
    ),
    "system-out before a failure": (
        '<failure message="expected 1, found 2" type="AssertionError">details</failure>',
        '<system-out>x</system-out><failure message="m">d</failure>',
        None,
        None,
    ),
}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def test_accepts_every_element_consumers_read(schema: xmlschema.XMLSchema) -> None:
    schema.validate(FULL)
    assert schema.is_valid(FULL)


def test_accepts_a_report_written_by_junitparser(
    schema: xmlschema.XMLSchema, tmp_path: Path
) -> None:
    cases = []
    for name, result in [
        ("ok", None),
        ("bad", Failure("expected 1, found 2")),
        ("crash", Error("boom")),
        ("later", Skipped("not tested")),
    ]:
        case = TestCase(name, classname="pkg.A", time=0.5)
        if result is not None:
            case.result = [result]
        cases.append(case)
    suite = TestSuite("suite")
    suite.add_property("radval.protocol.id", "release-gate")
    for case in cases:
        suite.add_testcase(case)
    suite.update_statistics()
    xml = JUnitXml("all")
    xml.add_testsuite(suite)
    xml.update_statistics()
    path = tmp_path / "report.xml"
    xml.write(str(path))
    schema.validate(str(path))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 1, 1, 1)


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_rejects_a_malformed_report(schema: xmlschema.XMLSchema, what: str) -> None:
    old, new, old2, new2 = BROKEN[what]
    assert FULL.count(old) == 1, f"{what}: the mutation must hit exactly once"
    text = FULL.replace(old, new)
    if old2 is not None and new2 is not None:
        assert FULL.count(old2) == 1, f"{what}: the mutation must hit exactly once"
        text = text.replace(old2, new2)
    assert text != FULL
    assert not schema.is_valid(text), what
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(text)

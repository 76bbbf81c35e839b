"""JUnit XML for CI test reports: one ``<testcase>`` per criterion and per gate rule.

The layout follows the common JUnit XML format CI systems read (Ant/Surefire's layout,
which GitHub Actions reporters, GitLab, Azure Pipelines and Jenkins accept)::

    <testsuites name="radval" tests=".." failures=".." errors="0">
      <testsuite name="radval run release-gate" tests=".." failures=".." errors="0" skipped=".."
                 timestamp="..">
        <properties>
          <property name="radval.protocol.id" value="release-gate"/> ...
        </properties>
        <testcase classname="radval.release-gate.primary" name="auc_noninferior" time="0">
          <failure type="radval.fail" message="FAIL: auc_noninferior: ...">details</failure>
        </testcase>
        <testcase ... name="sensitivity_noninferior"><skipped message="NOT TESTED: ..."/></testcase>
        <testcase classname="radval.release-gate" name="verdict"/>
      </testsuite>
    </testsuites>

A failed criterion is a ``<failure>`` whose message states the decision, the criterion,
the estimate with its interval, the bound and the p-value; ``NOT TESTED`` and not
estimable criteria (and subgroup cells below the guardrails) are ``<skipped>`` with the
reason. The ``verdict`` test case fails whenever the verdict does, so the report is red
exactly when ``radval`` exits 1. Properties name the protocol (id, version, sha256), the
results' sha256 and the audit head. Characters XML 1.0 cannot carry (control characters)
are written as ``\\xNN`` escapes, so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.io import write_text_atomic
from validation.outputs.checks import Check

#: Characters XML 1.0 cannot carry, written as escapes instead.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """``value`` as text XML 1.0 can carry: control characters become ``\\xNN``."""
    return _NOT_XML.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), str(value))


@dataclass(frozen=True)
class Suite:
    """One ``<testsuite>``: a study's criteria or a release gate's rules.

    Attributes
    ----------
    name : str
        ``radval run <study id>`` or ``radval gate <candidate> vs <baseline>``.
    classname : str
        Prefix of each test case's ``classname`` (``radval.<study id>``); the check's group
        is appended for criteria (``radval.<study id>.primary``).
    checks : sequence of Check
        The test cases.
    properties : sequence of (name, value)
        Provenance shown beside the results.
    timestamp : str or None
        When the results were produced (ISO 8601).
    """

    name: str
    classname: str
    checks: Sequence[Check]
    properties: Sequence[tuple[str, str]] = ()
    timestamp: str | None = None


def _counts(checks: Sequence[Check]) -> dict[str, str]:
    return {
        "tests": str(len(checks)),
        "failures": str(sum(c.outcome == "fail" for c in checks)),
        "errors": "0",
    }


def junit_xml(suites: Iterable[Suite]) -> str:
    """Serialise suites as a JUnit XML document (UTF-8 text with an XML declaration)."""
    suites = list(suites)
    root = ET.Element(
        "testsuites",
        {"name": "radval", **_counts([c for s in suites for c in s.checks]), "time": "0"},
    )
    for s in suites:
        attrs = {
            "name": xml_text(s.name),
            **_counts(s.checks),
            "skipped": str(sum(c.outcome == "skipped" for c in s.checks)),
            "time": "0",
        }
        if s.timestamp:
            attrs["timestamp"] = xml_text(s.timestamp)
        suite = ET.SubElement(root, "testsuite", attrs)
        if s.properties:
            props = ET.SubElement(suite, "properties")
            for key, value in s.properties:
                ET.SubElement(props, "property", {"name": xml_text(key), "value": xml_text(value)})
        for c in s.checks:
            classname = s.classname if c.group == "verdict" else f"{s.classname}.{c.group}"
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": xml_text(classname), "name": xml_text(c.name), "time": "0"},
            )
            body = "\n".join(xml_text(line) for line in c.details)
            if c.outcome == "fail":
                el = ET.SubElement(
                    case,
                    "failure",
                    {"type": f"radval.{c.decision}", "message": xml_text(c.message)},
                )
                el.text = body
            elif c.outcome == "skipped":
                el = ET.SubElement(
                    case,
                    "skipped",
                    {"type": f"radval.{c.decision}", "message": xml_text(c.message)},
                )
                el.text = body
            else:
                out = ET.SubElement(case, "system-out")
                out.text = xml_text(c.message) + ("\n" + body if body else "")
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def study_properties(
    doc: Mapping[str, Any],
    *,
    results_sha256: str,
    audit_head: str | None,
    report: str | None = None,
) -> list[tuple[str, str]]:
    """The provenance properties of a study's suite."""
    study = doc.get("study") or {}
    protocol = doc.get("protocol") or {}
    lock = protocol.get("lock")
    props = [
        ("radval.protocol.id", str(study.get("id"))),
        ("radval.protocol.version", str(study.get("version"))),
        ("radval.protocol.sha256", str(protocol.get("sha256"))),
        ("radval.protocol.locked", "true" if lock else "false"),
        ("radval.results.sha256", results_sha256),
        ("radval.audit.head", str(audit_head)),
        ("radval.verdict", str((doc.get("verdict") or {}).get("decision", "")).upper()),
        ("radval.version", str(doc.get("radval_version"))),
    ]
    if report:
        props.append(("radval.report", report))
    return props


def gate_properties(
    gate: Mapping[str, Any],
    candidate_doc: Mapping[str, Any],
    *,
    gate_sha256: str | None,
    gate_audit_head: str | None,
) -> list[tuple[str, str]]:
    """The provenance properties of a release gate's suite."""
    study = candidate_doc.get("study") or {}
    cand, base = gate.get("candidate") or {}, gate.get("baseline") or {}
    props = [
        ("radval.protocol.id", str(study.get("id"))),
        ("radval.protocol.version", str(study.get("version"))),
        ("radval.protocol.sha256", str((candidate_doc.get("protocol") or {}).get("sha256"))),
        ("radval.results.sha256", str(cand.get("results_sha256"))),
        ("radval.audit.head", str(cand.get("audit_head"))),
        ("radval.baseline.study", str(base.get("study"))),
        ("radval.baseline.results.sha256", str(base.get("results_sha256"))),
        ("radval.baseline.audit.head", str(base.get("audit_head"))),
        ("radval.gate.decision", str(gate.get("decision", "")).upper()),
        ("radval.gate.margin", str(gate.get("margin"))),
        ("radval.gate.proportion_margin", str(gate.get("proportion_margin"))),
        ("radval.gate.significance_level", str(gate.get("significance_level"))),
    ]
    if gate_sha256 is not None:
        props.append(("radval.gate.sha256", gate_sha256))
    if gate_audit_head is not None:
        props.append(("radval.gate.audit.head", gate_audit_head))
    return props


def write_junit(path: str | Path, suites: Iterable[Suite]) -> Path:
    """Write :func:`junit_xml` atomically to ``path`` and return it."""
    target = Path(path)
    write_text_atomic(target, junit_xml(suites))
    return target

"""Protocol schema: exact problem messages with YAML paths and lines; generated docs up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from validation.errors import ProtocolError
from validation.protocol.load import check_protocol, check_text, load_protocol
from validation.protocol.reference import protocol_json_schema_text, render_reference

REPO = Path(__file__).resolve().parents[2]

BASE = """\
version: 1
study:
  id: s1
  title: T
  version: "1.0"
  intended_use: triage
  population: adults
test_set:
  manifest: ../data/test/manifest.csv
model:
  scores: ../scores/candidate.parquet
  threshold: 0.5
endpoints:
  - id: sens
    role: primary
    metric: sensitivity
    accept: {bound: ci_low, op: ">=", value: 0.7}
seed: 1
"""


def messages(text: str) -> list[str]:
    _, problems = check_text(text)
    return [p.format("p.yaml") for p in problems]


def test_valid_base_has_no_problems() -> None:
    proto, problems = check_text(BASE)
    assert problems == []
    assert proto is not None and proto.endpoints[0].ci.confidence_level == 0.95


def test_unknown_key_and_wrong_version_reported_with_paths_and_lines() -> None:
    text = BASE.replace("version: 1\n", "version: 2\n", 1).replace(
        "  population: adults\n", "  population: adults\n  colour: red\n"
    )
    assert messages(text) == [
        "p.yaml:1: version: Input should be 1 (found 2)",
        "p.yaml:8: study.colour: Extra inputs are not permitted (found 'red')",
    ]


def test_every_problem_listed_at_once() -> None:
    text = BASE.replace("role: primary", "role: primery").replace('op: ">="', 'op: "=>"')
    assert messages(text) == [
        "p.yaml:15: endpoints[0].role: Input should be 'primary', 'secondary' or 'exploratory' (found 'primery')",
        "p.yaml:17: endpoints[0].accept.op: Input should be '>=', '>', '<=' or '<' (found '=>')",
    ]


def test_primary_without_criterion() -> None:
    text = BASE.replace('    accept: {bound: ci_low, op: ">=", value: 0.7}\n', "")
    assert messages(text) == [
        "p.yaml:14: endpoints[0]: a primary endpoint needs an acceptance criterion (`accept` or `test`)"
    ]


def test_bare_point_estimate_criterion_is_rejected() -> None:
    text = BASE.replace("bound: ci_low", "bound: estimate")
    assert messages(text) == [
        "p.yaml:17: endpoints[0].accept.bound: Input should be 'ci_low' or 'ci_high' (found 'estimate')"
    ]


def test_unknown_metric_and_invalid_ci_method_via_registry() -> None:
    text = BASE.replace("metric: sensitivity", "metric: sensitivty")
    [msg] = messages(text)
    assert msg.startswith(
        "p.yaml:16: endpoints[0].metric: unknown metric 'sensitivty'; known metrics: "
    )
    assert "sensitivity" in msg
    text = BASE.replace(
        "    metric: sensitivity\n", "    metric: sensitivity\n    ci: {method: delong}\n"
    )
    [msg] = messages(text)
    assert msg.startswith(
        "p.yaml:17: endpoints[0].ci.method: CI method 'delong' is not valid for metric 'sensitivity'; "
        "expected one of ['wilson'"
    )


def test_threshold_metric_needs_a_threshold() -> None:
    text = BASE.replace("  threshold: 0.5\n", "")
    assert messages(text) == [
        "p.yaml:13: endpoints[0].threshold: metric 'sensitivity' needs an operating threshold: "
        "set model.threshold, model.card (the threshold its model card records) or the endpoint's threshold"
    ]
    # a model card names where the threshold comes from; the file itself is checked with the files
    assert messages(BASE.replace("  threshold: 0.5\n", "  card: model_card.json\n")) == []


def test_duplicate_yaml_key_and_duplicate_ids() -> None:
    assert messages(BASE.replace("seed: 1\n", "seed: 1\nseed: 2\n")) == [
        "p.yaml:19: seed: duplicate key 'seed'"
    ]
    text = BASE.replace(
        "seed: 1\n",
        """  - id: sens
    role: secondary
    metric: specificity
seed: 1
""",
    )
    assert messages(text) == ["p.yaml:1: <root>: endpoint ids must be unique, repeated: ['sens']"]


def test_fixed_sequence_order_must_list_primaries() -> None:
    text = BASE + "multiplicity: {method: fixed-sequence, order: [sens, other]}\n"
    assert messages(text) == [
        "p.yaml:1: <root>: multiplicity.order must list every primary endpoint exactly once; "
        "primaries are ['sens'], order is ['sens', 'other']"
    ]


def test_holm_needs_tests_on_primaries() -> None:
    assert messages(BASE + "multiplicity: {method: holm}\n") == [
        "p.yaml:1: <root>: holm adjusts p-values, so every primary needs a `test`; without one: ['sens']"
    ]


def test_invalid_yaml_and_non_mapping() -> None:
    assert messages("a: [1,\n") == [
        "p.yaml:2: <root>: not valid YAML: expected the node content, but found '<stream end>'"
    ]
    assert messages("- 1\n") == [
        "p.yaml:1: <root>: expected a YAML mapping at the top level, found list"
    ]
    assert messages("") == ["p.yaml:1: <root>: the protocol is empty; expected a YAML mapping"]


def test_yaml_tags_are_never_constructed() -> None:
    text = BASE.replace("title: T", "title: !!python/object/apply:os.system ['echo pwned']")
    [msg] = messages(text)
    assert "could not determine a constructor for the tag" in msg


def test_file_checks_name_the_field(layout: Path, write_protocol) -> None:
    path = write_protocol(
        "p.yaml",
        BASE.replace(
            "  manifest: ../data/test/manifest.csv\n",
            "  manifest: ../data/test/manifest.csv\n  sha256: '" + "0" * 64 + "'\n",
        ),
    )
    [p] = check_protocol(path)
    assert p.path == "test_set.manifest" and p.line == 9
    assert p.message.startswith(f"sha256 of {layout / 'data/test/manifest.csv'} is ")
    assert p.message.endswith(", the protocol expects " + "0" * 64)
    with pytest.raises(
        ProtocolError,
        match=r"invalid protocol .*p\.yaml \(1 problem\(s\)\): .*p\.yaml:9: test_set\.manifest: sha256",
    ):
        load_protocol(path)


def test_example_protocols_are_valid(layout: Path) -> None:
    for name in ("triage_standalone.yaml", "reader_study.yaml", "release_gate.yaml"):
        assert check_protocol(layout / "protocols" / name) == [], name


def test_generated_reference_and_schema_are_up_to_date() -> None:
    doc = (REPO / "docs" / "protocol-reference.md").read_text(encoding="utf-8")
    assert doc == render_reference(), (
        "run: radval protocol schema --format markdown --out docs/protocol-reference.md"
    )
    schema = (REPO / "validation" / "schemas" / "protocol.schema.json").read_text(encoding="utf-8")
    assert schema == protocol_json_schema_text(), (
        "run: radval protocol schema --format json --out validation/schemas/protocol.schema.json"
    )
    assert json.loads(schema)["additionalProperties"] is False

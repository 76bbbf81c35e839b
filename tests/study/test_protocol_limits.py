"""Hostile protocol and model-spec YAML: refused with a located message, never expanded.

Alias bombs, deep nesting, recursive aliases, oversized files and scalars the YAML
constructor cannot convert; NaN and infinite numbers where a protocol needs a value.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from validation.errors import ModelSpecError, ProtocolError
from validation.modeling.spec import load_spec
from validation.protocol.load import check_protocol, check_text, load_protocol
from validation.safe_yaml import YamlLimitError, YamlLimits, parse_yaml, read_yaml_bytes

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

#: "billion laughs": 9 levels of 9 aliases each, 9**9 strings once expanded
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def messages(text: str) -> list[str]:
    _, problems = check_text(text)
    return [p.format("p.yaml") for p in problems]


def test_an_alias_bomb_is_refused_at_once() -> None:
    started = time.perf_counter()
    assert messages(BASE + BOMB) == [
        "p.yaml:25: <root>: refused: its aliases expand to more than 1,000,000 nodes (an alias "
        "bomb?)"
    ]
    assert time.perf_counter() - started < 2.0


def test_deep_nesting_is_refused_before_python_recursion_fails() -> None:
    deep = BASE + "description: " + "[" * 50_000 + "]" * 50_000 + "\n"
    assert messages(deep) == [
        "p.yaml:19: <root>: refused: nested deeper than 64 levels (a limit against hostile files)"
    ]
    block = BASE + "extra:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80))
    assert messages(block)[0].endswith(
        "refused: nested deeper than 64 levels (a limit against hostile files)"
    )


def test_aliases_that_expand_too_deep_or_into_themselves_are_refused() -> None:
    chain = "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [x]\n" for i in range(80))
    assert messages(BASE + chain)[0].endswith(
        "refused: its aliases expand to more than 64 nested levels"
    )
    assert messages(BASE + "loop: &l [*l]\n") == [
        "p.yaml:19: <root>: refused: an alias refers to a collection that contains it (a "
        "recursive structure)"
    ]


def test_the_alias_count_is_bounded_and_ordinary_anchors_still_work() -> None:
    many = BASE + "x: &x 1\ny: [" + ", ".join(["*x"] * 1_001) + "]\n"
    assert messages(many) == [
        "p.yaml:20: <root>: refused: more than 1,000 aliases (a limit against alias bombs)"
    ]
    shared = BASE.replace("accept: {bound: ci_low", "accept: &goal {bound: ci_low").replace(
        "seed: 1\n",
        "  - id: spec\n    role: primary\n    metric: specificity\n    accept: *goal\nseed: 1\n",
    )
    proto, problems = check_text(shared)
    assert problems == [] and proto is not None
    assert proto.endpoints[1].accept == proto.endpoints[0].accept


def test_scalars_the_constructor_cannot_read_are_located_problems() -> None:
    assert messages(BASE + "when: 2024-13-45\n") == [
        "p.yaml:19: <root>: not valid YAML: cannot read the value '2024-13-45': month must be "
        "in 1..12"
    ]
    huge = messages(BASE + "n: " + "9" * 5_000 + "\n")
    assert len(huge) == 1 and huge[0].startswith(
        "p.yaml:19: <root>: not valid YAML: cannot read the value '9999"
    )


def test_an_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "# " + "x" * (1 << 20) + "\n")
    assert [p.format(big) for p in check_protocol(big)] == [
        f"{big}: <root>: refused: the file is larger than 1,048,576 bytes (a limit against "
        "hostile files; a protocol or model spec is a few kB)"
    ]
    with pytest.raises(ProtocolError, match=r"^invalid protocol .*big\.yaml \(1 problem\(s\)\)"):
        load_protocol(big)
    with pytest.raises(YamlLimitError):
        read_yaml_bytes(big, limits=YamlLimits(max_bytes=10))


def test_a_directory_is_not_a_protocol(tmp_path: Path) -> None:
    assert [p.format(tmp_path) for p in check_protocol(tmp_path)] == [
        f"{tmp_path}: <root>: expected a protocol YAML file, found a directory"
    ]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("value: 0.7", "value: .nan", "p.yaml:17: endpoints[0].accept.value"),
        ("value: 0.7", "value: -.inf", "p.yaml:17: endpoints[0].accept.value"),
        ("value: 0.7", "value: 1e999", "p.yaml:17: endpoints[0].accept.value"),
        ("threshold: 0.5", "threshold: .NaN", "p.yaml:12: model.threshold"),
    ],
)
def test_nan_and_infinite_values_are_refused(old: str, new: str, where: str) -> None:
    found = messages(BASE.replace(old, new))
    assert len(found) == 1 and found[0].startswith(f"{where}: Input should be a finite number")


def test_nan_margin_and_band_edges_are_refused() -> None:
    text = BASE + (
        "subgroups:\n  metrics: [sensitivity]\n  attributes:\n"
        "    - {column: age, bands: [0, 40, .inf]}\n"
    )
    assert messages(text)[0].startswith(
        "p.yaml:22: subgroups.attributes[0].bands[2]: Input should be a finite number (found inf)"
    )


def test_model_specs_are_read_under_the_same_limits(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(BOMB)
    with pytest.raises(ModelSpecError) as info:
        load_spec(spec)
    assert str(info.value) == (
        f"{spec}: refused (line 7, column 4): its aliases expand to more than 1,000,000 nodes "
        "(an alias bomb?)"
    )
    spec.write_text("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 100)))
    with pytest.raises(ModelSpecError, match=r"refused \(line 64, column 127\): nested deeper "):
        load_spec(spec)


def test_parse_yaml_returns_data_and_the_node_tree() -> None:
    data, root = parse_yaml("a: &x [1, 2]\nb: *x\n")
    assert data == {"a": [1, 2], "b": [1, 2]}
    assert root is not None and root.start_mark.line == 0
    assert parse_yaml("") == (None, None)


def test_nan_in_a_model_spec_is_refused(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "models" / "demo_classifier.yaml").read_text()
    assert "learning_rate: 0.003" in text and "target: 0.90" in text
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("learning_rate: 0.003", "learning_rate: .inf"))
    with pytest.raises(
        ModelSpecError,
        match=r"training\.learning_rate: Input should be a "
        r"finite number, found inf",
    ):
        load_spec(spec)
    spec.write_text(text.replace("target: 0.90", "target: .nan"))
    with pytest.raises(
        ModelSpecError,
        match=r"operating_point\.select\.target: Input should be a "
        r"finite number, found nan",
    ):
        load_spec(spec)

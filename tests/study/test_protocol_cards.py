"""A protocol's operating threshold from the model card: agreement, the run, and the lock.

The example protocols state no ``model.threshold``: they name the model card ``radval
train`` wrote, whose ``operating_point.threshold`` was fixed or chosen on a tuning split.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from study_support import THRESHOLD, lean, write_model_card

from validation.cli import main
from validation.errors import ProtocolError
from validation.io import sha256_file
from validation.protocol.load import check_protocol
from validation.protocol.lock import lock_protocol
from validation.study import run_study


def _with_threshold(
    text: str, value: str, *, after: str = "  card: ../model/model_card.json"
) -> str:
    """Insert ``threshold: value`` on the line after the one that starts with ``after``."""
    lines = text.splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if line.startswith(after))
    return "".join(lines[: i + 1] + [f"  threshold: {value}\n"] + lines[i + 1 :])


def _run(layout: Path, name: str, out: str) -> dict:
    proto = layout / "protocols" / name
    lock_protocol(proto, actor="tester")
    outcome = run_study(proto, out_dir=layout / "studies" / out, render=False)
    return dict(json.loads(outcome.results_path.read_text(encoding="utf-8")))


def test_the_example_protocols_take_the_threshold_from_the_card(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    text = proto.read_text(encoding="utf-8")
    assert "threshold:" not in text.split("endpoints:")[0]  # the model block states none
    proto.write_text(lean(text), encoding="utf-8")
    doc = _run(layout, "triage_standalone.yaml", "card")
    assert (
        doc["model"]["threshold"] == THRESHOLD and doc["model"]["threshold_source"] == "model card"
    )
    assert doc["data_summary"]["flow"]["threshold"] == THRESHOLD
    sens = next(e for e in doc["endpoints"] if e["id"] == "sensitivity_primary")
    assert sens["details"]["threshold"] == THRESHOLD
    # the lock hashed the card the threshold came from
    assert doc["protocol"]["lock"]["model_cards"] == {
        "model": {
            "path": "../model/model_card.json",
            "sha256": sha256_file(layout / "model" / "model_card.json"),
        }
    }


def test_a_stated_threshold_equal_to_the_cards_is_the_protocols(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    proto.write_text(
        _with_threshold(lean(proto.read_text(encoding="utf-8")), "0.4"), encoding="utf-8"
    )
    assert check_protocol(proto) == []
    doc = _run(layout, "triage_standalone.yaml", "stated")
    assert doc["model"]["threshold"] == 0.4 and doc["model"]["threshold_source"] == "protocol"


def test_protocol_check_reports_a_threshold_that_disagrees_with_the_card(
    layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proto = layout / "protocols" / "release_gate.yaml"
    text = proto.read_text(encoding="utf-8")
    text = _with_threshold(text, "0.5")
    text = _with_threshold(text, "0.4", after="  card: ../baseline/model_card.json")
    proto.write_text(text, encoding="utf-8")
    card = layout / "model" / "model_card.json"
    [problem] = check_protocol(proto)
    assert problem.path == "model.threshold"
    assert problem.line == text.splitlines().index("  threshold: 0.5") + 1
    assert problem.message == (
        f"model.threshold is 0.5, but the model card {card} records operating threshold 0.4; "
        "leave model.threshold out to use the card's, or state exactly the card's value"
    )
    # the CLI prints it and exits 2; the run refuses the protocol the same way
    capsys.readouterr()
    assert main(["protocol", "check", str(proto)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{proto}:{problem.line}: model.threshold: model.threshold is 0.5, but the model card"
        in err
    )
    with pytest.raises(ProtocolError, match="records operating threshold 0.4"):
        lock_protocol(proto, actor="tester")


def test_a_card_without_a_threshold_is_reported_when_the_protocol_needs_it(layout: Path) -> None:
    card = layout / "model" / "model_card.json"
    data = json.loads(card.read_text(encoding="utf-8"))
    data["operating_point"] = {"rationale": "none recorded"}
    card.write_text(json.dumps(data), encoding="utf-8")
    proto = layout / "protocols" / "triage_standalone.yaml"
    [problem] = check_protocol(proto)
    assert (problem.path, problem.message) == (
        "model.card",
        f"model card {card} (model.card): expected a number in [0, 1] at "
        "operating_point.threshold, found None",
    )
    # a protocol that states its own threshold does not need the card's
    proto.write_text(_with_threshold(proto.read_text(encoding="utf-8"), "0.4"), encoding="utf-8")
    assert check_protocol(proto) == []


def test_a_card_changed_after_the_lock_is_refused(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    proto.write_text(lean(proto.read_text(encoding="utf-8")), encoding="utf-8")
    lock = lock_protocol(proto, actor="tester")
    card = layout / "model" / "model_card.json"
    locked_sha = sha256_file(card)
    assert lock.data["model_cards"]["model"]["sha256"] == locked_sha
    write_model_card(card, name="candidate", threshold=0.3)  # a new threshold after the lock
    with pytest.raises(ProtocolError) as err:
        run_study(proto, out_dir=layout / "studies" / "late", render=False)
    assert str(err.value) == (
        f"model card {card} (model.card) does not match the lock {lock.path}: sha256 is "
        f"{sha256_file(card)}, locked {locked_sha} at {lock.locked_at}; the card fixes the "
        "operating threshold, so it cannot change after the lock (amend the lock to record the "
        "change)"
    )
    with pytest.raises(ProtocolError, match="model card has changed since; pass --amend"):
        lock_protocol(proto, actor="tester")
    amended = lock_protocol(proto, actor="tester", amend="retrained model, new card")
    assert amended.deviations[-1]["description"] == (
        "Protocol amended after lock: retrained model, new card"
    )
    doc = json.loads(
        run_study(
            proto, out_dir=layout / "studies" / "amended", render=False
        ).results_path.read_text(encoding="utf-8")
    )
    assert doc["model"]["threshold"] == 0.3

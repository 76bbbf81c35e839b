"""The monitoring protocol: strict schema, located messages, safe YAML, and its lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from monitor_support import PROTOCOL, make_plan

from validation.errors import ProtocolError
from validation.monitor.lock import lock_monitor_protocol, read_monitor_lock, verify_monitor_lock
from validation.monitor.protocol import check_monitor_text, load_monitor_protocol

GOOD = PROTOCOL.format(title="Plan")


def test_the_example_plan_is_valid_and_defaults_are_filled() -> None:
    proto, problems, _ = check_monitor_text(GOOD)
    assert problems == [] and proto is not None
    assert proto.windows.length == "month" and proto.drift.ks is not None
    assert [c.id for c in proto.charts] == ["miss", "calls", "mean"]
    assert proto.charts[1].lam == 0.05


def test_unknown_keys_are_rejected_with_their_line() -> None:
    text = GOOD.replace("  min_cases: 20\n", "  min_cases: 20\n  lenght: week\n")
    _, problems, _ = check_monitor_text(text)
    assert problems == ["line 16: windows.lenght: Extra inputs are not permitted (found 'week')"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "    p1: 0.4\n",
            "",
            "line 17: charts[0]: a CUSUM on a rate needs `p1`, the out-of-control rate to detect",
        ),
        (
            "    lambda: 0.05\n",
            "",
            "line 23: charts[1]: an EWMA chart needs `lambda` (its smoothing weight)",
        ),
        (
            "    direction: decrease\n",
            "",
            "line 29: charts[2]: a `score_mean` chart needs `direction` (increase or decrease)",
        ),
        (
            "    arl0: 500\n",
            "    arl0: 1\n",
            "line 22: charts[0].arl0: Input should be greater than 1 (found 1)",
        ),
        (
            "  threshold: 0.4\n",
            "  threshold: .nan\n",
            "line 8: reference.threshold: Input should be a finite number (found nan)",
        ),
        (
            "  attributes: [site, manufacturer_model]\n",
            "  attributes: [site, site]\n",
            "line 12: stream.attributes: attributes listed more than once: ['site']",
        ),
    ],
)
def test_inconsistent_charts_and_values_are_located(old: str, new: str, message: str) -> None:
    assert old in GOOD
    _, problems, _ = check_monitor_text(GOOD.replace(old, new))
    assert problems == [message]


def test_duplicate_keys_and_alias_bombs_are_refused(tmp_path: Path) -> None:
    _, problems, _ = check_monitor_text(GOOD + "windows:\n  length: day\n")
    assert problems[0] == "line 42: windows: duplicate key 'windows'"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True)
    )
    f = tmp_path / "bomb.yaml"
    f.write_text(bomb)
    with pytest.raises(
        ProtocolError,
        match=r"invalid monitoring protocol .*bomb.yaml \(1 problem\(s\)\): line \d+: refused: its aliases expand to more than 1,000,000 nodes",
    ):
        load_monitor_protocol(f)


def test_lock_verifies_and_refuses_a_changed_plan_or_reference(tmp_path: Path) -> None:
    proto = make_plan(tmp_path)
    lock = read_monitor_lock(proto.with_name(proto.name + ".lock.json"))
    loaded = load_monitor_protocol(proto)
    verify_monitor_lock(loaded, lock)
    assert set(lock.reference) == {"reference.scores", "reference.manifest"}
    assert lock_monitor_protocol(proto).locked_at == lock.locked_at  # unchanged: same lock
    scores = tmp_path / "reference" / "scores.csv"
    scores.write_text(scores.read_text().replace("R00000,", "R00000,0"), encoding="utf-8")
    with pytest.raises(
        ProtocolError,
        match=r"reference.scores \(.*scores.csv\) changed since the lock .*: sha256 is [0-9a-f]{64}, locked [0-9a-f]{64}",
    ):
        verify_monitor_lock(loaded, lock)
    proto.write_text(proto.read_text() + "# a comment\n")
    with pytest.raises(ProtocolError, match="already locked .* pass --amend REASON"):
        lock_monitor_protocol(proto)
    amended = lock_monitor_protocol(proto, amend="comment added")
    assert amended.data["amendments"][0]["reason"] == "comment added"
    with pytest.raises(ProtocolError, match="does not match its lock"):
        verify_monitor_lock(loaded, amended)


def _with_results(tmp_path: Path, threshold: float, scores_sha: str | None = None) -> Path:
    import json

    from validation.io import sha256_file

    text = GOOD.replace("  threshold: 0.4\n", "  threshold: 0.4\n  results: results.json\n")
    proto = make_plan(tmp_path, lock=False, text=text)
    sha = scores_sha or sha256_file(tmp_path / "reference" / "scores.csv")
    (tmp_path / "results.json").write_text(
        json.dumps(
            {
                "study": {"id": "triage"},
                "verdict": "pass",
                "inputs": {
                    "scores": {"sha256": sha},
                    "manifest": {"sha256": sha256_file(tmp_path / "reference" / "manifest.csv")},
                },
                "protocol": {"resolved": {"model": {"threshold": threshold}}},
            }
        )
    )
    lock_monitor_protocol(proto)
    return proto


def test_the_reference_is_tied_to_the_locked_study_results(tmp_path: Path) -> None:
    from monitor_support import write_month

    from validation.monitor.runner import run_monitor

    proto = _with_results(tmp_path / "ok", 0.4)
    write_month(tmp_path / "s", 1)
    state = run_monitor(proto, stream_dir=tmp_path / "s", out_dir=tmp_path / "o").state
    assert state["reference"]["results"]["study"] == "triage"
    assert set(state["protocol"]["lock"]["reference"]) == {
        "reference.scores",
        "reference.manifest",
        "reference.results",
    }
    bad = _with_results(tmp_path / "thr", 0.5)
    with pytest.raises(
        ProtocolError,
        match=r"reference.threshold is 0.4, but the locked study .*results.json used "
        r"threshold 0.5",
    ):
        run_monitor(bad, stream_dir=tmp_path / "s", out_dir=tmp_path / "o2")
    other = _with_results(tmp_path / "sha", 0.4, scores_sha="0" * 64)
    with pytest.raises(
        ProtocolError,
        match=r"reference.scores has sha256 [0-9a-f]{64}, but .*results.json was "
        r"computed from scores with sha256 0{64}",
    ):
        run_monitor(other, stream_dir=tmp_path / "s", out_dir=tmp_path / "o3")

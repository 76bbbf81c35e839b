"""``run_monitor``: incremental and append-only, audit-logged, bad input located, ids kept out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monitor_support import make_plan, write_month

from validation import audit
from validation.errors import InputError, ProtocolError
from validation.monitor.runner import acknowledge_alarm, check_append_only, load_state, run_monitor
from validation.stats import population_stability_index
from validation.tables import write_csv

END3 = "2026-04-01T00:00:00Z"


def _strip(state: dict) -> dict:
    """What must not depend on how the stream was split into runs."""
    windows = [{k: v for k, v in w.items() if k != "closed_run"} for w in state["windows"]]
    charts = {
        cid: {"values": c["values"], "signals": c["signals"], "times": c["times"]}
        for cid, c in state["charts"].items()
    }
    return {
        "windows": windows,
        "charts": charts,
        "cases": state["cases"],
        "designs": {cid: c["design"] for cid, c in state["charts"].items()},
    }


def test_incremental_runs_equal_one_run_and_only_append(tmp_path: Path) -> None:
    proto = make_plan(tmp_path)
    once, steps = tmp_path / "once", tmp_path / "steps"
    for m in (1, 2, 3):
        write_month(once, m)
    whole = run_monitor(proto, stream_dir=once, out_dir=tmp_path / "out1", as_of=END3)
    previous = None
    for m in (1, 2, 3):
        write_month(steps, m)
        outcome = run_monitor(
            proto, stream_dir=steps, out_dir=tmp_path / "out2", as_of=END3 if m == 3 else None
        )
        if previous is not None:
            check_append_only(previous, outcome.state)
            assert outcome.state["windows"][: len(previous["windows"])] == previous["windows"]
        previous = outcome.state
    assert [w["id"] for w in whole.state["windows"]] == ["2026-01", "2026-02", "2026-03"]
    assert _strip(whole.state) == _strip(previous)
    assert len(previous["runs"]) == 3 and [r["windows_closed"] for r in previous["runs"]] == [
        [],
        ["2026-01"],
        ["2026-02", "2026-03"],
    ]
    # a run with nothing new appends a run record and changes nothing else
    again = run_monitor(proto, stream_dir=steps, out_dir=tmp_path / "out2")
    check_append_only(previous, again.state)
    assert _strip(again.state) == _strip(previous) and len(again.state["runs"]) == 4
    assert audit.verify(tmp_path / "out2").ok


def test_check_append_only_catches_a_changed_past(tmp_path: Path) -> None:
    proto = make_plan(tmp_path)
    write_month(tmp_path / "s", 1)
    state = run_monitor(
        proto, stream_dir=tmp_path / "s", out_dir=tmp_path / "o", as_of="2026-02-01"
    ).state
    changed = json.loads(json.dumps(state))
    changed["charts"]["calls"]["values"][3] += 0.001
    with pytest.raises(RuntimeError, match=r"would change the recorded past: charts.calls.values"):
        check_append_only(state, changed)
    changed = json.loads(json.dumps(state))
    changed["windows"][0]["drift"]["psi"]["psi"] = 0.0
    with pytest.raises(RuntimeError, match=r"would change the recorded past: windows"):
        check_append_only(state, changed)


def test_unlabelled_cases_stay_in_drift_and_performance_counts_verified_only(
    tmp_path: Path,
) -> None:
    proto = make_plan(tmp_path)
    frame = write_month(tmp_path / "s", 1, labels_fraction=0.25)
    out = run_monitor(proto, stream_dir=tmp_path / "s", out_dir=tmp_path / "o", as_of="2026-02-01")
    w = out.state["windows"][0]
    assert w["n_cases"] == len(frame) == 120
    snap = out.state["performance"][0]
    n_labelled = len(pd.read_csv(tmp_path / "s" / "labels" / "2026-01.csv"))
    assert snap["n_verified"] == n_labelled < 120 and snap["n_cases"] == 120
    ref = pd.read_csv(tmp_path / "reference" / "scores.csv")["score"].to_numpy()
    edges = [float(e) for e in out.state["reference"]["psi_edges"]]
    expected = population_stability_index(ref, frame["score"].to_numpy(), edges=edges)
    assert w["drift"]["psi"]["psi"] == pytest.approx(expected.psi, rel=1e-12)
    assert "Verification-bias caveat" in (tmp_path / "o" / "report.html").read_text()


def test_late_labels_add_a_performance_snapshot_and_keep_the_old_one(tmp_path: Path) -> None:
    proto = make_plan(tmp_path)
    s = tmp_path / "s"
    frame = write_month(s, 1, labels_fraction=None)
    run_monitor(proto, stream_dir=s, out_dir=tmp_path / "o", as_of="2026-02-01")
    write_csv(frame[["case_id", "label"]].iloc[:60], s / "labels" / "first.csv")
    second = run_monitor(proto, stream_dir=s, out_dir=tmp_path / "o")
    snaps = second.state["performance"]
    assert [(p["run"], p["n_verified"]) for p in snaps] == [(1, 0), (2, 60)]
    assert "not_estimable" in snaps[0]["metrics"]["sensitivity"]
    assert len(second.state["charts"]["miss"]["values"]) == int(frame["label"].iloc[:60].sum())


def test_exit_codes_alarm_and_acknowledgement(tmp_path: Path) -> None:
    proto = make_plan(tmp_path)
    s = tmp_path / "s"
    write_month(s, 1)
    calm = run_monitor(proto, stream_dir=s, out_dir=tmp_path / "o", as_of="2026-02-01")
    assert (
        calm.exit_code == 0 and [a for a in calm.state["alarms"] if a["severity"] == "alarm"] == []
    )
    write_month(s, 2, change_month=2, n=200)
    alarm = run_monitor(proto, stream_dir=s, out_dir=tmp_path / "o", as_of="2026-03-01")
    assert alarm.exit_code == 1
    rules = {a["rule"] for a in alarm.new_alarms}
    assert "new_category" in rules
    assert any(
        "new site" not in a["message"] and "'OX-9 DR'" in a["message"] for a in alarm.new_alarms
    )
    for a in alarm.open_alarms:
        acknowledge_alarm(
            tmp_path / "o", a["id"], name="A. Engineer", reason="scanner change reviewed"
        )
    with pytest.raises(InputError, match="is already acknowledged"):
        acknowledge_alarm(tmp_path / "o", alarm.open_alarms[0]["id"], name="A", reason="again")
    after = run_monitor(proto, stream_dir=s, out_dir=tmp_path / "o")
    assert after.exit_code == 0 and after.open_alarms == []
    assert audit.verify(tmp_path / "o").ok
    actions = [e["action"] for e in audit.read_entries(tmp_path / "o")]
    assert (
        actions[:2] == ["monitor", "monitor"]
        and actions[-1] == "monitor"
        and "acknowledge" in actions
    )


def test_no_original_case_id_reaches_the_outputs_and_strings_are_escaped(tmp_path: Path) -> None:
    proto = make_plan(tmp_path, title="<script>alert(1)</script> & co")
    write_month(tmp_path / "s", 1)
    run_monitor(proto, stream_dir=tmp_path / "s", out_dir=tmp_path / "o", as_of="2026-02-01")
    for name in ("monitor.json", "report.html"):
        text = (tmp_path / "o" / name).read_text()
        assert "ACC01" not in text
    html = (tmp_path / "o" / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def started(tmp_path: Path) -> tuple[Path, Path, Path]:
    proto = make_plan(tmp_path)
    s = tmp_path / "s"
    write_month(s, 1)
    run_monitor(proto, stream_dir=s, out_dir=tmp_path / "o", as_of="2026-02-01")
    return proto, s, tmp_path / "o"


def test_a_changed_batch_is_refused(started: tuple[Path, Path, Path]) -> None:
    proto, s, out = started
    f = s / "batches" / "2026-01.csv"
    f.write_text(f.read_text() + "\n")
    with pytest.raises(
        InputError,
        match=r"2026-01.csv: batch file changed since run 1 read it \(sha256 [0-9a-f]{64}, "
        r"recorded [0-9a-f]{64}\); monitoring never re-reads the past: deliver corrections as a new batch",
    ):
        run_monitor(proto, stream_dir=s, out_dir=out)


def test_a_late_case_for_a_closed_window_is_refused(started: tuple[Path, Path, Path]) -> None:
    proto, s, out = started
    late = s / "batches" / "2026-02-late.csv"
    late.write_text(
        "case_id,time,score,site,manufacturer,manufacturer_model\n"
        "NEW1,2026-02-03T10:00:00Z,0.2,Site A,Kestrel Medical,KX-700 DR\n"
        "NEW2,2026-01-31T23:00:00+00:00,0.3,Site A,Kestrel Medical,KX-700 DR\n"
    )
    with pytest.raises(
        InputError,
        match=r"2026-02-late.csv: row 2, column 'time': case 'NEW2' at "
        r"2026-01-31T23:00:00Z falls in window 2026-01, which was closed \(as of "
        r"2026-02-01T00:00:00Z\); closed windows are frozen, so late cases are refused$",
    ):
        run_monitor(proto, stream_dir=s, out_dir=out)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "case_id,time,score,site,manufacturer,manufacturer_model\nX1,yesterday,0.2,Site A,K,KX\n",
            r"row 1, column 'time': expected an ISO 8601 time \(e.g. 2026-03-01T08:30:00Z\), found 'yesterday'",
        ),
        (
            "case_id,time,score,site,manufacturer,manufacturer_model\nX1,2026-02-02,0.2,A,K,KX\nX2,2026-02-02,inf,A,K,KX\n",
            r"row 2, column 'score': expected a finite number, found 'inf'",
        ),
        (
            "case_id,time,score,site,manufacturer,manufacturer_model\nX1,2026-02-02,,A,K,KX\n",
            r"row 1, column 'score': expected a finite number, found ''",
        ),
        (
            "case_id,time,score,site,manufacturer\nX1,2026-02-02,0.2,A,K\n",
            r"production batch lacks column\(s\) 'manufacturer_model'; found \['case_id', 'time', 'score', 'site', 'manufacturer'\]",
        ),
        (
            "case_id,time,score,site,manufacturer,manufacturer_model\nX1,2026-02-02,0.2,A,K,KX\nX1,2026-02-03,0.3,A,K,KX\n",
            r"row 2, column 'case_id': duplicate case id 'X1' \(first at row 1\)",
        ),
        (
            "case_id,time,score,site,manufacturer,manufacturer_model\n,2026-02-02,0.2,A,K,KX\n",
            r"row 1, column 'case_id': expected a case id, found an empty value",
        ),
    ],
)
def test_bad_batches_name_file_row_and_column(
    started: tuple[Path, Path, Path], content: str, message: str
) -> None:
    proto, s, out = started
    (s / "batches" / "2026-02.csv").write_text(content)
    with pytest.raises(InputError, match=r"2026-02.csv: " + message):
        run_monitor(proto, stream_dir=s, out_dir=out)
    assert len(load_state(out)["runs"]) == 1  # nothing was recorded


def test_a_case_already_in_the_stream_is_refused(started: tuple[Path, Path, Path]) -> None:
    proto, s, out = started
    shutil.copy(s / "batches" / "2026-01.csv", s / "batches" / "2026-01-copy.csv")
    with pytest.raises(
        InputError,
        match=r"2026-01-copy.csv: row 1, column 'case_id': case 'ACC0100000' is already "
        r"in the stream \(batch batches/2026-01.csv\)",
    ):
        run_monitor(proto, stream_dir=s, out_dir=out)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "case_id,label\nNOPE,1\n",
            r"row 1, column 'case_id': case 'NOPE' is not in the stream \(a label must follow "
            r"its case's batch\)",
        ),
        (
            "case_id,label\nACC0100001,2\n",
            r"row 1 \(case_id 'ACC0100001'\), column 'label': expected 0 or 1, found '2'",
        ),
    ],
)
def test_bad_labels_name_file_row_and_column(
    started: tuple[Path, Path, Path], content: str, message: str
) -> None:
    proto, s, out = started
    (s / "labels" / "zz.csv").write_text(content)
    with pytest.raises(InputError, match=r"zz.csv: " + message):
        run_monitor(proto, stream_dir=s, out_dir=out)


def test_a_label_is_never_changed(started: tuple[Path, Path, Path]) -> None:
    proto, s, out = started
    first = pd.read_csv(s / "labels" / "2026-01.csv")
    cid, y = first["case_id"].iloc[0], int(first["label"].iloc[0])
    (s / "labels" / "zz.csv").write_text(f"case_id,label\n{cid},{1 - y}\n")
    with pytest.raises(
        InputError,
        match=rf"zz.csv: row 1, column 'case_id': case '{cid}' was already verified by "
        r"an earlier label file; a label is never changed",
    ):
        run_monitor(proto, stream_dir=s, out_dir=out)


def test_folder_and_plan_guards(tmp_path: Path, started: tuple[Path, Path, Path]) -> None:
    proto, s, out = started
    other = make_plan(tmp_path / "other", title="Another plan")
    with pytest.raises(
        InputError,
        match=r"was started with the monitoring protocol sha256 [0-9a-f]{64}, not "
        r"[0-9a-f]{64} .*a monitoring folder keeps the plan it started with",
    ):
        run_monitor(other, stream_dir=s, out_dir=out)
    unlocked = make_plan(tmp_path / "unlocked", lock=False)
    with pytest.raises(
        ProtocolError,
        match=r"is not locked \(no .*monitoring.yaml.lock.json\); lock the monitoring "
        r"plan before monitoring: radval monitor lock",
    ):
        run_monitor(unlocked, stream_dir=s, out_dir=tmp_path / "new")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("x")
    with pytest.raises(
        InputError, match=r"busy is not empty and holds no monitor.json \(notes.txt ...\)"
    ):
        run_monitor(proto, stream_dir=s, out_dir=busy)


def test_a_tampered_record_stops_the_next_run(started: tuple[Path, Path, Path]) -> None:
    proto, s, out = started
    record = out / "monitor.json"
    data = json.loads(record.read_text())
    data["alarms"] = []
    data["runs"][0]["n_cases"] = 0
    record.write_text(json.dumps(data))
    with pytest.raises(
        InputError,
        match=r"refusing to monitor into .*: its audit log fails verification: "
        r"monitor.json has changed since the audit log recorded it",
    ):
        run_monitor(proto, stream_dir=s, out_dir=out)


def test_cases_arrive_in_time_order_within_a_batch(tmp_path: Path) -> None:
    proto = make_plan(tmp_path)
    s = tmp_path / "s"
    frame = write_month(s, 1, labels_fraction=None)
    shuffled = frame.sample(frac=1.0, random_state=3).drop(columns=["label"])
    (s / "batches" / "2026-01.csv").unlink()
    write_csv(shuffled, s / "batches" / "2026-01.csv")
    out = run_monitor(proto, stream_dir=s, out_dir=tmp_path / "o")
    times = out.state["cases"]["time"]
    assert times == sorted(times)
    thr = 0.4
    expected = (frame.sort_values("time")["score"].to_numpy() >= thr).astype(int)
    assert len(out.state["charts"]["calls"]["values"]) == expected.size
    assert np.array_equal(np.asarray(out.state["cases"]["score"]) >= thr, expected.astype(bool))


def test_an_interrupted_commit_never_looks_complete_and_recovers(
    started: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    proto, s, out = started
    write_month(s, 2)
    before = (out / "monitor.json").read_bytes()
    real_replace = audit.os.replace

    def crash(src, dst):  # noqa: ANN001 - the rename of monitor.json.pending into place dies
        if str(src).endswith("monitor.json.pending"):
            raise KeyboardInterrupt("power cut")
        return real_replace(src, dst)

    monkeypatch.setattr(audit.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        run_monitor(proto, stream_dir=s, out_dir=out)
    monkeypatch.setattr(audit.os, "replace", real_replace)
    assert (out / "monitor.json").read_bytes() == before  # the old record is still in place
    with pytest.raises(
        InputError,
        match=r"refusing to monitor into .*a commit was interrupted; run "
        r"`radval audit recover",
    ):
        run_monitor(proto, stream_dir=s, out_dir=out)
    assert audit.recover(out) is not None
    state = load_state(out)
    assert state is not None and len(state["runs"]) == 2  # the logged run was completed by recovery
    again = run_monitor(proto, stream_dir=s, out_dir=out)
    assert again.run["n_cases_added"] == 0 and audit.verify(out).ok

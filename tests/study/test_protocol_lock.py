"""Protocol locks: hashes recorded, refusal after an edit, amendments and deviations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from validation.errors import ProtocolError
from validation.io import sha256_file
from validation.protocol.load import load_protocol
from validation.protocol.lock import (
    declare_deviation,
    lock_path_for,
    lock_protocol,
    read_lock,
    verify_lock,
)


def test_lock_records_hashes_and_is_idempotent(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    lock = lock_protocol(proto, actor="tester")
    assert lock.path == lock_path_for(proto) == proto.with_name("triage_standalone.yaml.lock.json")
    data = json.loads(lock.path.read_text())
    assert data["protocol"]["sha256"] == sha256_file(proto)
    assert data["manifest"]["sha256"] == sha256_file(layout / "data/test/manifest.csv")
    assert data["locked_by"] == "tester" and data["schema"] == "radval.lock/1"
    assert data["scores_present_at_lock"] is True
    again = lock_protocol(proto, actor="someone else")
    assert again.data == lock.data


def test_edit_after_lock_is_refused(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    lock = lock_protocol(proto)
    proto.write_text(proto.read_text().replace("value: 0.75", "value: 0.60"))
    loaded = load_protocol(proto)
    with pytest.raises(
        ProtocolError,
        match=r"does not match its lock .*: sha256 is [0-9a-f]{64}, locked [0-9a-f]{64}",
    ):
        verify_lock(loaded, read_lock(lock.path))
    with pytest.raises(ProtocolError, match=r"already locked .* pass --amend REASON"):
        lock_protocol(proto)


def test_manifest_edit_after_lock_is_refused(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    lock = lock_protocol(proto)
    manifest = layout / "data/test/manifest.csv"
    manifest.write_text(manifest.read_text().replace("C0001,", "C9999,"))
    with pytest.raises(ProtocolError, match=r"manifest .*manifest\.csv does not match the lock"):
        verify_lock(load_protocol(proto), read_lock(lock.path))


def test_amendment_keeps_history_and_declares_deviation(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    first = lock_protocol(proto)
    proto.write_text(proto.read_text().replace("value: 0.75", "value: 0.70"))
    amended = lock_protocol(proto, amend="goal corrected to the predicate's", actor="qa")
    assert amended.protocol_sha256 == sha256_file(proto)
    [am] = amended.data["amendments"]
    assert am["previous_protocol_sha256"] == first.protocol_sha256
    assert am["reason"] == "goal corrected to the predicate's"
    [dev] = amended.deviations
    assert dev["id"] == "D1" and dev["description"].startswith("Protocol amended after lock:")
    rec = declare_deviation(proto, "two cases re-read after a PACS outage", actor="qa")
    assert rec["id"] == "D2"
    assert [d["id"] for d in read_lock(amended.path).deviations] == ["D1", "D2"]
    verify_lock(load_protocol(proto), read_lock(amended.path))


def test_errors_without_a_lock(layout: Path) -> None:
    proto = layout / "protocols" / "triage_standalone.yaml"
    with pytest.raises(ProtocolError, match="no lock file .*; run `radval protocol lock` first"):
        declare_deviation(proto, "x")
    with pytest.raises(ProtocolError, match="has no lock to amend"):
        lock_protocol(proto, amend="why")
    lock_protocol(proto)
    with pytest.raises(ProtocolError, match="a deviation needs a non-empty description"):
        declare_deviation(proto, "  ")


def test_lock_before_scores_and_readings_exist(layout: Path) -> None:
    (layout / "readings" / "readings.csv").unlink()
    (layout / "scores" / "candidate.parquet").unlink()
    lock = lock_protocol(layout / "protocols" / "reader_study.yaml")
    assert lock.data["scores_present_at_lock"] is False


# --------------------------------------------------------------------------- inputs hashed at lock


def test_lock_hashes_existing_outputs_and_run_refuses_a_changed_one(layout: Path) -> None:
    import pandas as pd

    from validation.study import run_study

    proto = layout / "protocols" / "reader_study.yaml"
    scores, readings = layout / "scores" / "candidate.parquet", layout / "readings" / "readings.csv"
    lock = lock_protocol(proto, actor="tester")
    assert lock.data["inputs"] == {
        "model.scores": {"path": "../scores/candidate.parquet", "sha256": sha256_file(scores)},
        "reader_study.readings": {
            "path": "../readings/readings.csv",
            "sha256": sha256_file(readings),
        },
    }
    assert lock.data["scores_present_at_lock"] is True
    locked_sha = sha256_file(readings)
    frame = pd.read_csv(readings)
    frame.loc[0, "score"] = frame.loc[0, "score"] + 1.0
    frame.to_csv(readings, index=False)
    expected = (
        f"{proto}: reader_study.readings (file ../readings/readings.csv) changed since the lock: sha256 is "
        f"{sha256_file(readings)}, locked {locked_sha} (lock {lock.path}, locked at {lock.locked_at}); amend the "
        "lock (`radval protocol lock --amend REASON`) to record the change"
    )
    with pytest.raises(ProtocolError) as err:
        run_study(proto, out_dir=layout / "studies" / "rs", render=False)
    assert str(err.value) == expected
    assert not (layout / "studies" / "rs").exists()
    with pytest.raises(
        ProtocolError,
        match=r"locked at [^)]*\): reader_study\.readings \(file \.\./readings/readings\.csv\) changed since "
        r"the lock: sha256 is .*"
        r"pass --amend REASON",
    ):
        lock_protocol(proto)
    amended = lock_protocol(
        proto, amend="two readings re-entered after a transcription error", actor="qa"
    )
    [am] = amended.data["amendments"]
    assert am["previous_inputs"]["reader_study.readings"]["sha256"] == locked_sha
    assert amended.inputs["reader_study.readings"]["sha256"] == sha256_file(readings)
    doc = json.loads(
        run_study(proto, out_dir=layout / "studies" / "rs", render=False).results_path.read_text()
    )
    assert doc["protocol"]["lock"]["inputs_at_lock"] == {
        "model.scores": sha256_file(scores),
        "reader_study.readings": sha256_file(readings),
    }


def test_outputs_absent_at_lock_are_not_hashed_and_may_appear(layout: Path) -> None:
    import subprocess
    import sys

    scores = layout / "scores" / "candidate.parquet"
    kept = scores.read_bytes()
    scores.unlink()
    proto = layout / "protocols" / "triage_standalone.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "validation", "protocol", "lock", str(proto)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (
        "  model.scores (../scores/candidate.parquet): not present yet, not hashed"
        in r.stdout.splitlines()
    )
    lock = read_lock(lock_path_for(proto))
    assert lock.inputs == {} and lock.data["scores_present_at_lock"] is False
    scores.write_bytes(kept)  # produced after the lock: the normal order
    again = lock_protocol(proto)
    assert again.data == lock.data
    verify_lock(load_protocol(proto), again)
    lock_path_for(proto).unlink()
    r = subprocess.run(
        [sys.executable, "-m", "validation", "protocol", "lock", str(proto)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert (
        f"  model.scores sha256 {sha256_file(scores)} (../scores/candidate.parquet): hashed, exists at lock time"
        in r.stdout.splitlines()
    )
    assert r.stderr.startswith("note: model outputs already exist at lock time (model.scores)")


def test_predicted_masks_are_hashed_with_their_table(layout: Path, write_protocol) -> None:
    import numpy as np
    from study_support import SEGMENTATION, lean, make_masks

    make_masks(layout)
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    proto = write_protocol(
        "seg.yaml",
        text.replace("multiplicity:\n", SEGMENTATION + "multiplicity:\n", 1).replace(
            "order: [auc_primary, sensitivity_primary, specificity_primary]",
            "order: [auc_primary, sensitivity_primary, specificity_primary, dice_primary]",
        ),
    )
    lock = lock_protocol(proto)
    assert lock.inputs["segmentation.predicted_masks"]["n_files"] == 12
    import nibabel as nib

    mask = layout / "scores" / "seg" / "C0000.nii.gz"
    img = nib.load(str(mask))
    nib.save(nib.Nifti1Image(np.zeros(img.shape, dtype=np.uint8), img.affine), mask)
    with pytest.raises(
        ProtocolError,
        match=r"segmentation\.predicted_masks \(the predicted mask files named in "
        r"\.\./scores/seg/predictions\.csv\) changed since the lock",
    ):
        verify_lock(load_protocol(proto), read_lock(lock.path))


# --------------------------------------------------------------------------- malformed lock files


def _valid_lock(layout: Path) -> tuple[Path, Path, dict]:
    proto = layout / "protocols" / "triage_standalone.yaml"
    lock = lock_protocol(proto)
    declare_deviation(proto, "one case re-read")
    return proto, lock.path, json.loads(lock.path.read_text())


_SHA = "ab" * 32
_MALFORMED_LOCKS = [
    (
        b"{not json",
        "cannot read lock file {f}: not valid JSON (Expecting property name enclosed in double "
        "quotes at line 1 column 2)",
    ),
    (
        b'{"schema": "radval.lock/1", "locked_by": "\xff"}',
        "cannot read lock file {f}: not UTF-8 text (byte 0xff at offset 42)",
    ),
    (b"[1, 2]", "{f} is not a radval lock: expected schema 'radval.lock/1', found 'list'"),
    (
        lambda d: {k: v for k, v in d.items() if k != "manifest"},
        "lock file {f} lacks field 'manifest'",
    ),
    (
        lambda d: {**d, "protocol": "triage.yaml"},
        "lock file {f}: field 'protocol': expected an object {{path, sha256}}, found a string \"triage.yaml\"",
    ),
    (
        lambda d: {**d, "protocol": {"path": "p.yaml"}},
        "lock file {f}: field 'protocol.sha256' is missing",
    ),
    (
        lambda d: {**d, "manifest": {"path": "m.csv", "sha256": 12}},
        "lock file {f}: field 'manifest.sha256': expected a 64-digit lowercase hex sha256, found a number 12",
    ),
    (
        lambda d: {**d, "manifest": {"path": "m.csv", "sha256": "abc"}},
        "lock file {f}: field 'manifest.sha256': expected a 64-digit lowercase hex sha256, found a string \"abc\"",
    ),
    (
        lambda d: {**d, "protocol": {"path": ["p"], "sha256": _SHA}},
        "lock file {f}: field 'protocol.path': expected a string, found an array [\"p\"]",
    ),
    (
        lambda d: {**d, "locked_at": 1733300000},
        "lock file {f}: field 'locked_at': expected an ISO 8601 time string, found a number 1733300000",
    ),
    (
        lambda d: {**d, "locked_at": "yesterday"},
        "lock file {f}: field 'locked_at': expected an ISO 8601 time, found 'yesterday'",
    ),
    (
        lambda d: {**d, "locked_by": {"name": "x"}},
        'lock file {f}: field \'locked_by\': expected a string, found an object {{"name": "x"}}',
    ),
    (
        lambda d: {**d, "scores_present_at_lock": "yes"},
        "lock file {f}: field 'scores_present_at_lock': expected true/false, found a string \"yes\"",
    ),
    (
        lambda d: {**d, "deviations": "none"},
        "lock file {f}: field 'deviations': expected an array, found a string \"none\"",
    ),
    (
        lambda d: {**d, "deviations": [{"id": "D1"}]},
        "lock file {f}: field 'deviations[0].description' is missing",
    ),
    (
        lambda d: {**d, "deviations": [{**d["deviations"][0], "declared_at": None}]},
        "lock file {f}: field 'deviations[0].declared_at': expected a string, found null",
    ),
    (
        lambda d: {**d, "amendments": [7]},
        "lock file {f}: field 'amendments[0]': expected an object, found a number 7",
    ),
]


@pytest.mark.parametrize(("content", "message"), _MALFORMED_LOCKS)
def test_malformed_lock_file_is_a_located_exit_2(
    layout: Path, content, message: str, capsys
) -> None:
    from validation.cli import main

    proto, file, data = _valid_lock(layout)
    file.write_bytes(content if isinstance(content, bytes) else json.dumps(content(data)).encode())
    expected = message.format(f=file)
    with pytest.raises(ProtocolError) as info:
        read_lock(file)
    assert str(info.value) == expected
    for argv in (
        ["protocol", "check", str(proto)],
        ["run", str(proto), "--out", str(layout / "out")],
        ["protocol", "deviation", str(proto), "--description", "x"],
    ):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err == f"radval: error: {expected}\n", argv
    assert not (layout / "out").exists()

"""Audit trail: the hash chain detects edits, deletions, reordering and truncation; signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from validation import audit
from validation.audit import append_entry, sign, verify
from validation.errors import AuditError


def make_log(folder: Path, n: int = 4) -> Path:
    """``n`` entries; the first one writes results.json (as `radval run` would)."""
    results = folder / "results.json"
    results.write_text(
        json.dumps(
            {
                "protocol": {
                    "resolved": {
                        "report": {"signatories": [{"role": "Biostatistician", "required": True}]}
                    }
                }
            }
        )
    )
    for i in range(n):
        append_entry(
            folder,
            f"step{i}",
            inputs={"x": f"{i:064x}"},
            details={"i": i},
            actor="t@h",
            outputs={"results.json": audit.sha256_file(results)} if i == 0 else None,
        )
    return folder / audit.AUDIT_FILE


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_intact_chain_verifies(tmp_path: Path) -> None:
    make_log(tmp_path)
    rep = verify(tmp_path)
    assert rep.ok and rep.n_entries == 4 and rep.problems == []
    entries = audit.read_entries(tmp_path)
    assert entries[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))


def test_edit_detected(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    ls = lines(log)
    e = json.loads(ls[1])
    e["details"]["i"] = 99
    ls[1] = json.dumps(e, sort_keys=True)
    log.write_text("\n".join(ls) + "\n")
    rep = verify(tmp_path)
    assert not rep.ok
    assert rep.problems == [
        "entry 1 (line 2, action 'step1'): hash does not match its content (edited entry)"
    ]


def test_deletion_in_the_middle_detected(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    ls = lines(log)
    del ls[2]
    log.write_text("\n".join(ls) + "\n")
    rep = verify(tmp_path)
    assert not rep.ok
    assert (
        "entry 2 (line 3, action 'step3'): sequence number is 3, expected 2 (deleted or reordered entry)"
        in rep.problems
    )
    assert any("prev_hash does not match" in p for p in rep.problems)


def test_truncation_detected_by_head(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.write_text("\n".join(lines(log)[:-1]) + "\n")
    rep = verify(tmp_path)
    assert not rep.ok
    assert rep.problems[0].startswith("audit.head names entry 3 (")
    assert rep.problems[0].endswith("entries were deleted or rewritten")


def test_reordering_detected(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    ls = lines(log)
    ls[1], ls[2] = ls[2], ls[1]
    log.write_text("\n".join(ls) + "\n")
    rep = verify(tmp_path)
    assert not rep.ok
    assert any("sequence number is 2, expected 1" in p for p in rep.problems)


def test_results_changed_after_logging_detected(tmp_path: Path) -> None:
    res = tmp_path / "results.json"
    res.write_text("{}")
    append_entry(tmp_path, "run", outputs={"results.json": audit.sha256_file(res)})
    assert verify(tmp_path).ok
    res.write_text('{"verdict": "pass"}')
    rep = verify(tmp_path)
    assert rep.problems == [
        "results.json has changed since the audit log recorded it (sha256 differs)"
    ]


def test_no_append_onto_a_broken_log(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.write_text("\n".join(lines(log)[1:]) + "\n")
    with pytest.raises(AuditError, match="refusing to append to a broken audit log"):
        append_entry(tmp_path, "more")


def test_signature_record(tmp_path: Path) -> None:
    make_log(tmp_path, n=1)
    entry = sign(
        tmp_path, name="Dr. A. Reviewer", role="Biostatistician", meaning="approval", actor="a@h"
    )
    d = entry["details"]
    assert entry["action"] == "sign"
    assert (
        d["printed_name"] == "Dr. A. Reviewer"
        and d["meaning"] == "approval"
        and d["role"] == "Biostatistician"
    )
    assert entry["inputs"]["results.json"] == audit.sha256_file(tmp_path / "results.json")
    assert verify(tmp_path).ok
    with pytest.raises(
        AuditError,
        match=r"role 'Janitor' is not a signatory role of this protocol; expected one of \['Biostatistician'\]",
    ):
        sign(tmp_path, name="X", role="Janitor", meaning="approval")
    with pytest.raises(
        AuditError,
        match=r"signature meaning must be one of \['authorship', 'review', 'approval', 'responsibility'\], got 'ok'",
    ):
        sign(tmp_path, name="X", role="Biostatistician", meaning="ok")
    with pytest.raises(AuditError, match="nothing to sign"):
        sign(tmp_path / "nowhere", name="X", role="Biostatistician", meaning="review")


def test_render_record_and_edited_report(tmp_path: Path) -> None:
    make_log(tmp_path, n=1)
    report = tmp_path / "report.html"
    report.write_text("<html>v1</html>")
    entry = audit.record_render(tmp_path, report, actor="r@h")
    assert entry["outputs"] == {"report.html": audit.sha256_file(report)}
    assert verify(tmp_path).ok
    report.write_text("<html>edited</html>")
    assert verify(tmp_path).problems == [
        "report.html has changed since the audit log recorded it (sha256 differs)"
    ]
    with pytest.raises(AuditError, match="is not in the study folder"):
        audit.record_render(tmp_path, tmp_path.parent / "elsewhere.html")


# --------------------------------------------------------------------------- signatures on a real study


def _cli(*args: object) -> tuple[int, str, str]:
    import contextlib
    import io

    from validation.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def real_study(layout: Path) -> Path:
    from study_support import lean

    from validation.protocol.lock import lock_protocol
    from validation.study import run_study

    proto = layout / "protocols" / "triage_standalone.yaml"
    proto.write_text(
        lean(proto.read_text(encoding="utf-8")).replace(
            "    - role: Biostatistician\n",
            "    - role: Biostatistician\n      meaning: approval\n",
        ),
        encoding="utf-8",
    )
    lock_protocol(proto)
    return run_study(proto, out_dir=layout / "studies" / "s", render=True).study_dir


def test_sign_re_renders_the_report(real_study: Path) -> None:
    assert "Dr Q. Reviewer" not in (real_study / "report.html").read_text(encoding="utf-8")
    code, out, err = _cli(
        "sign",
        real_study,
        "--name",
        "Dr Q. Reviewer",
        "--role",
        "Biostatistician",
        "--meaning",
        "approval",
    )
    assert code == 0, err
    printed = json.loads(out)
    assert (
        printed["report"] == str(real_study / "report.html") and printed["signs"] == "results.json"
    )
    assert f"--anchor {printed['entry_hash']}" in err
    page = (real_study / "report.html").read_text(encoding="utf-8")
    assert "Dr Q. Reviewer" in page and "this version" in page
    entries = audit.read_entries(real_study)
    assert [e["action"] for e in entries[-2:]] == ["sign", "render"]
    assert entries[-1]["outputs"] == {"report.html": audit.sha256_file(real_study / "report.html")}
    assert verify(real_study).ok


def test_removing_the_last_signature_is_detected(real_study: Path) -> None:
    from validation.report.render import render_and_log

    sign(real_study, name="Dr A", role="Biostatistician", meaning="approval")
    sign(
        real_study, name="Dr C", role="Quality assurance", meaning="review"
    )  # optional in the protocol
    sign(real_study, name="Dr B", role="Clinical lead", meaning="approval")
    rep = verify(real_study)
    assert (
        rep.ok
        and rep.missing_signatures == []
        and [s["printed_name"] for s in rep.signatures] == ["Dr A", "Dr C", "Dr B"]
    )
    anchor = rep.head_hash
    assert anchor is not None
    # a thorough rewrite: drop the last signature, move the head, re-render with radval itself
    log = real_study / audit.AUDIT_FILE
    kept = log.read_text().splitlines()[:-1]
    log.write_text("\n".join(kept) + "\n")
    last = json.loads(kept[-1])
    (real_study / audit.HEAD_FILE).write_text(
        json.dumps({"seq": last["seq"], "hash": last["hash"]}) + "\n"
    )
    render_and_log(real_study)
    rep = verify(real_study)
    assert rep.ok  # the chain alone cannot tell (docs/audit.md says why) ...
    assert rep.missing_signatures == [
        "Clinical lead"
    ]  # ... the protocol's required signatories can
    code, out, _ = _cli("audit", "verify", real_study)
    assert code == 0 and out.splitlines()[-1] == (
        "sign-off: INCOMPLETE: no signature of the current results by required signatory Clinical lead"
    )
    code, _, _ = _cli("audit", "verify", real_study, "--require-signoff")
    assert code == 1
    code, _, err = _cli(
        "audit", "verify", real_study, "--anchor", anchor
    )  # ... and an external anchor can
    assert (
        code == 1
        and (
            f"{real_study}: anchor {anchor} is not an entry of the audit log: entries were removed "
            "after it or the log was rewritten"
        )
        in err
    )
    code, _, err = _cli("audit", "verify", real_study, "--anchor", "xyz")
    assert (
        code == 2
        and err
        == "radval: error: --anchor must be a 64-digit lowercase hex entry hash, got 'xyz'\n"
    )


def test_required_meaning_and_other_versions(real_study: Path) -> None:
    sign(real_study, name="Dr A", role="Biostatistician", meaning="review")
    rep = verify(real_study)
    assert (
        "Biostatistician (approval)" in rep.missing_signatures
    )  # a review is not the approval required
    sign(real_study, name="Dr A", role="Biostatistician", meaning="approval")
    assert "Biostatistician (approval)" not in verify(real_study).missing_signatures
    from validation.report.render import render_html

    page = render_html(real_study)
    assert 'Biostatistician (approval)</td><td>yes</td><td><span class="badge badge-pass">' in page

"""Fault campaign for the study folder and its audit trail (issue 13).

Classes covered, each with real processes and real file systems where the OS allows:

* concurrency: a second writer is refused while another process holds the folder;
  two simultaneous ``radval run`` into one ``--out`` give one study, not two;
* interruption: a process killed (``os._exit``, no clean-up) at each step of a run,
  of an append and of a commit never leaves a result that ``verify``, ``gate``,
  ``sign`` or ``report`` accept; ``radval audit recover`` resolves it and logs that;
* full disk: ``ENOSPC`` injected at the write layer (``os.write``/``os.fsync``) and, as
  root, a real full tmpfs: exit 2 naming the path, nothing already written damaged;
* read-only folders: a read-only mount (root) or ``chmod`` (non-root); a file where a
  folder is expected;
* malformed audit entries: non-UTF-8, not JSON, wrongly typed or missing fields.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from study_support import lean

from validation import audit
from validation.cli import main
from validation.errors import AuditError, InputError, StorageError, StudyBusyError
from validation.io import sha256_file
from validation.protocol.lock import lock_protocol
from validation.study import run_study

REPO = Path(__file__).resolve().parents[2]


def radval(*args: str | Path, setup: str = "") -> subprocess.CompletedProcess[str]:
    """``radval ARGS`` in a fresh interpreter, after running ``setup`` (fault injection)."""
    code = (
        textwrap.dedent(setup)
        + "\nimport sys\nfrom validation.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )


@pytest.fixture
def proto(layout: Path) -> Path:
    path = layout / "protocols" / "triage_standalone.yaml"
    path.write_text(lean(path.read_text(encoding="utf-8")), encoding="utf-8")
    lock_protocol(path)
    return path


@pytest.fixture
def study(proto: Path, layout: Path) -> Path:
    """A complete study folder (run and rendered), its audit log intact."""
    out = run_study(proto, out_dir=layout / "studies" / "s", render=True)
    assert audit.verify(out.study_dir).ok
    return out.study_dir


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != audit.LOCK_FILE
    }


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``radval ARGS`` in this process (the CLI's own exception policy, no interpreter start-up)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def refused_everywhere(study: Path, why: str) -> None:
    """verify (exit 2), gate, sign and report (exit 2) refuse an interrupted folder, one line each."""
    before = snapshot(study)
    r = cli("audit", "verify", study)
    code, err = r.returncode, r.stderr
    assert code == 2, err
    assert why in err and f"run `radval audit recover {study}`" in err and "Traceback" not in err
    for args in (
        ("gate", study, "--baseline", study),
        ("sign", study, "--name", "A", "--role", "Biostatistician", "--meaning", "approval"),
        ("report", study),
    ):
        r = cli(*args)
        code, err = r.returncode, r.stderr
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "refusing to" in err and "audit recover" in err, err
    assert snapshot(study) == before


# --------------------------------------------------------------------------- concurrency

HOLD = """
import sys
from validation.audit import study_lock
with study_lock(sys.argv[1], purpose="run"):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process holding a folder's lock until its stdin closes."""
    folder = tmp_path / "busy"
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert p.stdout is not None and p.stdout.readline() == "held\n"
    yield folder, p
    if p.poll() is None:
        p.communicate(timeout=30)


def test_a_folder_held_by_another_process_is_refused(
    held: tuple[Path, subprocess.Popen[str]], proto: Path
) -> None:
    folder, holder = held
    with pytest.raises(
        StudyBusyError,
        match=rf"^{folder} is in use by another radval process \(run by pid "
        rf"{holder.pid} on .+ since .+\); try again when it has finished$",
    ):
        run_study(proto, out_dir=folder, render=False)
    with pytest.raises(StudyBusyError):
        audit.append_entry(folder, "note")
    assert sorted(p.name for p in folder.iterdir()) == [audit.LOCK_FILE]
    holder.communicate(timeout=30)  # the holder ends: the OS releases its lock
    out = run_study(proto, out_dir=folder, render=False)
    assert out.results_path.is_file() and audit.verify(folder).ok


def test_lock_of_a_killed_process_is_released(tmp_path: Path, proto: Path) -> None:
    folder = tmp_path / "s"
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert p.stdout is not None and p.stdout.readline() == "held\n"
    p.kill()
    p.wait(timeout=30)
    out = run_study(proto, out_dir=folder, render=False)
    assert audit.verify(out.study_dir).ok


def test_two_simultaneous_runs_into_one_folder_give_one_study(proto: Path, layout: Path) -> None:
    out = layout / "studies" / "race"
    cmd = [sys.executable, "-m", "validation", "run", str(proto), "--out", str(out), "--no-report"]
    procs = [
        subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=180) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)[1]
    assert loser.count("\n") == 1 and (
        "is in use by another radval process" in loser or "already exists and is not empty" in loser
    ), loser
    assert [e["action"] for e in audit.read_entries(out)] == ["lock", "run"]
    assert audit.verify(out).ok


# --------------------------------------------------------------------------- interruption

KILL_BEFORE_RUN_LOGGED = """
import os
from validation import audit
_append = audit.append_entry
def append(folder, action, **kw):
    if action == "run":
        os._exit(137)
    return _append(folder, action, **kw)
audit.append_entry = append
"""

KILL_BEFORE_RESULTS_RENAMED = """
import os
_replace = os.replace
def replace(src, dst, *a, **kw):
    if str(src).endswith("results.json.pending"):
        os._exit(137)
    return _replace(src, dst, *a, **kw)
os.replace = replace
"""

KILL_BEFORE_HEAD_MOVED = """
import os
from validation import audit
audit._write_head = lambda folder, entry: os._exit(137)
"""

KILL_MID_APPEND = """
import os
_write = os.write
def write(fd, data, *a):
    if os.readlink(f"/proc/self/fd/{fd}").endswith("audit.jsonl"):
        _write(fd, bytes(data[: len(data) // 2]))
        os._exit(137)
    return _write(fd, data, *a)
os.write = write
"""


def test_kill_between_results_and_run_entry(study: Path, proto: Path) -> None:
    before = snapshot(study)
    r = radval("run", proto, "--out", study, "--force", setup=KILL_BEFORE_RUN_LOGGED)
    assert r.returncode == 137
    pending = study / "results.json.pending"
    assert snapshot(study) == before | {
        "results.json.pending": pending.read_bytes(),
        "protocol.yaml.pending": before["protocol.yaml"],
    }
    rep = audit.verify(study)
    assert rep.problems == [] and rep.interrupted == [
        "protocol.yaml.pending is a leftover copy of protocol.yaml (same sha256): a commit was interrupted",
        "results.json.pending was left by an interrupted write that was never logged "
        f"(sha256 {sha256_file(pending)}); it is not a result",
    ]
    refused_everywhere(study, "never logged")
    r = cli("audit", "recover", study)
    assert r.returncode == 0 and "recovered: uncommitted_discarded" in r.stdout, r.stdout + r.stderr
    entries = audit.read_entries(study)
    assert entries[-1]["action"] == "recover"
    assert [(a["kind"], a["file"]) for a in entries[-1]["details"]["actions"]] == [
        ("leftover_removed", "protocol.yaml.pending"),
        ("uncommitted_discarded", "results.json.pending"),
    ]
    assert not list(study.glob("*.pending"))
    assert (study / "results.json").read_bytes() == before[
        "results.json"
    ]  # the last complete run stands
    assert audit.verify(study).ok
    assert cli("run", proto, "--out", study, "--force", "--no-report").returncode == 0


def test_kill_of_a_first_run_leaves_no_result(proto: Path, layout: Path) -> None:
    out = layout / "studies" / "first"
    r = radval("run", proto, "--out", out, setup=KILL_BEFORE_RUN_LOGGED)
    assert r.returncode == 137 and not (out / "results.json").exists()
    refused_everywhere(out, "never logged")
    entry = audit.recover(out)
    assert entry is not None and audit.verify(out).ok
    assert [(a["kind"], a["file"]) for a in entry["details"]["actions"]] == [
        ("uncommitted_discarded", "protocol.yaml.pending"),
        ("commit_completed", "protocol.lock.json.pending"),  # the lock entry was logged: it stands
        ("uncommitted_discarded", "results.json.pending"),
    ]
    assert [e["action"] for e in audit.read_entries(out)] == ["lock", "recover"]
    r = cli("gate", out, "--baseline", out)
    assert (
        r.returncode == 2
        and r.stderr.startswith("radval: error: results file")
        and "does not exist" in r.stderr
    )


def test_results_name_the_entry_before_their_own(study: Path) -> None:
    entries = audit.read_entries(study)
    assert [e["action"] for e in entries[:2]] == ["lock", "run"]  # one commit, in this order
    assert (
        json.loads((study / "results.json").read_text())["audit"]["head_hash"] == entries[0]["hash"]
    )


def test_kill_between_run_entry_and_commit(study: Path, proto: Path) -> None:
    old = (study / "results.json").read_bytes()
    r = radval(
        "run", proto, "--out", study, "--force", "--no-report", setup=KILL_BEFORE_RESULTS_RENAMED
    )
    assert r.returncode == 137
    run_entry = audit.read_entries(study)[-1]
    assert run_entry["action"] == "run"
    pending = study / "results.json.pending"
    assert run_entry["outputs"]["results.json"] == sha256_file(pending) != audit.sha256_bytes(old)
    rep = audit.verify(study)
    assert rep.problems == [] and rep.interrupted == [
        f"results.json.pending holds the results.json that entry {run_entry['seq']} recorded, but it was "
        "never moved into place: a commit was interrupted"
    ]
    refused_everywhere(study, "a commit was interrupted")
    entry = audit.recover(study, actor="qa@site")
    assert entry is not None and entry["actor"] == "qa@site"
    assert entry["details"]["actions"] == [
        {
            "kind": "commit_completed",
            "file": "results.json.pending",
            "sha256": run_entry["outputs"]["results.json"],
            "entry": run_entry["seq"],
        }
    ]
    assert sha256_file(study / "results.json") == run_entry["outputs"]["results.json"]
    assert audit.verify(study).ok


def test_kill_between_append_and_head(study: Path, proto: Path) -> None:
    head = (study / audit.HEAD_FILE).read_bytes()
    r = radval(
        "sign",
        study,
        "--name",
        "Dr Q",
        "--role",
        "Biostatistician",
        "--meaning",
        "approval",
        setup=KILL_BEFORE_HEAD_MOVED,
    )
    assert r.returncode == 137 and (study / audit.HEAD_FILE).read_bytes() == head
    rep = audit.verify(study)
    assert rep.problems == []  # an honest crash is not reported as tampering
    assert rep.interrupted == [
        f"entry {rep.n_entries} (action 'sign') was written to audit.jsonl but "
        "audit.head was not moved to it: an append was interrupted"
    ]
    refused_everywhere(study, "an append was interrupted")
    r = cli("audit", "recover", study)
    assert r.returncode == 0 and "append_completed" in r.stdout
    entries = audit.read_entries(study)
    assert [e["action"] for e in entries[-2:]] == ["sign", "recover"]
    assert audit.verify(study).ok
    # the study can be signed and re-run again
    r = cli("sign", study, "--name", "Dr R", "--role", "Clinical lead", "--meaning", "approval")
    assert r.returncode == 0, r.stderr
    assert cli("run", proto, "--out", study, "--force", "--no-report").returncode == 0


def test_kill_mid_append_leaves_a_torn_line_that_recovery_removes(study: Path, proto: Path) -> None:
    log = study / audit.AUDIT_FILE
    before = log.read_bytes()
    r = radval(
        "sign",
        study,
        "--name",
        "Dr Q",
        "--role",
        "Biostatistician",
        "--meaning",
        "approval",
        setup=KILL_MID_APPEND,
    )
    assert r.returncode == 137
    torn = log.read_bytes()[len(before) :]
    assert torn and not torn.endswith(b"\n")
    n = len(before.splitlines())
    rep = audit.verify(study)
    assert rep.problems == [] and rep.interrupted == [
        f"line {n + 1} of audit.jsonl is an incomplete entry ({len(torn)} bytes) beyond audit.head: "
        "an append was interrupted"
    ]
    assert len(audit.read_entries(study)) == n  # readers skip the incomplete line
    refused_everywhere(study, "an append was interrupted")
    entry = audit.recover(study)
    assert entry is not None
    assert entry["details"]["actions"] == [
        {
            "kind": "incomplete_append_removed",
            "line": n + 1,
            "bytes": len(torn),
            "sha256": audit.sha256_bytes(torn),
            "content": torn.decode("utf-8", "backslashreplace"),
        }
    ]
    assert log.read_bytes().startswith(before) and audit.verify(study).ok
    assert audit.recover(study) is None  # nothing left to do


def test_interrupted_recovery_can_be_recovered(study: Path, proto: Path) -> None:
    r = radval(
        "run", proto, "--out", study, "--force", "--no-report", setup=KILL_BEFORE_RESULTS_RENAMED
    )
    assert r.returncode == 137
    r = radval("audit", "recover", study, setup=KILL_BEFORE_HEAD_MOVED)
    assert r.returncode == 137
    assert "an append was interrupted" in audit.verify(study).interrupted[0]
    audit.recover(study)
    assert audit.verify(study).ok
    actions = [e["action"] for e in audit.read_entries(study)]
    assert actions[-3:] == ["run", "recover", "recover"]


def test_force_on_a_broken_log_leaves_results_untouched(study: Path, proto: Path) -> None:
    log = study / audit.AUDIT_FILE
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    before = snapshot(study)
    r = cli("run", proto, "--out", study, "--force")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(
        f"radval: error: refusing to run into {study}: its audit log fails verification: "
        "entry 0 (line 1, action 'run'): sequence number is 1, expected 0"
    )
    assert snapshot(study) == before


def test_recover_refuses_tampering(study: Path) -> None:
    (study / "results.json").write_text("{}")
    with pytest.raises(
        AuditError,
        match=r"^cannot recover .*: results\.json has changed since the audit log "
        r"recorded it \(sha256 differs\) \(not explained by an interrupted write\)$",
    ):
        audit.recover(study)
    r = cli("audit", "verify", study)
    assert r.returncode == 1 and "audit: FAILED" in r.stderr


def test_unlogged_results_are_not_accepted(study: Path, proto: Path) -> None:
    # what a kill between writing results.json and logging it left before this fix
    entries = audit.read_entries(study)
    runs = [i for i, e in enumerate(entries) if e["action"] == "run"]
    keep = entries[: runs[0]]
    (study / audit.AUDIT_FILE).write_text(
        "".join(json.dumps(e, sort_keys=True) + "\n" for e in keep)
    )
    (study / audit.HEAD_FILE).write_text(
        json.dumps({"seq": keep[-1]["seq"], "hash": keep[-1]["hash"]})
    )
    rep = audit.verify(study)
    assert (
        "results.json is not recorded in the audit log: no entry wrote it, so it is not the output of "
        "a completed radval command" in rep.problems
    )
    r = cli("gate", study, "--baseline", study)
    assert r.returncode == 2 and "results.json is not recorded in the audit log" in r.stderr


# --------------------------------------------------------------------------- full disk (injected)


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.fixture
def enospc(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Make ``os.write``/``os.fsync`` fail with ENOSPC on files whose path contains ``target['path']``
    (a partial write first, as a file system does when it runs out of blocks)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to map file descriptors to paths")
    target = {"path": "\0"}
    real_write, real_fsync = os.write, os.fsync

    def write(fd: int, data: bytes) -> int:
        if target["path"] in _fd_path(fd):
            if len(data) > 8:
                return real_write(fd, bytes(data[:8]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        if target["path"] in _fd_path(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    yield target


def test_full_disk_during_the_append(
    study: Path, enospc: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(study)
    enospc["path"] = audit.AUDIT_FILE
    code = main(
        ["sign", str(study), "--name", "Dr Q", "--role", "Biostatistician", "--meaning", "approval"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err == (
        f"radval: error: cannot write {study / audit.AUDIT_FILE}: No space left on device "
        "[ENOSPC]; nothing was recorded and the log is unchanged\n"
    )
    assert snapshot(study) == before
    enospc["path"] = "\0"
    assert audit.verify(study).ok


def test_full_disk_when_moving_the_head(study: Path, enospc: dict[str, str]) -> None:
    before = snapshot(study)
    enospc["path"] = audit.HEAD_FILE  # the head's temporary file
    with pytest.raises(
        StorageError,
        match=rf"^cannot write {study / audit.HEAD_FILE}: No space left on device "
        r"\[ENOSPC\]; nothing was recorded and audit\.jsonl is unchanged$",
    ):
        audit.sign(study, name="Dr Q", role="Biostatistician", meaning="approval")
    assert snapshot(study) == before
    assert not list(study.glob(".audit.head.*"))
    enospc["path"] = "\0"
    assert audit.verify(study).ok


def test_full_disk_while_writing_results(study: Path, proto: Path, enospc: dict[str, str]) -> None:
    before = snapshot(study)
    enospc["path"] = "results.json.pending"
    with pytest.raises(
        StorageError,
        match=rf"^cannot write {study / 'results.json.pending'}: No space left on "
        r"device \[ENOSPC\]$",
    ):
        run_study(proto, out_dir=study, force=True, render=False)
    enospc["path"] = "\0"
    assert (
        snapshot(study) == before
        and not list(study.glob("*.pending"))
        and not list(study.glob(".*.tmp"))
    )
    assert audit.verify(study).ok


# --------------------------------------------------------------------------- real file systems


def _try_mount_tmpfs(where: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``where``; return why not (``None`` when mounted)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a tmpfs needs root"
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    return None if r.returncode == 0 else f"cannot mount a tmpfs here ({r.stderr.strip()})"


def _mount_tmpfs(where: Path, size: str) -> None:
    why = _try_mount_tmpfs(where, size)
    if why is not None:
        pytest.skip(f"{why}; the injected-ENOSPC tests cover this class")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "mnt"
    _mount_tmpfs(where, "1m")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_really_full_disk(study: Path, proto: Path, tmpfs: Path) -> None:
    copy = tmpfs / "study"
    shutil.copytree(study, copy)
    filler = _fill(tmpfs)
    before = snapshot(copy)
    r = radval("sign", copy, "--name", "Dr Q", "--role", "Biostatistician", "--meaning", "approval")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"cannot write {copy}" in r.stderr and "No space left on device [ENOSPC]" in r.stderr
    r = radval("run", proto, "--out", copy, "--force")
    assert (
        r.returncode == 2
        and r.stderr.count("\n") == 1
        and "No space left on device [ENOSPC]" in r.stderr
    )
    assert f"{copy}" in r.stderr
    assert snapshot(copy) == before
    assert radval("audit", "verify", copy).returncode == 0
    filler.unlink()
    r = radval("sign", copy, "--name", "Dr Q", "--role", "Biostatistician", "--meaning", "approval")
    assert r.returncode == 0, r.stderr
    assert "Dr Q" in (copy / "report.html").read_text() and audit.verify(copy).ok


# Where neither chmod (root ignores it) nor a read-only mount is available: the kernel's
# answer to a write into a read-only file system, injected at the OS layer of the subprocess.
INJECT_EROFS = """
import errno, os, sys
_root = os.path.realpath(sys.argv[-1 if sys.argv[1] == "audit" else 2])
def _inside(path):
    return os.path.realpath(os.fspath(path)).startswith(_root)
def _refuse(path):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
_open = os.open
def open_(path, flags, *a, **kw):
    if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and _inside(path):
        _refuse(path)
    return _open(path, flags, *a, **kw)
os.open = open_
for _name in ("mkdir", "replace", "rename", "unlink", "truncate"):
    def _make(real):
        def guarded(path, *a, **kw):
            if _inside(path):
                _refuse(path)
            return real(path, *a, **kw)
        return guarded
    setattr(os, _name, _make(getattr(os, _name)))
"""


def test_read_only_study_folder(study: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # chmod does not stop root: use a read-only mount
        where = tmp_path / "ro"
        why = _try_mount_tmpfs(where, "4m")
        if why is not None:
            _read_only_checks(study, setup=INJECT_EROFS)
            return
        try:
            shutil.copytree(study, where / "study")
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
            _read_only_checks(where / "study")
        finally:
            subprocess.run(["umount", "-l", str(where)], check=False)
    else:
        copy = tmp_path / "study"
        shutil.copytree(study, copy)
        for p in copy.iterdir():
            p.chmod(0o444)
        copy.chmod(0o555)
        try:
            _read_only_checks(copy)
        finally:
            copy.chmod(0o755)


def test_read_only_injected(study: Path) -> None:
    """The same checks with EROFS injected, so they run on every machine."""
    _read_only_checks(study, setup=INJECT_EROFS)


def _read_only_checks(folder: Path, setup: str = "") -> None:
    before = snapshot(folder)
    r = radval(
        "sign",
        folder,
        "--name",
        "Dr Q",
        "--role",
        "Biostatistician",
        "--meaning",
        "approval",
        setup=setup,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"radval: error: cannot write into {folder}: ")
    assert "[EROFS]" in r.stderr or "[EACCES]" in r.stderr
    r = radval("audit", "recover", folder, setup=setup)
    assert r.returncode == 2 and r.stderr.startswith(f"radval: error: cannot write into {folder}: ")
    assert snapshot(folder) == before
    r = radval("audit", "verify", folder, setup=setup)  # reading needs no write access
    assert r.returncode == 0 and r.stdout.startswith("audit: OK"), r.stderr


def test_a_file_where_a_folder_is_expected(proto: Path, study: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    r = radval("run", proto, "--out", blocker / "study")
    assert r.returncode == 2 and r.stderr == (
        f"radval: error: cannot create the study folder {blocker / 'study'}: "
        "Not a directory [ENOTDIR]\n"
    )
    r = radval("gate", study, "--baseline", study, "--out", blocker)
    assert r.returncode == 2 and r.stderr.startswith(
        f"radval: error: --out {blocker} exists and is not a folder"
    )
    # a folder where the head file should be: the append is rolled back
    before = (study / audit.AUDIT_FILE).read_bytes()
    head = study / audit.HEAD_FILE
    saved = head.read_bytes()
    head.unlink()
    head.mkdir()
    with pytest.raises(StorageError, match=rf"^cannot read {head}: Is a directory \[EISDIR\]$"):
        audit.append_entry(study, "note")
    assert (study / audit.AUDIT_FILE).read_bytes() == before
    head.rmdir()
    head.write_bytes(saved)
    assert audit.verify(study).ok


# --------------------------------------------------------------------------- malformed audit entries


def _entry(study: Path, index: int) -> dict:
    return audit.read_entries(study)[index]


def _set_line(study: Path, index: int, raw: bytes) -> None:
    log = study / audit.AUDIT_FILE
    lines = log.read_bytes().splitlines(keepends=True)
    lines[index] = raw + b"\n"
    log.write_bytes(b"".join(lines))


def _rehash(entry: dict) -> bytes:
    entry["hash"] = audit.entry_hash(entry)
    return json.dumps(entry, sort_keys=True).encode()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda e: json.dumps(e).encode().replace(b'"run"', b'"r\xff\xfen"'),
            "not valid UTF-8 (byte 0xff at column {col})",
        ),
        (
            lambda e: b"{not json",
            "not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        ),
        (lambda e: b"[1, 2]", "expected a JSON object, found array"),
        (lambda e: b"", "is empty"),
        (
            lambda e: _rehash({**e, "seq": str(e["seq"])}),
            "field 'seq' must be an integer, found string '{seq}'",
        ),
        (
            lambda e: _rehash({**e, "inputs": ["results.json"]}),
            "field 'inputs' must be an object, found array ['results.json']",
        ),
        (
            lambda e: _rehash({**e, "outputs": {"results.json": 7}}),
            "field 'outputs' must map names to 64-digit hex sha256 digests; 'results.json' maps to integer 7",
        ),
        (
            lambda e: _rehash({**e, "details": "verdict pass"}),
            "field 'details' must be an object, found string 'verdict pass'",
        ),
        (lambda e: _rehash({k: v for k, v in e.items() if k != "actor"}), "lacks field(s) 'actor'"),
        (lambda e: _rehash({**e, "note": 1}), "has unexpected field(s) 'note'"),
        (
            lambda e: json.dumps({**e, "hash": "NaN"}).encode().replace(b'"NaN"', b"NaN"),
            "not valid JSON (NaN is not valid JSON)",
        ),
    ],
)
def test_malformed_entry_is_a_located_exit_2(
    study: Path, make, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    index = next(i for i, e in enumerate(audit.read_entries(study)) if e["action"] == "run")
    e = _entry(study, index)
    raw = make(dict(e))
    _set_line(study, index, raw)
    col = raw.find(b"\xff") + 1
    expected = f"{study / audit.AUDIT_FILE}: line {index + 1}: " + message.format(
        col=col, seq=e["seq"]
    )
    with pytest.raises(AuditError) as info:
        audit.verify(study)
    assert str(info.value) == expected
    for argv in (
        ["audit", "verify", str(study)],
        [
            "sign",
            str(study),
            "--name",
            "Dr Q",
            "--role",
            "Biostatistician",
            "--meaning",
            "approval",
        ],
        ["gate", str(study), "--baseline", str(study)],
        ["report", str(study)],
    ):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err == f"radval: error: {expected}\n", argv


def test_malformed_head_is_reported(study: Path) -> None:
    (study / audit.HEAD_FILE).write_bytes(b"\xff\xfe")
    assert audit.verify(study).problems == ["audit.head is not valid JSON"]
    (study / audit.HEAD_FILE).write_text('{"seq": "3", "hash": 5}')
    assert audit.verify(study).problems == [
        "audit.head must be an object {seq: integer, hash: string}"
    ]


def test_a_planted_symlink_is_never_written_through(study: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock = study / audit.LOCK_FILE
    lock.unlink()
    lock.symlink_to(victim)
    r = cli("sign", study, "--name", "Dr Q", "--role", "Biostatistician", "--meaning", "approval")
    assert r.returncode == 2 and r.stderr.startswith(f"radval: error: cannot write into {study}: ")
    assert "[ELOOP]" in r.stderr and victim.read_text() == "precious"


def test_unreadable_results_are_a_located_exit_2(study: Path) -> None:
    from validation.results import read_results_document as load_results

    (study / "results.json").write_bytes(b'{"schema": "\xff"}')
    with pytest.raises(
        InputError,
        match=r"^cannot read results file .*results\.json: not UTF-8 text "
        r"\(invalid start byte at byte 12\)$",
    ):
        load_results(study)
    (study / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(
        InputError, match=r"^cannot read results file .*results\.json: JSON nested too deeply$"
    ):
        load_results(study)

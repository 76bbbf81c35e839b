"""Hash-chained, append-only audit trail of a study folder (R5, R21, R22).

Each study folder holds ``audit.jsonl``: one JSON object per line, each with a
sequence number, UTC time, actor, action (``lock``, ``run``, ``render``, ``sign``,
``gate``, ``recover`` ...), the sha256 of its inputs and outputs, details, the previous
entry's hash and its own hash (sha256 of the canonical JSON of every other field).
Changing, deleting or reordering any entry breaks the chain. ``audit.head`` beside it
records the last entry's sequence number and hash, so truncating the log is detected
too; print or archive that head hash elsewhere (CI logs) and pass it to
``radval audit verify --anchor`` to detect a rewrite of both files (see
``docs/audit.md`` for what a chain without such an anchor cannot prove).

Writes are crash-safe and serialised:

* **Folder lock.** Every command that writes into a study folder holds an exclusive
  ``flock`` on ``.radval.lock`` in it (:func:`study_lock`); a second writer is refused
  at once, and the OS releases the lock when a process dies. Readers (``verify``,
  ``gate``, the report) take a shared lock, so they never read a folder mid-write.
* **Atomic append.** An entry is appended with ``write`` + ``fsync``; only then is
  ``audit.head`` moved (written under a temporary name, fsynced, renamed). A failed
  write is rolled back; a crash leaves at most one entry (or one incomplete line)
  beyond the head, which :func:`verify` reports as an *interrupted append*, not as
  tampering, and :func:`recover` completes or removes (and logs that it did).
* **Atomic commit of outputs** (:func:`commit_files`). ``results.json`` and the report
  are written as ``NAME.pending``, the entry naming their sha256 is appended, and only
  then are they renamed into place. A study is complete exactly when the log records
  the file that is in place; anything else is an interrupted write that ``verify``,
  ``gate``, ``sign`` and ``report`` refuse until :func:`recover` resolves it.

Electronic signatures (:func:`sign`) are ``sign`` entries carrying the printed name,
role, meaning and time, and the sha256 of the results (and report) they sign, as
21 CFR 11.50 and 11.70 describe. radval does not authenticate the signer (11.100,
11.200 need an identity system); the OS user is recorded beside the printed name.

References
----------
21 CFR Part 11, §§ 11.10(e), 11.50, 11.70 (https://www.ecfr.gov/current/title-21/part-11).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validation.errors import AuditError, InputError, StorageError, StudyBusyError
from validation.io import (
    describe_os_error,
    fsync_dir,
    sha256_bytes,
    sha256_file,
    storage_error,
    write_bytes_atomic,
    write_text_atomic,
)
from validation.protocol.lock import current_actor, now_utc

try:  # POSIX; radval's folder lock needs flock (Linux, macOS)
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock
    fcntl = None  # type: ignore[assignment]

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
LOCK_FILE = ".radval.lock"
PENDING_SUFFIX = ".pending"
#: Files that are a folder's record: present only when a logged entry wrote them.
RECORD_FILES = ("results.json", "gate.json", "monitor.json")
#: The files radval commits into a folder (:func:`commit_files`); only their ``.pending``
#: copies are ever taken for an interrupted commit.
COMMITTED_FILES = (
    "protocol.yaml",
    "protocol.lock.json",
    "results.json",
    "report.html",
    "report.pdf",
    "gate.json",
    "monitor.json",
    "gallery.json",
)
GENESIS = "0" * 64
SIGNATURE_MEANINGS = ("authorship", "review", "approval", "responsibility")
_FIELDS = ("seq", "timestamp", "actor", "action", "inputs", "outputs", "details", "prev_hash")
_TYPES: dict[str, tuple[type, str]] = {
    "seq": (int, "an integer"),
    "timestamp": (str, "a string"),
    "actor": (str, "a string"),
    "action": (str, "a string"),
    "inputs": (dict, "an object"),
    "outputs": (dict, "an object"),
    "details": (dict, "an object"),
    "prev_hash": (str, "a string"),
    "hash": (str, "a string"),
}
_SHA = re.compile(r"[0-9a-f]{64}")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # never write through a symlink planted in the folder


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 of an entry's canonical JSON, without its ``hash`` field."""
    return sha256_bytes(_canonical({k: entry.get(k) for k in _FIELDS}))


def hash_files(paths: Mapping[str, str | Path]) -> dict[str, str]:
    """Map names to the sha256 of existing files (missing files are skipped)."""
    return {name: sha256_file(p) for name, p in paths.items() if Path(p).is_file()}


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        type(None): "null",
        int: "integer",
        float: "number",
    }.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------- the folder lock


@dataclass
class _Held:
    fd: int
    depth: int


_HELD: dict[str, _Held] = {}


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
        return f"{info['purpose']} by pid {info['pid']} on {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


@contextmanager
def study_lock(folder: str | Path, *, purpose: str, shared: bool = False) -> Iterator[None]:
    """Hold the study folder's lock (``flock`` on ``.radval.lock``) for the block.

    Writers (``shared=False``) create the folder and the lock file if needed and take an
    exclusive lock; readers take a shared lock when the lock file exists (a folder no
    radval writer ever touched, or one on read-only media, is read without it). The lock
    is never waited for: a folder in use raises :class:`StudyBusyError` naming the
    holder. Re-entrant within a process; released by the OS if the process dies.
    """
    path = Path(folder)
    key = os.path.realpath(path)
    held = _HELD.get(key)
    if held is not None:
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
        return
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock_file = path / LOCK_FILE
    if shared:
        try:
            fd = os.open(lock_file, os.O_RDONLY | _NOFOLLOW)
        except OSError:
            yield
            return
    else:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error("create the study folder", path, exc) from None
    for _attempt in range(5):
        if not shared:
            try:
                fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
            except OSError as exc:
                raise storage_error("write into", path, exc) from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fd)
            os.close(fd)
            raise StudyBusyError(
                f"{path} is in use by another radval process ({who}); "
                "try again when it has finished"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise storage_error("lock", lock_file, exc) from None
        try:  # the file may have been removed and re-created between open and flock
            same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same or shared:
            break
        os.close(fd)
    else:  # pragma: no cover - five lost races in a row
        raise StudyBusyError(f"{path} is in use by another radval process; try again")
    if not shared:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": purpose,
            "since": now_utc(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        except OSError:
            pass  # the holder's description is a courtesy; the lock itself is held
    _HELD[key] = _Held(fd, 1)
    try:
        yield
    finally:
        del _HELD[key]
        try:
            if not shared:
                os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            os.close(fd)  # closing releases the flock


# --------------------------------------------------------------------------- reading the log


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based
    start: int  # byte offset of the line
    end: int  # byte offset after it (and its newline)
    raw: bytes  # without the newline
    complete: bool  # ended with a newline
    entry: dict[str, Any] | None
    error: str | None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _entry_error(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"expected a JSON object, found {_type_name(obj)}"
    missing = [k for k in _TYPES if k not in obj]
    if missing:
        return "lacks field(s) " + ", ".join(repr(k) for k in missing)
    extra = sorted(set(obj) - set(_TYPES))
    if extra:
        return "has unexpected field(s) " + ", ".join(repr(k) for k in extra)
    for key, (kind, words) in _TYPES.items():
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            found = "null" if value is None else f"{_type_name(value)} {value!r}"
            return f"field {key!r} must be {words}, found {found}"[:300]
    for key in ("prev_hash", "hash"):
        if not _SHA.fullmatch(obj[key]):
            return f"field {key!r} must be a 64-digit lowercase hex sha256, found {obj[key]!r}"[
                :300
            ]
    for key in ("inputs", "outputs"):
        for name, digest in obj[key].items():
            if not isinstance(digest, str) or not _SHA.fullmatch(digest):
                return (
                    f"field {key!r} must map names to 64-digit hex sha256 digests; "
                    f"{name!r} maps to {_type_name(digest)} {digest!r}"
                )[:300]
    return None


def _parse_line(number: int, start: int, raw: bytes, complete: bool) -> _Line:
    end = start + len(raw) + (1 if complete else 0)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Line(
            number,
            start,
            end,
            raw,
            complete,
            None,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
        )
    if not text.strip():
        return _Line(number, start, end, raw, complete, None, "is empty")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return _Line(
            number,
            start,
            end,
            raw,
            complete,
            None,
            f"not valid JSON ({exc.msg} at column {exc.colno})",
        )
    except (ValueError, RecursionError) as exc:
        return _Line(number, start, end, raw, complete, None, f"not valid JSON ({exc})")
    problem = _entry_error(obj)
    if problem is not None:
        return _Line(number, start, end, raw, complete, None, problem)
    return _Line(number, start, end, raw, complete, obj, None)


def _scan(log: Path) -> tuple[bytes, list[_Line]]:
    try:
        data = log.read_bytes()
    except FileNotFoundError:
        return b"", []
    except OSError as exc:
        raise storage_error("read", log, exc) from None
    lines: list[_Line] = []
    start = 0
    number = 1
    while start < len(data):
        nl = data.find(b"\n", start)
        complete = nl >= 0
        stop = nl if complete else len(data)
        lines.append(_parse_line(number, start, data[start:stop], complete))
        start = stop + 1
        number += 1
    return data, lines


def _malformed(log: Path, line: _Line) -> AuditError:
    what = line.error if line.complete else "is incomplete (no newline at the end of the log)"
    return AuditError(f"{log}: line {line.number}: {what}")


def read_entries(study_dir: str | Path) -> list[dict[str, Any]]:
    """Return the audit entries of a study folder (no verification of the chain).

    A malformed line raises :class:`AuditError` naming the file and line; an incomplete
    last line (an interrupted append, see :func:`recover`) is left out.
    """
    log = Path(study_dir) / AUDIT_FILE
    _, lines = _scan(log)
    out = []
    for i, line in enumerate(lines):
        if line.entry is None:
            if i == len(lines) - 1 and not line.complete:
                break
            raise _malformed(log, line)
        out.append(line.entry)
    return out


@dataclass
class _State:
    """What the log and its head say: committed entries, and at most one interrupted append."""

    folder: Path
    size: int
    committed: list[dict[str, Any]]
    committed_end: int
    dangling: _Line | None = None  # a whole entry beyond the head that chains onto it
    torn: _Line | None = None  # an incomplete or unreadable line beyond the head
    problems: list[str] = field(default_factory=list)

    @property
    def last_hash(self) -> str:
        return str(self.committed[-1]["hash"]) if self.committed else GENESIS


def _read_head(folder: Path, problems: list[str]) -> tuple[int, str] | None:
    """The head's (seq, hash); ``None`` when missing or unreadable (a problem is noted)."""
    head_file = folder / HEAD_FILE
    try:
        raw = head_file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise storage_error("read", head_file, exc) from None
    try:
        head = json.loads(raw.decode("utf-8"))
    except ValueError:
        problems.append(f"{HEAD_FILE} is not valid JSON")
        return None
    if (
        not isinstance(head, dict)
        or not isinstance(head.get("seq"), int)
        or isinstance(head.get("seq"), bool)
        or not isinstance(head.get("hash"), str)
    ):
        problems.append(f"{HEAD_FILE} must be an object {{seq: integer, hash: string}}")
        return None
    return int(head["seq"]), str(head["hash"])


def _state(folder: Path) -> _State:
    log = folder / AUDIT_FILE
    data, lines = _scan(log)
    problems: list[str] = []
    head_present = (folder / HEAD_FILE).exists()
    head = _read_head(folder, problems)
    if head is not None:
        n_committed = head[0] + 1
        if n_committed > len(lines) or n_committed < 0:
            last = lines[-1].entry if lines and lines[-1].entry else {}
            problems.append(
                f"{HEAD_FILE} names entry {head[0]} ({head[1]}), but the log ends at entry "
                f"{len(lines) - 1} ({last.get('hash')}): entries were deleted or rewritten"
            )
            n_committed = len(lines)
    elif not head_present and len(lines) <= 1:
        n_committed = 0  # the very first append may have stopped before the head was written
    else:
        if not head_present:
            problems.append(f"{HEAD_FILE} is missing")
        n_committed = len(lines)
    committed: list[dict[str, Any]] = []
    for line in lines[:n_committed]:
        if line.entry is None or not line.complete:
            raise _malformed(log, line)
        committed.append(line.entry)
    prev = GENESIS
    for i, e in enumerate(committed):
        where = f"entry {i} (line {i + 1}, action {e.get('action')!r})"
        if e["seq"] != i:
            problems.append(
                f"{where}: sequence number is {e['seq']!r}, expected {i} (deleted or reordered "
                "entry)"
            )
        if e["prev_hash"] != prev:
            problems.append(
                f"{where}: prev_hash does not match the previous entry's hash (deleted or "
                "reordered entry)"
            )
        if e["hash"] != entry_hash(e):
            problems.append(f"{where}: hash does not match its content (edited entry)")
        prev = str(e["hash"])
    if (
        head is not None
        and committed
        and head[1] != committed[-1]["hash"]
        and not any(p.startswith(HEAD_FILE) for p in problems)
    ):
        problems.append(
            f"{HEAD_FILE} names entry {head[0]} ({head[1]}), but the log ends at entry "
            f"{len(committed) - 1} ({committed[-1]['hash']}): entries were deleted or rewritten"
        )
    state = _State(
        folder,
        len(data),
        committed,
        lines[n_committed - 1].end if n_committed else 0,
        problems=problems,
    )
    rest = lines[n_committed:]
    if len(rest) == 1:
        line = rest[0]
        tail = line.entry
        if (
            tail is not None
            and tail["seq"] == len(committed)
            and tail["prev_hash"] == state.last_hash
            and tail["hash"] == entry_hash(tail)
        ):
            state.dangling = line
        elif tail is None:
            state.torn = line
        else:
            problems.append(
                f"line {line.number} is an entry beyond {HEAD_FILE} that does not chain onto the "
                "last committed entry: it was not written by an interrupted radval append"
            )
    elif len(rest) > 1:
        problems.append(
            f"the log has {len(rest)} lines beyond {HEAD_FILE} (entry {len(committed) - 1}): "
            "entries were appended without radval or the head was rewritten"
        )
    return state


def _plain(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


@dataclass(frozen=True)
class _Pending:
    path: Path
    name: str  # the file it would become
    sha256: str
    kind: str  # "roll_forward" | "in_place" | "discard"
    seq: int | None


def _expected_files(entries: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, int, bool]]:
    """Each name's expected sha256, the entry that set it, and whether that entry wrote it.

    A file that an entry *wrote* (``outputs``) must match the latest such entry; a later
    entry that only *read* it (a render or a signature) cannot bless a changed file. A name
    that no entry wrote is expected as the latest entry that read it recorded.
    """
    written: dict[str, tuple[str, int, bool]] = {}
    read: dict[str, tuple[str, int, bool]] = {}
    for e in entries:
        for name, digest in e["inputs"].items():
            read[name] = (digest, e["seq"], False)
        for name, digest in e["outputs"].items():
            written[name] = (digest, e["seq"], True)
    return {**{k: v for k, v in read.items() if k not in written}, **written}


def _file_findings(
    folder: Path, entries: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[_Pending]]:
    """Tamper problems of the folder's files, and the pending files of interrupted commits."""
    expected = _expected_files(entries)
    pendings: list[_Pending] = []
    for name in COMMITTED_FILES:
        p = folder / (name + PENDING_SUFFIX)
        if not p.is_file():
            continue
        digest = sha256_file(p)
        want = expected.get(name)
        target = folder / name
        if (
            want is not None
            and want[0] == digest
            and target.is_file()
            and sha256_file(target) == digest
        ):
            pendings.append(_Pending(p, name, digest, "in_place", want[1]))
        elif want is not None and want[0] == digest and want[2]:
            pendings.append(_Pending(p, name, digest, "roll_forward", want[1]))
        else:
            pendings.append(_Pending(p, name, digest, "discard", None))
    rolling = {p.name for p in pendings if p.kind == "roll_forward"}
    problems: list[str] = []
    for name, (digest, seq, _written) in sorted(expected.items()):
        path = folder / name
        if not _plain(name) or name in rolling:
            continue
        if path.is_file():
            if sha256_file(path) != digest:
                problems.append(
                    f"{name} has changed since the audit log recorded it (sha256 differs)"
                )
        elif name in RECORD_FILES:
            problems.append(
                f"{name} is missing: entry {seq} of the audit log recorded it (sha256 {digest})"
            )
    for name in RECORD_FILES:
        if (folder / name).is_file() and not expected.get(name, ("", 0, False))[2]:
            problems.append(
                f"{name} is not recorded in the audit log: no entry wrote it, so it is not the "
                "output of a completed radval command"
            )
    return problems, pendings


def _describe_pending(p: _Pending) -> str:
    if p.kind == "roll_forward":
        return (
            f"{p.path.name} holds the {p.name} that entry {p.seq} recorded, but it was never moved "
            "into place: a commit was interrupted"
        )
    if p.kind == "in_place":
        return (
            f"{p.path.name} is a leftover copy of {p.name} (same sha256): a commit was interrupted"
        )
    return (
        f"{p.path.name} was left by an interrupted write that was never logged "
        f"(sha256 {p.sha256}); it is not a result"
    )


def _describe_tail(state: _State) -> list[str]:
    out = []
    if state.dangling is not None:
        e = state.dangling.entry or {}
        out.append(
            f"entry {e.get('seq')} (action {e.get('action')!r}) was written to {AUDIT_FILE} but "
            f"{HEAD_FILE} was not moved to it: an append was interrupted"
        )
    if state.torn is not None:
        out.append(
            f"line {state.torn.number} of {AUDIT_FILE} is an incomplete entry "
            f"({len(state.torn.raw)} bytes) beyond {HEAD_FILE}: an append was interrupted"
        )
    return out


# --------------------------------------------------------------------------- writing


def _append_bytes(log: Path, data: bytes, size: int) -> None:
    """Append ``data`` to ``log`` (known to be ``size`` bytes) and fsync; undo a failed write."""
    folder = log.parent
    created = not log.exists()
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o644)
    except OSError as exc:
        raise storage_error("write", log, exc) from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, size)
            except OSError:
                raise StorageError(
                    f"cannot write {log}: {describe_os_error(exc)}; an incomplete entry is left at "
                    f"its end: run `radval audit recover {folder}` when there is space again"
                ) from None
            with contextlib.suppress(OSError):
                os.fsync(fd)
            raise StorageError(
                f"cannot write {log}: {describe_os_error(exc)}; nothing was recorded and the log "
                "is unchanged"
            ) from None
    finally:
        os.close(fd)
    if created:
        fsync_dir(folder)


def _write_head(folder: Path, entry: Mapping[str, Any]) -> None:
    write_text_atomic(
        folder / HEAD_FILE, json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n"
    )


def _new_entry(
    state: _State,
    action: str,
    *,
    inputs: Mapping[str, str] | None,
    outputs: Mapping[str, str] | None,
    details: Mapping[str, Any] | None,
    actor: str | None,
    timestamp: str | None,
    seq: int | None = None,
    prev: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": len(state.committed) if seq is None else seq,
        "timestamp": timestamp or now_utc(),
        "actor": actor or current_actor(),
        "action": action,
        "inputs": dict(sorted((inputs or {}).items())),
        "outputs": dict(sorted((outputs or {}).items())),
        "details": dict(details or {}),
        "prev_hash": state.last_hash if prev is None else prev,
    }
    entry["hash"] = entry_hash(entry)
    problem = _entry_error(entry)
    if problem is not None:
        raise ValueError(f"audit entry {action!r}: {problem}")
    return entry


def _line(entry: Mapping[str, Any]) -> bytes:
    return (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def append_entry(
    study_dir: str | Path,
    action: str,
    *,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """Append one hash-chained entry to ``study_dir/audit.jsonl`` and return it.

    ``inputs``/``outputs`` map names (file names) to sha256 hex digests. The chain is
    verified before appending, so an entry is never chained onto a tampered log or onto
    an interrupted append (:func:`recover` first). The entry is written and fsynced, then
    ``audit.head`` is moved to it; if moving the head fails the entry is removed again,
    so a failure (full disk, read-only folder) raises :class:`StorageError` and leaves the
    log as it was.
    """
    folder = Path(study_dir)
    with study_lock(folder, purpose=action):
        state = _state(folder)
        log = folder / AUDIT_FILE
        if state.problems:
            raise AuditError(f"refusing to append to a broken audit log {log}: {state.problems[0]}")
        tail = _describe_tail(state)
        if tail:
            raise AuditError(
                f"refusing to append to {log}: {tail[0]}; run `radval audit recover {folder}` first"
            )
        entry = _new_entry(
            state,
            action,
            inputs=inputs,
            outputs=outputs,
            details=details,
            actor=actor,
            timestamp=timestamp,
        )
        _append_bytes(log, _line(entry), state.size)
        try:
            _write_head(folder, entry)
        except StorageError as exc:
            try:
                os.truncate(log, state.size)
            except OSError:
                raise StorageError(
                    f"{exc}; entry {entry['seq']} is in {AUDIT_FILE} but the head was not moved: "
                    f"run `radval audit recover {folder}`"
                ) from None
            raise StorageError(
                f"{exc}; nothing was recorded and {AUDIT_FILE} is unchanged"
            ) from None
        return entry


def _entry_left_behind(folder: Path) -> bool:
    """Whether a failed append left its entry beyond the head.

    Then recovery needs the pending files.
    """
    try:
        return _state(folder).dangling is not None
    except (InputError, OSError):
        return True


@dataclass(frozen=True)
class Commit:
    """One entry of :func:`commit` and the files it writes (``name -> bytes``)."""

    action: str
    files: Mapping[str, bytes]
    inputs: Mapping[str, str] | None = None
    outputs: Mapping[str, str] | None = None
    details: Mapping[str, Any] | None = None
    actor: str | None = None
    timestamp: str | None = None

    def output_hashes(self) -> dict[str, str]:
        outs = dict(self.outputs or {})
        for name, data in self.files.items():
            digest = sha256_bytes(data)
            if name not in COMMITTED_FILES:
                raise ValueError(
                    f"cannot commit {name!r} into a study folder; radval commits {COMMITTED_FILES}"
                )
            if (self.inputs or {}).get(name, digest) != digest:
                raise ValueError(
                    f"{name}: inputs name sha256 {(self.inputs or {})[name]}, the bytes have "
                    f"{digest}"
                )
            outs[name] = digest
        return outs


def next_entry(study_dir: str | Path, c: Commit) -> dict[str, Any]:
    """The entry :func:`commit` would append next for ``c`` (for a record that names its hash).

    Deterministic when ``c`` fixes its ``timestamp``; the caller must hold the folder's lock.
    """
    folder = Path(study_dir)
    if c.timestamp is None:
        raise ValueError("next_entry needs a commit with a fixed timestamp")
    return _new_entry(
        _state(folder),
        c.action,
        inputs=c.inputs,
        outputs=c.output_hashes(),
        details=c.details,
        actor=c.actor,
        timestamp=c.timestamp,
    )


def commit(study_dir: str | Path, *commits: Commit) -> list[dict[str, Any]]:
    """Write files into the study folder as one logged, atomic commit; return the entries.

    Every file of every :class:`Commit` is written (fsynced) as ``NAME.pending``; then the
    entries recording their sha256 under ``outputs`` are appended, in order; then the files
    are renamed into place. A failure before any entry is recorded removes the pending files
    and leaves the folder as it was; a crash after one leaves a state :func:`verify` reports
    as interrupted and :func:`recover` resolves (completing what the log records, discarding
    the rest). Several entries in one commit (``lock`` then ``run``) make a half-finished run
    visible as interrupted instead of as a study without results.
    """
    folder = Path(study_dir)
    if not commits:
        raise ValueError("nothing to commit")
    outs = [c.output_hashes() for c in commits]
    names = [n for c in commits for n in c.files]
    if len(set(names)) != len(names):
        raise ValueError(f"a commit writes each file once, got {names}")
    with study_lock(folder, purpose=commits[-1].action):
        written: list[Path] = []
        entries: list[dict[str, Any]] = []
        try:
            for c in commits:
                for name, data in c.files.items():
                    pending = folder / (name + PENDING_SUFFIX)
                    write_bytes_atomic(pending, data)
                    written.append(pending)
            for c, o in zip(commits, outs, strict=True):
                entries.append(
                    append_entry(
                        folder,
                        c.action,
                        inputs=dict(c.inputs or {}),
                        outputs=o,
                        details=dict(c.details or {}),
                        actor=c.actor,
                        timestamp=c.timestamp,
                    )
                )
        except Exception:
            if not entries and not _entry_left_behind(folder):
                for p in written:
                    p.unlink(missing_ok=True)
            raise
        for entry, c in zip(entries, commits, strict=True):
            for name in c.files:
                try:
                    os.replace(folder / (name + PENDING_SUFFIX), folder / name)
                except OSError as exc:
                    raise StorageError(
                        f"cannot move {folder / (name + PENDING_SUFFIX)} into place: "
                        f"{describe_os_error(exc)}; entry {entry['seq']} ({c.action}) recorded it: "
                        f"run `radval audit recover {folder}`"
                    ) from None
        fsync_dir(folder)
        return entries


def commit_files(
    study_dir: str | Path,
    action: str,
    files: Mapping[str, bytes],
    *,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """:func:`commit` of one entry: write ``files`` as ``NAME.pending``, log them, rename them."""
    return commit(study_dir, Commit(action, files, inputs, outputs, details, actor, timestamp))[0]


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`verify`.

    ``problems`` are signs of tampering (edited, deleted, reordered or unlogged content);
    ``interrupted`` are writes a crash left unfinished, which :func:`recover` resolves;
    ``signatures`` lists the ``sign`` entries and whether each signs the current record
    (``results.json`` or ``gate.json``); ``missing_signatures`` names the protocol's
    required signatories that no signature of the current record satisfies.
    """

    ok: bool
    n_entries: int
    head_hash: str | None
    problems: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    missing_signatures: list[str] = field(default_factory=list)


def record_file(folder: Path) -> Path | None:
    """The record a folder holds and signatures sign: ``results.json`` or ``gate.json``."""
    for name in RECORD_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def required_signatories(folder: Path) -> list[dict[str, Any]]:
    """``[{role, meaning}]`` the study's protocol requires (``report.signatories``, required)."""
    results = folder / "results.json"
    try:
        payload = json.loads(results.read_text(encoding="utf-8"))
        rows = payload["protocol"]["resolved"]["report"]["signatories"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(rows, list):
        return []
    return [
        {"role": str(r["role"]), "meaning": r.get("meaning")}
        for r in rows
        if isinstance(r, dict) and isinstance(r.get("role"), str) and r.get("required", True)
    ]


def _signoff(
    folder: Path, entries: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    record = record_file(folder)
    current = sha256_file(record) if record is not None else None
    sigs = []
    for e in entries:
        if e["action"] != "sign":
            continue
        d = e["details"]
        signed = e["inputs"].get(record.name) if record is not None else None
        sigs.append(
            {
                "seq": e["seq"],
                "hash": e["hash"],
                "printed_name": str(d.get("printed_name")),
                "role": str(d.get("role")),
                "meaning": str(d.get("meaning")),
                "signed_at": str(d.get("signed_at") or e["timestamp"]),
                "signs_current": current is not None and signed == current,
            }
        )
    missing = []
    for req in required_signatories(folder):
        ok = any(
            s["signs_current"]
            and s["role"] == req["role"]
            and (req["meaning"] is None or s["meaning"] == req["meaning"])
            for s in sigs
        )
        if not ok:
            missing.append(req["role"] + (f" ({req['meaning']})" if req["meaning"] else ""))
    return sigs, missing


def verify(
    study_dir: str | Path, *, check_files: bool = True, anchors: Sequence[str] = ()
) -> AuditReport:
    """Verify the audit chain of a study folder.

    Detects an edited entry (its hash no longer matches), a deleted or reordered entry
    (sequence numbers and ``prev_hash`` links break), a truncated log (``audit.head``
    names a later entry), more than one entry beyond the head, and, with ``check_files``,
    a file of the folder changed after it was logged: a file that an entry wrote must
    have the sha256 the latest entry writing it recorded (``results.json`` must exist
    once logged and must be logged to exist). Each ``anchors`` hash, recorded outside
    the folder earlier (e.g. the hash ``radval sign`` printed), must still be an entry.

    An append or commit that a crash left unfinished is reported in ``interrupted``
    (not as tampering); :func:`recover` resolves it.

    Raises
    ------
    AuditError
        No audit log, or a committed line that is not a well-formed entry (not UTF-8,
        not JSON, a missing or wrongly typed field): the message names the line.
    """
    folder = Path(study_dir)
    log = folder / AUDIT_FILE
    if not log.exists():
        raise AuditError(f"no audit log in {folder} (expected {log})")
    for a in anchors:
        if not _SHA.fullmatch(a):
            raise AuditError(f"--anchor must be a 64-digit lowercase hex entry hash, got {a!r}")
    with study_lock(folder, purpose="verify", shared=True):
        state = _state(folder)
        problems = list(state.problems)
        interrupted = _describe_tail(state)
        entries = list(state.committed)
        if state.dangling is not None and state.dangling.entry is not None:
            entries.append(state.dangling.entry)
        if check_files and not problems:
            file_problems, pendings = _file_findings(folder, entries)
            problems += file_problems
            interrupted += [_describe_pending(p) for p in pendings]
        known = {e["hash"] for e in state.committed}
        for a in anchors:
            if a not in known:
                problems.append(
                    f"anchor {a} is not an entry of the audit log: entries were removed after it "
                    "or the log was rewritten"
                )
        sigs, missing = _signoff(folder, state.committed)
    head = state.committed[-1]["hash"] if state.committed else None
    return AuditReport(
        not problems and not interrupted,
        len(state.committed),
        head,
        problems,
        interrupted,
        sigs,
        missing,
    )


def require_intact(study_dir: str | Path, doing: str) -> AuditReport:
    """Verify a folder before ``doing`` something with it; raise :class:`AuditError` if not intact.

    Refuses a folder without an audit log, a log that fails verification, and a folder
    with an interrupted write (naming ``radval audit recover``).
    """
    folder = Path(study_dir)
    if not (folder / AUDIT_FILE).exists():
        raise AuditError(
            f"refusing to {doing} {folder}: it has no audit log ({AUDIT_FILE}), so nothing in it "
            "is the logged output of a completed radval command"
        )
    rep = verify(folder)
    if rep.problems:
        raise AuditError(
            f"refusing to {doing} {folder}: its audit log fails verification: {rep.problems[0]} "
            f"(`radval audit verify {folder}` lists every problem)"
        )
    if rep.interrupted:
        raise AuditError(
            f"refusing to {doing} {folder}: {rep.interrupted[0]}; run `radval audit recover "
            f"{folder}` first"
        )
    return rep


def recover(study_dir: str | Path, *, actor: str | None = None) -> dict[str, Any] | None:
    """Resolve writes a crash left unfinished, and log what was done as a ``recover`` entry.

    * an entry written beyond ``audit.head`` that chains onto it is kept (the head moves
      past it); an incomplete line there is removed, its bytes (sha256, length, text)
      recorded in the ``recover`` entry;
    * a ``NAME.pending`` file whose sha256 the log records for ``NAME`` is moved into
      place (the commit completes); any other pending file is deleted, its sha256 logged.

    Returns the ``recover`` entry, or ``None`` when there was nothing to recover.

    Raises
    ------
    AuditError
        The log fails verification for reasons an interrupted write does not explain
        (edited, deleted or reordered entries; changed files): nothing is changed.
    """
    folder = Path(study_dir)
    log = folder / AUDIT_FILE
    if not log.exists():
        raise AuditError(f"no audit log in {folder} (expected {log})")
    with study_lock(folder, purpose="recover"):
        state = _state(folder)
        if state.problems:
            raise AuditError(
                f"cannot recover {folder}: its audit log fails verification for reasons an "
                f"interrupted write does not explain: {state.problems[0]}"
            )
        actions: list[dict[str, Any]] = []
        base = list(state.committed)
        keep = state.committed_end
        newline = b""
        if state.dangling is not None:
            e = state.dangling.entry or {}
            actions.append(
                {
                    "kind": "append_completed",
                    "entry": e["seq"],
                    "action": e["action"],
                    "hash": e["hash"],
                }
            )
            base.append(e)
            keep = state.dangling.end
            newline = b"" if state.dangling.complete else b"\n"
        if state.torn is not None:
            raw = state.torn.raw
            actions.append(
                {
                    "kind": "incomplete_append_removed",
                    "line": state.torn.number,
                    "bytes": len(raw),
                    "sha256": sha256_bytes(raw),
                    "content": raw.decode("utf-8", "backslashreplace"),
                }
            )
        file_problems, pendings = _file_findings(folder, base)
        if file_problems:
            raise AuditError(
                f"cannot recover {folder}: {file_problems[0]} (not explained by an interrupted "
                "write)"
            )
        outputs: dict[str, str] = {}
        for p in pendings:
            kind = {
                "roll_forward": "commit_completed",
                "in_place": "leftover_removed",
                "discard": "uncommitted_discarded",
            }[p.kind]
            actions.append(
                {
                    "kind": kind,
                    "file": p.path.name,
                    "sha256": p.sha256,
                    **({"entry": p.seq} if p.seq is not None else {}),
                }
            )
            if p.kind == "roll_forward":
                outputs[p.name] = p.sha256
        if not actions:
            return None
        tip = _State(folder, keep, base, keep)
        entry = _new_entry(
            tip,
            "recover",
            inputs=None,
            outputs=outputs,
            details={
                "reason": "a write was interrupted (crash, kill or full disk)",
                "actions": actions,
            },
            actor=actor,
            timestamp=None,
        )
        data = log.read_bytes()
        if state.torn is None and not newline and keep == len(data):
            _append_bytes(log, _line(entry), len(data))
        else:  # drop the incomplete tail (its bytes are in the entry) in one atomic rename
            write_bytes_atomic(log, data[:keep] + newline + _line(entry))
        _write_head(folder, entry)
        for p in pendings:
            try:
                if p.kind == "roll_forward":
                    os.replace(p.path, folder / p.name)
                else:
                    p.path.unlink()
            except OSError as exc:
                raise storage_error("recover", p.path, exc) from None
        fsync_dir(folder)
        return entry


# --------------------------------------------------------------------------- renders and signatures


def record_render(
    study_dir: str | Path, report_path: str | Path, *, actor: str | None = None
) -> dict[str, Any]:
    """Log a (re-)rendered report already in place: input ``results.json``, output the report.

    The report must lie in the study folder. :func:`validation.report.render.render_and_log`
    writes and logs a report as one commit (:func:`commit_files`); prefer it.
    """
    folder = Path(study_dir)
    report = Path(report_path)
    if report.resolve().parent != folder.resolve():
        raise AuditError(f"the report {report} is not in the study folder {folder}")
    return append_entry(
        folder,
        "render",
        inputs=hash_files({"results.json": folder / "results.json"}),
        outputs=hash_files({report.name: report}),
        details={"report": report.name},
        actor=actor,
    )


def sign(
    study_dir: str | Path,
    *,
    name: str,
    role: str,
    meaning: str,
    actor: str | None = None,
) -> dict[str, Any]:
    """Append an electronic signature record to a study's audit log (21 CFR 11.50/11.70).

    The record holds the printed name, role, meaning (``authorship``, ``review``,
    ``approval`` or ``responsibility``), the time, and the sha256 of the record it signs
    (``results.json``, or ``gate.json`` in a release-gate folder) and of ``report.html``/
    ``report.pdf`` when present. If the study's protocol lists signatory roles, ``role``
    must be one of them. The folder must verify (:func:`require_intact`). The report does
    not show the new signature until it is re-rendered (``radval sign`` does that).

    Example
    -------
    >>> sign("studies/triage", name="A. Reviewer", role="Biostatistician",
    ...      meaning="approval")  # doctest: +SKIP
    """
    folder = Path(study_dir)
    if not name.strip():
        raise AuditError("a signature needs the signer's printed name (--name)")
    if not role.strip():
        raise AuditError("a signature needs the signer's role (--role)")
    if meaning not in SIGNATURE_MEANINGS:
        raise AuditError(
            f"signature meaning must be one of {list(SIGNATURE_MEANINGS)}, got {meaning!r}"
        )
    if record_file(folder) is None and not (folder / AUDIT_FILE).exists():
        raise AuditError(f"nothing to sign: {folder / 'results.json'} does not exist")
    with study_lock(folder, purpose="sign"):
        require_intact(folder, "sign")
        record = record_file(folder)
        if record is None:
            raise AuditError(f"nothing to sign: {folder / 'results.json'} does not exist")
        roles = []
        if record.name == "results.json":
            try:
                payload = json.loads(record.read_text(encoding="utf-8"))
                rows = payload["protocol"]["resolved"]["report"]["signatories"]
                roles = [s["role"] for s in rows if isinstance(s, dict)]
            except (KeyError, TypeError, ValueError, OSError):
                roles = []
        if roles and role.strip() not in roles:
            raise AuditError(
                f"role {role!r} is not a signatory role of this protocol; expected one of {roles}"
            )
        signed = hash_files({n: folder / n for n in (record.name, "report.html", "report.pdf")})
        return append_entry(
            folder,
            "sign",
            inputs=signed,
            details={
                "printed_name": name.strip(),
                "role": role.strip(),
                "meaning": meaning,
                "signed_at": now_utc(),
                "signs": record.name + (" and report" if len(signed) > 1 else ""),
            },
            actor=actor,
        )

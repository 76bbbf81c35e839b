"""Hash-chained, append-only audit trail of a study folder (R5, R21, R22).

Each study folder holds ``audit.jsonl``: one JSON object per line, each with a
sequence number, UTC time, actor, action (``lock``, ``run``, ``render``, ``sign`` ...),
the sha256 of its inputs and outputs, details, the previous entry's hash and its own
hash (sha256 of the canonical JSON of every other field). Changing, deleting or
reordering any entry breaks the chain. ``audit.head`` beside it records the last
entry's sequence number and hash, so truncating the log is detected too; print or
archive that head hash elsewhere (CI logs) to detect a rewrite of both files.

Electronic signatures (:func:`sign`) are ``sign`` entries carrying the printed name,
role, meaning and time, and the sha256 of the results (and report) they sign, as
21 CFR 11.50 and 11.70 describe. radval does not authenticate the signer (11.100,
11.200 need an identity system); the OS user is recorded beside the printed name.

References
----------
21 CFR Part 11, §§ 11.10(e), 11.50, 11.70 (https://www.ecfr.gov/current/title-21/part-11).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validation.errors import InputError
from validation.io import sha256_bytes, sha256_file, write_text_atomic
from validation.protocol.lock import current_actor, now_utc

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
GENESIS = "0" * 64
SIGNATURE_MEANINGS = ("authorship", "review", "approval", "responsibility")
_FIELDS = ("seq", "timestamp", "actor", "action", "inputs", "outputs", "details", "prev_hash")


class AuditError(InputError):
    """An audit log is missing, unreadable or fails verification."""


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of an entry's canonical JSON, without its ``hash`` field."""
    return sha256_bytes(_canonical({k: entry.get(k) for k in _FIELDS}))


def _read_lines(study_dir: Path) -> list[str]:
    log = study_dir / AUDIT_FILE
    if not log.exists():
        return []
    return log.read_text(encoding="utf-8").splitlines()


def read_entries(study_dir: str | Path) -> list[dict[str, Any]]:
    """Return the audit entries of a study folder (no verification)."""
    out = []
    for i, line in enumerate(_read_lines(Path(study_dir)), start=1):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AuditError(f"{Path(study_dir) / AUDIT_FILE}: line {i} is not JSON ({exc.msg})") from None
    return out


def hash_files(paths: dict[str, str | Path]) -> dict[str, str]:
    """Map names to the sha256 of existing files (missing files are skipped)."""
    return {name: sha256_file(p) for name, p in paths.items() if Path(p).is_file()}


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

    ``inputs``/``outputs`` map names (file names) to sha256 hex digests. The log is
    verified before appending, so an entry is never chained onto a tampered log.
    """
    folder = Path(study_dir)
    folder.mkdir(parents=True, exist_ok=True)
    entries = read_entries(folder)
    if entries:
        report = verify(folder, check_files=False)
        if not report.ok:
            raise AuditError(
                f"refusing to append to a broken audit log {folder / AUDIT_FILE}: {report.problems[0]}"
            )
    prev = entries[-1]["hash"] if entries else GENESIS
    entry: dict[str, Any] = {
        "seq": len(entries),
        "timestamp": timestamp or now_utc(),
        "actor": actor or current_actor(),
        "action": action,
        "inputs": dict(sorted((inputs or {}).items())),
        "outputs": dict(sorted((outputs or {}).items())),
        "details": details or {},
        "prev_hash": prev,
    }
    entry["hash"] = entry_hash(entry)
    line = json.dumps(entry, sort_keys=True, ensure_ascii=False)
    # Append-only: the existing bytes are never rewritten.
    with open(folder / AUDIT_FILE, "a", encoding="utf-8", newline="\n") as handle:
        handle.write(line + "\n")
        handle.flush()
    write_text_atomic(folder / HEAD_FILE, json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n")
    return entry


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`verify`."""

    ok: bool
    n_entries: int
    head_hash: str | None
    problems: list[str] = field(default_factory=list)


def verify(study_dir: str | Path, *, check_files: bool = True) -> AuditReport:
    """Verify the audit chain of a study folder.

    Detects an edited entry (its hash no longer matches), a deleted or reordered entry
    (sequence numbers and ``prev_hash`` links break), a truncated log (``audit.head``
    names a later entry) and, with ``check_files``, a results file changed after it
    was last logged: a file of the study folder named in an entry's inputs or outputs
    (``results.json``, ``protocol.yaml``, ``report.html`` ...) must have the sha256 the
    latest entry naming it recorded.
    """
    folder = Path(study_dir)
    log = folder / AUDIT_FILE
    if not log.exists():
        raise AuditError(f"no audit log in {folder} (expected {log})")
    problems: list[str] = []
    entries: list[dict[str, Any]] = []
    for i, line in enumerate(_read_lines(folder), start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {i}: not valid JSON")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {i}: expected a JSON object")
            continue
        entries.append(obj)
    prev = GENESIS
    for i, e in enumerate(entries):
        where = f"entry {i} (line {i + 1}, action {e.get('action')!r})"
        if e.get("seq") != i:
            problems.append(f"{where}: sequence number is {e.get('seq')!r}, expected {i} (deleted or reordered entry)")
        if e.get("prev_hash") != prev:
            problems.append(f"{where}: prev_hash does not match the previous entry's hash (deleted or reordered entry)")
        if e.get("hash") != entry_hash(e):
            problems.append(f"{where}: hash does not match its content (edited entry)")
        prev = str(e.get("hash"))
    head_hash = entries[-1].get("hash") if entries else None
    head_file = folder / HEAD_FILE
    if head_file.exists():
        try:
            head = json.loads(head_file.read_text(encoding="utf-8"))
            if head.get("hash") != head_hash or head.get("seq") != len(entries) - 1:
                problems.append(
                    f"{HEAD_FILE} names entry {head.get('seq')} ({head.get('hash')}), but the log ends at "
                    f"entry {len(entries) - 1} ({head_hash}): entries were deleted or rewritten"
                )
        except (json.JSONDecodeError, AttributeError):
            problems.append(f"{HEAD_FILE} is not valid JSON")
    else:
        problems.append(f"{HEAD_FILE} is missing")
    if check_files and not problems:
        latest: dict[str, str] = {}
        for e in entries:
            for name, digest in {**(e.get("inputs") or {}), **(e.get("outputs") or {})}.items():
                latest[name] = digest
        for name, digest in sorted(latest.items()):
            path = folder / name
            if path.is_file() and sha256_file(path) != digest:
                problems.append(f"{name} has changed since the audit log recorded it (sha256 differs)")
    return AuditReport(not problems, len(entries), head_hash, problems)


def record_render(study_dir: str | Path, report_path: str | Path, *, actor: str | None = None) -> dict[str, Any]:
    """Log a (re-)rendered report: input ``results.json``, output the report file.

    The report must lie in the study folder; call this after every render.
    """
    folder = Path(study_dir)
    report = Path(report_path)
    if report.resolve().parent != folder.resolve():
        raise AuditError(f"the report {report} is not in the study folder {folder}")
    return append_entry(
        folder, "render",
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
    ``approval`` or ``responsibility``), the time, and the sha256 of ``results.json``
    (and ``report.html``/``report.pdf`` when present) it signs. If the study's protocol
    lists signatory roles, ``role`` must be one of them.

    Example
    -------
    >>> sign("studies/triage", name="A. Reviewer", role="Biostatistician",
    ...      meaning="approval")  # doctest: +SKIP
    """
    folder = Path(study_dir)
    results = folder / "results.json"
    if not results.is_file():
        raise AuditError(f"nothing to sign: {results} does not exist")
    if not name.strip():
        raise AuditError("a signature needs the signer's printed name (--name)")
    if meaning not in SIGNATURE_MEANINGS:
        raise AuditError(f"signature meaning must be one of {list(SIGNATURE_MEANINGS)}, got {meaning!r}")
    report = verify(folder)
    if not report.ok:
        raise AuditError(f"refusing to sign: the audit log of {folder} fails verification: {report.problems[0]}")
    try:
        payload = json.loads(results.read_text(encoding="utf-8"))
        roles = [s["role"] for s in payload["protocol"]["resolved"]["report"]["signatories"]]
    except (KeyError, TypeError, json.JSONDecodeError):
        roles = []
    if roles and role not in roles:
        raise AuditError(f"role {role!r} is not a signatory role of this protocol; expected one of {roles}")
    signed = hash_files(
        {n: folder / n for n in ("results.json", "report.html", "report.pdf")}
    )
    return append_entry(
        folder,
        "sign",
        inputs=signed,
        details={
            "printed_name": name.strip(),
            "role": role.strip(),
            "meaning": meaning,
            "signed_at": now_utc(),
            "signs": "results.json" + (" and report" if len(signed) > 1 else ""),
        },
        actor=actor,
    )

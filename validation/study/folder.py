"""The study folder: refuse what must not be overwritten, hold its lock, commit the evidence.

A run holds the folder's lock (:func:`validation.audit.study_lock`) from start to end and
commits its outputs atomically through the audit log: ``results.json`` is written as
``results.json.pending``, the ``run`` audit entry records its sha256, and only then is it
renamed into place (:func:`validation.audit.commit`). An interrupted run therefore never
leaves a ``results.json`` that the audit log does not record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from validation import __version__, audit
from validation.errors import ProtocolError, StudyExistsError
from validation.io import sha256_bytes
from validation.protocol.load import LoadedProtocol
from validation.protocol.lock import Lock, now_utc
from validation.results import RESULTS_FILE, dumps_results

__all__ = ["commit_study", "locked_folder", "prepare_folder"]


def prepare_folder(out_dir: Path, *, force: bool) -> None:
    """Refuse a folder that holds a study (unless ``force``) or whose audit log is broken.

    Nothing is computed or written before this check, so a refused run leaves an earlier
    ``results.json`` exactly as it was.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise StudyExistsError(f"output path {out_dir} exists and is not a folder")
    if out_dir.exists() and any(p.name != audit.LOCK_FILE for p in out_dir.iterdir()) and not force:
        raise StudyExistsError(
            f"study folder {out_dir} already exists and is not empty; pass --force to re-run "
            "into it (the audit log is kept and the re-run is recorded)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / audit.AUDIT_FILE).exists():
        audit.require_intact(out_dir, "run into")


@contextlib.contextmanager
def locked_folder(out_dir: str | Path) -> Iterator[Path]:
    """Hold the study folder's lock; remove a folder this run created if the run fails early.

    A second run into the same folder is refused while the first holds it.
    """
    folder = Path(out_dir).resolve()
    if folder.exists() and not folder.is_dir():
        raise StudyExistsError(f"output path {folder} exists and is not a folder")
    created = not folder.exists()
    with audit.study_lock(folder, purpose="run"):
        try:
            yield folder
        except BaseException:
            with contextlib.suppress(OSError):
                if created and [p.name for p in folder.iterdir()] == [audit.LOCK_FILE]:
                    (folder / audit.LOCK_FILE).unlink()
                    folder.rmdir()
            raise


def _lock_commit(
    study_dir: Path, lock: Lock, entries: list[dict[str, Any]], actor: str | None
) -> audit.Commit | None:
    """The audit commit that copies the protocol's lock into the folder, when it is new."""
    lock_bytes = lock.path.read_bytes()
    logged = [e["outputs"].get("protocol.lock.json") for e in entries if e.get("action") == "lock"]
    if logged and logged[-1] == sha256_bytes(lock_bytes):
        return None
    first = not logged
    details = {
        "locked_at": lock.locked_at,
        "locked_by": lock.data.get("locked_by"),
        "deviations": len(lock.deviations),
    }
    if not first:
        details["updated"] = "the lock was amended or a deviation declared"
    return audit.Commit(
        "lock",
        {"protocol.lock.json": lock_bytes},
        inputs={"protocol.yaml": lock.protocol_sha256, "manifest": lock.manifest_sha256},
        details=details,
        actor=str(lock.data.get("locked_by") or "unknown") if first else actor,
        timestamp=lock.locked_at if first else now_utc(),
    )


def commit_study(
    study_dir: Path,
    document: dict[str, Any],
    *,
    loaded: LoadedProtocol,
    lock: Lock | None,
    run_inputs: dict[str, str],
    force: bool,
    actor: str | None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Commit ``results.json`` with a byte copy of the protocol (and its lock) in one step.

    ``extra_files`` (e.g. the gallery's ``gallery.json``) are written in the same entry.

    The document's ``audit.head_hash`` is set to the last entry before the run's own (a
    lock entry committed with the run counts); the lock entry (when new), the run entry,
    then the files move into place.
    """
    protocol_bytes = loaded.path.read_bytes()
    if sha256_bytes(protocol_bytes) != loaded.sha256:
        raise ProtocolError(f"protocol {loaded.path} changed while the study ran; run it again")
    entries = audit.read_entries(study_dir)
    head_hash = entries[-1]["hash"] if entries else None
    commits = []
    lock_commit = _lock_commit(study_dir, lock, entries, actor) if lock is not None else None
    if lock_commit is not None:
        commits.append(lock_commit)
        head_hash = audit.next_entry(study_dir, lock_commit)["hash"]
    document["audit"]["head_hash"] = head_hash
    text = dumps_results(document)
    commits.append(
        audit.Commit(
            "run",
            {
                "protocol.yaml": protocol_bytes,
                RESULTS_FILE: text.encode("utf-8"),
                **dict(extra_files or {}),
            },
            inputs=run_inputs,
            details={
                "verdict": document["verdict"]["decision"],
                "seed": document["seed"],
                "radval_version": __version__,
                "forced": bool(force),
                "locked": lock is not None,
            },
            actor=actor,
        )
    )
    logged = audit.commit(study_dir, *commits)
    if len(logged) == 2 and logged[0]["hash"] != head_hash:
        raise RuntimeError(
            f"the lock entry's hash {logged[0]['hash']} is not the one results.json names"
        )
    return study_dir / RESULTS_FILE

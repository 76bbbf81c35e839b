"""Protocol locks: the protocol's and the manifest's hashes, recorded before the run.

``radval protocol lock FILE`` writes ``FILE.lock.json`` beside the protocol. A lock
records the sha256 of the protocol bytes and of the test-set manifest, the time and
who locked it (R2, R5), the sha256 of the model cards the protocol names (a card can carry
the operating threshold), and the sha256 of every input file that already exists
(:func:`lockable_inputs`: scores, readings, detection marks and lesions, segmentation
predictions and their mask files), so that an output present at lock time cannot be
swapped afterwards. :func:`verify_lock` refuses a protocol, a manifest, a model card or a hashed input
whose content no longer matches. A locked protocol can only change through an *amendment*
(``--amend REASON``), which keeps the previous hashes and is recorded as a deviation;
deviations from the plan (``radval protocol deviation``) are appended to the lock
with their declaration time, and the study runner copies them into ``results.json``.
"""

from __future__ import annotations

import getpass
import json
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from validation import __version__
from validation.errors import ProtocolError
from validation.io import sha256_bytes, sha256_file, write_text_atomic
from validation.protocol.load import LoadedProtocol, load_protocol

LOCK_SCHEMA = "radval.lock/1"


def now_utc() -> str:
    """Current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def current_actor() -> str:
    """``user@host`` of the current process (attribution for locks and audit entries)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def lock_path_for(protocol_path: str | Path) -> Path:
    """The lock file that belongs to a protocol: ``<protocol>.lock.json`` beside it."""
    p = Path(protocol_path)
    return p.with_name(p.name + ".lock.json")


@dataclass(frozen=True)
class Lock:
    """A protocol lock as stored on disk (see the module docstring)."""

    path: Path
    data: dict[str, Any]

    @property
    def protocol_sha256(self) -> str:
        """Locked sha256 of the protocol file."""
        return str(self.data["protocol"]["sha256"])

    @property
    def manifest_sha256(self) -> str:
        """Locked sha256 of the manifest."""
        return str(self.data["manifest"]["sha256"])

    @property
    def locked_at(self) -> str:
        """When the protocol was (last) locked."""
        return str(self.data["locked_at"])

    @property
    def inputs(self) -> dict[str, Any]:
        """Input files hashed at lock time: ``{YAML path: {path, sha256}}`` (those that existed)."""
        raw = self.data.get("inputs")
        return dict(raw) if isinstance(raw, dict) else {}

    @property
    def deviations(self) -> list[dict[str, Any]]:
        """Declared deviations, oldest first."""
        return list(self.data.get("deviations", []))

    def summary(self) -> dict[str, Any]:
        """The ``protocol.lock`` record of ``results.json``."""
        return {
            "protocol_sha256": self.protocol_sha256,
            "manifest_sha256": self.manifest_sha256,
            "locked_at": self.locked_at,
            "locked_by": self.data.get("locked_by"),
            "lock_sha256": sha256_file(self.path),
            "scores_present_at_lock": bool(self.data.get("scores_present_at_lock", False)),
            "inputs_at_lock": {
                k: v.get("sha256") for k, v in self.inputs.items() if isinstance(v, dict)
            },
            "amendments": list(self.data.get("amendments", [])),
            "model_cards": dict(self.data.get("model_cards") or {}),
        }


_SHA256 = re.compile(r"[0-9a-f]{64}")
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _found(value: Any) -> str:
    if value is None:
        return "null"
    return f"{_JSON_TYPES.get(type(value), type(value).__name__)} {json.dumps(value)[:80]}"


def _lock_problem(data: dict[str, Any]) -> str | None:
    """The first structural problem of a lock document (``field: expected ..., found ...``)."""
    for key in ("protocol", "manifest", "locked_at"):
        if key not in data:
            return f"lacks field {key!r}"
    for key in ("protocol", "manifest"):
        part = data[key]
        if not isinstance(part, dict):
            return f"field {key!r}: expected an object {{path, sha256}}, found {_found(part)}"
        if "sha256" not in part:
            return f"field '{key}.sha256' is missing"
        if not isinstance(part["sha256"], str) or not _SHA256.fullmatch(part["sha256"]):
            return f"field '{key}.sha256': expected a 64-digit lowercase hex sha256, found {_found(part['sha256'])}"
        if "path" in part and not isinstance(part["path"], str):
            return f"field '{key}.path': expected a string, found {_found(part['path'])}"
    if not isinstance(data["locked_at"], str):
        return f"field 'locked_at': expected an ISO 8601 time string, found {_found(data['locked_at'])}"
    try:
        datetime.fromisoformat(data["locked_at"])
    except ValueError:
        return f"field 'locked_at': expected an ISO 8601 time, found {data['locked_at']!r}"
    if data.get("locked_by") is not None and not isinstance(data["locked_by"], str):
        return f"field 'locked_by': expected a string, found {_found(data['locked_by'])}"
    if "scores_present_at_lock" in data and not isinstance(data["scores_present_at_lock"], bool):
        return f"field 'scores_present_at_lock': expected true/false, found {_found(data['scores_present_at_lock'])}"
    records = {
        "deviations": ("id", "description", "declared_at", "declared_by"),
        "amendments": (
            "previous_protocol_sha256",
            "previous_manifest_sha256",
            "previous_locked_at",
            "reason",
            "amended_at",
            "amended_by",
        ),
    }
    for key, fields in records.items():
        rows = data.get(key, [])
        if not isinstance(rows, list):
            return f"field {key!r}: expected an array, found {_found(rows)}"
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                return f"field '{key}[{i}]': expected an object, found {_found(row)}"
            for name in fields:
                if name not in row:
                    return f"field '{key}[{i}].{name}' is missing"
                if not isinstance(row[name], str):
                    return (
                        f"field '{key}[{i}].{name}': expected a string, found {_found(row[name])}"
                    )
    return None


def read_lock(path: str | Path) -> Lock:
    """Read a lock file; raise :class:`ProtocolError` if it is missing or malformed.

    Every field radval reads is checked (type, sha256 format, ISO time), so a damaged or
    hand-edited lock is reported with the file and field, never as a traceback.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ProtocolError(f"no lock file {file}; run `radval protocol lock` first") from None
    except OSError as exc:
        raise ProtocolError(f"cannot read lock file {file}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"cannot read lock file {file}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"cannot read lock file {file}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise ProtocolError(
            f"cannot read lock file {file}: not valid JSON (nested too deeply)"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != LOCK_SCHEMA:
        raise ProtocolError(
            f"{file} is not a radval lock: expected schema {LOCK_SCHEMA!r}, "
            f"found {data.get('schema') if isinstance(data, dict) else type(data).__name__!r}"
        )
    problem = _lock_problem(data)
    if problem is not None:
        raise ProtocolError(
            f"lock file {file}{'' if problem.startswith('lacks') else ':'} {problem}"
        )
    return Lock(file, data)


def _write(lock_file: Path, data: dict[str, Any]) -> Lock:
    write_text_atomic(lock_file, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return Lock(lock_file, data)


#: Inputs that are model outputs (their presence at lock time is reported); the lesion
#: truth is hashed too but is part of the test set, not an output.
OUTPUT_INPUTS = (
    "model.scores",
    "baseline.scores",
    "detection.marks",
    "segmentation.predictions",
    "segmentation.predicted_masks",
    "reader_study.readings",
    "measurement.measurements",
)


def lockable_inputs(loaded: LoadedProtocol) -> list[tuple[str, str]]:
    """``(YAML path, declared path)`` of every input file a lock hashes when it exists.

    Model scores (model and baseline), reader-study readings, detection marks and lesion
    truth, the segmentation predictions table, the truthing file and the measurements; the
    predicted mask files that table names are hashed together as
    ``segmentation.predicted_masks`` (see :func:`masks_digest`).
    """
    p = loaded.protocol
    out: list[tuple[str, str]] = []
    for key, ref in (("model", p.model), ("baseline", p.baseline)):
        if ref is not None and ref.scores is not None:
            out.append((f"{key}.scores", ref.scores))
    if p.reader_study is not None:
        out.append(("reader_study.readings", p.reader_study.readings))
    if p.detection is not None:
        out += [("detection.marks", p.detection.marks), ("detection.lesions", p.detection.lesions)]
    if p.segmentation is not None:
        out += [
            ("segmentation.predictions", p.segmentation.predictions),
            ("segmentation.predicted_masks", p.segmentation.predictions),
        ]
    if p.test_set.truthing is not None:
        out.append(("test_set.truthing.file", p.test_set.truthing.file))
    if p.measurement is not None:
        out.append(("measurement.measurements", p.measurement.measurements))
    return out


def masks_digest(loaded: LoadedProtocol) -> tuple[str, int] | None:
    """One sha256 over the predicted mask files the segmentation predictions table names.

    The digest is the sha256 of the lines ``<mask_path>\t<sha256 of the file>`` (sorted by
    path, mask paths as written in the table, relative to its folder); files that do not
    exist contribute ``<mask_path>\t-``. Returns ``(digest, number of files)``, or ``None``
    when there is no segmentation block or its table cannot be read (the table's own hash
    and ``radval protocol check`` cover that case).
    """
    seg = loaded.protocol.segmentation
    if seg is None:
        return None
    table = loaded.resolve(seg.predictions)
    assert table is not None
    if not table.is_file():
        return None
    import pandas as pd

    column = (seg.columns or {}).get("mask_path", "mask_path")
    try:
        frame = (
            pd.read_parquet(table)
            if table.suffix.lower() in (".parquet", ".pq")
            else pd.read_csv(table)
        )
    except Exception:  # noqa: BLE001 - an unreadable table is reported by `protocol check`
        return None
    if column not in frame.columns:
        return None
    lines = []
    for rel in sorted({str(v) for v in frame[column] if isinstance(v, str) and v.strip()}):
        path = table.parent / rel
        lines.append(f"{rel}\t{sha256_file(path) if path.is_file() else '-'}\n")
    return sha256_bytes("".join(lines).encode("utf-8")), len(lines)


def hash_inputs(loaded: LoadedProtocol) -> dict[str, dict[str, Any]]:
    """``{YAML path: {path, sha256}}`` of the lockable inputs that exist now."""
    out: dict[str, dict[str, Any]] = {}
    for key, rel in lockable_inputs(loaded):
        if key == "segmentation.predicted_masks":
            got = masks_digest(loaded)
            if got is not None and got[1] > 0:
                out[key] = {"path": rel, "sha256": got[0], "n_files": got[1]}
            continue
        path = loaded.resolve(rel)
        if path is not None and path.is_file():
            out[key] = {"path": rel, "sha256": sha256_file(path)}
    return out


def _changed_inputs(loaded: LoadedProtocol, locked: dict[str, Any]) -> list[str]:
    """Messages for every input hashed at lock time that is gone or has changed since."""
    now = hash_inputs(loaded)
    out = []
    for key, rec in sorted(locked.items()):
        if not isinstance(rec, dict):
            continue
        what = (
            "the predicted mask files named in" if key == "segmentation.predicted_masks" else "file"
        )
        cur = now.get(key)
        if cur is None:
            out.append(
                f"{key} ({what} {rec.get('path')}) was hashed at lock time but is no longer there"
            )
        elif cur["sha256"] != rec.get("sha256") or cur.get("path") != rec.get("path"):
            out.append(
                f"{key} ({what} {cur['path']}) changed since the lock: sha256 is {cur['sha256']}, "
                f"locked {rec.get('sha256')}"
            )
    return out


def _model_cards(loaded: LoadedProtocol) -> dict[str, dict[str, Any]]:
    """The model cards the protocol names, hashed (a card can carry the operating threshold)."""
    out: dict[str, dict[str, Any]] = {}
    for role in ("model", "baseline"):
        ref = getattr(loaded.protocol, role)
        if ref is None or ref.card is None:
            continue
        path = loaded.resolve(ref.card)
        assert path is not None
        out[role] = {"path": ref.card, "sha256": sha256_file(path)}
    return out


def _what_changed(
    previous: Lock,
    protocol_sha: str,
    manifest_sha: str,
    changed: list[str],
    cards: dict[str, dict[str, Any]],
) -> list[str]:
    """One clause per thing that differs from the lock, in a fixed order."""
    what = []
    if previous.protocol_sha256 != protocol_sha:
        what.append("the protocol has changed since")
    if previous.manifest_sha256 != manifest_sha:
        what.append("the test-set manifest has changed since")
    what.extend(changed)
    locked_cards = previous.data.get("model_cards") or {}
    for role in sorted(set(locked_cards) | set(cards)):
        name = "model card" if role == "model" else f"{role} model card"
        if role not in cards:
            what.append(f"the {name} is no longer named")
        elif locked_cards.get(role) != cards[role]:
            what.append(f"the {name} has changed since")
    return what


def lock_protocol(
    protocol_path: str | Path,
    *,
    amend: str | None = None,
    actor: str | None = None,
    lock_path: str | Path | None = None,
) -> Lock:
    """Lock a protocol: record its sha256, its manifest's sha256, the time and the actor.

    Re-locking an unchanged protocol returns the existing lock. Locking a protocol
    whose content changed since its lock requires ``amend`` (the reason), which keeps
    the previous hashes under ``amendments`` and declares a deviation.

    Parameters
    ----------
    protocol_path : path
        The protocol YAML; it must be valid and name an existing manifest.
    amend : str, optional
        Reason for amending an already locked protocol.
    actor : str, optional
        Who locks (default ``user@host``).
    lock_path : path, optional
        Where to write the lock (default :func:`lock_path_for`).

    Returns
    -------
    Lock

    Example
    -------
    >>> lock = lock_protocol("protocols/triage.yaml")  # doctest: +SKIP
    >>> lock.protocol_sha256  # doctest: +SKIP
    """
    loaded = load_protocol(protocol_path)
    manifest = loaded.resolve(loaded.protocol.test_set.manifest)
    assert manifest is not None
    manifest_sha = sha256_file(manifest)
    inputs = hash_inputs(loaded)
    cards = _model_cards(loaded)
    target = Path(lock_path) if lock_path is not None else lock_path_for(loaded.path)
    who = actor or current_actor()
    when = now_utc()
    previous = read_lock(target) if target.exists() else None
    if previous is not None:
        changed = _changed_inputs(loaded, previous.inputs)
        same = (
            previous.protocol_sha256 == loaded.sha256
            and previous.manifest_sha256 == manifest_sha
            and not changed
            and (previous.data.get("model_cards") or {}) == cards
        )
        if same:
            return previous
        if amend is None or not amend.strip():
            what = _what_changed(previous, loaded.sha256, manifest_sha, changed, cards)
            raise ProtocolError(
                f"{loaded.path} is already locked ({target}, locked at {previous.locked_at}): "
                f"{'; '.join(what)}; pass --amend REASON to amend the lock"
            )
        data = dict(previous.data)
        amendments = list(data.get("amendments", []))
        amendments.append(
            {
                "previous_protocol_sha256": previous.protocol_sha256,
                "previous_manifest_sha256": previous.manifest_sha256,
                "previous_inputs": previous.inputs,
                "previous_locked_at": previous.locked_at,
                "reason": amend.strip(),
                "amended_at": when,
                "amended_by": who,
            }
        )
        deviations = list(data.get("deviations", []))
        deviations.append(
            {
                "id": f"D{len(deviations) + 1}",
                "description": f"Protocol amended after lock: {amend.strip()}",
                "declared_at": when,
                "declared_by": who,
            }
        )
        data.update(amendments=amendments, deviations=deviations)
    else:
        if amend is not None:
            raise ProtocolError(f"{loaded.path} has no lock to amend ({target} does not exist)")
        data = {"schema": LOCK_SCHEMA, "deviations": [], "amendments": []}
    data.update(
        {
            "protocol": {"path": loaded.path.name, "sha256": loaded.sha256},
            "manifest": {"path": loaded.protocol.test_set.manifest, "sha256": manifest_sha},
            "study": {"id": loaded.protocol.study.id, "version": loaded.protocol.study.version},
            "locked_at": when,
            "locked_by": who,
            "radval_version": __version__,
            "inputs": inputs,
            "scores_present_at_lock": any(k in OUTPUT_INPUTS for k in inputs),
            "model_cards": cards,
        }
    )
    return _write(target, data)


def declare_deviation(
    protocol_path: str | Path,
    description: str,
    *,
    actor: str | None = None,
    lock_path: str | Path | None = None,
) -> dict[str, Any]:
    """Append a declared deviation from the locked plan to the protocol's lock.

    Returns the deviation record ``{id, description, declared_at, declared_by}``.
    """
    if not description or not description.strip():
        raise ProtocolError("a deviation needs a non-empty description")
    target = Path(lock_path) if lock_path is not None else lock_path_for(protocol_path)
    lock = read_lock(target)
    data = dict(lock.data)
    deviations = list(data.get("deviations", []))
    record = {
        "id": f"D{len(deviations) + 1}",
        "description": description.strip(),
        "declared_at": now_utc(),
        "declared_by": actor or current_actor(),
    }
    deviations.append(record)
    data["deviations"] = deviations
    _write(target, data)
    return record


def verify_lock(loaded: LoadedProtocol, lock: Lock) -> str:
    """Check that the protocol and its manifest still match the lock; return the manifest sha256.

    Raises
    ------
    ProtocolError
        When either hash differs (the message gives both values).
    """
    if loaded.sha256 != lock.protocol_sha256:
        raise ProtocolError(
            f"protocol {loaded.path} does not match its lock {lock.path}: sha256 is {loaded.sha256}, "
            f"locked {lock.protocol_sha256} at {lock.locked_at}; amend the lock "
            "(`radval protocol lock --amend REASON`) to record the change"
        )
    manifest = loaded.resolve(loaded.protocol.test_set.manifest)
    assert manifest is not None
    actual = sha256_file(manifest)
    if actual != lock.manifest_sha256:
        raise ProtocolError(
            f"manifest {manifest} does not match the lock {lock.path}: sha256 is {actual}, "
            f"locked {lock.manifest_sha256} at {lock.locked_at}"
        )
    changed = _changed_inputs(loaded, lock.inputs)
    if changed:
        raise ProtocolError(
            f"{loaded.path}: {'; '.join(changed)} (lock {lock.path}, locked at {lock.locked_at}); "
            "amend the lock (`radval protocol lock --amend REASON`) to record the change"
        )
    for role, locked in (lock.data.get("model_cards") or {}).items():
        ref = getattr(loaded.protocol, role, None)
        card = loaded.resolve(ref.card) if ref is not None and ref.card is not None else None
        found = sha256_file(card) if card is not None and card.is_file() else None
        if found != locked.get("sha256"):
            raise ProtocolError(
                f"model card {card or locked.get('path')} ({role}.card) does not match the lock "
                f"{lock.path}: sha256 is {found or 'absent'}, locked {locked.get('sha256')} at "
                f"{lock.locked_at}; the card fixes the operating threshold, so it cannot change "
                "after the lock (amend the lock to record the change)"
            )
    return actual

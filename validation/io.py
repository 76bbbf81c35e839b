"""Small file helpers shared by every layer: hashing, atomic writes, contained paths.

An atomic write goes to a temporary file beside the target, is flushed and fsynced, and
is then renamed over the target (and the folder fsynced), so a reader sees the old file
or the new one, never a part. A failure of the file system (a full disk, a read-only
folder, a file where a folder is expected) raises :class:`validation.errors.StorageError`
naming the path; any earlier file is left as it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from validation.errors import InputError, StorageError

_CHUNK = 1 << 20


def describe_os_error(exc: OSError) -> str:
    """``strerror [ENAME]`` of an OS error (its path left out: callers name the path)."""
    if exc.errno is None:
        return str(exc)
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    return f"{exc.strerror or os.strerror(exc.errno)} [{name}]"


def storage_error(action: str, path: str | os.PathLike[str], exc: OSError) -> StorageError:
    """A :class:`StorageError` for ``action`` (``write``, ``read`` ...) on ``path``."""
    return StorageError(f"cannot {action} {path}: {describe_os_error(exc)}")


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """fsync a folder so that a rename inside it survives a crash (best effort).

    Some file systems refuse ``fsync`` on a directory (EINVAL, EBADF); that is ignored.
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: object) -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    A crash or an exception while writing leaves any earlier file untouched and no
    partial file behind. An OS error of the write itself (``ENOSPC``, ``EROFS``, ``EACCES``,
    a file where the folder should be ...) raises :class:`StorageError` naming ``path``;
    other exceptions raised by the caller's block propagate unchanged.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise storage_error("write", target, exc) from None
    ours = {None, tmp, str(target), str(target.parent)}
    try:
        with open(tmp, mode, **kwargs) as handle:  # type: ignore[call-overload]
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file 0600; give the result the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename in ours:  # the write itself failed, not something the caller's block did
            raise storage_error("write", target, exc) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def path_escape_reason(
    root: str | os.PathLike[str], value: str, *, folder: str = "the table's folder"
) -> str | None:
    """Why ``value`` is not a safe relative path inside ``root``; ``None`` when it is.

    The one rule for every path a user's table names (a manifest's ``path`` and
    ``mask_path``, a predictions table's ``mask_path``, a reference-mask column): it
    must be relative (no POSIX or Windows absolute path, drive or UNC share), must not
    use ``..``, must not contain a NUL character, and must still lie inside ``root``
    once symbolic links are resolved. Nothing is read: only the path is resolved.
    ``folder`` names ``root`` in the reason (``"the manifest's folder"``).

    Examples
    --------
    >>> path_escape_reason("/data", "images/a.dcm") is None
    True
    >>> path_escape_reason("/data", "../etc/passwd", folder="the manifest's folder")
    "expected a path inside the manifest's folder, found '../etc/passwd' (it uses '..')"
    """
    if "\x00" in value:
        return f"expected a path inside {folder}, found {value!r} (it contains a NUL character)"
    if (
        PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).is_absolute()
        or PureWindowsPath(value).drive
        or value.startswith(("\\", "/"))
    ):
        return f"expected a path relative to {folder}, found absolute path '{value}'"
    if ".." in re.split(r"[\\/]", value):
        return f"expected a path inside {folder}, found '{value}' (it uses '..')"
    base = Path(root)
    try:
        resolved = (base / value).resolve()
        resolved.relative_to(base.resolve())
    except ValueError:
        return (
            f"expected a path inside {folder}, found '{value}' (a symbolic link leads outside it)"
        )
    except RuntimeError:  # Python < 3.13 reports a symbolic-link loop so
        return f"expected a path inside {folder}, found '{value}' (a symbolic-link loop)"
    except OSError as exc:  # a symbolic-link loop (Python >= 3.13), a name too long
        return f"expected a path inside {folder}, found '{value}' ({exc.strerror or exc})"
    return None


def resolve_inside(
    root: str | os.PathLike[str], value: str, *, where: str, folder: str = "the table's folder"
) -> Path:
    """``root / value`` when :func:`path_escape_reason` finds it safe; else :class:`InputError`.

    ``where`` locates the value for the message (``"scores.csv: row 3 (case_id 'c1'),
    column 'mask_path'"``); the returned path is ``root / value`` (symbolic links inside
    ``root`` are kept as they are).
    """
    reason = path_escape_reason(root, value, folder=folder)
    if reason is not None:
        raise InputError(f"{where}: {reason}")
    return Path(root) / value

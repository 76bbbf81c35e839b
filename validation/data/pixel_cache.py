"""A content-addressed, on-disk cache of decoded DICOM pixels, shared between runs and models.

Decoding a compressed 512x512 DICOM costs 2-36 ms on one CPU core, a small classifier's
forward pass well under one: ``radval predict`` is decode-bound. :class:`PixelCache` keeps
two stages of a DICOM on disk: the output of :func:`validation.data.dicom.read_dicom`
(float32 pixels and the pixel spacing; stage :data:`DECODED`), shared by every model with
the same decode settings, and each distinct preprocessing chain's input tensor (stage =
the chain's canonical description, see
:func:`validation.modeling.datamodule.preprocessing_key`), so that a second scoring run
of the same test set skips both the decoder and the preprocessing.

Safety
------
* **Content-addressed.** The key is the sha256 of the DICOM file's *bytes* (hashed on
  every lookup, never trusted from a manifest), the decode parameters
  (``apply_voi_lut``, ``frame``), the stage and the decoder's identity (cache format,
  radval, pydicom, numpy, codec plugin, torch and MONAI versions). A changed file, other
  settings or another library version give another key, so an entry is never stale.
* **Atomic writes.** An entry is written to a temporary file in the cache folder and
  renamed into place; a reader sees a whole entry or none. Two processes writing the
  same key write the same bytes.
* **Integrity checked on read.** Every entry stores the sha256 of its payload and the
  key it was written for; a truncated, bit-flipped or misplaced entry is detected,
  deleted and decoded again (counted in :attr:`CacheStats.corrupt`), never used.
* **No unpickling.** Entries are a JSON header plus raw array bytes.
* **Size limit with eviction.** When the folder grows past ``max_bytes``, the least
  recently used entries (by modification time, refreshed on every hit) are deleted
  until it is below 90 % of the limit.

Why not MONAI's ``PersistentDataset`` / ``CacheDataset``: ``CacheDataset`` holds items in
the memory of one process and is gone after the run; ``PersistentDataset`` keys its
files by a hash of the *data dictionary* (the file path, not its content, so an edited
file is served stale), stores them with ``torch.save`` (pickle), checks no integrity,
has no size limit and caches the whole deterministic chain of one model (so two models
with different preprocessing share nothing). Decoded pixels are what every model of a
run shares; the per-model preprocessing after them is cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from validation.data.dicom import read_dicom
from validation.errors import InputError
from validation.io import storage_error

__all__ = ["DECODED", "CacheStats", "PixelCache", "decoder_identity"]

#: Bump when the entry layout or the meaning of the cached pixels changes.
CACHE_FORMAT = "radval.pixelcache/1"
#: The ``stage`` of decoded-pixel entries (other stages hold preprocessed tensors).
DECODED = "decoded"
_MAGIC = b"RVPC1\n"
_SUFFIX = ".rvpc"


def decoder_identity() -> dict[str, str]:
    """Versions of the libraries that decide decoded pixel values (part of every key)."""
    from importlib import metadata

    out = {"format": CACHE_FORMAT}
    for dist in (
        "radval",
        "pydicom",
        "numpy",
        "pylibjpeg",
        "pylibjpeg-libjpeg",
        "pylibjpeg-openjpeg",
        "pylibjpeg-rle",
        "pyjpegls",
        "pillow",
        "torch",
        "monai",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


@dataclass
class CacheStats:
    """Counters of one :class:`PixelCache` object (one process)."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    written: int = 0
    evicted: int = 0


class PixelCache:
    """Decoded-pixel cache in ``folder`` (created if needed), at most ``max_bytes`` on disk.

    Parameters
    ----------
    folder
        The cache folder; may be shared by concurrent runs and processes.
    max_bytes
        Size limit of the folder's entries; ``None`` for no limit.

    Examples
    --------
    >>> cache = PixelCache("/tmp/radval-cache", max_bytes=8 << 30)  # doctest: +SKIP
    >>> pixels, spacing = cache.get_or_decode(
    ...     "case1.dcm", apply_voi_lut=False, frame=None
    ... )  # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike[str], *, max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise InputError(f"cache size limit: expected a positive byte count, found {max_bytes}")
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._identity = decoder_identity()
        self._used: int | None = None  # this process's running estimate of the folder size
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error("create the pixel cache folder", self.folder, exc) from None

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get a copy with their own counters and size estimate.
        state = dict(self.__dict__)
        state["stats"] = CacheStats()
        state["_used"] = None
        return state

    # ------------------------------------------------------------------ keys and paths

    def key(
        self,
        file_sha256: str,
        *,
        apply_voi_lut: bool,
        frame: int | None,
        stage: str = DECODED,
    ) -> str:
        """The entry key: sha256 of the file hash, decode parameters, stage and decoder identity.

        ``stage`` is :data:`DECODED` for decoded pixels, else a canonical description of
        the preprocessing applied after decoding (its entries hold the preprocessed
        tensor).
        """
        payload = {
            "file_sha256": file_sha256,
            "apply_voi_lut": bool(apply_voi_lut),
            "frame": frame,
            "stage": stage,
            "decoder": self._identity,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        """Where the entry of ``key`` lives (two-level fan-out)."""
        return self.folder / key[:2] / f"{key}{_SUFFIX}"

    # ------------------------------------------------------------------ read / write

    def get(self, key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The cached ``(array, meta)`` of ``key``; ``None`` when absent or corrupt.

        A corrupt entry (wrong magic, bad header, payload hash or key mismatch) is
        deleted and counted in ``stats.corrupt``.
        """
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        entry = _parse(data, key)
        if entry is None:
            self.stats.corrupt += 1
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least-recently-used order for eviction
        return entry

    def put(self, key: str, pixels: np.ndarray, meta: dict[str, Any]) -> None:
        """Store an array and a JSON-able ``meta`` dict atomically; evict when over the limit.

        A full or read-only disk is not an error of the run: the entry is skipped.
        """
        arr = np.ascontiguousarray(pixels)
        payload = arr.tobytes()
        header = {
            "key": key,
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "meta": meta,
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
        head = json.dumps(header, sort_keys=True).encode()
        blob = _MAGIC + len(head).to_bytes(4, "little") + head + payload
        path = self.path_for(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        self.stats.written += 1
        if self.max_bytes is not None:
            if self._used is None:
                self._used = self.size_bytes()
            else:
                self._used += len(blob)
            if self._used > self.max_bytes:
                self.prune()

    def get_or_decode(
        self, path: str | os.PathLike[str], *, apply_voi_lut: bool, frame: int | None
    ) -> tuple[np.ndarray, tuple[float, float] | None]:
        """``(pixels, pixel_spacing)`` of a DICOM file: from the cache, else decoded and stored.

        Decoding errors (:class:`~validation.errors.DicomReadError`) propagate and
        nothing is stored.
        """

        def decode() -> tuple[np.ndarray, dict[str, Any]]:
            image = read_dicom(path, apply_voi_lut=apply_voi_lut, frame=frame)
            sp = image.header.pixel_spacing
            return image.pixels, {"spacing": None if sp is None else [float(v) for v in sp]}

        pixels, meta = self.get_or_compute(
            path, apply_voi_lut=apply_voi_lut, frame=frame, stage=DECODED, compute=decode
        )
        sp = meta["spacing"]
        return pixels, None if sp is None else (float(sp[0]), float(sp[1]))

    def get_or_compute(
        self,
        path: str | os.PathLike[str],
        *,
        apply_voi_lut: bool,
        frame: int | None,
        stage: str,
        compute: Callable[[], tuple[np.ndarray, dict[str, Any]]],
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The ``(array, meta)`` of a file at ``stage``: cached, else ``compute()``d and stored.

        The file's bytes are hashed on every call. An unreadable file is not an error
        here: ``compute`` runs (and raises what it raises without a cache). Errors of
        ``compute`` propagate and nothing is stored.
        """
        try:
            with open(path, "rb") as handle:
                file_sha = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            return compute()
        key = self.key(file_sha, apply_voi_lut=apply_voi_lut, frame=frame, stage=stage)
        hit = self.get(key)
        if hit is not None:
            self.stats.hits += 1
            return hit
        self.stats.misses += 1
        array, meta = compute()
        self.put(key, array, meta)
        return array, meta

    # ------------------------------------------------------------------ size limit

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        for sub in self.folder.iterdir() if self.folder.is_dir() else ():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for entry in sub.iterdir():
                if entry.suffix != _SUFFIX:
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, entry))
        return out

    def size_bytes(self) -> int:
        """Total size of the entries now in the folder."""
        return sum(size for _, size, _ in self._entries())

    def prune(self) -> int:
        """Delete least recently used entries until under 90 % of ``max_bytes``.

        Returns the number of entries deleted.
        """
        if self.max_bytes is None:
            return 0
        entries = sorted(self._entries(), key=lambda e: e[0])
        total = sum(size for _, size, _ in entries)
        target = int(self.max_bytes * 0.9)
        removed = 0
        for _, size, path in entries:
            if total <= target:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
            total -= size
        self.stats.evicted += removed
        self._used = total
        return removed


def _parse(data: bytes, key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Decode and verify an entry; ``None`` when anything is off."""
    n = len(_MAGIC)
    if len(data) < n + 4 or data[:n] != _MAGIC:
        return None
    size = int.from_bytes(data[n : n + 4], "little")
    try:
        header = json.loads(data[n + 4 : n + 4 + size])
        payload = data[n + 4 + size :]
        if header["key"] != key:
            return None
        if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
            return None
        dtype = np.dtype(header["dtype"])
        if dtype.hasobject:
            return None
        shape = tuple(int(s) for s in header["shape"])
        arr = np.frombuffer(payload, dtype=dtype).reshape(shape).copy()
        meta = header["meta"]
        if not isinstance(meta, dict):
            return None
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return arr, meta

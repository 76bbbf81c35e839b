"""Resumable score writing: one shard per batch group, merged into one Parquet file.

:class:`ShardWriter` is a Lightning ``BasePredictionWriter``. Each rank writes, for every
batch group it scores, one Parquet shard ``group-NNNNNNNN.parquet`` (atomically, so a
shard on disk is always complete) in the parts folder ``<out>.parts/``; segmentation
masks go to ``<out stem>_masks/<case>.nii.gz`` first. A crash or kill leaves finished
shards behind and a rerun scores only the groups without one. When all groups are
present, :func:`merge_shards` concatenates them in group order, drops the duplicates
DDP padding creates (by ``case_id``), checks that every manifest case is either scored
or listed as a failure, and writes the final file with its provenance in the Parquet
key-value metadata (key ``radval``).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from lightning.pytorch.callbacks import BasePredictionWriter, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from validation.errors import DicomReadError
from validation.io import atomic_open, write_bytes_atomic
from validation.tables import write_csv_rows

__all__ = [
    "ImagesProgressBar",
    "ShardWriter",
    "group_shard_name",
    "mask_file_name",
    "merge_shards",
    "read_scores_metadata",
]

METADATA_KEY = b"radval"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
_GROUP = re.compile(r"^group-(\d{8})\.parquet$")


def group_shard_name(group: int) -> str:
    """File name of a batch group's shard."""
    return f"group-{group:08d}.parquet"


def done_groups(parts: Path) -> set[int]:
    """Groups whose shard exists in ``parts`` (shards are written atomically)."""
    if not parts.is_dir():
        return set()
    found = set()
    for entry in parts.iterdir():
        m = _GROUP.match(entry.name)
        if m:
            found.add(int(m.group(1)))
    return found


def mask_file_name(case_id: str) -> str:
    """A file-system-safe mask file name for a case (the id itself when it is safe)."""
    if _SAFE.match(case_id):
        return f"{case_id}.nii.gz"
    import hashlib

    return f"case-{hashlib.sha256(case_id.encode()).hexdigest()[:20]}.nii.gz"


def _shard_schema(task: str) -> pa.Schema:
    value = (
        pa.field("score", pa.float64())
        if task == "classification"
        else pa.field("mask_path", pa.string())
    )
    return pa.schema(
        [
            pa.field("case_id", pa.string()),
            value,
            pa.field("row", pa.int64()),
            pa.field("error", pa.string()),
        ]
    )


def _write_mask(path: Path, mask: np.ndarray) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(np.ascontiguousarray(mask.astype(np.uint8)), np.eye(4))
    img.header.set_data_dtype(np.uint8)
    # gzip embeds a timestamp; nibabel's to_bytes of an uncompressed image is
    # deterministic, and we compress with mtime=0 so reruns give identical bytes.
    import gzip

    raw = img.to_bytes()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw)
    write_bytes_atomic(path, buf.getvalue())


class ShardWriter(BasePredictionWriter):
    """Write one shard per batch group; stop or carry on at a failed case (``on_error``)."""

    def __init__(
        self,
        *,
        parts: Path,
        task: str,
        masks_dir: Path | None,
        mask_prefix: str,
        on_error: str,
        merge: Any = None,
    ) -> None:
        super().__init__(write_interval="batch")
        self.parts = parts
        self.task = task
        self.masks_dir = masks_dir
        self.mask_prefix = mask_prefix
        self.on_error = on_error
        self.merge = merge

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        group = int(prediction["group"])
        failures = prediction["failures"]
        if failures and self.on_error == "stop":
            f = failures[0]
            raise DicomReadError(
                f"case {f['case_id']!r} (manifest row {f['row']}) could not be scored: "
                f"{f['error']} (--on-error stop; rerun resumes after the last finished group)"
            )
        ids: list[str] = list(prediction["case_id"])
        rows: dict[str, list[Any]] = {"case_id": [], "row": [], "error": []}
        if self.task == "classification":
            values: list[Any] = [float(s) for s in prediction["score"]]
        else:
            assert self.masks_dir is not None
            values = []
            for cid, mask in zip(ids, prediction["mask"], strict=True):
                name = mask_file_name(cid)
                _write_mask(self.masks_dir / name, mask)
                values.append(f"{self.mask_prefix}/{name}")
        rows["case_id"] = ids + [f["case_id"] for f in failures]
        rows["row"] = [None] * len(ids) + [int(f["row"]) for f in failures]
        rows["error"] = [None] * len(ids) + [str(f["error"]) for f in failures]
        key = "score" if self.task == "classification" else "mask_path"
        rows[key] = values + [None] * len(failures)
        table = pa.table(rows, schema=_shard_schema(self.task))
        with atomic_open(self.parts / group_shard_name(group), "wb") as handle:
            pq.write_table(table, handle)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Every rank has written its shards; rank 0 merges while the others wait.
        trainer.strategy.barrier("radval-shards-written")
        if trainer.is_global_zero and self.merge is not None:
            self.merge(trainer)
        trainer.strategy.barrier("radval-merged")


def merge_shards(
    *,
    parts: Path,
    out: Path,
    task: str,
    case_ids: tuple[str, ...],
    n_groups: int,
    metadata: dict[str, Any],
    failures_csv: Path,
) -> dict[str, Any]:
    """Merge group shards into the final scores file; return the metadata written.

    Rows come in manifest order (group order, then order within a group); duplicates
    from DDP padding are dropped by ``case_id``. Every manifest case must appear exactly
    once, scored or failed.
    """
    missing = [g for g in range(n_groups) if not (parts / group_shard_name(g)).exists()]
    if missing:
        raise RuntimeError(
            f"{parts}: shards of {len(missing)} batch group(s) are missing "
            f"(first: {missing[:5]}); rerun to score them"
        )
    tables = [pq.read_table(parts / group_shard_name(g)) for g in range(n_groups)]
    frame = pa.concat_tables(tables).to_pandas()
    frame = frame.drop_duplicates(subset="case_id", keep="first")
    got = set(frame["case_id"])
    expected = set(case_ids)
    if got != expected:
        raise RuntimeError(
            f"{parts}: shards hold {len(got)} cases, the manifest {len(expected)} "
            f"({len(expected - got)} missing, {len(got - expected)} unexpected)"
        )
    order = {c: i for i, c in enumerate(case_ids)}
    frame = frame.assign(_o=frame["case_id"].map(order)).sort_values("_o")
    failed = frame[frame["error"].notna()]
    scored = frame[frame["error"].isna()]
    key = "score" if task == "classification" else "mask_path"
    failures = [
        {"case_id": str(c), "row": int(r), "error": str(e)}
        for c, r, e in zip(failed["case_id"], failed["row"], failed["error"], strict=True)
    ]
    meta = dict(metadata)
    meta.update(
        {
            "n_cases": len(case_ids),
            "n_scored": len(scored),
            "n_failed": len(failures),
            "failures": failures,
        }
    )
    value_type = pa.float64() if task == "classification" else pa.string()
    schema = pa.schema(
        [pa.field("case_id", pa.string()), pa.field(key, value_type)],
        metadata={METADATA_KEY: json.dumps(meta, sort_keys=True).encode()},
    )
    table = pa.table({"case_id": list(scored["case_id"]), key: list(scored[key])}, schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_bytes_atomic(out, sink.getvalue().to_pybytes())
    if failures:
        write_csv_rows(
            ("case_id", "row", "error"),
            [(str(f["case_id"]), f["row"], str(f["error"])) for f in failures],
            failures_csv,
        )
    elif failures_csv.exists():
        failures_csv.unlink()
    shutil.rmtree(parts, ignore_errors=True)
    return meta


def read_scores_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``radval`` provenance block of a scores file written by ``radval predict``."""
    schema = pq.read_schema(path)
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    return dict(json.loads(raw))


class ImagesProgressBar(TQDMProgressBar):
    """The prediction progress bar counted in images (so tqdm shows images/s), on stderr."""

    def __init__(self, total_images: int) -> None:
        super().__init__()
        self.total_images = total_images

    def init_predict_tqdm(self) -> Tqdm:
        return Tqdm(
            desc="Scoring",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0.1,
            unit="img",
            total=self.total_images,
        )

    def on_predict_batch_start(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self.has_dataloader_changed(dataloader_idx):
            return
        self.predict_progress_bar.reset(total=self.total_images)
        self.predict_progress_bar.set_description("Scoring")

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.predict_progress_bar is not None and not self.is_disabled:
            n = len(batch["case_id"]) + len(batch["failures"])
            self.predict_progress_bar.update(n)

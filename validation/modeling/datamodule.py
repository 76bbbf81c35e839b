"""Data loading for training and scoring: manifest rows -> MONAI transforms -> batches.

* :func:`build_transforms` turns a spec's ``preprocessing`` (and, for training, its
  ``training.augment``) into a MONAI dictionary-transform chain. DICOMs are read with
  :func:`validation.data.dicom.read_dicom`, lesion masks (NIfTI) with nibabel.
* :class:`ManifestDataModule` is the ``LightningDataModule`` used by ``radval train``
  (MONAI ``CacheDataset`` optional) and by ``radval predict``.
* Scoring iterates over **batch groups**: fixed, consecutive runs of ``batch_size``
  manifest rows. A group is decoded in one worker and is one model batch, so every case
  is always scored in the same company whatever the device count, the interruption
  point or the resume — this is what makes resumed and DDP runs give byte-identical
  scores. A case that fails to load is carried in the group's ``failures`` (never
  dropped) instead of its image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from monai import transforms as mt
from monai.data import CacheDataset, MetaTensor
from monai.data import DataLoader as MonaiDataLoader
from monai.data import Dataset as MonaiDataset
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from validation.data.dicom import read_dicom
from validation.data.manifest import load_manifest
from validation.errors import DicomReadError, ManifestError
from validation.io import resolve_inside
from validation.modeling.spec import (
    MinMaxStep,
    ModelSpec,
    PercentileStep,
    RepeatChannelsStep,
    ResizeStep,
    ScaleRangeStep,
    SpacingStep,
    WindowStep,
    ZScoreStep,
)

__all__ = [
    "CaseTable",
    "LoadDicomd",
    "LoadMaskd",
    "ManifestDataModule",
    "ScoringGroups",
    "binary_label_columns",
    "build_transforms",
    "case_table",
    "read_mask",
]

IMAGE = "image"
LABEL = "label"


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class CaseTable:
    """The rows of a manifest that a model needs, with absolute paths.

    ``rows`` are the manifest's row numbers as a spreadsheet shows them (header = 1).
    ``labels`` are class indices (classification) or absolute mask paths (segmentation),
    or ``None`` when the manifest is only scored.
    """

    source: Path
    case_ids: tuple[str, ...]
    paths: tuple[str, ...]
    rows: tuple[int, ...]
    labels: tuple[Any, ...] | None

    def __len__(self) -> int:
        return len(self.case_ids)

    def subset(self, index: Sequence[int]) -> CaseTable:
        """The rows at positions ``index`` (in that order), same source."""
        return CaseTable(
            source=self.source,
            case_ids=tuple(self.case_ids[i] for i in index),
            paths=tuple(self.paths[i] for i in index),
            rows=tuple(self.rows[i] for i in index),
            labels=None if self.labels is None else tuple(self.labels[i] for i in index),
        )


def binary_label_columns(spec: ModelSpec) -> tuple[str, ...]:
    """Label columns that ``load_manifest`` can validate (0/1 labels of binary classifiers);
    masks and multi-class labels are checked by :func:`case_table`."""
    if spec.task == "classification" and len(spec.classes) == 2:
        return (spec.label_key,)
    return ()


def _manifest(manifest: Any, spec: ModelSpec, *, with_labels: bool) -> Any:
    if hasattr(manifest, "frame") and hasattr(manifest, "root"):
        return manifest

    columns = binary_label_columns(spec) if with_labels else ()
    return load_manifest(
        manifest, label_columns=columns, require_labels=with_labels, check_files=False
    )


def case_table(manifest: Any, spec: ModelSpec, *, with_labels: bool) -> CaseTable:
    """Extract case ids, absolute image paths and (optionally) labels from a manifest.

    ``manifest`` is a path (read with :func:`validation.data.manifest.load_manifest`) or
    an already loaded ``Manifest``. Image files are not opened here: a missing file is a
    per-case failure at scoring time, and a training manifest is checked when read.
    """
    label_col = spec.label_key
    m = _manifest(manifest, spec, with_labels=with_labels)
    frame: pd.DataFrame = m.frame
    root = Path(m.root)
    source = Path(m.path)
    if len(getattr(m, "rows", ())) == len(frame):
        rows = [int(r) for r in m.rows]
    else:
        rows = [i + 2 for i in range(len(frame))]
    case_ids = tuple(str(c) for c in frame["case_id"])
    paths = tuple(str(root / str(p)) for p in frame["path"])
    labels: tuple[Any, ...] | None = None
    if with_labels:
        if label_col not in frame.columns:
            raise ManifestError(
                f"{source}: expected a column {label_col!r} with the reference standard "
                f"for model {spec.name!r}, found columns {list(frame.columns)}"
            )
        values = list(frame[label_col])
        if spec.task == "classification":
            labels = tuple(
                _class_index(v, spec, source, row, label_col)
                for v, row in zip(values, rows, strict=True)
            )
        else:
            out = []
            for v, row in zip(values, rows, strict=True):
                if v is None or (isinstance(v, float) and math.isnan(v)) or str(v) == "":
                    raise ManifestError(
                        f"{source}: row {row}, column {label_col!r}: expected a mask file, "
                        "found an empty cell"
                    )
                out.append(
                    str(
                        resolve_inside(
                            root,
                            str(v),
                            folder="the manifest's folder",
                            where=f"{source}: row {row}, column {label_col!r}",
                        )
                    )
                )
            labels = tuple(out)
    return CaseTable(source=source, case_ids=case_ids, paths=paths, rows=tuple(rows), labels=labels)


def _class_index(value: Any, spec: ModelSpec, source: Path, row: int, column: str) -> int:
    n = len(spec.classes)
    number: float | None = None
    if isinstance(value, str):
        if value in spec.classes:
            return spec.classes.index(value)
        try:
            number = float(value)
        except ValueError:
            number = None
    elif isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        number = float(value)
    if (
        number is not None
        and not math.isnan(number)
        and number.is_integer()
        and 0 <= int(number) < n
    ):
        return int(number)
    found = (
        "an empty cell"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else repr(value)
    )
    raise ManifestError(
        f"{source}: row {row}, column {column!r}: expected a class index 0..{n - 1} or one "
        f"of {spec.classes}, found {found}"
    )


# --------------------------------------------------------------------------- transforms


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a 2D lesion mask (NIfTI) as a ``(rows, cols)`` uint8 array.

    radval stores masks with array axis 0 = image rows and axis 1 = image columns
    (the DICOM pixel-array order), identity affine; a trailing singleton axis is allowed.
    """
    import nibabel as nib

    try:
        arr = np.asarray(nib.load(os.fspath(path)).dataobj)  # type: ignore[attr-defined]
    except Exception as exc:
        raise DicomReadError(f"{path}: cannot read lesion mask: {exc}") from exc
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise DicomReadError(f"{path}: expected a 2D mask, found shape {arr.shape}")
    return (arr > 0).astype(np.uint8)


class LoadDicomd(mt.MapTransform):
    """Read ``d["image"]`` (a path) with :func:`read_dicom` into a channel-first MetaTensor.

    The affine carries the DICOM pixel spacing (rows, cols; 1 mm when absent) so that a
    ``spacing`` step can resample; ``d["orig_shape"]`` keeps the decoded size.
    """

    def __init__(self, *, apply_voi_lut: bool = False, frame: int | None = None) -> None:
        super().__init__(keys=[IMAGE])
        self.apply_voi_lut = apply_voi_lut
        self.frame = frame

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:

        d = dict(data)
        image = read_dicom(d[IMAGE], apply_voi_lut=self.apply_voi_lut, frame=self.frame)
        pixels = image.pixels
        if pixels.ndim == 3 and pixels.shape[-1] == 3:
            arr = np.ascontiguousarray(np.moveaxis(pixels, -1, 0))
        elif pixels.ndim == 2:
            arr = pixels[None]
        else:
            raise DicomReadError(
                f"{d[IMAGE]}: expected one 2D frame, found pixel array of shape "
                f"{pixels.shape} (set input.frame in the model spec for multi-frame files)"
            )
        spacing = image.header.pixel_spacing or (1.0, 1.0)
        affine = np.diag([float(spacing[0]), float(spacing[1]), 1.0, 1.0])
        d[IMAGE] = MetaTensor(
            torch.from_numpy(arr.astype(np.float32, copy=False)), affine=torch.from_numpy(affine)
        )
        d["orig_shape"] = torch.tensor(arr.shape[1:], dtype=torch.int64)
        return d


class LoadMaskd(mt.MapTransform):
    """Read ``d["label"]`` (a NIfTI path) into a channel-first float MetaTensor with the image's affine."""

    def __init__(self) -> None:
        super().__init__(keys=[LABEL])

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        mask = read_mask(d[LABEL])
        image = d[IMAGE]
        if tuple(mask.shape) != tuple(image.shape[1:]):
            raise DicomReadError(
                f"{d[LABEL]}: mask shape {tuple(mask.shape)} does not match the image "
                f"shape {tuple(image.shape[1:])}"
            )
        d[LABEL] = MetaTensor(
            torch.from_numpy(mask[None].astype(np.float32)), affine=image.affine.clone()
        )
        return d


def build_transforms(spec: ModelSpec, *, with_mask: bool, train: bool) -> mt.Compose:
    """The MONAI dictionary-transform chain of a spec.

    Reading (:class:`LoadDicomd`, :class:`LoadMaskd`), then the ``preprocessing`` steps
    in order, then (``train=True`` only) the ``training.augment`` steps, then conversion
    to plain float32 tensors. Masks follow every geometric step with nearest
    interpolation and skip every intensity step.
    """
    keys = [IMAGE, LABEL] if with_mask else [IMAGE]
    size = tuple(spec.input.size)
    steps: list[Any] = [LoadDicomd(apply_voi_lut=spec.input.apply_voi_lut, frame=spec.input.frame)]
    if with_mask:
        steps.append(LoadMaskd())
    for step in spec.preprocessing:
        if isinstance(step, WindowStep):
            steps.append(
                mt.ScaleIntensityRanged(
                    keys=IMAGE,
                    a_min=step.center - step.width / 2,
                    a_max=step.center + step.width / 2,
                    b_min=0.0,
                    b_max=1.0,
                    clip=True,
                )
            )
        elif isinstance(step, ScaleRangeStep):
            steps.append(
                mt.ScaleIntensityRanged(
                    keys=IMAGE,
                    a_min=step.a_min,
                    a_max=step.a_max,
                    b_min=step.b_min,
                    b_max=step.b_max,
                    clip=step.clip,
                )
            )
        elif isinstance(step, MinMaxStep):
            steps.append(mt.ScaleIntensityd(keys=IMAGE, minv=step.minv, maxv=step.maxv))
        elif isinstance(step, PercentileStep):
            steps.append(
                mt.ScaleIntensityRangePercentilesd(
                    keys=IMAGE,
                    lower=step.lower,
                    upper=step.upper,
                    b_min=step.b_min,
                    b_max=step.b_max,
                    clip=step.clip,
                )
            )
        elif isinstance(step, ZScoreStep):
            steps.append(mt.NormalizeIntensityd(keys=IMAGE, nonzero=step.nonzero))
        elif isinstance(step, ResizeStep):
            modes = [step.mode, "nearest"][: len(keys)]
            steps.append(mt.Resized(keys=keys, spatial_size=size, mode=modes))
        elif isinstance(step, SpacingStep):
            smodes = [step.mode, "nearest"][: len(keys)]
            steps.append(mt.Spacingd(keys=keys, pixdim=step.pixdim, mode=smodes))
            steps.append(mt.ResizeWithPadOrCropd(keys=keys, spatial_size=size))
        elif isinstance(step, RepeatChannelsStep):
            steps.append(mt.RepeatChanneld(keys=IMAGE, repeats=step.repeats))
        else:  # pragma: no cover - the spec's discriminated union is exhaustive
            raise TypeError(f"unhandled preprocessing step {step!r}")
    if train:
        for aug in spec.training.augment:
            if aug.kind == "flip":
                steps.append(mt.RandFlipd(keys=keys, prob=aug.prob, spatial_axis=aug.spatial_axis))
            elif aug.kind == "rotate90":
                steps.append(mt.RandRotate90d(keys=keys, prob=aug.prob, max_k=aug.max_k))
            else:
                steps.append(mt.RandShiftIntensityd(keys=IMAGE, offsets=aug.offsets, prob=aug.prob))
    steps.append(
        mt.EnsureTyped(keys=keys, data_type="tensor", dtype=torch.float32, track_meta=False)
    )
    return mt.Compose(steps)


# --------------------------------------------------------------------------- scoring groups


class ScoringGroups(Dataset):
    """A dataset whose items are whole batch groups of a manifest (see the module docstring).

    Item ``i`` is group ``groups[i]``: rows ``[g*batch_size, (g+1)*batch_size)`` of
    ``table``. It returns ``{"group", "case_id", "image", "orig_shape", "failures"}``
    where ``image`` stacks the cases that loaded (in manifest order) and ``failures``
    lists ``{"case_id", "row", "path", "error"}`` for those that did not.
    """

    def __init__(
        self,
        table: CaseTable,
        spec: ModelSpec,
        *,
        batch_size: int,
        groups: Sequence[int] | None = None,
    ) -> None:
        self.table = table
        self.batch_size = batch_size
        self.n_groups = math.ceil(len(table) / batch_size)
        self.groups = list(range(self.n_groups)) if groups is None else list(groups)
        self.transform = build_transforms(spec, with_mask=False, train=False)
        self.channels = spec.input.channels
        self.size = tuple(spec.input.size)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> dict[str, Any]:
        g = self.groups[index]
        lo, hi = g * self.batch_size, min((g + 1) * self.batch_size, len(self.table))
        images, ids, shapes, failures = [], [], [], []
        for i in range(lo, hi):
            cid, path = self.table.case_ids[i], self.table.paths[i]
            try:
                if not os.path.exists(path):
                    raise DicomReadError(f"{path}: file not found")
                item = self.transform({IMAGE: path})
            except Exception as exc:  # any per-case failure is reported, never dropped
                failures.append(
                    {
                        "case_id": cid,
                        "row": self.table.rows[i],
                        "path": path,
                        "error": _one_line(exc),
                    }
                )
                continue
            images.append(item[IMAGE])
            shapes.append(item["orig_shape"])
            ids.append(cid)
        image = (
            torch.stack(images)
            if images
            else torch.zeros((0, self.channels, *self.size), dtype=torch.float32)
        )
        orig = torch.stack(shapes) if shapes else torch.zeros((0, 2), dtype=torch.int64)
        return {"group": g, "case_id": ids, IMAGE: image, "orig_shape": orig, "failures": failures}


def _unwrap(exc: BaseException) -> BaseException:
    """The error a MONAI transform raised (``Compose`` wraps it in "applying transform ...")."""
    seen = 0
    while (
        isinstance(exc, RuntimeError)
        and str(exc).startswith("applying transform")
        and exc.__cause__ is not None
        and seen < 20
    ):
        exc = exc.__cause__
        seen += 1
    return exc


def _one_line(exc: BaseException) -> str:
    exc = _unwrap(exc)
    text = str(exc).strip() or type(exc).__name__
    first = " ".join(text.split())
    if not isinstance(exc, DicomReadError):
        first = f"{type(exc).__name__}: {first}"
    return first


def _worker_init(worker_id: int) -> None:
    # Workers decode and preprocess; leave the cores' intra-op threads to the model.
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- datamodule


class ManifestDataModule(pl.LightningDataModule):
    """A ``LightningDataModule`` over manifests for one model spec.

    Parameters
    ----------
    spec
        The model spec (preprocessing, task, label column).
    train, val
        Case tables for ``fit`` (labels required).
    predict
        The case table to score, with ``predict_groups`` the batch groups still to do.
    batch_size, num_workers
        Loader settings; ``cache`` keeps decoded, preprocessed training/validation
        images in memory (MONAI ``CacheDataset``; random augmentation still runs per epoch).
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        train: CaseTable | None = None,
        val: CaseTable | None = None,
        predict: CaseTable | None = None,
        predict_groups: Sequence[int] | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        cache: bool = True,
        pin_memory: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.seed = seed
        self.pin_memory = pin_memory
        self.spec = spec
        self.train_table, self.val_table, self.predict_table = train, val, predict
        self.predict_groups = predict_groups
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.cache = cache
        self._train_ds: Dataset | None = None
        self._val_ds: Dataset | None = None

    def _items(self, table: CaseTable) -> list[dict[str, Any]]:
        assert table.labels is not None
        return [
            {IMAGE: p, LABEL: lab, "case_id": c}
            for p, lab, c in zip(table.paths, table.labels, table.case_ids, strict=True)
        ]

    def _dataset(self, table: CaseTable, *, train: bool) -> Dataset:
        seg = self.spec.task == "segmentation"
        transform = build_transforms(self.spec, with_mask=seg, train=train)
        # MONAI random transforms own their RandomState; seed it (workers re-seed it from
        # the torch seed that seed_everything fixed, through monai's worker_init_fn).
        transform.set_random_state(seed=self.seed)
        items = self._items(table)
        try:
            if self.cache:
                ds: Dataset = CacheDataset(
                    items, transform=transform, progress=False, num_workers=max(self.num_workers, 1)
                )
            else:
                ds = MonaiDataset(items, transform=transform)
                for i in range(min(1, len(items))):
                    ds[i]  # fail early on an unreadable first case
        except Exception as exc:
            inner = _unwrap(exc)
            if isinstance(inner, DicomReadError):
                raise DicomReadError(
                    f"{table.source}: a training/validation image cannot be "
                    f"read: {_one_line(inner)}"
                ) from None
            raise
        return ds

    def setup(self, stage: str) -> None:
        if stage == "fit":
            if self.train_table is not None and self._train_ds is None:
                self._train_ds = self._dataset(self.train_table, train=True)
            if self.val_table is not None and self._val_ds is None:
                self._val_ds = self._dataset(self.val_table, train=False)

    def train_dataloader(self) -> DataLoader:
        assert self._train_ds is not None
        return MonaiDataLoader(
            self._train_ds,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            drop_last=False,
        )

    def val_dataloader(self) -> DataLoader:
        assert self._val_ds is not None
        return MonaiDataLoader(
            self._val_ds, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers
        )

    def predict_dataloader(self) -> DataLoader:
        assert self.predict_table is not None
        trainer = self.trainer
        groups = self.predict_groups
        if trainer is not None and trainer.world_size > 1:
            # Every rank must partition the same list: take rank 0's view of what is left.
            groups = trainer.strategy.broadcast(groups, src=0)
        ds = ScoringGroups(self.predict_table, self.spec, batch_size=self.batch_size, groups=groups)
        sampler: DistributedSampler | None = None
        if trainer is not None and trainer.world_size > 1:
            # DDP: each rank takes every world_size-th group; the sampler pads the last
            # round by repeating groups, and the writer dedupes by case_id.
            sampler = DistributedSampler(
                ds, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return DataLoader(
            ds,
            batch_size=None,
            sampler=sampler,
            num_workers=self.num_workers,
            worker_init_fn=_worker_init if self.num_workers else None,
            persistent_workers=False,
            pin_memory=self.pin_memory,
            prefetch_factor=2 if self.num_workers else None,
        )

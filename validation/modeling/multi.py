"""Score several models in one pass: decode each case once, preprocess once per distinct chain.

A release gate scores at least a candidate and a baseline on the same locked test set;
model selection scores many more. :func:`predict_many` reads every DICOM once per
distinct decode setting (``input.apply_voi_lut``, ``input.frame``), runs every distinct
preprocessing chain once on the decoded pixels (models with identical ``input`` and
``preprocessing`` share the tensor), and feeds each model its batch. Each model gets the
scores file, provenance, resumable parts folder and failure list that
:func:`validation.modeling.predict.predict_scores` would write for it alone, byte for
byte: the batch groups are the same, so every case is scored in the same company.

Example
-------
>>> results = predict_many(["candidate.resolved.yaml", "baseline.resolved.yaml"],
...                        manifest="data/test/manifest.csv",
...                        out_dir="runs/scores")  # doctest: +SKIP
>>> [r.scores_path.name for r in results]  # doctest: +SKIP
['candidate.parquet', 'baseline.parquet']
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from monai import transforms as mt
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from validation.data.manifest import load_manifest
from validation.data.pixel_cache import PixelCache
from validation.errors import DicomReadError, InputError
from validation.modeling.datamodule import (
    IMAGE,
    CaseTable,
    LoadDicomd,
    _one_line,
    build_transforms,
    cached_input,
    preprocessing_key,
)
from validation.modeling.predict import (
    PredictResult,
    ScoringJob,
    _check_run_options,
    _trainer,
    filter_lightning_warnings,
    prepare_job,
)
from validation.modeling.spec import ModelSpec, load_spec
from validation.modeling.writer import ImagesProgressBar, ShardWriter

__all__ = ["ModelToScore", "MultiScoringGroups", "predict_many", "scores_file_names"]


@dataclass(frozen=True)
class ModelToScore:
    """One model of a multi-model run: its spec and, optionally, where its weights and card are
    (defaults as in :func:`~validation.modeling.predict.predict_scores`)."""

    spec: Path
    checkpoint: Path | None = None
    expected_sha256: str | None = None
    card: Path | None = None


def scores_file_names(specs: Sequence[ModelSpec], sources: Sequence[Path]) -> list[str]:
    """File names of the models' scores: ``<name>.parquet``, or ``<name>-<version>.parquet``
    when two models share a name; two models with the same name and version are refused."""
    names = [s.name for s in specs]
    out = []
    for spec in specs:
        if names.count(spec.name) == 1:
            out.append(f"{spec.name}.parquet")
            continue
        twins = [
            str(src)
            for s, src in zip(specs, sources, strict=True)
            if (s.name, s.version) == (spec.name, spec.version)
        ]
        if len(twins) > 1:
            raise InputError(
                f"model specs {' and '.join(twins)} have the same name {spec.name!r} and "
                f"version {spec.version!r}, so their scores files would collide; give them "
                "different versions or score them in separate runs"
            )
        version = "".join(c if c.isalnum() or c in "._-" else "_" for c in spec.version)
        out.append(f"{spec.name}-{version}.parquet")
    return out


def _decode_key(spec: ModelSpec) -> tuple[bool, int | None]:
    return (bool(spec.input.apply_voi_lut), spec.input.frame)


class MultiScoringGroups(Dataset):
    """Batch groups of a manifest, decoded once and preprocessed once per distinct chain.

    Item ``i`` is group ``groups[i]``: ``{"group", "n_cases", "models"}`` where
    ``models[k]`` is what :class:`~validation.modeling.datamodule.ScoringGroups` gives
    model ``k`` for that group, or ``None`` when ``todo[k]`` does not contain the group
    (its shard is already written).
    """

    def __init__(
        self,
        table: CaseTable,
        specs: Sequence[ModelSpec],
        *,
        batch_size: int,
        groups: Sequence[int],
        todo: Sequence[frozenset[int]],
        cache: PixelCache | None = None,
    ) -> None:
        self.table = table
        self.batch_size = batch_size
        self.groups = list(groups)
        self.todo = [frozenset(t) for t in todo]
        self.shapes = [(s.input.channels, *s.input.size) for s in specs]
        decodes: list[tuple[bool, int | None]] = []
        chain_keys: list[str] = []
        self.loaders: list[LoadDicomd] = []
        self.chains: list[mt.Compose] = []
        self.chain_decode: list[int] = []
        self.chain_spec: list[ModelSpec] = []
        self.model_chain: list[int] = []
        self.cache = cache
        self.chain_keys = chain_keys
        for spec in specs:
            dk, ck = _decode_key(spec), preprocessing_key(spec)
            if ck not in chain_keys:
                if dk not in decodes:
                    decodes.append(dk)
                    self.loaders.append(LoadDicomd(apply_voi_lut=dk[0], frame=dk[1], cache=cache))
                full = build_transforms(spec, with_mask=False, train=False)
                chain_keys.append(ck)
                self.chain_spec.append(spec)
                self.chains.append(mt.Compose(full.transforms[1:]))
                self.chain_decode.append(decodes.index(dk))
            self.model_chain.append(chain_keys.index(ck))

    def __len__(self) -> int:
        return len(self.groups)

    def _decode(self, index: int, path: str) -> dict[str, Any] | BaseException:
        try:
            if not os.path.exists(path):
                raise DicomReadError(f"{path}: file not found")
            return self.loaders[index]({IMAGE: path})
        except Exception as exc:  # any per-case failure is reported, never dropped
            return exc

    def _input(
        self,
        chain: int,
        path: str,
        decoded: dict[int, dict[str, Any] | BaseException],
        *,
        shared: bool,
    ) -> dict[str, Any]:
        """A case's input for one chain: cached, else decoded (once per case) and preprocessed."""

        def compute() -> dict[str, Any]:
            d = self.chain_decode[chain]
            if d not in decoded:
                decoded[d] = self._decode(d, path)
            src = decoded[d]
            if isinstance(src, BaseException):
                raise src
            item = dict(src)
            if shared:  # never let one chain see another's changes
                item[IMAGE] = src[IMAGE].clone()
            return self.chains[chain](item)  # type: ignore[no-any-return]

        if self.cache is None:
            return compute()
        spec = self.chain_spec[chain]
        return cached_input(self.cache, path, spec, compute, key=self.chain_keys[chain])

    def __getitem__(self, index: int) -> dict[str, Any]:
        g = self.groups[index]
        lo, hi = g * self.batch_size, min((g + 1) * self.batch_size, len(self.table))
        active = [k for k in range(len(self.model_chain)) if g in self.todo[k]]
        chains = sorted({self.model_chain[k] for k in active})
        users = {d: sum(self.chain_decode[c] == d for c in chains) for d in self.chain_decode}
        got: dict[int, dict[str, list[Any]]] = {
            c: {"images": [], "ids": [], "shapes": [], "failures": []} for c in chains
        }
        for i in range(lo, hi):
            cid, path = self.table.case_ids[i], self.table.paths[i]
            decoded: dict[int, dict[str, Any] | BaseException] = {}
            for c in chains:
                try:
                    out = self._input(c, path, decoded, shared=users[self.chain_decode[c]] > 1)
                except Exception as exc:
                    got[c]["failures"].append(
                        {
                            "case_id": cid,
                            "row": self.table.rows[i],
                            "path": path,
                            "error": _one_line(exc),
                        }
                    )
                    continue
                got[c]["images"].append(out[IMAGE])
                got[c]["shapes"].append(out["orig_shape"])
                got[c]["ids"].append(cid)
        models: list[dict[str, Any] | None] = []
        for k, c in enumerate(self.model_chain):
            if k not in active:
                models.append(None)
                continue
            r = got[c]
            image = (
                torch.stack(r["images"])
                if r["images"]
                else torch.zeros((0, *self.shapes[k]), dtype=torch.float32)
            )
            orig = (
                torch.stack(r["shapes"]) if r["shapes"] else torch.zeros((0, 2), dtype=torch.int64)
            )
            models.append(
                {
                    "group": g,
                    "n_cases": hi - lo,
                    "case_id": list(r["ids"]),
                    IMAGE: image,
                    "orig_shape": orig,
                    "failures": list(r["failures"]),
                }
            )
        return {"group": g, "n_cases": hi - lo, "models": models}


class _MultiModule(pl.LightningModule):
    """Runs every model on its own batch of the group (``None``: nothing to do)."""

    def __init__(self, modules: Sequence[pl.LightningModule]) -> None:
        super().__init__()
        self.models = torch.nn.ModuleList(modules)

    def on_predict_start(self) -> None:
        for m in self.models:
            m.on_predict_start()  # type: ignore[operator]

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        preds = [
            None if b is None else m.predict_step(b, batch_idx)  # type: ignore[operator]
            for m, b in zip(self.models, batch["models"], strict=True)
        ]
        return {"group": batch["group"], "models": preds}


class _ModelWriter(BasePredictionWriter):
    """Hands model ``index``'s part of each prediction to its own :class:`ShardWriter`."""

    def __init__(self, index: int, inner: ShardWriter) -> None:
        super().__init__(write_interval="batch")
        self.index, self.inner = index, inner

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
        pred = prediction["models"][self.index]
        if pred is None:
            return
        sub = batch["models"][self.index]
        self.inner.write_on_batch_end(
            trainer, pl_module, pred, batch_indices, sub, batch_idx, dataloader_idx
        )

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.inner.on_predict_end(trainer, pl_module)


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)


class _MultiDataModule(pl.LightningDataModule):
    def __init__(
        self,
        table: CaseTable,
        specs: Sequence[ModelSpec],
        *,
        groups: list[int],
        todo: list[frozenset[int]],
        batch_size: int,
        num_workers: int,
        pin_memory: bool,
        cache: PixelCache | None,
    ) -> None:
        super().__init__()
        self.table, self.specs = table, list(specs)
        self.groups, self.todo = groups, todo
        self.batch_size, self.num_workers = batch_size, num_workers
        self.pin_memory, self.cache = pin_memory, cache

    def predict_dataloader(self) -> DataLoader:
        trainer = self.trainer
        groups, todo = self.groups, self.todo
        if trainer is not None and trainer.world_size > 1:
            # Every rank must partition the same work: take rank 0's view of what is left.
            groups, todo = trainer.strategy.broadcast((groups, todo), src=0)
        ds = MultiScoringGroups(
            self.table,
            self.specs,
            batch_size=self.batch_size,
            groups=groups,
            todo=todo,
            cache=self.cache,
        )
        sampler: DistributedSampler | None = None
        if trainer is not None and trainer.world_size > 1:
            # as in ManifestDataModule: padding repeats groups; merging dedupes by case_id
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


def _model(item: str | os.PathLike[str] | ModelToScore) -> ModelToScore:
    return item if isinstance(item, ModelToScore) else ModelToScore(spec=Path(item))


def predict_many(
    models: Sequence[str | os.PathLike[str] | ModelToScore],
    *,
    manifest: Any,
    out_dir: str | os.PathLike[str],
    devices: int | str = 1,
    accelerator: str = "auto",
    precision: str | None = None,
    strategy: str = "auto",
    num_nodes: int = 1,
    batch_size: int = 32,
    num_workers: int = 2,
    on_error: Literal["continue", "stop"] = "continue",
    progress: bool = True,
    pixel_cache: PixelCache | None = None,
) -> tuple[PredictResult, ...]:
    """Score a manifest with several models in one pass over its decoded images.

    Parameters
    ----------
    models
        Model specs (paths, checkpoint and card found as in ``predict_scores``) or
        :class:`ModelToScore` entries naming them.
    manifest
        The manifest to score (path or loaded ``Manifest``), read once.
    out_dir
        Folder of the scores files, one per model, named by :func:`scores_file_names`;
        each with its ``.parts`` folder (resumable per model), failures CSV and masks.
    devices, accelerator, precision, strategy, num_nodes, batch_size, num_workers, on_error
        As in :func:`~validation.modeling.predict.predict_scores` (shared by all models).
    progress
        Progress bar in images/s (each image counted once, whatever the model count).
    pixel_cache
        Decoded-pixel cache (:class:`~validation.data.pixel_cache.PixelCache`), optional.

    Returns
    -------
    tuple of PredictResult
        In the order of ``models``; each equal to what ``predict_scores`` returns for that
        model alone (same file bytes).

    Raises
    ------
    InputError
        No model, or two models whose scores files would collide; the errors of
        ``predict_scores`` for each model.
    """
    filter_lightning_warnings()
    _check_run_options(on_error=on_error, batch_size=batch_size)
    entries = [_model(m) for m in models]
    if not entries:
        raise InputError("predict: expected at least one model spec, found none")
    specs = [load_spec(e.spec) for e in entries]
    names = scores_file_names(specs, [e.spec for e in entries])
    loaded = manifest
    if not (hasattr(manifest, "frame") and hasattr(manifest, "root")):
        loaded = load_manifest(manifest, label_columns=(), require_labels=False, check_files=False)
    out = Path(out_dir)
    jobs: list[ScoringJob] = [
        prepare_job(
            e.spec,
            manifest=loaded,
            out=out / name,
            checkpoint=e.checkpoint,
            expected_sha256=e.expected_sha256,
            card=e.card,
            batch_size=batch_size,
            on_error=on_error,
        )
        for e, name in zip(entries, names, strict=True)
    ]
    table = jobs[0].table
    groups = sorted(set().union(*(j.pending for j in jobs)))
    todo = [frozenset(j.pending) for j in jobs]
    n_pending = sum(min(batch_size, len(table) - g * batch_size) for g in groups)
    bar = ImagesProgressBar(n_pending) if progress else None
    writers = [_ModelWriter(k, j.writer) for k, j in enumerate(jobs)]
    trainer = _trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        precision=precision,
        progress=progress,
        callbacks=[*writers, *([bar] if bar is not None else [])],
    )
    if bar is not None and trainer.world_size > 1:
        bar.total_images = math.ceil(n_pending / trainer.world_size)
    if groups:
        dm = _MultiDataModule(
            table,
            [j.spec for j in jobs],
            groups=groups,
            todo=todo,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=trainer.strategy.root_device.type == "cuda",
            cache=pixel_cache,
        )
        module = _MultiModule([j.module for j in jobs])
        module.eval()
        trainer.predict(module, datamodule=dm, return_predictions=False)
    else:
        for j in jobs:
            j.merger(trainer)
    return tuple(j.result(trainer) for j in jobs)

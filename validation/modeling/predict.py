"""``radval predict``: score a manifest with a verified checkpoint, resumably, on any scale.

Example
-------
>>> result = predict_scores("runs/demo/demo_classifier.resolved.yaml",
...                         manifest="data/test/manifest.csv",
...                         out="runs/demo/scores.parquet")  # doctest: +SKIP
>>> result.n_scored, result.failures  # doctest: +SKIP
(400, ())
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch

from validation import __version__
from validation.errors import CheckpointError, InputError
from validation.io import sha256_file, write_text_atomic
from validation.modeling.datamodule import ManifestDataModule, case_table
from validation.modeling.module import module_for
from validation.modeling.spec import ModelSpec, load_spec, spec_canonical_sha256
from validation.modeling.writer import (
    ImagesProgressBar,
    ShardWriter,
    done_groups,
    merge_shards,
    read_scores_metadata,
)

__all__ = [
    "CaseFailure",
    "PredictResult",
    "filter_lightning_warnings",
    "load_checkpoint",
    "operating_threshold",
    "predict_scores",
    "resolve_checkpoint",
    "software_versions",
]

SCORES_SCHEMA = "radval.scores/1"


@dataclass(frozen=True)
class CaseFailure:
    """A manifest case that could not be scored, with the reason."""

    case_id: str
    row: int
    error: str


@dataclass(frozen=True)
class PredictResult:
    """What ``predict_scores`` produced.

    ``scores_path`` is the Parquet file (``case_id, score`` or ``case_id, mask_path``);
    ``failures`` lists every case not scored (also in the file's metadata and, when
    non-empty, in ``<out stem>.failures.csv``); ``metadata`` is the provenance block
    stored in the file; ``resumed_groups`` counts batch groups reused from an
    interrupted run; ``is_global_zero`` is false in the other ranks of a DDP run
    (which return after rank 0 has merged).
    """

    scores_path: Path
    n_scored: int
    failures: tuple[CaseFailure, ...]
    metadata: dict[str, Any] = field(repr=False)
    resumed_groups: int = 0
    is_global_zero: bool = True


def filter_lightning_warnings() -> None:
    """Silence known-noise warnings of Lightning 2.6 + torch 2.13 (treespec, hints)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"lightning\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\..*")
    warnings.filterwarnings("ignore", message=r".*treespec.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=r".*LitLogger.*")
    warnings.filterwarnings("ignore", message=r".*litlogger.*")
    warnings.filterwarnings("ignore", message=r".*lightning\.ai.*")
    warnings.filterwarnings("ignore", message=r".*infer the batch indices.*")
    warnings.filterwarnings("ignore", message=r".*limit_val_batches.*")
    os.environ.setdefault("POSSIBLE_USER_WARNINGS", "off")
    # Lightning's start-up banner ("GPU available ...", tips) is info-level chatter.
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
        "lightning.fabric.utilities.seed",
        "lightning.pytorch.utilities.seed",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a score."""
    import lightning
    import monai
    import numpy
    import pydicom

    return {
        "python": platform.python_version(),
        "radval": __version__,
        "torch": torch.__version__,
        "monai": monai.__version__,
        "lightning": lightning.__version__,
        "pydicom": pydicom.__version__,
        "numpy": numpy.__version__,
    }


def resolve_checkpoint(
    spec: ModelSpec,
    spec_path: Path,
    checkpoint: str | os.PathLike[str] | None,
    expected_sha256: str | None,
) -> tuple[Path, str]:
    """Find the checkpoint and the sha256 it must have; verify it. Returns (path, sha256).

    The expected hash is ``expected_sha256``, else the spec's ``checkpoint.sha256``,
    else the ``<checkpoint>.sha256`` file written by ``radval train``. Every hash that is
    declared must match the file's.
    """
    if checkpoint is not None:
        ckpt = Path(checkpoint)
    elif spec.checkpoint.path:
        ckpt = spec_path.parent / spec.checkpoint.path
    else:
        raise CheckpointError(
            f"{spec_path}: no checkpoint given (--checkpoint) and the spec's checkpoint.path "
            "is empty"
        )
    if not ckpt.is_file():
        raise CheckpointError(f"{ckpt}: checkpoint not found")
    declared: list[tuple[str, str]] = []
    if expected_sha256:
        declared.append(("--expected-sha256", expected_sha256.lower()))
    if spec.checkpoint.sha256:
        declared.append((f"{spec_path} checkpoint.sha256", spec.checkpoint.sha256))
    sidecar = ckpt.with_name(ckpt.name + ".sha256")
    if not declared and sidecar.is_file():
        text = sidecar.read_text(encoding="utf-8").split()
        if text:
            declared.append((str(sidecar), text[0].lower()))
    if not declared:
        raise CheckpointError(
            f"{ckpt}: no expected sha256 (give --expected-sha256, set checkpoint.sha256 in "
            "the spec, or keep the .sha256 file written by radval train)"
        )
    actual = sha256_file(ckpt)
    for source, value in declared:
        if value != actual:
            raise CheckpointError(
                f"{ckpt}: sha256 mismatch: expected {value} (from {source}), found {actual}; "
                "the weights are not the ones the spec declares"
            )
    return ckpt, actual


def operating_threshold(
    spec: ModelSpec,
    spec_path: Path,
    checkpoint: Path,
    checkpoint_sha256: str,
    card: str | os.PathLike[str] | None,
) -> tuple[float, dict[str, Any]]:
    """The operating threshold to record with the scores, and where it came from.

    The model card written by ``radval train`` (``card``, else a ``model_card.json`` beside
    the checkpoint) is the authority: it must describe this checkpoint, and a spec that
    states a threshold must state the card's. A spec whose threshold is selected at
    training time (``operating_point.select`` without ``threshold``) needs the card.
    Returns ``(threshold, {"threshold", "source", "card_sha256"})``.
    """
    explicit = card is not None
    card_p = Path(card) if card is not None else checkpoint.with_name("model_card.json")
    stated = spec.operating_point.threshold
    if not card_p.is_file():
        if explicit:
            raise CheckpointError(f"{card_p}: model card not found")
        if stated is None:
            raise CheckpointError(
                f"{spec_path}: operating_point.select chooses the threshold at training time, "
                f"and no model card says what it chose (none at {card_p}); give --card "
                "model_card.json written by radval train, or the resolved spec it wrote"
            )
        return stated, {
            "threshold": stated,
            "source": f"model spec {spec_path.name}",
            "card_sha256": None,
        }
    try:
        data = json.loads(card_p.read_text(encoding="utf-8"))
        card_thr = data["operating_point"]["threshold"]
        card_ckpt = data["checkpoint"]["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{card_p}: not a model card written by radval train (expected JSON with "
            f"operating_point.threshold and checkpoint.sha256): {type(exc).__name__}: {exc}"
        ) from None
    if card_ckpt != checkpoint_sha256:
        raise CheckpointError(
            f"{card_p}: the model card describes checkpoint sha256 {card_ckpt}, but "
            f"{checkpoint} has sha256 {checkpoint_sha256}; it is another model's card"
        )
    if not isinstance(card_thr, int | float) or isinstance(card_thr, bool):
        raise CheckpointError(
            f"{card_p}: operating_point.threshold: expected a number, found {card_thr!r}"
        )
    if stated is not None and float(stated) != float(card_thr):
        raise CheckpointError(
            f"{spec_path}: operating_point.threshold is {stated!r}, but the model card {card_p} "
            f"records {card_thr!r} for this checkpoint; use the resolved spec radval train "
            "wrote, or the card's threshold"
        )
    return float(card_thr), {
        "threshold": float(card_thr),
        "source": f"model card {card_p.name}",
        "card_sha256": sha256_file(card_p),
    }


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Load a weights-only state dict (``torch.load(weights_only=True)``: no arbitrary unpickling)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: cannot be loaded as a weights-only state dict: "
            f"{' '.join(str(exc).split())[:300]}"
        ) from None
    return state  # type: ignore[no-any-return]


def _device_info(trainer: pl.Trainer) -> dict[str, Any]:
    dev = trainer.strategy.root_device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.machine() or "cpu")
    return {
        "accelerator": dev.type,
        "name": name,
        "precision": str(trainer.precision),
        "world_size": trainer.world_size,
        "num_nodes": trainer.num_nodes,
        "strategy": type(trainer.strategy).__name__,
    }


class _Merge:
    """Merge step run by rank 0 (a picklable object, so ``ddp_spawn`` can carry it)."""

    def __init__(
        self,
        *,
        parts: Path,
        out: Path,
        task: str,
        case_ids: tuple[str, ...],
        n_groups: int,
        metadata: dict[str, Any],
        failures_csv: Path,
    ) -> None:
        self.parts, self.out, self.task = parts, out, task
        self.case_ids, self.n_groups = case_ids, n_groups
        self.metadata, self.failures_csv = metadata, failures_csv
        self.result: dict[str, Any] = {}

    def __call__(self, trainer: pl.Trainer) -> None:
        meta = dict(self.metadata)
        meta["device"] = _device_info(trainer)
        self.result = merge_shards(
            parts=self.parts,
            out=self.out,
            task=self.task,
            case_ids=self.case_ids,
            n_groups=self.n_groups,
            metadata=meta,
            failures_csv=self.failures_csv,
        )


def predict_scores(
    spec_path: str | os.PathLike[str],
    *,
    manifest: Any,
    out: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
    devices: int | str = 1,
    accelerator: str = "auto",
    precision: str | None = None,
    strategy: str = "auto",
    num_nodes: int = 1,
    batch_size: int = 32,
    num_workers: int = 2,
    on_error: Literal["continue", "stop"] = "continue",
    expected_sha256: str | None = None,
    progress: bool = True,
    card: str | os.PathLike[str] | None = None,
) -> PredictResult:
    """Score every case of a manifest with a model spec and its verified checkpoint.

    Parameters
    ----------
    spec_path
        The model spec (e.g. the ``*.resolved.yaml`` written by :func:`train_model`).
    manifest
        The test manifest (path or loaded ``Manifest``); labels are not needed.
    out
        The scores Parquet file to write.
    checkpoint
        The weights; default the spec's ``checkpoint.path`` (relative to the spec).
    devices, accelerator, precision, strategy, num_nodes
        Passed to ``lightning.Trainer`` (``precision="bf16-mixed"`` on GPUs; DDP with
        ``strategy="ddp"`` and ``devices``/``num_nodes``).
    batch_size
        Cases per batch group (one model batch, one shard). Part of the run's identity:
        a resume must use the same value.
    num_workers
        DataLoader workers decoding DICOMs (each takes whole groups).
    on_error
        ``"continue"``: a case whose DICOM is missing or unreadable is recorded as a
        failure and the run goes on; ``"stop"``: the run stops with ``DicomReadError``
        naming the case (finished groups are kept; a rerun resumes).
    expected_sha256
        The checkpoint's sha256 as declared by the caller (checked with the spec's).
    progress
        Show a progress bar in images/s on stderr.
    card
        The model card ``radval train`` wrote (default: ``model_card.json`` beside the
        checkpoint, when there is one). Its operating threshold is recorded with the
        scores; it must describe this checkpoint and agree with the spec's threshold
        (see :func:`operating_threshold`).

    Returns
    -------
    PredictResult

    Raises
    ------
    CheckpointError
        Checkpoint missing, hash mismatch or not a weights-only state dict.
    ModelSpecError, ManifestError, DicomReadError
        Invalid spec or manifest; a failed case with ``on_error="stop"``.
    """
    filter_lightning_warnings()
    if on_error not in ("continue", "stop"):
        raise InputError(f"on_error: expected 'continue' or 'stop', found {on_error!r}")
    if batch_size < 1:
        raise InputError(f"batch_size: expected a positive integer, found {batch_size}")
    spec_p = Path(spec_path)
    spec = load_spec(spec_p)
    ckpt, ckpt_sha = resolve_checkpoint(spec, spec_p, checkpoint, expected_sha256)
    threshold, threshold_source = operating_threshold(spec, spec_p, ckpt, ckpt_sha, card)
    if spec.operating_point.threshold is None:
        spec = spec.model_copy(
            update={
                "operating_point": spec.operating_point.model_copy(update={"threshold": threshold})
            }
        )
    module = module_for(spec)
    module.load_network_state(load_checkpoint(ckpt), source=str(ckpt))
    module.eval()

    table = case_table(manifest, spec, with_labels=False)
    out_p = Path(out)
    out_p.parent.mkdir(parents=True, exist_ok=True)
    parts = out_p.with_name(out_p.name + ".parts")
    masks_dir = out_p.with_name(out_p.stem + "_masks") if spec.task == "segmentation" else None
    n_groups = -(-len(table) // batch_size)
    metadata: dict[str, Any] = {
        "schema": SCORES_SCHEMA,
        "task": spec.task,
        "model": {
            "name": spec.name,
            "version": spec.version,
            "spec_sha256": sha256_file(spec_p),
            "spec_canonical_sha256": spec_canonical_sha256(spec),
        },
        "checkpoint_sha256": ckpt_sha,
        "manifest": {"file": table.source.name, "sha256": sha256_file(table.source)},
        "operating_threshold": threshold,
        "operating_point": threshold_source,
        "positive_class": spec.classes[spec.positive_index],
        "batch_size": batch_size,
        "software": software_versions(),
    }
    identity = {
        k: metadata[k]
        for k in (
            "model",
            "checkpoint_sha256",
            "manifest",
            "batch_size",
            "task",
            "operating_threshold",
        )
    }
    identity["n_cases"] = len(table)
    run_file = parts / "run.json"
    if parts.is_dir():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != identity:
            print(
                f"radval: {parts} belongs to another run (different spec, checkpoint, "
                "manifest or batch size); starting afresh",
                file=sys.stderr,
            )
            shutil.rmtree(parts, ignore_errors=True)  # ranks started together may race here
    parts.mkdir(parents=True, exist_ok=True)
    if masks_dir is not None:
        masks_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_file, json.dumps(identity, sort_keys=True))
    finished = done_groups(parts) & set(range(n_groups))
    pending = [g for g in range(n_groups) if g not in finished]

    failures_csv = out_p.with_name(out_p.stem + ".failures.csv")
    merger = _Merge(
        parts=parts,
        out=out_p,
        task=spec.task,
        case_ids=table.case_ids,
        n_groups=n_groups,
        metadata=metadata,
        failures_csv=failures_csv,
    )
    n_pending = sum(min(batch_size, len(table) - g * batch_size) for g in pending)
    writer = ShardWriter(
        parts=parts,
        task=spec.task,
        masks_dir=masks_dir,
        mask_prefix=masks_dir.name if masks_dir is not None else "",
        on_error=on_error,
        merge=merger,
    )
    bar = ImagesProgressBar(n_pending) if progress else None
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        precision=precision,  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        use_distributed_sampler=False,
        callbacks=[writer] + ([bar] if bar is not None else []),
        inference_mode=True,
    )
    if bar is not None and trainer.world_size > 1:
        bar.total_images = -(-n_pending // trainer.world_size)
    if pending:
        dm = ManifestDataModule(
            spec,
            predict=table,
            predict_groups=pending,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=trainer.strategy.root_device.type == "cuda",
        )
        trainer.predict(module, datamodule=dm, return_predictions=False)
    else:
        merger(trainer)
    final_meta = merger.result
    meta = final_meta or read_scores_metadata(out_p)
    failures = tuple(
        CaseFailure(str(f["case_id"]), int(f["row"]), str(f["error"]))
        for f in meta.get("failures", [])
    )
    return PredictResult(
        scores_path=out_p,
        n_scored=int(meta.get("n_scored", 0)),
        failures=failures,
        metadata=meta,
        resumed_groups=len(finished),
        is_global_zero=trainer.is_global_zero,
    )

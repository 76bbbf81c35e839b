"""``radval train``: fit a spec's model on a manifest with Lightning, with full provenance.

Training is deterministic under a seed on CPU (``seed_everything`` with worker seeding,
MONAI ``set_determinism``, seeded random transforms, ``Trainer(deterministic=True)``):
the same spec, manifests and seed give a checkpoint with the same sha256. The
checkpoint is the network's state dict only (``torch.save`` of ``{name: tensor}``),
loaded back with ``torch.load(weights_only=True)``.

Example
-------
>>> result = train_model("models/demo_classifier.yaml", manifest="data/train/manifest.csv",
...                      out_dir="runs/demo", test_manifest="data/test/manifest.csv")  # doctest: +SKIP
>>> result.checkpoint_sha256[:12], result.metrics["val_auc"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from validation.data.manifest import check_leakage, load_manifest
from validation.errors import DicomReadError, InputError, ManifestError
from validation.io import sha256_bytes, sha256_file, write_bytes_atomic, write_text_atomic
from validation.modeling.datamodule import (
    CaseTable,
    ManifestDataModule,
    binary_label_columns,
    case_table,
)
from validation.modeling.module import module_for
from validation.modeling.predict import filter_lightning_warnings, software_versions
from validation.modeling.spec import CheckpointRef, ModelSpec, dump_spec, load_spec
from validation.modeling.tuning import TuningSplit, case_list_sha256, split_tuning
from validation.stats import (
    select_threshold,
    sensitivity,
    specificity,
    threshold_bootstrap,
)

__all__ = ["TrainResult", "train_model", "render_model_card"]

CHECKPOINT_NAME = "model.pt"

#: What the checkpoint's sha256 depends on (recorded in the model card).
REPRODUCIBILITY = (
    "byte-identical checkpoint for the same spec, manifests, seed, software versions, CPU "
    "kernel capability and torch thread count; another CPU capability (or thread count) "
    "trains a slightly different model"
)


@dataclass(frozen=True)
class TrainResult:
    """What ``train_model`` wrote.

    ``spec_path`` is the resolved spec (the input spec with ``checkpoint.path`` and
    ``checkpoint.sha256`` filled in): pass it to :func:`predict_scores`.
    """

    checkpoint_path: Path
    checkpoint_sha256: str
    spec_path: Path
    model_card_path: Path
    model_card_json_path: Path
    metrics: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    epochs: int = 0
    operating_point: dict[str, Any] = field(default_factory=dict)


def _load(manifest: Any, spec: ModelSpec, *, labels: bool, check_files: bool) -> Any:
    if hasattr(manifest, "frame") and hasattr(manifest, "root"):
        return manifest

    cols = binary_label_columns(spec) if labels else ()
    return load_manifest(
        manifest, label_columns=cols, require_labels=labels, check_files=check_files
    )


def _count(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    try:
        return len(value)
    except TypeError:
        return int(bool(value))


def _overlap_text(report: Any) -> str:
    parts = []
    n_pat = _count(report.shared_patients)
    if n_pat:
        parts.append(f"{n_pat} shared patient(s)")
    n_study = _count(getattr(report, "shared_studies", 0))
    if n_study:
        parts.append(f"{n_study} shared study UID(s)")
    n_img = _count(getattr(report, "identical_images", 0))
    if n_img:
        parts.append(f"{n_img} identical image(s)")
    return ", ".join(parts) or "overlap found"


def _refuse_leakage(test: Any, other: Any, role: str) -> None:

    report = check_leakage(test, other)
    if report.ok:
        return
    raise ManifestError(
        f"{Path(other.path)}: the {role} manifest overlaps the declared test manifest "
        f"{Path(test.path)}: {_overlap_text(report)}; a model must never see test patients"
    )


def _refuse_split_leakage(tuning: Any, training: Any) -> None:
    """The tuning split shares nothing with the cases trained on (patients, studies, images)."""

    report = check_leakage(tuning, training)
    if report.ok:
        return
    raise ManifestError(
        f"{Path(training.path)}: the tuning split cannot be kept apart from the training "
        f"cases: {_overlap_text(report)} across the split (identical image files under "
        "different patients); remove the duplicates or add a sha256 column so that they are "
        "grouped together"
    )


def _summary(table: CaseTable, frame: Any, spec: ModelSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": table.source.name,
        "sha256": sha256_file(table.source),
        "n_cases": len(table),
        "case_list_sha256": case_list_sha256(table.case_ids),
    }
    if "patient_id" in frame.columns:
        out["n_patients"] = int(frame["patient_id"].nunique())
    if spec.task == "classification" and table.labels is not None:
        counts = Counter(int(v) for v in table.labels)
        out["class_counts"] = {
            spec.classes[i]: int(counts.get(i, 0)) for i in range(len(spec.classes))
        }
    for col in ("site", "manufacturer", "sex"):
        if col in frame.columns:
            vc = frame[col].astype(str).value_counts().sort_index()
            out[f"{col}_counts"] = {str(k): int(v) for k, v in vc.items()}
    return out


def _part(manifest: Any, index: tuple[int, ...]) -> Any:
    """The rows ``index`` of a loaded manifest, as a manifest of the same file."""
    rows = (
        tuple(manifest.rows[i] for i in index) if len(manifest.rows) == len(manifest.frame) else ()
    )
    return dataclasses.replace(
        manifest, frame=manifest.frame.iloc[list(index)].reset_index(drop=True), rows=rows
    )


def _fixed_operating_point(spec: ModelSpec) -> dict[str, Any]:
    op = spec.operating_point
    return {
        "threshold": op.threshold,
        "source": "fixed in the model spec",
        "rationale": op.rationale,
        "selection": None,
    }


def _estimate(est: Any) -> dict[str, Any]:
    return {
        "estimate": est.estimate,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "confidence_level": est.confidence_level,
        "method": est.method,
        "successes": est.successes,
        "n": est.n,
    }


def _tuning_scores(module: Any, table: CaseTable, spec: ModelSpec, accelerator: str) -> Any:
    """Score the tuning cases with the trained network (the ``radval predict`` data path)."""
    import numpy as np

    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        inference_mode=True,
    )
    dm = ManifestDataModule(spec, predict=table, batch_size=spec.training.batch_size, num_workers=0)
    outputs = trainer.predict(module, datamodule=dm, return_predictions=True) or []
    by_case: dict[str, float] = {}
    for out in outputs:
        assert isinstance(out, dict)
        if out["failures"]:
            f = out["failures"][0]
            raise DicomReadError(
                f"{table.source}: row {f['row']}: tuning case {f['case_id']} "
                f"cannot be scored: {f['error']}"
            )
        by_case.update(zip(out["case_id"], (float(v) for v in out["score"]), strict=True))
    return np.array([by_case[c] for c in table.case_ids], dtype=np.float64)


def _select_operating_point(
    spec: ModelSpec,
    module: Any,
    table: CaseTable,
    manifest: Any,
    split: TuningSplit,
    *,
    accelerator: str,
    test_declared: bool,
) -> dict[str, Any]:
    """Score the tuning split, choose the threshold by the spec's rule, and describe it."""
    import numpy as np

    select = spec.operating_point.select
    assert select is not None and table.labels is not None
    scores = _tuning_scores(module, table, spec, accelerator)
    y = np.array([int(lab == spec.positive_index) for lab in table.labels], dtype=np.int8)
    chosen = select_threshold(y, scores, rule=select.rule, target=select.target)
    called = (scores >= chosen.threshold).astype(np.int8)
    spread = threshold_bootstrap(
        y,
        scores,
        rule=select.rule,
        target=select.target,
        n_resamples=select.n_bootstrap,
        rng=np.random.SeedSequence([select.seed, 1]),
        clusters=manifest.frame["patient_id"].astype(str).to_numpy(),
    )
    return {
        "threshold": chosen.threshold,
        "source": "selected on the tuning split at training time",
        "rationale": spec.operating_point.rationale,
        "selection": {
            "rule": select.rule,
            "target": select.target,
            "on": select.on,
            "tuning_split": {
                "fraction": select.fraction,
                "seed": select.seed,
                "grouped_by": list(split.grouped_by),
                "stratified_by": "whether a patient has a positive case",
                "n_cases": len(table),
                "n_patients": split.n_tuning_units,
                "n_positive": int(y.sum()),
                "n_negative": int(len(y) - y.sum()),
                "case_list_sha256": case_list_sha256(table.case_ids),
                "separation": "held out of training before the first epoch; "
                + (
                    "no patient, study or image shared with the declared test set "
                    "(leakage check passed)"
                    if test_declared
                    else "no test manifest was declared, so none was checked"
                ),
            },
            "at_threshold": {
                "sensitivity": _estimate(sensitivity(y, called, method="wilson")),
                "specificity": _estimate(specificity(y, called, method="wilson")),
                "tp": chosen.tp,
                "fn": chosen.fn,
                "tn": chosen.tn,
                "fp": chosen.fp,
            },
            "threshold_bootstrap": {
                "n_resamples": spread.extra["n_resamples"],
                "n_undefined_resamples": spread.extra["n_undefined_resamples"],
                "resampling": spread.extra["resampling"],
                "sd": spread.se,
                "ci_low": spread.ci_low,
                "ci_high": spread.ci_high,
                "confidence_level": spread.confidence_level,
                "median": spread.extra["median"],
                "min": spread.extra["min"],
                "max": spread.extra["max"],
            },
        },
    }


def train_model(
    spec_path: str | os.PathLike[str],
    *,
    manifest: Any,
    out_dir: str | os.PathLike[str],
    val_manifest: Any = None,
    test_manifest: Any = None,
    max_epochs: int | None = None,
    seed: int = 0,
    accelerator: str = "cpu",
    devices: int | str = 1,
    num_workers: int | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train the model of a spec and write checkpoint, sha256, resolved spec and model card.

    Parameters
    ----------
    spec_path
        The model spec YAML.
    manifest
        Training manifest (with the spec's label column; segmentation: ``mask_path``).
    out_dir
        Output folder: ``model.pt``, ``model.pt.sha256``, ``<name>.resolved.yaml``,
        ``model_card.md``, ``model_card.json``, ``metrics.json``.
    val_manifest
        Optional validation manifest (AUC or Dice logged each epoch; final values
        reported).
    test_manifest
        The locked test set, declared only so that leakage is refused: a training or
        validation manifest sharing any patient (or study, or identical image) with it
        raises ``ManifestError``. It is never read for anything else.
    max_epochs
        Overrides ``training.max_epochs`` of the spec (recorded in the resolved spec).
    seed
        Seed of everything random (weights init, shuffling, augmentation).
    accelerator, devices
        Passed to ``lightning.Trainer`` (CPU by default: the bit-for-bit reproducible path).
    num_workers
        DataLoader workers (default ``training.num_workers``).
    progress
        Show Lightning's progress bar.

    Returns
    -------
    TrainResult

    Raises
    ------
    ModelSpecError, ManifestError, DicomReadError
        Invalid spec, manifest (incl. leakage with the test manifest) or image.
    """
    filter_lightning_warnings()
    spec_p = Path(spec_path)
    spec = load_spec(spec_p)
    if max_epochs is not None:
        if max_epochs < 1:
            raise InputError(f"max_epochs: expected a positive integer, found {max_epochs}")
        spec = spec.model_copy(
            update={"training": spec.training.model_copy(update={"max_epochs": max_epochs})}
        )
    manifest_m = _load(manifest, spec, labels=True, check_files=True)
    val_m = _load(val_manifest, spec, labels=True, check_files=True) if val_manifest else None
    if test_manifest is not None:
        test_m = _load(test_manifest, spec, labels=False, check_files=False)
        # the whole training manifest, tuning split included, must be apart from the test set
        _refuse_leakage(test_m, manifest_m, "training")
        if val_m is not None:
            _refuse_leakage(test_m, val_m, "validation")

    full_t = case_table(manifest_m, spec, with_labels=True)
    select = spec.operating_point.select
    split: TuningSplit | None = None
    train_m, tune_m = manifest_m, None
    train_t, tune_t = full_t, None
    if select is not None:
        assert full_t.labels is not None
        split = split_tuning(
            manifest_m.frame,
            positive=[lab == spec.positive_index for lab in full_t.labels],
            fraction=select.fraction,
            seed=select.seed,
            source=str(Path(manifest_m.path)),
        )
        train_m, tune_m = (
            _part(manifest_m, split.train_index),
            _part(manifest_m, split.tuning_index),
        )
        _refuse_split_leakage(tune_m, train_m)
        train_t, tune_t = full_t.subset(split.train_index), full_t.subset(split.tuning_index)

    pl.seed_everything(seed, workers=True, verbose=False)
    from monai.utils import set_determinism

    set_determinism(seed=seed)
    val_t = case_table(val_m, spec, with_labels=True) if val_m is not None else None
    t = spec.training
    dm = ManifestDataModule(
        spec,
        train=train_t,
        val=val_t,
        batch_size=t.batch_size,
        num_workers=t.num_workers if num_workers is None else num_workers,
        cache=t.cache,
        seed=seed,
    )
    module = module_for(spec)
    trainer = pl.Trainer(
        max_epochs=t.max_epochs,
        accelerator=accelerator,
        devices=devices,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if val_t is not None else 0,
    )
    trainer.fit(module, datamodule=dm)
    metrics = {k: float(v) for k, v in sorted(trainer.callback_metrics.items())}

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(module.network_state(), buf)
    data = buf.getvalue()
    ckpt = out / CHECKPOINT_NAME
    write_bytes_atomic(ckpt, data)
    sha = sha256_bytes(data)
    write_text_atomic(out / f"{CHECKPOINT_NAME}.sha256", f"{sha}  {CHECKPOINT_NAME}\n")
    operating = _fixed_operating_point(spec)
    if select is not None:
        assert tune_t is not None and tune_m is not None and split is not None
        operating = _select_operating_point(
            spec,
            module,
            tune_t,
            tune_m,
            split,
            accelerator=accelerator,
            test_declared=test_manifest is not None,
        )
        spec = spec.model_copy(
            update={
                "operating_point": spec.operating_point.model_copy(
                    update={"threshold": operating["threshold"]}
                )
            }
        )
    resolved = spec.model_copy(
        update={"checkpoint": CheckpointRef(path=CHECKPOINT_NAME, sha256=sha)}
    )
    resolved_path = out / f"{spec.name}.resolved.yaml"
    dump_spec(resolved, resolved_path)

    card = {
        "schema": "radval.model_card/1",
        "model": {
            "name": spec.name,
            "version": spec.version,
            "description": spec.description,
            "task": spec.task,
            "network": spec.network.name,
            "network_args": dict(spec.network.args),
            "parameters": int(sum(p.numel() for p in module.net.parameters())),
            "input": spec.input.model_dump(mode="json"),
            "preprocessing": [s.model_dump(mode="json") for s in spec.preprocessing],
            "classes": list(spec.classes),
            "positive_class": spec.classes[spec.positive_index],
        },
        "operating_point": operating,
        "checkpoint": {"file": CHECKPOINT_NAME, "sha256": sha},
        "spec_sha256": sha256_file(spec_p),
        "card": spec.model_card.model_dump(mode="json"),
        "training": {
            "seed": seed,
            "epochs": t.max_epochs,
            "batch_size": t.batch_size,
            "optimizer": t.optimizer,
            "learning_rate": t.learning_rate,
            "weight_decay": t.weight_decay,
            "augment": [a.model_dump(mode="json") for a in t.augment],
            "device": trainer.strategy.root_device.type,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(),
            "reproducibility": REPRODUCIBILITY,
            "software": software_versions(),
        },
        "training_data": _summary(train_t, train_m.frame, spec),
        "tuning_data": (
            _summary(tune_t, tune_m.frame, spec)
            if tune_t is not None and tune_m is not None
            else None
        ),
        "validation_data": (
            _summary(val_t, val_m.frame, spec) if val_t is not None and val_m is not None else None
        ),
        "test_data_declared": (
            {
                "file": Path(test_m.path).name,
                "sha256": sha256_file(test_m.path),
                "leakage_check": "passed (no shared patients, studies or identical images)",
            }
            if test_manifest is not None
            else None
        ),
        "metrics": metrics,
    }
    card_json = out / "model_card.json"
    write_text_atomic(card_json, json.dumps(card, indent=2, sort_keys=False) + "\n")
    card_md = out / "model_card.md"
    write_text_atomic(card_md, render_model_card(card))
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return TrainResult(
        checkpoint_path=ckpt,
        checkpoint_sha256=sha,
        spec_path=resolved_path,
        model_card_path=card_md,
        model_card_json_path=card_json,
        metrics=metrics,
        seed=seed,
        epochs=t.max_epochs,
        operating_point=operating,
    )


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _ci(est: dict[str, Any]) -> str:
    return (
        f"{est['estimate']:.3f} ({est['successes']}/{est['n']}; "
        f"{est['confidence_level']:.0%} {est['method']} CI {est['ci_low']:.3f}-"
        f"{est['ci_high']:.3f})"
    )


def _operating_lines(op: dict[str, Any]) -> list[str]:
    lines = [
        f"- Threshold: {op['threshold']!r} (a case is positive when score >= threshold); "
        f"{op.get('source', 'fixed in the model spec')}"
    ]
    if op.get("rationale"):
        lines.append(f"- Rationale: {op['rationale']}")
    sel = op.get("selection")
    if not sel:
        return lines
    ts, at, bs = sel["tuning_split"], sel["at_threshold"], sel["threshold_bootstrap"]
    goal = f" >= {sel['target']}" if sel.get("target") is not None else " (maximal J)"
    lines += [
        f"- Rule: {sel['rule']}{goal} on the {sel['on']} split",
        f"- Tuning split: {ts['n_cases']} cases of {ts['n_patients']} patients "
        f"({ts['n_positive']} positive, {ts['n_negative']} negative); fraction {ts['fraction']} "
        f"of the training manifest's patients, seed {ts['seed']}, grouped by "
        f"{', '.join(ts['grouped_by'])}, stratified by {ts['stratified_by']}; case list "
        f"sha256 `{ts['case_list_sha256']}`; {ts['separation']}",
        f"- On the tuning split at the threshold: sensitivity {_ci(at['sensitivity'])}, "
        f"specificity {_ci(at['specificity'])}",
        f"- Threshold stability: sd {bs['sd']:.4f} over {bs['n_resamples']} bootstrap resamples "
        f"of {bs['resampling']}; {bs['confidence_level']:.0%} percentile interval "
        f"{bs['ci_low']:.4f}-{bs['ci_high']:.4f} (range {bs['min']:.4f}-{bs['max']:.4f})",
    ]
    return lines


def render_model_card(card: dict[str, Any]) -> str:
    """Markdown model card (Mitchell et al. 2019, doi:10.1145/3287560.3287596) from its JSON."""
    m, c, tr = card["model"], card["card"], card["training"]
    lines = [
        f"# Model card: {m['name']} {m['version']}",
        "",
        m["description"] or "",
        "",
        "## Model details",
        f"- Task: {m['task']}; classes: {_fmt(m['classes'])} (score = probability of "
        f"`{m['positive_class']}`)",
        f"- Network: MONAI `{m['network']}` ({m['parameters']:,} parameters); "
        f"arguments: {_fmt(m['network_args'])}",
        f"- Input: {_fmt(m['input'])}",
        "- Preprocessing: " + "; ".join(_fmt(s) for s in m["preprocessing"]),
        f"- Locked operating threshold: {card['operating_point']['threshold']!r} "
        f"({card['operating_point'].get('source', 'fixed in the model spec')}; see "
        "Operating point below)",
        f"- Checkpoint: `{card['checkpoint']['file']}` sha256 `{card['checkpoint']['sha256']}`",
        f"- Spec sha256: `{card['spec_sha256']}`",
    ]
    if c.get("owners"):
        lines.append(f"- Owners: {_fmt(c['owners'])}")
    lines += ["", "## Intended use", c["intended_use"]]
    if c.get("out_of_scope_use"):
        lines += ["", "## Out-of-scope use", c["out_of_scope_use"]]
    lines += ["", "## Training data", c["training_data"], ""]
    lines.append("| set | file | sha256 | cases | patients | classes |")
    lines.append("|---|---|---|---|---|---|")
    for role in ("training_data", "tuning_data", "validation_data"):
        d = card.get(role)
        if d:
            lines.append(
                f"| {role.split('_')[0]} | {d['file']} | `{d['sha256'][:16]}…` | "
                f"{d['n_cases']} | {d.get('n_patients', 'n/a')} | "
                f"{_fmt(d.get('class_counts', {})) or 'n/a'} |"
            )
    if card.get("test_data_declared"):
        td = card["test_data_declared"]
        lines += [
            "",
            f"Declared locked test set: {td['file']} (sha256 `{td['sha256'][:16]}…`); "
            f"leakage check {td['leakage_check']}. The test set was not used in training.",
        ]
    lines += ["", "## Operating point"] + _operating_lines(card["operating_point"])
    lines += [
        "",
        "## Training",
        f"- Seed {tr['seed']}, {tr['epochs']} epoch(s), batch {tr['batch_size']}, "
        f"{tr['optimizer']} lr {tr['learning_rate']}, weight decay {tr['weight_decay']}",
        f"- Augmentation: {'; '.join(_fmt(a) for a in tr['augment']) or 'none'}",
        f"- Device: {tr['device']}, CPU kernel capability "
        f"{tr.get('cpu_capability', 'not recorded')}, {tr.get('torch_threads', '?')} torch "
        f"thread(s); software: {_fmt(tr['software'])}",
        f"- Reproducibility: {tr.get('reproducibility', REPRODUCIBILITY)}",
        "",
        "## Metrics (training/validation only — not a clinical performance claim)",
    ]
    for k, v in card["metrics"].items():
        lines.append(f"- {k}: {v:.4f}")
    if not card["metrics"]:
        lines.append("- none recorded")
    lines += ["", "## Limitations", c["limitations"]]
    if c.get("ethical_considerations"):
        lines += ["", "## Ethical considerations", c["ethical_considerations"]]
    if c.get("references"):
        lines += ["", "## References"] + [f"- {r}" for r in c["references"]]
    return "\n".join(lines) + "\n"

"""`radval train` and `radval predict`: thin wrappers over :mod:`validation.modeling`.

Heavy imports (torch, Lightning, MONAI) happen inside the commands so that
``radval --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def train(
    spec: Annotated[Path, typer.Argument(help="Model spec YAML (models/*.yaml).")],
    manifest: Annotated[Path, typer.Option("--manifest", help="Training manifest (CSV/Parquet).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output folder for checkpoint, sha256, resolved spec and model card."
        ),
    ],
    val_manifest: Annotated[
        Path | None, typer.Option("--val-manifest", help="Validation manifest (AUC/Dice logged).")
    ] = None,
    test_manifest: Annotated[
        Path | None,
        typer.Option(
            "--test-manifest",
            help="The locked test manifest: training is refused if it shares "
            "patients with the training or validation manifest.",
        ),
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", help="Override training.max_epochs of the spec.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    accelerator: Annotated[
        str, typer.Option("--accelerator", help="cpu (reproducible), gpu, auto.")
    ] = "cpu",
    num_workers: Annotated[
        int | None, typer.Option("--num-workers", help="DataLoader workers (default: the spec's).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show the training progress bar.")
    ] = False,
    mlflow: Annotated[
        bool,
        typer.Option(
            "--mlflow",
            help="Record the training as an MLflow run ($MLFLOW_TRACKING_URI) and name it in "
            "model_card.json (mlflow.run_id), so studies of this model log to it.",
        ),
    ] = False,
    register_model: Annotated[
        str | None,
        typer.Option(
            help="With --mlflow: also create a version of this MLflow registered model from the "
            "run."
        ),
    ] = None,
) -> None:
    """Train a model spec on a manifest: checkpoint + sha256 + resolved spec + model card."""
    from validation.errors import PublishError
    from validation.modeling.train import train_model
    from validation.outputs.mlflow_log import connect, log_training

    if register_model is not None and not mlflow:
        raise PublishError("--register-model needs --mlflow")
    # refuse a missing $MLFLOW_TRACKING_URI before training
    tracking = connect() if mlflow else None
    result = train_model(
        spec,
        manifest=manifest,
        out_dir=out,
        val_manifest=val_manifest,
        test_manifest=test_manifest,
        max_epochs=max_epochs,
        seed=seed,
        accelerator=accelerator,
        num_workers=num_workers,
        progress=progress,
    )
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    typer.echo(f"checkpoint: {result.checkpoint_path}")
    typer.echo(f"sha256: {result.checkpoint_sha256}")
    typer.echo(f"resolved spec: {result.spec_path}")
    typer.echo(f"model card: {result.model_card_path}")
    typer.echo(f"metrics: {metrics or 'none'}")
    typer.echo(
        f"operating threshold: {result.operating_point['threshold']!r} "
        f"({result.operating_point['source']})"
    )
    sel = result.operating_point.get("selection")
    if sel:
        at, ts = sel["at_threshold"], sel["tuning_split"]
        typer.echo(
            f"  rule {sel['rule']}"
            + (f" >= {sel['target']}" if sel["target"] else "")
            + f" on {ts['n_cases']} tuning cases ({ts['n_patients']} patients): "
            f"sensitivity {at['sensitivity']['estimate']:.3f}, "
            f"specificity {at['specificity']['estimate']:.3f}; threshold sd "
            f"{sel['threshold_bootstrap']['sd']:.4f} over "
            f"{sel['threshold_bootstrap']['n_resamples']} bootstrap resamples"
        )
    if tracking is not None:
        out_dir = result.checkpoint_path.parent
        files = [
            result.checkpoint_path,
            out_dir / f"{result.checkpoint_path.name}.sha256",
            result.spec_path,
            result.model_card_path,
            out_dir / "metrics.json",
            result.model_card_json_path,
        ]
        log = log_training(
            tracking,
            card_path=result.model_card_json_path,
            files=[f for f in files if f.is_file()],
            register_model=register_model,
        )
        typer.echo(log.describe())


def predict(
    spec: Annotated[
        list[Path],
        typer.Argument(
            help="Model spec YAML(s) (e.g. the resolved spec written by radval train); "
            "several specs are scored in one pass over the decoded images."
        ),
    ],
    manifest: Annotated[Path, typer.Option("--manifest", help="Manifest of the cases to score.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Scores Parquet file to write; with several specs, the folder of one "
            "<spec name>.parquet per model.",
        ),
    ],
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Weights (default: the spec's checkpoint.path)."),
    ] = None,
    expected_sha256: Annotated[
        str | None, typer.Option("--expected-sha256", help="Declared sha256 of the checkpoint.")
    ] = None,
    devices: Annotated[
        str, typer.Option("--devices", help="Devices per node (N or 'auto').")
    ] = "1",
    accelerator: Annotated[
        str, typer.Option("--accelerator", help="auto, cpu, gpu, cuda, mps.")
    ] = "auto",
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision", help="Lightning precision, e.g. bf16-mixed, 16-mixed, 32-true."
        ),
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="auto, ddp, ddp_spawn, ...")] = "auto",
    num_nodes: Annotated[int, typer.Option("--num-nodes", help="Nodes (SLURM/torchrun).")] = 1,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", help="Cases per batch group (one shard; keep it for resumes)."
        ),
    ] = 32,
    num_workers: Annotated[int, typer.Option("--num-workers", help="DICOM-decoding workers.")] = 2,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error", help="continue: record failed cases and go on; stop: stop at the first."
        ),
    ] = "continue",
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar in images/s (stderr).")
    ] = True,
    card: Annotated[
        Path | None,
        typer.Option(
            "--card",
            help="Model card JSON written by radval train (default: model_card.json "
            "beside the checkpoint); its operating threshold is the one recorded.",
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="Decoded-image cache folder (content-addressed, shareable between runs "
            "and models; scores are identical with or without it).",
        ),
    ] = None,
    cache_max_gb: Annotated[
        float, typer.Option("--cache-max-gb", help="Size limit of --cache (LRU eviction).")
    ] = 20.0,
) -> None:
    """Score a manifest with verified checkpoints (one or several models); resumable; DDP-ready."""
    from validation.data.pixel_cache import PixelCache
    from validation.errors import InputError
    from validation.modeling.multi import predict_many
    from validation.modeling.predict import predict_scores

    if on_error not in ("continue", "stop"):
        raise InputError(f"--on-error: expected 'continue' or 'stop', found {on_error!r}")
    if len(spec) > 1 and (checkpoint or expected_sha256 or card):
        raise InputError(
            "--checkpoint, --expected-sha256 and --card name one model's files: with "
            f"{len(spec)} specs, each spec must name its checkpoint (checkpoint.path and "
            "checkpoint.sha256)"
        )
    if not (cache_max_gb > 0 and cache_max_gb < float("inf")):
        raise InputError(f"--cache-max-gb: expected a positive number, found {cache_max_gb}")
    pixel_cache = None if cache is None else PixelCache(cache, max_bytes=int(cache_max_gb * 2**30))
    dev: int | str = int(devices) if devices.isdigit() else devices
    run: dict[str, Any] = {
        "manifest": manifest,
        "devices": dev,
        "accelerator": accelerator,
        "precision": precision,
        "strategy": strategy,
        "num_nodes": num_nodes,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "on_error": on_error,
        "progress": progress,
        "pixel_cache": pixel_cache,
    }
    if len(spec) > 1:
        for result in predict_many(spec, out_dir=out, **run):
            if result.is_global_zero:
                _report_scores(result)
        return
    result = predict_scores(
        spec[0],
        checkpoint=checkpoint,
        out=out,
        expected_sha256=expected_sha256,
        card=card,
        **run,
    )
    if result.is_global_zero:
        _report_scores(result)


def _report_scores(result: Any) -> None:
    out = result.scores_path
    op = result.metadata.get("operating_point") or {}
    typer.echo(
        f"operating threshold: {result.metadata.get('operating_threshold')!r} "
        f"(from {op.get('source', 'the spec')})"
    )
    typer.echo(
        f"scores: {result.scores_path} ({result.n_scored} scored, "
        f"{len(result.failures)} failed, {result.resumed_groups} group(s) resumed)"
    )
    if result.failures:
        typer.echo(
            f"radval: warning: {len(result.failures)} case(s) could not be scored "
            f"(listed in the file's metadata and "
            f"{out.with_name(out.stem + '.failures.csv')}):",
            err=True,
        )
        for f in result.failures[:10]:
            typer.echo(f"  {f.case_id} (row {f.row}): {f.error}", err=True)
        if len(result.failures) > 10:
            typer.echo(f"  ... and {len(result.failures) - 10} more", err=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("train")(train)
    app.command("predict")(predict)

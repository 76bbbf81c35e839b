"""Training and inference: model specs + manifests -> checkpoints and scores with provenance.

Public API (imported lazily, so ``validation.modeling.spec`` stays light)::

    load_spec(path) -> ModelSpec
    train_model(spec_path, *, manifest, out_dir, ...) -> TrainResult
    predict_scores(spec_path, *, manifest, out, ...) -> PredictResult
    predict_many(spec_paths, *, manifest, out_dir, ...) -> tuple[PredictResult, ...]
    read_scores_metadata(scores_path) -> dict
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "CaseFailure",
    "ModelSpec",
    "ModelSpecError",
    "PredictResult",
    "TrainResult",
    "ModelToScore",
    "load_spec",
    "predict_many",
    "predict_scores",
    "read_scores_metadata",
    "train_model",
]

_WHERE = {
    "CaseFailure": "predict",
    "ModelSpec": "spec",
    "ModelSpecError": "spec",
    "PredictResult": "predict",
    "TrainResult": "train",
    "ModelToScore": "multi",
    "load_spec": "spec",
    "predict_many": "multi",
    "predict_scores": "predict",
    "read_scores_metadata": "writer",
    "train_model": "train",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"validation.modeling.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'validation.modeling' has no attribute {name!r}")

"""Study runner helpers: input resolution, case alignment, random streams, environment.

Private to :mod:`validation.study`; nothing here computes a statistic.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation import __version__
from validation.errors import CheckpointError, InputError, ManifestError
from validation.io import sha256_file
from validation.protocol.load import LoadedProtocol
from validation.protocol.schema import ModelRef

#: Packages whose versions are recorded in ``results.json`` (R23).
PACKAGES = (
    "radval", "numpy", "scipy", "pandas", "pyarrow", "statsmodels", "scikit-learn", "fairlearn",
    "pydantic", "pyyaml", "jsonschema", "torch", "monai", "lightning", "torchmetrics", "pydicom",
)


def stream(seed: int, *key: str) -> np.random.Generator:
    """An independent random stream for one endpoint/subgroup/analysis.

    The stream depends only on the protocol seed and the key (e.g. ``("endpoint",
    "sens_primary")``), through ``numpy.random.SeedSequence``; adding or removing
    another endpoint never changes this one's numbers.
    """
    digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32, *words]))


def environment(device: str | None = None) -> dict[str, Any]:
    """Python, platform, radval version, git commit, device and package versions."""
    packages: dict[str, str] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "radval_version": __version__,
        "git_commit": git_commit(),
        "device": device or _device(),
        "packages": packages,
    }


def git_commit() -> str | None:
    """Commit of the radval source tree (``+dirty`` when it has local changes), if any."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def _device() -> str:
    torch = sys.modules.get("torch")
    if torch is None:
        return "cpu (statistics only; no inference in this process)"
    try:
        if torch.cuda.is_available():
            return f"cuda ({torch.cuda.get_device_name(0)})"
    except Exception:  # noqa: BLE001 - a broken CUDA setup still leaves the CPU
        return "cpu"
    return "cpu"


def file_ref(path: Path, declared: str | None, *, n_rows: int | None = None) -> dict[str, Any]:
    """A ``{path, sha256, declared[, n_rows]}`` record for ``results.json``."""
    out: dict[str, Any] = {"path": str(path), "sha256": sha256_file(path), "declared": declared}
    if n_rows is not None:
        out["n_rows"] = int(n_rows)
    return out


@dataclass
class Cases:
    """The aligned analysis set: one row per manifest case."""

    frame: pd.DataFrame
    y_true: np.ndarray
    clusters: np.ndarray | None
    score: np.ndarray | None = None
    baseline: np.ndarray | None = None
    failures: list[dict[str, str]] = field(default_factory=list)


def load_manifest_frame(loaded: LoadedProtocol) -> tuple[Path, pd.DataFrame]:
    """Load the test-set manifest through :mod:`validation.data.manifest`."""
    from validation.data.manifest import load_manifest

    ts = loaded.protocol.test_set
    path = loaded.resolve(ts.manifest)
    assert path is not None
    manifest = load_manifest(path, label_columns=[ts.label_column])
    frame = manifest.frame.reset_index(drop=True)
    for col in ("case_id", ts.label_column):
        if col not in frame.columns:
            raise ManifestError(f"{path}: column {col!r} is missing; the protocol needs it")
    if ts.cluster_column is not None and ts.cluster_column not in frame.columns:
        raise ManifestError(
            f"{path}: cluster column {ts.cluster_column!r} (test_set.cluster_column) is missing; "
            "set test_set.cluster_column: null to analyse cases as independent"
        )
    return path, frame


def read_scores(path: Path) -> pd.DataFrame:
    """Read a ``case_id, score`` file (Parquet or CSV) and check it."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"scores file {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise InputError(f"cannot read scores file {path}: {exc}") from None
    for col in ("case_id", "score"):
        if col not in frame.columns:
            raise InputError(f"{path}: column {col!r} is missing; expected columns case_id, score")
    frame = frame.assign(case_id=frame["case_id"].astype(str))
    dup = frame["case_id"].duplicated(keep=False)
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{path}: row {row + 1}, field 'case_id': duplicate case_id {frame['case_id'].iloc[row]!r}")
    values = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: row {row + 1}, field 'score': expected a finite number, found {frame['score'].iloc[row]!r}"
        )
    return pd.DataFrame({"case_id": frame["case_id"].to_numpy(), "score": values})


def obtain_scores(
    loaded: LoadedProtocol, ref: ModelRef, manifest: Path, study_dir: Path, name: str
) -> tuple[Path, str | None]:
    """Return the scores path for a model: the declared file, or one produced by inference."""
    if ref.scores is not None:
        path = loaded.resolve(ref.scores)
        assert path is not None
        if ref.scores_sha256 is not None and sha256_file(path) != ref.scores_sha256:
            raise InputError(
                f"scores file {path}: sha256 is {sha256_file(path)}, the protocol expects {ref.scores_sha256}"
            )
        return path, ref.scores
    spec = loaded.resolve(ref.spec)
    checkpoint = loaded.resolve(ref.checkpoint)
    assert spec is not None and checkpoint is not None
    if ref.checkpoint_sha256 is not None and sha256_file(checkpoint) != ref.checkpoint_sha256:
        raise CheckpointError(
            f"checkpoint {checkpoint}: sha256 is {sha256_file(checkpoint)}, "
            f"the protocol expects {ref.checkpoint_sha256}"
        )
    from validation.modeling.predict import predict_scores

    out = study_dir / "scores" / f"{name}.parquet"
    produced = predict_scores(
        spec, checkpoint=checkpoint, manifest=manifest, out=out,
        expected_sha256=ref.checkpoint_sha256, progress=False,
    )
    return Path(produced.scores_path), None


def align(
    frame: pd.DataFrame,
    label: str,
    cluster_column: str | None,
    scores: pd.DataFrame,
    *,
    scores_path: Path,
    missing: str,
    baseline: pd.DataFrame | None = None,
    baseline_path: Path | None = None,
) -> Cases:
    """Join scores onto the manifest by ``case_id`` (never by order).

    A case without a score stops the study (``missing == "error"``) or is scored
    worst-case and listed under ``failures`` (R15: nothing is silently dropped).
    Scores for cases not in the manifest are an error: they are not from this test set.
    """
    case_ids = frame["case_id"].astype(str).to_numpy()
    y_true = frame[label].to_numpy()
    clusters = frame[cluster_column].astype(str).to_numpy() if cluster_column else None
    failures: list[dict[str, str]] = []

    def one(sc: pd.DataFrame, path: Path, tag: str) -> np.ndarray:
        extra = sorted(set(sc["case_id"]) - set(case_ids))
        if extra:
            raise InputError(
                f"{path}: {len(extra)} case_id(s) are not in the test-set manifest, e.g. {extra[0]!r}"
            )
        lookup = pd.Series(sc["score"].to_numpy(), index=sc["case_id"].to_numpy())
        values = lookup.reindex(case_ids).to_numpy(dtype=np.float64)
        gone = np.isnan(values)
        if gone.any():
            first = case_ids[np.flatnonzero(gone)[0]]
            if missing == "error":
                raise InputError(
                    f"{path}: no score for {int(gone.sum())} manifest case(s), e.g. case_id {first!r} "
                    "(set test_set.missing_outputs: worst_case to count them as errors instead)"
                )
            finite = values[~gone]
            lo = float(finite.min()) - 1.0 if finite.size else -1.0
            hi = float(finite.max()) + 1.0 if finite.size else 1.0
            values = np.where(gone, np.where(y_true == 1, lo, hi), values)
            failures.extend(
                {"case_id": str(c), "reason": f"no {tag} output; scored worst-case"} for c in case_ids[gone]
            )
        return values

    score = one(scores, scores_path, "model")
    base = one(baseline, baseline_path, "baseline") if baseline is not None and baseline_path else None
    return Cases(frame, y_true, clusters, score, base, failures)

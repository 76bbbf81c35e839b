"""Study runner helpers: input resolution, case alignment, random streams, environment.

Private to :mod:`validation.study`; nothing here computes a statistic.
"""

from __future__ import annotations

import hashlib
import json
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
from validation.protocol.cards import card_threshold
from validation.protocol.load import LoadedProtocol
from validation.protocol.schema import Exclusion, ModelRef, Protocol

#: Parquet metadata key of the provenance block ``radval predict`` writes
#: (``validation.modeling.writer.METADATA_KEY``; read here with pyarrow alone so a
#: statistics-only run does not import torch/lightning).
SCORES_METADATA_KEY = b"radval"

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
    """The aligned analysis set: one row per analysed manifest case.

    ``excluded`` and ``imputed`` are the STARD flow lines (``{reason, n}``) this step
    produced: cases dropped for want of a model output (``missing_outputs: exclude``) and
    outputs scored worst-case (``missing_outputs: worst_case``). ``manifest_ids`` are all
    the manifest's case ids (also those excluded), against which input files are checked.
    """

    frame: pd.DataFrame
    y_true: np.ndarray
    clusters: np.ndarray | None
    score: np.ndarray | None = None
    baseline: np.ndarray | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    imputed: list[dict[str, Any]] = field(default_factory=list)
    manifest_ids: frozenset[str] = frozenset()


def apply_exclusions(
    frame: pd.DataFrame, rules: list[Exclusion], *, source: Path
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Drop the manifest rows the protocol's exclusion rules select; return the flow lines.

    A row matches a rule when its value in ``rule.column`` equals one of ``rule.values``
    as text, or numerically (``1`` matches ``1.0``). A row matching several rules is
    counted once, under the first rule it matches, so the lines add up to the rows dropped.
    """
    keep = np.ones(len(frame), dtype=bool)
    lines: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        if rule.column not in frame.columns:
            raise ManifestError(
                f"{source}: column {rule.column!r} (test_set.exclusions[{i}].column) is missing; "
                f"columns are {list(frame.columns)}"
            )
        col = frame[rule.column]
        texts = {str(v) for v in rule.values}
        numbers = [float(v) for v in rule.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        hit = np.array(col.astype("string").isin(texts).fillna(False), dtype=bool)
        if numbers:
            hit = hit | np.array(pd.to_numeric(col, errors="coerce").isin(numbers), dtype=bool)
        new = hit & keep
        keep &= ~hit
        lines.append({"reason": rule.reason, "n": int(new.sum()), "rule": f"test_set.exclusions[{i}]"})
    return frame.loc[keep].reset_index(drop=True), lines


def scores_provenance(path: Path) -> dict[str, Any]:
    """The provenance block ``radval predict`` wrote into a scores Parquet's metadata.

    ``{}`` for a CSV or a Parquet file without one (scores from another tool).
    """
    if path.suffix.lower() not in (".parquet", ".pq"):
        return {}
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise InputError(f"cannot read scores file {path}: {exc}") from None
    raw = (schema.metadata or {}).get(SCORES_METADATA_KEY)
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError:
        raise InputError(f"{path}: the radval provenance block in the Parquet metadata is not valid JSON") from None
    return dict(meta) if isinstance(meta, dict) else {}


def inference_failures(path: Path, provenance: dict[str, Any]) -> dict[str, str]:
    """``case_id -> error`` of the cases inference could not score.

    Read from the scores file's provenance (``failures``) or, when it has none, from the
    ``<stem>.failures.csv`` that ``radval predict`` writes beside the scores.
    """
    out: dict[str, str] = {}
    for f in provenance.get("failures") or []:
        if isinstance(f, dict) and f.get("case_id") is not None:
            out[str(f["case_id"])] = str(f.get("error") or "inference failed")
    side = path.with_name(path.stem + ".failures.csv")
    if not out and side.is_file():
        try:
            table = pd.read_csv(side, dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
            raise InputError(f"cannot read failures file {side}: {exc}") from None
        if "case_id" not in table.columns:
            raise InputError(f"{side}: column 'case_id' is missing; expected case_id, row, error")
        errors = table["error"] if "error" in table.columns else pd.Series([""] * len(table))
        for cid, err in zip(table["case_id"], errors, strict=True):
            out[str(cid)] = str(err) or "inference failed"
    return out


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
        expected_sha256=ref.checkpoint_sha256, progress=False, card=loaded.resolve(ref.card),
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
    manifest_ids: Any = None,
    failure_reasons: dict[str, str] | None = None,
    baseline_failure_reasons: dict[str, str] | None = None,
) -> Cases:
    """Join scores onto the manifest by ``case_id`` (never by order).

    A case without a score (from the model or, when there is one, the baseline) stops the
    study (``missing == "error"``), is scored worst-case (``"worst_case"``) or is dropped
    from the analysis (``"exclude"``); either way it is listed under ``failures`` with its
    reason (the inference error recorded by ``radval predict`` when there is one) and
    counted in the flow lines ``Cases.imputed`` / ``Cases.excluded`` (R15: nothing is
    silently dropped). Scores for cases not in the manifest (``manifest_ids``, default
    ``frame``'s) are an error: they are not from this test set.
    """
    case_ids = frame["case_id"].astype(str).to_numpy()
    known = set(case_ids) if manifest_ids is None else {str(c) for c in manifest_ids}
    y_true = frame[label].to_numpy()

    def lookup(sc: pd.DataFrame, path: Path) -> np.ndarray:
        extra = sorted(set(sc["case_id"]) - known)
        if extra:
            raise InputError(
                f"{path}: {len(extra)} case_id(s) are not in the test-set manifest, e.g. {extra[0]!r}"
            )
        series = pd.Series(sc["score"].to_numpy(), index=sc["case_id"].to_numpy())
        return series.reindex(case_ids).to_numpy(dtype=np.float64)

    outputs: list[tuple[str, Path, np.ndarray, dict[str, str]]] = [
        ("model", scores_path, lookup(scores, scores_path), failure_reasons or {})
    ]
    if baseline is not None and baseline_path is not None:
        outputs.append(("baseline", baseline_path, lookup(baseline, baseline_path), baseline_failure_reasons or {}))
    gone_any = np.zeros(len(case_ids), dtype=bool)
    for _, path, values, reasons in outputs:
        gone = np.isnan(values)
        if gone.any() and missing == "error":
            first = case_ids[np.flatnonzero(gone)[0]]
            why = f" (inference failed: {reasons[first]})" if first in reasons else ""
            raise InputError(
                f"{path}: no score for {int(gone.sum())} manifest case(s), e.g. case_id {first!r}{why} "
                "(set test_set.missing_outputs: worst_case or exclude to count them instead)"
            )
        gone_any |= gone

    def cause(tag: str, path: Path, cid: str, reasons: dict[str, str]) -> tuple[str, str]:
        """(flow category, per-case reason) of a missing output."""
        if cid in reasons:
            return f"no {tag} output: inference failed", f"no {tag} output: inference failed ({reasons[cid]})"
        return f"no {tag} output: case not in {path.name}", f"no {tag} output: case not in {path.name}"

    failures: list[dict[str, str]] = []
    excluded: dict[str, int] = {}
    imputed: dict[str, int] = {}
    done = " excluded from the analysis" if missing == "exclude" else " scored worst-case"
    for row in np.flatnonzero(gone_any):
        cid = str(case_ids[row])
        first_category = None
        for tag, path, values, reasons in outputs:
            if not np.isnan(values[row]):
                continue
            category, reason = cause(tag, path, cid, reasons)
            failures.append({"case_id": cid, "reason": reason + ";" + done})
            if missing == "worst_case":
                imputed[category] = imputed.get(category, 0) + 1
            first_category = first_category or category
        if missing == "exclude":
            assert first_category is not None
            # one line per case (under its first missing output) so the counts add up
            excluded[first_category] = excluded.get(first_category, 0) + 1

    arrays: list[np.ndarray] = []
    for _, _, values, _ in outputs:
        gone = np.isnan(values)
        if missing == "worst_case" and gone.any():
            finite = values[~gone]
            lo = float(finite.min()) - 1.0 if finite.size else -1.0
            hi = float(finite.max()) + 1.0 if finite.size else 1.0
            values = np.where(gone, np.where(y_true == 1, lo, hi), values)
        arrays.append(values)
    if missing == "exclude" and gone_any.any():
        keep = ~gone_any
        frame = frame.loc[keep].reset_index(drop=True)
        y_true = y_true[keep]
        arrays = [a[keep] for a in arrays]
    clusters = frame[cluster_column].astype(str).to_numpy() if cluster_column else None
    return Cases(
        frame, y_true, clusters, arrays[0], arrays[1] if len(arrays) > 1 else None, failures,
        excluded=[{"reason": k, "n": v} for k, v in excluded.items()],
        imputed=[{"reason": k, "n": v} for k, v in imputed.items()],
        manifest_ids=frozenset(known),
    )


def with_card_thresholds(loaded: LoadedProtocol) -> Protocol:
    """The protocol with each model's threshold filled in from its model card when not stated.

    A model block naming a ``card`` and no ``threshold`` uses the threshold the card records
    (``operating_point.threshold``, as ``radval train`` fixed or selected it). A stated
    threshold is kept (``check_protocol`` has already refused one that disagrees).
    """
    proto = loaded.protocol
    update: dict[str, Any] = {}
    for role in ("model", "baseline"):
        ref: ModelRef | None = getattr(proto, role)
        if ref is None or ref.card is None or ref.threshold is not None:
            continue
        path = loaded.resolve(ref.card)
        assert path is not None
        update[role] = ref.model_copy(update={"threshold": card_threshold(path, where=f"{role}.card")})
    return proto.model_copy(update=update) if update else proto


def load_model_card(loaded: LoadedProtocol, ref: ModelRef, where: str) -> tuple[Path | None, dict[str, Any] | None]:
    """Read the model card JSON a protocol's model block names (``card``), if any.

    The card is the ``model_card.json`` that :func:`validation.modeling.train_model`
    writes; it must be a JSON object and match ``card_sha256`` when one is declared.
    """
    if ref.card is None:
        return None, None
    path = loaded.resolve(ref.card)
    assert path is not None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"model card {path} ({where}.card): cannot read it: {exc.strerror or exc}") from None
    if ref.card_sha256 is not None and sha256_file(path) != ref.card_sha256:
        raise InputError(
            f"model card {path}: sha256 is {sha256_file(path)}, the protocol expects {ref.card_sha256}"
        )
    try:
        card = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"model card {path} ({where}.card): not valid JSON: {exc}") from None
    if not isinstance(card, dict):
        raise InputError(
            f"model card {path} ({where}.card): expected a JSON object, found {type(card).__name__}"
        )
    return path, card


def model_record(
    loaded: LoadedProtocol, ref: ModelRef | None, where: str, scores_path: Path | None,
    provenance: dict[str, Any],
) -> tuple[dict[str, Any] | None, Path | None]:
    """The ``model`` (or ``baseline_model``) record of ``results.json`` and its card's path.

    Spec and checkpoint hashes come from the files the protocol names or, for a scores
    file, from the provenance ``radval predict`` recorded in it. A model card whose
    checkpoint differs from the one that produced the scores is an input error: the card
    would describe another model.
    """
    if ref is None:
        return None, None
    spec = loaded.resolve(ref.spec)
    ckpt = loaded.resolve(ref.checkpoint)
    raw_meta = provenance.get("model")
    model_meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    spec_sha = sha256_file(spec) if spec is not None and spec.is_file() else model_meta.get("spec_sha256")
    ckpt_sha = sha256_file(ckpt) if ckpt is not None and ckpt.is_file() else provenance.get("checkpoint_sha256")
    card_path, card = load_model_card(loaded, ref, where)
    if card is not None and ckpt_sha is not None:
        card_ckpt = (card.get("checkpoint") or {}).get("sha256") if isinstance(card.get("checkpoint"), dict) else None
        if card_ckpt is not None and card_ckpt != ckpt_sha:
            raise InputError(
                f"model card {card_path} ({where}.card) describes checkpoint sha256 {card_ckpt}, but the "
                f"{where}'s scores{'' if scores_path is None else f' ({scores_path.name})'} come from "
                f"checkpoint {ckpt_sha}"
            )
    prov = {k: provenance[k] for k in ("schema", "task", "model", "checkpoint_sha256", "manifest",
                                       "operating_threshold", "positive_class", "n_cases", "n_scored", "n_failed")
            if k in provenance}
    stated = getattr(loaded.protocol, where).threshold
    return {
        "name": ref.name,
        "threshold": ref.threshold,
        "threshold_source": (None if ref.threshold is None else
                             "protocol" if stated is not None else "model card"),
        "spec_sha256": spec_sha,
        "checkpoint_sha256": ckpt_sha,
        "model_card": card,
        "provenance": prov or None,
    }, card_path

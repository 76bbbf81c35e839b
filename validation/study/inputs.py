"""Study runner helpers: input resolution, case alignment, random streams, environment.

Private to :mod:`validation.study`; nothing here computes a statistic.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation import __version__, tables
from validation.data.manifest import load_manifest
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
    "radval",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "statsmodels",
    "scikit-learn",
    "fairlearn",
    "pydantic",
    "pyyaml",
    "jsonschema",
    "torch",
    "monai",
    "lightning",
    "torchmetrics",
    "pydicom",
    "highdicom",
    "dicomweb-client",
)


def stream(seed: int, *key: str) -> np.random.Generator:
    """An independent random stream for one endpoint/subgroup/analysis.

    The stream depends only on the protocol seed and the key (e.g. ``("endpoint",
    "sens_primary")``), through ``numpy.random.SeedSequence``; adding or removing
    another endpoint never changes this one's numbers.
    """
    digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32, *words])
    )


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
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
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


def exclusion_problems(
    frame: pd.DataFrame, rules: list[Exclusion], *, source: Path
) -> list[tuple[int, str]]:
    """``(rule index, message)`` for every exclusion rule whose column the manifest lacks."""
    return [
        (
            i,
            f"{source}: column {rule.column!r} (test_set.exclusions[{i}].column) is missing; "
            f"columns are {list(frame.columns)}",
        )
        for i, rule in enumerate(rules)
        if rule.column not in frame.columns
    ]


def apply_exclusions(
    frame: pd.DataFrame, rules: list[Exclusion], *, source: Path
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Drop the manifest rows the protocol's exclusion rules select; return the flow lines.

    A row matches a rule when its value in ``rule.column`` equals one of ``rule.values``
    as text, or numerically (``1`` matches ``1.0``). A row matching several rules is
    counted once, under the first rule it matches, so the lines add up to the rows dropped.
    """
    problems = exclusion_problems(frame, rules, source=source)
    if problems:
        raise ManifestError(problems[0][1])
    keep = np.ones(len(frame), dtype=bool)
    lines: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        col = frame[rule.column]
        texts = {str(v) for v in rule.values}
        numbers = [
            float(v) for v in rule.values if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        hit = np.array(col.astype("string").isin(texts).fillna(False), dtype=bool)
        if numbers:
            hit = hit | np.array(pd.to_numeric(col, errors="coerce").isin(numbers), dtype=bool)
        new = hit & keep
        keep &= ~hit
        lines.append(
            {"reason": rule.reason, "n": int(new.sum()), "rule": f"test_set.exclusions[{i}]"}
        )
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
    except (ValueError, RecursionError):
        raise InputError(
            f"{path}: the radval provenance block in the Parquet metadata is not valid JSON"
        ) from None
    problem = _provenance_problem(meta)
    if problem is not None:
        raise InputError(
            f"{path}: the radval provenance block in the Parquet metadata is malformed: {problem}"
        )
    return dict(meta)


_SHA256_TEXT = re.compile(r"^[0-9a-f]{64}$")


def _kind(value: Any) -> str:
    text = json.dumps(value, default=str)
    return f"{type(value).__name__} {text[:40] + ('...' if len(text) > 40 else '')}"


def _provenance_problem(meta: Any) -> str | None:
    """What is wrong with a provenance block's types (None when every known key is right).

    The keys ``radval predict`` writes are checked (unknown keys are kept as they are),
    so that nothing of the wrong type reaches ``results.json`` or the failure reasons.
    """
    if not isinstance(meta, dict):
        return f"expected a JSON object, found {_kind(meta)}"

    def text(v: Any) -> bool:
        return isinstance(v, str)

    def sha(v: Any) -> bool:
        return v is None or (isinstance(v, str) and bool(_SHA256_TEXT.match(v)))

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def number(v: Any) -> bool:
        return v is None or (
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        )

    top: dict[str, tuple[Any, str]] = {
        "schema": (text, "text"),
        "task": (text, "text"),
        "model": (lambda v: isinstance(v, dict), "an object"),
        "checkpoint_sha256": (sha, "64 lower-case hex digits or null"),
        "manifest": (lambda v: isinstance(v, dict), "an object"),
        "operating_threshold": (number, "a finite number or null"),
        "positive_class": (lambda v: isinstance(v, str | int) and not isinstance(v, bool), "text"),
        "batch_size": (count, "a non-negative integer"),
        "n_cases": (count, "a non-negative integer"),
        "n_scored": (count, "a non-negative integer"),
        "n_failed": (count, "a non-negative integer"),
        "failures": (lambda v: isinstance(v, list), "a list"),
        "software": (lambda v: isinstance(v, dict), "an object"),
    }
    nested: dict[str, dict[str, tuple[Any, str]]] = {
        "model": {
            "name": (text, "text"),
            "version": (text, "text"),
            "spec_sha256": (sha, "64 lower-case hex digits or null"),
            "spec_canonical_sha256": (sha, "64 lower-case hex digits or null"),
        },
        "manifest": {"file": (text, "text"), "sha256": (sha, "64 lower-case hex digits or null")},
    }
    for key, (ok, expected) in top.items():
        if key in meta and not ok(meta[key]):
            return f"'{key}' should be {expected}, found {_kind(meta[key])}"
    for key, fields in nested.items():
        block = meta.get(key)
        for name, (ok, expected) in fields.items():
            if isinstance(block, dict) and name in block and not ok(block[name]):
                return f"'{key}.{name}' should be {expected}, found {_kind(block[name])}"
    for i, f in enumerate(meta.get("failures") or []):
        if not (
            isinstance(f, dict)
            and isinstance(f.get("case_id"), str | int)
            and not isinstance(f.get("case_id"), bool)
        ):
            return f"'failures[{i}]' should be an object with a case_id, found {_kind(f)}"
        if "row" in f and not count(f["row"]):
            return f"'failures[{i}].row' should be a non-negative integer, found {_kind(f['row'])}"
        if "error" in f and not (f["error"] is None or text(f["error"])):
            return f"'failures[{i}].error' should be text, found {_kind(f['error'])}"
    return None


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
        table = tables.read_table(side, what="failures", dtype=str, keep_default_na=False)
        if "case_id" not in table.columns:
            raise InputError(f"{side}: column 'case_id' is missing; expected case_id, row, error")
        errors = table["error"] if "error" in table.columns else pd.Series([""] * len(table))
        for cid, err in zip(table["case_id"], errors, strict=True):
            out[str(cid)] = str(err) or "inference failed"
    return out


def load_manifest_frame(loaded: LoadedProtocol) -> tuple[Path, pd.DataFrame]:
    """Load the test-set manifest through :mod:`validation.data.manifest`."""

    ts = loaded.protocol.test_set
    path = loaded.resolve(ts.manifest)
    assert path is not None
    # with `truthing.use: derive` the label comes from the truthing file, not the manifest
    derive = ts.truthing is not None and ts.truthing.use == "derive"
    label_columns = [] if derive else [ts.label_column]
    manifest = load_manifest(path, label_columns=label_columns)
    frame = manifest.frame.reset_index(drop=True)
    for col in ("case_id", *label_columns):
        if col not in frame.columns:
            raise ManifestError(f"{path}: column {col!r} is missing; the protocol needs it")
    problem = cluster_problem(frame, ts.cluster_column, source=path)
    if problem is not None:
        raise ManifestError(problem)
    return path, frame


def _finite_or_nan(values: pd.Series) -> np.ndarray:
    """Numbers as float64; anything that is not a number (or overflows) becomes NaN."""
    try:
        return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=np.float64)
    except (OverflowError, TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (OverflowError, TypeError, ValueError):
                continue
        return out


def cluster_problem(frame: pd.DataFrame, column: str | None, *, source: Path) -> str | None:
    """The problem with the protocol's cluster column (``test_set.cluster_column``), if any."""
    if column is None or column in frame.columns:
        return None
    return (
        f"{source}: cluster column {column!r} (test_set.cluster_column) is missing; "
        "set test_set.cluster_column: null to analyse cases as independent"
    )


def show_value(value: Any) -> str:
    """A cell value for a message: ``an empty value`` for blanks/NaN, else its text quoted."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "an empty value"
    if isinstance(value, np.generic):
        value = value.item()
    text = str(value)
    if text.strip() == "":
        return "an empty value"
    shown = repr(text) if isinstance(value, str) else repr(value)  # numbers unquoted: ``inf``
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _more(problems: list[str]) -> str:
    """The first problem, and how many more there are (``radval protocol check`` lists them all)."""
    more = len(problems) - 1
    if not more:
        return problems[0]
    return f"{problems[0]} (and {more} more problem{'s' if more > 1 else ''}; `radval protocol check` lists them all)"


def read_table(
    path: Path, what: str, *, text: tuple[str, ...] = (), columns: dict[str, str] | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet table; a missing or unreadable file is an :class:`InputError`.

    The CSV columns ``text`` (radval names, translated through ``columns``, the protocol's
    mapping) are read as text, so that an identifier such as ``007`` keeps its zeros.
    """
    names = [(columns or {}).get(c, c) for c in text]
    # duplicate columns, unreadable or non-UTF-8 files are refused by the shared reader
    return tables.read_table(path, what=what, dtype=dict.fromkeys(names, str))


def map_columns(
    frame: pd.DataFrame, mapping: dict[str, str] | None, *, path: Path, where: str
) -> tuple[pd.DataFrame, list[str]]:
    """Rename a user's columns to radval's names (``columns: {radval name: your column}``).

    Returns the renamed frame and the problems found (a mapped column that is not in the
    file). A column of the file that already carries a radval name mapped from another
    column is left out, so the mapping decides which column is used.
    """
    if not mapping:
        return frame, []
    found = [str(c) for c in frame.columns]
    missing = [
        f"{theirs!r} (for {ours})" for ours, theirs in mapping.items() if theirs not in found
    ]
    if missing:
        return frame, [
            f"{path}: column {', '.join(missing)} named in {where} is not in the file; found columns {found}"
        ]
    sources = set(mapping.values())
    drop = [ours for ours in mapping if ours in found and ours not in sources]
    renamed = frame.drop(columns=drop).rename(
        columns={theirs: ours for ours, theirs in mapping.items()}
    )
    return renamed, []


def missing_columns_message(
    path: Path,
    missing: list[str],
    found: list[str],
    *,
    names: tuple[str, ...],
    where: str,
    mapping: dict[str, str] | None,
) -> str:
    """``FILE: column(s) ... missing; expected ..., found [...]`` naming the protocol's mapping key."""
    cols = ", ".join(repr(c) for c in missing)
    head = (
        f"{path}: column {cols} is missing"
        if len(missing) == 1
        else f"{path}: columns {cols} are missing"
    )
    if mapping:
        shown = [f"{mapping[n]} (as {n})" if n in mapping else n for n in names]
        return f"{head}; expected columns {', '.join(shown)} (after {where}), found {found}"
    return f"{head}; expected columns {', '.join(names)} (map your own names with {where}), found {found}"


def scores_problems(
    path: Path, *, columns: dict[str, str] | None = None, where: str = "model.columns"
) -> tuple[pd.DataFrame | None, list[str]]:
    """Read a ``case_id, score`` file (Parquet or CSV) and list every problem in it.

    Returns ``(frame or None, problems)``; the frame has columns ``case_id`` (text) and
    ``score`` (float). A blank score is kept as NaN: it is a *missing output*, which the
    protocol's ``test_set.missing_outputs`` decides (like a case absent from the file).
    Problems: a column missing (after the protocol's ``columns`` mapping), a duplicate
    case id, a score that is not a number, an infinite score.
    """
    frame = read_table(path, "scores", text=("case_id",), columns=columns)
    frame, problems = map_columns(frame, columns, path=path, where=where)
    if problems:
        return None, problems
    missing = [c for c in ("case_id", "score") if c not in frame.columns]
    if missing:
        return None, [
            missing_columns_message(
                path,
                missing,
                [str(c) for c in frame.columns],
                names=("case_id", "score"),
                where=where,
                mapping=columns,
            )
        ]
    try:
        ids = frame["case_id"].astype(str)
    except (UnicodeDecodeError, TypeError, ValueError):
        return None, [
            f"{path}: column 'case_id': expected text identifiers, found {frame['case_id'].dtype}"
        ]
    blank_id = frame["case_id"].isna().to_numpy() | (ids.str.strip() == "").to_numpy()
    if blank_id.any():
        rows = np.flatnonzero(blank_id)
        problems.append(
            f"{path}: row {rows[0] + 1}, field 'case_id': expected a case id, found an empty value"
            + (f" ({rows.size} rows)" if rows.size > 1 else "")
        )
    dup = ids.duplicated(keep="first").to_numpy() & ~blank_id
    if dup.any():
        rows = np.flatnonzero(dup)
        first = int(np.flatnonzero((ids == ids.iloc[rows[0]]).to_numpy())[0])
        problems.append(
            f"{path}: row {rows[0] + 1}, field 'case_id': duplicate case_id {ids.iloc[rows[0]]!r} "
            f"(first at row {first + 1})"
            + (f"; {rows.size} duplicate rows in all" if rows.size > 1 else "")
        )
    raw = frame["score"]
    values = _finite_or_nan(raw)
    empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    bad = ~np.isfinite(values) & ~empty
    if bad.any():
        rows = np.flatnonzero(bad)
        problems.append(
            f"{path}: row {rows[0] + 1}, field 'score': expected a finite number, found {show_value(raw.iloc[rows[0]])}"
            + (f" ({rows.size} rows)" if rows.size > 1 else "")
        )
    values = np.where(empty, np.nan, values)
    return pd.DataFrame({"case_id": ids.to_numpy(), "score": values}), problems


def read_scores(
    path: Path, *, columns: dict[str, str] | None = None, where: str = "model.columns"
) -> pd.DataFrame:
    """Read a ``case_id, score`` file (Parquet or CSV) and check it (see :func:`scores_problems`)."""
    frame, problems = scores_problems(path, columns=columns, where=where)
    if problems:
        raise InputError(_more(problems))
    assert frame is not None
    return frame


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
        spec,
        checkpoint=checkpoint,
        manifest=manifest,
        out=out,
        expected_sha256=ref.checkpoint_sha256,
        progress=False,
        card=loaded.resolve(ref.card),
    )
    return Path(produced.scores_path), None


def align(
    frame: pd.DataFrame,
    label: str,
    cluster_column: str | None,
    scores: pd.DataFrame | None,
    *,
    scores_path: Path | None,
    missing: str,
    baseline: pd.DataFrame | None = None,
    baseline_path: Path | None = None,
    manifest_ids: Any = None,
    failure_reasons: dict[str, str] | None = None,
    baseline_failure_reasons: dict[str, str] | None = None,
) -> Cases:
    """Join scores onto the manifest by ``case_id`` (never by order).

    A case without a score (from the model or, when there is one, the baseline), or whose
    score is blank in the file, stops the study (``missing == "error"``), is scored
    worst-case (``"worst_case"``) or is dropped from the analysis (``"exclude"``); either
    way it is listed under ``failures`` with its reason (the inference error recorded by
    ``radval predict`` when there is one) and counted in the flow lines ``Cases.imputed`` /
    ``Cases.excluded`` (R15: nothing is silently dropped). A worst-case score is 0 for a
    positive and 1 for a negative when every observed score is a probability in [0, 1]
    (so the scores stay probabilities and calibration is still assessed), otherwise one
    below the lowest / above the highest observed score. Scores for cases not in the
    manifest (``manifest_ids``, default ``frame``'s) are an error: they are not from this
    test set. Without ``scores`` (a detection- or segmentation-only study) the cases are
    the manifest's rows, with no score.
    """
    case_ids = frame["case_id"].astype(str).to_numpy()
    known = set(case_ids) if manifest_ids is None else {str(c) for c in manifest_ids}
    y_true = frame[label].to_numpy()
    if scores is None or scores_path is None:
        clusters = frame[cluster_column].astype(str).to_numpy() if cluster_column else None
        return Cases(frame, y_true, clusters, manifest_ids=frozenset(known))

    def lookup(sc: pd.DataFrame, path: Path) -> tuple[np.ndarray, set[str]]:
        extra = sorted(set(sc["case_id"]) - known)
        if extra:
            raise InputError(
                f"{path}: {len(extra)} case_id(s) are not in the test-set manifest, e.g. {extra[0]!r}"
            )
        series = pd.Series(sc["score"].to_numpy(dtype=np.float64), index=sc["case_id"].to_numpy())
        empty = {str(c) for c in sc["case_id"][sc["score"].isna()]}
        return series.reindex(case_ids).to_numpy(dtype=np.float64), empty

    values_m, empty_m = lookup(scores, scores_path)
    outputs: list[tuple[str, Path, np.ndarray, dict[str, str], set[str]]] = [
        ("model", scores_path, values_m, failure_reasons or {}, empty_m)
    ]
    if baseline is not None and baseline_path is not None:
        values_b, empty_b = lookup(baseline, baseline_path)
        outputs.append(
            ("baseline", baseline_path, values_b, baseline_failure_reasons or {}, empty_b)
        )

    def cause(
        tag: str, path: Path, cid: str, reasons: dict[str, str], empty: set[str]
    ) -> tuple[str, str]:
        """(flow category, per-case reason) of a missing output."""
        if cid in reasons:
            return (
                f"no {tag} output: inference failed",
                f"no {tag} output: inference failed ({reasons[cid]})",
            )
        if cid in empty:
            return (
                f"no {tag} output: empty score in {path.name}",
                f"no {tag} output: empty score in {path.name}",
            )
        return (
            f"no {tag} output: case not in {path.name}",
            f"no {tag} output: case not in {path.name}",
        )

    gone_any = np.zeros(len(case_ids), dtype=bool)
    for _tag, path, values, reasons, empty in outputs:
        gone = np.isnan(values)
        if gone.any() and missing == "error":
            first = str(case_ids[np.flatnonzero(gone)[0]])
            why = (
                f"inference failed: {reasons[first]}"
                if first in reasons
                else "its score is empty"
                if first in empty
                else f"not in {path.name}"
            )
            raise InputError(
                f"{path}: no score for {int(gone.sum())} manifest case(s), e.g. case_id {first!r} ({why}) "
                "(set test_set.missing_outputs: worst_case or exclude to count them instead)"
            )
        gone_any |= gone

    failures: list[dict[str, str]] = []
    excluded: dict[str, int] = {}
    imputed: dict[str, int] = {}
    done = " excluded from the analysis" if missing == "exclude" else " scored worst-case"
    for row in np.flatnonzero(gone_any):
        cid = str(case_ids[row])
        first_category = None
        for tag, path, values, reasons, empty in outputs:
            if not np.isnan(values[row]):
                continue
            category, reason = cause(tag, path, cid, reasons, empty)
            failures.append({"case_id": cid, "reason": reason + ";" + done})
            if missing == "worst_case":
                imputed[category] = imputed.get(category, 0) + 1
            first_category = first_category or category
        if missing == "exclude":
            assert first_category is not None
            # one line per case (under its first missing output) so the counts add up
            excluded[first_category] = excluded.get(first_category, 0) + 1

    arrays: list[np.ndarray] = []
    for _, _, values, _, _ in outputs:
        gone = np.isnan(values)
        if missing == "worst_case" and gone.any():
            finite = values[~gone]
            if finite.size and float(finite.min()) >= 0.0 and float(finite.max()) <= 1.0:
                lo, hi = 0.0, 1.0  # the worst probabilities: the scores stay probabilities
            else:
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
        frame,
        y_true,
        clusters,
        arrays[0],
        arrays[1] if len(arrays) > 1 else None,
        failures,
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
        update[role] = ref.model_copy(
            update={"threshold": card_threshold(path, where=f"{role}.card")}
        )
    return proto.model_copy(update=update) if update else proto


def load_model_card(
    loaded: LoadedProtocol, ref: ModelRef, where: str
) -> tuple[Path | None, dict[str, Any] | None]:
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
        raise InputError(
            f"model card {path} ({where}.card): cannot read it: {exc.strerror or exc}"
        ) from None
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
    loaded: LoadedProtocol,
    ref: ModelRef | None,
    where: str,
    scores_path: Path | None,
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
    spec_sha = (
        sha256_file(spec) if spec is not None and spec.is_file() else model_meta.get("spec_sha256")
    )
    ckpt_sha = (
        sha256_file(ckpt)
        if ckpt is not None and ckpt.is_file()
        else provenance.get("checkpoint_sha256")
    )
    card_path, card = load_model_card(loaded, ref, where)
    if card is not None and ckpt_sha is not None:
        card_ckpt = (
            (card.get("checkpoint") or {}).get("sha256")
            if isinstance(card.get("checkpoint"), dict)
            else None
        )
        if card_ckpt is not None and card_ckpt != ckpt_sha:
            raise InputError(
                f"model card {card_path} ({where}.card) describes checkpoint sha256 {card_ckpt}, but the "
                f"{where}'s scores{'' if scores_path is None else f' ({scores_path.name})'} come from "
                f"checkpoint {ckpt_sha}"
            )
    prov = {
        k: provenance[k]
        for k in (
            "schema",
            "task",
            "model",
            "checkpoint_sha256",
            "manifest",
            "operating_threshold",
            "positive_class",
            "n_cases",
            "n_scored",
            "n_failed",
        )
        if k in provenance
    }
    stated = getattr(loaded.protocol, where).threshold
    return {
        "name": ref.name,
        "threshold": ref.threshold,
        "threshold_source": (
            None if ref.threshold is None else "protocol" if stated is not None else "model card"
        ),
        "spec_sha256": spec_sha,
        "checkpoint_sha256": ckpt_sha,
        "model_card": card,
        "provenance": prov or None,
    }, card_path

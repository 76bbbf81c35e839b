"""The study runner: a locked protocol in, ``results.json`` (and the report) out.

:func:`run_study` resolves the protocol's inputs, checks them against the lock,
obtains scores (the declared file, or inference through :mod:`validation.modeling`),
computes every endpoint, comparison, subgroup table and reader-study analysis by
calling :mod:`validation.stats` only, applies the acceptance rules and the
multiplicity strategy, and writes ``results.json`` (validated against
``validation/schemas/results.schema.json`` before it is renamed into place) with its
provenance (R2, R5, R23). Each endpoint and analysis draws from its own random
stream derived from the protocol seed (``SeedSequence``), so adding an endpoint never
changes another's numbers. Every run is logged in the study's hash-chained audit
trail (:mod:`validation.audit`).

Exit codes (``DESIGN.md`` §9): 0 every primary criterion holds; 1 one fails (results
and report are still written); invalid input raises :class:`validation.errors.InputError`
(the CLI turns it into exit code 2).

Example
-------
>>> from validation.protocol.lock import lock_protocol
>>> from validation.study import run_study
>>> lock_protocol("protocols/triage.yaml")  # doctest: +SKIP
>>> outcome = run_study("protocols/triage.yaml", out_dir="studies/triage")  # doctest: +SKIP
>>> outcome.exit_code, outcome.results_path  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, ParamSpec

import numpy as np

from validation import __version__, audit
from validation.errors import (
    InputError,
    ManifestError,
    ProtocolError,
    ResultsSchemaError,
    StudyExistsError,
)
from validation.io import sha256_bytes, sha256_file
from validation.protocol.load import load_protocol
from validation.protocol.lock import Lock, lock_path_for, now_utc, read_lock, verify_lock
from validation.stats.hypothesis import interval_level
from validation.study.analyses import (
    calibration_record,
    characteristics,
    confusion_record,
    detection_record,
    reader_study_record,
    roc_record,
    segmentation_record,
    subgroup_record,
)
from validation.study.checks import check_study_protocol
from validation.study.endpoints import EndpointOutcome, apply_decisions, evaluate_endpoint
from validation.study.inputs import (
    align,
    apply_exclusions,
    environment,
    file_ref,
    inference_failures,
    load_manifest_frame,
    model_record,
    obtain_scores,
    read_scores,
    scores_provenance,
    stream,
    with_card_thresholds,
)

_P = ParamSpec("_P")
RESULTS_SCHEMA_ID = "radval.results/1"
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class StudyOutcome:
    """What :func:`run_study` produced.

    Attributes
    ----------
    exit_code : int
        0 when every primary criterion holds, 1 otherwise.
    results_path : Path
        The ``results.json`` written.
    study_dir : Path
        The study folder.
    verdict : dict
        The ``verdict`` record of ``results.json``.
    report_path : Path or None
        The rendered report, when the report module is available.
    warnings : list of str
        Non-fatal problems (e.g. running unlocked, a report that failed to render).
    """

    exit_code: int
    results_path: Path
    study_dir: Path
    verdict: dict[str, Any]
    report_path: Path | None = None
    warnings: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (``validation/schemas/results.schema.json``)."""
    text = resources.files("validation").joinpath("schemas/results.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_results(document: dict[str, Any]) -> None:
    """Validate a results document against the schema; raise :class:`ResultsSchemaError`."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(results_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors[:10]
        ]
        raise ResultsSchemaError("results do not match radval.results/1: " + "; ".join(lines))


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a ``results.json``; bad files raise :class:`InputError`."""
    file = Path(path)
    if file.is_dir():
        file = file / RESULTS_FILE
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"results file {file} does not exist") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"cannot read results file {file}: {exc}") from None
    except RecursionError:
        raise InputError(f"cannot read results file {file}: JSON nested too deeply") from None
    try:
        validate_results(doc)
    except ResultsSchemaError as exc:
        raise InputError(f"{file}: {exc}") from None
    return dict(doc)


def dumps_results(document: dict[str, Any]) -> str:
    """Serialise results deterministically (sorted keys, no NaN)."""
    return json.dumps(document, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def _prepare_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise StudyExistsError(f"output path {out_dir} exists and is not a folder")
    if out_dir.exists() and any(p.name != audit.LOCK_FILE for p in out_dir.iterdir()) and not force:
        raise StudyExistsError(
            f"study folder {out_dir} already exists and is not empty; pass --force to re-run into it "
            "(the audit log is kept and the re-run is recorded)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / audit.AUDIT_FILE).exists():
        # refuse before anything is computed or written: results.json stays as it is
        audit.require_intact(out_dir, "run into")


def _locked_study_folder(run: Callable[_P, StudyOutcome]) -> Callable[_P, StudyOutcome]:
    """Hold the study folder's lock for the whole run (:func:`validation.audit.study_lock`).

    A second run into the same folder is refused while the first holds it; a folder this
    run created is removed again if the run fails before writing anything into it.
    """

    @functools.wraps(run)
    def locked(*args: _P.args, **kwargs: _P.kwargs) -> StudyOutcome:
        folder = Path(str(kwargs["out_dir"])).resolve()
        if folder.exists() and not folder.is_dir():
            raise StudyExistsError(f"output path {folder} exists and is not a folder")
        created = not folder.exists()
        with audit.study_lock(folder, purpose="run"):
            try:
                kwargs["out_dir"] = folder
                return run(*args, **kwargs)
            except BaseException:
                with contextlib.suppress(OSError):
                    if created and [p.name for p in folder.iterdir()] == [audit.LOCK_FILE]:
                        (folder / audit.LOCK_FILE).unlink()
                        folder.rmdir()
                raise

    return locked


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        if np.isnan(f):
            return None
        if np.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


@_locked_study_folder
def run_study(
    protocol_path: str | Path,
    *,
    out_dir: str | Path,
    force: bool = False,
    lock_path: str | Path | None = None,
    allow_unlocked: bool = False,
    render: bool = True,
    actor: str | None = None,
) -> StudyOutcome:
    """Run a locked protocol and write the study folder.

    Parameters
    ----------
    protocol_path : path
        The protocol YAML.
    out_dir : path
        The study folder; must not already hold a study unless ``force``.
    force : bool, default False
        Re-run into an existing study folder (the audit log is kept and appended).
    lock_path : path, optional
        The protocol's lock (default ``<protocol>.lock.json``).
    allow_unlocked : bool, default False
        Run without a lock (exploratory use); ``results.json`` then records ``lock: null``
        and a warning. A lock that exists is always checked.
    render : bool, default True
        Render the report when :mod:`validation.report.render` is available.
    actor : str, optional
        Who runs the study, for the audit trail (default ``user@host``).

    Returns
    -------
    StudyOutcome
        ``exit_code`` 0 when all primary criteria hold, 1 otherwise.

    Raises
    ------
    InputError
        Invalid protocol, manifest, scores or readings; a protocol or manifest that no
        longer matches its lock; an existing study folder without ``force``; a folder in
        use by another radval process, or whose audit log fails verification or holds an
        interrupted write (nothing is written then).

    Notes
    -----
    The run holds the folder's lock throughout and commits its outputs atomically:
    ``results.json`` is written as ``results.json.pending``, the ``run`` audit entry
    records its sha256, and only then is it renamed into place
    (:func:`validation.audit.commit_files`). An interrupted run therefore never leaves
    a ``results.json`` that the audit log does not record.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    started_at = now_utc()
    warnings: list[str] = []
    loaded = load_protocol(protocol_path)
    proto = with_card_thresholds(loaded)  # a model's threshold may come from its model card
    lock_file = Path(lock_path) if lock_path is not None else lock_path_for(loaded.path)
    lock: Lock | None = None
    if lock_file.exists():
        lock = read_lock(lock_file)
        verify_lock(loaded, lock)
    elif not allow_unlocked:
        raise ProtocolError(
            f"protocol {loaded.path} is not locked (no {lock_file}); run `radval protocol lock` "
            "before the study, or pass --unlocked for an exploratory run"
        )
    else:
        warnings.append("the protocol was not locked: results are exploratory (R2)")
    study_dir = Path(out_dir).resolve()
    _prepare_dir(study_dir, force)
    timings["resolve"] = time.perf_counter() - t_start

    t = time.perf_counter()
    manifest_path, manifest_frame = load_manifest_frame(loaded)
    frame, rule_lines = apply_exclusions(manifest_frame, proto.test_set.exclusions, source=manifest_path)
    label = proto.test_set.label_column
    labels = frame[label]
    bad = ~labels.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        # the row number in the manifest file, counting rows excluded by the protocol's rules
        row = int(np.flatnonzero(manifest_frame["case_id"].to_numpy() == frame["case_id"].iloc[row])[0])
        raise ManifestError(
            f"{manifest_path}: row {row + 1}, field {label!r}: expected 0 or 1, "
            f"found {manifest_frame[label].iloc[row]!r}"
        )
    frame = frame.assign(**{label: labels.astype(int)})
    # A detection- or segmentation-only study has no classification model: no scores.
    scores_path: Path | None = None
    scores_declared: str | None = None
    scores_frame = None
    provenance: dict[str, Any] = {}
    if proto.model is not None:
        scores_path, scores_declared = obtain_scores(loaded, proto.model, manifest_path, study_dir, "model")
        provenance = scores_provenance(scores_path)
        scores_frame = read_scores(scores_path, columns=proto.model.columns if scores_declared else None,
                                   where="model.columns")
    base_path: Path | None = None
    base_declared: str | None = None
    base_frame = None
    base_provenance: dict[str, Any] = {}
    if proto.baseline is not None:
        base_path, base_declared = obtain_scores(loaded, proto.baseline, manifest_path, study_dir, "baseline")
        base_frame = read_scores(base_path, columns=proto.baseline.columns if base_declared else None,
                                 where="baseline.columns")
        base_provenance = scores_provenance(base_path)
    cases = align(
        frame, label, proto.test_set.cluster_column, scores_frame,
        scores_path=scores_path, missing=proto.test_set.missing_outputs,
        baseline=base_frame, baseline_path=base_path,
        manifest_ids=manifest_frame["case_id"].astype(str),
        failure_reasons=inference_failures(scores_path, provenance) if scores_path is not None else None,
        baseline_failure_reasons=inference_failures(base_path, base_provenance) if base_path is not None else None,
    )
    manifest_sha = sha256_file(manifest_path)
    for tag, prov, path in (("model", provenance, scores_path), ("baseline", base_provenance, base_path)):
        scored = (prov.get("manifest") or {}).get("sha256") if isinstance(prov.get("manifest"), dict) else None
        if path is not None and scored is not None and scored != manifest_sha:
            warnings.append(
                f"the {tag} scores ({path.name}) were produced from a manifest with sha256 {scored}, "
                f"not the locked test-set manifest ({manifest_sha})"
            )
    timings["inputs"] = time.perf_counter() - t

    t = time.perf_counter()
    y_true = cases.y_true.astype(np.int8)
    outcomes: dict[str, EndpointOutcome] = {}
    for ep in proto.endpoints:
        assert cases.score is not None  # the schema requires a model for classification endpoints
        outcomes[ep.id] = evaluate_endpoint(
            ep, protocol=proto, y_true=y_true, score=cases.score, baseline=cases.baseline,
            clusters=cases.clusters, rng=stream(proto.seed, "endpoint", ep.id),
        )
    timings["endpoints"] = time.perf_counter() - t
    for ep in proto.endpoints:  # one convention with `radval gate`: a 1 - 2 alpha interval
        alpha = ep.test.significance_level if ep.test is not None else None
        if alpha is not None and (alpha >= 0.5 or abs(ep.ci.confidence_level - interval_level(alpha)) > 1e-9):
            warnings.append(
                f"endpoint {ep.id!r}: its {ep.ci.confidence_level:.1%} interval does not match its one-sided "
                f"test at {alpha:g} (radval pairs a one-sided level alpha with a two-sided 1 - 2 alpha "
                "interval): the interval's bound and the test can disagree"
            )

    reader = None
    readings_ref = None
    if proto.reader_study is not None:
        t = time.perf_counter()
        rs_path = loaded.resolve(proto.reader_study.readings)
        assert rs_path is not None
        readings_ref = file_ref(rs_path, proto.reader_study.readings)
        reader, rs_outcome = reader_study_record(
            proto.reader_study, rs_path, seed=proto.seed, n_resamples=proto.n_resamples
        )
        outcomes[proto.reader_study.id] = rs_outcome
        timings["reader_study"] = time.perf_counter() - t

    detection = None
    lesions_ref = None
    marks_ref = None
    if proto.detection is not None:
        t = time.perf_counter()
        det = proto.detection
        marks_path, lesions_path = loaded.resolve(det.marks), loaded.resolve(det.lesions)
        assert marks_path is not None and lesions_path is not None
        for path, sha, key in ((marks_path, det.marks_sha256, "marks"), (lesions_path, det.lesions_sha256, "lesions")):
            if sha is not None and path.is_file() and sha256_file(path) != sha:
                raise InputError(f"{key} file {path}: sha256 is {sha256_file(path)}, the protocol expects {sha}")
        detection, det_outcomes = detection_record(
            det, marks_path, lesions_path, cases, seed=proto.seed, n_resamples=proto.n_resamples
        )
        outcomes.update(det_outcomes)
        marks_ref = file_ref(marks_path, det.marks)
        lesions_ref = file_ref(lesions_path, det.lesions)
        timings["detection"] = time.perf_counter() - t

    segmentation = None
    predictions_ref = None
    if proto.segmentation is not None:
        t = time.perf_counter()
        seg = proto.segmentation
        pred_path = loaded.resolve(seg.predictions)
        assert pred_path is not None
        if seg.predictions_sha256 is not None and pred_path.is_file() and sha256_file(pred_path) != seg.predictions_sha256:
            raise InputError(
                f"predictions file {pred_path}: sha256 is {sha256_file(pred_path)}, "
                f"the protocol expects {seg.predictions_sha256}"
            )
        segmentation, seg_outcomes = segmentation_record(
            seg, pred_path, manifest_path, cases, seed=proto.seed, n_resamples=proto.n_resamples
        )
        outcomes.update(seg_outcomes)
        predictions_ref = file_ref(pred_path, seg.predictions)
        timings["segmentation"] = time.perf_counter() - t

    verdict = apply_decisions(outcomes, proto.primary_ids(), proto.multiplicity)

    t = time.perf_counter()
    threshold = proto.model.threshold if proto.model is not None else None
    subgroups = None
    if proto.subgroups is not None:
        subgroups = subgroup_record(
            proto.subgroups, cases, threshold=threshold, seed=proto.seed,
            n_resamples=proto.n_resamples,
        )
    timings["subgroups"] = time.perf_counter() - t
    roc: dict[str, Any] | None = None
    confusion: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    if cases.score is not None:
        # the classification model's curves; a study without one plans none of them
        t = time.perf_counter()
        roc = roc_record(y_true, cases.score, threshold=threshold, clusters=cases.clusters,
                         rng=stream(proto.seed, "roc", "band"), n_resamples=proto.n_resamples)
        confusion = confusion_record(y_true, cases.score, threshold)
        calibration = calibration_record(
            y_true, cases.score, warnings, clusters=cases.clusters, rng=stream(proto.seed, "calibration"),
            n_resamples=proto.n_resamples,
        )
        timings["curves"] = time.perf_counter() - t

    n_pos = int(y_true.sum())
    excluded = [line for line in rule_lines + cases.excluded if line["n"] > 0]
    flow: dict[str, Any] = {
        "assessed": int(len(manifest_frame)),
        "excluded": excluded,
        "analysed": int(len(cases.frame)),
        "imputed": cases.imputed,
        "missing_outputs": len({f["case_id"] for f in cases.failures}),
        "threshold": threshold,
    }
    # STARD: every assessed case is either analysed or excluded with a reason
    assert flow["assessed"] == flow["analysed"] + sum(line["n"] for line in excluded)
    if confusion is not None:
        flow.update({k: confusion[k] for k in ("tp", "fp", "tn", "fn")})
    data_summary = {
        "n_cases": int(len(cases.frame)),
        "n_patients": int(len(set(cases.clusters))) if cases.clusters is not None else None,
        "n_positive": n_pos,
        "n_negative": int(len(y_true) - n_pos),
        "flow": flow,
        "characteristics": characteristics(cases.frame, label, proto),
    }
    comparisons = [o.comparison for o in outcomes.values() if o.comparison is not None]

    model, card_path = model_record(loaded, proto.model, "model", scores_path, provenance)
    base_model, base_card_path = model_record(loaded, proto.baseline, "baseline", base_path, base_provenance)
    inputs: dict[str, Any] = {
        "manifest": file_ref(manifest_path, proto.test_set.manifest, n_rows=len(manifest_frame)),
        "scores": file_ref(scores_path, scores_declared) if scores_path is not None else None,
        "baseline_scores": file_ref(base_path, base_declared) if base_path is not None else None,
        "readings": readings_ref,
        "lesions": lesions_ref,
        "marks": marks_ref,
        "segmentation_predictions": predictions_ref,
        "model_card": (
            file_ref(card_path, proto.model.card) if card_path is not None and proto.model is not None else None
        ),
        "baseline_model_card": (
            file_ref(base_card_path, proto.baseline.card)
            if base_card_path is not None and proto.baseline is not None else None
        ),
    }

    deviations = lock.deviations if lock is not None else []
    timings["total"] = time.perf_counter() - t_start
    document: dict[str, Any] = {
        "schema": RESULTS_SCHEMA_ID,
        "radval_version": __version__,
        "study": {
            "id": proto.study.id, "title": proto.study.title, "version": proto.study.version,
            "sponsor": proto.study.sponsor, "intended_use": proto.study.intended_use,
            "population": proto.study.population, "description": proto.study.description,
            "intended_users": proto.study.intended_users,
            "reference_standard": proto.study.reference_standard,
            "sample_size_justification": proto.study.sample_size_justification,
        },
        "protocol": {
            "path": str(loaded.path),
            "sha256": loaded.sha256,
            "resolved": proto.model_dump(mode="json"),
            "lock": lock.summary() if lock is not None else None,
            "deviations": [
                {k: d.get(k) for k in ("id", "description", "declared_at", "declared_by")}
                for d in deviations
            ],
        },
        "model": model,
        "baseline_model": base_model,
        "inputs": inputs,
        "environment": environment(),
        "seed": proto.seed,
        "timings": {"started_at": started_at, "finished_at": now_utc(), "seconds": timings},
        "verdict": verdict,
        "data_summary": data_summary,
        "endpoints": [o.record for o in outcomes.values()],
        "roc": roc,
        "confusion_matrix": confusion,
        "subgroups": subgroups,
        "calibration": calibration,
        "comparisons": comparisons,
        "reader_study": reader,
        "detection": detection,
        "segmentation": segmentation,
        "failures": cases.failures,
        "audit": {"log": audit.AUDIT_FILE, "head_hash": None},
        "warnings": warnings,
    }
    document = _jsonable(document)
    validate_results(document)

    # Keep a byte-exact copy of the protocol and its lock with the evidence; each file
    # reaches the folder only through a commit that the audit log records.
    protocol_bytes = loaded.path.read_bytes()
    if sha256_bytes(protocol_bytes) != loaded.sha256:
        raise ProtocolError(f"protocol {loaded.path} changed while the study ran; run it again")
    entries = audit.read_entries(study_dir)
    head_hash = entries[-1]["hash"] if entries else None
    commits = []
    if lock is not None:
        lock_bytes = lock.path.read_bytes()
        logged = [e["outputs"].get("protocol.lock.json") for e in entries if e.get("action") == "lock"]
        if not logged or logged[-1] != sha256_bytes(lock_bytes):
            first = not logged
            commits.append(audit.Commit(
                "lock", {"protocol.lock.json": lock_bytes},
                inputs={"protocol.yaml": lock.protocol_sha256, "manifest": lock.manifest_sha256},
                details={"locked_at": lock.locked_at, "locked_by": lock.data.get("locked_by"),
                         "deviations": len(deviations),
                         **({} if first else {"updated": "the lock was amended or a deviation declared"})},
                actor=str(lock.data.get("locked_by") or "unknown") if first else actor,
                timestamp=lock.locked_at if first else now_utc(),
            ))
            head_hash = audit.next_entry(study_dir, commits[0])["hash"]
    # the last entry before the run's own (a lock entry committed with the run counts)
    document["audit"]["head_hash"] = head_hash
    text = dumps_results(document)
    results_path = study_dir / RESULTS_FILE
    run_inputs = {"protocol.yaml": loaded.sha256, "manifest": inputs["manifest"]["sha256"]}
    for key in ("scores", "baseline_scores", "readings", "marks", "lesions", "segmentation_predictions",
                "model_card", "baseline_model_card"):
        if inputs[key] is not None:
            run_inputs[key] = inputs[key]["sha256"]
    commits.append(audit.Commit(
        "run", {"protocol.yaml": protocol_bytes, RESULTS_FILE: text.encode("utf-8")},
        inputs=run_inputs,
        details={"verdict": verdict["decision"], "seed": proto.seed, "radval_version": __version__,
                 "forced": bool(force), "locked": lock is not None},
        actor=actor,
    ))
    # one commit: the lock entry (when new), the run entry, then the files move into place
    logged = audit.commit(study_dir, *commits)
    if len(logged) == 2 and logged[0]["hash"] != head_hash:
        raise RuntimeError(f"the lock entry's hash {logged[0]['hash']} is not the one results.json names")
    report_path = None
    if render:
        report_path = _render(study_dir, warnings, actor, pdf=proto.report.pdf)
    code = 0 if verdict["decision"] == "pass" else 1
    return StudyOutcome(code, results_path, study_dir, verdict, report_path, warnings)


def _render(study_dir: Path, warnings: list[str], actor: str | None, *, pdf: bool = False) -> Path | None:
    """Render the report (and its PDF when the protocol asks); log each file in the audit trail."""
    try:
        from validation.report.render import REPORT_PDF, render_and_log
    except ImportError:
        return None
    pdf_path = study_dir / REPORT_PDF
    try:
        if pdf:
            # a PDF left by an earlier (forced) run must not pass for this run's
            pdf_path.unlink(missing_ok=True)
        written = render_and_log(study_dir, pdf=pdf, actor=actor)
    except Exception as exc:  # noqa: BLE001 - the verdict stands even if rendering fails
        warnings.append(f"the report could not be rendered: {type(exc).__name__}: {exc}")
        return None
    if pdf and pdf_path not in written:
        warnings.append(f"the protocol asks for a PDF report but {pdf_path.name} was not written")
    return written[0]


__all__ = [
    "RESULTS_FILE",
    "ResultsSchemaError",
    "StudyExistsError",
    "StudyOutcome",
    "check_study_protocol",
    "dumps_results",
    "load_results",
    "results_schema",
    "run_study",
    "validate_results",
]

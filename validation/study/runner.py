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

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError, ManifestError, ProtocolError
from validation.io import sha256_file
from validation.protocol.load import LoadedProtocol, load_protocol
from validation.protocol.lock import Lock, lock_path_for, now_utc, read_lock, verify_lock
from validation.protocol.schema import ModelRef, Protocol
from validation.report.render import REPORT_PDF, render_and_log
from validation.results import validate_results
from validation.stats.hypothesis import interval_level
from validation.study.analyses import (
    calibration_record,
    confusion_record,
    detection_record,
    detection_tables,
    reader_study_record,
    roc_record,
    segmentation_record,
    subgroup_record,
)
from validation.study.criteria import EndpointOutcome, apply_decisions
from validation.study.document import (
    Analyses,
    InputFiles,
    build_document,
    file_ref_or_none,
    flow_record,
    run_inputs,
)
from validation.study.endpoints import evaluate_endpoint
from validation.study.folder import commit_study, locked_folder, prepare_folder
from validation.study.gallery import GALLERY_FILE, GalleryInputs, empty_gallery, gallery_record
from validation.study.inputs import (
    Cases,
    align,
    apply_exclusions,
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
from validation.study.measurement import measurement_record
from validation.study.planning import planning_record
from validation.study.truthing import truthing_stage

__all__ = ["StudyOutcome", "run_study"]


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
        The rendered report, when rendering was asked for and succeeded.
    warnings : list of str
        Non-fatal problems (e.g. running unlocked, a report that failed to render).
    """

    exit_code: int
    results_path: Path
    study_dir: Path
    verdict: dict[str, Any]
    report_path: Path | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Scores:
    """One model's outputs: the file, the path the protocol declared, the table, provenance."""

    path: Path
    declared: str | None
    frame: pd.DataFrame
    provenance: dict[str, Any]


@dataclass
class _Run:
    """What the stages of one run share; each stage fills its part."""

    loaded: LoadedProtocol
    proto: Protocol
    lock: Lock | None
    study_dir: Path
    warnings: list[str]
    started_at: str
    t_start: float
    timings: dict[str, float] = field(default_factory=dict)
    manifest_path: Path | None = None
    manifest_frame: pd.DataFrame | None = None
    rule_lines: list[dict[str, Any]] = field(default_factory=list)
    model: _Scores | None = None
    baseline: _Scores | None = None
    cases: Cases | None = None
    outcomes: dict[str, EndpointOutcome] = field(default_factory=dict)
    analyses: Analyses = field(default_factory=Analyses)
    files: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    detection_tables: tuple[pd.DataFrame, pd.DataFrame] | None = None
    gallery_file: bytes | None = None

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Record the seconds a stage takes under ``timings.seconds[stage]``."""
        t = time.perf_counter()
        yield
        self.timings[stage] = time.perf_counter() - t

    def need_cases(self) -> Cases:
        if self.cases is None:
            raise RuntimeError("the analysis set is used before the inputs stage built it")
        return self.cases

    def need_manifest(self) -> tuple[Path, pd.DataFrame]:
        if self.manifest_path is None or self.manifest_frame is None:
            raise RuntimeError("the manifest is used before the inputs stage read it")
        return self.manifest_path, self.manifest_frame


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
        Render the report (and the PDF when the protocol asks for one).
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
    The stages, in order: resolve the protocol and its lock; read the inputs and align
    the cases; the endpoints; the reader study, detection and segmentation analyses; the
    decisions (multiplicity); the subgroup table; the ROC, 2x2 and calibration curves;
    then the document is committed (:func:`validation.study.folder.commit_study`) and the
    report rendered. The folder's lock is held throughout.
    """
    with locked_folder(out_dir) as folder:
        run = _resolve(protocol_path, folder, lock_path, allow_unlocked, force)
        with run.timed("inputs"):
            _read_inputs(run)
        with run.timed("endpoints"):
            _endpoints(run)
        _check_levels(run)
        _reader_study(run)
        _detection(run)
        _segmentation(run)
        _measurement(run)
        verdict = apply_decisions(run.outcomes, run.proto.primary_ids(), run.proto.multiplicity)
        with run.timed("subgroups"):
            _subgroups(run)
        _curves(run)
        _gallery(run)
        run.analyses.planning = planning_record(
            run.proto, run.need_cases().y_true, reader_study=run.analyses.reader_study
        )
        document, inputs = _document(run, verdict)
        validate_results(document)
        results_path = commit_study(
            folder,
            document,
            loaded=run.loaded,
            lock=run.lock,
            run_inputs=run_inputs(run.loaded, inputs),
            force=force,
            actor=actor,
            extra_files={GALLERY_FILE: run.gallery_file} if run.gallery_file is not None else None,
        )
        report_path = _render(run, actor) if render else None
        code = 0 if verdict["decision"] == "pass" else 1
        return StudyOutcome(code, results_path, folder, verdict, report_path, run.warnings)


# ----------------------------------------------------------------------------- stages


def _resolve(
    protocol_path: str | Path,
    folder: Path,
    lock_path: str | Path | None,
    allow_unlocked: bool,
    force: bool,
) -> _Run:
    """Load the protocol, check it against its lock, and prepare the study folder."""
    t_start = time.perf_counter()
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
            f"protocol {loaded.path} is not locked (no {lock_file}); run `radval protocol "
            "lock` before the study, or pass --unlocked for an exploratory run"
        )
    else:
        warnings.append("the protocol was not locked: results are exploratory (R2)")
    prepare_folder(folder, force=force)
    run = _Run(loaded, proto, lock, folder, warnings, started_at, t_start)
    run.timings["resolve"] = time.perf_counter() - t_start
    return run


def _labelled_frame(run: _Run) -> pd.DataFrame:
    """The manifest after the protocol's exclusions, its labels checked to be 0 or 1."""
    manifest_path, manifest_frame = load_manifest_frame(run.loaded)
    run.manifest_path, run.manifest_frame = manifest_path, manifest_frame
    proto = run.proto
    frame, run.rule_lines = apply_exclusions(
        manifest_frame, proto.test_set.exclusions, source=manifest_path
    )
    frame = _truthing(run, frame)
    label = proto.test_set.label_column
    labels = frame[label]
    bad = ~labels.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        # the row number in the manifest file, counting rows excluded by the protocol's rules
        ids = manifest_frame["case_id"].to_numpy()
        row = int(np.flatnonzero(ids == frame["case_id"].iloc[row])[0])
        raise ManifestError(
            f"{manifest_path}: row {row + 1}, field {label!r}: expected 0 or 1, "
            f"found {manifest_frame[label].iloc[row]!r}"
        )
    return frame.assign(**{label: labels.astype(int)})


def _truthing(run: _Run, frame: pd.DataFrame) -> pd.DataFrame:
    """Inter-truther agreement and the adjudicated reference standard (R6)."""
    truthing = run.proto.test_set.truthing
    if truthing is None:
        return frame
    with run.timed("truthing"):
        _, manifest_frame = run.need_manifest()
        path = _resolved(run.loaded, truthing.file)
        _check_sha(path, truthing.sha256, "truthing")
        outcome = truthing_stage(
            truthing,
            path,
            frame,
            label_column=run.proto.test_set.label_column,
            known=frozenset(manifest_frame["case_id"].astype(str)),
            seed=run.proto.seed,
            n_resamples=run.proto.n_resamples,
        )
    run.analyses.truthing = outcome.record
    run.files["truthing"] = outcome.file
    run.rule_lines += outcome.flow_lines
    run.warnings += outcome.warnings
    return outcome.frame


def _scores(run: _Run, ref: ModelRef | None, name: str) -> _Scores | None:
    """A model's scores: the declared file, or one produced by inference."""
    if ref is None:
        return None
    manifest_path, _ = run.need_manifest()
    path, declared = obtain_scores(run.loaded, ref, manifest_path, run.study_dir, name)
    provenance = scores_provenance(path)
    frame = read_scores(path, columns=ref.columns if declared else None, where=f"{name}.columns")
    return _Scores(path, declared, frame, provenance)


def _read_inputs(run: _Run) -> None:
    """The manifest, the model's (and baseline's) scores, aligned by ``case_id``."""
    frame = _labelled_frame(run)
    manifest_path, manifest_frame = run.need_manifest()
    proto = run.proto
    # A detection- or segmentation-only study has no classification model: no scores.
    run.model = _scores(run, proto.model, "model")
    run.baseline = _scores(run, proto.baseline, "baseline")
    model, base = run.model, run.baseline
    run.cases = align(
        frame,
        proto.test_set.label_column,
        proto.test_set.cluster_column,
        model.frame if model else None,
        scores_path=model.path if model else None,
        missing=proto.test_set.missing_outputs,
        baseline=base.frame if base else None,
        baseline_path=base.path if base else None,
        manifest_ids=manifest_frame["case_id"].astype(str),
        failure_reasons=inference_failures(model.path, model.provenance) if model else None,
        baseline_failure_reasons=(inference_failures(base.path, base.provenance) if base else None),
    )
    manifest_sha = sha256_file(manifest_path)
    for tag, scores in (("model", model), ("baseline", base)):
        meta = scores.provenance.get("manifest") if scores is not None else None
        scored = meta.get("sha256") if isinstance(meta, dict) else None
        if scores is not None and scored is not None and scored != manifest_sha:
            run.warnings.append(
                f"the {tag} scores ({scores.path.name}) were produced from a manifest with "
                f"sha256 {scored}, not the locked test-set manifest ({manifest_sha})"
            )


def _endpoints(run: _Run) -> None:
    """Every classification endpoint: estimate, CI, test and its own decision."""
    cases = run.need_cases()
    proto = run.proto
    y_true = cases.y_true.astype(np.int8)
    for ep in proto.endpoints:
        if cases.score is None:  # the schema requires a model for classification endpoints
            raise RuntimeError(f"endpoint {ep.id!r} has no model scores to evaluate")
        run.outcomes[ep.id] = evaluate_endpoint(
            ep,
            protocol=proto,
            y_true=y_true,
            score=cases.score,
            baseline=cases.baseline,
            clusters=cases.clusters,
            rng=stream(proto.seed, "endpoint", ep.id),
        )


def _check_levels(run: _Run) -> None:
    """Warn when an interval and its one-sided test use different levels (as `radval gate`)."""
    for ep in run.proto.endpoints:
        alpha = ep.test.significance_level if ep.test is not None else None
        level = ep.ci.confidence_level
        if alpha is not None and (alpha >= 0.5 or abs(level - interval_level(alpha)) > 1e-9):
            run.warnings.append(
                f"endpoint {ep.id!r}: its {level:.1%} interval does not match its one-sided "
                f"test at {alpha:g} (radval pairs a one-sided level alpha with a two-sided "
                "1 - 2 alpha interval): the interval's bound and the test can disagree"
            )


def _reader_study(run: _Run) -> None:
    """The MRMC analysis, its hypothesis and AI versus readers (R13, R14)."""
    rs = run.proto.reader_study
    if rs is None:
        return
    with run.timed("reader_study"):
        path = _resolved(run.loaded, rs.readings)
        run.files["readings"] = file_ref(path, rs.readings)
        run.analyses.reader_study, outcome = reader_study_record(
            rs, path, seed=run.proto.seed, n_resamples=run.proto.n_resamples
        )
        run.outcomes[rs.id] = outcome


def _check_sha(path: Path, expected: str | None, what: str) -> None:
    if expected is not None and path.is_file() and sha256_file(path) != expected:
        raise InputError(
            f"{what} file {path}: sha256 is {sha256_file(path)}, the protocol expects {expected}"
        )


def _resolved(loaded: LoadedProtocol, declared: str) -> Path:
    path = loaded.resolve(declared)
    if path is None:
        raise RuntimeError(f"the protocol's path {declared!r} did not resolve")
    return path


def _detection(run: _Run) -> None:
    """Lesion detection: matching, FROC and its figures of merit (R9)."""
    det = run.proto.detection
    if det is None:
        return
    with run.timed("detection"):
        marks = _resolved(run.loaded, det.marks)
        lesions = _resolved(run.loaded, det.lesions)
        _check_sha(marks, det.marks_sha256, "marks")
        _check_sha(lesions, det.lesions_sha256, "lesions")
        run.detection_tables = detection_tables(det, marks, lesions, run.need_cases())
        run.analyses.detection, outcomes = detection_record(
            det,
            *run.detection_tables,
            run.need_cases(),
            seed=run.proto.seed,
            n_resamples=run.proto.n_resamples,
            source=f"{marks.name}, {lesions.name}",
        )
        run.outcomes.update(outcomes)
        run.files["marks"] = file_ref(marks, det.marks)
        run.files["lesions"] = file_ref(lesions, det.lesions)


def _segmentation(run: _Run) -> None:
    """Segmentation overlap and boundary metrics per case and their CIs (R10)."""
    seg = run.proto.segmentation
    if seg is None:
        return
    with run.timed("segmentation"):
        predictions = _resolved(run.loaded, seg.predictions)
        _check_sha(predictions, seg.predictions_sha256, "predictions")
        manifest_path, _ = run.need_manifest()
        run.analyses.segmentation, outcomes = segmentation_record(
            seg,
            predictions,
            manifest_path,
            run.need_cases(),
            seed=run.proto.seed,
            n_resamples=run.proto.n_resamples,
        )
        run.outcomes.update(outcomes)
        run.files["segmentation_predictions"] = file_ref(predictions, seg.predictions)


def _measurement(run: _Run) -> None:
    """A measuring device against its reference: Bland-Altman, CCC, ICC (R7)."""
    meas = run.proto.measurement
    if meas is None:
        return
    with run.timed("measurement"):
        path = _resolved(run.loaded, meas.measurements)
        _check_sha(path, meas.measurements_sha256, "measurements")
        manifest_path, _ = run.need_manifest()
        run.analyses.measurement, outcomes = measurement_record(
            meas, path, run.need_cases(), manifest_path=manifest_path
        )
        run.outcomes.update(outcomes)
        run.files["measurements"] = file_ref(path, meas.measurements)


def _threshold(run: _Run) -> float | None:
    return run.proto.model.threshold if run.proto.model is not None else None


def _subgroups(run: _Run) -> None:
    """The subgroup table with guardrails, disparities and heterogeneity (R11, R12)."""
    if run.proto.subgroups is None:
        return
    run.analyses.subgroups = subgroup_record(
        run.proto.subgroups,
        run.need_cases(),
        threshold=_threshold(run),
        seed=run.proto.seed,
        n_resamples=run.proto.n_resamples,
    )


def _curves(run: _Run) -> None:
    """The classification model's ROC, 2x2 table and calibration (none without a model)."""
    cases = run.need_cases()
    if cases.score is None:
        return
    with run.timed("curves"):
        proto, threshold = run.proto, _threshold(run)
        y_true = cases.y_true.astype(np.int8)
        run.analyses.roc = roc_record(
            y_true,
            cases.score,
            threshold=threshold,
            clusters=cases.clusters,
            rng=stream(proto.seed, "roc", "band"),
            n_resamples=proto.n_resamples,
        )
        run.analyses.confusion_matrix = confusion_record(y_true, cases.score, threshold)
        run.analyses.calibration = calibration_record(
            y_true,
            cases.score,
            run.warnings,
            clusters=cases.clusters,
            rng=stream(proto.seed, "calibration"),
            n_resamples=proto.n_resamples,
        )


def _gallery(run: _Run) -> None:
    """The failure-case gallery (R19), when the protocol enables it (patient images)."""
    settings = run.proto.report.gallery
    if not settings.enabled:
        if (run.study_dir / GALLERY_FILE).exists():
            run.gallery_file = empty_gallery()  # no earlier run's images stay behind
        return
    with run.timed("gallery"):
        manifest_path, _ = run.need_manifest()
        seg = run.proto.segmentation
        run.analyses.gallery, run.gallery_file = gallery_record(
            settings,
            GalleryInputs(
                cases=run.need_cases(),
                manifest_path=manifest_path,
                threshold=_threshold(run),
                subgroups_spec=run.proto.subgroups,
                subgroups=run.analyses.subgroups,
                detection=run.proto.detection,
                detection_tables=run.detection_tables,
                segmentation=seg,
                segmentation_record=run.analyses.segmentation,
                segmentation_predictions=_resolved(run.loaded, seg.predictions) if seg else None,
            ),
        )
    run.warnings.append(
        "the report shows patient images (report.gallery is enabled): treat report.html, "
        "report.pdf and gallery.json as protected health information"
    )


def _model(
    run: _Run, ref: ModelRef | None, role: str, scores: _Scores | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The ``model`` record of a role and its card's ``inputs`` record."""
    record, card_path = model_record(
        run.loaded,
        ref,
        role,
        scores.path if scores else None,
        scores.provenance if scores else {},
    )
    card = file_ref(card_path, ref.card) if card_path is not None and ref is not None else None
    return record, card


def _document(run: _Run, verdict: dict[str, Any]) -> tuple[dict[str, Any], InputFiles]:
    """The ``results.json`` document and the input files it records."""
    cases = run.need_cases()
    manifest_path, manifest_frame = run.need_manifest()
    proto, model, base = run.proto, run.model, run.baseline
    flow = flow_record(
        len(manifest_frame),
        cases,
        run.rule_lines,
        threshold=_threshold(run),
        confusion=run.analyses.confusion_matrix,
    )
    model_rec, card = _model(run, proto.model, "model", model)
    base_rec, base_card = _model(run, proto.baseline, "baseline", base)
    inputs = InputFiles(
        manifest=file_ref(manifest_path, proto.test_set.manifest, n_rows=len(manifest_frame)),
        scores=file_ref_or_none(model.path, model.declared) if model else None,
        baseline_scores=file_ref_or_none(base.path, base.declared) if base else None,
        readings=run.files.get("readings"),
        lesions=run.files.get("lesions"),
        marks=run.files.get("marks"),
        segmentation_predictions=run.files.get("segmentation_predictions"),
        truthing=run.files.get("truthing"),
        measurements=run.files.get("measurements"),
        model_card=card,
        baseline_model_card=base_card,
    )
    run.timings["total"] = time.perf_counter() - run.t_start
    timings = {"started_at": run.started_at, "finished_at": now_utc(), "seconds": run.timings}
    document = build_document(
        loaded=run.loaded,
        proto=proto,
        lock=run.lock,
        models=(model_rec, base_rec),
        inputs=inputs,
        timings=timings,
        verdict=verdict,
        cases=cases,
        flow=flow,
        endpoints=[o.record for o in run.outcomes.values()],
        comparisons=[o.comparison for o in run.outcomes.values() if o.comparison is not None],
        analyses=run.analyses,
        warnings=run.warnings,
    )
    return document, inputs


def _render(run: _Run, actor: str | None) -> Path | None:
    """Render the report (and its PDF when the protocol asks); log each file in the audit trail."""
    pdf = run.proto.report.pdf
    pdf_path = run.study_dir / REPORT_PDF
    try:
        if pdf:
            # a PDF left by an earlier (forced) run must not pass for this run's
            pdf_path.unlink(missing_ok=True)
        written = render_and_log(run.study_dir, pdf=pdf, actor=actor)
    except Exception as exc:  # noqa: BLE001 - the verdict stands even if rendering fails
        run.warnings.append(f"the report could not be rendered: {type(exc).__name__}: {exc}")
        return None
    if pdf and pdf_path not in written:
        run.warnings.append(
            f"the protocol asks for a PDF report but {pdf_path.name} was not written"
        )
    return written[0]

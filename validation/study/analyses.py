"""The study's analysis blocks: ROC, 2x2 table, calibration, subgroups, reader study,
detection and segmentation.

Each function calls :mod:`validation.stats` and shapes the result into its
``results.json`` record; none computes a statistic itself. The user's tables these
analyses read are in :mod:`.tables`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.data.readings import select_modalities
from validation.errors import InputError, ProtocolError, ReadingsError, UndefinedMetricError
from validation.io import resolve_inside
from validation.protocol.schema import (
    Detection,
    Protocol,
    ReaderComparison,
    ReaderStudy,
    Segmentation,
    SegmentationEndpoint,
    SubgroupAttribute,
    Subgroups,
)
from validation.stats import mrmc, proportions, roc
from validation.stats.calibration import calibration_summary
from validation.stats.detection import MatchingRule, evaluate_detection
from validation.stats.proportions import confusion_counts
from validation.stats.registry import get_metric
from validation.stats.roc import sensitivity_at_specificity
from validation.stats.segmentation import (
    EmptyMaskPolicy,
    SegmentationSummary,
    segmentation_metrics,
    summarize_segmentation,
)
from validation.stats.subgroups import age_bands, subgroup_table
from validation.study.criteria import OPS, EndpointOutcome
from validation.study.dicom_marks import expand_sr_table
from validation.study.dicom_masks import load_mask_pair
from validation.study.inputs import Cases, stream
from validation.study.tables import (
    blank,
    lesions_problems,
    marks_problems,
    predictions_problems,
    read_detection_table,
    read_predictions,
    read_readings,
    readings_problems,
)

#: Manifest attributes summarised in the baseline-characteristics table (R17).
CHARACTERISTIC_COLUMNS = (
    "site",
    "manufacturer",
    "manufacturer_model",
    "sex",
    "race",
    "ethnicity",
    "view",
)


def derive_attribute(
    frame: pd.DataFrame, attr: SubgroupAttribute, *, source: str = "manifest"
) -> pd.Series:
    """The group label of every case for one subgroup attribute (bands cut when declared).

    Missing values become the group ``"unknown"`` (counted, never dropped, R15).
    """
    if attr.column not in frame.columns:
        raise InputError(
            f"{source}: subgroup column {attr.column!r} is missing; columns are "
            f"{list(frame.columns)}"
        )
    col = frame[attr.column]
    if attr.bands is None:
        return col.astype("string").fillna("unknown").astype(str).rename(attr.label)
    values = pd.to_numeric(col, errors="coerce")
    bad = col.notna() & values.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{source}: row {row + 1}, field {attr.column!r}: expected a number for bands, found "
            f"{col.iloc[row]!r}"
        )
    # the one banding of radval (right-open [a, b), labels "40-64", "65+"), as subgroup_table's
    bands = age_bands(values.to_numpy(dtype=np.float64), attr.bands, outside="out_of_bands")
    out = pd.Series(bands, index=frame.index, dtype=object)
    return out.astype(str).rename(attr.label)


def subgroup_frame(
    frame: pd.DataFrame, sg: Subgroups, *, intersections: bool = True
) -> pd.DataFrame:
    """One column per subgroup attribute (and per intersection) with each case's group.

    Intersections are named ``"a & b"`` with groups ``"x & y"``, as
    :func:`validation.stats.subgroups.subgroup_table` names them.
    """
    cols = {a.label: derive_attribute(frame, a) for a in sg.attributes}
    if intersections:
        for combo in sg.intersections:
            cols[" & ".join(combo)] = pd.Series(
                [" & ".join(parts) for parts in zip(*(cols[c] for c in combo), strict=True)],
                index=frame.index,
            )
    return pd.DataFrame(cols, index=frame.index)


def subgroup_ci_methods(sg: Subgroups) -> str | dict[str, str] | None:
    """The ``ci_method`` argument of ``subgroup_table`` for the protocol's ``subgroups.ci``:
    per-metric methods where declared, the table-wide method where it is valid for a metric,
    else the default rule (patient bootstrap with clusters, the metric's own default without)."""
    if not sg.ci.methods:
        return sg.ci.method

    out: dict[str, str] = {}
    for name in sg.metrics:
        chosen = sg.ci.method_for(name, get_metric(name).ci_methods)
        if chosen is not None:
            out[name] = chosen
    return out


def subgroup_record(
    sg: Subgroups, cases: Cases, *, threshold: float | None, seed: int, n_resamples: int
) -> dict[str, Any]:
    """Run :func:`validation.stats.subgroups.subgroup_table` for the protocol's subgroups.

    Requirements R11, R12.
    """

    if cases.score is None:
        raise ProtocolError(
            "subgroups: expected the classification model's scores to analyse, found none "
            "(the protocol declares no model)"
        )
    groups = subgroup_frame(cases.frame, sg, intersections=False)
    prespecified: list[str | tuple[str, ...]] = [a.label for a in sg.attributes if a.prespecified]
    prespecified += [tuple(c) for c in sg.intersections]
    analysis = subgroup_table(
        cases.y_true,
        cases.score,
        groups,
        metrics=list(sg.metrics),
        threshold=threshold,
        intersections=[tuple(c) for c in sg.intersections],
        min_n=sg.guardrails.min_n,
        min_pos=sg.guardrails.min_positives,
        min_neg=sg.guardrails.min_negatives,
        prespecified=prespecified,
        ci_method=subgroup_ci_methods(sg),
        clusters=cases.clusters,
        confidence_level=sg.ci.confidence_level,
        rng=stream(seed, "subgroups"),
        n_resamples=n_resamples,
        multiplicity=sg.multiplicity,
    )
    record: dict[str, Any] = dict(analysis.to_dict())
    record["multiplicity"] = sg.multiplicity
    record["guardrails"] = sg.guardrails.model_dump()
    if sg.guardrails.max_disparity is not None:
        limit = sg.guardrails.max_disparity
        record["max_disparity_exceeded"] = [
            {k: d.get(k) for k in ("attribute", "group", "metric", "difference")}
            for d in record.get("disparity", [])
            if d.get("difference") is not None and abs(float(d["difference"])) > limit
        ]
    return record


#: False-positive rates at which the ROC confidence band is computed.
BAND_GRID = np.round(np.linspace(0.0, 1.0, 21), 10)


def roc_band(
    y_true: np.ndarray,
    score: np.ndarray,
    *,
    clusters: np.ndarray | None,
    rng: np.random.Generator,
    n_resamples: int,
    confidence_level: float = 0.95,
) -> dict[str, Any] | None:
    """Pointwise bootstrap confidence band of sensitivity over a grid of specificities.

    At each false-positive rate ``f`` of :data:`BAND_GRID`,
    :func:`validation.stats.roc.sensitivity_at_specificity` at specificity ``1 - f`` gives
    the percentile interval of the sensitivity (pROC's ``ci.se``), resampling patients
    when ``clusters`` are given. Every grid point uses the same bootstrap resamples (one
    seed drawn from ``rng``), as pROC's ``ci.se(specificities = ...)`` does. The band is
    *pointwise*: each vertical slice covers the true sensitivity at that specificity with
    the stated confidence; it is not a simultaneous band for the whole curve.
    Grid points where the bootstrap is undefined are left out; ``None`` when none is defined.
    """

    seed = int(rng.integers(0, 2**63 - 1))
    fpr: list[float] = []
    low: list[float] = []
    high: list[float] = []
    for f in BAND_GRID:
        try:
            est = sensitivity_at_specificity(
                y_true,
                score,
                round(1.0 - float(f), 10),
                confidence_level=confidence_level,
                n_resamples=n_resamples,
                rng=seed,
                clusters=clusters,
            )
        except UndefinedMetricError:
            continue
        fpr.append(float(f))
        low.append(float(est.ci_low))
        high.append(float(est.ci_high))
    if not fpr:
        return None
    return {
        "fpr": fpr,
        "tpr_low": low,
        "tpr_high": high,
        "confidence_level": float(confidence_level),
        "method": "bootstrap_percentile",
        "pointwise": True,
        "n_resamples": int(n_resamples),
        "resampling": "patients (clusters)"
        if clusters is not None
        else "cases, stratified by class",
        "source": "validation.stats.roc.sensitivity_at_specificity",
    }


def roc_record(
    y_true: np.ndarray,
    score: np.ndarray,
    *,
    threshold: float | None,
    clusters: np.ndarray | None,
    rng: np.random.Generator | None = None,
    n_resamples: int = 2000,
) -> dict[str, Any] | None:
    """Empirical ROC points (from :func:`validation.stats.roc.roc_curve`), the operating point
    and, when ``rng`` is given, the pointwise confidence band (:func:`roc_band`)."""

    try:
        curve = roc.roc_curve(y_true, score)
        auc = get_metric("auc").compute(
            y_true, score, method="delong", confidence_level=0.95, clusters=clusters
        )
    except UndefinedMetricError:
        return None
    out: dict[str, Any] = {
        "auc": auc.to_dict(),
        "points": {
            "fpr": curve.fpr.tolist(),
            "tpr": curve.tpr.tolist(),
            "thresholds": curve.thresholds.tolist(),
        },
        "band": None,
        "operating_point": None,
        "n_positive": int(curve.n_positive),
        "n_negative": int(curve.n_negative),
    }
    if rng is not None:
        out["band"] = roc_band(y_true, score, clusters=clusters, rng=rng, n_resamples=n_resamples)
    if threshold is not None:
        c = proportions.confusion_counts(y_true, (score >= threshold).astype(np.int8))
        sens = c.tp / (c.tp + c.fn) if (c.tp + c.fn) else None
        spec = c.tn / (c.tn + c.fp) if (c.tn + c.fp) else None
        out["operating_point"] = {"threshold": threshold, "sensitivity": sens, "specificity": spec}
    return out


def confusion_record(
    y_true: np.ndarray, score: np.ndarray, threshold: float | None
) -> dict[str, Any] | None:
    """The 2x2 table at the locked threshold (R7, R16)."""
    if threshold is None:
        return None

    c = confusion_counts(y_true, (score >= threshold).astype(np.int8))
    return {
        "threshold": threshold,
        "tp": int(c.tp),
        "fp": int(c.fp),
        "tn": int(c.tn),
        "fn": int(c.fn),
    }


def calibration_record(
    y_true: np.ndarray,
    score: np.ndarray,
    warnings: list[str],
    *,
    clusters: np.ndarray | None,
    rng: np.random.Generator,
    n_resamples: int,
) -> dict[str, Any] | None:
    """Calibration of probability outputs (R18), when every score is a probability."""
    if score.size == 0 or score.min() < 0.0 or score.max() > 1.0:
        warnings.append("scores are not probabilities in [0, 1]: calibration not assessed")
        return None

    try:
        summary = calibration_summary(
            y_true, score, clusters=clusters, rng=rng, n_resamples=n_resamples
        )
    except UndefinedMetricError as exc:
        warnings.append(f"calibration not estimable: {exc}")
        return None
    return dict(summary.to_dict())


def characteristics(frame: pd.DataFrame, label: str, protocol: Protocol) -> list[dict[str, Any]]:
    """Counts of cases, positives and negatives per group of each known attribute (R17)."""
    columns = [c for c in CHARACTERISTIC_COLUMNS if c in frame.columns]
    attrs: list[SubgroupAttribute] = [SubgroupAttribute(column=c) for c in columns]
    if protocol.subgroups is not None:
        attrs += [a for a in protocol.subgroups.attributes if a.bands is not None]
    out: list[dict[str, Any]] = []
    y = frame[label].to_numpy()
    for attr in attrs:
        groups = derive_attribute(frame, attr)
        for g in sorted(groups.unique()):
            mask = (groups == g).to_numpy()
            out.append(
                {
                    "attribute": attr.label,
                    "group": str(g),
                    "n": int(mask.sum()),
                    "n_pos": int((y[mask] == 1).sum()),
                    "n_neg": int((y[mask] == 0).sum()),
                }
            )
    return out


#: Longest curve kept in ``results.json`` (points per reader curve); longer ones are thinned.
MAX_CURVE_POINTS = 201


def thin_curve(
    fpr: np.ndarray, tpr: np.ndarray, *, max_points: int = MAX_CURVE_POINTS
) -> dict[str, list[float]]:
    """``{fpr, tpr}`` lists of an ROC polyline, thinned deterministically to ``max_points``.

    Curves no longer than ``max_points`` are kept whole. A longer one keeps its first and
    last points and the points at ``max_points`` evenly spaced indices in between (the same
    indices for the same curve on every run); this changes only how finely the drawn
    polyline follows the empirical steps, never a reported figure of merit.
    """
    n = int(len(fpr))
    if n <= max_points:
        return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}
    keep = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.intp))
    return {
        "fpr": [float(v) for v in np.asarray(fpr)[keep]],
        "tpr": [float(v) for v in np.asarray(tpr)[keep]],
    }


def reader_roc_curves(readings: pd.DataFrame) -> dict[str, Any]:
    """Per-reader empirical ROC curves and the reader-averaged curve of each modality (R13).

    ``per_reader[modality][reader]`` comes from :func:`validation.stats.mrmc.reader_roc_points`,
    ``average[modality]`` from :func:`validation.stats.mrmc.average_roc_curve` (vertical
    averaging at 101 equally spaced false-positive rates); both ``{fpr, tpr}``, thinned by
    :func:`thin_curve` when longer than :data:`MAX_CURVE_POINTS`.
    """

    points = mrmc.reader_roc_points(readings)
    per_reader: dict[str, dict[str, dict[str, list[float]]]] = {}
    for (m, r), part in points.groupby(["modality", "reader"], sort=False):
        per_reader.setdefault(str(m), {})[str(r)] = thin_curve(
            part["fpr"].to_numpy(), part["tpr"].to_numpy()
        )
    average = mrmc.average_roc_curve(readings)
    return {
        "per_reader": per_reader,
        "average": {
            str(m): thin_curve(g["fpr"].to_numpy(), g["tpr"].to_numpy())
            for m, g in average.groupby("modality", sort=True)
        },
        "max_points": MAX_CURVE_POINTS,
    }


def reader_study_record(
    rs: ReaderStudy, path: Path, *, seed: int, n_resamples: int
) -> tuple[dict[str, Any], EndpointOutcome]:
    """Run the MRMC analysis, the protocol's hypothesis and AI-vs-readers (R13, R14).

    A readings problem found by the statistics (too few readers, a design the data do not
    match, an undefined figure of merit) is reported naming the readings file.
    """
    try:
        return _reader_study_record(rs, path, seed=seed, n_resamples=n_resamples)
    except ReadingsError as exc:
        if str(path) in str(exc):
            raise
        raise ReadingsError(f"{path}: {exc}") from exc
    except UndefinedMetricError as exc:  # kept an undefined result, now naming its data
        if str(path) in str(exc):
            raise
        raise UndefinedMetricError(f"{path}: {exc}") from exc


def _reader_study_record(
    rs: ReaderStudy, path: Path, *, seed: int, n_resamples: int
) -> tuple[dict[str, Any], EndpointOutcome]:

    readings = read_readings(path, rs.columns)
    problems = readings_problems(rs, readings, path)
    if problems:
        raise ReadingsError(problems[0])
    humans = readings if rs.ai_reader is None else readings[readings["reader"] != rs.ai_reader]
    keep = humans[humans["modality"].isin([rs.test_modality, rs.reference_modality])]
    options = _mrmc_options(rs, seed=seed, n_resamples=n_resamples)
    try:
        result = mrmc.mrmc_analysis(keep, confidence_level=rs.confidence_level, **options)
    except UndefinedMetricError as exc:
        raise ReadingsError(f"{path}: reader study {rs.id!r}: {exc}") from None
    res = result.to_dict()
    record: dict[str, Any] = {
        "id": rs.id,
        "design": res.get("design"),
        "fom": rs.fom,
        "method": rs.method,
        "covariance": rs.covariance,
        "analysis": rs.analysis,
        "test_modality": rs.test_modality,
        "reference_modality": rs.reference_modality,
        "fom_table": res.get("fom"),
        "modality_foms": res.get("modality_foms"),
        "tests": res.get("tests"),
        "variance_components": res.get("variance_components"),
        "n_cases": res.get("n_cases"),
        "readers": res.get("readers"),
        "modalities": res.get("modalities"),
        "comparisons": (res.get("tests") or {}).get(rs.analysis, {}).get("comparisons", []),
        "ai_vs_readers": None,
        "hypothesis": None,
        "roc_curves": None,
    }
    if rs.fom == "auc":
        record["roc_curves"] = reader_roc_curves(keep)
    blank = _reader_study_blank(rs)
    out = EndpointOutcome(blank)
    h = rs.hypothesis
    try:
        comp = (
            None
            if h is None
            else mrmc.mrmc_noninferiority(
                keep,
                modality_test=rs.test_modality,
                modality_reference=rs.reference_modality,
                margin=h.margin,
                alternative=h.kind,
                analysis=rs.analysis,
                confidence_level=rs.confidence_level,
                **options,
            )
        )
    except UndefinedMetricError as exc:  # e.g. readers that agree exactly: zero denominator
        comp = None
        out.estimable = False
        blank.update(decision="not_estimable", method=f"{rs.method}-{rs.covariance} {rs.analysis}")
        blank["details"]["reason"] = str(exc)
    if h is not None and comp is not None:
        record["hypothesis"] = _record_reader_comparison(rs, h, comp.to_dict(), out)
    if rs.ai_reader is not None:
        record["ai_vs_readers"] = _ai_vs_readers(rs, readings, rs.ai_reader)
    return record, out


def _mrmc_options(rs: ReaderStudy, *, seed: int, n_resamples: int) -> dict[str, Any]:
    """The MRMC options the protocol declares (FOM, method, covariance, design ...)."""
    options: dict[str, Any] = {
        "fom": rs.fom,
        "method": rs.method,
        "covariance": rs.covariance,
        "design": rs.design,
    }
    if rs.threshold is not None:
        options["threshold"] = rs.threshold
    if rs.covariance == "bootstrap":
        options.update(rng=stream(seed, "reader_study"), n_resamples=n_resamples)
    return options


def _reader_study_blank(rs: ReaderStudy) -> dict[str, Any]:
    """The reader study's endpoint record before its comparison is known (informational)."""
    return {
        "id": rs.id,
        "role": rs.role,
        "prespecified": True,
        "metric": f"mrmc_{rs.fom}_difference",
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "confidence_level": rs.confidence_level,
        "method": None,
        "n": None,
        "se": None,
        "p_value": None,
        "p_adjusted": None,
        "hypothesis": None,
        "criterion": None,
        "decision": "informational",
        "details": {},
    }


def _record_reader_comparison(
    rs: ReaderStudy, h: ReaderComparison, cd: dict[str, Any], out: EndpointOutcome
) -> dict[str, Any]:
    """Fill the outcome from the modality comparison ``cd``; return ``cd`` for the record."""
    blank = out.record
    blank.update(
        {
            "estimate": cd["difference"],
            "ci_low": cd["ci_low"],
            "ci_high": cd["ci_high"],
            "method": cd["method"],
            "n": cd["n"],
            "se": cd["se"],
            "p_value": cd["p_value"],
            "hypothesis": {
                "kind": h.kind,
                "margin": h.margin,
                "analysis": rs.analysis,
                "significance_level": h.significance_level,
                "alternative": "greater",
            },
            "criterion": {
                "kind": "reader_study",
                "text": (
                    f"H1: {rs.fom}({rs.test_modality}) - {rs.fom}({rs.reference_modality}) > "
                    f"{-h.margin if h.kind == 'non-inferiority' else h.margin:g} ({h.kind}, "
                    f"{rs.method.upper()} {rs.analysis}), one-sided p < "
                    f"{h.significance_level:g}"
                ),
                "holds": None,
            },
        }
    )
    blank["details"]["comparison"] = cd
    out.test_p = float(cd["p_value"])
    out.test_level = h.significance_level
    # The comparison reaches results.json's ``comparisons`` once, through the outcome.
    out.comparison = {
        "id": rs.id,
        "kind": f"reader_study:{h.kind}",
        "difference": cd["difference"],
        "ci_low": cd["ci_low"],
        "ci_high": cd["ci_high"],
        "statistic": cd["statistic"],
        "df": cd["df"],
        "p_value": cd["p_value"],
        "margin": h.margin,
        "alternative": "greater",
        "method": cd["method"],
        "confidence_level": cd["confidence_level"],
        "estimate_a": cd["estimate_a"],
        "estimate_b": cd["estimate_b"],
        "decision": "informational",
    }
    return cd


def _ai_vs_readers(rs: ReaderStudy, readings: pd.DataFrame, ai_reader: str) -> dict[str, Any]:
    """The AI reader against the human readers on one modality (not estimable: the reason)."""
    target = rs.ai_modality or rs.reference_modality
    try:
        panel = select_modalities(readings, [target], ai_reader=ai_reader)
    except ReadingsError as exc:
        raise ReadingsError(f"{exc} (see reader_study.ai_reader and ai_modality)") from exc
    kwargs: dict[str, Any] = {
        "ai_reader": ai_reader,
        "fom": rs.fom,
        "confidence_level": rs.confidence_level,
    }
    if rs.threshold is not None:
        kwargs["threshold"] = rs.threshold
    try:
        vs = mrmc.reader_vs_ai(panel, **kwargs)
        return {
            "modality": target,
            **vs.to_dict(),
        }
    except UndefinedMetricError as exc:
        return {"modality": target, "not_estimable": str(exc)}


def detection_tables(
    det: Detection, marks_path: Path, lesions_path: Path, cases: Cases
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The marks and lesions of the analysed cases, read, expanded from DICOM SR and checked."""
    marks = read_detection_table(marks_path, "marks", det.marks_columns, "detection.marks_columns")
    lesions = read_detection_table(
        lesions_path, "lesions", det.lesions_columns, "detection.lesions_columns"
    )
    marks = expand_sr_table(marks, marks_path, "marks", det, cases.frame)
    lesions = expand_sr_table(lesions, lesions_path, "lesions", det, cases.frame)
    case_ids = cases.frame["case_id"].astype(str).tolist()
    known = set(cases.manifest_ids) or set(case_ids)
    problems = marks_problems(marks, marks_path, known=known)
    problems += lesions_problems(lesions, lesions_path, det=det, known=known)
    if problems:
        raise InputError(problems[0])
    # cases excluded from the analysis (counted in the flow) leave their marks and lesions out too
    analysed = set(case_ids)
    marks = marks[marks["case_id"].astype(str).isin(analysed)]
    lesions = lesions[lesions["case_id"].astype(str).isin(analysed)]
    return (
        marks.assign(case_id=marks["case_id"].astype(str)),
        lesions.assign(case_id=lesions["case_id"].astype(str)),
    )


def detection_record(
    det: Detection,
    marks: pd.DataFrame,
    lesions: pd.DataFrame,
    cases: Cases,
    *,
    seed: int,
    n_resamples: int,
    source: str,
) -> tuple[dict[str, Any], dict[str, EndpointOutcome]]:
    """Match marks to lesions and run the FROC analysis (R9); one outcome per detection endpoint.

    ``marks`` and ``lesions`` come from :func:`detection_tables`; ``source`` names their
    files in error messages.
    """
    case_ids = cases.frame["case_id"].astype(str).tolist()
    rule = MatchingRule(**det.rule.model_dump())
    try:
        result = evaluate_detection(
            marks,
            lesions,
            cases=case_ids,
            rule=rule,
            threshold=det.threshold,
            clusters=None if cases.clusters is None else list(cases.clusters),
            confidence_level=det.confidence_level,
            n_resamples=n_resamples,
            rng=stream(seed, "detection"),
        )
    except ValueError as exc:
        if isinstance(exc, UndefinedMetricError):
            raise
        raise InputError(f"detection ({source}): {exc}") from None
    record = dict(result.to_dict())
    outcomes: dict[str, EndpointOutcome] = {}
    for ep in det.endpoints:
        rec: dict[str, Any] = {
            "id": ep.id,
            "role": ep.role,
            "prespecified": ep.prespecified,
            "metric": f"lesion_{ep.metric}",
            "estimate": None,
            "ci_low": None,
            "ci_high": None,
            "confidence_level": det.confidence_level,
            "method": None,
            "n": None,
            "se": None,
            "p_value": None,
            "p_adjusted": None,
            "hypothesis": None,
            "criterion": None,
            "decision": "informational",
            "details": {"threshold": det.threshold, "rule": det.rule.model_dump()},
        }
        out = EndpointOutcome(rec)
        if ep.accept is not None:
            a = ep.accept
            rec["criterion"] = {
                "kind": "bound",
                "holds": None,
                "text": (
                    f"{a.bound} of lesion {ep.metric} ({det.confidence_level:.0%} CI) {a.op} "
                    f"{a.value:g}"
                ),
            }
        est = getattr(result, ep.metric)
        if est is None:
            out.estimable = False
            rec["decision"] = "not_estimable"
            rec["details"]["reason"] = (
                "; ".join(result.notes) or f"{ep.metric} is not defined on this test set"
            )
        else:
            d = est.to_dict()
            for key in ("estimate", "ci_low", "ci_high", "confidence_level", "method", "n", "se"):
                rec[key] = d.get(key)
            if ep.accept is not None:
                out.bound_holds = bool(
                    OPS[ep.accept.op](float(getattr(est, ep.accept.bound)), ep.accept.value)
                )
        outcomes[ep.id] = out
    return record, outcomes


def segmentation_record(
    seg: Segmentation,
    predictions_path: Path,
    manifest_path: Path,
    cases: Cases,
    *,
    seed: int,
    n_resamples: int,
) -> tuple[dict[str, Any], dict[str, EndpointOutcome]]:
    """Per-case overlap/boundary metrics under the declared empty-mask policy.

    Summarised with confidence intervals (R10).
    """

    frame = cases.frame
    preds = read_predictions(predictions_path, seg.columns)
    problems = [
        m
        for _, m in predictions_problems(
            preds,
            seg,
            frame,
            predictions_path=predictions_path,
            manifest_path=manifest_path,
            known=set(cases.manifest_ids) or set(frame["case_id"].astype(str)),
        )
    ]
    if problems:
        raise InputError(problems[0])
    pairs = mask_pairs(seg, frame, preds, predictions_path, manifest_path)
    pred_masks, ref_masks, spacings, ids, clusters = [], [], [], [], []
    resampled: list[dict[str, str]] = []
    for row, cid, ref_path, pred_path in pairs:
        pred, ref, zooms, note = load_mask_pair(
            ref_path,
            pred_path,
            seg,
            case_id=cid,
            ref_where=f"{manifest_path}, row {row + 1}",
            pred_where=f"{predictions_path}, case {cid}",
        )
        if note is not None:
            resampled.append({"case_id": cid, "note": note})
        pred_masks.append(pred)
        ref_masks.append(ref)
        spacings.append(zooms)
        ids.append(cid)
        if cases.clusters is not None:
            clusters.append(cases.clusters[row])
    if not ids:
        raise InputError(
            f"{manifest_path}: no case has a reference mask in column {seg.reference_column!r}"
        )
    policy = EmptyMaskPolicy(**seg.empty_policy.model_dump())
    metrics = sorted({e.metric for e in seg.endpoints})
    per_case = segmentation_metrics(
        pred_masks,
        ref_masks,
        spacing=spacings,
        empty_policy=policy,
        metrics=metrics,
        tolerance_mm=seg.tolerance_mm,
        percentile=seg.percentile,
        case_ids=ids,
    )
    summary = summarize_segmentation(
        per_case,
        clusters=clusters or None,
        metrics=metrics,
        confidence_level=seg.confidence_level,
        rng=stream(seed, "segmentation"),
        n_resamples=n_resamples,
    )
    record: dict[str, Any] = dict(summary.to_dict())
    record["empty_policy"] = seg.empty_policy.model_dump()
    record["per_case"] = _jsonable_records(per_case)
    if resampled:
        record["resampled"] = resampled
    outcomes = {
        ep.id: _segmentation_outcome(ep, seg, summary, record["empty_policy"])
        for ep in seg.endpoints
    }
    return record, outcomes


def mask_pairs(
    seg: Segmentation,
    frame: pd.DataFrame,
    preds: pd.DataFrame,
    predictions_path: Path,
    manifest_path: Path,
) -> list[tuple[int, str, Path, Path]]:
    """``(row, case_id, reference mask, predicted mask)`` of each case with a reference mask."""
    pred_of = dict(zip(preds["case_id"].astype(str), preds["mask_path"].astype(str), strict=True))
    # Every mask path must stay inside its table's folder: all are checked before any is read.
    pairs: list[tuple[int, str, Path, Path]] = []
    for row, (cid, ref_rel) in enumerate(
        zip(frame["case_id"].astype(str), frame[seg.reference_column], strict=True)
    ):
        if blank(ref_rel):
            continue  # no reference segmentation for this case: not part of the segmentation set
        ref_path = resolve_inside(
            manifest_path.parent,
            str(ref_rel),
            folder="the manifest's folder",
            where=(
                f"{manifest_path}, row {row + 1} (case_id {cid!r}), column {seg.reference_column!r}"
            ),
        )
        pred_path = resolve_inside(
            predictions_path.parent,
            pred_of[cid],
            folder="the predictions table's folder",
            where=f"{predictions_path}, case_id {cid!r}, column 'mask_path'",
        )
        pairs.append((row, cid, ref_path, pred_path))
    return pairs


def _segmentation_outcome(
    ep: SegmentationEndpoint,
    seg: Segmentation,
    summary: SegmentationSummary,
    empty_policy: dict[str, Any],
) -> EndpointOutcome:
    """One segmentation endpoint's record: the mean metric with its CI against its bound."""
    rec: dict[str, Any] = {
        "id": ep.id,
        "role": ep.role,
        "prespecified": ep.prespecified,
        "metric": f"segmentation_{ep.metric}",
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "confidence_level": seg.confidence_level,
        "method": None,
        "n": None,
        "se": None,
        "p_value": None,
        "p_adjusted": None,
        "hypothesis": None,
        "criterion": None,
        "decision": "informational",
        "details": {
            "n_excluded": summary.n_excluded.get(ep.metric),
            "empty_policy": empty_policy,
        },
    }
    out = EndpointOutcome(rec)
    if ep.accept is not None:
        a = ep.accept
        rec["criterion"] = {
            "kind": "bound",
            "holds": None,
            "text": (
                f"{a.bound} of mean {ep.metric} ({seg.confidence_level:.0%} CI) {a.op} {a.value:g}"
            ),
        }
    est = summary.estimates.get(ep.metric)
    if est is None:
        out.estimable = False
        rec["decision"] = "not_estimable"
        rec["details"]["reason"] = f"{ep.metric} has no valid case"
    else:
        d = est.to_dict()
        for key in ("estimate", "ci_low", "ci_high", "confidence_level", "method", "n", "se"):
            rec[key] = d.get(key)
        if ep.accept is not None:
            out.bound_holds = bool(
                OPS[ep.accept.op](float(getattr(est, ep.accept.bound)), ep.accept.value)
            )
    return out


def _jsonable_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, float) and not np.isfinite(v):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            clean[str(k)] = v
        out.append(clean)
    return out

"""Endpoints: each endpoint's estimate, interval and test, computed by :mod:`validation.stats`.

This module only chooses which function to call and records what it returned; the
criteria and decisions are in :mod:`.criteria`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from validation.errors import InputError, StudyStop, UndefinedMetricError
from validation.protocol.schema import TEST_METHODS, Endpoint, HypothesisTest, Protocol
from validation.stats import hypothesis, roc
from validation.stats._results import Comparison, Estimate, TestResult
from validation.stats.registry import MetricSpec, get_metric
from validation.study.criteria import EndpointOutcome, bound_holds, criterion_record

__all__ = ["evaluate_endpoint", "method_note"]


def _blank(ep: Endpoint) -> dict[str, Any]:
    return {
        "id": ep.id,
        "role": ep.role,
        "prespecified": ep.prespecified,
        "metric": ep.metric,
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "confidence_level": ep.ci.confidence_level,
        "method": None,
        "n": None,
        "se": None,
        "successes": None,
        "p_value": None,
        "p_adjusted": None,
        "hypothesis": None,
        "criterion": None,
        "decision": "informational",
        "details": {},
    }


def _fill(record: dict[str, Any], est: Estimate) -> None:
    d = est.to_dict()
    for key in (
        "estimate",
        "ci_low",
        "ci_high",
        "confidence_level",
        "method",
        "n",
        "se",
        "successes",
    ):
        record[key] = d.get(key)
    if d.get("extra"):
        record["details"]["extra"] = d["extra"]


def method_note(
    declared: str,
    used: str | None,
    *,
    cluster_column: str | None,
    extra: dict[str, Any] | None = None,
) -> str | None:
    """Why the method a result names differs from the one the protocol declared (None if it does not).

    The clustered forms are the declared method applied to patients: DeLong's variance
    becomes Obuchowski's clustered variance and the bootstrap resamples patients. An
    interval that ignores the clusters says so through its ``cluster_note``.
    """
    if used is None or used == declared:
        note = (extra or {}).get("cluster_note")
        return str(note) if note else None
    if used.startswith(("cluster_", "obuchowski")):
        form = (
            "Obuchowski's clustered DeLong variance"
            if used.startswith("obuchowski")
            else f"a bootstrap that resamples patients, {used.rsplit('_', 1)[-1]} interval"
        )
        return (
            f"declared {declared}; computed as {used}, its patient-clustered form ({form}), because "
            f"cases share patients (test_set.cluster_column: {cluster_column})"
        )
    if used.startswith(declared + "_"):
        return f"declared {declared}; computed as {used}, its {used[len(declared) + 1 :]} form"
    return f"declared {declared}; computed as {used}"


def _better(direction: str) -> str:
    return "greater" if direction == "higher_is_better" else "less"


def _one_sample_test(
    spec: MetricSpec,
    ep: Endpoint,
    test: HypothesisTest,
    est: Estimate,
    y_true: np.ndarray,
    y: np.ndarray,
    clusters: np.ndarray | None,
    rng: np.random.Generator,
    n_resamples: int,
) -> TestResult:
    """One-sample test of the metric against ``null_value`` (shifted by the NI margin)."""
    alternative = _better(spec.direction)
    if test.null_value is None:  # the schema requires one for a one-sample test
        raise RuntimeError(f"endpoint {ep.id!r}: a one-sample test needs a null_value")
    shift = -test.margin if alternative == "greater" else test.margin
    null = test.null_value + shift
    if spec.kind == "threshold":
        if est.successes is None:
            raise InputError(f"endpoints.{ep.id}.test: metric {ep.metric!r} has no one-sample test")
        result: TestResult = hypothesis.proportion_test(
            est.successes,
            est.n,
            null_value=null,
            alternative=alternative,
            method=test.method or "exact",
            confidence_level=ep.ci.confidence_level,
        )
        return result
    if ep.metric != "auc":
        raise InputError(f"endpoints.{ep.id}.test: metric {ep.metric!r} has no one-sample test")
    kwargs: dict[str, Any] = {
        "null_value": null,
        "alternative": alternative,
        "clusters": clusters,
        "method": test.method or "delong",
        "confidence_level": ep.ci.confidence_level,
    }
    if kwargs["method"] == "bootstrap":
        kwargs.update(rng=rng, n_resamples=n_resamples)
    auc_result: TestResult = roc.auc_test(y_true, y, **kwargs)
    return auc_result


def _paired_comparison(
    spec: MetricSpec,
    ep: Endpoint,
    test: HypothesisTest,
    y_true: np.ndarray,
    cand: np.ndarray,
    base: np.ndarray,
    clusters: np.ndarray | None,
    rng: np.random.Generator,
    n_resamples: int,
) -> Comparison:
    """Candidate minus baseline on the same cases, paired."""
    alternative = _better(spec.direction)
    if spec.kind == "score":
        if ep.metric != "auc":
            raise InputError(
                f"endpoints.{ep.id}: metric {ep.metric!r} cannot be compared with a baseline"
            )
        method = test.method or "delong"
        kwargs: dict[str, Any] = {
            "method": method,
            "alternative": alternative,
            "margin": test.margin,
            "clusters": clusters,
            "confidence_level": ep.ci.confidence_level,
        }
        if method == "bootstrap":
            kwargs.update(rng=rng, n_resamples=n_resamples)
        result: Comparison = roc.compare_auc(y_true, cand, base, **kwargs)
        return result
    # Threshold metrics: a paired comparison of correct calls on the cases that define
    # the metric (positives for sensitivity, negatives for specificity ...).
    subset = _denominator(ep.metric, y_true, cand, base)
    yt = y_true[subset]
    comp: Comparison = hypothesis.paired_noninferiority(
        (cand[subset] == yt).astype(np.int8),
        (base[subset] == yt).astype(np.int8),
        margin=test.margin,
        alternative=alternative,
        confidence_level=ep.ci.confidence_level,
    )
    return comp


def _denominator(metric: str, y_true: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if metric == "sensitivity":
        return y_true == 1
    if metric == "specificity":
        return y_true == 0
    if metric == "accuracy":
        return np.ones_like(y_true, dtype=bool)
    raise InputError(
        f"metric {metric!r} cannot be compared paired with a baseline (its denominator differs "
        "between models); compare sensitivity, specificity, accuracy or auc"
    )


def _calls(values: np.ndarray, threshold: float | None, spec: MetricSpec, what: str) -> np.ndarray:
    """The model's 0/1 calls at the threshold for a threshold metric; the scores otherwise."""
    if spec.kind != "threshold":
        return values
    if threshold is None:  # the protocol check requires one (model.threshold or the card)
        raise RuntimeError(f"metric {spec.name!r} needs a threshold for the {what}")
    return (values >= threshold).astype(np.int8)


def _versus_baseline(
    ep: Endpoint,
    spec: MetricSpec,
    t: HypothesisTest,
    protocol: Protocol,
    out: EndpointOutcome,
    y_true: np.ndarray,
    y: np.ndarray,
    baseline: np.ndarray | None,
    clusters: np.ndarray | None,
    rng: np.random.Generator,
) -> str | None:
    """The paired comparison with the baseline; returns the test method used."""
    if baseline is None:  # the protocol check requires a baseline for compare_to
        raise RuntimeError(f"endpoint {ep.id!r} compares with a baseline that has no scores")
    record = out.record
    base_thr = (
        ep.threshold
        if ep.threshold is not None
        else (protocol.baseline.threshold if protocol.baseline is not None else None)
    )
    yb = _calls(baseline, base_thr, spec, "baseline")
    if spec.kind == "threshold":
        record["details"]["baseline_threshold"] = base_thr
    base_est = spec.compute(
        y_true,
        yb,
        method=ep.ci.method or spec.default_ci_method,
        confidence_level=ep.ci.confidence_level,
        clusters=clusters,
        rng=rng,
        n_resamples=protocol.n_resamples,
    )
    record["details"]["baseline"] = base_est.to_dict()
    comp = _paired_comparison(spec, ep, t, y_true, y, yb, clusters, rng, protocol.n_resamples)
    cd = comp.to_dict()
    record["details"]["comparison"] = cd
    out.test_p = None if comp.p_value is None else float(comp.p_value)
    out.comparison = {
        "id": ep.id,
        "kind": f"{ep.metric}:{t.kind}",
        "difference": cd["difference"],
        "ci_low": cd["ci_low"],
        "ci_high": cd["ci_high"],
        "statistic": cd["statistic"],
        "df": cd["df"],
        "p_value": cd["p_value"],
        "margin": t.margin,
        "alternative": cd["alternative"],
        "method": cd["method"],
        "confidence_level": cd["confidence_level"],
        "estimate_a": cd["estimate_a"],
        "estimate_b": cd["estimate_b"],
        "decision": "informational",
    }
    used: str | None = cd.get("method")
    return used


def _test(
    ep: Endpoint,
    spec: MetricSpec,
    protocol: Protocol,
    out: EndpointOutcome,
    est: Estimate,
    y_true: np.ndarray,
    y: np.ndarray,
    baseline: np.ndarray | None,
    clusters: np.ndarray | None,
    rng: np.random.Generator,
) -> None:
    """The endpoint's hypothesis test: against a null value, or paired with the baseline."""
    t = ep.test
    if t is None:
        return
    record = out.record
    test_method = t.method or TEST_METHODS[(spec.kind, ep.compare_to is not None)][0]
    record["hypothesis"] = {
        "kind": t.kind,
        "margin": t.margin,
        "null_value": t.null_value,
        "compare_to": ep.compare_to,
        "method": test_method,
        "alternative": _better(spec.direction),
        "significance_level": t.significance_level,
    }
    out.test_level = t.significance_level
    if ep.compare_to is not None:
        used = _versus_baseline(ep, spec, t, protocol, out, y_true, y, baseline, clusters, rng)
    else:
        tr = _one_sample_test(spec, ep, t, est, y_true, y, clusters, rng, protocol.n_resamples)
        record["details"]["test"] = tr.to_dict()
        used = record["details"]["test"].get("method")
        out.test_p = float(tr.p_value)
    record["p_value"] = out.test_p
    cluster_column = protocol.test_set.cluster_column if clusters is not None else None
    test_note = method_note(test_method, used, cluster_column=cluster_column)
    if test_note:
        record["details"]["test_method_note"] = test_note


def evaluate_endpoint(
    ep: Endpoint,
    *,
    protocol: Protocol,
    y_true: np.ndarray,
    score: np.ndarray,
    baseline: np.ndarray | None,
    clusters: np.ndarray | None,
    rng: np.random.Generator,
) -> EndpointOutcome:
    """Compute one endpoint, its CI, its test or comparison, and whether its criteria hold."""
    spec = get_metric(ep.metric)
    record = _blank(ep)
    out = EndpointOutcome(record)
    model_threshold = protocol.model.threshold if protocol.model is not None else None
    threshold = ep.threshold if ep.threshold is not None else model_threshold
    y = _calls(score, threshold, spec, "model")
    if spec.kind == "threshold":
        record["details"]["threshold"] = threshold
    method = ep.ci.method or spec.default_ci_method
    record["criterion"] = criterion_record(ep, spec)
    try:
        est = spec.compute(
            y_true,
            y,
            method=method,
            confidence_level=ep.ci.confidence_level,
            clusters=clusters,
            rng=rng,
            n_resamples=protocol.n_resamples,
        )
        _fill(record, est)
        record["details"]["declared_method"] = method
        cluster_column = protocol.test_set.cluster_column if clusters is not None else None
        note = method_note(
            method, est.method, cluster_column=cluster_column, extra=dict(est.extra or {})
        )
        if note:
            record["details"]["method_note"] = note
        if ep.accept is not None:
            out.bound_holds = bound_holds(ep.accept, est)
        _test(ep, spec, protocol, out, est, y_true, y, baseline, clusters, rng)
    except UndefinedMetricError as exc:
        if ep.on_undefined == "error":
            raise StudyStop(
                f"endpoint {ep.id!r}: {exc} (on_undefined: error stops the study)"
            ) from None
        out.estimable = False
        record["decision"] = "not_estimable"
        record["details"]["reason"] = str(exc)
        if out.comparison is not None:
            out.comparison["decision"] = "not_estimable"
    return out

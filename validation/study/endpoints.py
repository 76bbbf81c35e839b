"""Study runner helpers: endpoints, acceptance criteria and multiplicity.

Every number comes from :mod:`validation.stats`; this module only chooses which
function to call, evaluates the protocol's criteria on the returned bounds and
p-values, and applies the multiplicity strategy to the primary endpoints.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from validation.errors import InputError, StudyStop, UndefinedMetricError
from validation.protocol.schema import (
    _TEST_METHODS,
    Endpoint,
    HypothesisTest,
    Multiplicity,
    Protocol,
)
from validation.stats._results import Comparison, Estimate, TestResult

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}


@dataclass
class EndpointOutcome:
    """Everything the runner learned about one endpoint (before multiplicity)."""

    record: dict[str, Any]
    comparison: dict[str, Any] | None = None
    bound_holds: bool | None = None
    test_p: float | None = None
    test_level: float | None = None
    estimable: bool = True
    notes: list[str] = field(default_factory=list)


def _blank(ep: Endpoint) -> dict[str, Any]:
    return {
        "id": ep.id, "role": ep.role, "prespecified": ep.prespecified, "metric": ep.metric,
        "estimate": None, "ci_low": None, "ci_high": None, "confidence_level": ep.ci.confidence_level,
        "method": None, "n": None, "se": None, "successes": None, "p_value": None, "p_adjusted": None,
        "hypothesis": None, "criterion": None, "decision": "informational", "details": {},
    }


def _fill(record: dict[str, Any], est: Estimate) -> None:
    d = est.to_dict()
    for key in ("estimate", "ci_low", "ci_high", "confidence_level", "method", "n", "se", "successes"):
        record[key] = d.get(key)
    if d.get("extra"):
        record["details"]["extra"] = d["extra"]


def method_note(declared: str, used: str | None, *, cluster_column: str | None,
                extra: dict[str, Any] | None = None) -> str | None:
    """Why the method a result names differs from the one the protocol declared (None if it does not).

    The clustered forms are the declared method applied to patients: DeLong's variance
    becomes Obuchowski's clustered variance and the bootstrap resamples patients. An
    interval that ignores the clusters says so through its ``cluster_note``.
    """
    if used is None or used == declared:
        note = (extra or {}).get("cluster_note")
        return str(note) if note else None
    if used.startswith(("cluster_", "obuchowski")):
        form = ("Obuchowski's clustered DeLong variance" if used.startswith("obuchowski")
                else f"a bootstrap that resamples patients, {used.rsplit('_', 1)[-1]} interval")
        return (
            f"declared {declared}; computed as {used}, its patient-clustered form ({form}), because "
            f"cases share patients (test_set.cluster_column: {cluster_column})"
        )
    if used.startswith(declared + "_"):
        return f"declared {declared}; computed as {used}, its {used[len(declared) + 1:]} form"
    return f"declared {declared}; computed as {used}"


def _better(direction: str) -> str:
    return "greater" if direction == "higher_is_better" else "less"


def _one_sample_test(
    spec: Any, ep: Endpoint, test: HypothesisTest, est: Estimate, y_true: np.ndarray, y: np.ndarray,
    clusters: np.ndarray | None, rng: np.random.Generator, n_resamples: int,
) -> TestResult:
    """One-sample test of the metric against ``null_value`` (shifted by the NI margin)."""
    from validation.stats import hypothesis, roc

    alternative = _better(spec.direction)
    assert test.null_value is not None
    shift = -test.margin if alternative == "greater" else test.margin
    null = test.null_value + shift
    if spec.kind == "threshold":
        if est.successes is None:
            raise InputError(f"endpoints.{ep.id}.test: metric {ep.metric!r} has no one-sample test")
        result: TestResult = hypothesis.proportion_test(
            est.successes, est.n, null_value=null, alternative=alternative,
            method=test.method or "exact", confidence_level=ep.ci.confidence_level,
        )
        return result
    if ep.metric != "auc":
        raise InputError(f"endpoints.{ep.id}.test: metric {ep.metric!r} has no one-sample test")
    kwargs: dict[str, Any] = {"null_value": null, "alternative": alternative, "clusters": clusters,
              "method": test.method or "delong", "confidence_level": ep.ci.confidence_level}
    if kwargs["method"] == "bootstrap":
        kwargs.update(rng=rng, n_resamples=n_resamples)
    auc_result: TestResult = roc.auc_test(y_true, y, **kwargs)
    return auc_result


def _paired_comparison(
    spec: Any, ep: Endpoint, test: HypothesisTest, y_true: np.ndarray, cand: np.ndarray,
    base: np.ndarray, clusters: np.ndarray | None, rng: np.random.Generator, n_resamples: int,
) -> Comparison:
    """Candidate minus baseline on the same cases, paired."""
    from validation.stats import hypothesis, roc

    alternative = _better(spec.direction)
    if spec.kind == "score":
        if ep.metric != "auc":
            raise InputError(f"endpoints.{ep.id}: metric {ep.metric!r} cannot be compared with a baseline")
        method = test.method or "delong"
        kwargs: dict[str, Any] = {
            "method": method, "alternative": alternative, "margin": test.margin,
            "clusters": clusters, "confidence_level": ep.ci.confidence_level,
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
        (cand[subset] == yt).astype(np.int8), (base[subset] == yt).astype(np.int8),
        margin=test.margin, alternative=alternative, confidence_level=ep.ci.confidence_level,
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


def _criterion_text(ep: Endpoint, spec: Any) -> str:
    if ep.accept is not None and ep.test is None:
        a = ep.accept
        return f"{a.bound} of {ep.metric} ({ep.ci.confidence_level:.0%} CI) {a.op} {a.value:g}"
    assert ep.test is not None
    t = ep.test
    better = ">" if spec.direction == "higher_is_better" else "<"
    sign = "-" if better == ">" else "+"
    if ep.compare_to is not None:
        rhs = f"{ep.metric}(baseline)" + (f" {sign} {t.margin:g}" if t.margin else "")
        text = f"H1: {ep.metric}(model) {better} {rhs} ({t.kind}), one-sided p < {t.significance_level:g}"
    else:
        assert t.null_value is not None
        rhs = f"{t.null_value:g}" + (f" {sign} {t.margin:g}" if t.margin else "")
        text = f"H1: {ep.metric} {better} {rhs} ({t.kind}), one-sided p < {t.significance_level:g}"
    if ep.accept is not None:
        a = ep.accept
        text += f"; and {a.bound} {a.op} {a.value:g}"
    return text


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
    from validation.stats.registry import get_metric

    spec = get_metric(ep.metric)
    record = _blank(ep)
    out = EndpointOutcome(record)
    model_threshold = protocol.model.threshold if protocol.model is not None else None
    threshold = ep.threshold if ep.threshold is not None else model_threshold
    if spec.kind == "threshold":
        assert threshold is not None
        y = (score >= threshold).astype(np.int8)
        record["details"]["threshold"] = threshold
    else:
        y = score
    method = ep.ci.method or spec.default_ci_method
    if ep.accept is not None or ep.test is not None:
        record["criterion"] = {
            "kind": "test" if ep.test is not None else "bound",
            "text": _criterion_text(ep, spec), "holds": None,
        }
    try:
        est = spec.compute(
            y_true, y, method=method, confidence_level=ep.ci.confidence_level,
            clusters=clusters, rng=rng, n_resamples=protocol.n_resamples,
        )
        _fill(record, est)
        record["details"]["declared_method"] = method
        note = method_note(method, est.method, cluster_column=protocol.test_set.cluster_column
                           if clusters is not None else None, extra=dict(est.extra or {}))
        if note:
            record["details"]["method_note"] = note
        if ep.accept is not None:
            out.bound_holds = bool(_OPS[ep.accept.op](float(getattr(est, ep.accept.bound)), ep.accept.value))
        if ep.test is not None:
            t = ep.test
            test_method = t.method or _TEST_METHODS[(spec.kind, ep.compare_to is not None)][0]
            record["hypothesis"] = {
                "kind": t.kind, "margin": t.margin, "null_value": t.null_value,
                "compare_to": ep.compare_to, "method": test_method,
                "alternative": _better(spec.direction), "significance_level": t.significance_level,
            }
            out.test_level = t.significance_level
            if ep.compare_to is not None:
                assert baseline is not None
                if spec.kind == "threshold":
                    b_thr = ep.threshold if ep.threshold is not None else (
                        protocol.baseline.threshold if protocol.baseline is not None else None
                    )
                    assert b_thr is not None
                    yb = (baseline >= b_thr).astype(np.int8)
                    record["details"]["baseline_threshold"] = b_thr
                else:
                    yb = baseline
                base_est = spec.compute(
                    y_true, yb, method=method, confidence_level=ep.ci.confidence_level,
                    clusters=clusters, rng=rng, n_resamples=protocol.n_resamples,
                )
                record["details"]["baseline"] = base_est.to_dict()
                comp = _paired_comparison(spec, ep, t, y_true, y, yb, clusters, rng, protocol.n_resamples)
                cd = comp.to_dict()
                record["details"]["comparison"] = cd
                used_test = cd.get("method")
                out.test_p = None if comp.p_value is None else float(comp.p_value)
                out.comparison = {
                    "id": ep.id, "kind": f"{ep.metric}:{t.kind}", "difference": cd["difference"],
                    "ci_low": cd["ci_low"], "ci_high": cd["ci_high"], "statistic": cd["statistic"],
                    "df": cd["df"], "p_value": cd["p_value"], "margin": t.margin,
                    "alternative": cd["alternative"], "method": cd["method"],
                    "confidence_level": cd["confidence_level"], "estimate_a": cd["estimate_a"],
                    "estimate_b": cd["estimate_b"], "decision": "informational",
                }
            else:
                tr = _one_sample_test(spec, ep, t, est, y_true, y, clusters, rng, protocol.n_resamples)
                record["details"]["test"] = tr.to_dict()
                used_test = record["details"]["test"].get("method")
                out.test_p = float(tr.p_value)
            record["p_value"] = out.test_p
            test_note = method_note(test_method, used_test, cluster_column=protocol.test_set.cluster_column
                                    if clusters is not None else None)
            if test_note:
                record["details"]["test_method_note"] = test_note
    except UndefinedMetricError as exc:
        if ep.on_undefined == "error":
            raise StudyStop(f"endpoint {ep.id!r}: {exc} (on_undefined: error stops the study)") from None
        out.estimable = False
        record["decision"] = "not_estimable"
        record["details"]["reason"] = str(exc)
        if out.comparison is not None:
            out.comparison["decision"] = "not_estimable"
    return out


def _own_decision(out: EndpointOutcome, level: float | None) -> str:
    if not out.estimable:
        return "not_estimable"
    holds = []
    if out.bound_holds is not None:
        holds.append(out.bound_holds)
    if out.test_level is not None:
        alpha = level if level is not None else out.test_level
        holds.append(out.test_p is not None and out.test_p <= alpha)
    if not holds:
        return "informational"
    return "pass" if all(holds) else "fail"


def apply_decisions(
    outcomes: dict[str, EndpointOutcome], primaries: list[str], mult: Multiplicity
) -> dict[str, Any]:
    """Decide every endpoint; apply the multiplicity strategy to the primaries.

    Returns the ``verdict`` record. Secondary endpoints are decided at their own
    level and never affect the verdict; exploratory ones are informational.
    """
    from validation.stats import multiplicity as mstats

    method = mult.method
    alpha = mult.significance_level
    adjusted: dict[str, float | None] = {k: None for k in primaries}
    family_level: float | None = None
    if method == "holm":
        ids = [k for k in primaries if outcomes[k].test_p is not None]
        if ids:
            holm = mstats.adjust_pvalues([float(outcomes[k].test_p or 0.0) for k in ids], method="holm")
            adjusted.update({k: float(v) for k, v in zip(ids, np.asarray(holm, dtype=float), strict=True)})
        family_level = alpha
    for key, out in outcomes.items():
        rec = out.record
        level = family_level if (key in primaries and method == "holm") else None
        if key in primaries and method == "holm" and out.test_level is not None:
            p = adjusted.get(key)
            rec["p_adjusted"] = p
            held = out.bound_holds is not False and p is not None and p <= alpha
            decision = "not_estimable" if not out.estimable else ("pass" if held else "fail")
        elif key in primaries and method == "fixed-sequence":
            decision = _own_decision(out, alpha if out.test_level is not None else None)
        else:
            decision = _own_decision(out, level)
        if rec["role"] == "exploratory" and decision in ("pass", "fail"):
            decision = "informational"
        rec["decision"] = decision
    if method == "fixed-sequence":
        assert mult.order is not None
        tested = [k for k in mult.order if outcomes[k].test_p is not None]
        if tested:
            fs = mstats.fixed_sequence([float(outcomes[k].test_p or 0.0) for k in tested],
                                       significance_level=alpha)
            for k, p_fs in zip(tested, fs.p_adjusted, strict=True):
                outcomes[k].record["p_adjusted"] = float(p_fs)
        open_gate = True
        stopped_at = None
        for key in mult.order:
            rec = outcomes[key].record
            if not open_gate:
                # The sequence stopped before this hypothesis: it is not tested (its own
                # result stays in the record), and the verdict cannot pass.
                rec["decision"] = "not_tested"
                rec["details"]["fixed_sequence"] = (
                    f"not tested: the fixed sequence stopped at {stopped_at!r}, which was not rejected"
                )
                continue
            if rec["decision"] != "pass":
                open_gate = False
                stopped_at = key
    for out in outcomes.values():
        crit = out.record.get("criterion")
        if crit is not None:
            crit["holds"] = {"pass": True, "fail": False}.get(out.record["decision"])
        if out.comparison is not None:
            out.comparison["decision"] = out.record["decision"]
    order = mult.order if method == "fixed-sequence" and mult.order else primaries
    primary = [
        {
            "endpoint_id": k,
            "decision": outcomes[k].record["decision"],
            "p_value": outcomes[k].record["p_value"],
            "p_adjusted": outcomes[k].record["p_adjusted"],
        }
        for k in order
    ]
    ok = all(p["decision"] == "pass" for p in primary)
    return {
        "decision": "pass" if ok else "fail",
        "multiplicity": method,
        "significance_level": alpha,
        "primary": primary,
    }

"""Recompute a protocol's ``planning:`` block: the cases each planned endpoint needs.

:func:`resolve_plan` fills an entry's defaults from its endpoint (the goal of ``accept``,
the CI level and method, the test's null value, margin and significance level) and
:func:`compute_plan` calls the sample-size function of :mod:`validation.stats.planning`,
applying the design effect for patients with several cases. :func:`achieved_power` gives
the power of the same analysis at the counts a test set actually has, and
:func:`plan_statement` the plan in words a statistician can paste into a protocol.
:func:`planning_problems` is what ``radval protocol check`` reports about the block.

Nothing here is evaluated from the protocol as code: the method names select one of a
fixed set of functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from validation.protocol.planning import EndpointPlan
from validation.protocol.schema import Endpoint, Protocol, ReaderStudy
from validation.stats.planning import (
    PLANNING_INTERVALS,
    DesignEffect,
    design_effect,
    power_auc,
    power_goal,
    power_mrmc,
    power_paired_auc,
    power_paired_proportions,
    sample_size_auc,
    sample_size_goal,
    sample_size_mrmc,
    sample_size_paired_auc,
    sample_size_paired_proportions,
    sample_size_precision,
)

__all__ = [
    "PlannedCounts",
    "achieved_power",
    "mrmc_achieved_power",
    "compute_plan",
    "plan_from_inputs",
    "plan_statement",
    "planning_problems",
    "resolve_plan",
]

#: The endpoint metric each method sizes, and the class of cases that carries it.
_CLASS = {"sensitivity": "positives", "specificity": "negatives"}
_METRICS = {
    "precision": ("sensitivity", "specificity"),
    "goal": ("sensitivity", "specificity"),
    "paired_proportions": ("sensitivity", "specificity"),
    "auc": ("auc",),
    "paired_auc": ("auc",),
    "mrmc": ("auc", "sensitivity", "specificity"),
}
_PAIRED = ("paired_auc", "paired_proportions")


@dataclass(frozen=True)
class PlannedCounts:
    """A computed plan: the cases needed, by class, after the design effect.

    Attributes
    ----------
    endpoint, method, metric : str
    inputs : dict
        The resolved inputs (defaults filled from the endpoint).
    result : object
        The plan of :mod:`validation.stats.planning` (``to_dict`` gives its fields).
    positives, negatives : int or None
        Cases needed of each class (None: the plan does not constrain that class).
    total : int or None
        Cases in all, when the prevalence is given (``mrmc``: the cases every reader reads).
    readers : int or None
        ``mrmc``: the readers planned.
    target_power : float or None
        None for a precision plan.
    design : DesignEffect or None
    power : float or None
        Power of the planned analysis at the planned counts (None for precision).
    """

    endpoint: str
    method: str
    metric: str
    inputs: dict[str, Any]
    result: Any
    positives: int | None
    negatives: int | None
    total: int | None
    target_power: float | None
    design: DesignEffect | None = None
    power: float | None = None
    readers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the counts, the inputs and the statistics' own record."""
        required: dict[str, Any] = {
            "positives": self.positives,
            "negatives": self.negatives,
            "total": self.total,
        }
        if self.method == "mrmc":
            required["readers"] = self.readers
        return {
            "endpoint": self.endpoint,
            "method": self.method,
            "metric": self.metric,
            "inputs": dict(self.inputs),
            "required": required,
            "target_power": self.target_power,
            "power": self.power,
            "design_effect": self.design.to_dict() if self.design is not None else None,
            "plan": self.result.to_dict(),
        }


def _endpoint(protocol: Protocol, entry: EndpointPlan) -> Endpoint:
    for ep in protocol.endpoints:
        if ep.id == entry.endpoint:
            return ep
    known = [e.id for e in protocol.endpoints]
    raise ValueError(
        f"endpoint {entry.endpoint!r} is not a classification endpoint of this protocol; "
        f"expected one of {known}"
    )


def _test_defaults(entry: EndpointPlan, ep: Endpoint) -> dict[str, Any]:
    """Significance level and alternative: the entry's, else the endpoint test's (one-sided)."""
    if ep.test is not None:
        level, alternative = ep.test.significance_level, "greater"
    else:
        level, alternative = 0.05, "two-sided"
    return {
        "significance_level": entry.significance_level or level,
        "alternative": entry.alternative or alternative,
        "power": entry.power or 0.8,
    }


def _ratio(entry: EndpointPlan) -> float:
    if entry.ratio is not None:
        return entry.ratio
    if entry.prevalence is not None and entry.prevalence < 1.0:
        return (1.0 - entry.prevalence) / entry.prevalence
    return 1.0


def _reader_study(protocol: Protocol, entry: EndpointPlan) -> ReaderStudy:
    rs = protocol.reader_study
    if rs is None or rs.id != entry.endpoint:
        found = "the protocol has no reader_study" if rs is None else f"its id is {rs.id!r}"
        raise ValueError(
            f"method 'mrmc' sizes the reader study; endpoint {entry.endpoint!r} is not the "
            f"reader study ({found})"
        )
    if rs.method != "or":
        raise ValueError(
            f"method 'mrmc' plans an Obuchowski-Rockette analysis; reader study {rs.id!r} "
            f"uses method {rs.method!r}"
        )
    return rs


def _mrmc_inputs(protocol: Protocol, entry: EndpointPlan) -> tuple[ReaderStudy, dict[str, Any]]:
    rs = _reader_study(protocol, entry)
    return rs, {
        "effect": entry.effect,
        "readers": entry.readers,
        "variance_components": dict(entry.variance_components or {}),
        "pilot_cases": entry.pilot_cases,
        "power": entry.power or 0.8,
        "confidence_level": entry.confidence_level or rs.confidence_level,
    }


def resolve_plan(protocol: Protocol, entry: EndpointPlan) -> tuple[Endpoint, dict[str, Any]]:
    """The endpoint an entry sizes and the entry's inputs, defaults filled from the endpoint.

    Raises
    ------
    ValueError
        The endpoint is unknown, or its metric or design does not fit the method, or a
        default the endpoint should give is missing (the message says which).
    """
    ep = _endpoint(protocol, entry)
    method = entry.method
    if ep.metric not in _METRICS[method]:
        raise ValueError(
            f"method {method!r} sizes a {' or '.join(_METRICS[method])} endpoint; endpoint "
            f"{ep.id!r} has metric {ep.metric!r}"
        )
    paired = ep.compare_to is not None
    if paired != (method in _PAIRED):
        which = "compares with the baseline" if paired else "has no `compare_to`"
        fits = "paired_auc or paired_proportions" if paired else "precision, goal or auc"
        raise ValueError(f"endpoint {ep.id!r} {which}; plan it with {fits}, not {method!r}")
    out: dict[str, Any] = {"expected": entry.expected}
    if method == "precision":
        out |= {
            "half_width": entry.half_width,
            "confidence_level": entry.confidence_level or ep.ci.confidence_level,
            "prevalence": entry.prevalence,
        }
    elif method == "goal":
        goal = entry.goal
        if goal is None:
            if ep.accept is None or ep.accept.bound != "ci_low":
                raise ValueError(
                    f"method 'goal' needs `goal`: endpoint {ep.id!r} has no `accept` on ci_low "
                    "to take it from"
                )
            goal = ep.accept.value
        calculation = entry.calculation or "exact"
        interval: str | None = entry.interval
        if calculation == "exact" and interval is None:
            interval = ep.ci.method if ep.ci.method in PLANNING_INTERVALS else "clopper_pearson"
        out |= {
            "goal": goal,
            "power": entry.power or 0.8,
            "confidence_level": entry.confidence_level or ep.ci.confidence_level,
            "calculation": calculation,
            "interval": interval,
            "prevalence": entry.prevalence,
        }
    elif method == "auc":
        null = entry.null_value
        if null is None:
            null = ep.test.null_value if ep.test is not None else None
        out |= {
            "null": 0.5 if null is None else null,
            "ratio": _ratio(entry),
            "prevalence": entry.prevalence,
        }
        out |= _test_defaults(entry, ep)
    else:
        margin = entry.margin
        if margin is None:
            margin = ep.test.margin if ep.test is not None else 0.0
        out |= {"comparator": entry.comparator, "margin": margin}
        if method == "paired_auc":
            out |= {
                "correlation": entry.correlation,
                "correlation_negative": entry.correlation_negative,
                "ratio": _ratio(entry),
                "prevalence": entry.prevalence,
            }
        else:
            out |= {
                "correlation": entry.correlation,
                "discordance": entry.discordance,
                "prevalence": entry.prevalence,
            }
        out |= _test_defaults(entry, ep)
    if entry.icc is not None:
        out |= {"icc": entry.icc, "mean_cluster_size": entry.mean_cluster_size}
    return ep, out


def _sized(inputs: dict[str, Any], method: str) -> Any:
    """The sample-size result of the statistics for resolved inputs."""
    i = inputs
    if method == "precision":
        return sample_size_precision(
            i["expected"],
            i["half_width"],
            confidence_level=i["confidence_level"],
            prevalence=i["prevalence"],
        )
    if method == "goal":
        return sample_size_goal(
            i["expected"],
            i["goal"],
            power=i["power"],
            confidence_level=i["confidence_level"],
            method=i["calculation"],
            interval=i["interval"],
            prevalence=i["prevalence"],
        )
    tests = {k: i[k] for k in ("significance_level", "power", "alternative")}
    if method == "auc":
        return sample_size_auc(i["expected"], null=i["null"], ratio=i["ratio"], **tests)
    if method == "paired_auc":
        return sample_size_paired_auc(
            i["expected"],
            i["comparator"],
            correlation=i["correlation"],
            correlation_negative=i["correlation_negative"],
            margin=i["margin"],
            ratio=i["ratio"],
            **tests,
        )
    return sample_size_paired_proportions(
        i["expected"],
        i["comparator"],
        correlation=i["correlation"],
        discordance=i["discordance"],
        margin=i["margin"],
        prevalence=i["prevalence"],
        **tests,
    )


def _inflate(n: int | None, de: DesignEffect | None) -> int | None:
    if n is None or de is None:
        return n
    return math.ceil(n * de.design_effect * (1 - 1e-12))


def compute_plan(protocol: Protocol, entry: EndpointPlan) -> PlannedCounts:
    """The cases one planning entry needs (see :func:`resolve_plan` for the defaults).

    Raises
    ------
    ValueError
        The entry does not fit its endpoint, or the statistics refuse its inputs.
    """
    if entry.method == "mrmc":
        rs, inputs = _mrmc_inputs(protocol, entry)
        return plan_from_inputs("mrmc", rs.fom, inputs, endpoint=rs.id)
    ep, inputs = resolve_plan(protocol, entry)
    return plan_from_inputs(entry.method, ep.metric, inputs, endpoint=ep.id)


def plan_from_inputs(
    method: str, metric: str, inputs: dict[str, Any], *, endpoint: str = ""
) -> PlannedCounts:
    """The cases a plan needs, from resolved inputs (the keys :func:`resolve_plan` gives).

    ``metric`` is ``sensitivity`` or ``specificity`` (the class of cases a proportion plan
    counts) or ``auc``. For ``goal`` with the exact calculation the count is the smallest
    from which the power stays above target (``n_stable``), so that a slightly larger test
    set keeps the power. With ``icc`` and ``mean_cluster_size`` in ``inputs`` the counts
    are inflated by the design effect.

    Raises
    ------
    ValueError
        The statistics refuse the inputs, or the metric does not fit the method.
    """
    if metric not in _METRICS[method]:
        raise ValueError(
            f"method {method!r} sizes {' or '.join(_METRICS[method])}; got metric {metric!r}"
        )
    if method == "mrmc":
        return _mrmc_plan(metric, inputs, endpoint)
    result = _sized(inputs, method)
    de = None
    if inputs.get("icc") is not None:
        de = design_effect(inputs["icc"], mean_cluster_size=inputs["mean_cluster_size"])
    target = None if method == "precision" else inputs["power"]
    pos = neg = total = None
    if method in ("auc", "paired_auc"):
        pos, neg = _inflate(result.n_positive, de), _inflate(result.n_negative, de)
        total = pos + neg if pos is not None and neg is not None else None
    else:
        n = result.n
        n_total = result.n_total
        if method == "goal" and result.n_stable is not None:
            n, n_total = result.n_stable, result.n_total_stable
        n = _inflate(n, de)
        if _CLASS[metric] == "positives":
            pos = n
        else:
            neg = n
        total = _inflate(n_total, de)
    plan = PlannedCounts(endpoint, method, metric, inputs, result, pos, neg, total, target, de)
    power = achieved_power(plan, n_positive=pos or 0, n_negative=neg or 0)
    return replace(plan, power=power)


def _mrmc_plan(metric: str, inputs: dict[str, Any], endpoint: str) -> PlannedCounts:
    """The cases a reader study needs with its planned readers (HOB 2011)."""
    i = inputs
    result = sample_size_mrmc(
        i["variance_components"],
        effect=i["effect"],
        n_readers=i["readers"],
        power=i["power"],
        confidence_level=i["confidence_level"],
        pilot_n_cases=i["pilot_cases"],
    )
    plan = PlannedCounts(
        endpoint,
        "mrmc",
        metric,
        inputs,
        result,
        None,
        None,
        result.n_cases,
        i["power"],
        readers=i["readers"],
    )
    return replace(plan, power=result.power)


def mrmc_achieved_power(plan: PlannedCounts, *, n_readers: int, n_cases: int) -> float | None:
    """Power of a planned reader study with the readers and cases it actually had."""
    if n_readers < 2 or n_cases < 2:
        return None
    i = plan.inputs
    return float(
        power_mrmc(
            i["variance_components"],
            effect=i["effect"],
            n_readers=n_readers,
            n_cases=n_cases,
            confidence_level=i["confidence_level"],
            pilot_n_cases=i["pilot_cases"],
        ).power
    )


def _effective(n: int, plan: PlannedCounts) -> int:
    """Cases worth as much as ``n`` clustered cases: ``floor(n / design effect)``."""
    if plan.design is None:
        return n
    return math.floor(n / plan.design.design_effect + 1e-12)


def achieved_power(plan: PlannedCounts, *, n_positive: int, n_negative: int) -> float | None:
    """Power of the planned analysis with the counts a test set has (None for precision).

    The counts are divided by the design effect first. ``None`` also when the relevant
    class is empty (no power to speak of; the endpoint itself is then not estimable).
    """
    i = plan.inputs
    pos, neg = _effective(n_positive, plan), _effective(n_negative, plan)
    if plan.method in ("precision", "mrmc"):  # mrmc: see mrmc_achieved_power
        return None
    tests: dict[str, Any] = {k: i.get(k) for k in ("significance_level", "alternative")}
    if plan.method in ("auc", "paired_auc"):
        if pos < 1 or neg < 1:
            return None
        if plan.method == "auc":
            return float(
                power_auc(
                    i["expected"], n_positive=pos, n_negative=neg, null=i["null"], **tests
                ).power
            )
        return float(
            power_paired_auc(
                i["expected"],
                i["comparator"],
                n_positive=pos,
                n_negative=neg,
                correlation=i["correlation"],
                correlation_negative=i["correlation_negative"],
                margin=i["margin"],
                **tests,
            ).power
        )
    n = pos if _CLASS[plan.metric] == "positives" else neg
    if n < 1:
        return None
    if plan.method == "goal":
        return float(
            power_goal(
                i["expected"],
                i["goal"],
                n=n,
                confidence_level=i["confidence_level"],
                method=i["calculation"],
                interval=i["interval"],
            ).power
        )
    return float(
        power_paired_proportions(
            i["expected"],
            i["comparator"],
            n=n,
            correlation=i["correlation"],
            discordance=i["discordance"],
            margin=i["margin"],
            **tests,
        ).power
    )


def _pct(x: float) -> str:
    return f"{100 * x:g}%"


def _class_words(plan: PlannedCounts) -> str:
    parts = []
    if plan.positives is not None:
        parts.append(f"{plan.positives} positive")
    if plan.negatives is not None:
        parts.append(f"{plan.negatives} negative")
    text = " and ".join(parts) + " cases"
    if plan.total is not None:
        text += f" ({plan.total} cases in all)"
    return text


def plan_statement(plan: PlannedCounts) -> str:
    """The plan in words, with its assumptions and reference (for a protocol or report)."""
    i, r = plan.inputs, plan.result
    metric = plan.metric
    if plan.method == "mrmc":
        return (
            f"With {plan.readers} readers each reading {plan.total} cases in both modalities, "
            f"the Obuchowski-Rockette random-readers random-cases test of the reader-averaged "
            f"{metric} has {100 * r.power:.1f}% power (target {_pct(i['power'])}) to detect a "
            f"difference of {i['effect']:g} at two-sided level "
            f"{1 - i['confidence_level']:.3g}, with the variance components of a "
            f"{i['pilot_cases']}-case pilot (Hillis, Obuchowski & Berbaum 2011)."
        )
    if plan.method == "precision":
        why = (
            f"With an expected {metric} of {i['expected']:g}, {_class_words(plan)} give a "
            f"two-sided {_pct(i['confidence_level'])} confidence interval of half-width at "
            f"most {i['half_width']:g} (Buderer 1996)."
        )
    elif plan.method == "goal":
        how = (
            f"by an exact binomial search over the {i['interval']} interval (Chu & Cole 2007)"
            if i["calculation"] == "exact"
            else "by the normal approximation (Flahault et al. 2005)"
        )
        why = (
            f"With an expected {metric} of {i['expected']:g}, {_class_words(plan)} give at "
            f"least {_pct(i['power'])} power for the lower bound of the two-sided "
            f"{_pct(i['confidence_level'])} confidence interval to exceed the goal "
            f"{i['goal']:g}, {how}."
        )
        if i["calculation"] == "exact" and r.n_stable is not None and r.n_stable != r.n:
            why += (
                f" The power first reaches the target at {r.n} cases but dips below it again "
                f"(saw-tooth) until {r.n_stable}; the plan uses {r.n_stable}."
            )
    elif plan.method == "auc":
        why = (
            f"With an expected AUC of {i['expected']:g} against {i['null']:g} under the null, "
            f"{_class_words(plan)} give {_pct(i['power'])} power at significance level "
            f"{i['significance_level']:g} ({i['alternative']}), with {i['ratio']:.3g} "
            "negatives per positive (Obuchowski's binormal variance; pROC power.roc.test)."
        )
    else:
        what = "AUC" if plan.method == "paired_auc" else metric
        hyp = (
            f"non-inferiority with margin {i['margin']:g}"
            if i["margin"] > 0
            else "a difference (superiority)"
        )
        corr = (
            f"correlation {i['correlation']:g}"
            if i.get("correlation") is not None
            else f"discordance {i['discordance']:g}"
        )
        ref = (
            "Obuchowski & McClish 1997"
            if plan.method == "paired_auc"
            else ("Nam 1997" if i["margin"] > 0 else "Connor 1987")
        )
        why = (
            f"Comparing the model's {what} (expected {i['expected']:g}) with the baseline's "
            f"({i['comparator']:g}) on the same cases, {corr}: {_class_words(plan)} give "
            f"{_pct(i['power'])} power to show {hyp} at significance level "
            f"{i['significance_level']:g} ({i['alternative']}) ({ref})."
        )
    if plan.design is not None:
        d = plan.design
        why += (
            f" Counts include a design effect of {d.design_effect:.3g} for patients with "
            f"several cases (ICC {d.icc:g}, mean {d.mean_cluster_size:g} cases per patient)."
        )
    return why


def planning_problems(protocol: Protocol) -> list[tuple[tuple[Any, ...], str]]:
    """``(YAML location, message)`` for every planning entry that cannot be computed."""
    out: list[tuple[tuple[Any, ...], str]] = []
    seen: set[str] = set()
    for k, entry in enumerate(protocol.planning):
        if entry.endpoint in seen:
            out.append(
                (("planning", k, "endpoint"), f"endpoint {entry.endpoint!r} is planned twice")
            )
            continue
        seen.add(entry.endpoint)
        try:
            compute_plan(protocol, entry)
        except ValueError as exc:
            out.append((("planning", k), str(exc).splitlines()[0]))
    return out

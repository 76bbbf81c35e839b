"""`radval plan`: sample size and power before the test set exists.

``radval plan precision|goal|auc|paired-auc|paired-proportions`` size one endpoint from
options; ``radval plan mrmc`` gives the readers x cases trade-off of a reader study from a
pilot readings file or declared OR variance components; ``radval plan protocol FILE``
recomputes a protocol's ``planning:`` block. Each prints the counts and the plan in words
(its assumptions and reference), or with ``--json`` the plan's record. A thin wrapper over
:mod:`validation.protocol.sizing` and :mod:`validation.stats.planning`; inputs the
statistics refuse exit 2 with one line.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from validation.cli._common import finite, printable
from validation.errors import InputError, PlanningError

plan_app = typer.Typer(
    help="Plan a study: the cases (and readers) an endpoint needs, before the test set exists.",
    no_args_is_help=True,
)


class Metric(StrEnum):
    """The proportion a precision, goal or paired-proportions plan sizes."""

    sensitivity = "sensitivity"
    specificity = "specificity"


class Calculation(StrEnum):
    """How :func:`validation.stats.sample_size_goal` finds the count."""

    exact = "exact"
    normal = "normal"


class PlanInterval(StrEnum):
    """The interval an exact goal plan searches (that of the analysis)."""

    clopper_pearson = "clopper_pearson"
    wilson = "wilson"
    wilson_cc = "wilson_cc"
    agresti_coull = "agresti_coull"
    jeffreys = "jeffreys"
    wald = "wald"


class Alternative(StrEnum):
    """Sidedness of the planned test."""

    two_sided = "two-sided"
    greater = "greater"


class MRMCFom(StrEnum):
    """Figure of merit of the pilot reader study."""

    auc = "auc"
    sensitivity = "sensitivity"
    specificity = "specificity"


class Covariance(StrEnum):
    """How the pilot's OR covariances are estimated."""

    jackknife = "jackknife"
    delong = "delong"
    unbiased = "unbiased"
    bootstrap = "bootstrap"


Expected = Annotated[
    float, typer.Option("--expected", help="Anticipated value of the metric.", callback=finite)
]
PowerOpt = Annotated[float, typer.Option("--power", help="Target power.", callback=finite)]
Level = Annotated[
    float,
    typer.Option("--confidence-level", help="Two-sided confidence level.", callback=finite),
]
Alpha = Annotated[
    float | None,
    typer.Option(
        "--significance-level",
        help="Significance level (default 0.025 with --alternative greater, else 0.05).",
        callback=finite,
    ),
]
Prevalence = Annotated[
    float | None,
    typer.Option(
        "--prevalence", help="Anticipated prevalence: also give the total cases.", callback=finite
    ),
]
Icc = Annotated[
    float | None,
    typer.Option(
        "--icc", help="Design effect: ICC within a patient (with --cluster-size).", callback=finite
    ),
]
Cluster = Annotated[
    float | None,
    typer.Option(
        "--cluster-size",
        help="Design effect: mean cases per patient (with --icc).",
        callback=finite,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")]


def _design(icc: float | None, cluster_size: float | None) -> dict[str, Any]:
    if (icc is None) != (cluster_size is None):
        raise PlanningError("a design effect needs both --icc and --cluster-size")
    return {} if icc is None else {"icc": icc, "mean_cluster_size": cluster_size}


def _alpha(level: float | None, alternative: Alternative) -> float:
    if level is not None:
        return level
    return 0.025 if alternative is Alternative.greater else 0.05


def _emit(method: str, metric: str, inputs: dict[str, Any], as_json: bool) -> None:
    """Compute a plan from resolved inputs and print it (a refused input: exit 2)."""
    from validation.protocol.sizing import plan_from_inputs, plan_statement

    try:
        plan = plan_from_inputs(method, metric, inputs)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise PlanningError(f"radval plan {method.replace('_', '-')}: {exc}") from exc
    if as_json:
        payload = plan.to_dict() | {"statement": plan_statement(plan)}
        del payload["endpoint"]
        typer.echo(json.dumps(payload, indent=2, allow_nan=False))
        return
    _print_plans([plan], title=f"Sample size: {method.replace('_', ' ')} ({metric})")


def _count(x: int | None) -> str:
    return "-" if x is None else str(x)


def _print_plans(plans: list[Any], *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from validation.protocol.sizing import plan_statement

    console = Console()
    table = Table(title=title)
    cols = ["endpoint", "method", "positives", "negatives", "total", "power at plan", "target"]
    for col in cols if plans[0].endpoint else cols[1:]:
        table.add_column(col, overflow="fold")
    for plan in plans:
        power = plan.power
        row = [
            plan.method,
            _count(plan.positives),
            _count(plan.negatives),
            _count(plan.total) + (f" cases x {plan.readers} readers" if plan.readers else ""),
            "-" if power is None else f"{power:.4f}",
            "-" if plan.target_power is None else f"{plan.target_power:g}",
        ]
        table.add_row(*([printable(plan.endpoint)] if plan.endpoint else []), *row)
    console.print(table)
    for plan in plans:
        lead = f"{printable(plan.endpoint)}: " if plan.endpoint else ""
        typer.echo(lead + plan_statement(plan))


@plan_app.command("precision")
def precision(
    expected: Expected,
    half_width: Annotated[
        float, typer.Option("--half-width", help="Largest CI half-width.", callback=finite)
    ],
    metric: Annotated[Metric, typer.Option("--metric")] = Metric.sensitivity,
    confidence_level: Level = 0.95,
    prevalence: Prevalence = None,
    icc: Icc = None,
    cluster_size: Cluster = None,
    as_json: AsJson = False,
) -> None:
    """Cases for a CI of a stated half-width around a sensitivity or specificity (Buderer)."""
    inputs = {
        "expected": expected,
        "half_width": half_width,
        "confidence_level": confidence_level,
        "prevalence": prevalence,
    } | _design(icc, cluster_size)
    _emit("precision", metric.value, inputs, as_json)


@plan_app.command("goal")
def goal(
    expected: Expected,
    goal: Annotated[
        float, typer.Option("--goal", help="Performance goal the lower bound must exceed.")
    ],
    metric: Annotated[Metric, typer.Option("--metric")] = Metric.sensitivity,
    power: PowerOpt = 0.8,
    confidence_level: Level = 0.95,
    calculation: Annotated[
        Calculation,
        typer.Option("--calculation", help="Exact binomial search, or the normal formula."),
    ] = Calculation.exact,
    interval: Annotated[
        PlanInterval | None,
        typer.Option(
            "--interval", help="Interval of the analysis (exact; default Clopper-Pearson)."
        ),
    ] = None,
    prevalence: Prevalence = None,
    icc: Icc = None,
    cluster_size: Cluster = None,
    as_json: AsJson = False,
) -> None:
    """Cases for the lower confidence bound to exceed a goal with the stated power."""
    if calculation is Calculation.normal and interval is not None:
        raise PlanningError("--interval applies to --calculation exact only")
    if calculation is Calculation.exact and interval is None:
        interval = PlanInterval.clopper_pearson
    inputs = {
        "expected": expected,
        "goal": goal,
        "power": power,
        "confidence_level": confidence_level,
        "calculation": calculation.value,
        "interval": interval.value if interval is not None else None,
        "prevalence": prevalence,
    } | _design(icc, cluster_size)
    _emit("goal", metric.value, inputs, as_json)


@plan_app.command("auc")
def auc(
    expected: Expected,
    null: Annotated[
        float, typer.Option("--null", help="AUC under the null.", callback=finite)
    ] = 0.5,
    ratio: Annotated[
        float | None,
        typer.Option(
            "--ratio",
            help="Negatives per positive (default: from --prevalence, else 1).",
            callback=finite,
        ),
    ] = None,
    power: PowerOpt = 0.8,
    significance_level: Alpha = None,
    alternative: Annotated[Alternative, typer.Option("--alternative")] = Alternative.two_sided,
    prevalence: Prevalence = None,
    icc: Icc = None,
    cluster_size: Cluster = None,
    as_json: AsJson = False,
) -> None:
    """Positives and negatives to show an AUC above a null value (Obuchowski; pROC)."""
    inputs = {
        "expected": expected,
        "null": null,
        "ratio": _ratio(ratio, prevalence),
        "prevalence": prevalence,
        "power": power,
        "significance_level": _alpha(significance_level, alternative),
        "alternative": alternative.value,
    } | _design(icc, cluster_size)
    _emit("auc", "auc", inputs, as_json)


def _ratio(ratio: float | None, prevalence: float | None) -> float:
    if ratio is not None:
        return ratio
    if prevalence is not None and 0 < prevalence < 1:
        return (1 - prevalence) / prevalence
    return 1.0


Comparator = Annotated[
    float,
    typer.Option(
        "--comparator", help="Anticipated value of the comparator's metric.", callback=finite
    ),
]
Margin = Annotated[
    float,
    typer.Option("--margin", help="Non-inferiority margin (0: superiority).", callback=finite),
]


@plan_app.command("paired-auc")
def paired_auc(
    expected: Expected,
    comparator: Comparator,
    correlation: Annotated[
        float,
        typer.Option(
            "--correlation", help="Correlation of the two scores in positives.", callback=finite
        ),
    ],
    correlation_negative: Annotated[
        float | None,
        typer.Option(
            "--correlation-negative", help="In negatives (default: --correlation).", callback=finite
        ),
    ] = None,
    margin: Margin = 0.0,
    ratio: Annotated[
        float | None, typer.Option("--ratio", help="Negatives per positive.", callback=finite)
    ] = None,
    power: PowerOpt = 0.8,
    significance_level: Alpha = None,
    alternative: Annotated[Alternative, typer.Option("--alternative")] = Alternative.greater,
    prevalence: Prevalence = None,
    icc: Icc = None,
    cluster_size: Cluster = None,
    as_json: AsJson = False,
) -> None:
    """Cases to compare two AUCs on the same cases (Obuchowski & McClish 1997)."""
    inputs = {
        "expected": expected,
        "comparator": comparator,
        "margin": margin,
        "correlation": correlation,
        "correlation_negative": correlation_negative,
        "ratio": _ratio(ratio, prevalence),
        "prevalence": prevalence,
        "power": power,
        "significance_level": _alpha(significance_level, alternative),
        "alternative": alternative.value,
    } | _design(icc, cluster_size)
    _emit("paired_auc", "auc", inputs, as_json)


@plan_app.command("paired-proportions")
def paired_proportions(
    expected: Expected,
    comparator: Comparator,
    metric: Annotated[Metric, typer.Option("--metric")] = Metric.sensitivity,
    correlation: Annotated[
        float | None,
        typer.Option(
            "--correlation", help="Correlation of the two binary results.", callback=finite
        ),
    ] = None,
    discordance: Annotated[
        float | None,
        typer.Option(
            "--discordance", help="Probability the two disagree on a case.", callback=finite
        ),
    ] = None,
    margin: Margin = 0.0,
    power: PowerOpt = 0.8,
    significance_level: Alpha = None,
    alternative: Annotated[Alternative, typer.Option("--alternative")] = Alternative.greater,
    prevalence: Prevalence = None,
    icc: Icc = None,
    cluster_size: Cluster = None,
    as_json: AsJson = False,
) -> None:
    """Cases to compare two sensitivities or specificities on the same cases (Connor, Nam)."""
    if (correlation is None) == (discordance is None):
        raise PlanningError("give one of --correlation and --discordance")
    inputs = {
        "expected": expected,
        "comparator": comparator,
        "margin": margin,
        "correlation": correlation,
        "discordance": discordance,
        "prevalence": prevalence,
        "power": power,
        "significance_level": _alpha(significance_level, alternative),
        "alternative": alternative.value,
    } | _design(icc, cluster_size)
    _emit("paired_proportions", metric.value, inputs, as_json)


@plan_app.command("mrmc")
def mrmc(
    effect: Annotated[
        float,
        typer.Option(
            "--effect", help="Difference in reader-averaged FOM to detect.", callback=finite
        ),
    ],
    readings: Annotated[
        Path | None,
        typer.Option("--readings", help="Pilot readings file (two modalities)."),
    ] = None,
    components: Annotated[
        Path | None,
        typer.Option(
            "--components",
            help="JSON file of OR variance components: var_tr, var_error, cov1, cov2, cov3 "
            "(with --pilot-cases).",
        ),
    ] = None,
    pilot_cases: Annotated[
        int | None, typer.Option("--pilot-cases", help="Cases of the pilot (with --components).")
    ] = None,
    readers: Annotated[
        list[int] | None,
        typer.Option("--readers", help="Reader counts to tabulate (repeat; default 2..20)."),
    ] = None,
    power: PowerOpt = 0.8,
    confidence_level: Level = 0.95,
    fom: Annotated[MRMCFom, typer.Option("--fom")] = MRMCFom.auc,
    covariance: Annotated[Covariance, typer.Option("--covariance")] = Covariance.jackknife,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="For sensitivity / specificity.", callback=finite),
    ] = None,
    max_cases: Annotated[int, typer.Option("--max-cases")] = 100_000,
    as_json: AsJson = False,
) -> None:
    """Readers x cases trade-off of an MRMC study (Hillis, Obuchowski & Berbaum 2011)."""
    from validation.stats.planning import mrmc_tradeoff

    pilot = _pilot(readings, components, pilot_cases)
    try:
        table = mrmc_tradeoff(
            pilot,
            effect=effect,
            power=power,
            n_readers=readers or range(2, 21),
            confidence_level=confidence_level,
            pilot_n_cases=pilot_cases if components is not None else None,
            max_cases=max_cases,
            fom=fom.value,
            threshold=threshold,
            covariance=covariance.value,
        )
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        source = readings if readings is not None else components
        raise PlanningError(f"radval plan mrmc ({source}): {exc}") from exc
    if as_json:
        typer.echo(json.dumps(table.to_dict(), indent=2, allow_nan=False))
        return
    _print_tradeoff(table)


def _pilot(readings: Path | None, components: Path | None, pilot_cases: int | None) -> Any:
    from validation.data.readings import load_readings

    if (readings is None) == (components is None):
        raise PlanningError("give one of --readings (a pilot study) and --components")
    if readings is not None:
        if pilot_cases is not None:
            raise PlanningError("--pilot-cases goes with --components; readings give their own")
        return load_readings(readings)
    if pilot_cases is None:
        raise PlanningError("--components needs --pilot-cases (the pilot study's cases)")
    path = Path(str(components))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanningError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise PlanningError(f"{path}: expected JSON, found invalid text ({exc})") from exc
    keys = ("var_tr", "var_error", "cov1", "cov2", "cov3")
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), int | float) and not isinstance(data.get(k), bool) for k in keys
    ):
        raise PlanningError(f"{path}: expected a JSON object with numbers {list(keys)}")
    return {k: float(data[k]) for k in keys}


def _print_tradeoff(table: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"MRMC readers x cases: effect {table.effect:g}, power {table.target_power:g}, "
        f"{100 * table.confidence_level:g}% two-sided (pilot: {table.pilot_n_cases} cases)"
    )
    for col in ("readers", "cases", "power", "achievable"):
        t.add_column(col)
    for row in table.rows:
        t.add_row(
            str(row.n_readers),
            _count(row.n_cases),
            "-" if row.power is None else f"{row.power:.4f}",
            "yes" if row.achievable else "no (reader variance dominates)",
        )
    Console().print(t)
    typer.echo(
        "Cases are the fewest giving the target power for the OR random-readers random-cases "
        "test with the pilot's variance components scaled to the planned cases (Hillis, "
        "Obuchowski & Berbaum 2011)."
    )


@plan_app.command("protocol")
def protocol(
    file: Annotated[Path, typer.Argument(help="Protocol YAML with a `planning:` block.")],
    as_json: AsJson = False,
) -> None:
    """Recompute a protocol's `planning:` block (`protocol check` compares it with the test set)."""
    from validation.protocol.load import load_protocol
    from validation.protocol.sizing import compute_plan, plan_statement

    loaded = load_protocol(file, files=False)
    proto = loaded.protocol
    if not proto.planning:
        raise PlanningError(f"{file}: the protocol has no `planning:` block")
    plans = [compute_plan(proto, entry) for entry in proto.planning]
    if as_json:
        out = [p.to_dict() | {"statement": plan_statement(p)} for p in plans]
        typer.echo(json.dumps(out, indent=2, allow_nan=False))
        return
    _print_plans(plans, title=f"{file.name}: planned sample size")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(plan_app, name="plan")

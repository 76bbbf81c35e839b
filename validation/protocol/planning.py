"""The protocol's ``planning:`` block: how each primary endpoint's sample size was chosen.

One entry per planned endpoint names the method of :mod:`validation.stats.planning` and its
inputs (the anticipated performance, the goal, the power, the correlation with the
comparator ...). Inputs the endpoint already fixes default to the endpoint's own settings
(the goal of ``accept``, the CI level and method, the test's null value, margin and
significance level), so that the plan and the analysis agree. The plan is recomputed by
:mod:`validation.protocol.sizing` when the protocol is checked and when it is run
(STARD 2015 item 18, CLAIM 2024 item 19).

Only the structure is checked here; :func:`validation.protocol.sizing.planning_problems`
checks the entry against its endpoint and computes it.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from validation.stats.planning import PLANNING_INTERVALS

__all__ = ["OR_COMPONENTS", "PLANNING_METHODS", "EndpointPlan"]

#: The planning methods a protocol may name.
PLANNING_METHODS = ("precision", "goal", "auc", "paired_auc", "paired_proportions", "mrmc")
#: The Obuchowski-Rockette variance components an ``mrmc`` plan declares.
OR_COMPONENTS = ("var_tr", "var_error", "cov1", "cov2", "cov3")

Interval = Literal["clopper_pearson", "wilson", "wilson_cc", "agresti_coull", "jeffreys", "wald"]
if get_args(Interval) != PLANNING_INTERVALS:  # pragma: no cover - a guard on the stats
    raise ImportError("the planning intervals of the protocol and of the statistics differ")

#: The inputs each method reads (besides ``endpoint``, ``method``, ``note`` and the design
#: effect); an input given to a method that does not read it is an error.
METHOD_INPUTS: dict[str, tuple[str, ...]] = {
    "precision": ("expected", "half_width", "confidence_level", "prevalence"),
    "goal": (
        "expected",
        "goal",
        "power",
        "confidence_level",
        "calculation",
        "interval",
        "prevalence",
    ),
    "auc": (
        "expected",
        "null_value",
        "ratio",
        "power",
        "significance_level",
        "alternative",
        "prevalence",
    ),
    "paired_auc": (
        "expected",
        "comparator",
        "correlation",
        "correlation_negative",
        "margin",
        "ratio",
        "power",
        "significance_level",
        "alternative",
        "prevalence",
    ),
    "paired_proportions": (
        "expected",
        "comparator",
        "correlation",
        "discordance",
        "margin",
        "power",
        "significance_level",
        "alternative",
        "prevalence",
    ),
    "mrmc": (
        "effect",
        "readers",
        "variance_components",
        "pilot_cases",
        "power",
        "confidence_level",
    ),
}
#: Inputs without a default, per method.
METHOD_REQUIRED: dict[str, tuple[str, ...]] = {
    "precision": ("expected", "half_width"),
    "goal": ("expected",),
    "auc": ("expected",),
    "paired_auc": ("expected", "comparator", "correlation"),
    "paired_proportions": ("expected", "comparator"),
    "mrmc": ("effect", "readers", "variance_components", "pilot_cases"),
}


class EndpointPlan(BaseModel):
    """How one endpoint's sample size was planned (STARD 18), recomputed at check and run."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )

    endpoint: str = Field(
        description="Id of the endpoint this plan sizes (a sensitivity, specificity or AUC "
        "endpoint of `endpoints`)."
    )
    method: Literal["precision", "goal", "auc", "paired_auc", "paired_proportions", "mrmc"] = Field(
        description="`precision`: CI half-width (Buderer 1996); `goal`: lower bound clears "
        "the goal with the power; `auc`: one AUC against a null (Obuchowski); `paired_auc`: "
        "the AUC against the baseline's on the same cases (Obuchowski & McClish 1997); "
        "`paired_proportions`: sensitivity or specificity against the baseline's (Connor "
        "1987, Nam 1997 with a margin); `mrmc`: the reader study's cases for a number of "
        "readers, from pilot Obuchowski-Rockette variance components (Hillis, Obuchowski & "
        "Berbaum 2011)."
    )
    expected: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Anticipated value of the endpoint's metric (of the model under test); "
        "required by every method but `mrmc`.",
    )
    effect: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`mrmc`: difference in reader-averaged figure of merit (test minus "
        "reference modality) the study must detect, by a two-sided test at `confidence_level`. "
        "For a non-inferiority hypothesis, give the expected difference plus the margin and "
        "`confidence_level` 1 - 2 x its one-sided level.",
    )
    readers: int | None = Field(
        default=None, ge=2, le=1000, description="`mrmc`: the number of readers planned."
    )
    variance_components: dict[str, float] | None = Field(
        default=None,
        description="`mrmc`: the pilot's Obuchowski-Rockette variance components `var_tr`, "
        "`var_error`, `cov1`, `cov2`, `cov3` (e.g. from `radval mrmc PILOT --json`).",
    )
    pilot_cases: int | None = Field(
        default=None,
        ge=2,
        description="`mrmc`: the number of cases of the pilot the components come from.",
    )
    half_width: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`precision`: the largest acceptable CI half-width.",
    )
    goal: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`goal`: the performance goal (default: the endpoint's `accept.value`).",
    )
    power: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="Target power (default 0.8; not for `precision`)."
    )
    confidence_level: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`precision`, `goal`: two-sided CI level (default: the endpoint's); "
        "`mrmc`: 1 - the two-sided test's level (default: the reader study's).",
    )
    calculation: Literal["exact", "normal"] | None = Field(
        default=None,
        description="`goal`: `exact` binomial search over `interval` (default), or the "
        "`normal` formula.",
    )
    interval: Interval | None = Field(
        default=None,
        description="`goal` (exact): the CI method searched (default: the endpoint's CI "
        "method when it is one of these, else `clopper_pearson`).",
    )
    null_value: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`auc`: AUC under the null (default: the endpoint's `test.null_value`, "
        "else 0.5).",
    )
    comparator: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`paired_*`: anticipated value of the baseline's metric.",
    )
    correlation: float | None = Field(
        default=None,
        gt=-1.0,
        lt=1.0,
        description="`paired_auc`: correlation of the two models' scores in positives; "
        "`paired_proportions`: correlation of their binary results (or give `discordance`).",
    )
    correlation_negative: float | None = Field(
        default=None,
        gt=-1.0,
        lt=1.0,
        description="`paired_auc`: correlation in negatives (default: `correlation`).",
    )
    discordance: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`paired_proportions`: probability the two models disagree on a case.",
    )
    margin: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="`paired_*`: non-inferiority margin (default: the endpoint's `test.margin`).",
    )
    ratio: float | None = Field(
        default=None,
        gt=0.0,
        description="`auc`, `paired_auc`: negatives per positive (default: from `prevalence`, "
        "else 1).",
    )
    significance_level: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="`auc`, `paired_*`: significance level (default: the endpoint's test's, "
        "one-sided; else 0.05 two-sided).",
    )
    alternative: Literal["two-sided", "greater"] | None = Field(
        default=None,
        description="`auc`, `paired_*`: `greater` (one-sided, default with an endpoint test) "
        "or `two-sided`.",
    )
    prevalence: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Anticipated prevalence in the test set: also gives the total cases "
        "(and the default `ratio`).",
    )
    icc: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="Design effect: intra-class correlation within a patient (with "
        "`mean_cluster_size`).",
    )
    mean_cluster_size: float | None = Field(
        default=None,
        ge=1.0,
        description="Design effect: mean cases per patient (with `icc`).",
    )
    note: str | None = Field(
        default=None, description="Free-text rationale for the inputs (shown in the report)."
    )

    @model_validator(mode="after")
    def _inputs(self) -> EndpointPlan:
        reads = METHOD_INPUTS[self.method]
        missing = [k for k in METHOD_REQUIRED[self.method] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"method {self.method!r} needs {', '.join(missing)}")
        extra = sorted(
            {k for keys in METHOD_INPUTS.values() for k in keys}.difference(reads).intersection(
                k for k in type(self).model_fields if getattr(self, k) is not None
            )
        )
        if extra:
            raise ValueError(
                f"method {self.method!r} does not use {', '.join(extra)}; it reads "
                f"{', '.join(reads)}"
            )
        if (self.icc is None) != (self.mean_cluster_size is None):
            raise ValueError("a design effect needs both icc and mean_cluster_size")
        if self.method == "mrmc" and self.icc is not None:
            raise ValueError(
                "method 'mrmc' takes no design effect: the variance components already hold "
                "the case variability"
            )
        vc = self.variance_components
        if vc is not None and sorted(vc) != sorted(OR_COMPONENTS):
            raise ValueError(
                f"variance_components needs exactly {', '.join(OR_COMPONENTS)}; found "
                f"{', '.join(sorted(vc)) or 'none'}"
            )
        if self.method == "paired_proportions" and (self.correlation is None) == (
            self.discordance is None
        ):
            raise ValueError("method 'paired_proportions' needs correlation or discordance (one)")
        return self

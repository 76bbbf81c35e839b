"""The study protocol: a versioned, strictly validated statistical analysis plan.

A protocol is YAML read with ``yaml.safe_load`` (never evaluated as code) and validated
by the pydantic models below, which reject unknown keys everywhere (``extra="forbid"``).
Acceptance criteria are *data* and act on a confidence bound or a hypothesis test,
never on a bare point estimate (``DESIGN.md`` §4). Metric names resolve through the
metric registry :func:`validation.stats.registry.get_metric`, which also declares each
metric's kind, direction and valid CI methods.

Traceability to ``REGULATORY.md``: ``study`` (R1, R26), ``test_set`` (R4, R6, R15),
``endpoints`` with ``role``/``prespecified``/criteria (R2, R7, R8, R14), ``subgroups``
(R11, R12), ``reader_study`` (R13), ``multiplicity`` (R2), ``seed`` (R23),
``report.signatories`` (R21).

Example
-------
>>> from validation.protocol.schema import parse_protocol
>>> p = parse_protocol({
...     "version": 1,
...     "study": {"id": "demo", "title": "Demo", "version": "1.0",
...               "intended_use": "triage", "population": "adults"},
...     "test_set": {"manifest": "m.csv", "label_column": "label"},
...     "model": {"scores": "s.parquet", "threshold": 0.5},
...     "endpoints": [{"id": "sens", "role": "primary", "metric": "sensitivity",
...                    "accept": {"bound": "ci_low", "op": ">=", "value": 0.8}}],
... })  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from validation.protocol.planning import EndpointPlan
from validation.stats.registry import MetricSpec, get_metric

PROTOCOL_FORMAT_VERSION = 1
"""The protocol format this radval reads (the top-level ``version`` key)."""

_ID = r"^[A-Za-z][A-Za-z0-9_.\-]*$"
_SHA256 = r"^[0-9a-f]{64}$"

Id = Annotated[str, Field(pattern=_ID, max_length=80)]
Sha256 = Annotated[str, Field(pattern=_SHA256)]
Level = Annotated[float, Field(gt=0.0, lt=1.0)]


class _Strict(BaseModel):
    # allow_inf_nan=False: a NaN or infinite value (YAML .nan, .inf, 1e999) is never a valid
    # acceptance value, threshold, margin or band edge.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


#: The columns radval reads from each external table, and which of them a ``columns``
#: mapping may rename (``{radval name: the name in your file}``).
SCORES_COLUMNS = ("case_id", "score")
MARKS_COLUMNS = ("case_id", "score", "x0", "y0", "x1", "y1", "z0", "z1", "x", "y", "z")
LESIONS_COLUMNS = (
    "case_id",
    "lesion_id",
    "x0",
    "y0",
    "x1",
    "y1",
    "z0",
    "z1",
    "x",
    "y",
    "z",
    "radius",
    "weight",
    "ignore",
)
PREDICTIONS_COLUMNS = ("case_id", "mask_path")
READINGS_COLUMNS = ("reader", "modality", "case", "truth", "score")


def _columns_doc(what: str, names: tuple[str, ...], example: str) -> str:
    keys = ", ".join(f"`{n}`" for n in names)
    return (
        f"Column names of {what} when they differ from radval's, as `{{radval name: your "
        f"column}}`, e.g. `{example}`; keys from {keys}. Your file is used as it is; columns not "
        "mapped keep their names."
    )


def check_column_map(
    mapping: dict[str, str] | None, allowed: tuple[str, ...]
) -> dict[str, str] | None:
    """Validate a ``columns`` mapping: known radval names, each file column used once."""
    if mapping is None:
        return None
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise ValueError(f"unknown column key(s) {unknown}; expected keys from {list(allowed)}")
    blank = [k for k, v in mapping.items() if not v.strip()]
    if blank:
        raise ValueError(
            f"column name(s) for {blank} are empty; expected the name of a column in your file"
        )
    values = list(mapping.values())
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"each file column can be mapped once; {twice} mapped more than once")
    return mapping


# --------------------------------------------------------------------------- study (R1)


class Study(_Strict):
    """Study metadata and the intended-use declaration (R1, R26)."""

    id: Id = Field(description="Short identifier of the study, e.g. `cxr-triage-2026`.")
    title: str = Field(min_length=1, description="Human-readable title.")
    version: str = Field(min_length=1, description="Version of this protocol document, e.g. `1.0`.")
    sponsor: str | None = Field(default=None, description="Manufacturer or sponsor.")
    intended_use: str = Field(min_length=1, description="Intended use statement (R1).")
    population: str = Field(min_length=1, description="Target population and setting (R1).")
    intended_users: str | None = Field(default=None, description="Intended users (R1).")
    device_inputs: str | None = Field(default=None, description="Device inputs (R1).")
    device_outputs: str | None = Field(default=None, description="Device outputs (R1).")
    reference_standard: str | None = Field(
        default=None, description="How truth was established: method, truthers, adjudication (R6)."
    )
    sample_size_justification: str | None = Field(
        default=None, description="Intended sample size and its justification (R3)."
    )
    description: str | None = Field(default=None, description="Free-text background.")


# --------------------------------------------------------------------------- inputs


class Exclusion(_Strict):
    """A pre-specified exclusion rule on the manifest, e.g. lateral views or poor image quality."""

    column: str = Field(description="Manifest column the rule reads.")
    values: list[str | int | float | bool] = Field(
        min_length=1,
        description=(
            "Rows whose value in `column` equals one of these (as text, or numerically) are "
            "excluded."
        ),
    )
    reason: str = Field(min_length=1, description="The reason shown in the STARD flow diagram.")


TRUTHING_COLUMNS = ("case_id", "truther", "label")
AgreementStatistic = Literal[
    "percent_agreement", "cohen_kappa", "fleiss_kappa", "gwet_ac1", "krippendorff_alpha"
]
AGREEMENT_STATISTICS: tuple[str, ...] = get_args(AgreementStatistic)
_DEFAULT_AGREEMENT: tuple[AgreementStatistic, ...] = (
    "percent_agreement",
    "fleiss_kappa",
    "gwet_ac1",
)


class Truthing(_Strict):
    """How the reference standard was established: the truthers' reads and a declared rule (R6)."""

    file: str = Field(
        description=(
            "Truthing file (CSV/Parquet), relative to the protocol file: one row per read, "
            "columns `case_id, truther, label` (rename them with `columns`)."
        )
    )
    sha256: Sha256 | None = Field(default=None, description="Expected sha256 of `file`.")
    columns: dict[str, str] | None = Field(
        default=None,
        description=_columns_doc(
            "the truthing file", TRUTHING_COLUMNS, "{case_id: accession, truther: reader_id}"
        ),
    )
    rule: Literal["majority", "consensus_with_adjudicator", "any_positive", "all_positive"] = Field(
        description=(
            "Adjudication rule: `majority` (more than half of the truthers' reads), "
            "`consensus_with_adjudicator` (every disagreement goes to the adjudicator), "
            "`any_positive` / `all_positive` (binary reads)."
        )
    )
    adjudicator: str | None = Field(
        default=None,
        description=(
            "The truther id whose reads settle disagreements; its reads are left out of the "
            "agreement statistics. Required by `consensus_with_adjudicator` and "
            "`on_tie: adjudicator`."
        ),
    )
    on_tie: Literal["error", "adjudicator", "unresolved"] | None = Field(
        default=None,
        description=(
            "`majority` rule: where a case without a strict majority goes (default `error`)."
        ),
    )
    positive: str | int = Field(
        default=1,
        description="The read label that means positive (reference label 1); any other is 0.",
    )
    categories: list[str | int] | None = Field(
        default=None,
        min_length=2,
        description=(
            "The reading scale in order (e.g. BI-RADS 1-5); every read must be one of them. "
            "Needed for ordinal Krippendorff's alpha on non-numeric labels."
        ),
    )
    use: Literal["check", "derive"] = Field(
        default="check",
        description=(
            "`check`: compare the adjudicated reference with the manifest's `label_column` and "
            "report every discordant case; `derive`: the adjudicated reference becomes the "
            "label (the manifest column may be absent) and unresolved cases are excluded in "
            "the STARD flow."
        ),
    )
    statistics: list[AgreementStatistic] = Field(
        default_factory=lambda: list(_DEFAULT_AGREEMENT),
        min_length=1,
        description=(
            "Inter-truther agreement statistics (adjudicator excluded), each with its CI: "
            "`percent_agreement` (unanimous, Wilson), `cohen_kappa` (exactly two truthers), "
            "`fleiss_kappa`, `gwet_ac1`, `krippendorff_alpha` (bootstrap over cases)."
        ),
    )
    alpha_level: Literal["nominal", "ordinal", "interval", "ratio"] = Field(
        default="nominal", description="Measurement level of Krippendorff's alpha."
    )
    confidence_level: Level = Field(default=0.95, description="Level of the agreement CIs.")

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return check_column_map(v, TRUTHING_COLUMNS)

    @model_validator(mode="after")
    def _rule(self) -> Truthing:
        if self.rule == "consensus_with_adjudicator" and self.adjudicator is None:
            raise ValueError("rule consensus_with_adjudicator needs `adjudicator` (a truther id)")
        if self.on_tie is not None and self.rule != "majority":
            raise ValueError("`on_tie` is only used with rule: majority")
        if self.on_tie == "adjudicator" and self.adjudicator is None:
            raise ValueError("on_tie: adjudicator needs `adjudicator` (a truther id)")
        if self.categories is not None and str(self.positive) not in map(str, self.categories):
            raise ValueError(
                f"`positive` ({self.positive!r}) must be one of `categories` {self.categories}"
            )
        if len(set(self.statistics)) != len(self.statistics):
            raise ValueError(f"`statistics` lists a statistic twice: {self.statistics}")
        return self


class TestSet(_Strict):
    """The locked test set: a manifest (``DESIGN.md`` §3) and its reference-standard column."""

    __test__ = False  # not a pytest class

    manifest: str = Field(description="Manifest path (CSV/Parquet), relative to the protocol file.")
    sha256: Sha256 | None = Field(
        default=None, description="Expected sha256 of the manifest; checked before every run."
    )
    label_column: str = Field(default="label", description="Reference-standard column (0/1).")
    cluster_column: str | None = Field(
        default="patient_id",
        description="Cluster unit for cluster-aware intervals (`null` for none).",
    )
    missing_outputs: Literal["error", "worst_case", "exclude"] = Field(
        default="error",
        description=(
            "What to do with a case that has no model output (R15): `error` stops the study; "
            "`worst_case` counts it as misclassified (positives scored lowest, negatives highest) "
            "and lists it under `failures` and as imputed in the STARD flow; `exclude` drops it "
            "from the analysis (a complete-case analysis, which can flatter the model) and counts "
            "it under the flow's exclusions. Either way the case and its reason are listed."
        ),
    )
    exclusions: list[Exclusion] = Field(
        default_factory=list,
        description=(
            "Pre-specified eligibility exclusions applied to manifest rows before the analysis "
            "(STARD item 19): each row whose `column` value is one of `values` is excluded and "
            "counted under its `reason` in the flow diagram."
        ),
    )
    truthing: Truthing | None = Field(
        default=None,
        description=(
            "The truthers' reads behind the reference standard, the adjudication rule and the "
            "agreement statistics to report (R6; STARD items 10-13)."
        ),
    )


class ModelRef(_Strict):
    """A model: a scores file, or a model spec + checkpoint to run inference with."""

    name: str | None = Field(default=None, description="Model name and version.")
    scores: str | None = Field(
        default=None, description="Scores file (`case_id, score`), relative to the protocol file."
    )
    scores_sha256: Sha256 | None = Field(default=None, description="Expected sha256 of `scores`.")
    spec: str | None = Field(default=None, description="Model spec YAML (used when no `scores`).")
    checkpoint: str | None = Field(default=None, description="Checkpoint (used with `spec`).")
    checkpoint_sha256: Sha256 | None = Field(
        default=None, description="Expected checkpoint sha256."
    )
    card: str | None = Field(
        default=None,
        description=(
            "Model card JSON written by `radval train` (`model_card.json`), relative to the "
            "protocol file; hashed into `inputs` and copied into `results.json` "
            "(`model.model_card`)."
        ),
    )
    card_sha256: Sha256 | None = Field(default=None, description="Expected sha256 of `card`.")
    threshold: float | None = Field(
        default=None,
        description=(
            "Locked operating threshold: a case is positive when score >= threshold. Leave it out "
            "to take the threshold the model card (`card`) records (chosen by `radval train`); "
            "when both are given they must be equal, or `radval protocol check` reports it."
        ),
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description=_columns_doc(
            "the scores file", SCORES_COLUMNS, "{case_id: StudyInstanceUID, score: prob_abnormal}"
        ),
    )

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str] | None, info: ValidationInfo) -> dict[str, str] | None:
        if v and info.data.get("scores") is None:
            raise ValueError(
                "`columns` maps the columns of a `scores` file; scores produced by inference "
                "from `spec` + `checkpoint` already use radval's names"
            )
        return check_column_map(v, SCORES_COLUMNS)

    @model_validator(mode="after")
    def _source(self) -> ModelRef:
        if self.scores is None and (self.spec is None or self.checkpoint is None):
            raise ValueError("give either `scores` or both `spec` and `checkpoint`")
        if self.scores is not None and (self.spec is not None or self.checkpoint is not None):
            raise ValueError("give either `scores` or `spec` + `checkpoint`, not both")
        return self


# --------------------------------------------------------------------------- endpoints


class CISpec(_Strict):
    """Confidence-interval settings of an endpoint."""

    method: str | None = Field(
        default=None,
        description="CI method; must be one the metric registry allows. Default: the metric's.",
    )
    confidence_level: Level = Field(default=0.95, description="Two-sided confidence level.")


class Accept(_Strict):
    """Acceptance criterion on a confidence bound, e.g. `ci_low >= 0.80`."""

    bound: Literal["ci_low", "ci_high"] = Field(description="Which confidence bound is compared.")
    op: Literal[">=", ">", "<=", "<"] = Field(description="Comparison operator.")
    value: float = Field(description="The performance goal the bound is compared with.")


class HypothesisTest(_Strict):
    """A hypothesis test that decides an endpoint.

    Without ``compare_to`` the test is one-sample against ``null_value``; with
    ``compare_to: baseline`` it is paired against the baseline model on the same cases.
    """

    kind: Literal["superiority", "non-inferiority"] = Field(
        description=(
            "`superiority`: H1 metric > null (or > baseline); `non-inferiority`: H1 metric > null "
            "- margin (or > baseline - margin)."
        )
    )
    margin: float = Field(default=0.0, ge=0.0, description="Non-inferiority margin (>= 0).")
    null_value: float | None = Field(
        default=None, description="Null value of a one-sample test (required without `compare_to`)."
    )
    method: str | None = Field(
        default=None,
        description=(
            "Test method: `delong` or `bootstrap` for AUC comparisons; `mcnemar`/`wald`/`tango` "
            "etc. for paired proportions; default per metric."
        ),
    )
    significance_level: Level = Field(
        default=0.025, description="One-sided significance level of the test."
    )

    @model_validator(mode="after")
    def _kind(self) -> HypothesisTest:
        if self.kind == "superiority" and self.margin != 0.0:
            raise ValueError("a superiority test has no margin; use kind: non-inferiority")
        return self


class Endpoint(_Strict):
    """One endpoint: a metric with its CI and, for decided endpoints, a criterion."""

    id: Id = Field(description="Unique endpoint id; keys the endpoint's random stream.")
    role: Literal["primary", "secondary", "exploratory"] = Field(description="Endpoint role (R2).")
    prespecified: bool = Field(default=True, description="Pre-specified (True) or post hoc (R2).")
    metric: str = Field(description="Metric name in the registry (e.g. `sensitivity`, `auc`).")
    description: str | None = Field(default=None, description="Free text.")
    ci: CISpec = Field(default_factory=CISpec, description="Confidence interval settings.")
    threshold: float | None = Field(
        default=None, description="Operating threshold for this endpoint (default: the model's)."
    )
    compare_to: Literal["baseline"] | None = Field(
        default=None, description="Compare paired against the baseline model on the same cases."
    )
    accept: Accept | None = Field(default=None, description="Acceptance criterion on a bound.")
    test: HypothesisTest | None = Field(default=None, description="Hypothesis test.")
    on_undefined: Literal["not_estimable", "error"] = Field(
        default="not_estimable",
        description=(
            "If the metric is undefined on the data: record `not_estimable` (a primary then fails) "
            "or stop the study."
        ),
    )

    @model_validator(mode="after")
    def _criteria(self) -> Endpoint:
        if self.role == "primary" and self.accept is None and self.test is None:
            raise ValueError(
                "a primary endpoint needs an acceptance criterion (`accept` or `test`)"
            )
        if self.role == "exploratory" and (self.accept is not None or self.test is not None):
            raise ValueError("an exploratory endpoint takes no acceptance criterion")
        if self.test is not None and self.compare_to is None and self.test.null_value is None:
            raise ValueError(
                "a one-sample `test` needs `null_value` (or set `compare_to: baseline`)"
            )
        if self.compare_to is not None and self.accept is not None and self.test is None:
            raise ValueError(
                "a comparison endpoint is decided by `test` (superiority or non-inferiority), not "
                "`accept`"
            )
        return self


# --------------------------------------------------------------------------- subgroups


class SubgroupAttribute(_Strict):
    """A manifest column to stratify by; numeric columns may be cut into bands."""

    column: str = Field(description="Manifest column.")
    name: str | None = Field(default=None, description="Name in the results (default: the column).")
    bands: list[float] | None = Field(
        default=None,
        min_length=2,
        description=(
            "Band edges for a numeric column, right-open [a, b) with labels '40-64' for "
            "integer edges (validation.stats.age_bands); a value outside the edges is the "
            "group 'out_of_bands'; e.g. [0, 40, 65, 150]."
        ),
    )
    prespecified: bool = Field(default=True, description="Pre-specified (True) or exploratory.")

    @field_validator("bands")
    @classmethod
    def _increasing(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"bands must be strictly increasing, got {v}")
        return v

    @property
    def label(self) -> str:
        """Name the attribute carries in the results."""
        return self.name or self.column


class Guardrails(_Strict):
    """Small-group guardrails: cells below these counts are reported but not estimated."""

    min_n: int = Field(default=20, ge=1, description="Minimum cases in a cell.")
    min_positives: int = Field(
        default=10,
        ge=0,
        description="Minimum positive cases in a cell (metrics that use positives).",
    )
    min_negatives: int = Field(
        default=10,
        ge=0,
        description="Minimum negative cases in a cell (metrics that use negatives).",
    )
    max_disparity: float | None = Field(
        default=None,
        ge=0.0,
        description="List every group whose metric differs from its reference by more than this.",
    )


class SubgroupCI(_Strict):
    """CI settings of the subgroup table: one method, and/or one per metric.

    Written either as ``{method: wilson, confidence_level: 0.95}`` (the method applies to
    every listed metric it is valid for; the others keep their default) or per metric as
    ``{sensitivity: wilson, auc: delong}`` (keys that are not ``method``,
    ``confidence_level`` or ``methods`` are metric names), or both.
    """

    # metric-name keys are allowed (moved into ``methods`` before validation)
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"additionalProperties": {"type": "string"}}
    )

    method: str | None = Field(
        default=None,
        description="CI method for every metric it is valid for (the registry knows which); "
        "other metrics keep their default. Default: `bootstrap` over patients when the test set "
        "has patient IDs, else the metric's own default.",
    )
    methods: dict[str, str] = Field(
        default_factory=dict,
        description="CI method per metric, e.g. `{sensitivity: wilson, auc: delong}`; may also be "
        "written directly under `ci` (`ci: {sensitivity: wilson}`). Overrides `method`.",
    )
    confidence_level: Level = Field(default=0.95, description="Two-sided confidence level.")

    @model_validator(mode="before")
    @classmethod
    def _metric_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = {"method", "methods", "confidence_level"}
            extra = {k: v for k, v in data.items() if k not in known}
            if extra:
                data = {k: v for k, v in data.items() if k in known}
                methods = dict(data.get("methods") or {})
                for k, v in extra.items():
                    if k in methods and methods[k] != v:
                        raise ValueError(
                            f"CI method for metric {k!r} given twice: {methods[k]!r} and {v!r}"
                        )
                    methods[str(k)] = v
                data["methods"] = methods
        return data

    def method_for(self, metric: str, valid: tuple[str, ...]) -> str | None:
        """The declared method for ``metric`` (None: the default rule decides)."""
        if metric in self.methods:
            return self.methods[metric]
        if self.method is not None and self.method in valid:
            return self.method
        return None


class Subgroups(_Strict):
    """Subgroup analysis (R11, R12)."""

    metrics: list[str] = Field(min_length=1, description="Registry metric names per cell.")
    attributes: list[SubgroupAttribute] = Field(min_length=1, description="Stratifying attributes.")
    intersections: list[list[str]] = Field(
        default_factory=list,
        description="Attribute-name pairs/tuples to cross, e.g. [[sex, age_band]].",
    )
    ci: SubgroupCI = Field(
        default_factory=SubgroupCI,
        description=(
            "CI settings of the cells: `{method: wilson}` applies to the metrics it is valid "
            "for; `{sensitivity: wilson, auc: delong}` sets one per metric."
        ),
    )
    guardrails: Guardrails = Field(default_factory=Guardrails, description="Small-group rules.")
    multiplicity: Literal["holm", "fdr_bh", "bonferroni", "hochberg", "none"] = Field(
        default="holm",
        description="Adjustment of the subgroup disparity and heterogeneity p-values.",
    )

    @model_validator(mode="after")
    def _names(self) -> Subgroups:
        labels = [a.label for a in self.attributes]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"subgroup attribute names must be unique, repeated: {dup}")
        for combo in self.intersections:
            if len(combo) < 2:
                raise ValueError(f"an intersection needs at least two attributes, got {combo}")
            unknown = [c for c in combo if c not in labels]
            if unknown:
                raise ValueError(
                    f"intersection {combo} names unknown attributes {unknown}; known: {labels}"
                )
        return self


# --------------------------------------------------------------------------- reader study


class ReaderComparison(_Strict):
    """The reader-study hypothesis: test modality vs reference modality."""

    kind: Literal["superiority", "non-inferiority"] = Field(description="Hypothesis kind.")
    margin: float = Field(default=0.0, ge=0.0, description="Non-inferiority margin on the FOM.")
    significance_level: Level = Field(default=0.025, description="One-sided significance level.")


class ReaderStudy(_Strict):
    """An MRMC reader study (R13)."""

    id: Id = Field(
        default="reader_study", description="Endpoint id of the reader-study hypothesis."
    )
    role: Literal["primary", "secondary", "exploratory"] = Field(default="primary")
    readings: str = Field(description="Readings file (`reader, modality, case, truth, score`).")
    sha256: Sha256 | None = Field(default=None, description="Expected sha256 of the readings file.")
    columns: dict[str, str] | None = Field(
        default=None,
        description=_columns_doc(
            "a tidy readings table (CSV or Parquet)",
            READINGS_COLUMNS,
            "{reader: ReaderID, modality: arm, case: StudyInstanceUID, truth: label, score: "
            "rating}",
        ),
    )
    design: (
        Literal["fully_crossed", "split_plot", "cases_in_modalities", "partially_paired"] | None
    ) = Field(
        default=None, description="Study design; checked against the readings (default: detected)."
    )
    fom: Literal["auc", "sensitivity", "specificity"] = Field(
        default="auc",
        description="Figure of merit: empirical AUC, or sensitivity/specificity at `threshold`.",
    )
    threshold: float | None = Field(
        default=None,
        description="Reading threshold for the sensitivity/specificity FOMs (score >= threshold).",
    )
    method: Literal["or", "dbm"] = Field(
        default="or", description="Obuchowski-Rockette or Dorfman-Berbaum-Metz."
    )
    covariance: Literal["jackknife", "delong", "unbiased", "bootstrap"] = Field(
        default="jackknife", description="OR covariance estimator (DBM always uses the jackknife)."
    )
    analysis: Literal["RRRC", "FRRC", "RRFC"] = Field(
        default="RRRC",
        description="Which analysis decides the hypothesis (random readers and cases by default).",
    )
    test_modality: str = Field(default="aided", description="Modality under test.")
    reference_modality: str = Field(default="unaided", description="Comparator modality.")
    confidence_level: Level = Field(default=0.95)
    hypothesis: ReaderComparison | None = Field(
        default=None, description="Decides the reader study endpoint; required unless exploratory."
    )
    ai_reader: str | None = Field(
        default=None,
        description="Reader id of the standalone AI in the readings, for AI vs readers.",
    )
    ai_modality: str | None = Field(
        default=None,
        description="Reader modality the AI is compared with (default: reference_modality).",
    )

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return check_column_map(v, READINGS_COLUMNS)

    @model_validator(mode="after")
    def _hyp(self) -> ReaderStudy:
        if self.role != "exploratory" and self.hypothesis is None:
            raise ValueError(f"a {self.role} reader study needs `hypothesis`")
        if self.test_modality == self.reference_modality:
            raise ValueError("test_modality and reference_modality must differ")
        if self.fom != "auc" and self.threshold is None:
            raise ValueError(f"fom {self.fom!r} needs `threshold`")
        if self.method == "dbm" and self.covariance != "jackknife":
            raise ValueError("method dbm uses jackknife pseudovalues; set covariance: jackknife")
        return self


# --------------------------------------------------------------------------- detection


class MatchingRuleSpec(_Strict):
    """The mark-to-lesion scoring rule (R9), declared before unblinding."""

    criterion: Literal["iou", "center_in_box", "center_distance"] = Field(
        description=(
            "When a mark hits a lesion: box IoU >= iou_threshold, mark centre inside the lesion "
            "box, or centre distance < max_distance (or < the lesion radius)."
        )
    )
    iou_threshold: float | None = Field(default=None, gt=0.0, le=1.0, description="For `iou`.")
    max_distance: float | None = Field(default=None, gt=0.0, description="For `center_distance`.")
    assignment: Literal["greedy", "hungarian"] = Field(
        default="greedy", description="One-to-one assignment of marks to lesions."
    )
    double_detections: Literal["fp", "ignore"] = Field(
        default="fp",
        description=(
            "A second mark on a taken lesion: a false positive (JAFROC) or ignored (CAMELYON16)."
        ),
    )

    @model_validator(mode="after")
    def _rule(self) -> MatchingRuleSpec:
        if self.criterion == "iou" and self.iou_threshold is None:
            raise ValueError("criterion iou needs iou_threshold")
        if self.criterion != "iou" and self.iou_threshold is not None:
            raise ValueError(f"iou_threshold is only used with criterion iou, not {self.criterion}")
        if self.criterion != "center_distance" and self.max_distance is not None:
            raise ValueError(
                f"max_distance is only used with criterion center_distance, not {self.criterion}"
            )
        return self


class DetectionEndpoint(_Strict):
    """A lesion-level endpoint of the detection analysis."""

    id: Id = Field(description="Unique endpoint id.")
    role: Literal["primary", "secondary", "exploratory"] = Field(description="Endpoint role (R2).")
    prespecified: bool = Field(default=True)
    metric: Literal["sensitivity", "fp_per_image", "cpm", "camelyon16", "afroc", "wafroc"] = Field(
        description=(
            "Lesion sensitivity or FPs per image at the threshold, LUNA16 CPM, CAMELYON16 score, "
            "(w)AFROC FOM."
        )
    )
    accept: Accept | None = Field(default=None, description="Acceptance criterion on a bound.")

    @model_validator(mode="after")
    def _criteria(self) -> DetectionEndpoint:
        if self.role == "primary" and self.accept is None:
            raise ValueError("a primary endpoint needs an acceptance criterion (`accept`)")
        if self.role == "exploratory" and self.accept is not None:
            raise ValueError("an exploratory endpoint takes no acceptance criterion")
        return self


class DicomSR(_Strict):
    """Marks / lesions from DICOM SR (TID 1500 planar ROI measurement groups).

    Used when the marks or lesions table lists SR files (`case_id, sr_path`, paths relative
    to the table's folder) instead of one row per mark.
    """

    findings: list[str] = Field(
        default_factory=list,
        description=(
            "Finding type codes (`SCHEME:VALUE`, e.g. `SCT:27925004`) or code meanings to "
            "read; empty reads every planar ROI group."
        ),
    )
    score: str | None = Field(
        default=None,
        description=(
            "Concept name (code `SCHEME:VALUE` or meaning) of the numeric measurement or "
            "qualitative evaluation that holds each mark's score (required for SR marks)."
        ),
    )
    score_codes: dict[str, float] | None = Field(
        default=None,
        description="Score of each qualitative evaluation value (code or meaning).",
    )


class Detection(_Strict):
    """Lesion detection with localisation (R9): marks matched to lesion truth, FROC."""

    marks: str = Field(
        description="Marks file (`case_id, x0, y0, x1, y1, score`), relative to the protocol."
    )
    marks_sha256: Sha256 | None = Field(default=None, description="Expected sha256 of `marks`.")
    lesions: str = Field(
        description="Lesion truth (`case_id, lesion_id, x0, y0, x1, y1` or centre + radius)."
    )
    lesions_sha256: Sha256 | None = Field(default=None, description="Expected sha256 of `lesions`.")
    marks_columns: dict[str, str] | None = Field(
        default=None,
        description=_columns_doc(
            "the marks file", MARKS_COLUMNS, "{case_id: StudyInstanceUID, score: confidence}"
        ),
    )
    lesions_columns: dict[str, str] | None = Field(
        default=None,
        description=_columns_doc(
            "the lesion truth file",
            LESIONS_COLUMNS,
            "{case_id: StudyInstanceUID, lesion_id: nodule}",
        ),
    )
    dicom_sr: DicomSR | None = Field(
        default=None,
        description=(
            "How to read marks/lesions tables that list DICOM SR files (`case_id, sr_path`)."
        ),
    )
    rule: MatchingRuleSpec = Field(description="Mark-to-lesion scoring rule.")
    threshold: float = Field(
        description="Locked mark threshold: marks with score >= threshold count."
    )
    confidence_level: Level = Field(default=0.95)
    endpoints: list[DetectionEndpoint] = Field(min_length=1)

    @field_validator("marks_columns")
    @classmethod
    def _marks_columns(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return check_column_map(v, MARKS_COLUMNS)

    @field_validator("lesions_columns")
    @classmethod
    def _lesions_columns(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return check_column_map(v, LESIONS_COLUMNS)


# --------------------------------------------------------------------------- segmentation


class EmptyPolicySpec(_Strict):
    """How a case with an empty mask counts (R10; Metrics Reloaded): declared, never silent."""

    both_empty: Literal["best", "worst", "exclude", "error"] = Field(
        description=(
            "Reference and prediction both empty: `best` (Dice 1, distance 0), `worst`, `exclude` "
            "(counted) or `error`."
        )
    )
    reference_empty: Literal["worst", "exclude", "error"] = Field(
        description="Reference empty, prediction not."
    )
    prediction_empty: Literal["worst", "exclude", "error"] = Field(
        description="Prediction empty, reference not."
    )
    worst_distance_mm: float | None = Field(
        default=None, gt=0.0, description="Distance given by `worst` (default: the image diagonal)."
    )


class SegmentationEndpoint(_Strict):
    """A segmentation endpoint: the mean of a per-case metric with a clustered bootstrap CI."""

    id: Id = Field(description="Unique endpoint id.")
    role: Literal["primary", "secondary", "exploratory"] = Field(description="Endpoint role (R2).")
    prespecified: bool = Field(default=True)
    metric: Literal["dice", "iou", "hausdorff", "hd95", "assd", "masd", "nsd"] = Field(
        description="Per-case metric (distances in mm) averaged over valid cases."
    )
    accept: Accept | None = Field(default=None, description="Acceptance criterion on a bound.")

    @model_validator(mode="after")
    def _criteria(self) -> SegmentationEndpoint:
        if self.role == "primary" and self.accept is None:
            raise ValueError("a primary endpoint needs an acceptance criterion (`accept`)")
        if self.role == "exploratory" and self.accept is not None:
            raise ValueError("an exploratory endpoint takes no acceptance criterion")
        return self


class Segmentation(_Strict):
    """Segmentation overlap and boundary metrics (R10)."""

    predictions: str = Field(
        description=(
            "Predicted masks table (`case_id, mask_path`, paths relative to the table's "
            "folder); masks are NIfTI, `.npy` or DICOM SEG."
        )
    )
    predictions_sha256: Sha256 | None = Field(
        default=None, description="Expected sha256 of `predictions`."
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description=_columns_doc(
            "the predictions table",
            PREDICTIONS_COLUMNS,
            "{case_id: StudyInstanceUID, mask_path: seg_file}",
        ),
    )
    reference_column: str = Field(
        default="mask_path",
        description="Manifest column with each case's reference mask (relative to the manifest).",
    )
    spacing_mm: list[float] | None = Field(
        default=None,
        min_length=2,
        max_length=3,
        description=(
            "Voxel spacing for masks without a header (`.npy`); NIfTI masks carry their own."
        ),
    )
    segment: str | None = Field(
        default=None,
        description=(
            "DICOM SEG masks: the segment to use, by label, code `SCHEME:VALUE` (e.g. "
            "`SCT:52988006`), code meaning or number; may be omitted when every SEG has one "
            "segment."
        ),
    )
    fractional_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="FRACTIONAL DICOM SEG: a voxel is inside when its value is >= this.",
    )
    empty_policy: EmptyPolicySpec = Field(
        description="Empty-mask rule (required: no silent default)."
    )
    tolerance_mm: float | None = Field(
        default=None, gt=0.0, description="NSD tolerance (required for `nsd`)."
    )
    percentile: float = Field(default=95.0, gt=0.0, le=100.0, description="Percentile of `hd95`.")
    confidence_level: Level = Field(default=0.95)
    endpoints: list[SegmentationEndpoint] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return check_column_map(v, PREDICTIONS_COLUMNS)

    @model_validator(mode="after")
    def _nsd(self) -> Segmentation:
        if any(e.metric == "nsd" for e in self.endpoints) and self.tolerance_mm is None:
            raise ValueError("the nsd metric needs tolerance_mm")
        return self


# --------------------------------------------------------------------------- measurement

MEASUREMENTS_COLUMNS = ("case_id", "value")
MEASUREMENT_METRICS = ("bias", "loa_low", "loa_high", "ccc", "icc")


class MeasurementEndpoint(_Strict):
    """A measurement-agreement endpoint: bias, a limit of agreement, CCC or ICC with its CI."""

    id: Id = Field(description="Unique endpoint id.")
    role: Literal["primary", "secondary", "exploratory"] = Field(description="Endpoint role (R2).")
    prespecified: bool = Field(default=True)
    metric: Literal["bias", "loa_low", "loa_high", "ccc", "icc"] = Field(
        description=(
            "`bias` (mean of measured - reference), `loa_low` / `loa_high` (Bland-Altman limits "
            "of agreement), `ccc` (Lin's concordance correlation), `icc` (form `icc_form`)."
        )
    )
    accept: Accept | None = Field(
        default=None,
        description='Criterion on a bound, e.g. `{bound: ci_high, op: "<=", value: 15}`.',
    )

    @model_validator(mode="after")
    def _criteria(self) -> MeasurementEndpoint:
        if self.role == "primary" and self.accept is None:
            raise ValueError("a primary endpoint needs an acceptance criterion (`accept`)")
        if self.role == "exploratory" and self.accept is not None:
            raise ValueError("an exploratory endpoint takes no acceptance criterion")
        return self


class Measurement(_Strict):
    """A measuring device (volume, diameter, score) against a reference measurement (R7)."""

    measurements: str = Field(
        description="The device's measurements (`case_id, value`), relative to the protocol file."
    )
    measurements_sha256: Sha256 | None = Field(
        default=None, description="Expected sha256 of `measurements`."
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description=_columns_doc(
            "the measurements file", MEASUREMENTS_COLUMNS, "{case_id: accession, value: vol_ml}"
        ),
    )
    reference_column: str = Field(
        description="Manifest column with each case's reference measurement (blank: not measured)."
    )
    quantity: str = Field(default="measurement", description="What is measured, e.g. `volume`.")
    unit: str | None = Field(default=None, description="Unit shown in the report, e.g. `mL`.")
    log: bool = Field(
        default=False,
        description="Analyse log ratios (errors proportional to size; Bland & Altman 1999).",
    )
    loa_method: Literal["exact", "approximate"] = Field(
        default="exact",
        description=(
            "Interval of the limits of agreement: `exact` (Carkeet 2015) or `approximate` "
            "(Bland & Altman 1999). With several cases per patient (`cluster_column`) the "
            "repeated-measures limits of Bland & Altman 2007 with MOVER intervals are used."
        ),
    )
    icc_form: Literal["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"] = Field(
        default="ICC2", description="Shrout-Fleiss form of the `icc` metric (as R psych)."
    )
    confidence_level: Level = Field(default=0.95)
    subgroups: list[str] = Field(
        default_factory=list,
        description="Manifest columns to report every endpoint by (informational).",
    )
    endpoints: list[MeasurementEndpoint] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return check_column_map(v, MEASUREMENTS_COLUMNS)


# --------------------------------------------------------------------------- rest


class Multiplicity(_Strict):
    """How the family of primary hypotheses is controlled (R2)."""

    method: Literal["holm", "fixed-sequence", "none"] = Field(
        default="none",
        description=(
            "`none`: every primary must pass (intersection-union, no adjustment needed); "
            "`holm`: Holm step-down on the primaries' one-sided p-values; "
            "`fixed-sequence`: test in `order`, stop at the first failure."
        ),
    )
    significance_level: Level = Field(default=0.025, description="One-sided family-wise level.")
    order: list[str] | None = Field(
        default=None, description="Primary endpoint ids in testing order (fixed-sequence)."
    )


class Signatory(_Strict):
    """A role that signs the report (R21)."""

    role: str = Field(min_length=1, description="e.g. `Clinical lead`, `Biostatistician`.")
    required: bool = Field(default=True, description="Whether the sign-off needs this role.")
    meaning: Literal["authorship", "review", "approval", "responsibility"] | None = Field(
        default=None,
        description=(
            "The meaning this role's signature must carry (21 CFR 11.50(b)); any meaning if "
            "absent. `radval audit verify` lists required signatures missing from the current "
            "results."
        ),
    )


class GallerySettings(_Strict):
    """The report's failure-case gallery (R19): images of the model's errors. Off by default.

    The thumbnails are rendered from the test set's DICOM pixels, so the report and the
    study folder's ``gallery.json`` then hold images of patients: treat them as
    protected health information.
    """

    enabled: bool = Field(
        default=False,
        description=(
            "Render thumbnails of false negatives and false positives at the locked threshold "
            "into the report (per subgroup that is lower than the rest or flagged, then for "
            "all cases), of detection misses and false marks, and of the worst segmentations. "
            "The report then contains patient images: protected health information."
        ),
    )
    max_cases: int = Field(
        default=6,
        ge=1,
        le=50,
        description="Most cases shown per list (false negatives, false positives) per panel.",
    )
    max_subgroups: int = Field(
        default=6,
        ge=0,
        le=50,
        description=(
            "Most subgroup panels (pre-specified groups lower than the rest or flagged, "
            "largest gap first); 0 shows none."
        ),
    )
    all_cases: bool = Field(
        default=True, description="Also a panel of the errors over all analysed cases."
    )
    thumbnail_px: int = Field(
        default=256, ge=64, le=1024, description="Long side of each thumbnail, in pixels."
    )
    hide_unknown_burned_in: bool = Field(
        default=False,
        description=(
            "Also hide images whose header does not state BurnedInAnnotation (images with "
            "BurnedInAnnotation YES are never shown)."
        ),
    )


class ReportSettings(_Strict):
    """Report settings."""

    title: str | None = Field(default=None, description="Report title (default: the study title).")
    signatories: list[Signatory] = Field(default_factory=list, description="Signing roles (R21).")
    pdf: bool = Field(default=False, description="Also render a PDF.")
    gallery: GallerySettings = Field(
        default_factory=GallerySettings,
        description="Failure-case gallery (off by default: it puts patient images in the report).",
    )


class Protocol(_Strict):
    """A complete study protocol (format version 1)."""

    version: Literal[1] = Field(description="Protocol format version; this radval reads 1.")
    study: Study
    test_set: TestSet
    model: ModelRef | None = Field(
        default=None,
        description=(
            "The classification model (scores file or spec + checkpoint). Required for "
            "`endpoints`, `subgroups` and `baseline`; a detection-only or segmentation-only study "
            "leaves it out."
        ),
    )
    baseline: ModelRef | None = Field(default=None, description="Released model to compare with.")
    endpoints: list[Endpoint] = Field(default_factory=list)
    subgroups: Subgroups | None = None
    reader_study: ReaderStudy | None = None
    detection: Detection | None = None
    segmentation: Segmentation | None = None
    measurement: Measurement | None = Field(
        default=None,
        description="Agreement of a measuring device with a reference measurement.",
    )
    multiplicity: Multiplicity = Field(default_factory=Multiplicity)
    seed: int = Field(
        ge=0, lt=2**63, description="Master seed; each endpoint derives its own stream."
    )
    n_resamples: int = Field(
        default=2000,
        ge=50,
        le=100_000,
        description=(
            "Bootstrap resamples for every bootstrap interval, test and subgroup/calibration "
            "analysis."
        ),
    )
    report: ReportSettings = Field(default_factory=ReportSettings)
    planning: list[EndpointPlan] = Field(
        default_factory=list,
        description="How the sample size was planned, per endpoint (STARD 18): recomputed by "
        "`radval protocol check` and `radval run` (see `radval plan`).",
    )

    @model_validator(mode="after")
    def _cross(self) -> Protocol:
        ids = [e.id for e in self.endpoints]
        if self.reader_study is not None:
            ids.append(self.reader_study.id)
        if self.detection is not None:
            ids += [e.id for e in self.detection.endpoints]
        if self.segmentation is not None:
            ids += [e.id for e in self.segmentation.endpoints]
        if self.measurement is not None:
            ids += [e.id for e in self.measurement.endpoints]
        dup = sorted({x for x in ids if ids.count(x) > 1})
        if dup:
            raise ValueError(f"endpoint ids must be unique, repeated: {dup}")
        if not (
            self.endpoints
            or self.reader_study
            or self.detection
            or self.segmentation
            or self.measurement
        ):
            raise ValueError(
                "the protocol has no endpoints "
                "(classification, reader study, detection, segmentation or measurement)"
            )
        if self.model is None:
            needs = [
                k
                for k, v in (
                    ("endpoints", self.endpoints),
                    ("subgroups", self.subgroups),
                    ("baseline", self.baseline),
                )
                if v
            ]
            if needs:
                raise ValueError(
                    f"{' and '.join(needs)} analyse a classification model's scores, but the "
                    "protocol has no `model`; add a `model` block or remove them"
                )
        primaries = self.primary_ids()
        if not primaries:
            raise ValueError("at least one endpoint (or the reader study) must have role: primary")
        if any(e.compare_to == "baseline" for e in self.endpoints) and self.baseline is None:
            raise ValueError(
                "an endpoint has `compare_to: baseline` but the protocol has no `baseline`"
            )
        m = self.multiplicity
        if m.method == "fixed-sequence":
            if not m.order:
                raise ValueError(
                    "multiplicity fixed-sequence needs `order` (the primary endpoint ids)"
                )
            if sorted(m.order) != sorted(primaries):
                raise ValueError(
                    f"multiplicity.order must list every primary endpoint exactly once; "
                    f"primaries are {sorted(primaries)}, order is {m.order}"
                )
        elif m.order is not None:
            raise ValueError("multiplicity.order is only used with method: fixed-sequence")
        if m.method == "holm":
            undecidable = [e.id for e in self.endpoints if e.role == "primary" and e.test is None]
            for block in (self.detection, self.segmentation, self.measurement):
                if block is not None:
                    undecidable += [e.id for e in block.endpoints if e.role == "primary"]
            if undecidable:
                raise ValueError(
                    "holm adjusts p-values, so every primary needs a `test`; without one: "
                    f"{undecidable}"
                )
        return self

    def primary_ids(self) -> list[str]:
        """Return the primary endpoint ids in protocol order.

        Reader study, detection and segmentation endpoints come last.
        """
        out = [e.id for e in self.endpoints if e.role == "primary"]
        if self.reader_study is not None and self.reader_study.role == "primary":
            out.append(self.reader_study.id)
        for block in (self.detection, self.segmentation, self.measurement):
            if block is not None:
                out += [e.id for e in block.endpoints if e.role == "primary"]
        return out


#: Test methods by (metric kind, paired with a baseline); the first is the default.
TEST_METHODS: dict[tuple[str, bool], tuple[str, ...]] = {
    ("threshold", False): ("exact", "score"),  # proportion_test
    ("threshold", True): ("tango",),  # paired_noninferiority (Nam-Tango score)
    ("score", False): ("delong", "delong_logit", "bootstrap"),  # auc_test
    ("score", True): ("delong", "bootstrap"),  # compare_auc
}
_PAIRED_PROPORTIONS = ("sensitivity", "specificity", "accuracy")


def _metric_problems(protocol: Protocol) -> list[tuple[tuple[Any, ...], str]]:
    """Check every metric name and CI method against the registry."""

    problems: list[tuple[tuple[Any, ...], str]] = []
    model_threshold = protocol.model.threshold if protocol.model is not None else None

    def lookup(name: str, loc: tuple[Any, ...]) -> Any:
        try:
            return get_metric(name)
        except (KeyError, ValueError, LookupError) as exc:
            msg = exc.args[0] if exc.args else str(exc)
            problems.append((loc, str(msg)))
            return None

    for i, ep in enumerate(protocol.endpoints):
        spec = lookup(ep.metric, ("endpoints", i, "metric"))
        if spec is None:
            continue
        if ep.ci.method is not None and ep.ci.method not in spec.ci_methods:
            problems.append(
                (
                    ("endpoints", i, "ci", "method"),
                    f"CI method {ep.ci.method!r} is not valid for metric {ep.metric!r}; "
                    f"expected one of {list(spec.ci_methods)}",
                )
            )
        needs_threshold = spec.kind == "threshold"
        if (
            needs_threshold
            and ep.threshold is None
            and model_threshold is None
            and (protocol.model is None or protocol.model.card is None)
        ):
            problems.append(
                (
                    ("endpoints", i, "threshold"),
                    f"metric {ep.metric!r} needs an operating threshold: set model.threshold, "
                    "model.card (the threshold its model card records) or the endpoint's threshold",
                )
            )
        if (
            needs_threshold
            and ep.compare_to == "baseline"
            and protocol.baseline is not None
            and protocol.baseline.threshold is None
            and protocol.baseline.card is None
            and ep.threshold is None
        ):
            problems.append(
                (
                    ("baseline", "threshold"),
                    f"metric {ep.metric!r} compared with the baseline needs baseline.threshold or "
                    "baseline.card",
                )
            )
        if ep.test is not None:
            problems += _test_problems(i, ep, spec, ep.test.method)
    if protocol.subgroups is not None:
        sg_ci = protocol.subgroups.ci
        specs = {}
        for j, name in enumerate(protocol.subgroups.metrics):
            spec = lookup(name, ("subgroups", "metrics", j))
            if spec is None:
                continue
            specs[name] = spec
            per = sg_ci.methods.get(name)
            if per is not None and per not in spec.ci_methods:
                problems.append(
                    (
                        ("subgroups", "ci", name),
                        f"CI method {per!r} is not valid for metric {name!r}; "
                        f"expected one of {list(spec.ci_methods)}",
                    )
                )
            if (
                spec.kind == "threshold"
                and model_threshold is None
                and (protocol.model is None or protocol.model.card is None)
            ):
                problems.append(
                    (
                        ("subgroups", "metrics", j),
                        f"metric {name!r} needs model.threshold or model.card",
                    )
                )
        for name in sg_ci.methods:
            if name not in protocol.subgroups.metrics:
                problems.append(
                    (
                        ("subgroups", "ci", name),
                        f"CI method given for {name!r}, which is not in subgroups.metrics "
                        f"{list(protocol.subgroups.metrics)}",
                    )
                )
        method = sg_ci.method
        if (
            method is not None
            and specs
            and not any(method in sp.ci_methods for sp in specs.values())
        ):
            problems.append(
                (
                    ("subgroups", "ci", "method"),
                    f"CI method {method!r} is not valid for any subgroup metric; valid: "
                    + "; ".join(f"{n}: {list(sp.ci_methods)}" for n, sp in specs.items()),
                )
            )
    return problems


def _test_problems(
    i: int, ep: Endpoint, spec: MetricSpec, method: str | None
) -> list[tuple[tuple[Any, ...], str]]:
    """Problems of endpoint ``i``'s hypothesis test ``method`` for its metric and pairing."""
    out: list[tuple[tuple[Any, ...], str]] = []
    allowed = TEST_METHODS[(spec.kind, ep.compare_to is not None)]
    if spec.kind == "score" and ep.metric != "auc":
        out.append(
            (
                ("endpoints", i, "test"),
                f"metric {ep.metric!r} has no hypothesis test; use `accept`",
            )
        )
    elif (
        ep.compare_to is not None
        and spec.kind == "threshold"
        and ep.metric not in _PAIRED_PROPORTIONS
    ):
        out.append(
            (
                ("endpoints", i, "compare_to"),
                f"metric {ep.metric!r} cannot be compared paired with a baseline (its "
                "denominator depends on the model); compare one of "
                f"{list(_PAIRED_PROPORTIONS)} or auc",
            )
        )
    elif method is not None and method not in allowed:
        out.append(
            (
                ("endpoints", i, "test", "method"),
                f"test method {method!r} is not valid here; expected one of {list(allowed)}",
            )
        )
    return out


def parse_protocol(data: Any) -> Protocol:
    """Validate a mapping into a :class:`Protocol` (structure only, no registry check).

    Raises ``pydantic.ValidationError``; :func:`validation.protocol.load.check_protocol`
    turns problems into YAML-path messages.
    """
    return Protocol.model_validate(data)

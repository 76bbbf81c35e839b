"""The typed ``results.json`` document (``radval.results/1``) as pydantic models.

One model per block of the document a ``radval run`` writes. The published JSON Schema
(``validation/schemas/results.schema.json``) is generated from these models
(:func:`validation.results.results_json_schema`; a test checks the committed file is up to
date), so the schema, the writer and every reader share one definition.

Conventions (``DESIGN.md`` §3): a value a method does not define is ``null``, never NaN;
an infinite number (a denominator df) is the string ``"inf"``; decisions are
``pass | fail | not_estimable | informational | not_tested``.

Strictness: the document and the records the runner composes (study, protocol, model,
inputs, environment, timings, verdict, data summary, endpoints, comparisons, failures,
audit) forbid unknown keys. The analysis blocks (``roc``, ``confusion_matrix``,
``calibration``, ``subgroups``, ``reader_study``, ``detection``, ``segmentation``) declare
the fields readers rely on and keep the rest of what the statistics' ``to_dict`` gives
(``extra="allow"``), because those follow the result objects of :mod:`validation.stats`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_ID = "radval.results/1"

Decision = Literal["pass", "fail", "not_estimable", "informational", "not_tested"]
Num = float | None
#: A number that may be infinite, written ``"inf"`` / ``"-inf"`` (JSON has no infinity).
NumOrInf = float | Literal["inf", "-inf"] | None
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Level = Annotated[float, Field(gt=0.0, lt=1.0)]
Count = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# ------------------------------------------------------------------------------ shared


class EstimateRecord(_Open):
    """An :class:`validation.stats.Estimate` as ``to_dict`` writes it."""

    estimate: Num
    ci_low: Num
    ci_high: Num
    confidence_level: Level | None
    method: str | None
    n: Count | None
    se: Num = None
    successes: Count | None = None


class ComparisonRecord(_Open):
    """A :class:`validation.stats.Comparison` as ``to_dict`` writes it (``a - b``)."""

    difference: Num
    ci_low: Num
    ci_high: Num
    statistic: Num = None
    p_value: Probability | None = None
    confidence_level: Level | None = None
    method: str | None = None
    df: NumOrInf = None
    estimate_a: Num = None
    estimate_b: Num = None
    alternative: str | None = None
    margin: Num = None


class FileRef(_Strict):
    """A file the study read: where, its sha256, and the path the protocol declared."""

    path: str
    sha256: Sha256
    declared: str | None = None
    n_rows: Count | None = None


class Curve(_Open):
    """An ROC curve: false- and true-positive rates."""

    fpr: list[Probability]
    tpr: list[Probability]


class FlowLine(_Strict):
    """One line of the STARD flow: a reason and how many cases it concerns."""

    reason: str
    n: Count
    rule: str | None = None


# ------------------------------------------------------------------------ the skeleton


class StudyInfo(_Strict):
    """The protocol's ``study`` block as the report shows it (R1)."""

    id: str
    title: str
    version: str
    intended_use: str
    population: str
    sponsor: str | None = None
    description: str | None = None
    intended_users: str | None = None
    reference_standard: str | None = None
    sample_size_justification: str | None = None


class Deviation(_Strict):
    """A declared departure from the locked protocol."""

    id: str
    description: str
    declared_at: str
    declared_by: str | None = None


class LockSummary(_Open):
    """What the protocol's lock recorded (R2): hashes and time, amendments, input hashes."""

    protocol_sha256: Sha256
    manifest_sha256: Sha256
    locked_at: str
    inputs_at_lock: dict[str, Sha256] = Field(
        default_factory=dict,
        description=(
            "sha256 of each input file that existed when the protocol was locked, keyed by "
            "its protocol path (model.scores, detection.marks, segmentation.predicted_masks "
            "...); the run refused any that changed."
        ),
    )


class ProtocolBlock(_Strict):
    """The protocol run: its file and hash, the resolved content, the lock, deviations."""

    path: str
    sha256: Sha256
    resolved: dict[str, Any]
    lock: LockSummary | None
    deviations: list[Deviation]


class ModelRecord(_Strict):
    """The model under test (or the baseline).

    Spec and checkpoint hashes come from the files the protocol names, or from the
    provenance ``radval predict`` recorded in the scores Parquet; ``model_card`` is the
    card JSON the protocol's ``card`` names, as ``radval train`` wrote it.
    """

    name: str | None
    threshold: Num
    spec_sha256: Sha256 | None
    checkpoint_sha256: Sha256 | None
    model_card: dict[str, Any] | None
    provenance: dict[str, Any] | None = None
    threshold_source: str | None = None


class Inputs(_Strict):
    """Every input file with its sha256 (R23)."""

    manifest: FileRef
    scores: FileRef | None
    baseline_scores: FileRef | None = None
    readings: FileRef | None = None
    lesions: FileRef | None = None
    marks: FileRef | None = None
    segmentation_predictions: FileRef | None = None
    model_card: FileRef | None = None
    baseline_model_card: FileRef | None = None
    truthing: FileRef | None = None
    measurements: FileRef | None = None


class Environment(_Strict):
    """Python, platform, radval version, git commit, device and package versions."""

    python: str
    platform: str
    radval_version: str
    git_commit: str | None
    device: str
    packages: dict[str, str]


class Timings(_Strict):
    """When the run started and finished, and seconds per stage."""

    started_at: str
    finished_at: str
    seconds: dict[str, Annotated[float, Field(ge=0.0)]]


class PrimaryDecision(_Strict):
    """One primary endpoint's decision after the multiplicity strategy."""

    endpoint_id: str
    decision: Decision
    p_value: Probability | None
    p_adjusted: Probability | None


class Verdict(_Strict):
    """The study's verdict: pass only when every primary endpoint passes."""

    decision: Literal["pass", "fail"]
    multiplicity: Literal["holm", "fixed-sequence", "none"]
    primary: Annotated[list[PrimaryDecision], Field(min_length=1)]
    significance_level: float | None = None


class Flow(_Strict):
    """STARD 2015 participant flow.

    ``assessed`` = ``analysed`` + the sum of ``excluded[].n``; ``imputed`` lists model
    outputs scored worst-case (those cases stay analysed).
    """

    assessed: Count
    excluded: list[FlowLine]
    analysed: Count
    imputed: list[FlowLine] = Field(default_factory=list)
    missing_outputs: Count | None = None
    threshold: Num = None
    tp: Count | None = None
    fp: Count | None = None
    tn: Count | None = None
    fn: Count | None = None


class Characteristic(_Strict):
    """Cases, positives and negatives of one group of one attribute (R17)."""

    attribute: str
    group: str
    n: Count
    n_pos: Count
    n_neg: Count


class DataSummary(_Strict):
    """What was analysed: counts, the flow and the baseline characteristics."""

    n_cases: Count
    n_patients: Count | None
    n_positive: Count
    n_negative: Count
    flow: Flow
    characteristics: list[Characteristic]


class Criterion(_Strict):
    """An acceptance criterion in words and whether it held."""

    kind: Literal["bound", "test", "reader_study"]
    text: str
    holds: bool | None


class EndpointRecord(_Strict):
    """One endpoint: its estimate and CI, its test, criterion and decision."""

    id: str
    role: Literal["primary", "secondary", "exploratory"]
    prespecified: bool
    metric: str
    estimate: Num
    ci_low: Num
    ci_high: Num
    confidence_level: Level | None
    method: str | None
    n: Count | None
    se: Num = None
    successes: Count | None = None
    p_value: Probability | None
    p_adjusted: Probability | None
    hypothesis: dict[str, Any] | None
    criterion: Criterion | None
    decision: Decision
    details: dict[str, Any]


class ComparisonEntry(ComparisonRecord):
    """A comparison the protocol declared (candidate vs baseline, aided vs unaided ...)."""

    id: str
    kind: str
    margin: Num
    alternative: str | None
    p_value: Probability | None
    decision: Decision


class Failure(_Strict):
    """A case without a usable model output and what happened to it (R15)."""

    case_id: str
    reason: str


class AuditRef(_Strict):
    """The study's audit log and the head entry before this run's own entry."""

    log: str
    head_hash: str | None


# ------------------------------------------------------------------------ the analyses


class RocBand(_Open):
    """Pointwise (not simultaneous) bootstrap percentile CIs of sensitivity at ``1 - fpr``."""

    fpr: list[Probability]
    tpr_low: list[Probability]
    tpr_high: list[Probability]
    confidence_level: Level
    pointwise: Literal[True]
    method: str | None = None
    n_resamples: Annotated[int, Field(ge=2)] | None = None


class RocBlock(_Open):
    """The model's ROC analysis (R8)."""

    auc: EstimateRecord
    n_positive: Count
    n_negative: Count
    points: dict[str, Any]
    band: RocBand | None = None
    operating_point: dict[str, Any] | None = None


class ConfusionMatrix(_Open):
    """The 2x2 table at the locked threshold (R7)."""

    threshold: Num
    tp: Count
    fp: Count
    tn: Count
    fn: Count


class CalibrationBlock(_Open):
    """Calibration of probability outputs (R18)."""

    notes: list[str] = Field(default_factory=list)


class SubgroupRow(_Open):
    """One subgroup cell: a metric in one group of one attribute (R11)."""

    attribute: str
    group: str
    metric: str
    n: Count
    estimate: Num
    ci_low: Num
    ci_high: Num
    status: str


class SubgroupsBlock(_Open):
    """Subgroup performance, disparities, fairness measures and heterogeneity (R11, R12)."""

    rows: list[SubgroupRow]
    multiplicity: Literal["holm", "fdr_bh", "bonferroni", "hochberg", "none"]
    disparity: list[dict[str, Any]] = Field(default_factory=list)
    heterogeneity: list[dict[str, Any]] = Field(default_factory=list)
    fairness: list[dict[str, Any]] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)


class ReaderRocCurves(_Open):
    """Per-reader and reader-averaged ROC curves of a reader study."""

    per_reader: dict[str, dict[str, Curve]]
    average: dict[str, Curve]
    max_points: Annotated[int, Field(ge=2)] | None = None


class ReaderStudyBlock(_Open):
    """The MRMC analysis of a reader study (R13, R14)."""

    roc_curves: ReaderRocCurves | None = None


class AnalysisBlock(_Open):
    """An analysis block whose content is its statistic's ``to_dict`` (detection, segmentation)."""


class PlanCounts(_Strict):
    """Cases by class (``None``: the plan does not constrain that class); a reader-study
    (``mrmc``) plan counts the cases each reader reads and the readers."""

    positives: Count | None
    negatives: Count | None
    total: Count | None
    readers: Count | None = None


class PlannedEndpoint(_Strict):
    """One endpoint's sample-size plan, recomputed, against the counts achieved (STARD 18)."""

    endpoint: str
    method: Literal["precision", "goal", "auc", "paired_auc", "paired_proportions", "mrmc"]
    metric: str
    inputs: dict[str, Any] = Field(
        description="The plan's inputs, with the defaults taken from the endpoint filled in."
    )
    required: PlanCounts
    target_power: Probability | None = Field(description="None for a precision plan.")
    power: Probability | None = Field(
        description="Power of the planned analysis at the planned counts (None for precision)."
    )
    design_effect: dict[str, Any] | None
    plan: dict[str, Any] = Field(description="The statistics' plan record (its `to_dict`).")
    statement: str = Field(description="The plan in words, with its assumptions.")
    note: str | None
    achieved: PlanCounts
    achieved_power: Probability | None = Field(
        description="Power of the planned analysis at the achieved counts (after the design "
        "effect); None for a precision plan or an empty class."
    )
    adequate: bool = Field(
        description="The achieved power reaches the target (precision: the counts are met)."
    )


class PlanningBlock(_Strict):
    """Planned against achieved sample size per planned endpoint (STARD 18, CLAIM 19)."""

    n_positive: Count
    n_negative: Count
    endpoints: list[PlannedEndpoint]


class AgreementRecord(EstimateRecord):
    """One inter-truther agreement statistic (``estimate`` null when not estimable)."""

    statistic: str
    not_estimable_reason: str | None = None


class AdjudicationPath(_Strict):
    """How many cases one adjudication path decided (STARD flow)."""

    path: str
    n: Count


class TruthingCheck(_Strict):
    """The adjudicated reference against the manifest's label (``use: check``)."""

    n_compared: Count
    n_discordant: Count
    discordant: list[dict[str, Any]]


class TruthingBlock(_Strict):
    """How the reference standard was established: agreement and adjudication (R6)."""

    file: str
    rule: str
    use: Literal["check", "derive"]
    positive: str
    adjudicator: str | None
    truthers: list[str]
    n_reads: Count
    n_adjudicator_reads: Count
    n_cases: Count
    agreement: list[AgreementRecord]
    adjudication: dict[str, Any]
    paths: list[AdjudicationPath]
    reference: dict[str, Count]
    n_analysed_without_reads: Count
    check: TruthingCheck | None


class MeasurementBlock(_Open):
    """A measuring device against its reference: Bland-Altman, CCC, ICC, per subgroup (R7)."""

    quantity: str
    unit: str | None
    n: Count
    bland_altman: dict[str, Any]
    points: list[dict[str, Any]]
    subgroups: list[dict[str, Any]]


class GalleryCase(_Strict):
    """One case in a gallery list: what it is, and its thumbnail or why none is shown."""

    case_id: str
    error: Literal[
        "false_negative", "false_positive", "missed_lesion", "false_mark", "segmentation"
    ]
    truth: int | None
    score: Num
    detail: str
    image: Sha256 | None
    width: Count | None
    height: Count | None
    window: str | None
    not_shown: str | None


class GalleryList(_Strict):
    """The cases of one kind of error in a panel (worst first) and how many there are."""

    error: Literal[
        "false_negative", "false_positive", "missed_lesion", "false_mark", "segmentation"
    ]
    title: str
    n_total: Count
    cases: list[GalleryCase]


class GalleryPanel(_Strict):
    """One panel: a subgroup that is lower than the rest, all cases, detection or segmentation."""

    kind: Literal["subgroup", "all_cases", "detection", "segmentation"]
    title: str
    attribute: str | None
    group: str | None
    why: str
    n_cases: Count
    lists: list[GalleryList]


class GalleryBlock(_Strict):
    """The failure-case gallery (R19): which errors are shown; the images are in
    ``gallery.json`` (``file``, ``sha256``), keyed by each image's sha256."""

    warning: str
    threshold: Num
    detection_threshold: Num
    settings: dict[str, Any]
    file: str
    sha256: Sha256
    n_images: Count
    panels: list[GalleryPanel]


# ------------------------------------------------------------------------ the document


class Results(_Strict):
    """The whole ``results.json`` document (``radval.results/1``)."""

    schema_: Literal["radval.results/1"] = Field(alias="schema")
    radval_version: str
    study: StudyInfo
    protocol: ProtocolBlock
    model: ModelRecord | None
    baseline_model: ModelRecord | None = None
    inputs: Inputs
    environment: Environment
    seed: Count
    timings: Timings
    verdict: Verdict
    data_summary: DataSummary
    endpoints: list[EndpointRecord]
    roc: RocBlock | None = None
    confusion_matrix: ConfusionMatrix | None = None
    subgroups: SubgroupsBlock | None = None
    calibration: CalibrationBlock | None = None
    comparisons: list[ComparisonEntry]
    reader_study: ReaderStudyBlock | None = None
    detection: AnalysisBlock | None = None
    segmentation: AnalysisBlock | None = None
    planning: PlanningBlock | None = None
    truthing: TruthingBlock | None = None
    measurement: MeasurementBlock | None = None
    gallery: GalleryBlock | None = None
    failures: list[Failure]
    audit: AuditRef | None = None
    warnings: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


__all__ = [
    "SCHEMA_ID",
    "AdjudicationPath",
    "AgreementRecord",
    "AnalysisBlock",
    "AuditRef",
    "CalibrationBlock",
    "Characteristic",
    "ComparisonEntry",
    "ComparisonRecord",
    "ConfusionMatrix",
    "Criterion",
    "Curve",
    "DataSummary",
    "Decision",
    "Deviation",
    "EndpointRecord",
    "Environment",
    "EstimateRecord",
    "Failure",
    "FileRef",
    "GalleryBlock",
    "GalleryCase",
    "GalleryList",
    "GalleryPanel",
    "Flow",
    "FlowLine",
    "Inputs",
    "LockSummary",
    "MeasurementBlock",
    "ModelRecord",
    "PrimaryDecision",
    "ProtocolBlock",
    "ReaderRocCurves",
    "ReaderStudyBlock",
    "Results",
    "RocBand",
    "RocBlock",
    "StudyInfo",
    "SubgroupRow",
    "SubgroupsBlock",
    "Timings",
    "TruthingBlock",
    "TruthingCheck",
    "Verdict",
]

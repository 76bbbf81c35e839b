"""The monitoring protocol: a versioned, strictly validated post-market surveillance plan.

YAML read with the safe loader under :mod:`validation.safe_yaml`'s limits (never evaluated
as code) and validated by the pydantic models below, which reject unknown keys
everywhere. It declares, before any production case is seen:

* ``monitor``: what is monitored (id, title, device, intended use);
* ``reference``: the reference period, i.e. the locked test set's scores (and manifest with
  the reference-standard labels and header attributes) and the locked operating threshold,
  optionally tied to the study's ``results.json`` (its recorded scores and manifest sha256
  and threshold must agree);
* ``stream``: where production batches and late labels are found in the stream folder and
  what their columns are called;
* ``windows``: the calendar windows (day, ISO week or month) drift and performance are
  summarised over;
* ``charts``: CUSUM and EWMA charts with their declared in-control ARL;
* ``drift``: PSI, KS, Wasserstein, positive-rate and category-mix rules with thresholds;
* ``performance``: per-window metrics of the verified cases and alarm rules on their
  confidence bounds.

Traceability: R25 (post-market monitoring and drift), R2 (pre-specified, locked), R5/R21
(audit trail), R11 (site, manufacturer, model mix).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from validation.errors import ProtocolError
from validation.io import sha256_bytes
from validation.safe_yaml import YamlLimitError, parse_yaml, read_yaml_bytes

MONITOR_FORMAT_VERSION = 1
"""The monitoring-protocol format this radval reads (the top-level ``version`` key)."""

_ID = r"^[A-Za-z][A-Za-z0-9_.\-]*$"
_SHA256 = r"^[0-9a-f]{64}$"
Id = Annotated[str, Field(pattern=_ID, max_length=80)]
Sha256 = Annotated[str, Field(pattern=_SHA256)]
Rate = Annotated[float, Field(gt=0.0, lt=1.0)]

#: Column names radval reads from production batches and label files; ``stream.columns``
#: maps them to the names in your files.
STREAM_COLUMNS = ("case_id", "time", "score", "label")
#: Column names radval reads from the reference scores table (``reference.columns``).
REFERENCE_COLUMNS = ("case_id", "score")
INDICATORS = ("false_negative", "false_positive", "error", "positive_call", "score_mean")


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


def _check_columns(
    mapping: dict[str, str] | None, allowed: tuple[str, ...]
) -> dict[str, str] | None:
    if mapping is None:
        return None
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise ValueError(f"unknown column key(s) {unknown}; expected keys from {list(allowed)}")
    blank = [k for k, v in mapping.items() if not v.strip()]
    if blank:
        raise ValueError(f"column name(s) for {blank} are empty; expected a column of your file")
    values = list(mapping.values())
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"each file column can be mapped once; {twice} mapped more than once")
    return mapping


class MonitorInfo(_Strict):
    """What is monitored (R1, R25)."""

    id: Id = Field(description="Short identifier of the monitoring plan, e.g. `cxr-triage-pms`.")
    title: str = Field(min_length=1, description="Human-readable title.")
    version: str = Field(default="1.0", min_length=1, description="Version of this plan document.")
    device: str | None = Field(default=None, description="Device name and version monitored.")
    intended_use: str | None = Field(default=None, description="Intended use statement (R1).")
    description: str | None = Field(default=None, description="Free-text background.")


class Reference(_Strict):
    """The reference period: the locked test set (or a baseline window exported as a table)."""

    scores: str = Field(
        description=(
            "Reference scores table (CSV/Parquet: `case_id, score`, optionally header attribute "
            "columns), relative to the protocol file: the locked test set's scores, or a baseline "
            "window of production exported as a table."
        )
    )
    manifest: str | None = Field(
        default=None,
        description=(
            "Reference manifest (CSV/Parquet) with `case_id`, the label column and header "
            "attributes; attributes found in `scores` are used when there is no manifest."
        ),
    )
    label_column: str = Field(
        default="label",
        description=(
            "Reference-standard column (0/1) in `manifest` (or `scores`); needed for charts whose "
            "`p0` is `reference` on a label-based indicator."
        ),
    )
    threshold: float = Field(
        description=(
            "Locked operating threshold: a case is called positive when score >= threshold."
        )
    )
    results: str | None = Field(
        default=None,
        description=(
            "The locked study's `results.json`: its recorded scores (and manifest) sha256 and "
            "model threshold must match this reference (provenance, R23)."
        ),
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description=(
            "Column names of the scores table when they differ, as `{case_id: ..., score: ...}`."
        ),
    )

    @field_validator("columns")
    @classmethod
    def _cols(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return _check_columns(v, REFERENCE_COLUMNS)


class Stream(_Strict):
    """Where production batches and labels are in the stream folder (``--stream DIR``)."""

    batches: str = Field(
        default="batches/*",
        description=(
            "Glob (relative to the stream folder) of production batch files, CSV or Parquet, read in "
            "name order: one row per case with `case_id`, `time` (ISO 8601; naive times are UTC), "
            "`score` and the header attributes."
        ),
    )
    labels: str | None = Field(
        default="labels/*",
        description=(
            "Glob of label files that arrive later (`case_id`, `label` 0/1), possibly for a sample "
            "of cases only; `null` when no labels are collected."
        ),
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description=(
            "Column names when they differ from radval's, as `{radval name: your column}`; keys from "
            "`case_id`, `time`, `score`, `label`."
        ),
    )
    attributes: list[str] = Field(
        default_factory=list,
        description=(
            "Header attribute columns to watch (site, manufacturer, manufacturer_model, protocol ...); "
            "each must be present in every batch. An empty value is the category `(missing)`."
        ),
    )

    @field_validator("columns")
    @classmethod
    def _cols(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return _check_columns(v, STREAM_COLUMNS)

    @field_validator("attributes")
    @classmethod
    def _attrs(cls, v: list[str]) -> list[str]:
        twice = sorted({a for a in v if v.count(a) > 1})
        if twice:
            raise ValueError(f"attributes listed more than once: {twice}")
        reserved = [a for a in v if a in STREAM_COLUMNS]
        if reserved:
            raise ValueError(
                f"{reserved} are not header attributes (they are {list(STREAM_COLUMNS)})"
            )
        return v


class Windows(_Strict):
    """Calendar windows (UTC) over which drift and performance are summarised."""

    length: Literal["day", "week", "month"] = Field(
        default="month",
        description=("Window length: `day`, `week` (ISO week, Monday to Monday) or `month`."),
    )
    min_cases: int = Field(
        default=30,
        ge=1,
        description=(
            "A closed window with fewer cases gets no drift statistics (recorded as not estimable)."
        ),
    )


class Chart(_Strict):
    """A control chart with its limit computed for a declared in-control ARL."""

    id: Id = Field(description="Chart identifier.")
    indicator: Literal[
        "false_negative", "false_positive", "error", "positive_call", "score_mean"
    ] = Field(
        description=(
            "What is charted. `false_negative`: a miss, per verified positive case; `false_positive`: a "
            "false alarm, per verified negative case; `error`: a wrong call, per verified case (these "
            "three in order of label arrival); `positive_call`: a positive call, per production case "
            "(no labels; in order of arrival); `score_mean`: the standardised mean score of each "
            "closed window (a normal chart over windows)."
        )
    )
    kind: Literal["cusum", "ewma"] = Field(description="Chart type.")
    arl0: float = Field(
        gt=1.0,
        le=1e7,
        description=(
            "Declared in-control average run length: the expected number of observations (cases, or "
            "windows for `score_mean`) between false alarms."
        ),
    )
    p0: float | Literal["reference"] = Field(
        default="reference",
        description=(
            "In-control rate of the indicator: a number in (0, 1), or `reference` to take it from the "
            "reference data at the locked threshold (not for `score_mean`)."
        ),
    )
    p1: Rate | None = Field(
        default=None,
        description=(
            "CUSUM: the out-of-control rate to detect (above `p0` for deterioration, below it for a "
            "decrease); EWMA: an optional rate to report the ARL at."
        ),
    )
    shift: float | None = Field(
        default=None,
        description=(
            "`score_mean` only: the shift of the window mean to detect, in standard errors, in the "
            "chart's direction (CUSUM reference value k = shift / 2; default 1)."
        ),
    )
    direction: Literal["increase", "decrease"] | None = Field(
        default=None,
        description=(
            "Direction of deterioration; default `increase` for error indicators and "
            "`positive_call` (or the direction of `p1`), required for `score_mean`."
        ),
    )
    lam: float | None = Field(
        default=None,
        alias="lambda",
        gt=0.0,
        le=1.0,
        description=("EWMA smoothing weight (`lambda`), required for `kind: ewma`."),
    )
    resolution: int | None = Field(
        default=None,
        ge=2,
        le=100_000,
        description=(
            "Grid of the integer CUSUM / rounded EWMA (default: CUSUM at least 20 steps of k, EWMA "
            "1000)."
        ),
    )

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        allow_inf_nan=False,
        populate_by_name=True,
    )

    @model_validator(mode="after")
    def _consistent(self) -> Chart:
        if self.kind == "ewma" and self.lam is None:
            raise ValueError("an EWMA chart needs `lambda` (its smoothing weight)")
        if self.kind == "cusum" and self.lam is not None:
            raise ValueError("`lambda` is for EWMA charts; a CUSUM uses `p1` (or `shift`)")
        if self.indicator == "score_mean":
            if self.direction is None:
                raise ValueError("a `score_mean` chart needs `direction` (increase or decrease)")
            if self.p0 != "reference" or self.p1 is not None:
                raise ValueError(
                    "`p0` and `p1` are rates of case indicators; a `score_mean` chart "
                    "uses `shift` (in standard errors)"
                )
            if self.resolution is not None:
                raise ValueError("`resolution` is for the Bernoulli charts, not `score_mean`")
        else:
            if self.shift is not None:
                raise ValueError("`shift` is for `score_mean` charts; rate charts use `p1`")
            if self.kind == "cusum" and self.p1 is None:
                raise ValueError("a CUSUM on a rate needs `p1`, the out-of-control rate to detect")
            if isinstance(self.p0, float) and not 0.0 < self.p0 < 1.0:
                raise ValueError(f"`p0` must be a rate in (0, 1) or `reference`, found {self.p0}")
            if isinstance(self.p0, float) and self.p1 is not None and self.p1 == self.p0:
                raise ValueError("`p1` must differ from `p0`")
        return self


class PsiRule(_Strict):
    """Population stability index of the scores, bins from the reference."""

    bins: int = Field(
        default=10,
        ge=2,
        le=100,
        description=("Number of quantile bins of the reference scores (duplicate edges merged)."),
    )
    edges: list[float] | None = Field(
        default=None,
        description=("Declared inner bin edges instead of quantile bins (increasing)."),
    )
    epsilon: float = Field(
        default=1e-4,
        gt=0.0,
        le=0.01,
        description=("Share that replaces an empty bin's zero share (in that sample only)."),
    )
    warn_above: float | None = Field(default=0.1, ge=0.0, description="Warning above this PSI.")
    alarm_above: float | None = Field(default=0.25, ge=0.0, description="Alarm above this PSI.")

    @field_validator("edges")
    @classmethod
    def _edges(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or any(b <= a for a, b in zip(v, v[1:], strict=False))):
            raise ValueError("`edges` must be a non-empty increasing list")
        return v


class PRule(_Strict):
    """A test whose p-value below a declared level raises an alarm."""

    alarm_p_below: float = Field(
        default=0.001,
        gt=0.0,
        lt=1.0,
        description=(
            "Alarm when the window's p-value is below this level (no multiplicity adjustment: "
            "choose a small level, as each closed window is tested)."
        ),
    )


class WassersteinRule(_Strict):
    """1-Wasserstein distance of the scores (score units)."""

    alarm_above: float | None = Field(
        default=None, ge=0.0, description=("Alarm above this distance (`null`: reported only).")
    )


class MixRule(_Strict):
    """Mix of the watched header attributes (``stream.attributes``) against the reference."""

    alarm_p_below: float = Field(
        default=0.001,
        gt=0.0,
        lt=1.0,
        description=(
            "Alarm when the chi-square test of homogeneity's p-value is below this level."
        ),
    )
    new_category: Literal["alarm", "warn"] = Field(
        default="alarm",
        description=(
            "A category absent from the reference (a new scanner model): `alarm` or `warn`."
        ),
    )


class Drift(_Strict):
    """Label-free drift rules evaluated on each closed window."""

    psi: PsiRule | None = Field(default_factory=PsiRule, description="PSI of the scores.")
    ks: PRule | None = Field(default_factory=PRule, description="Two-sample KS test of the scores.")
    wasserstein: WassersteinRule | None = Field(
        default_factory=WassersteinRule, description="Wasserstein distance of the scores."
    )
    positive_rate: PRule | None = Field(
        default_factory=PRule,
        description=(
            "Positive rate at the locked threshold against the reference rate (score test)."
        ),
    )
    mix: MixRule | None = Field(
        default_factory=MixRule,
        description=("Category mix of `stream.attributes` against the reference."),
    )


Metric = Literal["sensitivity", "specificity", "ppv", "auc"]
_METRICS: tuple[Metric, ...] = ("sensitivity", "specificity", "ppv", "auc")


class PerformanceAlarm(_Strict):
    """Alarm when a window's metric is confidently worse than a value (a CI bound, never a point)."""

    metric: Literal["sensitivity", "specificity", "ppv", "auc"] = Field(description="Metric.")
    bound: Literal["ci_high"] = Field(
        default="ci_high",
        description=(
            "The bound compared: `ci_high` (alarm when even the upper bound is below `value`)."
        ),
    )
    value: float = Field(gt=0.0, lt=1.0, description="Acceptance value.")


class Performance(_Strict):
    """Per-window performance of the verified cases."""

    metrics: list[Metric] = Field(
        default_factory=lambda: list(_METRICS), description="Metrics per closed window."
    )
    confidence_level: float = Field(default=0.95, gt=0.0, lt=1.0, description="CI level.")
    min_verified: int = Field(
        default=20,
        ge=1,
        description=(
            "A window with fewer verified cases gets no performance estimates (not estimable)."
        ),
    )
    alarms: list[PerformanceAlarm] = Field(default_factory=list, description="Alarm rules.")


class MonitorProtocol(_Strict):
    """A monitoring protocol (see the module docstring)."""

    version: Literal[1] = Field(description="Monitoring-protocol format version (1).")
    monitor: MonitorInfo
    reference: Reference
    stream: Stream = Field(default_factory=Stream)
    windows: Windows = Field(default_factory=Windows)
    charts: list[Chart] = Field(default_factory=list, description="Control charts.")
    drift: Drift = Field(default_factory=Drift)
    performance: Performance = Field(default_factory=Performance)

    @model_validator(mode="after")
    def _unique(self) -> MonitorProtocol:
        ids = [c.id for c in self.charts]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"chart ids must be unique; {twice} used more than once")
        return self


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadedMonitorProtocol:
    """A validated monitoring protocol, where it came from and its sha256."""

    path: Path
    protocol: MonitorProtocol
    sha256: str
    raw: dict[str, Any]

    def resolve(self, rel: str) -> Path:
        """Resolve a path written in the protocol (relative to the protocol file)."""
        p = Path(rel)
        return (p if p.is_absolute() else self.path.parent / p).resolve()


def _yaml_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    found, line = v, k.start_mark.line + 1
                    break
            if found is None:
                return line
            node = found
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicates(node: yaml.Node | None, loc: tuple[Any, ...] = ()) -> list[str]:
    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            if key in seen:
                out.append(
                    f"line {k.start_mark.line + 1}: {_yaml_path((*loc, key))}: duplicate key {key!r}"
                )
            seen.add(key)
            out.extend(_duplicates(v, (*loc, key)))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.extend(_duplicates(v, (*loc, i)))
    return out


def check_monitor_text(
    text: str,
) -> tuple[MonitorProtocol | None, list[str], dict[str, Any] | None]:
    """Validate monitoring-protocol text: the model (if valid), every problem, the raw mapping.

    Each problem reads ``line N: yaml.path: message``.
    """
    try:
        data, root = parse_yaml(text)
    except YamlLimitError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [f"line {mark.line + 1 if mark else '?'}: refused: {exc.problem}"], None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return None, [f"{where}not valid YAML: {getattr(exc, 'problem', None) or exc}"], None
    problems = _duplicates(root)
    if data is None:
        return None, ["line 1: the monitoring protocol is empty; expected a YAML mapping"], None
    if not isinstance(data, dict):
        return (
            None,
            [f"line 1: expected a YAML mapping at the top level, found {type(data).__name__}"],
            None,
        )
    try:
        proto = MonitorProtocol.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] not in ("missing", "value_error") and not isinstance(
                err.get("input"), dict | list
            ):
                msg += f" (found {err.get('input')!r})"
            problems.append(f"line {_line(root, loc)}: {_yaml_path(loc) or '<root>'}: {msg}")
        return None, problems, data
    return (proto if not problems else None), problems, data


def load_monitor_protocol(path: str | Path) -> LoadedMonitorProtocol:
    """Load and validate a monitoring protocol; raise :class:`ProtocolError` listing every problem.

    Raises
    ------
    ProtocolError
        The file cannot be read, is not UTF-8 YAML within the safe limits, or fails the
        schema; the message names the file, and each problem its line and YAML path.
    """
    file = Path(path)
    if file.is_dir():
        raise ProtocolError(f"{file}: expected a monitoring protocol YAML file, found a directory")
    try:
        raw = read_yaml_bytes(file)
    except YamlLimitError as exc:
        raise ProtocolError(f"{file}: refused: {exc.problem}") from None
    except OSError as exc:
        raise ProtocolError(
            f"{file}: cannot read the monitoring protocol: {exc.strerror or exc}"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    proto, problems, data = check_monitor_text(text)
    if proto is None or problems:
        raise ProtocolError(
            f"invalid monitoring protocol {file} ({len(problems)} problem(s)): "
            + "; ".join(problems)
        )
    assert data is not None
    return LoadedMonitorProtocol(file.resolve(), proto, sha256_bytes(raw), data)

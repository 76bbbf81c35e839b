"""Model specs: everything needed to rebuild a model, validated before anything runs.

A model spec is a YAML file (``models/*.yaml``) read with ``yaml.safe_load`` and
validated by pydantic with unknown keys rejected at every level. It names the task,
the MONAI network and its arguments, the input size and the preprocessing (a list of
MONAI transforms described as data), the classes, the locked operating threshold, the
checkpoint and its sha256, the training hyper-parameters and a model-card block.
``models/README.md`` documents every field.

Example
-------
>>> spec = load_spec("models/demo_classifier.yaml")  # doctest: +SKIP
>>> spec.task, spec.network.name
('classification', 'DenseNet')
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from validation.errors import ModelSpecError
from validation.io import sha256_bytes, sha256_file, write_text_atomic
from validation.safe_yaml import YamlLimitError, parse_yaml, read_yaml_bytes

__all__ = [
    "SPEC_SCHEMA",
    "ModelSpecError",
    "ModelSpec",
    "NetworkSpec",
    "InputSpec",
    "CheckpointRef",
    "OperatingPoint",
    "ThresholdSelection",
    "TrainingSpec",
    "ModelCard",
    "load_spec",
    "spec_canonical_sha256",
    "dump_spec",
]

#: The schema tag every spec carries (``schema: radval.model/1``).
SPEC_SCHEMA = "radval.model/1"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    # NaN and infinite numbers (YAML .nan, .inf) are never valid in a spec.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- network


class NetworkSpec(_Strict):
    """A MONAI network from ``monai.networks.nets``, by name from an allow-list, with its arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        from validation.modeling.networks import NETWORKS

        if value not in NETWORKS:
            raise ValueError(f"expected one of {sorted(NETWORKS)}, found {value!r}")
        return value


# --------------------------------------------------------------------------- preprocessing


class WindowStep(_Strict):
    """Clip to a window (centre/width in stored units after rescale) and map it to ``[0, 1]``."""

    kind: Literal["window"]
    center: float
    width: float = Field(gt=0)


class ScaleRangeStep(_Strict):
    """``ScaleIntensityRange``: map ``[a_min, a_max]`` linearly to ``[b_min, b_max]``."""

    kind: Literal["scale_range"]
    a_min: float
    a_max: float
    b_min: float = 0.0
    b_max: float = 1.0
    clip: bool = True

    @model_validator(mode="after")
    def _order(self) -> ScaleRangeStep:
        if not self.a_max > self.a_min:
            raise ValueError(
                f"expected a_max > a_min, found a_min={self.a_min}, a_max={self.a_max}"
            )
        return self


class MinMaxStep(_Strict):
    """``ScaleIntensity``: per-image min-max scaling to ``[minv, maxv]``."""

    kind: Literal["minmax"]
    minv: float = 0.0
    maxv: float = 1.0


class PercentileStep(_Strict):
    """``ScaleIntensityRangePercentiles``: per-image robust scaling between two percentiles."""

    kind: Literal["percentiles"]
    lower: float = Field(ge=0, le=100)
    upper: float = Field(ge=0, le=100)
    b_min: float = 0.0
    b_max: float = 1.0
    clip: bool = True

    @model_validator(mode="after")
    def _order(self) -> PercentileStep:
        if not self.upper > self.lower:
            raise ValueError(
                f"expected upper > lower, found lower={self.lower}, upper={self.upper}"
            )
        return self


class ZScoreStep(_Strict):
    """``NormalizeIntensity``: per-image zero mean, unit variance."""

    kind: Literal["zscore"]
    nonzero: bool = False


class ResizeStep(_Strict):
    """``Resize`` to ``input.size`` (image: ``mode``; masks always nearest)."""

    kind: Literal["resize"]
    mode: Literal["area", "bilinear", "bicubic", "nearest"] = "area"


class SpacingStep(_Strict):
    """``Spacing`` to ``pixdim`` mm (from the DICOM PixelSpacing), then pad/crop to ``input.size``."""

    kind: Literal["spacing"]
    pixdim: tuple[float, float]
    mode: Literal["bilinear", "nearest"] = "bilinear"

    @field_validator("pixdim")
    @classmethod
    def _positive(cls, value: tuple[float, float]) -> tuple[float, float]:
        if min(value) <= 0:
            raise ValueError(f"expected positive spacings in mm, found {list(value)}")
        return value


class RepeatChannelsStep(_Strict):
    """``RepeatChannel``: repeat a grey channel ``repeats`` times (e.g. 3 for RGB backbones)."""

    kind: Literal["repeat_channels"]
    repeats: int = Field(ge=2)


PreprocessStep = Annotated[
    WindowStep
    | ScaleRangeStep
    | MinMaxStep
    | PercentileStep
    | ZScoreStep
    | ResizeStep
    | SpacingStep
    | RepeatChannelsStep,
    Field(discriminator="kind"),
]


class FlipAug(_Strict):
    """``RandFlip`` along ``spatial_axis`` with probability ``prob`` (training only)."""

    kind: Literal["flip"]
    spatial_axis: int = Field(ge=0, le=1)
    prob: float = Field(default=0.5, ge=0, le=1)


class Rotate90Aug(_Strict):
    """``RandRotate90`` by up to ``max_k`` quarter turns with probability ``prob`` (training only)."""

    kind: Literal["rotate90"]
    prob: float = Field(default=0.5, ge=0, le=1)
    max_k: int = Field(default=3, ge=1, le=3)


class IntensityShiftAug(_Strict):
    """``RandShiftIntensity`` by up to ``offsets`` with probability ``prob`` (training only)."""

    kind: Literal["shift_intensity"]
    offsets: float = Field(gt=0)
    prob: float = Field(default=0.5, ge=0, le=1)


AugmentStep = Annotated[FlipAug | Rotate90Aug | IntensityShiftAug, Field(discriminator="kind")]


class InputSpec(_Strict):
    """What the network sees: spatial size, channels, and how the DICOM is read."""

    size: tuple[int, int]
    channels: int = Field(default=1, ge=1)
    apply_voi_lut: bool = False
    frame: int | None = Field(default=None, ge=0)

    @field_validator("size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 8:
            raise ValueError(f"expected both sizes >= 8 pixels, found {list(value)}")
        return value


# --------------------------------------------------------------------------- the rest


class ThresholdSelection(_Strict):
    """How ``radval train`` chooses the threshold: a rule applied to a held-out tuning split.

    The training manifest's patients are split (grouped by patient, stratified by whether
    a patient has a positive case) into a tuning part of ``fraction`` and the rest, with
    ``seed``; the model is trained on the rest only, scores the tuning part, and the rule
    picks the threshold there (:func:`validation.stats.select_threshold`). ``n_bootstrap``
    patient-level resamples of the tuning part show how much the threshold moves.
    """

    rule: Literal["sensitivity", "specificity", "youden"]
    target: float | None = Field(default=None, gt=0, lt=1)
    on: Literal["tuning"] = "tuning"
    fraction: float = Field(default=0.2, ge=0.05, le=0.5)
    seed: int = Field(default=0, ge=0)
    n_bootstrap: int = Field(default=1000, ge=100, le=100_000)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads a bare `on` key as the boolean true: take it as `on`.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _target(self) -> ThresholdSelection:
        if self.rule == "youden" and self.target is not None:
            raise ValueError(f"target: rule 'youden' takes no target, found {self.target}")
        if self.rule != "youden" and self.target is None:
            raise ValueError(
                f"target: rule {self.rule!r} needs a target in (0, 1) (the {self.rule} to reach "
                "on the tuning split), found none"
            )
        return self


class OperatingPoint(_Strict):
    """The operating threshold on the score (classification) or the probability (masks).

    Either fixed (``threshold``) or chosen at training time on a tuning split
    (``select``). A spec written by ``radval train`` (``*.resolved.yaml``) carries both:
    ``select`` says how ``threshold`` was chosen, and the model card records it.
    """

    threshold: float | None = Field(default=None, ge=0, le=1)
    select: ThresholdSelection | None = None
    rationale: str = ""

    @model_validator(mode="after")
    def _either(self) -> OperatingPoint:
        if self.threshold is None and self.select is None:
            raise ValueError(
                "expected `threshold` (a fixed operating threshold) or `select` (a rule applied "
                "on a tuning split at training time), found neither"
            )
        return self


class CheckpointRef(_Strict):
    """Where the weights are (relative to the spec file) and their sha256."""

    path: str | None = None
    sha256: str | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError(f"expected 64 lowercase hex digits, found {value!r}")
        return value


class TrainingSpec(_Strict):
    """Hyper-parameters of ``radval train``."""

    max_epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    scheduler: Literal["none", "cosine", "onecycle"] = "none"
    cache: bool = True
    num_workers: int = Field(default=0, ge=0)
    augment: list[AugmentStep] = Field(default_factory=list)


class ModelCard(_Strict):
    """The model-card block (Mitchell et al. 2019, doi:10.1145/3287560.3287596)."""

    intended_use: str
    training_data: str
    limitations: str
    out_of_scope_use: str = ""
    ethical_considerations: str = ""
    owners: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)


class ModelSpec(_Strict):
    """A validated model spec (``schema: radval.model/1``)."""

    schema_: Literal["radval.model/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: str = Field(min_length=1)
    description: str = ""
    task: Literal["classification", "segmentation"]
    network: NetworkSpec
    input: InputSpec
    preprocessing: list[PreprocessStep] = Field(default_factory=list)
    classes: list[str] = Field(min_length=2)
    positive_class: str | None = None
    label_column: str | None = None
    operating_point: OperatingPoint
    checkpoint: CheckpointRef = Field(default_factory=CheckpointRef)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    model_card: ModelCard

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        from validation.modeling.networks import check_network_args

        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes: expected unique names, found {self.classes}")
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ValueError(
                f"positive_class: expected one of {self.classes}, found {self.positive_class!r}"
            )
        geometric = [s for s in self.preprocessing if isinstance(s, ResizeStep | SpacingStep)]
        if len(geometric) != 1:
            raise ValueError(
                "preprocessing: expected exactly one 'resize' or 'spacing' step, found "
                f"{len(geometric)}"
            )
        if self.task == "segmentation" and isinstance(geometric[0], SpacingStep):
            raise ValueError(
                "preprocessing: segmentation specs use 'resize' (predicted masks are resized "
                "back to the image grid), found 'spacing'"
            )
        repeats = [s for s in self.preprocessing if isinstance(s, RepeatChannelsStep)]
        channels_after = repeats[-1].repeats if repeats else 1
        if repeats and self.input.channels != channels_after:
            raise ValueError(
                f"input.channels: expected {channels_after} (after repeat_channels), "
                f"found {self.input.channels}"
            )
        check_network_args(
            self.network,
            task=self.task,
            in_channels=self.input.channels,
            n_classes=len(self.classes),
        )
        if self.operating_point.select is not None and (
            self.task != "classification" or len(self.classes) != 2
        ):
            raise ValueError(
                "operating_point.select: a threshold is selected on tuning data for binary "
                f"classification only; found task {self.task!r} with {len(self.classes)} classes "
                "(give a fixed operating_point.threshold)"
            )
        return self

    @property
    def positive_index(self) -> int:
        """Index of the class whose probability is the score (default: the last class)."""
        if self.positive_class is None:
            return len(self.classes) - 1
        return self.classes.index(self.positive_class)

    @property
    def label_key(self) -> str:
        """Manifest column holding the reference standard (``label`` / ``mask_path``)."""
        if self.label_column is not None:
            return self.label_column
        return "label" if self.task == "classification" else "mask_path"

    @property
    def resize(self) -> ResizeStep | SpacingStep:
        """The single geometric step."""
        return next(s for s in self.preprocessing if isinstance(s, ResizeStep | SpacingStep))

    def to_yaml_dict(self) -> dict[str, Any]:
        """The spec as plain data (the YAML form, with ``schema`` under its own name)."""
        return self.model_dump(mode="json", by_alias=True)


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            # Discriminated-union branch names (e.g. "window") are not YAML keys; skip the tag
            # pydantic inserts for them, keep everything else.
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<root>"


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union-branch tags (the ``kind`` value) from an error location."""
    out: list[Any] = []
    node = data
    for item in loc:
        if isinstance(node, dict):
            if item in node:
                out.append(item)
                node = node[item]
                continue
            if isinstance(item, str) and node.get("kind") == item:
                continue  # branch tag
            out.append(item)
            node = None
            continue
        if isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            out.append(item)
            node = node[item]
            continue
        out.append(item)
        node = None
    return tuple(out)


def _format_errors(path: Path, exc: ValidationError, data: Any) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        loc = _format_loc(_clean_loc(tuple(err["loc"]), data))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of radval.model/1)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error", "assertion_error"):
            msg = f"{msg}, found {err['input']!r}"
        problems.append(f"{loc}: {msg.removeprefix('Value error, ')}")
    return f"{path}: invalid model spec: " + "; ".join(problems)


def load_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """Read and validate a model spec YAML file.

    Parameters
    ----------
    path
        The YAML file (read with the safe loader under :mod:`validation.safe_yaml`'s
        limits; nothing in it is evaluated).

    Returns
    -------
    ModelSpec
        The validated, frozen spec.

    Raises
    ------
    ModelSpecError
        The file is missing, is not YAML, or fails validation; the message names the
        file and the dotted path of every problem (``network.args.block_config: ...``).

    Example
    -------
    >>> load_spec("models/demo_segmentation.yaml").task  # doctest: +SKIP
    'segmentation'
    """
    p = Path(path)
    try:
        text = read_yaml_bytes(p).decode("utf-8")
        data, _ = parse_yaml(text)
    except FileNotFoundError:
        raise ModelSpecError(f"{p}: model spec not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelSpecError(f"{p}: cannot read model spec: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = "refused" if isinstance(exc, YamlLimitError) else "not valid YAML"
        raise ModelSpecError(f"{p}: {what}{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ModelSpecError(
            f"{p}: expected a mapping at the top level, found {type(data).__name__}"
        )
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise ModelSpecError(_format_errors(p, exc, data)) from None


def spec_canonical_sha256(spec: ModelSpec) -> str:
    """sha256 of the spec's canonical JSON (sorted keys), independent of YAML formatting."""
    payload = json.dumps(spec.to_yaml_dict(), sort_keys=True, separators=(",", ":"))
    return sha256_bytes(payload.encode("utf-8"))


def spec_file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of the spec file's bytes (what a protocol lock records)."""
    return sha256_file(path)


def dump_spec(spec: ModelSpec, path: str | os.PathLike[str]) -> None:
    """Write a spec as YAML atomically (keys in declaration order)."""
    text = yaml.safe_dump(spec.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    write_text_atomic(path, text)

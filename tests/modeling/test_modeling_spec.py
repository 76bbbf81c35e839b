"""Model specs: the shipped specs validate; every kind of bad spec gets a message naming its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from validation.errors import InputError
from validation.modeling.networks import NETWORKS, build_network
from validation.modeling.spec import (
    ModelSpecError,
    NetworkSpec,
    dump_spec,
    load_spec,
    spec_canonical_sha256,
)

MODELS = Path(__file__).resolve().parents[2] / "models"


def _demo() -> dict[str, Any]:
    return yaml.safe_load((MODELS / "demo_classifier.yaml").read_text())


def _write(tmp_path: Path, data: Any, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def _error(tmp_path: Path, data: Any) -> str:
    with pytest.raises(ModelSpecError) as info:
        load_spec(_write(tmp_path, data))
    assert isinstance(info.value, InputError)
    return str(info.value)


@pytest.mark.parametrize(
    "name", ["demo_classifier.yaml", "demo_classifier_released.yaml", "demo_segmentation.yaml"]
)
def test_shipped_specs_validate_and_build(name: str) -> None:
    spec = load_spec(MODELS / name)
    net = build_network(spec.network, in_channels=spec.input.channels, n_classes=len(spec.classes))
    out = net(torch.zeros(2, spec.input.channels, *spec.input.size))
    if spec.task == "classification":
        assert out.shape == (2, len(spec.classes))
    else:
        assert out.shape == (2, len(spec.classes), *spec.input.size)
    assert spec.model_card.intended_use and spec.model_card.limitations
    op = spec.operating_point
    if spec.task == "classification":  # chosen at training time on a tuning split
        assert op.threshold is None and op.select is not None and op.select.on == "tuning"
    else:
        assert op.threshold is not None and 0 <= op.threshold <= 1 and op.select is None


def test_unknown_keys_are_named_with_their_path(tmp_path: Path) -> None:
    data = _demo()
    data["operating_point"]["treshold_typo"] = 0.4
    data["model_card"]["extra"] = "x"
    msg = _error(tmp_path, data)
    assert msg.startswith(f"{tmp_path / 'spec.yaml'}: invalid model spec: ")
    assert "operating_point.treshold_typo: unknown key" in msg
    assert "model_card.extra: unknown key" in msg


def test_bad_values_name_the_field_and_what_was_found(tmp_path: Path) -> None:
    data = _demo()
    data["operating_point"] = {"threshold": 1.5}
    resize = next(i for i, step in enumerate(data["preprocessing"]) if step["kind"] == "resize")
    data["preprocessing"][resize]["mode"] = "cubic"
    data["task"] = "detection"
    msg = _error(tmp_path, data)
    assert "operating_point.threshold: Input should be less than or equal to 1, found 1.5" in msg
    assert f"preprocessing[{resize}].mode:" in msg and "found 'cubic'" in msg
    assert "task: Input should be 'classification' or 'segmentation', found 'detection'" in msg


def test_missing_required_block(tmp_path: Path) -> None:
    data = _demo()
    del data["model_card"]
    assert "model_card: required key is missing" in _error(tmp_path, data)


def test_network_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    data = _demo()
    data["network"]["name"] = "__import__('os').system"
    msg = _error(tmp_path, data)
    assert "network.name: expected one of" in msg and "'DenseNet'" in msg


def test_unknown_network_argument(tmp_path: Path) -> None:
    data = _demo()
    data["network"]["args"]["growth_rat"] = 8
    msg = _error(tmp_path, data)
    assert "network.args: got an unexpected keyword argument 'growth_rat'" in msg


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["network"]["args"].update(out_channels=3),
            "network.args.out_channels: expected 2 (one per class), found 3",
        ),
        (
            lambda d: d["network"]["args"].update(in_channels=3),
            "network.args.in_channels: expected 1 (input.channels), found 3",
        ),
        (
            lambda d: d["network"]["args"].update(spatial_dims=3),
            "network.args.spatial_dims: expected 2, found 3",
        ),
        (
            lambda d: d["network"].update(name="UNet"),
            "network.name: UNet is a segmentation network, the spec's task is classification",
        ),
        (
            lambda d: d["preprocessing"].append({"kind": "resize"}),
            "preprocessing: expected exactly one 'resize' or 'spacing' step, found 2",
        ),
        (
            lambda d: d.update(positive_class="tumour"),
            "positive_class: expected one of ['no_lesion', 'lesion'], found 'tumour'",
        ),
        (
            lambda d: d["checkpoint"].update(sha256="ABC"),
            "checkpoint.sha256: expected 64 lowercase hex digits, found 'ABC'",
        ),
        (
            lambda d: d["preprocessing"].append({"kind": "repeat_channels", "repeats": 3}),
            "input.channels: expected 3 (after repeat_channels), found 1",
        ),
    ],
)
def test_inconsistent_specs(tmp_path: Path, change: Any, expected: str) -> None:
    data = _demo()
    change(data)
    assert expected in _error(tmp_path, data)


def test_pretrained_download_is_refused(tmp_path: Path) -> None:
    data = _demo()
    data["network"] = {
        "name": "EfficientNetBN",
        "args": {"model_name": "efficientnet-b0", "pretrained": True},
    }
    assert "network.args.pretrained: expected false" in _error(tmp_path, data)


def test_not_yaml_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    msg = _error(tmp_path, "name: [unclosed\n")
    assert "not valid YAML (line 2" in msg
    assert "expected a mapping at the top level, found list" in _error(tmp_path, "- 1\n- 2\n")
    with pytest.raises(ModelSpecError, match="model spec not found"):
        load_spec(tmp_path / "nope.yaml")


def test_yaml_is_never_evaluated(tmp_path: Path) -> None:
    text = "!!python/object/apply:os.system ['echo pwned']\n"
    assert "not valid YAML" in _error(tmp_path, text)


def test_dump_round_trip_and_canonical_hash(tmp_path: Path) -> None:
    spec = load_spec(MODELS / "demo_classifier.yaml")
    dump_spec(spec, tmp_path / "again.yaml")
    again = load_spec(tmp_path / "again.yaml")
    assert again == spec
    assert spec_canonical_sha256(again) == spec_canonical_sha256(spec)
    changed = spec.model_copy(update={"version": "9"})
    assert spec_canonical_sha256(changed) != spec_canonical_sha256(spec)


@pytest.mark.parametrize("name", ["DenseNet", "ResNet", "UNet", "BasicUNet", "SegResNet"])
def test_allowed_networks_build_in_2d(name: str) -> None:
    args: dict[str, Any] = {
        "DenseNet": {"init_features": 4, "growth_rate": 4, "block_config": [1, 1]},
        "ResNet": {"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [4, 8, 8, 8]},
        "UNet": {"channels": [4, 8], "strides": [2]},
        "BasicUNet": {"features": [4, 4, 8, 8, 16, 4]},
        "SegResNet": {"init_filters": 4, "norm": "batch"},
    }[name]
    net = build_network(NetworkSpec(name=name, args=args), in_channels=1, n_classes=2)
    out = net(torch.zeros(1, 1, 32, 32))
    expected = (1, 2) if NETWORKS[name].task == "classification" else (1, 2, 32, 32)
    assert tuple(out.shape) == expected

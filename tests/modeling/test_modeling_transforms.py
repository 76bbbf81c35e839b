"""Preprocessing chains and label handling beyond the demo specs (spacing, RGB repeat, 3 classes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from validation.data.dicom import read_dicom
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import ManifestError
from validation.modeling.datamodule import build_transforms, case_table
from validation.modeling.predict import predict_scores
from validation.modeling.spec import ModelSpec
from validation.modeling.train import train_model

MODELS = Path(__file__).resolve().parents[2] / "models"


def _spec(**changes: object) -> dict:
    data = yaml.safe_load((MODELS / "demo_classifier.yaml").read_text())
    data["network"]["args"] = {"init_features": 4, "growth_rate": 4, "block_config": [1, 1]}
    data["input"]["size"] = [32, 32]
    data["training"].update(max_epochs=1, batch_size=6, augment=[])
    data["operating_point"] = {"threshold": 0.5}  # fixed: these tests are about the data path
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = generate_synthetic_dataset(
        tmp_path_factory.mktemp("tf"),
        n_cases=12,
        seed=5,
        image_size=64,
        prevalence=0.5,
        id_prefix="TF",
    )
    return ds.manifest_path


def test_spacing_resamples_by_pixel_spacing_then_pads_to_input_size(small: Path) -> None:
    frame = pd.read_csv(small)
    path = str(small.parent / frame.loc[0, "path"])
    spacing = read_dicom(path).header.pixel_spacing
    assert spacing is not None
    data = _spec(
        preprocessing=[
            {"kind": "scale_range", "a_min": 0, "a_max": 4095},
            {"kind": "spacing", "pixdim": [2 * spacing[0], 2 * spacing[1]]},
        ]
    )
    data["input"]["size"] = [40, 40]
    spec = ModelSpec.model_validate(data)
    image = build_transforms(spec, with_mask=False, train=False)({"image": path})["image"]
    assert tuple(image.shape) == (1, 40, 40)
    # 64 px at twice the spacing is 32 px, centred and zero-padded to 40
    assert float(image[0, :4].abs().max()) == 0.0 and float(image[0, 4:36].max()) > 0
    assert isinstance(image, torch.Tensor) and image.dtype == torch.float32


def test_repeat_channels_and_window(small: Path) -> None:
    frame = pd.read_csv(small)
    path = str(small.parent / frame.loc[1, "path"])
    data = _spec(
        preprocessing=[
            {"kind": "window", "center": 2048, "width": 1024},
            {"kind": "resize"},
            {"kind": "repeat_channels", "repeats": 3},
        ]
    )
    data["input"]["channels"] = 3
    spec = ModelSpec.model_validate(data)
    image = build_transforms(spec, with_mask=False, train=False)({"image": path})["image"]
    assert tuple(image.shape) == (3, 32, 32)
    assert torch.equal(image[0], image[2])
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    raw = read_dicom(path).pixels
    expected = np.clip((raw - 1536) / 1024, 0, 1)
    # area resize averages 2x2 blocks of the windowed image
    blocks = expected.reshape(32, 2, 32, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(image[0].numpy(), blocks, atol=1e-5)


def test_three_class_labels_by_name_and_index(small: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(small)
    frame["grade"] = ["low", "mid", "high", 0, 1, 2] * 2
    manifest = small.parent / "graded.csv"
    frame.to_csv(manifest, index=False)
    data = _spec(classes=["low", "mid", "high"], positive_class="high", label_column="grade")
    spec_path = tmp_path / "three.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    spec = ModelSpec.model_validate(data)
    table = case_table(manifest, spec, with_labels=True)
    assert table.labels == (0, 1, 2, 0, 1, 2) * 2
    result = train_model(
        spec_path, manifest=manifest, out_dir=tmp_path / "run", val_manifest=manifest
    )
    assert 0.0 <= result.metrics["val_auc"] <= 1.0
    scores = predict_scores(
        result.spec_path,
        manifest=manifest,
        out=tmp_path / "s.parquet",
        num_workers=0,
        progress=False,
    )
    assert scores.n_scored == 12 and scores.metadata["positive_class"] == "high"
    frame.loc[4, "grade"] = "severe"
    frame.to_csv(manifest, index=False)
    with pytest.raises(
        ManifestError,
        match=r"row 6, column 'grade': expected a class index "
        r"0\.\.2 or one of \['low', 'mid', 'high'\], "
        r"found 'severe'",
    ):
        case_table(manifest, spec, with_labels=True)

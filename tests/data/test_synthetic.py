"""Tests of validation.data.synthetic: determinism, DICOM round trips, manifest content,
privacy, cluster structure, lesion truth and the harder manufacturer."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest

from validation.data.dicom import read_dicom
from validation.data.manifest import check_leakage, load_manifest, pseudonymise_id
from validation.data.synthetic import (
    LESION_COLUMNS,
    MANIFEST_COLUMNS,
    SCANNERS,
    SYNTHETIC_SALT,
    Scanner,
    SyntheticDataset,
    _acquire,
    _anatomy,
    _Canvas,
    _make_patients,
    _nodule_image,
    generate_synthetic_dataset,
)
from validation.io import sha256_file

N = 60
SIZE = 64


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    return generate_synthetic_dataset(
        tmp_path_factory.mktemp("synth"), n_cases=N, seed=3, image_size=SIZE
    )


@pytest.fixture(scope="module")
def manifest(synth: SyntheticDataset) -> pd.DataFrame:
    return pd.read_csv(synth.manifest_path, dtype=str, keep_default_na=False)


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_result_and_layout(synth: SyntheticDataset, manifest: pd.DataFrame) -> None:
    assert synth.n_cases == N
    assert synth.manifest_path == synth.root / "manifest.csv"
    assert synth.lesions_path == synth.root / "lesions.csv"
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert len(manifest) == N
    assert manifest["case_id"].is_unique
    assert list(manifest["case_id"]) == [f"T{i:05d}" for i in range(1, N + 1)]
    assert (manifest["path"] == "images/" + manifest["case_id"] + ".dcm").all()
    assert (manifest["mask_path"] == "masks/" + manifest["case_id"] + ".nii.gz").all()
    assert tuple(pd.read_csv(synth.lesions_path).columns) == LESION_COLUMNS
    # Nothing else is written: images, masks, the two tables, no temporary files.
    names = {p.relative_to(synth.root).as_posix() for p in synth.root.rglob("*") if p.is_file()}
    expected = set(manifest["path"]) | set(manifest["mask_path"]) | {"manifest.csv", "lesions.csv"}
    assert names == expected


def test_deterministic_bytes(tmp_path: Path, synth: SyntheticDataset) -> None:
    again = generate_synthetic_dataset(tmp_path / "again", n_cases=N, seed=3, image_size=SIZE)
    assert _tree_hashes(again.root) == _tree_hashes(synth.root)


def test_other_seed_differs(tmp_path: Path, synth: SyntheticDataset) -> None:
    other = generate_synthetic_dataset(tmp_path / "other", n_cases=N, seed=4, image_size=SIZE)
    a = pd.read_csv(other.manifest_path)
    b = pd.read_csv(synth.manifest_path)
    assert not set(a["sha256"]) & set(b["sha256"])
    assert not set(a["study_uid"]) & set(b["study_uid"])


def test_manifest_validates_with_hashes(synth: SyntheticDataset) -> None:
    loaded = load_manifest(synth.manifest_path, verify_hashes=True)
    assert loaded.frame["label"].dtype == np.int64
    assert set(loaded.frame["label"]) == {0, 1}


def test_images_round_trip_and_headers_match_manifest(
    synth: SyntheticDataset, manifest: pd.DataFrame
) -> None:
    syntaxes, photometrics = set(), set()
    for row in manifest.itertuples():
        path = synth.root / row.path
        ds = pydicom.dcmread(path)
        image = read_dicom(path)
        assert image.pixels.shape == (SIZE, SIZE)
        assert image.pixels.min() >= 0 and image.pixels.max() <= 4095
        # Same grey scale whatever the coding: MONOCHROME1 mirrored, slope applied.
        raw = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1.0))
        if ds.PhotometricInterpretation == "MONOCHROME1":
            raw = 4095.0 - raw
        np.testing.assert_array_equal(image.pixels, raw.astype(np.float32))
        header = image.header
        assert header.manufacturer == row.manufacturer
        assert header.manufacturer_model == row.manufacturer_model
        assert header.institution == row.site
        assert header.sex == row.sex
        assert header.age_years == float(row.age)
        assert header.view == row.view
        assert header.body_part == row.body_part == "CHEST"
        assert header.study_uid == row.study_uid
        assert sha256_file(path) == row.sha256
        syntaxes.add(header.transfer_syntax)
        photometrics.add(header.photometric)
    assert photometrics == {"MONOCHROME1", "MONOCHROME2"}
    assert len(syntaxes) >= 4


def test_every_transfer_syntax_appears(tmp_path: Path) -> None:
    synth = generate_synthetic_dataset(tmp_path, n_cases=80, seed=0, image_size=32)
    found = {
        read_dicom(synth.root / p).header.transfer_syntax
        for p in pd.read_csv(synth.manifest_path)["path"]
    }
    assert found == {
        pydicom.uid.ExplicitVRLittleEndian,
        pydicom.uid.DeflatedExplicitVRLittleEndian,
        pydicom.uid.RLELossless,
        pydicom.uid.JPEGLSLossless,
        pydicom.uid.JPEG2000Lossless,
    }


def test_no_raw_identity_in_outputs(synth: SyntheticDataset, manifest: pd.DataFrame) -> None:
    text = synth.manifest_path.read_text() + synth.lesions_path.read_text()
    for row in manifest.itertuples():
        ds = pydicom.dcmread(synth.root / row.path, stop_before_pixels=True)
        assert str(ds.PatientName).startswith("SYNTH^")
        assert str(ds.PatientID) not in text
        assert str(ds.PatientName) not in text
        assert row.patient_id == pseudonymise_id(str(ds.PatientID), SYNTHETIC_SALT)


def test_cluster_structure(manifest: pd.DataFrame) -> None:
    sizes = manifest.groupby("patient_id").size()
    assert set(sizes) == {1, 2}
    for _, group in manifest.groupby("patient_id"):
        assert group["label"].nunique() == 1
        for column in ("sex", "age", "race", "ethnicity", "site"):
            assert group[column].nunique() == 1
        assert group["study_uid"].nunique() == len(group)


def test_prevalence_is_exact_at_patient_level(manifest: pd.DataFrame) -> None:
    per_patient = manifest.groupby("patient_id")["label"].first().astype(int)
    assert per_patient.sum() == round(0.3 * len(per_patient))


def test_sites_and_manufacturers(tmp_path: Path) -> None:
    synth = generate_synthetic_dataset(tmp_path, n_cases=90, seed=1, image_size=32)
    frame = pd.read_csv(synth.manifest_path)
    assert set(frame["site"]) == {"Site A", "Site B", "Site C"}
    assert set(frame["manufacturer"]) == {s.manufacturer for s in SCANNERS.values()}
    assert set(frame["sex"]) == {"F", "M"}
    assert frame["race"].nunique() >= 3
    assert frame["age"].between(18, 95).all()


def test_lesion_truth_matches_masks(synth: SyntheticDataset, manifest: pd.DataFrame) -> None:
    lesions = pd.read_csv(synth.lesions_path, dtype={"case_id": str})
    positives = set(manifest.loc[manifest["label"] == "1", "case_id"])
    assert set(lesions["case_id"]) == positives
    assert np.allclose(lesions.groupby("case_id")["weight"].sum(), 1.0, atol=1e-5)
    for row in manifest.itertuples():
        mask = np.asarray(nib.load(synth.root / row.mask_path).dataobj)  # type: ignore[attr-defined]
        assert mask.shape == (SIZE, SIZE)
        assert set(np.unique(mask)) <= {0, 1}
        boxes = lesions[lesions["case_id"] == row.case_id]
        if row.label == "0":
            assert mask.sum() == 0
            continue
        covered = np.zeros_like(mask, dtype=bool)
        for box in boxes.itertuples():
            assert 0 <= box.x0 < box.x1 <= SIZE and 0 <= box.y0 < box.y1 <= SIZE
            inside = mask[box.y0 : box.y1, box.x0 : box.x1]
            assert inside.any()
            covered[box.y0 : box.y1, box.x0 : box.x1] = True
            # The box is tight: every edge row/column of it touches the mask.
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
        assert not mask[~covered].any()


def test_disjoint_training_set(tmp_path: Path, synth: SyntheticDataset) -> None:
    train = generate_synthetic_dataset(
        tmp_path / "train", n_cases=30, seed=9, image_size=SIZE, id_prefix="R"
    )
    test_m = load_manifest(synth.manifest_path)
    train_m = load_manifest(train.manifest_path)
    assert check_leakage(test_m, train_m).ok
    same = generate_synthetic_dataset(tmp_path / "same", n_cases=N, seed=3, image_size=SIZE)
    report = check_leakage(test_m, load_manifest(same.manifest_path))
    assert not report.ok
    assert len(report.shared_patients) == test_m.frame["patient_id"].nunique()
    assert len(report.identical_images) == N


def _detectability(scanner: Scanner, n_patients: int = 5, repeats: int = 12) -> float:
    """Median d' of a nodule for a matched-filter observer that knows the background.

    The same anatomy is acquired repeatedly with and without the nodule; with the
    background known exactly, only the acquisition (gain, blur, sampling, noise,
    plate mottle) limits detection, so this isolates what the scanner adds.
    """
    canvas = _Canvas(128)
    rng = np.random.default_rng(11)
    patients = _make_patients(n_patients, rng, 1.0)
    values = []
    for patient in patients:
        att, lungs = _anatomy(canvas, rng, patient, (0.0, 0.0))
        profile, _ = _nodule_image(canvas, patient.nodules[0], (0.0, 0.0))
        lesion = profile * (0.35 + 0.65 * lungs)
        template = lesion / lesion.sum()
        with_nodule = [
            float((_acquire(att + lesion, scanner, canvas.scale, rng) * template).sum())
            for _ in range(repeats)
        ]
        without = [
            float((_acquire(att, scanner, canvas.scale, rng) * template).sum())
            for _ in range(repeats)
        ]
        pooled_sd = np.sqrt(0.5 * (np.var(with_nodule, ddof=1) + np.var(without, ddof=1)))
        values.append((np.mean(with_nodule) - np.mean(without)) / pooled_sd)
    return float(np.median(values))


def test_borealis_acquisition_is_truly_harder() -> None:
    d = {name: _detectability(scanner) for name, scanner in SCANNERS.items()}
    # Measured: kestrel ~150, corvid ~30, borealis ~4 (seeded, so deterministic).
    assert d["borealis"] < 0.25 * d["corvid"]
    assert d["corvid"] < 0.5 * d["kestrel"]
    assert d["borealis"] < 8.0


def test_borealis_files_are_noisier(tmp_path: Path) -> None:
    synth = generate_synthetic_dataset(tmp_path, n_cases=40, seed=2, image_size=64)
    frame = pd.read_csv(synth.manifest_path)
    noise = {
        name: float(
            np.median([read_dicom(synth.root / p).pixels[:5, :5].std() for p in group["path"]])
        )
        for name, group in frame.groupby("manufacturer")
    }
    # Outside the body (air) only acquisition noise is left.
    assert noise["Borealis Imaging"] > 2 * noise["Kestrel Medical"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_cases": 0}, "n_cases must be at least 1, got 0"),
        ({"prevalence": 1.5}, "prevalence must be between 0 and 1, got 1.5"),
        ({"image_size": 16}, "image_size must be at least 32 pixels, got 16"),
        ({"id_prefix": "a/b"}, "id_prefix must be a non-empty alphanumeric string, got 'a/b'"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        generate_synthetic_dataset(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
